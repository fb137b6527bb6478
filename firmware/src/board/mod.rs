//! Board support: everything that differs between boards lives in one module each, behind the
//! same small interface that [`crate::app`] runs on:
//!
//! - `NAME`, the scalar type `T` and the network shape (`H`, `M`) with the training constants,
//!   one set per core shared by its boards (`m4f.rs`: mps2-an386 and NUCLEO-F411RE; `m0.rs`:
//!   micro:bit and Pico);
//! - `init() -> Parts<..>`: an I2C bus with the sensor on it, an LED, a delay, a [`Clock`] and a
//!   [`Watchdog`];
//! - `exit(success, watchdog) -> !`: the end of the run (a semihosting exit code under QEMU; on
//!   a real board the LED shows the verdict while the watchdog is fed, or a failed run traps
//!   as [`fatal`] does).
//!
//! Here, for all boards: [`fatal`] and [`fault_end`], the two ways a failed run stops (see
//! `fault.rs`).

#[cfg(feature = "qemu")]
use embedded_hal::delay::DelayNs;
#[cfg(feature = "qemu")]
use embedded_hal::digital::{ErrorType, OutputPin};

#[cfg(any(feature = "microbit", feature = "pico"))]
mod m0;
#[cfg(any(feature = "mps2-an386", feature = "nucleo-f411re"))]
mod m4f;

#[cfg(all(
    any(feature = "soft-float", feature = "q16"),
    any(feature = "mps2-an386", feature = "nucleo-f411re")
))]
compile_error!(
    "features `soft-float` and `q16` choose the scalar of the Cortex-M0 boards (microbit, pico); \
     the Cortex-M4F boards train in f32 on the FPU"
);

#[cfg(feature = "microbit")]
mod microbit;
#[cfg(feature = "microbit")]
pub use microbit::*;

#[cfg(feature = "mps2-an386")]
mod mps2_an386;
#[cfg(feature = "mps2-an386")]
pub use mps2_an386::*;

#[cfg(feature = "nucleo-f411re")]
mod nucleo_f411re;
#[cfg(feature = "nucleo-f411re")]
pub use nucleo_f411re::*;

#[cfg(feature = "pico")]
mod pico;
#[cfg(feature = "pico")]
pub use pico::*;

/// What a board hands the application.
#[derive(Debug)]
pub struct Parts<I, L, D, C, W, F> {
    /// The bus the 3-axis sensor sits on.
    pub i2c: I,
    /// An LED: toggled while training, on at the end if the run passed.
    pub led: L,
    /// A delay (the LED blinks at the end).
    pub delay: D,
    /// Counts instructions (QEMU, `-icount shift=0`) or cycles (real boards).
    pub clock: C,
    /// Resets the chip unless fed: a run that hangs restarts instead.
    pub watchdog: W,
    /// The flash the checkpoints go to (`crate::flash`), `()` without the `checkpoint` feature.
    pub flash: F,
}

/// A watchdog timer, already running: [`Watchdog::feed`] must come more often than its period
/// ([`WATCHDOG_MS`]) or it resets the chip. The application feeds it once per sample read and
/// per training step, which take well under a millisecond each on every board.
pub trait Watchdog {
    /// Restarts the countdown.
    fn feed(&mut self);
}

/// The watchdog period of the real boards: the longest stretch without a feed is the LED's
/// three blinks at the end (600 ms).
#[cfg(feature = "real-board")]
pub const WATCHDOG_MS: u32 = 2000;

/// No watchdog: under QEMU a hang ends at the test's timeout.
#[cfg(feature = "qemu")]
#[derive(Debug)]
pub struct NoWatchdog;

#[cfg(feature = "qemu")]
impl Watchdog for NoWatchdog {
    fn feed(&mut self) {}
}

/// A fatal error, after its log line: under QEMU the semihosting exit with failure (QEMU's exit
/// code); on a real board a trap into the HardFault handler (`udf`, as panic-probe ends), where
/// `probe-rs run` shows the backtrace, or, with no debugger, [`fault_end`] and the watchdog reset.
pub fn fatal() -> ! {
    #[cfg(feature = "qemu")]
    semihosting_exit(false);
    #[cfg(feature = "real-board")]
    panic_probe::hard_fault()
}

/// The end of the HardFault handler, after its log line: under QEMU the semihosting exit with
/// failure; on a real board a breakpoint, which halts the core for an attached debugger (probe-rs
/// prints the backtrace) and without one locks the core up until the watchdog resets the chip.
pub fn fault_end() -> ! {
    #[cfg(feature = "qemu")]
    semihosting_exit(false);
    #[cfg(feature = "real-board")]
    loop {
        cortex_m::asm::bkpt();
    }
}

