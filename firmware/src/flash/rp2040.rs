//! The Pico's checkpoint flash: the last 64 KiB of its 2 MiB QSPI flash ([`REGION`],
//! `memory/pico.x` keeps it out of the program's FLASH), through the RP2040 boot ROM's flash
//! functions, as an `embedded_storage` NOR flash over the whole chip: reads of any size
//! (through the XIP window at 0x1000_0000), writes of 4-byte words, erases of 4 KiB sectors.
//!
//! The ROM programs whole 256-byte pages: a write is one page image, 0xFF (nothing to program)
//! but for the written bytes. While the ROM erases or programs, the flash cannot be read, so
//! the code of that window runs from RAM (`.data`, copied there at startup) with interrupts
//! masked, and core 1 never runs (it is not launched). Afterwards the flash's fast read mode
//! comes back through boot2, copied to RAM at [`PicoFlash::new`], as the Pico SDK does.
//!
//! Written without the `rp2040-flash` crate, which is not among the kept crates.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};
use rp2040_hal::rom_data;

use super::Storage;

/// The last 64 KiB of the 2 MiB flash: 5 blocks of 3 sectors (one 9,352-byte slot each).
pub const REGION: nearid::checkpoint::Region = nearid::checkpoint::Region {
    start: 0x1F_0000,
    len: 0x1_0000,
};

/// Bytes of the flash chip (W25Q16JV).
const CAPACITY: usize = 2 << 20;
/// The XIP window the flash is read through.
const XIP_BASE: usize = 0x1000_0000;
/// The ROM programs pages of this many bytes.
const PAGE: usize = 256;
/// The W25Q16's 64 KiB block erase, which the ROM uses where a range allows it.
const BLOCK_ERASE: (u32, u8) = (1 << 16, 0xD8);

/// The ROM functions, looked up (in flash) before the flash goes away.
#[derive(Clone, Copy)]
struct Rom {
    connect: unsafe extern "C" fn(),
    exit_xip: unsafe extern "C" fn(),
    erase: unsafe extern "C" fn(u32, usize, u32, u8),
    program: unsafe extern "C" fn(u32, *const u8, usize),
    flush: unsafe extern "C" fn(),
}

/// The chip's flash.
pub struct PicoFlash {
    /// boot2 (the second-stage bootloader) in RAM, called to restore fast XIP reads.
    boot2: [u32; 64],
    operations: u32,
}

impl PicoFlash {
    /// The flash, with boot2 copied to RAM.
    pub fn new() -> Self {
        let mut boot2 = [0u32; 64];
        for (word, bytes) in boot2
            .iter_mut()
            .zip(rp2040_boot2::BOOT_LOADER_W25Q080.chunks_exact(4))
        {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        Self {
            boot2,
            operations: 0,
        }
    }

    /// Runs one ROM erase (`data` None) or program of `len` bytes at flash offset `at`.
    fn rom_op(&mut self, at: u32, data: Option<&[u8; PAGE]>, len: usize) {
        let rom = Rom {
            connect: rom_data::connect_internal_flash::ptr(),
            exit_xip: rom_data::flash_exit_xip::ptr(),
            erase: rom_data::flash_range_erase::ptr(),
            program: rom_data::flash_range_program::ptr(),
            flush: rom_data::flash_flush_cache::ptr(),
        };
        let boot2 = self.boot2.as_ptr() as usize | 1;
        let data = data.map_or(core::ptr::null(), |d| d.as_ptr());
        cortex_m::interrupt::free(|_| {
            // SAFETY: `in_ram` runs from RAM with interrupts masked and core 1 idle, so nothing
            // reads the flash while it is disconnected; `at`, `len` and `data` were checked by
            // the NorFlash methods (in range, sector- or page-aligned, a page buffer).
            unsafe { in_ram(&rom, at, data, len, boot2) };
        });
    }
}

impl Default for PicoFlash {
    fn default() -> Self {
        Self::new()
    }
}

/// The flash operation itself, from RAM: connect the SSI, leave XIP, erase or program, flush
/// the XIP cache, restore fast reads through boot2 (at `boot2`, Thumb bit set).
///
/// # Safety
/// Interrupts masked, core 1 not running, `data` a page of 256 bytes or null for an erase,
/// `at` and `len` aligned and within the chip.
#[unsafe(link_section = ".data.ram_func")]
#[inline(never)]
unsafe fn in_ram(rom: &Rom, at: u32, data: *const u8, len: usize, boot2: usize) {
    // SAFETY: the ROM's documented sequence (RP2040 datasheet 2.8.3.1.3); boot2 returns to its
    // caller when entered with a non-zero lr.
    unsafe {
        (rom.connect)();
        (rom.exit_xip)();
        if data.is_null() {
            (rom.erase)(at, len, BLOCK_ERASE.0, BLOCK_ERASE.1);
        } else {
            (rom.program)(at, data, len);
        }
        (rom.flush)();
        let restore: extern "C" fn() = core::mem::transmute(boot2);
        restore();
    }
}

impl Storage for PicoFlash {
    fn operations(&self) -> u32 {
        self.operations
    }
}

impl ErrorType for PicoFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for PicoFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: within the XIP window of the chip (checked above), readable while XIP is
            // on, which it is outside `in_ram`.
            *b = unsafe { core::ptr::read_volatile((XIP_BASE + offset as usize + i) as *const u8) };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        CAPACITY
    }
}

impl NorFlash for PicoFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        self.operations += 1;
        self.rom_op(from, None, (to - from) as usize);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        self.operations += 1;
        // Page by page: the page image is 0xFF (left as it is) but for the bytes written.
        let (mut at, mut rest) = (offset as usize, bytes);
        while !rest.is_empty() {
            let page = at / PAGE * PAGE;
            let n = rest.len().min(page + PAGE - at);
            let mut image = [0xFFu8; PAGE];
            image[at - page..at - page + n].copy_from_slice(&rest[..n]);
            self.rom_op(page as u32, Some(&image), PAGE);
            (at, rest) = (at + n, &rest[n..]);
        }
        Ok(())
    }
}
