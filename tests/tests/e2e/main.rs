//! End-to-end tests: one binary, a module per feature (one link step on a 2-core machine).

mod smoke;
