//! The projection store on real sled databases in temporary directories: one test binary, a
//! module per concern, so that the crate links once.

mod apply;
mod crash;
mod damage;
mod list;
mod park;
mod props;
mod recovery;
mod replay;
mod support;
mod timing;
