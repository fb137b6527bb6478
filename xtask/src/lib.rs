//! The project's tasks as a library: what `cargo xtask` (the binary, `src/main.rs`) and the
//! report generators (`nearid-reports`, `reports/`) share.
//!
//! - [`cmd`]: running commands, echoed, with errors that name them.
//! - [`toolchain`]: the rustup targets the boards need.
//! - [`firmware`]: the boards and how to build them (the ELF's path is cargo's answer).
//! - [`qemu`]: running an ELF on an emulated board and decoding its defmt log.
//! - [`runlog`]: the figures of a run, read from its decoded log.
//! - [`golden`]: the whole decoded log of each emulated build against its checked-in file.
//!
//! Modules depend downward only: `cmd` <- `toolchain`, `firmware` <- `qemu`, `golden`; `runlog` stands
//! alone.

pub mod cmd;
pub mod firmware;
pub mod golden;
pub mod qemu;
pub mod runlog;
pub mod toolchain;
