//! nearid on the host: f64 reference implementations and the checks of THEORY.md's bounds
//! against the core's own numbers.
