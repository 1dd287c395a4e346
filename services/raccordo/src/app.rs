//! The application, built the same way by `raccordo up`, the demo and the tests: the event log
//! (the embedded nats-server unless a URL is given), the registry, and the gRPC gateway bound
//! to its listener.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use raccordo_domain::clock::Clock;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::registry::{Registry, RegistryFile};
use raccordo_eventlog::{EventLog, LogConfig};
use raccordo_gateway::{GatewayConfig, Tokens};
use tokio::net::TcpListener;

use crate::nats::{self, EmbeddedNats};
use crate::state;

/// How to build the application.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the embedded server's data, the subject key and the tokens file live.
    pub state_dir: PathBuf,
    /// Join this NATS server or cluster instead of starting the embedded one.
    pub nats_url: Option<String>,
    /// The nats-server binary for the embedded server (found automatically if not given).
    pub nats_server: Option<PathBuf>,
    /// Where the gRPC API listens; port 0 picks a free one.
    pub listen: SocketAddr,
    /// A directory with the registry files; the copy built into the binary if not given.
    pub registry_dir: Option<PathBuf>,
    /// The tokens; read from (or created as) `<state_dir>/tokens.csv` if not given.
    pub tokens: Option<Tokens>,
    /// The subject key; read from (or created as) `<state_dir>/subject.key` if not given.
    pub subject_key: Option<SubjectKey>,
    pub duplicate_window: Duration,
    /// Replicas of the RACCORDO stream when it is created.
    pub replicas: usize,
    pub clock: Arc<dyn Clock>,
}

impl Settings {
    pub fn new(state_dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self {
            state_dir: state_dir.into(),
            nats_url: None,
            nats_server: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            registry_dir: None,
            tokens: None,
            subject_key: None,
            duplicate_window: LogConfig::default().duplicate_window,
            replicas: 1,
            clock,
        }
    }
}

/// A built application, ready to serve.
#[derive(Debug)]
pub struct Application {
    nats: Option<EmbeddedNats>,
    nats_url: String,
    log: EventLog,
    listener: TcpListener,
    gateway: GatewayConfig,
}

/// Reads the registry files from a directory.
pub fn load_registry(dir: &Path) -> anyhow::Result<Registry> {
    let mut contents = Vec::new();
    for name in Registry::FILE_NAMES {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read registry file {}", path.display()))?;
        contents.push((name, text));
    }
    let files: Vec<RegistryFile<'_>> = contents
        .iter()
        .map(|(name, text)| RegistryFile {
            name,
            contents: text,
        })
        .collect();
    Registry::parse(&files)
        .with_context(|| format!("the registry in {} is malformed", dir.display()))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.state_dir).with_context(|| {
            format!(
                "cannot create the state folder {}",
                settings.state_dir.display()
            )
        })?;
        let registry = match &settings.registry_dir {
            Some(dir) => load_registry(dir)?,
            None => Registry::embedded().clone(),
        };
        let today = settings.clock.now().date();
        let tokens = match settings.tokens {
            Some(tokens) => tokens,
            None => state::tokens(&settings.state_dir.join("tokens.csv"), &registry, today)?,
        };
        let subject_key = match settings.subject_key {
            Some(key) => key,
            None => state::subject_key(&settings.state_dir.join("subject.key"))?,
        };
        let (nats, nats_url) = match settings.nats_url {
            Some(url) => (None, url),
            None => {
                let binary = nats::locate(settings.nats_server.as_deref())?;
                let server = EmbeddedNats::start(&binary, &settings.state_dir.join("nats")).await?;
                tracing::info!(url = server.url(), binary = %binary.display(), "started the embedded nats-server");
                let url = server.url().to_owned();
                (Some(server), url)
            }
        };
        let log = EventLog::connect(
            &nats_url,
            LogConfig {
                duplicate_window: settings.duplicate_window,
                replicas: settings.replicas,
                ..LogConfig::default()
            },
        )
        .await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let gateway = GatewayConfig {
            log: log.clone(),
            registry: Arc::new(registry),
            clock: settings.clock,
            subject_key,
            tokens,
        };
        Ok(Self {
            nats,
            nats_url,
            log,
            listener,
            gateway,
        })
    }

    /// The address the gRPC API listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Serves until `shutdown` completes, then stops the embedded server, if any.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let router = tokio::spawn(route_until_stopped(
            self.log.clone(),
            self.gateway.registry.clone(),
            stopped,
        ));
        let served = raccordo_gateway::serve(self.gateway, self.listener, shutdown).await;
        let _ = stop.send(true);
        let _ = router.await;
        if let Some(nats) = self.nats {
            nats.stop().await;
        }
        served.context("the gRPC server failed")
    }
}

/// Runs the router until told to stop; if it fails (the log unreachable, say), says so and starts
/// it again, where the inbox left off.
async fn route_until_stopped(
    log: EventLog,
    registry: Arc<Registry>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mut signal = stopped.clone();
        let run = async {
            let router = raccordo_router::Router::new(log.clone(), registry.clone()).await?;
            router
                .run(async move {
                    let _ = signal.wait_for(|stop| *stop).await;
                })
                .await
        };
        match run.await {
            Ok(()) => return,
            Err(error) => tracing::error!(%error, "the router stopped; starting it again in 2 s"),
        }
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
