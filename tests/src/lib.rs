//! Helpers for raccordo's end-to-end tests: a real application on a real nats-server, built the
//! way the binary builds it, with a gRPC client per organisation, builders for realistic
//! requests, and direct access to the stream the gateway writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream;
use raccordo::app::{Application, Settings, Settled};
use raccordo_api::v1;
use raccordo_api::v1::centro_famiglia_client::CentroFamigliaClient;
use raccordo_api::v1::dimissione_protetta_client::DimissioneProtettaClient;
use raccordo_api::v1::inbox_client::InboxClient;
use raccordo_api::v1::pathways_client::PathwaysClient;
use raccordo_api::v1::pua_client::PuaClient;
use raccordo_domain::clock::{Clock, VirtualClock};
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::ids::OrgId;
use raccordo_domain::pathway::Actor;
use raccordo_eventlog::EventLog;
use raccordo_gateway::Tokens;
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The organisations tests act for, each with its own bearer token.
pub const ORGS: &[&str] = &[
    "asst:705",
    "asst:707",
    "ats:321",
    // ATS dell'Insubria: none of its Comuni is in the registry, so no pathway reaches it.
    "ats:322",
    "comune:magenta",
    "comune:corbetta",
    "comune:cinisello-balsamo",
    "comune:bresso",
    "comune:cormano",
    "ente:ipis",
    "centro:officina-dei-legami",
    "centro:spazio-famiglia-qui-si-puo",
];

/// Where every test's virtual clock starts: Monday 2 March 2026, 09:00 UTC.
pub const START: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

/// The stream every event goes to.
pub const STREAM: &str = "RACCORDO";

/// Valid codici fiscali of nobody in particular.
pub const CF_ROSSI: &str = "RSSMRA85T10A562S";
pub const CF_BIANCHI: &str = "BNCLRA70A41F205E";
pub const CF_VERDI: &str = "VRDGPP80H15E801B";

/// The key the test gateways turn fiscal codes into subject references with.
pub fn subject_key() -> SubjectKey {
    SubjectKey::from_bytes(&[42; 32]).expect("32 bytes make a key")
}

/// The bearer token `org` acts with in the tests.
pub fn token_of(org: &str) -> String {
    format!("test-token-{}", org.replace(':', "-"))
}

