//! The embedded default: with no `--nats` URL, raccordo starts its own nats-server with
//! JetStream on a free loopback port and a data directory of its own, and stops it on exit.
//! Like every configuration raccordo ships, it fsyncs before acknowledging (`sync_interval:
//! always`): the server's default flushes every two minutes and can lose acknowledged writes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// The environment variable naming the nats-server binary to start.
pub const SERVER_ENV: &str = "RACCORDO_NATS_SERVER";

/// Finds the nats-server binary: the explicit path, then `$RACCORDO_NATS_SERVER`, then the copy
/// `scripts/nats-server.sh` installs under `.tools/` (searched from the working directory up),
/// then `nats-server` on the `PATH`.
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return executable(path);
    }
    if let Some(path) = std::env::var_os(SERVER_ENV) {
        return executable(Path::new(&path))
            .with_context(|| format!("{SERVER_ENV} names {}", Path::new(&path).display()));
    }
    let cwd = std::env::current_dir()?;
    for dir in cwd.ancestors() {
        let tools = dir.join(".tools");
        let Ok(entries) = std::fs::read_dir(&tools) else {
            continue;
        };
        let mut candidates: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("nats-server-"))
            .map(|e| e.path().join("bin/nats-server"))
            .filter(|p| p.is_file())
            .collect();
        candidates.sort();
        if let Some(path) = candidates.pop() {
            return Ok(path);
        }
    }
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
    {
        return Ok(path);
    }
    bail!(
        "no nats-server found: run scripts/nats-server.sh to install the pinned one, set {SERVER_ENV}, \
         or pass --nats nats://host:port to use a running server"
    )
}

fn executable(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        Ok(path.to_owned())
    } else {
        bail!("no nats-server binary at {}", path.display())
    }
}

/// When JetStream writes what it stores to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `sync_interval: always`: fsync before every acknowledgement. What raccordo ships.
    Always,
    /// The server's own default: flush every two minutes. Only the benchmarks use it, to fill a
    /// log fast and to report the figures a lazy server would give, labelled as such.
    ServerDefault,
}

impl Durability {
    pub fn label(self) -> &'static str {
        match self {
            Self::Always => "sync_interval: always",
            Self::ServerDefault => "server default (flush every 2 min)",
        }
    }
}

/// How long a starting server is given to listen.
const START_WAIT: Duration = Duration::from_secs(600);
/// How long a server asked to stop is given before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(120);

/// A nats-server child process, stopped when this is dropped or [`EmbeddedNats::stop`]ped.
#[derive(Debug)]
pub struct EmbeddedNats {
    child: Child,
    url: String,
    log: PathBuf,
}

impl EmbeddedNats {
    /// Starts a server whose JetStream store lives under `dir`, on a free loopback port.
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(binary, dir, Durability::Always).await
    }

    /// [`EmbeddedNats::start`] with the given durability.
    pub async fn start_with(
        binary: &Path,
        dir: &Path,
        durability: Durability,
    ) -> anyhow::Result<Self> {
        let run = dir.join("run");
        std::fs::create_dir_all(&run)
            .with_context(|| format!("cannot create {}", run.display()))?;
        for stale in std::fs::read_dir(&run)?.filter_map(Result::ok) {
            std::fs::remove_file(stale.path()).ok();
        }
        let store = dir.join("jetstream");
        let config = dir.join("nats-server.conf");
        let sync = match durability {
            Durability::Always => "\n  sync_interval: always",
            Durability::ServerDefault => "",
        };
        std::fs::write(
            &config,
            format!(
                "# Written by raccordo for its embedded server.\n\
                 listen: \"127.0.0.1:-1\"\n\
                 server_name: raccordo_embedded\n\
                 jetstream {{\n  store_dir: {store:?}{sync}\n}}\n"
            ),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
        let log = dir.join("nats-server.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .arg("--ports_file_dir")
            .arg(&run)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            child,
            url: String::new(),
            log,
        };
        server.url = server.wait_for_port(&run).await?;
        Ok(server)
    }

    /// Waits until the server writes its ports file. A server restoring a large store (after a
    /// crash it rebuilds its indexes from the message blocks) can take a while: it is given
    /// [`START_WAIT`], and every ten seconds the wait is said with the server's last log line.
    async fn wait_for_port(&mut self, run: &Path) -> anyhow::Result<String> {
        let started = Instant::now();
        let mut next_word = started + Duration::from_secs(10);
        while started.elapsed() < START_WAIT {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "nats-server exited ({status}) before listening; see {}",
                    self.log.display()
                );
            }
            let ports = std::fs::read_dir(run)?
                .filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|x| x == "ports"));
            if let Some(entry) = ports
                && let Ok(text) = std::fs::read_to_string(entry.path())
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(url) = json["nats"][0].as_str()
            {
                return Ok(url.to_owned());
            }
            if Instant::now() >= next_word {
                tracing::warn!(
                    waited_s = started.elapsed().as_secs(),
                    last_log_line = %self.last_log_line(),
                    log = %self.log.display(),
                    "nats-server is not listening yet (a large store takes a while to restore); \
                     still waiting"
                );
                next_word += Duration::from_secs(10);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "nats-server did not start listening within {} s; its last log line: {}; see {}",
            START_WAIT.as_secs(),
            self.last_log_line(),
            self.log.display()
        )
    }

    /// The last line the server wrote to its log, for messages about it.
    fn last_log_line(&self) -> String {
        std::fs::read_to_string(&self.log)
            .ok()
            .and_then(|text| text.lines().last().map(str::to_owned))
            .unwrap_or_else(|| "(none)".to_owned())
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Asks the server to shut down cleanly, and kills it if it has not within [`STOP_WAIT`]. A
    /// clean shutdown writes what the server holds in memory and its index state, which takes a
    /// while after a fill on the lazy default: killing it sooner would cost a long restore at the
    /// next start, and what it had not flushed.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            if tokio::time::timeout(STOP_WAIT, self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
            tracing::warn!(
                log = %self.log.display(),
                "nats-server did not shut down within {} s of SIGTERM; killing it",
                STOP_WAIT.as_secs()
            );
        }
        let _ = self.child.kill().await;
    }
}
