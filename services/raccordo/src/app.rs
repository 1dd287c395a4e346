//! The application, built the same way by `raccordo up`, the demo and the tests: the event log
//! (the embedded nats-server unless a URL is given), the registry, the router, one projector per
//! organisation holding a token (its projection in `<state dir>/projections/`), the reconciler
//! (its store in `<state dir>/reconciler/`, its protocols from `contracts/protocols/` unless a
//! directory is given), the gRPC gateway bound to its listener and the operator console bound to
//! its own.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use raccordo_console::ConsoleConfig;
use raccordo_domain::clock::Clock;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::ids::OrgId;
use raccordo_domain::protocol::{ProtocolFile, Protocols};
use raccordo_domain::registry::{Registry, RegistryFile};
use raccordo_eventlog::{EventLog, Inbox, LogConfig};
use raccordo_gateway::{Engine, Freshness, GatewayConfig, Projections, Replays, Tokens};
use raccordo_projections::ProjectionStore;
use raccordo_projector::{Progress, Projector, open_store};
use raccordo_reconciler::{Reconciler, Rules};
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
    /// Where the operator console listens (port 0 picks a free one); `None`: no console.
    pub console: Option<SocketAddr>,
    /// A directory with the registry files; the copy built into the binary if not given.
    pub registry_dir: Option<PathBuf>,
    /// A directory with the protocol files (`*.toml`); the copies built into the binary if not given.
    pub protocols_dir: Option<PathBuf>,
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
            console: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            registry_dir: None,
            protocols_dir: None,
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
    console: Option<(TcpListener, ConsoleConfig)>,
    projectors: Vec<Arc<Projector>>,
    reconciler: Arc<Reconciler>,
    routed: tokio::sync::watch::Sender<u64>,
    settled: Settled,
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

/// Reads every `*.toml` protocol file of `dir`, checked against the registry.
pub fn load_protocols(dir: &Path, registry: &Registry) -> anyhow::Result<Protocols> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the protocols folder {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    read_protocols(&paths, registry)
}

/// Reads and checks these protocol files together, each named by its path.
pub fn read_protocols(paths: &[PathBuf], registry: &Registry) -> anyhow::Result<Protocols> {
    let texts = paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the protocol file {}", path.display()))
                .map(|text| (path.display().to_string(), text))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let files: Vec<ProtocolFile<'_>> = texts
        .iter()
        .map(|(name, contents)| ProtocolFile { name, contents })
        .collect();
    Ok(Protocols::parse(&files, registry)?)
}

/// What the command-line tools measure against: the protocols `raccordo up` would use (the
/// built-in copies, or the files of `dir`) on the embedded registry and calendar.
pub fn rules(dir: Option<&Path>) -> anyhow::Result<Rules> {
    let registry = Arc::new(Registry::embedded().clone());
    let protocols = protocols(dir, &registry)?;
    Ok(Rules::new(protocols, registry))
}

