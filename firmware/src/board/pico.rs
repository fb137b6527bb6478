//! Raspberry Pi Pico: RP2040 (two Cortex-M0+ at 125 MHz, no FPU, 264 KiB RAM, 2 MiB QSPI flash),
//! through `rp2040-hal`. LED on GPIO25; delay from the 1 MHz TIMER; cycles counted by SysTick
//! (the M0+ has no DWT CYCCNT); defmt over RTT (probe-rs). One core trains.
//!
//! Nothing is attached to the board's I2C bus, so the sensor is the simulated one
//! ([`crate::sim`]) behind the same driver; for a real sensor, pass the HAL's I2C0 (GPIO4 = SDA,
//! GPIO5 = SCL, `hal::I2C::i2c0`) to [`Parts::i2c`] instead. The training configuration is the
//! emulated Cortex-M0's (`m0.rs`: network, format, batch, learning rate), so the cycle count
//! compares with its instruction count.

use rp2040_hal::clocks::init_clocks_and_plls;
use rp2040_hal::fugit::ExtU32;
use rp2040_hal::gpio::bank0::Gpio25;
use rp2040_hal::gpio::{FunctionSioOutput, Pin, Pins, PullDown};
use rp2040_hal::{Sio, Timer, pac};

use super::{Parts, SysTickClock, WATCHDOG_MS, Watchdog};
use crate::sim::SimSensor;

/// The second-stage bootloader for the Pico's W25Q080 flash: the first 256 bytes of flash.
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// Board name as logged.
pub const NAME: &str = "Raspberry Pi Pico (RP2040, Cortex-M0+, 125 MHz)";
pub use super::m0::*;

/// The Pico's crystal.
const XOSC_HZ: u32 = 12_000_000;

/// The RP2040 watchdog (ticking at 1 MHz from the crystal, set up with the clocks): paused while
/// a debugger halts a core, so a breakpoint does not reset the chip under probe-rs.
pub struct PicoWatchdog(rp2040_hal::Watchdog);

impl Watchdog for PicoWatchdog {
    fn feed(&mut self) {
        self.0.feed();
    }
}

/// The core clock `init_clocks_and_plls` sets.
const SYSCLK_HZ: u32 = 125_000_000;

/// The checkpoints' flash: the last 64 KiB of the QSPI flash, through the boot ROM.
#[cfg(feature = "checkpoint")]
pub type Flash = crate::flash::rp2040::PicoFlash;
/// No checkpoints.
#[cfg(not(feature = "checkpoint"))]
pub type Flash = ();

/// The checkpoint region (reserved in memory/pico.x).
#[cfg(feature = "checkpoint")]
pub fn checkpoint_region() -> nearid::checkpoint::Region {
    crate::flash::rp2040::REGION
}

/// The board's parts.
pub fn init() -> Parts<
    SimSensor,
    Pin<Gpio25, FunctionSioOutput, PullDown>,
    Timer,
    SysTickClock<1, 1>,
    PicoWatchdog,
    Flash,
> {
    let (Some(mut dp), Some(cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        crate::fault::fail("peripherals taken");
    };
    let mut watchdog = rp2040_hal::Watchdog::new(dp.WATCHDOG);
    let Ok(clocks) = init_clocks_and_plls(
        XOSC_HZ,
        dp.XOSC,
        dp.CLOCKS,
        dp.PLL_SYS,
        dp.PLL_USB,
        &mut dp.RESETS,
        &mut watchdog,
    ) else {
        crate::fault::fail("clocks did not start");
    };
    watchdog.pause_on_debug(true);
    watchdog.start((WATCHDOG_MS * 1000).micros());
    let sio = Sio::new(dp.SIO);
    let pins = Pins::new(dp.IO_BANK0, dp.PADS_BANK0, sio.gpio_bank0, &mut dp.RESETS);
    Parts {
        i2c: SimSensor::new(crate::app::SENSOR_SEED),
        led: pins.gpio25.into_push_pull_output(),
        delay: Timer::new(dp.TIMER, &mut dp.RESETS, &clocks),
        clock: SysTickClock::start(cp.SYST),
        watchdog: PicoWatchdog(watchdog),
        #[cfg(feature = "checkpoint")]
        flash: Flash::new(),
        #[cfg(not(feature = "checkpoint"))]
        flash: (),
    }
}

/// The run is over: passed, the LED stays on while the watchdog is fed (Ctrl-C ends `probe-rs
/// run`); failed, the fault trap (a backtrace under probe-rs, a watchdog reset without it).
pub fn exit(success: bool, watchdog: PicoWatchdog) -> ! {
    super::idle_or_trap(success, watchdog, SYSCLK_HZ)
}
