//! The NUCLEO-F411RE's checkpoint flash: the STM32F411RE's own flash through stm32f4xx-hal
//! (`LockedFlash`, unlocked for each erase or write and locked again when it returns), as an
//! `embedded_storage` NOR flash over the whole 512 KiB: reads of any size, writes of single
//! bytes, erases in the hal's unit of 128 KiB. The checkpoints take sectors 6 and 7, the last
//! 256 KiB ([`REGION`]), which `memory/nucleo-f411re.x` keeps out of the program's FLASH.
//!
//! A sector erase stalls the core (one bank: every fetch from flash waits) for about 1-2 s
//! (the datasheet's t_ERASE128KB), longer than nothing: the board's watchdog period is set
//! above it (`board::nucleo_f411re`).

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use stm32f4xx_hal::flash::{Error, FlashExt, LockedFlash};

use super::Storage;

/// Sectors 6 and 7: offsets 0x4_0000 to 0x8_0000 (0x0804_0000 to 0x0808_0000), two 128 KiB
/// blocks of 34 checkpoint slots each.
pub const REGION: nearid::checkpoint::Region = nearid::checkpoint::Region {
    start: 0x4_0000,
    len: 0x4_0000,
};

/// The chip's flash.
pub struct Stm32Flash {
    flash: LockedFlash,
    operations: u32,
}

impl Stm32Flash {
    /// The flash peripheral as a NOR flash.
    pub fn new(flash: stm32f4xx_hal::pac::FLASH) -> Self {
        Self {
            flash: LockedFlash::new(flash),
            operations: 0,
        }
    }
}

impl Storage for Stm32Flash {
    fn operations(&self) -> u32 {
        self.operations
    }
}

impl ErrorType for Stm32Flash {
    type Error = Error;
}

impl ReadNorFlash for Stm32Flash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_read(self, offset, bytes.len())
            .map_err(|_| Error::ProgrammingAlignment)?;
        ReadNorFlash::read(&mut self.flash, offset, bytes)
    }

    fn capacity(&self) -> usize {
        ReadNorFlash::capacity(&self.flash)
    }
}

impl NorFlash for Stm32Flash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 128 * 1024;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_erase(self, from, to)
            .map_err(|_| Error::ProgrammingAlignment)?;
        self.operations += 1;
        NorFlash::erase(&mut self.flash.unlocked(), from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_write(self, offset, bytes.len())
            .map_err(|_| Error::ProgrammingAlignment)?;
        self.operations += 1;
        NorFlash::write(&mut self.flash.unlocked(), offset, bytes)
    }
}
