//! Helpers for raccordo's end-to-end tests: a real application on a real nats-server, built the
//! way the binary builds it, with a gRPC client per organisation.

use std::sync::Arc;
use std::time::Duration;

use raccordo::app::{Application, Settings};
use raccordo_api::v1::centro_famiglia_client::CentroFamigliaClient;
use raccordo_api::v1::dimissione_protetta_client::DimissioneProtettaClient;
use raccordo_api::v1::pathways_client::PathwaysClient;
use raccordo_api::v1::pua_client::PuaClient;
use raccordo_domain::clock::VirtualClock;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::ids::OrgId;
use raccordo_domain::pathway::Actor;
use raccordo_eventlog::EventLog;
use raccordo_gateway::Tokens;
use time::macros::datetime;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::Channel;

/// The organisations tests act for, each with its own bearer token.
pub const ORGS: &[&str] = &[
    "asst:705",
    "asst:707",
    "ats:321",
    "comune:magenta",
    "comune:corbetta",
    "comune:cinisello-balsamo",
    "comune:bresso",
    "comune:cormano",
    "ente:ipis",
    "centro:officina-dei-legami",
    "centro:spazio-famiglia-qui-si-puo",
];

fn token_of(org: &str) -> String {
    format!("test-token-{}", org.replace(':', "-"))
}

/// A running raccordo: its own nats-server on a random port with a temporary store, the gRPC
/// gateway on a random loopback port, and a virtual clock.
#[allow(missing_debug_implementations)]
pub struct TestApp {
    pub grpc: String,
    pub clock: VirtualClock,
    pub log: EventLog,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Duration::from_secs(120)).await
    }

    /// With a given JetStream duplicate window (short ones test retries after it).
    pub async fn spawn_with(duplicate_window: Duration) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            raccordo::telemetry::init();
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let clock = VirtualClock::new(datetime!(2026-03-02 09:00 UTC));
        let mut settings = Settings::new(dir.path(), Arc::new(clock.clone()));
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.duplicate_window = duplicate_window;
        settings.subject_key = Some(SubjectKey::from_bytes(&[42; 32]).unwrap());
        settings.tokens = Some(Tokens::from_actors(ORGS.iter().map(|org| {
            let actor = Actor {
                org: org.parse::<OrgId>().unwrap(),
                operator: "operatore.test".parse().unwrap(),
            };
            (token_of(org), actor)
        })));
        let app = Application::build(settings).await.expect("the application builds");
        let grpc = format!("http://{}", app.grpc_addr());
        let log = app.log().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            grpc,
            clock,
            log,
            dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("the gateway accepts connections")
    }

    /// Clients acting for `org`.
    pub async fn as_org(&self, org: &str) -> Clients {
        let channel = self.channel().await;
        let auth = Bearer(format!("Bearer {}", token_of(org)).parse().unwrap());
        Clients {
            dimissione: DimissioneProtettaClient::with_interceptor(channel.clone(), auth.clone()),
            pua: PuaClient::with_interceptor(channel.clone(), auth.clone()),
            centro: CentroFamigliaClient::with_interceptor(channel.clone(), auth.clone()),
            pathways: PathwaysClient::with_interceptor(channel, auth),
        }
    }

    /// The number of messages in the RACCORDO stream.
    pub async fn log_length(&self) -> u64 {
        self.log.last_sequence().await.expect("the log answers")
    }

    /// Stops the gateway and the embedded nats-server.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server task ends").expect("the server stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// gRPC clients for one organisation.
#[allow(missing_debug_implementations)]
pub struct Clients {
    pub dimissione: DimissioneProtettaClient<Authed>,
    pub pua: PuaClient<Authed>,
    pub centro: CentroFamigliaClient<Authed>,
    pub pathways: PathwaysClient<Authed>,
}
