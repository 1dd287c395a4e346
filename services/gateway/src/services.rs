//! The gRPC services. Every command rpc is the same three steps: who is calling (the token),
//! what they ask (parse the request into a domain command, refusing bad fields), and what it
//! comes to (the engine decides and appends).

use std::sync::Arc;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use raccordo_api::v1::{self, centro_famiglia_server, dimissione_protetta_server, pua_server};
use raccordo_api::{ToCommand, command_reply};
use raccordo_domain::identity::SubjectKey;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::engine::Engine;
use crate::status::invalid;

/// The header a replayed answer carries: the command had been applied before.
pub const REPLAYED_HEADER: &str = "raccordo-replayed";

/// What every service shares.
#[derive(Debug, Clone)]
pub struct Handler {
    pub(crate) engine: Arc<Engine>,
    pub(crate) key: SubjectKey,
    pub(crate) tracer: Arc<SdkTracer>,
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// The trace context of one command: a span named `raccordo.command.<command>`, child of the
/// caller's W3C trace context if the request's metadata carries one.
pub(crate) fn command_trace(
    tracer: &SdkTracer,
    metadata: &MetadataMap,
    command: &str,
) -> opentelemetry::Context {
    let parent = TraceContextPropagator::new().extract(&MetadataExtractor(metadata));
    let span = tracer.start_with_context(format!("raccordo.command.{command}"), &parent);
    parent.with_span(span)
}

impl Handler {
    async fn command<R: ToCommand>(
        &self,
        request: Request<R>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        let actor = caller(&request)?;
        let command = request
            .get_ref()
            .to_command(&self.key)
            .map_err(|v| invalid(&v))?;
        let trace = command_trace(&self.tracer, request.metadata(), command.body.name());
        let outcome = self.engine.execute(&actor, &command, &trace).await.inspect_err(|e| {
            tracing::info!(org = %actor.org, operator = %actor.operator, command = command.body.name(),
                pathway = ?command.pathway, error = %e, "command refused");
        })?;
        tracing::info!(
            org = %actor.org,
            operator = %actor.operator,
            command = command.body.name(),
            pathway = %outcome.pathway,
            sequence = outcome.applied.sequence,
            replayed = outcome.replayed,
            "command accepted"
        );
        let mut response = Response::new(command_reply(&outcome.pathway, &outcome.applied));
        if outcome.replayed {
            response
                .metadata_mut()
                .insert(REPLAYED_HEADER, MetadataValue::from_static("true"));
        }
        Ok(response)
    }
}

/// Implements a service's rpcs, each by handing its request to [`Handler::command`].
macro_rules! command_service {
    ($service:ident, $server:path, { $($rpc:ident: $req:ty,)+ }) => {
        #[derive(Debug, Clone)]
        pub struct $service(pub Handler);

        #[tonic::async_trait]
        impl $server for $service {
            $(
                async fn $rpc(&self, request: Request<$req>) -> Result<Response<v1::CommandReply>, Status> {
                    self.0.command(request).await
                }
            )+
        }
    };
}

command_service!(DimissioneProtettaService, dimissione_protetta_server::DimissioneProtetta, {
    request: v1::RequestDischargeRequest,
    receive: v1::ReceiveDischargeRequest,
    record_joint_assessment: v1::RecordJointAssessmentRequest,
    agree_care_plan: v1::AgreeCarePlanRequest,
    change_expected_date: v1::ChangeExpectedDateRequest,
    record_discharge: v1::RecordDischargeRequest,
    activate_home_services: v1::ActivateHomeServicesRequest,
    record_readmission: v1::RecordReadmissionRequest,
    close: v1::CloseDischargeRequest,
    cancel: v1::CancelDischargeRequest,
});

command_service!(PuaService, pua_server::Pua, {
    register_access: v1::RegisterAccessRequest,
    record_preliminary_assessment: v1::RecordPreliminaryAssessmentRequest,
    request_uvm: v1::RequestUvmRequest,
    complete_uvm: v1::CompleteUvmRequest,
    agree_plan: v1::AgreePlanRequest,
    activate_service: v1::ActivateServiceRequest,
    close: v1::ClosePuaRequest,
});

command_service!(CentroFamigliaService, centro_famiglia_server::CentroFamiglia, {
    send_referral: v1::SendReferralRequest,
    accept: v1::AcceptReferralRequest,
    decline: v1::DeclineReferralRequest,
    record_first_contact: v1::RecordFirstContactRequest,
    enrol: v1::EnrolRequest,
    close: v1::CloseReferralRequest,
});