/// The protocols of `dir`, or those built into the binary; any file wrong stops start-up.
pub fn protocols(dir: Option<&Path>, registry: &Registry) -> anyhow::Result<Protocols> {
    let protocols = match dir {
        Some(dir) => load_protocols(dir, registry)?,
        None => Protocols::embedded(registry)?,
    };
    for p in protocols.all() {
        tracing::info!(
            protocol = %p.id, version = p.version, valid = %p.validity, steps = p.steps.len(),
            example = p.example, file = %p.file, "protocol loaded"
        );
    }
    Ok(protocols)
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
        let protocols = protocols(settings.protocols_dir.as_deref(), &registry)
            .context("the protocols cannot be used; raccordo does not start without them")?;
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
        let mut projectors = Vec::new();
        for party in tokens.organisations() {
            let (store, _) = open_store(&settings.state_dir, &party)?;
            projectors.push(Arc::new(
                Projector::new(log.clone(), store).publishing_digests(),
            ));
        }
        let registry = Arc::new(registry);
        let rules = Rules::new(protocols, registry.clone());
        let replays = Replays::new(log.clone(), rules.clone(), settings.clock.clone()).await?;
        let reconciler = Arc::new(Reconciler::new(
            log.clone(),
            Arc::new(Engine::new(
                log.clone(),
                registry.clone(),
                settings.clock.clone(),
            )),
            rules,
            raccordo_reconciler::Store::open(&raccordo_reconciler::store_dir(&settings.state_dir))?,
            settings.clock.clone(),
        ));
        let routed = tokio::sync::watch::Sender::new(0);
        let settled = Settled {
            log: log.clone(),
            inbox: log.inbox().await?,
            routed: routed.subscribe(),
            reconciled: reconciler.progress(),
            clock: settings.clock.clone(),
            parties: projectors
                .iter()
                .map(|p| (p.store().party().clone(), p.progress()))
                .collect(),
        };
        let projections = Projections::new(projectors.iter().map(|p| p.store().clone()))
            .with_freshness(Arc::new(settled.clone()));
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let console = match settings.console {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await.with_context(|| {
                    format!("cannot listen on {addr} for the operator console (--console)")
                })?;
                let config = ConsoleConfig {
                    tokens: tokens.clone(),
                    projections: projections.clone(),
                    replays: replays.clone(),
                    log: log.clone(),
                    registry: registry.clone(),
                    clock: settings.clock.clone(),
                };
                Some((listener, config))
            }
            None => None,
        };
        let gateway = GatewayConfig {
            log: log.clone(),
            registry,
            clock: settings.clock,
            subject_key,
            tokens,
            projections,
            replays,
        };
        Ok(Self {
            nats,
            nats_url,
            log,
            listener,
            gateway,
            console,
            projectors,
            reconciler,
            routed,
            settled,
        })
    }

    /// The address the gRPC API listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The address the operator console listens on, if it is served.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console.as_ref().map(|(listener, _)| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The parties whose projections this application keeps, in order.
    pub fn parties(&self) -> Vec<OrgId> {
        self.projectors
            .iter()
            .map(|p| p.store().party().clone())
            .collect()
    }

    /// The projection of `party`, if this application keeps one.
    pub fn projection(&self, party: &OrgId) -> Option<Arc<dyn ProjectionStore>> {
        self.gateway.projections.of(party).cloned()
    }

    /// Timelines of pathway histories, each replay recorded in the audit trail.
    pub fn replays(&self) -> &Replays {
        &self.gateway.replays
    }

    /// A handle to wait until the projections have taken in everything in the log.
    pub fn settled(&self) -> Settled {
        self.settled.clone()
    }

    /// Serves the gRPC API and the console until `shutdown` completes, then stops the router and
    /// the projectors (which flush their stores) and the embedded server, if any.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut workers = tokio::task::JoinSet::new();
        let (log, registry, routed) = (
            self.log.clone(),
            self.gateway.registry.clone(),
            self.routed.clone(),
        );
        workers.spawn(supervise(
            "the router".into(),
            stopped.clone(),
            move |stop| {
                let (log, registry, routed) = (log.clone(), registry.clone(), routed.clone());
                async move {
                    let router = raccordo_router::Router::new(log, registry)
                        .await?
                        .report_to(routed);
                    router.run(stopped_signal(stop)).await?;
                    Ok(())
                }
            },
        ));
        let reconciler = self.reconciler.clone();
        workers.spawn(supervise(
            "the reconciler".into(),
            stopped.clone(),
            move |stop| {
                let reconciler = reconciler.clone();
                async move {
                    reconciler.run(stopped_signal(stop)).await?;
                    Ok(())
                }
            },
        ));
        let reconciler = self.reconciler.clone();
        workers.spawn(supervise(
            "the divergence check".into(),
            stopped.clone(),
            move |stop| {
                let reconciler = reconciler.clone();
                async move {
                    reconciler.check_digests(stopped_signal(stop)).await?;
                    Ok(())
                }
            },
        ));
        for projector in &self.projectors {
            let projector = projector.clone();
            let what = format!("the projector of {}", projector.store().party());
            workers.spawn(supervise(what, stopped.clone(), move |stop| {
                let projector = projector.clone();
                async move {
                    projector.run(stopped_signal(stop)).await?;
                    Ok(())
                }
            }));
        }
        // One shutdown for both servers: each drains its requests in hand.
        let (stop_serving, serving) = tokio::sync::watch::channel(false);
        let console = self.console;
        let console_stopped = stopped_signal(serving.clone());
        let console = async move {
            match console {
                Some((listener, config)) => {
                    raccordo_console::serve(config, listener, console_stopped).await
                }
                None => Ok(()),
            }
        };
        let grpc =
            raccordo_gateway::serve(self.gateway, self.listener, stopped_signal(serving.clone()));
        let signal = async move {
            shutdown.await;
            let _ = stop_serving.send(true);
        };
        let ((), served, console) = tokio::join!(signal, grpc, console);
        let _ = stop.send(true);
        while workers.join_next().await.is_some() {}
        if let Some(nats) = self.nats {
            nats.stop().await;
        }
        served.context("the gRPC server failed")?;
        console.context("the operator console failed")
    }
}

