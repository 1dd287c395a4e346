//! End-to-end tests: one binary, a module per feature (one link step on a 2-core machine).
//! Each test starts its own nats-server with JetStream and its own gateway on a real socket.

mod bad_input;
mod bus_contract;
mod concurrency;
mod console;
mod contracts;
mod divergence;
mod happy_paths;
mod history;
mod idempotency;
mod inbox;
mod inbox_grpc;
mod projections;
mod queries;
mod receipts;
mod reconciler;
mod reflection;