/// The end of a run on a real board: passed, the LED (lit by the application) shows it while the
/// watchdog is fed, until `probe-rs run` is stopped (Ctrl-C); failed, the [`fatal`] trap.
#[cfg(feature = "real-board")]
pub fn idle_or_trap(success: bool, mut watchdog: impl Watchdog, core_hz: u32) -> ! {
    if !success {
        fatal();
    }
    loop {
        watchdog.feed();
        // A tenth of the watchdog's period at the core clock.
        cortex_m::asm::delay(core_hz / 10_000 * WATCHDOG_MS);
    }
}

/// A free-running counter to measure training steps with.
pub trait Clock {
    /// What the counts are: "instructions" under QEMU -icount, "cycles" on a real chip.
    const UNIT: &'static str;
    /// The raw up-counting tick value; only the low bits in [`Clock::MASK`] are meaningful.
    fn ticks(&mut self) -> u32;
    /// Bits of the counter (it wraps at MASK + 1).
    const MASK: u32;
    /// Units per tick as a fraction (numerator, denominator).
    const UNITS_PER_TICK: (u64, u64);
}

/// SysTick as a counter: 24 bits counting down at the processor clock. Under QEMU with
/// `-icount shift=0` every instruction advances virtual time by 1 ns, so at a clock of f Hz one
/// tick is 10^9 / f instructions; on a chip one tick is one cycle.
#[cfg(any(feature = "qemu", feature = "pico"))]
pub struct SysTickClock<const NUM: u64, const DEN: u64> {
    /// Owned so nothing else reprograms it.
    _syst: cortex_m::peripheral::SYST,
}

#[cfg(any(feature = "qemu", feature = "pico"))]
impl<const NUM: u64, const DEN: u64> SysTickClock<NUM, DEN> {
    /// Starts SysTick free-running from the processor clock, without interrupts.
    pub fn start(mut syst: cortex_m::peripheral::SYST) -> Self {
        use cortex_m::peripheral::syst::SystClkSource;
        syst.disable_interrupt();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        Self { _syst: syst }
    }
}

#[cfg(any(feature = "qemu", feature = "pico"))]
impl<const NUM: u64, const DEN: u64> Clock for SysTickClock<NUM, DEN> {
    const UNIT: &'static str = if cfg!(feature = "qemu") {
        "instructions"
    } else {
        "cycles"
    };
    fn ticks(&mut self) -> u32 {
        // SysTick counts down; flip it so differences are positive.
        0x00FF_FFFF - cortex_m::peripheral::SYST::get_current()
    }
    const MASK: u32 = 0x00FF_FFFF;
    const UNITS_PER_TICK: (u64, u64) = (NUM, DEN);
}

/// A delay by busy-waiting on the core (`cortex_m::asm::delay`), given the core clock.
#[cfg(feature = "qemu")]
#[derive(Debug)]
pub struct SpinDelay {
    /// Core clock in Hz.
    pub hz: u32,
}

#[cfg(feature = "qemu")]
impl DelayNs for SpinDelay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = u64::from(ns) * u64::from(self.hz) / 1_000_000_000;
        cortex_m::asm::delay(cycles.clamp(1, u64::from(u32::MAX)) as u32);
    }
}

/// An LED driven through two memory-mapped registers: writing `mask` to `on` lights it, to `off`
/// darkens it (GPIO set/clear registers, or a plain LED register when both are the same).
#[cfg(feature = "qemu")]
#[derive(Debug)]
pub struct MmioLed {
    /// Register to write `mask` to for on.
    pub on: usize,
    /// Register to write for off (`mask` to a clear register, or 0 to a plain LED register).
    pub off: usize,
    /// Bits of the LED.
    pub mask: u32,
}

#[cfg(feature = "qemu")]
impl ErrorType for MmioLed {
    type Error = core::convert::Infallible;
}

#[cfg(feature = "qemu")]
impl OutputPin for MmioLed {
    fn set_high(&mut self) -> Result<(), Self::Error> {
        // SAFETY: `on` is a device register of this board (see the board module), written with a
        // volatile store as its data sheet asks; nothing else aliases it.
        unsafe { core::ptr::write_volatile(self.on as *mut u32, self.mask) };
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Self::Error> {
        let value = if self.on == self.off { 0 } else { self.mask };
        // SAFETY: as in `set_high`.
        unsafe { core::ptr::write_volatile(self.off as *mut u32, value) };
        Ok(())
    }
}

/// Ends a run under QEMU: the semihosting exit code becomes QEMU's (0 = success).
#[cfg(feature = "qemu")]
pub fn semihosting_exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a debugger/emulator to catch the exit.
    loop {
        cortex_m::asm::wfi();
    }
}
