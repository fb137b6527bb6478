//! nearid on the host: f64 reference implementations, the checks of docs/THEORY.md's bounds against
//! the core's own numbers, and the `nearid` command-line tool's building blocks.
//!
//! - [`dispatch`]: run-time D (1..=16) onto the core's const generics.
//! - [`sample`]: seeded random matrices for the sweeps.
//! - [`matrix_file`]: a matrix from a file, `.npy` ([`npy`]) or CSV ([`csv`]), bounded in size,
//!   every problem one line naming the file; [`npy`] also writes factor stacks.
//! - [`linear_report`]: the sweep behind `nearid verify linear` and its report.
//! - [`smooth_maps`], [`smooth_check`]: docs/THEORY.md sections 4-5: the smooth test maps and the
//!   measurements the `smooth_*` tests assert on; [`smooth_report`]: `nearid verify smooth`.
//! - [`hostile`]: hostile inputs (proptest strategies) and fuzz targets' machinery;
//!   [`fuzz_targets`]: one target per numerical API, run by `host/tests/fuzz_*.rs` and
//!   `cargo xtask fuzz`.
//! - [`cli`]: the command-line tool (`nearid decompose`, `nearid verify ...`).

pub mod cli;
pub mod csv;
pub mod dispatch;
pub mod fuzz_targets;
pub mod fuzz_training;
pub mod hostile;
pub mod linear_report;
pub mod matrix_file;
pub mod npy;
pub mod sample;
pub mod smooth_check;
pub mod smooth_maps;
pub mod smooth_report;
