//! nearid firmware: online calibration of a 3-axis sensor by a residual network trained on the
//! chip.
//!
//! - [`app`]: the application, the same on every board (`pretrained`: started from a
//!   desktop-trained model file instead of the identity).
//! - [`acquire`]: samples that survive a failing sensor (retries, stuck and railed readings),
//!   every fault counted.
//! - [`sensor`]: the sensor driver, generic over `embedded_hal::i2c::I2c`.
//! - [`sim`]: a simulated sensor behind the same I2C trait (QEMU, or a board with nothing attached).
//! - [`board`]: one module per board (memory map in memory/, chosen by a Cargo feature).
//! - [`stack`], [`fault`]: stack painting; panic and HardFault handlers that log and fail.
//! - Other apps, each a build of its own (a Cargo feature) instead of [`app`]: [`classify`]
//!   (gestures, [`sim_gesture`]; `pretrained` starts it from a desktop-trained model file) and
//!   [`linear`] (a linear calibration that logs the HM suboptimality certificate, [`sim_linear`]).
//! - `persist` (the `checkpoint` feature), [`flash`]: checkpoints in the board's flash, resumed
//!   at boot and restored when training diverges; the flash drivers.
//!
//! One source for every board, built by two kinds of package: this one for the emulated boards
//! (QEMU: `cargo run --release` here), and one per real board under `boards/<board>/`, whose
//! `.cargo/config.toml` links with flip-link and flashes with probe-rs (`cargo run --release`
//! there). The firmware stays one binary crate rather than a library with thin binaries: as a
//! library LLVM optimises it before it knows the entry point, and the training step's code
//! changes (mps2-an386: 9,609 -> 10,375 instructions per step).

#![no_std]
#![no_main]

mod acquire;
#[cfg_attr(any(feature = "classify", feature = "linear"), allow(dead_code))]
mod app;
mod board;
mod fault;
mod flash;
#[cfg(feature = "checkpoint")]
mod persist;
#[cfg(feature = "qemu")]
mod semihost;
mod sensor;
mod sim;
mod stack;

#[cfg(feature = "classify")]
mod classify;
#[cfg(feature = "linear")]
mod linear;
#[cfg(feature = "classify")]
mod sim_gesture;
#[cfg(feature = "linear")]
mod sim_linear;

#[cfg(not(any(feature = "classify", feature = "linear")))]
use app::run;
#[cfg(feature = "classify")]
use classify::run;
#[cfg(feature = "linear")]
use linear::run;

#[cfg(feature = "real-board")]
use defmt_rtt as _;
#[cfg(feature = "qemu")]
use defmt_semihosting as _;
#[cfg(feature = "real-board")]
use panic_probe as _;

/// The whole run: paints the stack, trains and ends as the board ends a run (see [`board`]).
#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    let (passed, watchdog) = run(board::init());
    board::exit(passed, watchdog)
}
