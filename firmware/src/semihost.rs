//! Files on the host through semihosting (SYS_GET_CMDLINE, SYS_OPEN, SYS_FLEN, SYS_SEEK,
//! SYS_READ, SYS_WRITE): the emulated boards' flash image ([`crate::flash::host`], with the
//! `checkpoint` feature) and [`ModelOut`], the trained model file written where the command line
//! says (`model-out=PATH`). Only under QEMU: on a real board semihosting halts the chip without
//! a debugger attached.

use cortex_m_semihosting::{nr, syscall, syscall1};

/// The trained model file written to the host: `model-out=PATH` on the semihosting command line
/// (`-semihosting-config enable=on,target=native,arg=model-out=PATH`, which `cargo xtask run
/// --model-out PATH` passes). Without it, nothing is written.
#[derive(Debug)]
#[cfg_attr(not(feature = "classify"), allow(dead_code))]
pub struct ModelOut {
    /// The file's handle and the bytes written so far.
    file: Option<(usize, u32)>,
}

#[cfg_attr(not(feature = "classify"), allow(dead_code))]
impl ModelOut {
    /// Opens (truncating) the file the command line names, if it names one. Out of line: the
    /// command line's buffer stays out of the caller's frame.
    #[inline(never)]
    pub fn from_command_line() -> Self {
        let mut line = [0u8; 192];
        let path = command_line(&mut line)
            .split(|&b| b == b' ')
            .find_map(|word| word.strip_prefix(b"model-out="));
        let file = path.map(|path| match open_path(path, nr::open::RW_TRUNC_BINARY) {
            Some(h) => (h, 0),
            None => crate::fault::fail("semihosting: cannot create the model-out file"),
        });
        Self { file }
    }

    /// Appends `bytes` (nothing without a file).
    pub fn write(&mut self, bytes: &[u8]) {
        let Some((handle, at)) = &mut self.file else {
            return;
        };
        if !seek_write(*handle, *at, bytes) {
            crate::fault::fail("semihosting: cannot write the model-out file");
        }
        *at += bytes.len() as u32;
    }
}

/// The semihosting command line in `buf` (empty if there is none).
pub fn command_line(buf: &mut [u8]) -> &[u8] {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE with a parameter block [buffer, its length]; the host writes at
    // most that many bytes into the buffer and the length it wrote into the block.
    let status = unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    let n = if status == 0 {
        block[1].min(buf.len())
    } else {
        0
    };
    let line = &buf[..n];
    // Up to the terminating NUL, if any.
    match line.iter().position(|&b| b == 0) {
        Some(end) => &line[..end],
        None => line,
    }
}

/// SYS_OPEN of `path` (copied with its terminating NUL into a stack buffer) in `mode`.
pub fn open_path(path: &[u8], mode: usize) -> Option<usize> {
    let mut name = [0u8; 160];
    if path.len() >= name.len() {
        crate::fault::fail("semihosting: a path on the command line is too long");
    }
    name[..path.len()].copy_from_slice(path);
    open(&name, path.len(), mode)
}

/// SYS_OPEN of the NUL-terminated `name` (`len` bytes before the NUL) in `mode`.
fn open(name: &[u8], len: usize, mode: usize) -> Option<usize> {
    let block = [name.as_ptr() as usize, mode, len];
    // SAFETY: SYS_OPEN with [name, mode, length]; `name` is NUL-terminated and outlives the call.
    let handle = unsafe { syscall(nr::OPEN, &block) };
    (handle != usize::MAX).then_some(handle)
}

#[cfg_attr(not(feature = "checkpoint"), allow(dead_code))]
/// SYS_FLEN: the file's length.
pub fn file_len(handle: usize) -> Option<u32> {
    let block = [handle];
    // SAFETY: SYS_FLEN with [handle].
    let n = unsafe { syscall(nr::FLEN, &block) };
    u32::try_from(n as isize).ok()
}

fn seek(handle: usize, at: u32) -> bool {
    let block = [handle, at as usize];
    // SAFETY: SYS_SEEK with [handle, absolute position]; 0 is success.
    unsafe { syscall(nr::SEEK, &block) == 0 }
}

#[cfg_attr(not(feature = "checkpoint"), allow(dead_code))]
/// Reads `buf.len()` bytes at `at`.
pub fn seek_read(handle: usize, at: u32, buf: &mut [u8]) -> bool {
    let block = [handle, buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_READ with [handle, buffer, length]: the host writes at most `length` bytes
    // into the buffer and returns how many it did not read (0: all).
    seek(handle, at) && unsafe { syscall(nr::READ, &block) == 0 }
}

/// Writes `bytes` at `at`.
pub fn seek_write(handle: usize, at: u32, bytes: &[u8]) -> bool {
    let block = [handle, bytes.as_ptr() as usize, bytes.len()];
    // SAFETY: SYS_WRITE with [handle, data, length]: the host reads the data and returns how
    // many bytes it did not write (0: all).
    seek(handle, at) && unsafe { syscall(nr::WRITE, &block) == 0 }
}
