//! The domain core of raccordo: what a pathway is, who may do what to it, and how the territory of
//! Lombardy is organised. Everything here is pure: no I/O, no async, and time enters as a parameter.

pub mod calendar;
pub mod clock;
pub mod codice_fiscale;
pub mod identity;
pub mod ids;
pub mod kpi;
pub mod pathway;
pub mod protocol;
pub mod reconcile;
pub mod registry;
pub mod routing;
#[cfg(test)]
mod testing;
pub mod timeline;
