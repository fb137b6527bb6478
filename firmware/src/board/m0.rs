//! The training configuration of the Cortex-M0 boards (the micro:bit under QEMU, the Pico): one
//! network, schedule and scalar for both. The scalar is chosen by Cargo feature so instruction
//! counts compare on the same chip: Q4.12 (16-bit fixed point, the default), `q16` for Q16.16,
//! `soft-float` for f32 in software; the two features exclude each other.
//!
//! The depth `M` is per format: the largest that fits the micro:bit's 16 KiB (asserted at
//! compile time in `microbit.rs`); the Pico, with 264 KiB, trains the same network.

#[cfg(all(feature = "soft-float", feature = "q16"))]
compile_error!(
    "features `soft-float` and `q16` each choose the scalar of the Cortex-M0 boards: enable one"
);

#[cfg(feature = "soft-float")]
mod format {
    /// The scalar the network computes in.
    pub type T = f32;
    /// Name of `T` as logged.
    pub const SCALAR: &str = "f32 (soft float)";
    /// Blocks: the most that fit the micro:bit in this format.
    pub const M: usize = 19;
}

#[cfg(all(feature = "q16", not(feature = "soft-float")))]
mod format {
    /// The scalar the network computes in.
    pub type T = nearid::fixed::Q16;
    /// Name of `T` as logged.
    pub const SCALAR: &str = "Q16.16 (32-bit fixed point)";
    /// Blocks: the most that fit the micro:bit in this format.
    pub const M: usize = 19;
}

#[cfg(not(any(feature = "soft-float", feature = "q16")))]
mod format {
    /// The scalar the network computes in.
    pub type T = nearid::fixed::Q12;
    /// Name of `T` as logged.
    pub const SCALAR: &str = "Q4.12 (16-bit fixed point)";
    /// Blocks: the most that fit the micro:bit in this format.
    pub const M: usize = 40;
}

pub use format::{M, SCALAR, T};

/// Hidden width.
pub const H: usize = 16;
/// Mini-batch size: 1, one sample per step (online calibration). Each weight is then read
/// once forward, once backward and once to update, the instruction floor per weight; larger
/// batches cost more instructions per step and, on the micro:bit, a tape per sample in RAM.
pub const B: usize = 1;
/// Samples kept in the ring buffer the batches are drawn from.
pub const RING: usize = 32;
/// Training steps (one new sample per step).
pub const STEPS: u32 = 600;
/// Log every this many steps.
pub const LOG_EVERY: u32 = 100;
/// Learning rate.
pub const LEARNING_RATE: f64 = 0.01;
/// Steps between checkpoints (the `checkpoint` feature, the real boards): 6 in a run, and one
/// of the start; the wear this costs is in firmware/README.md.
#[cfg(feature = "checkpoint")]
pub const CHECKPOINT_EVERY: u32 = 100;
/// The `grow` feature's stall rule ([`nearid::Stall`]): windows of this many steps of the
/// training loss...
#[cfg(feature = "grow")]
pub const GROW_WINDOW: u32 = 10;
/// ...and a block appended when a window's mean improves on the previous one's by less than
/// this fraction.
#[cfg(feature = "grow")]
pub const GROW_THRESHOLD: f32 = 0.05;
