//! Logging setup, in one place. `RUST_LOG` overrides the default level.

use tracing_subscriber::EnvFilter;

/// What a running service logs: every command at info, libraries' warnings.
pub const SERVICE: &str = "warn,raccordo=info,raccordo_gateway=info,raccordo_eventlog=info";
/// What the demo logs: its own progress; the gateway's per-command lines only when they warn.
pub const DEMO: &str = "warn,raccordo=info";

pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
