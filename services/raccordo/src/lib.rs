//! The raccordo service as a library: the application the binary runs, the embedded
//! nats-server, the state folder and the demo scenario. Tests build the application the same
//! way the binary does.

pub mod app;
pub mod demo;
pub mod nats;
pub mod project;
pub mod reconcile;
pub mod state;
pub mod telemetry;
