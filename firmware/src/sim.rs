//! A simulated 3-axis sensor behind an `embedded_hal::i2c::I2c` bus, for QEMU (and for real boards
//! with nothing attached): the driver in [`crate::sensor`] cannot tell it from a chip.
//!
//! Each latched sample draws a true value t uniform in [-1, 1]^3 and reports
//!
//! ```text
//! raw = h(t) + noise,   h(t) = c + (I + S) t + eps sin(W t + phi)   (sin taken per axis)
//! ```
//!
//! with seeded offset c (|c_i| <= 0.2), cross-axis and scale error S (|S_ij| <= 0.15), a smooth
//! non-linearity of amplitude eps = 0.1 with |W_ij| <= 1.5, and noise N(0, 0.005^2) per axis.
//! h(t) - t has Jacobian S + eps diag(cos) W, of infinity-norm at most 3 (0.15) + 0.1 (3) (1.5)
//! = 0.9 < 1: h is the identity plus a contraction, hence a smooth, invertible, near-identity
//! map. The calibration the network learns is h^-1.
//!
//! With the `fault-injection` feature (a QEMU run of its own, golden log
//! `qemu/mps2-an386-fault-injection.out`) the sensor also fails the way real ones do, at points
//! drawn from a seeded generator of its own (see [`inject`]): failed reads, bursts of them, stuck
//! and railed readings; and some training steps get a non-finite input ([`corrupt_step`]). The
//! run shows each one counted and survived, and training still passing.

use embedded_hal::i2c::{
    ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress,
};
use nearid::Rng;

use crate::sensor::{ADDRESS, LSB_PER_UNIT, OUT_X_L, REF_X_L, WHO_AM_I, WHO_AM_I_VALUE};

/// Standard deviation of the measurement noise per axis.
pub const NOISE: f64 = 0.005;
/// Amplitude of the non-linear distortion.
const EPS: f64 = 0.1;

/// The simulated sensor: its distortion (fixed by the seed), its noise stream and registers.
#[derive(Debug)]
pub struct SimSensor {
    c: [f64; 3],
    s: [[f64; 3]; 3],
    w: [[f64; 3]; 3],
    phi: [f64; 3],
    rng: Rng,
    /// 0x00..=0x7F, auto-incrementing on reads like the real part.
    registers: [u8; 0x80],
    pointer: u8,
    #[cfg(feature = "fault-injection")]
    faults: inject::Plan,
}

impl SimSensor {
    /// A sensor whose distortion and noise are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut draw = |r: f64| rng.uniform_in(-r, r);
        let c = core::array::from_fn(|_| draw(0.2));
        let s = core::array::from_fn(|_| core::array::from_fn(|_| draw(0.15)));
        let w = core::array::from_fn(|_| core::array::from_fn(|_| draw(1.5)));
        let phi = core::array::from_fn(|_| draw(core::f64::consts::PI));
        let mut registers = [0; 0x80];
        registers[usize::from(WHO_AM_I)] = WHO_AM_I_VALUE;
        Self {
            c,
            s,
            w,
            phi,
            rng: Rng::new(seed ^ 0x5E45_0A11),
            registers,
            pointer: 0,
            #[cfg(feature = "fault-injection")]
            faults: inject::Plan::new(seed ^ inject::SALT),
        }
    }

    /// h(t) without noise: the distortion.
    pub fn distort(&self, t: &[f64; 3]) -> [f64; 3] {
        core::array::from_fn(|i| {
            let dot = |m: &[f64; 3]| m[0] * t[0] + m[1] * t[1] + m[2] * t[2];
            self.c[i] + t[i] + dot(&self.s[i]) + EPS * libm::sin(dot(&self.w[i]) + self.phi[i])
        })
    }

    /// Draws the next sample into the output and reference registers.
    fn latch(&mut self) {
        let t: [f64; 3] = core::array::from_fn(|_| self.rng.uniform_in(-1.0, 1.0));
        let h = self.distort(&t);
        for i in 0..3 {
            let raw = h[i] + NOISE * self.rng.normal();
            self.store(OUT_X_L + 2 * i as u8, raw);
            self.store(REF_X_L + 2 * i as u8, t[i]);
        }
    }

    fn store(&mut self, register: u8, value: f64) {
        let counts = libm::round(value * f64::from(LSB_PER_UNIT)).clamp(-32768.0, 32767.0) as i16;
        let [lo, hi] = counts.to_le_bytes();
        let r = usize::from(register);
        self.registers[r] = lo;
        self.registers[r + 1] = hi;
    }
}

impl ErrorType for SimSensor {
    type Error = ErrorKind;
}

