//! Tests of the pathway state machines: the happy path of each kind, the authorisation rules,
//! and properties over random command sequences.
