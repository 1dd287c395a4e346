//! raccordo's gRPC API: the code generated from `proto/raccordo/v1`, the descriptor set for the
//! reflection service, and the conversions between wire messages and domain types. Parsing
//! happens here, once: a request either becomes a well-typed domain command or a list of
//! field-level violations.

mod from_wire;
mod to_wire;

pub use from_wire::{ToCommand, parse_pathway_id};
pub use to_wire::{command_reply, pathway_message};

/// The generated messages, clients and servers of package `raccordo.v1`.
#[allow(clippy::all, missing_debug_implementations)]
pub mod v1 {
    tonic::include_proto!("raccordo.v1");
}

/// The encoded descriptors of every raccordo proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/raccordo_descriptor.bin"));

/// The fully qualified names of raccordo's gRPC services.
pub const SERVICE_NAMES: [&str; 4] = [
    "raccordo.v1.DimissioneProtetta",
    "raccordo.v1.Pua",
    "raccordo.v1.CentroFamiglia",
    "raccordo.v1.Pathways",
];
