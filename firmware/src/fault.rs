//! Every way a run can go wrong ends the same way: an error line in the log and a failing exit
//! (a non-zero QEMU exit code), never a silent hang. panic-probe is not used: under QEMU it
//! traps into a HardFault loop.

use core::panic::PanicInfo;

use cortex_m_rt::{ExceptionFrame, exception};

use crate::board;

/// Logs `what` and ends the run as failed.
pub fn fail(what: &str) -> ! {
    defmt::error!("FAIL: {=str}", what);
    board::exit(false)
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    board::exit(false)
}

/// `defmt::panic!` and friends end here.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    board::exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault: pc {=u32:#010x}, lr {=u32:#010x}, sp {=u32:#010x}",
        frame.pc(),
        frame.lr(),
        frame as *const ExceptionFrame as u32
    );
    board::exit(false)
}
