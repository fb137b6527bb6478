//! A simulated NOR flash for the checkpoint tests: erases set whole units to 0xFF, writes can
//! only clear bits, and power can be cut at any word write or inside any unit's erase, leaving
//! that word or unit partly done the way real NOR flash does. It also fails chosen operations
//! on demand and keeps the wear (erases per unit) and any write onto a word not erased.

#![allow(dead_code)]

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};
use nearid::Rng;

/// When the power goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Never.
    Never,
    /// Before event `n` (0-based; an event is one word write or one unit's erase) starts:
    /// events 0 .. n are done, nothing of n.
    Before(u64),
    /// During event `n`: a word write leaves a random subset of its intended 0-bits cleared,
    /// a unit's erase leaves every bit randomly its old value or 1.
    During(u64),
}

/// Which kind of operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Erase,
}

/// Why an operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// Misaligned or out of range, as the trait's checks say.
    Bad(NorFlashErrorKind),
    /// The power is off.
    Off,
    /// A failure injected by [`SimFlash::fail_call`].
    Injected,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::Bad(k) => *k,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// R = READ_SIZE, W = WRITE_SIZE, E = ERASE_SIZE.
#[derive(Clone, Debug)]
pub struct SimFlash<const R: usize, const W: usize, const E: usize> {
    pub mem: Vec<u8>,
    /// Word writes and unit erases done since the start (cut or not).
    pub events: u64,
    /// Operations called (read, write, erase), failed or not.
    pub calls: u64,
    /// Erases per erase unit.
    pub wear: Vec<u32>,
    /// Word writes onto a word that was not erased, with data that clears a bit.
    pub reprograms: u64,
    pub cut: Cut,
    pub off: bool,
    /// Fail the call with this index (of [`SimFlash::calls`]), without effect.
    pub fail_call: Option<u64>,
    /// The kind of the call that failed by injection.
    pub failed: Option<Op>,
    rng: Rng,
}

impl<const R: usize, const W: usize, const E: usize> SimFlash<R, W, E> {
    /// An erased chip of `units` erase units; `seed` drives the partial writes and erases.
    pub fn new(units: usize, seed: u64) -> Self {
        Self {
            mem: vec![0xFF; units * E],
            events: 0,
            calls: 0,
            wear: vec![0; units],
            reprograms: 0,
            cut: Cut::Never,
            off: false,
            fail_call: None,
            failed: None,
            rng: Rng::new(seed),
        }
    }

    /// Power comes back: nothing is cut any more.
    pub fn power_on(&mut self) {
        self.off = false;
        self.cut = Cut::Never;
        self.fail_call = None;
    }

    /// Whether event `self.events` is cut, and how (true: partly done).
    fn cut_now(&self) -> Option<bool> {
        match self.cut {
            Cut::Before(n) if n == self.events => Some(false),
            Cut::During(n) if n == self.events => Some(true),
            _ => None,
        }
    }

    fn call(&mut self, op: Op) -> Result<(), SimError> {
        let i = self.calls;
        self.calls += 1;
        if self.off {
            return Err(SimError::Off);
        }
        if self.fail_call == Some(i) {
            self.failed = Some(op);
            return Err(SimError::Injected);
        }
        Ok(())
    }
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for SimFlash<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for SimFlash<R, W, E> {
    const READ_SIZE: usize = R;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.call(Op::Read)?;
        check_read(self, offset, bytes.len()).map_err(SimError::Bad)?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.mem[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for SimFlash<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.call(Op::Erase)?;
        check_erase(self, from, to).map_err(SimError::Bad)?;
        for unit in from as usize / E..to as usize / E {
            if let Some(partly) = self.cut_now() {
                if partly {
                    for b in &mut self.mem[unit * E..(unit + 1) * E] {
                        *b |= self.rng.next_u32() as u8;
                    }
                }
                self.off = true;
                return Err(SimError::Off);
            }
            self.mem[unit * E..(unit + 1) * E].fill(0xFF);
            self.wear[unit] += 1;
            self.events += 1;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.call(Op::Write)?;
        check_write(self, offset, bytes.len()).map_err(SimError::Bad)?;
        for (k, word) in bytes.chunks_exact(W).enumerate() {
            let at = offset as usize + k * W;
            let cut = self.cut_now();
            let old = &mut self.mem[at..at + W];
            if let Some(partly) = cut {
                if partly {
                    for (o, &n) in old.iter_mut().zip(word) {
                        let clear = *o & !n;
                        *o &= !(clear & self.rng.next_u32() as u8);
                    }
                }
                self.off = true;
                return Err(SimError::Off);
            }
            let clears = old.iter().zip(word).any(|(&o, &n)| o & !n != 0);
            if old.iter().any(|&o| o != 0xFF) && clears {
                self.reprograms += 1;
            }
            for (o, &n) in old.iter_mut().zip(word) {
                *o &= n;
            }
            self.events += 1;
        }
        Ok(())
    }
}

/// Everything a restore gives back, as bits: the weights, the velocity, the optimiser state,
/// the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub params: Vec<u64>,
    pub velocity: Option<Vec<u64>>,
    pub sgd: nearid::SgdState,
    pub payload: Vec<u8>,
}

/// Each parameter as the bits of its exact f64 value (every format converts exactly).
pub fn bits<T: nearid::Scalar, N: nearid::Trainable<T>>(net: &N) -> Vec<u64> {
    let mut out = vec![T::ZERO; N::PARAMS];
    net.write_params(&mut out).expect("PARAMS values");
    out.iter().map(|v| v.to_f64().to_bits()).collect()
}
