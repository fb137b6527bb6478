//! Samples the training can trust, from a sensor that may fail: every reading goes through
//! [`Acquire::next`], which survives and counts what goes wrong instead of ending the run.
//!
//! | fault | what is done | counted in |
//! |---|---|---|
//! | an I2C read fails | read again, up to [`READ_TRIES`] times in all | [`Faults::retried`] |
//! | every try fails | that sample is skipped, the next one read | [`Faults::unreadable`] |
//! | the raw reading repeats the previous one on every axis ([`STUCK_RUN`] in a row) | rejected: a stuck sensor | [`Faults::stuck`] |
//! | a raw axis at full scale (`i16::MIN` or `i16::MAX`) | rejected: railed, the true value is out of range | [`Faults::railed`] |
//! | [`MAX_REJECTED_IN_A_ROW`] samples in a row rejected or unreadable | the sensor is gone: [`Acquire::next`] gives up | (the run fails) |
//!
//! Training steps that return `Err` are skipped and counted by the application
//! ([`Faults::steps_failed`]); the core guarantees such a step left the weights as they were.
//!
//! Why two in a row is "stuck": with the sensor's noise (sigma = 0.005 units = 41 counts per
//! axis), two honest readings agree on one axis with probability at most 1 / (2 sqrt(pi) 41) =
//! 0.007, and on all three below 4e-7; a sensor that stopped converting repeats itself exactly.
//! The healthy simulated sensor of the default runs never trips any of these checks (its raw
//! values stay within +-1.75 units of the +-4 full scale, and repeats are that rare), so they train
//! on exactly the samples they trained on before.

use embedded_hal::i2c::I2c;

use crate::sensor::Sensor;

/// Tries of one read (the first and two retries) before the sample is given up.
pub const READ_TRIES: u32 = 3;
/// A raw reading equal, on every axis, to the one before is the second of a run: rejected.
pub const STUCK_RUN: u32 = 2;
/// Samples in a row that may be rejected or unreadable before the sensor counts as gone.
pub const MAX_REJECTED_IN_A_ROW: u32 = 64;

/// What went wrong, counted over the whole run (logged at its end).
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Failed I2C reads that were tried again.
    pub retried: u32,
    /// Samples skipped because every one of their [`READ_TRIES`] reads failed.
    pub unreadable: u32,
    /// Raw readings rejected as stuck (a repeat of the previous one).
    pub stuck: u32,
    /// Raw readings rejected as railed (an axis at full scale).
    pub railed: u32,
    /// Training steps that returned `Err` and were skipped (weights unchanged).
    pub steps_failed: u32,
    /// Fixed-point results clamped to the format's range, summed over the steps that trained
    /// (`Step::saturations`; always 0 for floats).
    pub saturations: u32,
}

/// One accepted sample, in counts: (raw reading, reference).
pub type Counts = ([i16; 3], [i16; 3]);

/// The acquisition's state: the last raw reading, the length of its run, the counts.
#[derive(Debug, Default)]
pub struct Acquire {
    last: Option<[i16; 3]>,
    run: u32,
    /// What went wrong so far.
    pub faults: Faults,
}

impl Acquire {
    /// The next sample that passes the checks, or `None` when [`MAX_REJECTED_IN_A_ROW`] in a row
    /// did not: the sensor has stopped answering or is stuck for good. Out of line, so the
    /// counts live in memory, not in registers of the training loop (whose register pressure
    /// decides what the compiler schedules inside the timed step).
    #[inline(never)]
    pub fn next<I: I2c>(&mut self, sensor: &mut Sensor<I>) -> Option<Counts> {
        for _ in 0..MAX_REJECTED_IN_A_ROW {
            let Some((raw, reference)) = self.read(sensor) else {
                self.faults.unreadable += 1;
                continue;
            };
            self.run = if self.last == Some(raw) {
                self.run + 1
            } else {
                1
            };
            self.last = Some(raw);
            if self.run >= STUCK_RUN {
                self.faults.stuck += 1;
            } else if raw.iter().any(|&c| c == i16::MIN || c == i16::MAX) {
                self.faults.railed += 1;
            } else {
                return Some((raw, reference));
            }
        }
        None
    }

    /// One sample's two reads, tried up to [`READ_TRIES`] times.
    fn read<I: I2c>(&mut self, sensor: &mut Sensor<I>) -> Option<Counts> {
        for attempt in 1..=READ_TRIES {
            if let (Ok(raw), Ok(reference)) = (sensor.read_raw(), sensor.read_reference()) {
                return Some((raw, reference));
            }
            if attempt < READ_TRIES {
                self.faults.retried += 1;
            }
        }
        None
    }
}
