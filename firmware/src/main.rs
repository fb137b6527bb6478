//! nearid firmware: online calibration of a 3-axis sensor by a residual network trained on the
//! chip.
//!
//! - [`app`]: the application, the same on every board.
//! - [`acquire`]: samples that survive a failing sensor (retries, stuck and railed readings),
//!   every fault counted.
//! - [`sensor`]: the sensor driver, generic over `embedded_hal::i2c::I2c`.
//! - [`sim`]: a simulated sensor behind the same I2C trait (QEMU, or a board with nothing attached).
//! - [`board`]: one module per board (memory map in memory/, chosen by a Cargo feature).
//! - [`stack`], [`fault`]: stack painting; panic and HardFault handlers that log and fail.
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
mod app;
mod board;
mod fault;
mod flash;
#[cfg(feature = "checkpoint")]
mod persist;
mod sensor;
mod sim;
mod stack;

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
    let (passed, watchdog) = app::run(board::init());
    board::exit(passed, watchdog)
}
