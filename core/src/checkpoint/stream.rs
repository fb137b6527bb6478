//! Sequential writes and reads of a slot through one [`CHUNK`]-byte buffer on the stack, with
//! the CRC-32 of every byte that passes: no part of a checkpoint is ever held whole in RAM.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use super::layout::CHUNK;
use crate::Error;
use crate::error::FlashError;

/// CRC-32 (ISO-HDLC), the model file's checksum ([`crate::file::checksum`]).
pub(crate) static CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Writes bytes in order from `pos`, in whole chunks (and a last part of whole units), and
/// keeps the first error: after one, nothing more is written.
pub(crate) struct Writer<'f, F> {
    flash: &'f mut F,
    pos: u32,
    unit: usize,
    buf: [u8; CHUNK],
    len: usize,
    crc: crc::Digest<'static, u32>,
    error: Option<Error>,
}

impl<'f, F: NorFlash> Writer<'f, F> {
    /// A writer from `pos`, a multiple of `unit` (itself a multiple of the write size that
    /// divides [`CHUNK`]).
    pub(crate) fn new(flash: &'f mut F, pos: u32, unit: u32) -> Self {
        Self {
            flash,
            pos,
            unit: unit as usize,
            buf: [0xFF; CHUNK],
            len: 0,
            crc: CRC.digest(),
            error: None,
        }
    }

    pub(crate) fn put(&mut self, mut bytes: &[u8]) {
        self.crc.update(bytes);
        while !bytes.is_empty() {
            let n = (CHUNK - self.len).min(bytes.len());
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
            if self.len == CHUNK {
                self.flush();
            }
        }
    }

    /// Erased bytes (0xFF: nothing to program) up to the next unit.
    pub(crate) fn pad(&mut self) {
        while !self.len.is_multiple_of(self.unit) {
            self.put(&[0xFF]);
        }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && self.len > 0
            && self.flash.write(self.pos, &self.buf[..self.len]).is_err()
        {
            self.error = Some(Error::Flash(FlashError::Write));
        }
        self.pos += self.len as u32;
        self.len = 0;
        self.buf.fill(0xFF);
    }

    /// Pads and writes what is buffered now: what was put so far is programmed before
    /// anything put after.
    pub(crate) fn sync(&mut self) {
        self.pad();
        self.flush();
    }

    /// Pads, writes what is left, and returns the CRC-32 of every byte put or padded.
    pub(crate) fn finish(mut self) -> Result<u32, Error> {
        self.pad();
        self.flush();
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.crc.finalize()),
        }
    }
}

/// Reads bytes in order from `pos` up to `end` (both multiples of a unit that the read size
/// divides), a chunk at a time.
pub(crate) struct Reader<'f, F> {
    flash: &'f mut F,
    next: u32,
    end: u32,
    buf: [u8; CHUNK],
    at: usize,
    len: usize,
    crc: crc::Digest<'static, u32>,
}

impl<'f, F: ReadNorFlash> Reader<'f, F> {
    pub(crate) fn new(flash: &'f mut F, pos: u32, end: u32) -> Self {
        Self {
            flash,
            next: pos,
            end,
            buf: [0; CHUNK],
            at: 0,
            len: 0,
            crc: CRC.digest(),
        }
    }

    /// Fills `out` with the next bytes; [`FlashError::Read`] if the flash fails or the bytes
    /// run past `end`.
    pub(crate) fn take(&mut self, out: &mut [u8]) -> Result<(), FlashError> {
        let mut done = 0;
        self.each(out.len(), |piece| {
            out[done..done + piece.len()].copy_from_slice(piece);
            done += piece.len();
        })
    }

    /// Reads `n` bytes and hands them to `f` in pieces straight from the buffer. Pieces end
    /// where the flash reads end, at multiples of [`CHUNK`] from where the reader started: a
    /// value of 2, 4 or 8 bytes at a multiple of its width from the start is never split.
    pub(crate) fn each(
        &mut self,
        mut n: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), FlashError> {
        while n > 0 {
            if self.at == self.len {
                let k = (self.end.saturating_sub(self.next) as usize).min(CHUNK);
                if k == 0 {
                    return Err(FlashError::Read);
                }
                self.flash
                    .read(self.next, &mut self.buf[..k])
                    .map_err(|_| FlashError::Read)?;
                (self.next, self.at, self.len) = (self.next + k as u32, 0, k);
            }
            let k = (self.len - self.at).min(n);
            let piece = &self.buf[self.at..self.at + k];
            self.crc.update(piece);
            f(piece);
            self.at += k;
            n -= k;
        }
        Ok(())
    }

    /// Reads and discards `n` bytes (they still count in the CRC).
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), FlashError> {
        self.each(n, |_| ())
    }

    /// The CRC-32 of every byte taken so far.
    pub(crate) fn crc(&self) -> u32 {
        self.crc.clone().finalize()
    }
}
