//! The one place where domain and log errors become gRPC statuses (ARCHITECTURE.md invariant 7).

use raccordo_domain::pathway::{FieldViolation, Rejection};
use raccordo_domain::timeline::Refusal;
use raccordo_eventlog::LogError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::replays::ReplayError;

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the event log did not take the event: {0}")]
    Append(String),
    #[error("pathway {0} kept changing while the command was decided; retry it")]
    Contended(String),
}

pub fn invalid(violations: &[FieldViolation]) -> Status {
    let message = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {message}"),
        details,
    )
}

impl From<CommandError> for Status {
    fn from(error: CommandError) -> Status {
        match &error {
            CommandError::Rejected(rejection) => match rejection {
                Rejection::Invalid(violations) => invalid(violations),
                Rejection::IllegalTransition {
                    pathway, status, ..
                } => Status::with_error_details(
                    Code::FailedPrecondition,
                    error.to_string(),
                    ErrorDetails::with_precondition_failure_violation(
                        "STATE",
                        pathway.to_string(),
                        format!("the pathway is {status}"),
                    ),
                ),
                Rejection::NotPermitted { .. } => Status::permission_denied(error.to_string()),
                Rejection::NotFound(_) => Status::not_found(error.to_string()),
                Rejection::CommandIdReused { .. } => Status::already_exists(error.to_string()),
                Rejection::NotAcknowledgeable {
                    event_id, reason, ..
                } => Status::with_error_details(
                    Code::FailedPrecondition,
                    error.to_string(),
                    ErrorDetails::with_precondition_failure_violation(
                        "RECEIPT",
                        event_id.to_string(),
                        reason.clone(),
                    ),
                ),
            },
            // The log holds something raccordo did not write: an operator must look, a retry won't help.
            CommandError::Log(LogError::Decode { .. } | LogError::Evolve(_)) => {
                tracing::error!(%error, "the event log holds an event that cannot be applied");
                Status::internal(error.to_string())
            }
            CommandError::Log(_) | CommandError::Append(_) => {
                Status::unavailable(error.to_string())
            }
            CommandError::Contended(_) => Status::aborted(error.to_string()),
        }
    }
}

impl From<ReplayError> for Status {
    fn from(error: ReplayError) -> Status {
        match error {
            ReplayError::Refused { refusal, .. } => match refusal {
                Refusal::NotHeld { .. } => Status::not_found(refusal.to_string()),
                Refusal::AggregateOnly { .. } => Status::permission_denied(refusal.to_string()),
            },
            ReplayError::Log(error) => CommandError::Log(error).into(),
        }
    }
}
