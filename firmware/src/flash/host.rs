//! The emulated boards' flash: a file on the host, read and written through semihosting
//! (SYS_OPEN, SYS_SEEK, SYS_READ, SYS_WRITE), with NOR semantics modelled on top: an erase sets
//! bytes to 0xFF, a write can only clear bits (each byte becomes old & new). It works on any
//! QEMU machine (the mps2-an386 has no flash controller; the micro:bit's NVMC keeps nothing
//! across QEMU processes, see the README) and the file outlives the process, as flash outlives
//! a power cut.
//!
//! The run's options come from the semihosting command line (`-semihosting-config
//! enable=on,target=native,arg=...`, or QEMU's `-append`), words `key=value`:
//!
//! | word | meaning |
//! |---|---|
//! | `flash=PATH` | the image (default `nearid-flash.img` in QEMU's directory), created erased when missing |
//! | `cut-op=K` | a power cut during the K-th flash operation (erase or write, counted from 1): it is left half done (an erase: the first half of its range, and half the bits of the next byte; a write: the first half of the bytes up to its last byte that is not 0xFF, and half the bits of the next), then the run stops with exit code [`CUT_EXIT_CODE`] |
//! | `cut-step=S` | a power cut just before training step S |
//! | `lr=X` | the learning rate instead of the board's (to drive training into divergence on purpose) |
//! | `eval-out=PATH` | the final evaluation's held-out samples written to PATH: 6 little-endian f64 per sample (raw x, y, z, true x, y, z), exactly the values the chip evaluated |

use cortex_m_semihosting::{nr, syscall};
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};

use super::{Options, Storage};
use crate::persist::payload::CUT_EXIT_CODE;
use crate::semihost::{command_line, file_len, open_path, seek_read, seek_write};

/// The image used when the command line names none.
const DEFAULT_IMAGE: &[u8] = b"nearid-flash.img";
/// Bytes moved per semihosting call (a stack buffer).
const CHUNK: usize = 32;
/// SYS_EXIT_EXTENDED and its reason "application exit": QEMU exits with the given code.
const SYS_EXIT_EXTENDED: usize = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;

/// A NOR flash of `len` bytes in a host file: `WRITE`-byte words, `ERASE`-byte units.
#[derive(Debug)]
pub struct HostFlash<const WRITE: usize, const ERASE: usize> {
    handle: usize,
    len: u32,
    /// Erases and writes so far.
    operations: u32,
    options: Options,
    /// The operation to cut during (`cut-op`).
    cut_at: Option<u32>,
    /// The held-out samples' file (`eval-out`) and the bytes written to it.
    held_out: Option<(usize, u32)>,
}

impl<const WRITE: usize, const ERASE: usize> HostFlash<WRITE, ERASE> {
    /// Opens the image named on the command line (creating it erased, all 0xFF, when missing or
    /// of another size) and reads the run's options. Out of line: the command line's buffer stays
    /// out of the callers' frames.
    #[inline(never)]
    pub fn open(len: u32) -> Self {
        let mut line = [0u8; 192];
        let line = command_line(&mut line);
        let mut path = DEFAULT_IMAGE;
        let (mut options, mut cut_at, mut eval_out) = (Options::default(), None, None);
        for word in line.split(|&b| b == b' ') {
            let Some(at) = word.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, value) = (&word[..at], &word[at + 1..]);
            match key {
                b"flash" => path = value,
                b"cut-op" => cut_at = parse_u32(value),
                b"cut-step" => options.cut_step = parse_u32(value),
                b"lr" => options.learning_rate = parse_f32(value),
                b"eval-out" => eval_out = Some(value),
                _ => {}
            }
        }
        let held_out = eval_out.map(|path| match open_path(path, nr::open::RW_TRUNC_BINARY) {
            Some(h) => (h, 0),
            None => crate::fault::fail("flash: cannot create the eval-out file"),
        });
        let handle = match open_path(path, nr::open::RW_BINARY) {
            Some(h) if file_len(h) == Some(len) => h,
            // Missing or of another size: a new, erased image.
            _ => {
                let Some(h) = open_path(path, nr::open::RW_TRUNC_BINARY) else {
                    crate::fault::fail("flash: cannot create the image file");
                };
                let erased = [0xFFu8; CHUNK];
                for at in (0..len).step_by(CHUNK) {
                    let n = CHUNK.min((len - at) as usize);
                    if !seek_write(h, at, &erased[..n]) {
                        crate::fault::fail("flash: cannot write the image file");
                    }
                }
                h
            }
        };
        Self {
            handle,
            len,
            operations: 0,
            options,
            cut_at,
            held_out,
        }
    }

    /// Counts an erase or write; true when it is the one to cut during.
    fn cut_now(&mut self) -> bool {
        self.operations += 1;
        self.cut_at == Some(self.operations)
    }

    /// Stops the run as a power cut would, after the log line.
    fn cut(&self) -> ! {
        defmt::warn!("power cut during flash operation {=u32}", self.operations);
        power_cut()
    }
}