/// A command id never used before in this test binary, so that no two commands of one
/// organisation share an id by accident: `<label>-<n>`.
pub fn command_id(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{label}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A running raccordo: its own nats-server on a random port with a temporary store, the gRPC
/// gateway and the operator console each on a random loopback port, and a virtual clock.
#[allow(missing_debug_implementations)]
pub struct TestApp {
    pub grpc: String,
    /// The operator console's base address, `http://127.0.0.1:<port>`.
    pub console: String,
    pub nats_url: String,
    pub clock: VirtualClock,
    pub log: EventLog,
    /// The state folder: the embedded server's data and the projections. `None` only once
    /// [`TestApp::stop_keeping_state`] has taken it.
    dir: Option<tempfile::TempDir>,
    duplicate_window: Duration,
    settled: Settled,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Duration::from_secs(120)).await
    }

    /// With a given JetStream duplicate window (short ones test retries after it).
    pub async fn spawn_with(duplicate_window: Duration) -> Self {
        Self::build(duplicate_window, None, VirtualClock::new(START), None).await
    }

    /// On the state folder a stopped app left ([`TestApp::stop_keeping_state`]): its event log,
    /// its projections, on a virtual clock at `now`.
    pub async fn spawn_in(dir: tempfile::TempDir, now: OffsetDateTime) -> Self {
        Self::build(
            Duration::from_secs(120),
            None,
            VirtualClock::new(now),
            Some(dir),
        )
        .await
    }

    /// A second gateway on this app's nats-server and stream, sharing its clock: it starts with
    /// nothing in memory, like a gateway restarted or a second replica behind a load balancer.
    pub async fn spawn_peer(&self) -> Self {
        Self::build(
            self.duplicate_window,
            Some(self.nats_url.clone()),
            self.clock.clone(),
            None,
        )
        .await
    }

    async fn build(
        duplicate_window: Duration,
        nats_url: Option<String>,
        clock: VirtualClock,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            raccordo::telemetry::init(raccordo::telemetry::SERVICE);
        }
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("a temporary directory"));
        let mut settings = Settings::new(dir.path(), Arc::new(clock.clone()));
        settings.nats_url = nats_url;
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.console = Some("127.0.0.1:0".parse().unwrap());
        settings.duplicate_window = duplicate_window;
        settings.subject_key = Some(subject_key());
        settings.tokens = Some(Tokens::from_actors(ORGS.iter().map(|org| {
            let actor = Actor {
                org: org.parse::<OrgId>().unwrap(),
                operator: "operatore.test".parse().unwrap(),
            };
            (token_of(org), actor)
        })));
        let app = Application::build(settings)
            .await
            .expect("the application builds");
        let grpc = format!("http://{}", app.grpc_addr());
        let console = format!(
            "http://{}",
            app.console_addr().expect("the console is served")
        );
        let nats_url = app.nats_url().to_owned();
        let log = app.log().clone();
        let settled = app.settled();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            grpc,
            console,
            nats_url,
            clock,
            log,
            dir: Some(dir),
            duplicate_window,
            settled,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// A new connection to the gateway (each one is its own HTTP/2 connection).
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("the gateway accepts connections")
    }

    /// Clients acting for `org`.
    pub async fn as_org(&self, org: &str) -> Clients {
        self.with_authorization(&format!("Bearer {}", token_of(org)))
            .await
    }

    /// Clients sending this `authorization` header verbatim.
    pub async fn with_authorization(&self, authorization: &str) -> Clients {
        let channel = self.channel().await;
        let auth = Bearer(authorization.parse().expect("an ASCII header value"));
        Clients {
            dimissione: DimissioneProtettaClient::with_interceptor(channel.clone(), auth.clone()),
            pua: PuaClient::with_interceptor(channel.clone(), auth.clone()),
            centro: CentroFamigliaClient::with_interceptor(channel.clone(), auth.clone()),
            inbox: InboxClient::with_interceptor(channel.clone(), auth.clone()),
            pathways: PathwaysClient::with_interceptor(channel, auth),
            settled: self.settled.clone(),
        }
    }

    /// Waits until the router and every party's projector have taken in the whole log, so that
    /// a read from any projection sees everything appended so far.
    pub async fn settle(&self) {
        settle(&mut self.settled.clone()).await;
    }

    /// The virtual clock's date, `days` from today, as the API writes dates (YYYY-MM-DD).
    pub fn date_in(&self, days: i64) -> String {
        (self.clock.now().date() + time::Duration::days(days)).to_string()
    }

    pub fn today(&self) -> String {
        self.date_in(0)
    }

    /// Moves the virtual clock on.
    pub fn advance(&self, by: time::Duration) {
        self.clock.advance(by);
    }

    /// How many events the organisations' commands appended: the log's length less the
    /// reconciler's findings, which it records on its own time.
    pub async fn log_length(&self) -> u64 {
        let messages = self.stream_messages().await;
        messages
            .iter()
            .filter(|m| {
                let event_type = m
                    .headers
                    .get("ce-type")
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                !is_finding(&event_type)
            })
            .count() as u64
    }

    /// The RACCORDO stream as JetStream describes it.
    pub async fn stream_info(&self) -> stream::Info {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let mut stream = js.get_stream(STREAM).await.expect("the stream exists");
        stream.info().await.expect("the stream answers").clone()
    }

    /// Every message of the RACCORDO stream, as stored: subject, headers and raw body.
    pub async fn stream_messages(&self) -> Vec<StreamMessage> {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let stream = js.get_stream(STREAM).await.expect("the stream exists");
        let mut messages = Vec::new();
        let last = self.log.last_sequence().await.expect("the log answers");
        for sequence in 1..=last {
            messages.push(
                stream
                    .get_raw_message(sequence)
                    .await
                    .expect("every sequence is stored"),
            );
        }
        messages
    }

    /// Every message of the parties' inboxes (stream RACCORDO_INBOX) so far, as stored; none
    /// before the router has created the stream.
    pub async fn inbox_messages(&self) -> Vec<StreamMessage> {
        self.messages_of(raccordo_eventlog::inbox::INBOX_STREAM)
            .await
    }

    /// Every message of a stream so far, as stored; none if there is no such stream yet.
    pub async fn messages_of(&self, stream: &str) -> Vec<StreamMessage> {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let Ok(mut stream) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let last = stream
            .info()
            .await
            .expect("the stream answers")
            .state
            .last_sequence;
        let mut messages = Vec::new();
        for sequence in 1..=last {
            messages.push(
                stream
                    .get_raw_message(sequence)
                    .await
                    .expect("every sequence is stored"),
            );
        }
        messages
    }

    /// `party`'s messages as RACCORDO_INBOX stores them on its subjects, once everything in the
    /// log is routed.
    pub async fn inbox_of(&self, party: &str) -> Vec<StreamMessage> {
        self.settle().await;
        let org: OrgId = party.parse().expect("a valid organisation id");
        let prefix = format!("raccordo.inbox.{}.", org.subject_token());
        self.inbox_messages()
            .await
            .into_iter()
            .filter(|m| m.subject.starts_with(&prefix))
            .collect()
    }

    /// Opens a protected discharge requested by asst:705 for a resident of `residence`.
    pub async fn open_discharge(&self, residence: &str) -> String {
        let request = discharge_request(CF_ROSSI, residence, &self.date_in(4));
        let mut asst = self.as_org("asst:705").await;
        let reply = asst
            .dimissione
            .request(request)
            .await
            .expect("the request is accepted");
        reply.into_inner().pathway_id
    }

    /// Opens a referral from comune:cinisello-balsamo to the Centro `centro`.
    pub async fn open_referral(&self, centro: &str) -> String {
        let mut comune = self.as_org("comune:cinisello-balsamo").await;
        let reply = comune
            .centro
            .send_referral(referral(CF_BIANCHI, "cinisello-balsamo", centro))
            .await
            .expect("the referral is accepted");
        reply.into_inner().pathway_id
    }

    /// The state folder.
    pub fn state_dir(&self) -> &std::path::Path {
        self.dir.as_ref().expect("the state folder is kept").path()
    }

    /// Stops everything, like [`TestApp::stop`], and hands over the state folder instead of
    /// deleting it, for [`TestApp::spawn_in`].
    pub async fn stop_keeping_state(mut self) -> tempfile::TempDir {
        let dir = self.dir.take().expect("the state folder is kept");
        self.stop().await;
        dir
    }

    /// Stops the gateway and the embedded nats-server.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task ends")
                .expect("the server stops cleanly");
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
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
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
    pub inbox: InboxClient<Authed>,
    pub pathways: PathwaysClient<Authed>,
    settled: Settled,
}

