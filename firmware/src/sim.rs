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
                        self.latch();
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
