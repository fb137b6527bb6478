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
//! - [`growth_report`]: `nearid verify growth` (docs/GROWTH.md): growing depth when training
//!   stalls, against fixed shallow and full depth, at the same steps and the same compute.
//! - [`hostile`]: hostile inputs (proptest strategies) and fuzz targets' machinery;
//!   [`fuzz_targets`]: one target per numerical API, run by `host/tests/fuzz_*.rs` and
//!   `cargo xtask fuzz`.
//! - Models on a user's own data: [`table`] (CSV with a header, `.npy`, `.npz` data files,
//!   column selection), [`dataset`] (numbers and labels, standardisation and its folding),
//!   [`network`] (a network with run-time shapes; `.npz` with PyTorch's names via [`npz`],
//!   `.nid` via the core's [`nearid::file`]), [`compiled`] (the compiled network types and the
//!   exact zero padding into them), [`train`] (the training loop and the forward pass),
//!   [`model_commands`] (`nearid train`, `eval`, `predict`, `export`, `import`).
//! - [`cli`]: the command-line tool (`nearid decompose`, `nearid verify ...`, `nearid train`
//!   and the model commands).

pub mod cli;
pub mod compiled;
pub mod csv;
pub mod dataset;
pub mod dispatch;
pub mod fuzz_targets;
pub mod fuzz_training;
pub mod growth_report;
pub mod hostile;
pub mod linear_report;
pub mod matrix_file;
pub mod model_commands;
pub mod network;
pub mod npy;
pub mod npz;
pub mod sample;
pub mod smooth_check;
pub mod smooth_maps;
pub mod smooth_report;
pub mod table;
pub mod train;
