//! nearid firmware: online calibration of a 3-axis sensor by a residual network trained on the
//! chip.
//!
//! - [`app`]: the application, the same on every board.
//! - [`sensor`]: the sensor driver, generic over `embedded_hal::i2c::I2c`.
//! - [`sim`]: a simulated sensor behind the same I2C trait (QEMU, or a board with nothing attached).
//! - [`board`]: one module per board (memory map in memory/, chosen by a Cargo feature).
//! - [`stack`], [`fault`]: stack painting; panic and HardFault handlers that log and fail.

#![no_std]
#![no_main]

mod app;
mod board;
mod fault;
mod sensor;
mod sim;
mod stack;

#[cfg(not(feature = "qemu"))]
use defmt_rtt as _;
#[cfg(feature = "qemu")]
use defmt_semihosting as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    let passed = app::run(board::init());
    board::exit(passed)
}
