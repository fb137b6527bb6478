//! Stack high-water mark by painting: at reset the free RAM between the stack's limit
//! (`_stack_end`) and the stack pointer is filled with a pattern; at the end the lowest word that
//! no longer holds it marks the deepest the stack reached.
//!
//! The stack grows down from `_stack_start` toward `_stack_end`. With cortex-m-rt's own layout
//! (the emulated boards) that is from the top of RAM down to the end of the statics; with
//! flip-link (the real boards) from just below the statics, moved to the top of RAM, down to the
//! start of RAM, so that an overflow faults instead of overwriting them. Either way, if the stack
//! reached its limit the bottom word is overwritten and [`high_water`] says so.

use core::ptr::{addr_of, read_volatile, write_volatile};

const PAINT: u32 = 0xACE0_BA5E;
/// Bytes below the current stack pointer left unpainted (the painting function's own frame).
const MARGIN: usize = 32;

unsafe extern "C" {
    /// The lowest address the stack may reach (cortex-m-rt's `link.x`, or flip-link's).
    static _stack_end: u32;
    /// Initial stack pointer.
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are taken, never their contents.
    (
        addr_of!(_stack_end) as usize,
        addr_of!(_stack_start) as usize,
    )
}

/// Paints the free stack. Call first thing in `main`, before the deep frames exist.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut word = bottom;
    while word + 4 <= sp.saturating_sub(MARGIN) {
        // SAFETY: [bottom, sp - MARGIN) is RAM that no static and no live frame occupies: it is
        // the stack's own region below the stack pointer (frames live above it) and no
        // interrupt is enabled.
        unsafe { write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
}

/// How the stack went: bytes used at the deepest point and bytes there were for it.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub struct StackUse {
    /// Deepest use: top of RAM minus the lowest overwritten word.
    pub used: usize,
    /// The stack's region, `_stack_end` to `_stack_start`.
    pub available: usize,
}

impl StackUse {
    /// True when the painted bottom word was overwritten: the stack may have reached its limit.
    pub fn overflowed(&self) -> bool {
        self.used >= self.available
    }
}

/// The high-water mark since [`paint`].
pub fn high_water() -> StackUse {
    let (bottom, top) = bounds();
    let mut word = bottom;
    // SAFETY: reads of the stack's own region, all of it mapped RAM, word-aligned.
    while word < top && unsafe { read_volatile(word as *const u32) } == PAINT {
        word += 4;
    }
    StackUse {
        used: top - word,
        available: top - bottom,
    }
}
