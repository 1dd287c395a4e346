//! Logging setup, in one place. `RUST_LOG` overrides the level (default: info for raccordo,
//! warnings for its libraries).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,raccordo=info,raccordo_gateway=info,raccordo_eventlog=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
