//! Every way a run can go wrong ends in a line in the log and a trap, never a silent hang:
//!
//! | | emulated boards (QEMU) | real boards (NUCLEO-F411RE, Pico) |
//! |---|---|---|
//! | panic | logged, then the semihosting exit with failure (QEMU's exit code) | panic-probe (`print-defmt`): logged, then `udf` into the HardFault handler |
//! | [`fail`] (a fatal error the firmware found) | logged, then the semihosting exit with failure | logged, then `udf` into the HardFault handler |
//! | HardFault | registers logged, then the semihosting exit with failure | registers logged, then `bkpt` |
//!
//! On a real board `probe-rs run` catches the HardFault (or halts at the `bkpt`), prints the
//! backtrace and exits; with no debugger attached the `bkpt` in the HardFault handler locks the
//! core up and the watchdog resets the chip, so a fault costs a restart, not the board. Under
//! QEMU panic-probe would end in the same trap, which QEMU cannot leave without a debugger: the
//! emulated boards exit through semihosting instead.

use cortex_m_rt::{ExceptionFrame, exception};

use crate::board;

/// Logs `what` and ends the run as failed.
pub fn fail(what: &str) -> ! {
    defmt::error!("FAIL: {=str}", what);
    board::fatal()
}

#[cfg(feature = "qemu")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    board::fatal()
}

/// `defmt::panic!` and friends end here (the message is already logged).
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    board::fatal()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault: pc {=u32:#010x}, lr {=u32:#010x}, sp {=u32:#010x}",
        frame.pc(),
        frame.lr(),
        frame as *const ExceptionFrame as u32
    );
    board::fault_end()
}
