//! Stack high-water mark by painting: at reset the free RAM between the end of the statics
//! (`__sheap`, cortex-m-rt's start of heap) and the stack pointer is filled with a pattern; at the
//! end the lowest word that no longer holds it marks the deepest the stack reached.
//!
//! The stack grows down from `_stack_start` (top of RAM) toward the statics; if it ever reached
//! them, the bottom word is overwritten and [`high_water`] says so.

use core::ptr::{addr_of, read_volatile, write_volatile};

const PAINT: u32 = 0xACE0_BA5E;
/// Bytes below the current stack pointer left unpainted (the painting function's own frame).
const MARGIN: usize = 32;

unsafe extern "C" {
    /// End of .bss/.data/.uninit (cortex-m-rt's `link.x`).
    static __sheap: u32;
    /// Initial stack pointer: the top of RAM.
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are taken, never their contents.
    (addr_of!(__sheap) as usize, addr_of!(_stack_start) as usize)
}

/// Paints the free stack. Call first thing in `main`, before the deep frames exist.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut word = bottom;
    while word + 4 <= sp.saturating_sub(MARGIN) {
        // SAFETY: [bottom, sp - MARGIN) is RAM that no static and no live frame occupies: the
        // statics end at `bottom`, frames live above the stack pointer, no interrupt is enabled.
        unsafe { write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
}

/// How the stack went: bytes used at the deepest point and bytes there were for it.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub struct StackUse {
    /// Deepest use: top of RAM minus the lowest overwritten word.
    pub used: usize,
    /// From the end of the statics to the top of RAM.
    pub available: usize,
}

impl StackUse {
    /// True when the painted bottom word was overwritten: the stack may have run into the statics.
    pub fn overflowed(&self) -> bool {
        self.used >= self.available
    }
}

/// The high-water mark since [`paint`].
pub fn high_water() -> StackUse {
    let (bottom, top) = bounds();
    let mut word = bottom;
    // SAFETY: reads of RAM between the statics and the top of the stack, all mapped and aligned.
    while word < top && unsafe { read_volatile(word as *const u32) } == PAINT {
        word += 4;
    }
    StackUse {
        used: top - word,
        available: top - bottom,
    }
}
