//! The training configuration of the Cortex-M4F boards (mps2-an386 under QEMU, the
//! NUCLEO-F411RE): one network, scalar and schedule for both, so the instruction count of the
//! emulated chip and the cycle count of the real one measure the same work.

/// The scalar the network computes in.
pub type T = f32;
/// Name of `T` as logged.
pub const SCALAR: &str = "f32 (FPU)";
/// Hidden width.
pub const H: usize = 16;
/// Blocks.
pub const M: usize = 8;
/// Mini-batch size: 1, one sample per step (online calibration). Each weight is then read
/// once forward, once backward and once to update, the instruction floor per weight; larger
/// batches cost more instructions per step and, on the micro:bit, a tape per sample in RAM.
pub const B: usize = 1;
/// Samples kept in the ring buffer the batches are drawn from.
pub const RING: usize = 64;
/// Training steps (one new sample per step).
pub const STEPS: u32 = 2000;
/// Log every this many steps.
pub const LOG_EVERY: u32 = 250;
/// Learning rate.
pub const LEARNING_RATE: f64 = 0.02;
/// Steps between checkpoints (the `checkpoint` feature, the real boards): 8 in a run, and one
/// of the start; the wear this costs is in firmware/README.md.
#[cfg(feature = "checkpoint")]
pub const CHECKPOINT_EVERY: u32 = 250;
/// The `grow` feature's stall rule ([`nearid::Stall`]): windows of this many steps of the
/// training loss...
#[cfg(feature = "grow")]
pub const GROW_WINDOW: u32 = 25;
/// ...and a block appended when a window's mean improves on the previous one's by less than
/// this fraction.
#[cfg(feature = "grow")]
pub const GROW_THRESHOLD: f32 = 0.05;
