//! The scalar the micro:bit (Cortex-M0) trains in, chosen by Cargo feature so
//! instruction counts compare on the same chip: Q4.12 (16-bit fixed point, the default),
//! `q16` for Q16.16, `soft-float` for f32 in software (`soft-float` wins when both are set).
//!
//! The depth `M` is per format: the largest that fits the micro:bit's 16 KiB (asserted at
//! compile time in `microbit.rs`). The Pico trains in Q4.12 too (`pico.rs`).

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
