//! raccordo's gRPC front door. Callers authenticate with a bearer token; each command is parsed,
//! decided against the pathway's state and appended to the event log as exactly one event.
//! Case software follows its organisation's inbox over the `Inbox` service and acknowledges what
//! it received, each acknowledgement a receipt event appended like any command.
//! Health and reflection services are served beside raccordo's own, so stock clients such as
//! `grpcurl` work out of the box.

pub mod auth;
mod engine;
mod inbox;
mod queries;
mod replays;
mod services;
mod status;

use std::future::Future;
use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use raccordo_api::v1::{
    centro_famiglia_server::CentroFamigliaServer,
    dimissione_protetta_server::DimissioneProtettaServer, inbox_server::InboxServer,
    pathways_server::PathwaysServer, pua_server::PuaServer,
};
use raccordo_domain::clock::Clock;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::EventLog;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;

pub use auth::Tokens;
pub use engine::{Engine, Outcome};
pub use queries::{Freshness, Projections};
pub use replays::{ReplayError, Replays};
pub use services::REPLAYED_HEADER;
pub use status::CommandError;

use inbox::InboxService;
use queries::PathwaysService;
use services::{CentroFamigliaService, DimissioneProtettaService, Handler, PuaService};

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub log: EventLog,
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub subject_key: SubjectKey,
    pub tokens: Tokens,
    /// The parties' projections, which `Pathways` answers from.
    pub projections: Projections,
    /// Timelines of histories, each replay recorded in the audit trail (`Pathways.History`).
    pub replays: Replays,
}

/// Serves the gateway on `listener` until `shutdown` completes, then drains in-flight calls.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let tracer_provider = SdkTracerProvider::builder().build();
    let handler = Handler {
        engine: Arc::new(Engine::new(config.log, config.registry, config.clock)),
        key: config.subject_key,
        tracer: Arc::new(tracer_provider.tracer("raccordo-gateway")),
    };
    let tokens = config.tokens;
    let auth = move |request| tokens.authenticate(request);
    // Inbox subscriptions never end by themselves: they are told to, so that shutdown can drain.
    let (stop_subscriptions, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_subscriptions.send(true);
    };
    let inbox = InboxService::new(
        Arc::clone(&handler.engine),
        Arc::clone(&handler.tracer),
        stopping,
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DimissioneProtettaServer<DimissioneProtettaService>>()
        .await;
    health.set_serving::<PuaServer<PuaService>>().await;
    health
        .set_serving::<CentroFamigliaServer<CentroFamigliaService>>()
        .await;
    health
        .set_serving::<PathwaysServer<PathwaysService>>()
        .await;
    health.set_serving::<InboxServer<InboxService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(raccordo_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("raccordo's descriptors are valid");
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(raccordo_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("raccordo's descriptors are valid");

    let result = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(
            DimissioneProtettaServer::new(DimissioneProtettaService(handler.clone())),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            PuaServer::new(PuaService(handler.clone())),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            CentroFamigliaServer::new(CentroFamigliaService(handler.clone())),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            PathwaysServer::new(PathwaysService::new(config.projections, config.replays)),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(InboxServer::new(inbox), auth))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    let _ = tracer_provider.shutdown();
    result
}
