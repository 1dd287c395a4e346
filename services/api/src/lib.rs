//! raccordo's gRPC API: the code generated from `proto/raccordo/v1`, the descriptor set for the
//! reflection service, and the conversions between wire messages and domain types. Parsing
//! happens here, once: a request either becomes a well-typed domain command or a list of
//! field-level violations.

mod from_wire;
pub mod queries;
mod to_wire;

pub use from_wire::{ToCommand, parse_pathway_id};
pub use to_wire::{acknowledge_reply, command_reply, inbox_message};

/// The generated messages, clients and servers of package `raccordo.v1`.
#[allow(clippy::all, missing_debug_implementations)]
pub mod v1 {
    tonic::include_proto!("raccordo.v1");
}

/// The encoded descriptors of every raccordo proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/raccordo_descriptor.bin"));

/// The fully qualified names of raccordo's gRPC services.
pub const SERVICE_NAMES: [&str; 5] = [
    "raccordo.v1.DimissioneProtetta",
    "raccordo.v1.Pua",
    "raccordo.v1.CentroFamiglia",
    "raccordo.v1.Pathways",
    "raccordo.v1.Inbox",
];

/// The requests that carry a codice fiscale print it redacted: it must never reach a log.
macro_rules! redacted_debug {
    ($($message:ident { $($field:ident),* }),+ $(,)?) => {
        $(impl std::fmt::Debug for v1::$message {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($message))
                    $(.field(stringify!($field), &self.$field))*
                    .field("codice_fiscale", &"<redacted>")
                    .finish_non_exhaustive()
            }
        })+
    };
}

redacted_debug!(
    RequestDischargeRequest {
        command_id,
        residence,
        expected_discharge
    },
    RegisterAccessRequest {
        command_id,
        residence,
        asst,
        channel
    },
    SendReferralRequest {
        command_id,
        residence,
        centro,
        referrer
    },
);

#[cfg(test)]
mod redaction_tests {
    use super::v1;

    #[test]
    fn requests_with_a_fiscal_code_never_print_it() {
        let request = v1::RegisterAccessRequest {
            codice_fiscale: "RSSMRA85T10A562S".into(),
            ..Default::default()
        };
        let printed = format!("{request:?}");
        assert!(!printed.contains("RSSMRA85T10A562S"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
