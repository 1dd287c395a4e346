//! The raccordo service as a library: the application the binary runs, the embedded
//! nats-server, the state folder, the demo scenario and the operators' tools (`project`,
//! `replay projection|pathway|what-if`, `reconcile --replay`, `kpi`, `audit`).
//! Tests build the application the same way the binary does.

pub mod app;
pub mod attach;
pub mod bench;
pub mod demo;
pub mod history;
pub mod kpi;
pub mod nats;
pub mod project;
pub mod reconcile;
pub mod replay;
pub mod state;
pub mod telemetry;
pub mod what_if;