async fn settle(settled: &mut Settled) {
    tokio::time::timeout(Duration::from_secs(30), settled.wait())
        .await
        .expect("the projections take in the log within 30 s")
        .expect("the router and the projectors keep running");
}

impl Clients {
    /// `Pathways.Get` of one pathway, once the projections have taken in everything appended
    /// so far (reads are eventually consistent with commands).
    pub async fn get(&mut self, pathway_id: &str) -> Result<v1::Pathway, Status> {
        settle(&mut self.settled).await;
        let request = v1::GetPathwayRequest {
            pathway_id: pathway_id.to_owned(),
            min_sequence: 0,
        };
        self.pathways
            .get(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// `Pathways.List`, once the projections have taken in everything appended so far.
    pub async fn list(
        &mut self,
        request: v1::ListPathwaysRequest,
    ) -> Result<v1::ListPathwaysResponse, Status> {
        settle(&mut self.settled).await;
        self.pathways
            .list(request)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// A header of a stored message; a missing one fails the test, naming it.
pub fn header<'a>(message: &'a StreamMessage, name: &str) -> &'a str {
    message
        .headers
        .get(name)
        .map(|v| v.as_str())
        .unwrap_or_else(|| panic!("{name} missing on {}", message.subject))
}

// ---- requests ---------------------------------------------------------------------------------

/// A ward of ASST Ovest Milanese asks for a protected discharge of a frail patient living alone,
/// who will need the Comune's home care and the ASST's health home care.
pub fn discharge_request(
    cf: &str,
    residence: &str,
    expected_discharge: &str,
) -> v1::RequestDischargeRequest {
    v1::RequestDischargeRequest {
        command_id: command_id("request"),
        codice_fiscale: cf.to_owned(),
        ward: "Medicina generale - Ospedale di Magenta".into(),
        residence: residence.to_owned(),
        expected_discharge: expected_discharge.to_owned(),
        needs: vec![
            v1::DischargeService::Sad as i32,
            v1::DischargeService::CDom as i32,
        ],
        lives_alone: true,
        no_caregiver: true,
    }
}

/// A person's GP sends them to the PUA of ASST `asst`.
pub fn access_request(cf: &str, residence: &str, asst: &str) -> v1::RegisterAccessRequest {
    v1::RegisterAccessRequest {
        command_id: command_id("access"),
        codice_fiscale: cf.to_owned(),
        residence: residence.to_owned(),
        asst: asst.to_owned(),
        channel: v1::Channel::GeneralPractitioner as i32,
    }
}

/// The Comune's social service refers a family for parenting support and orientation.
pub fn referral(cf: &str, residence: &str, centro: &str) -> v1::SendReferralRequest {
    v1::SendReferralRequest {
        command_id: command_id("referral"),
        codice_fiscale: cf.to_owned(),
        residence: residence.to_owned(),
        centro: centro.to_owned(),
        referrer: v1::Referrer::ComuneSocialService as i32,
        areas: vec![
            v1::SupportArea::ParentingSupport as i32,
            v1::SupportArea::Orientation as i32,
        ],
    }
}

pub fn participant(org: &str, role: v1::Role) -> v1::Participant {
    v1::Participant {
        org: org.to_owned(),
        role: role as i32,
    }
}

// ---- statuses ---------------------------------------------------------------------------------

/// The status of a call that must fail with `code`.
pub fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(answer) => panic!("expected {code:?}, but the call succeeded: {answer:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The fields named by the `google.rpc.BadRequest` details of a status, in order.
pub fn bad_fields(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// The descriptions of the `google.rpc.BadRequest` field violations of a status.
pub fn bad_descriptions(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| v.description.clone())
                .collect()
        })
        .unwrap_or_default()
}

// ---- reading replies ----------------------------------------------------------------------------

/// A pathway's state (a `google.protobuf.Struct`) as JSON.
pub fn state_json(pathway: &v1::Pathway) -> serde_json::Value {
    pathway.state.clone().map(struct_json).unwrap_or_default()
}

/// An event's data in a history (a `google.protobuf.Struct`) as JSON.
pub fn data_json(event: &v1::HistoryEvent) -> serde_json::Value {
    event.data.clone().map(struct_json).unwrap_or_default()
}

/// An inbox message's data (a `google.protobuf.Struct`) as JSON.
pub fn inbox_data_json(message: &v1::InboxMessage) -> serde_json::Value {
    message.data.clone().map(struct_json).unwrap_or_default()
}

/// An act's data in a replayed history (a `google.protobuf.Struct`) as JSON.
pub fn act_data_json(act: &v1::TimelineAct) -> serde_json::Value {
    act.data.clone().map(struct_json).unwrap_or_default()
}

fn struct_json(s: prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, value_json(v)))
            .collect(),
    )
}

fn value_json(value: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => b.into(),
        Some(Kind::NumberValue(n)) => n.into(),
        Some(Kind::StringValue(s)) => s.into(),
        Some(Kind::ListValue(l)) => l.values.into_iter().map(value_json).collect(),
        Some(Kind::StructValue(s)) => struct_json(s),
    }
}

/// Whether a CloudEvents type is the type of a reconciler's finding.
pub fn is_finding(event_type: &str) -> bool {
    event_type.ends_with(".finding.v1")
}

/// How many events of a pathway as read are steps of care: its findings left out.
pub fn care_events(pathway: &v1::Pathway) -> usize {
    pathway
        .history
        .iter()
        .filter(|e| !is_finding(&e.event_type))
        .count()
}
