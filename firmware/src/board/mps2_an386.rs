//! ARM MPS2 with the AN386 image (Cortex-M4F, FPU) as `qemu-system-arm -machine mps2-an386`
//! emulates it: 25 MHz system clock, FPGA IO LEDs at 0x4002_8000, semihosting for logs and exit.
//! The default board: f32 in hardware.

use super::{MmioLed, NoWatchdog, Parts, SpinDelay, SysTickClock};
use crate::sim::SimSensor;

/// Board name as logged.
pub const NAME: &str = "mps2-an386 (Cortex-M4F, QEMU)";
pub use super::m4f::*;

const SYSCLK_HZ: u32 = 25_000_000;

/// The checkpoints' flash: a host file through semihosting (the AN386 has no flash
/// controller), 4-byte words and 4 KiB erase units.
#[cfg(feature = "checkpoint")]
pub type Flash =
    crate::flash::host::HostFlash<{ HOST_IMAGE.write as usize }, { HOST_IMAGE.erase as usize }>;
/// No checkpoints.
#[cfg(not(feature = "checkpoint"))]
pub type Flash = ();

/// The board's flash image (its geometry, size and model file's size).
#[cfg(feature = "checkpoint")]
pub const HOST_IMAGE: crate::persist::payload::HostImage = crate::persist::payload::HOST_IMAGES[0];

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
-> Parts<SimSensor, MmioLed, SpinDelay, SysTickClock<1_000_000_000, 25_000_000>, NoWatchdog, Flash>
{
    let cp =
        cortex_m::Peripherals::take().unwrap_or_else(|| crate::fault::fail("peripherals taken"));
    Parts {
        i2c: SimSensor::new(crate::app::SENSOR_SEED),
        // FPGAIO LED register: bit 0 is LED0 (write 0 to darken).
        led: MmioLed {
            on: 0x4002_8000,
            off: 0x4002_8000,
            mask: 1,
        },
        delay: SpinDelay { hz: SYSCLK_HZ },
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
