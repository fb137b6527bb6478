//! Flash in RAM: a read-only image of a flash dump ([`Image`], for tools that pull a
//! checkpoint off a device) and a NOR flash over a byte slice ([`RamFlash`], for examples and
//! host tests of code that saves checkpoints).

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};

/// A flash dump as a read-only flash (reads of any size and alignment): give it to
/// [`super::find`] or [`super::restore`] with the layout the device used, its region's
/// `start` being the dump's offset 0 when the dump is of the region alone.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a>(pub &'a [u8]);

impl ErrorType for Image<'_> {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Image<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.0[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.0.len()
    }
}

/// NOR flash in a byte slice: erases set whole units of `ERASE` bytes to 0xFF, writes of
/// whole `WRITE`-byte words can only clear bits (the stored byte becomes old & new), reads
/// of any size. Misaligned or out-of-range operations fail as a driver's would.
#[derive(Debug)]
pub struct RamFlash<'a, const WRITE: usize, const ERASE: usize>(pub &'a mut [u8]);

impl<const WRITE: usize, const ERASE: usize> ErrorType for RamFlash<'_, WRITE, ERASE> {
    type Error = NorFlashErrorKind;
}

impl<const WRITE: usize, const ERASE: usize> ReadNorFlash for RamFlash<'_, WRITE, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        Image(self.0).read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.len()
    }
}

impl<const WRITE: usize, const ERASE: usize> NorFlash for RamFlash<'_, WRITE, ERASE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        self.0[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let at = offset as usize;
        for (old, new) in self.0[at..at + bytes.len()].iter_mut().zip(bytes) {
            *old &= new;
        }
        Ok(())
    }
}
