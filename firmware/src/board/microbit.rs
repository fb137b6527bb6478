//! BBC micro:bit v1 (nRF51822: Cortex-M0, no FPU, 16 KiB RAM) as `qemu-system-arm -machine
//! microbit` emulates it: 16 MHz clock, GPIO at 0x5000_0000, semihosting for logs and exit.
//!
//! RAM decides the network here: the largest one that fits, checked at compile time in
//! [`RAM_BUDGET_OK`] (parameters + optimiser tapes + ring buffer + a stack reserve <= 16 KiB), and
//! the next larger depth is checked not to fit.

use nearid::{FusedSgd, ResNet};

use super::{MmioLed, NoWatchdog, Parts, SpinDelay, SysTickClock};
use crate::app::Sample;
use crate::sim::SimSensor;

/// Board name as logged.
pub const NAME: &str = "microbit (Cortex-M0, 16 KiB RAM, QEMU)";
pub use super::m0::*;

// `RAM_BYTES`: all of RAM, from the memory map `memory/microbit.x` (build.rs reads it there).
include!(concat!(env!("OUT_DIR"), "/ram.rs"));
/// Kept for everything but the network, its tapes and the ring: call frames, the simulated
/// sensor, defmt, statics. The stack painting in [`crate::stack`] measures what is really used.
pub const RESERVE_BYTES: usize = 3584;

/// Training RAM of a depth-`m` network: the network (parameters and active depth), FusedSgd
/// (its tape) and the ring buffer.
const fn training_bytes<const MM: usize>() -> usize {
    core::mem::size_of::<ResNet<T, 3, H, MM>>()
        + FusedSgd::<T, ResNet<T, 3, H, MM>, B>::STATE_BYTES
        + core::mem::size_of::<heapless::HistoryBuf<Sample<T>, RING>>()
}

/// Depth M fits in RAM with the reserve, and depth M + 1 does not: the largest that fits.
pub const RAM_BUDGET_OK: () = {
    assert!(training_bytes::<M>() + RESERVE_BYTES <= RAM_BYTES);
    assert!(training_bytes::<{ M + 1 }>() + RESERVE_BYTES > RAM_BYTES);
};

const CLOCK_HZ: u32 = 16_000_000;
const GPIO: usize = 0x5000_0000;
const OUTSET: usize = GPIO + 0x508;
const OUTCLR: usize = GPIO + 0x50C;
const DIRSET: usize = GPIO + 0x518;
/// LED matrix row 1 (P0.13, drive high) and column 1 (P0.04, drive low) light the top-left LED.
const ROW1: u32 = 1 << 13;
const COL1: u32 = 1 << 4;

/// The checkpoints' flash: a host file through semihosting with the nRF51 NVMC's geometry
/// (32-bit words, 1 KiB pages). QEMU's NVMC keeps its flash across a system reset but not
/// across QEMU processes (firmware/README.md), so it cannot stand for a power cut.
#[cfg(feature = "checkpoint")]
pub type Flash =
    crate::flash::host::HostFlash<{ HOST_IMAGE.write as usize }, { HOST_IMAGE.erase as usize }>;
/// No checkpoints.
#[cfg(not(feature = "checkpoint"))]
pub type Flash = ();

/// The board's flash image (its geometry, size and model file's size).
#[cfg(feature = "checkpoint")]
pub const HOST_IMAGE: crate::persist::payload::HostImage = crate::persist::payload::HOST_IMAGES[1];

/// The checkpoint region: the whole image.
#[cfg(feature = "checkpoint")]
pub fn checkpoint_region() -> nearid::checkpoint::Region {
    nearid::checkpoint::Region {
        start: 0,
        len: HOST_IMAGE.len,
    }
}

/// The board's parts.
pub fn init()
-> Parts<SimSensor, MmioLed, SpinDelay, SysTickClock<1_000_000_000, 16_000_000>, NoWatchdog, Flash>
{
    let () = RAM_BUDGET_OK;
    let cp =
        cortex_m::Peripherals::take().unwrap_or_else(|| crate::fault::fail("peripherals taken"));
    // SAFETY: GPIO registers of the nRF51 (reference manual, section 14); output on row 1 and
    // column 1, column driven low so the row bit alone switches the LED.
    unsafe {
        core::ptr::write_volatile(DIRSET as *mut u32, ROW1 | COL1);
        core::ptr::write_volatile(OUTCLR as *mut u32, COL1);
    }
    Parts {
        i2c: SimSensor::new(crate::app::SENSOR_SEED),
        led: MmioLed {
            on: OUTSET,
            off: OUTCLR,
            mask: ROW1,
        },
        delay: SpinDelay { hz: CLOCK_HZ },
        clock: SysTickClock::start(cp.SYST),
        watchdog: NoWatchdog,
        #[cfg(feature = "checkpoint")]
        flash: Flash::open(checkpoint_region().len),
        #[cfg(not(feature = "checkpoint"))]
        flash: (),
    }
}

/// The run is over: exit QEMU with the verdict.
pub fn exit(success: bool, _: NoWatchdog) -> ! {
    super::semihosting_exit(success)
}
