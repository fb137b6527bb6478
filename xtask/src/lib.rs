//! The project's tasks as a library: what `cargo xtask` (the binary, `src/main.rs`) and the
//! report generators (`nearid-reports`, `reports/`) share.
//!
//! - [`cmd`]: running commands, echoed, with errors that name them.
//! - [`toolchain`]: the rustup targets the boards need, flip-link and cargo-mutants.
//! - [`firmware`]: the boards and how to build them (the ELF's path is cargo's answer).
//! - [`qemu`]: running an ELF on an emulated board and decoding its defmt log.
//! - [`runlog`]: the figures of a run, read from its decoded log.
//! - [`checkpoint`]: the checkpointing firmware's flash images, boots with options, and the
//!   newest checkpoint read out of an image.
//! - [`golden`]: the whole decoded log of each emulated build against its checked-in file.
//! - [`disasm`]: the firmware's code, through llvm-objdump; [`faultpath`]: the real boards' panic
//!   and HardFault handlers, checked in it to end in a breakpoint.
//! - [`template`]: the out-of-tree firmware template, built and run as a user would.
//!
//! Modules depend downward only: `cmd` <- `toolchain`, `firmware` <- `qemu`, `golden`; `cmd` <-
//! `disasm` <- `faultpath`; `runlog` stands alone.

pub mod checkpoint;
pub mod cmd;
pub mod disasm;
pub mod faultpath;
pub mod firmware;
pub mod golden;
pub mod qemu;
pub mod runlog;
pub mod template;
pub mod toolchain;

/// The example of the core's crate README (`core/README.md`, the page crates.io shows), compiled
/// and run as a doc test here so that it cannot rot. It lives in this crate because the core's
/// `src/` belongs to the training-core work; `#[doc = include_str!("../README.md")]` on an item of
/// `core/src/lib.rs` would move it home.
#[cfg(doctest)]
#[doc = include_str!("../../core/README.md")]
pub struct CoreReadme;
