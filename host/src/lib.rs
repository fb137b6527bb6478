//! nearid on the host: f64 reference implementations, the checks of THEORY.md's bounds against
//! the core's own numbers, and the `nearid` command-line tool's building blocks.
//!
//! - [`dispatch`]: run-time D (1..=16) onto the core's const generics.
//! - [`sample`]: seeded random matrices for the sweeps.

pub mod dispatch;
pub mod sample;