/// Ends the run as a power cut: QEMU exits with [`CUT_EXIT_CODE`].
pub fn power_cut() -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, CUT_EXIT_CODE as usize];
    // SAFETY: SYS_EXIT_EXTENDED with a parameter block of two words, as the semihosting
    // specification (and QEMU) define it; QEMU exits and never returns here.
    unsafe { syscall(SYS_EXIT_EXTENDED, &block) };
    crate::board::fatal()
}

impl<const WRITE: usize, const ERASE: usize> Storage for HostFlash<WRITE, ERASE> {
    fn options(&self) -> Options {
        self.options
    }
    fn operations(&self) -> u32 {
        self.operations
    }
    #[inline(never)]
    fn held_out(&mut self, sample: &[f64; 6]) {
        let Some((handle, at)) = &mut self.held_out else {
            return;
        };
        let mut bytes = [0u8; 48];
        for (chunk, v) in bytes.chunks_exact_mut(8).zip(sample) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        if !seek_write(*handle, *at, &bytes) {
            crate::fault::fail("flash: cannot write the eval-out file");
        }
        *at += bytes.len() as u32;
    }
}

impl<const WRITE: usize, const ERASE: usize> ErrorType for HostFlash<WRITE, ERASE> {
    type Error = NorFlashErrorKind;
}

impl<const WRITE: usize, const ERASE: usize> ReadNorFlash for HostFlash<WRITE, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        if seek_read(self.handle, offset, bytes) {
            Ok(())
        } else {
            Err(NorFlashErrorKind::Other)
        }
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl<const WRITE: usize, const ERASE: usize> NorFlash for HostFlash<WRITE, ERASE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        let cut = self.cut_now();
        // A cut erase: the first half of the range erased, half the bits of the next byte set.
        let end = if cut { from + (to - from) / 2 } else { to };
        let erased = [0xFFu8; CHUNK];
        for at in (from..end).step_by(CHUNK) {
            let n = CHUNK.min((end - at) as usize);
            if !seek_write(self.handle, at, &erased[..n]) {
                return Err(NorFlashErrorKind::Other);
            }
        }
        if cut {
            self.partial_byte(end, 0xFF, false);
            self.cut();
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let cut = self.cut_now();
        // A cut write: the first half of the bytes it changes programmed (up to its last byte
        // that is not 0xFF: padding is erased already, and a cut that "finished" on padding
        // would not be a cut), and half the bits of the next.
        let changed = bytes.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
        let n = if cut { changed / 2 } else { bytes.len() };
        let mut old = [0u8; CHUNK];
        for (i, new) in bytes[..n].chunks(CHUNK).enumerate() {
            let at = offset + (i * CHUNK) as u32;
            let old = &mut old[..new.len()];
            if !seek_read(self.handle, at, old) {
                return Err(NorFlashErrorKind::Other);
            }
            // NOR: programming only clears bits.
            old.iter_mut().zip(new).for_each(|(o, n)| *o &= n);
            if !seek_write(self.handle, at, old) {
                return Err(NorFlashErrorKind::Other);
            }
        }
        if cut {
            if let Some(&next) = bytes.get(n) {
                self.partial_byte(offset + n as u32, next, true);
            }
            self.cut();
        }
        Ok(())
    }
}

impl<const WRITE: usize, const ERASE: usize> HostFlash<WRITE, ERASE> {
    /// The byte at `at` half changed toward `target`: its low four bits programmed (cleared as
    /// `target` has them) for a write, set for an erase.
    fn partial_byte(&mut self, at: u32, target: u8, program: bool) {
        let mut byte = [0u8];
        if at < self.len && seek_read(self.handle, at, &mut byte) {
            byte[0] = if program {
                byte[0] & (target | 0xF0)
            } else {
                byte[0] | 0x0F
            };
            let _ = seek_write(self.handle, at, &byte);
        }
    }
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    core::str::from_utf8(s).ok()?.parse().ok()
}

fn parse_f32(s: &[u8]) -> Option<f32> {
    core::str::from_utf8(s).ok()?.parse().ok()
}