/// Waits for the router and the projectors of a running application to take in the log.
#[derive(Debug, Clone)]
pub struct Settled {
    log: EventLog,
    inbox: Inbox,
    routed: tokio::sync::watch::Receiver<u64>,
    reconciled: tokio::sync::watch::Receiver<raccordo_reconciler::Progress>,
    clock: Arc<dyn Clock>,
    parties: Vec<(OrgId, tokio::sync::watch::Receiver<Progress>)>,
}

impl Settled {
    /// Completes once every event the log holds now is routed and every party's projection
    /// has applied its inbox up to there: reads from any projection then see all of it.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        self.wait_for_reconciler().await?;
        let last = self.log.last_sequence().await?;
        self.routed
            .wait_for(|routed| *routed >= last)
            .await
            .context("the router stopped")?;
        for (party, progress) in &mut self.parties {
            let target = self.inbox.last_sequence_of(party).await?;
            progress
                .wait_for(|p| p.checkpoint >= target)
                .await
                .with_context(|| format!("the projector of {party} stopped"))?;
        }
        Ok(())
    }
}

impl Settled {
    /// Completes once the reconciler has taken in the whole log, fired every deadline the clock
    /// (less the margin) has passed, and its findings are in the log and taken in too.
    pub async fn wait_for_reconciler(&mut self) -> anyhow::Result<()> {
        loop {
            let last = self.log.last_sequence().await?;
            let now = (self.clock.now() - raccordo_reconciler::MARGIN).unix_timestamp();
            self.reconciled
                .wait_for(|p| p.checkpoint >= last && p.fired_until >= now)
                .await
                .context("the reconciler stopped")?;
            if self.log.last_sequence().await? == last {
                return Ok(());
            }
        }
    }
}

impl Freshness for Settled {
    fn has_taken_in<'a>(&'a self, party: &'a OrgId, log_sequence: u64) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            if *self.routed.borrow() < log_sequence {
                return false;
            }
            let Some((_, progress)) = self.parties.iter().find(|(p, _)| p == party) else {
                return false;
            };
            // Everything routed up to `log_sequence` is in the inbox by now: the party's last
            // message there is at least as far as any of it.
            match self.inbox.last_sequence_of(party).await {
                Ok(target) => progress.borrow().checkpoint >= target,
                Err(_) => false,
            }
        })
    }
}

/// Completes when `stop` turns true.
async fn stopped_signal(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Runs a worker until told to stop; if it fails (the log unreachable, say), says so and starts
/// it again after 2 s, where it left off.
async fn supervise<F, Fut>(what: String, stopped: tokio::sync::watch::Receiver<bool>, run: F)
where
    F: Fn(tokio::sync::watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    loop {
        match run(stopped.clone()).await {
            Ok(()) => return,
            Err(error) => tracing::error!(
                error = format!("{error:#}"),
                "{what} stopped; starting it again in 2 s"
            ),
        }
        tokio::select! {
            () = stopped_signal(stopped.clone()) => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
