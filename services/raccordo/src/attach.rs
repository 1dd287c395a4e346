//! How a command-line tool (`raccordo project`, `raccordo kpi`) reaches the event log: the NATS
//! that `--nats` names; without it, the state folder's embedded nats-server: the one a running
//! `raccordo up` started (found by the ports file it writes), or, with raccordo stopped, one
//! started for the run on the folder's data and stopped at its end.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use raccordo_eventlog::{EventLog, LogError};

use crate::nats::{self, EmbeddedNats};

/// Where a command-line tool finds the event log: the options every one of them shares.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// The state folder: its embedded server holds the log when --nats is not given (and, for
    /// `raccordo project`, its folder holds the projections).
    #[arg(long, default_value = ".raccordo", env = "RACCORDO_STATE_DIR")]
    pub state_dir: PathBuf,
    /// The NATS server or cluster (nats://host:port) to read from (default: the state folder's
    /// embedded server: the running `raccordo up`'s, or one started for the run).
    #[arg(long, env = "RACCORDO_NATS_URL")]
    pub nats: Option<String>,
    /// The nats-server binary for the embedded server (default: found under .tools/ or on PATH).
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
}

/// The NATS a tool reads from, and the server it started for the run, if it did.
#[derive(Debug)]
pub struct Source {
    url: String,
    embedded: Option<EmbeddedNats>,
}

impl Source {
    /// Finds the NATS to read from: `--nats`, else the running `raccordo up`'s on the state
    /// folder, else the state folder's own server started on its data. `reading` names what the
    /// tool reads ("the inbox", "the log"), for the error when there is nothing to read.
    pub async fn find(args: &LogArgs, reading: &str) -> anyhow::Result<Self> {
        let (state_dir, nats_server) = (&args.state_dir, args.nats_server.as_deref());
        if let Some(url) = args.nats.clone() {
            return Ok(Self {
                url,
                embedded: None,
            });
        }
        if let Some(url) = running_nats(state_dir)? {
            return Ok(Self {
                url,
                embedded: None,
            });
        }
        let server = start_nats(state_dir, nats_server, reading).await?;
        Ok(Self {
            url: server.url().to_owned(),
            embedded: Some(server),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects to the event log as the running service set it up (see [`EventLog::attach`]),
    /// naming the connection `client` on the server.
    pub async fn connect(&self, client: &str) -> anyhow::Result<EventLog> {
        let url = &self.url;
        EventLog::attach(url, client).await.map_err(|e| match e {
            LogError::Connect { .. } => anyhow::anyhow!(
                "cannot reach NATS at {url}: is `raccordo up` running? start it, or pass --nats \
                 with the URL of a running server ({e})"
            ),
            other => anyhow::Error::new(other)
                .context(format!("cannot use the event log on the NATS at {url}")),
        })
    }

    /// Stops the state folder's server if this run started it.
    pub async fn close(self) {
        if let Some(server) = self.embedded {
            server.stop().await;
        }
    }
}

/// Starts the state folder's embedded nats-server on its data, as `raccordo up` would.
async fn start_nats(
    state_dir: &Path,
    binary: Option<&Path>,
    reading: &str,
) -> anyhow::Result<EmbeddedNats> {
    let data = state_dir.join("nats");
    if !data.is_dir() {
        bail!(
            "no NATS to read {reading} from: the state folder {} holds no event log ({} does not \
             exist) and no `raccordo up` is running on it; pass --nats nats://host:port, or \
             --state-dir the folder `raccordo up` uses",
            state_dir.display(),
            data.display()
        );
    }
    let binary = nats::locate(binary)?;
    let server = EmbeddedNats::start(&binary, &data).await?;
    tracing::info!(
        url = server.url(),
        "started the state folder's nats-server for this run"
    );
    Ok(server)
}

/// The URL of the embedded nats-server of a `raccordo up` running on `state_dir`, from the ports
/// file it writes under `<state_dir>/nats/run/`; `None` when there is none.
fn running_nats(state_dir: &Path) -> anyhow::Result<Option<String>> {
    let run = state_dir.join("nats").join("run");
    let advice = format!(
        "start `raccordo up --state-dir {}` first, or pass --nats nats://host:port",
        state_dir.display()
    );
    let ports = std::fs::read_dir(&run)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|x| x == "ports"));
    let Some(ports) = ports else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&ports)
        .with_context(|| format!("cannot read the ports file {}; {advice}", ports.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the ports file {} is not JSON; {advice}", ports.display()))?;
    match json["nats"][0].as_str() {
        Some(url) => {
            tracing::info!(url, ports = %ports.display(), "using the nats-server of the running `raccordo up`");
            Ok(Some(url.to_owned()))
        }
        None => bail!(
            "the ports file {} names no NATS URL; {advice}",
            ports.display()
        ),
    }
}
