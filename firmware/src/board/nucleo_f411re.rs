//! ST NUCLEO-F411RE: STM32F411RE (Cortex-M4F at 100 MHz, 512 KiB flash, 128 KiB RAM), through
//! `stm32f4xx-hal`. User LED LD2 on PA5; cycles counted by DWT CYCCNT; defmt over RTT (probe-rs).
//!
//! Nothing is attached to the board's I2C bus, so the sensor is the simulated one
//! ([`crate::sim`]) behind the same driver; for a real sensor, pass the HAL's I2C1 (PB8 = SCL,
//! PB9 = SDA, `hal::i2c::I2c::new`) to [`Parts::i2c`] instead. The training configuration is the
//! emulated M4F's (`m4f.rs`).

use stm32f4xx_hal::dwt::{Delay, Dwt, DwtExt};
use stm32f4xx_hal::gpio::{Output, PA5};
use stm32f4xx_hal::pac;
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config;
use stm32f4xx_hal::watchdog::IndependentWatchdog;

use super::{Clock, Parts, WATCHDOG_MS, Watchdog};
use crate::sim::SimSensor;

/// Board name as logged.
pub const NAME: &str = "NUCLEO-F411RE (Cortex-M4F, 100 MHz)";
pub use super::m4f::*;

/// DWT CYCCNT: the core's cycle counter (32 bits, at HCLK).
pub struct DwtClock {
    _dwt: Dwt,
}

impl Clock for DwtClock {
    const UNIT: &'static str = "cycles";
    fn ticks(&mut self) -> u32 {
        cortex_m::peripheral::DWT::cycle_count()
    }
    const MASK: u32 = u32::MAX;
    const UNITS_PER_TICK: (u64, u64) = (1, 1);
}

/// The independent watchdog (IWDG, its own 32 kHz oscillator): frozen while a debugger halts the
/// core, so a breakpoint does not reset the chip under probe-rs.
pub struct Iwdg(IndependentWatchdog);

impl Watchdog for Iwdg {
    fn feed(&mut self) {
        self.0.feed();
    }
}

/// The core clock.
const SYSCLK_HZ: u32 = 100_000_000;

/// The checkpoints' flash: the chip's own, sectors 6 and 7.
#[cfg(feature = "checkpoint")]
pub type Flash = crate::flash::stm32f4::Stm32Flash;
/// No checkpoints.
#[cfg(not(feature = "checkpoint"))]
pub type Flash = ();

/// The checkpoint region (reserved in memory/nucleo-f411re.x).
#[cfg(feature = "checkpoint")]
pub fn checkpoint_region() -> nearid::checkpoint::Region {
    crate::flash::stm32f4::REGION
}

/// The watchdog's period: above a 128 KiB sector erase, during which the core stalls and
/// cannot feed it (about 1-2 s, datasheet t_ERASE128KB).
const IWDG_MS: u32 = if cfg!(feature = "checkpoint") {
    4 * WATCHDOG_MS
} else {
    WATCHDOG_MS
};

/// The board's parts.
pub fn init() -> Parts<SimSensor, PA5<Output>, Delay, DwtClock, Iwdg, Flash> {
    let (Some(dp), Some(cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        crate::fault::fail("peripherals taken");
    };
    // 8 MHz from the ST-LINK's MCO into HSE (bypass), PLL to 100 MHz.
    let mut rcc = dp.RCC.freeze(
        Config::hse(8.MHz())
            .bypass_hse_oscillator()
            .sysclk(SYSCLK_HZ.Hz()),
    );
    let mut iwdg = IndependentWatchdog::new(dp.IWDG);
    iwdg.stop_on_debug(&dp.DBGMCU, true);
    iwdg.start(IWDG_MS.millis());
    let gpioa = dp.GPIOA.split(&mut rcc);
    let dwt = cp.DWT.constrain(cp.DCB, &rcc.clocks);
    Parts {
        i2c: SimSensor::new(crate::app::SENSOR_SEED),
        led: gpioa.pa5.into_push_pull_output(),
        delay: dwt.delay(),
        clock: DwtClock { _dwt: dwt },
        watchdog: Iwdg(iwdg),
        #[cfg(feature = "checkpoint")]
        flash: Flash::new(dp.FLASH),
        #[cfg(not(feature = "checkpoint"))]
        flash: (),
    }
}

/// The run is over: passed, the LED stays on while the watchdog is fed (Ctrl-C ends `probe-rs
/// run`); failed, the fault trap (a backtrace under probe-rs, a watchdog reset without it).
pub fn exit(success: bool, watchdog: Iwdg) -> ! {
    super::idle_or_trap(success, watchdog, SYSCLK_HZ)
}