impl I2c<SevenBitAddress> for SimSensor {
    fn transaction(
        &mut self,
        address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address != ADDRESS {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                // The first byte written selects the register; we accept no register writes.
                Operation::Write(bytes) => match bytes {
                    [register] if usize::from(*register) < self.registers.len() => {
                        self.pointer = *register
                    }
                    _ => return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
                },
                Operation::Read(buffer) => {
                    if self.pointer == OUT_X_L {
                        #[cfg(not(feature = "fault-injection"))]
                        self.latch();
                        #[cfg(feature = "fault-injection")]
                        self.latch_with_faults()?;
                    }
                    for byte in buffer.iter_mut() {
                        *byte = self.registers[usize::from(self.pointer) % self.registers.len()];
                        self.pointer = self.pointer.wrapping_add(1) % 0x80;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(feature = "fault-injection")]
impl SimSensor {
    /// [`SimSensor::latch`], unless the plan says this read fails (no sample is drawn), the raw
    /// output is frozen (a new reference, the previous raw reading) or an axis rails.
    fn latch_with_faults(&mut self) -> Result<(), ErrorKind> {
        let raw = usize::from(OUT_X_L)..usize::from(OUT_X_L) + 6;
        match self.faults.next() {
            inject::Latch::Fail => return Err(ErrorKind::Bus),
            inject::Latch::Normal => self.latch(),
            inject::Latch::Freeze => {
                let mut frozen = [0u8; 6];
                frozen.copy_from_slice(&self.registers[raw.clone()]);
                self.latch();
                self.registers[raw].copy_from_slice(&frozen);
            }
            inject::Latch::Rail(axis) => {
                self.latch();
                let full_scale = if axis % 2 == 0 { i16::MAX } else { i16::MIN };
                let at = usize::from(OUT_X_L) + 2 * (axis % 3);
                self.registers[at..at + 2].copy_from_slice(&full_scale.to_le_bytes());
            }
        }
        Ok(())
    }
}

/// Every this many training steps, the fault-injection run hands the step an input with a NaN
/// (a sample corrupted in RAM): the core must return `Err` and leave the weights as they were,
/// the application skip and count it. (On the f32 boards, where a NaN exists.)
#[cfg(feature = "fault-injection")]
pub const NONFINITE_EVERY: u32 = 499;

/// Puts a NaN into the first input of the batch of `step` when [`NONFINITE_EVERY`] divides it.
#[cfg(feature = "fault-injection")]
pub fn corrupt_step<T: nearid::Scalar, const B: usize>(
    step: u32,
    xs: &mut [nearid::Vector<T, 3>; B],
) {
    if step.is_multiple_of(NONFINITE_EVERY) {
        xs[0][0] = T::from_f64(f64::NAN);
    }
}

/// Where the simulated sensor fails, drawn per latched sample from a generator of its own (the
/// measurement stream is the sensor's; a skipped or frozen sample still shifts which samples
/// come later, which is why the faults run in a build of their own).
#[cfg(feature = "fault-injection")]
pub mod inject {
    use nearid::Rng;

    /// Mixed into the sensor's seed for the fault generator's.
    pub const SALT: u64 = 0xFA17_5EED;

    /// What happens to one latched sample.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Latch {
        /// As the healthy sensor.
        Normal,
        /// The I2C read fails (no acknowledge).
        Fail,
        /// The raw output repeats the previous reading (the reference moves on).
        Freeze,
        /// One raw axis reads full scale (`i16::MAX` or `i16::MIN`).
        Rail(usize),
    }

    /// The fault generator and the episodes under way.
    #[derive(Debug)]
    pub struct Plan {
        rng: Rng,
        /// Reads still to fail in a burst.
        failing: u32,
        /// Latches still to freeze in a stuck episode.
        frozen: u32,
    }

    impl Plan {
        /// A plan drawn from `seed`.
        pub fn new(seed: u64) -> Self {
            Self {
                rng: Rng::new(seed),
                failing: 0,
                frozen: 0,
            }
        }

        /// The next latch's fate. Per 1000 latches: 25 single failed reads (retried), 3 bursts of
        /// three (every try of a sample fails: skipped), 4 stuck episodes of three frozen latches,
        /// 3 railed axes.
        pub fn next(&mut self) -> Latch {
            if self.failing > 0 {
                self.failing -= 1;
                return Latch::Fail;
            }
            if self.frozen > 0 {
                self.frozen -= 1;
                return Latch::Freeze;
            }
            match self.rng.next_u32() % 1000 {
                0..25 => Latch::Fail,
                25..28 => {
                    self.failing = 2;
                    Latch::Fail
                }
                28..32 => {
                    self.frozen = 2;
                    Latch::Freeze
                }
                draw @ 32..35 => Latch::Rail(draw as usize),
                _ => Latch::Normal,
            }
        }
    }
}
