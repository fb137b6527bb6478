//! Stochastic rounding of the SGD updates (Gupta et al., "Deep Learning with Limited Numerical
//! Precision", ICML 2015).
//!
//! An update eta d is computed exactly in the wide accumulator (2F fractional bits for a format
//! with F) and rounded to F bits by adding a random integer r uniform in [0, 2^F) before the
//! arithmetic shift:
//!
//! ```text
//! round(p) = floor((p + r) / 2^F)    =>    E[round(p)] = p / 2^F   exactly.
//! ```
//!
//! Rounding to nearest instead (r = 2^(F-1)) loses every update smaller than half a unit in the
//! last place, so training in a 16-bit format stalls once the steps get small; stochastic
//! rounding keeps them in expectation. Floats ignore the dither (their rounding is IEEE's), so
//! f32/f64 training is bit-identical with either setting.

/// How the optimisers round each weight update w - eta d in fixed point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// To nearest (ties up): deterministic, but updates below half an ulp are lost.
    Nearest,
    /// Stochastic, unbiased, from a generator with this seed (any value; 0 is remapped).
    Stochastic {
        /// Seed of the dither generator; equal seeds give equal training runs. 32 bits, like
        /// the generator's state, so the optimisers stay 4-byte aligned in f32 and Q16.16.
        seed: u32,
    },
}

impl Default for Rounding {
    /// Stochastic with seed 0.
    fn default() -> Self {
        Rounding::Stochastic { seed: 0 }
    }
}

/// The source of rounding offsets: xorshift32 (Marsaglia 2003), 4 bytes of state and three
/// shifts per draw, cheap on a Cortex-M0; state 0 means round to nearest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dither {
    state: u32,
}

impl Dither {
    /// Round to nearest: every offset is one half.
    pub const fn nearest() -> Self {
        Self { state: 0 }
    }

    /// Stochastic rounding seeded by `seed`.
    pub const fn stochastic(seed: u32) -> Self {
        // xorshift32 needs a non-zero state.
        Self {
            state: if seed == 0 { 0x9E37_79B9 } else { seed },
        }
    }

    /// The dither a [`Rounding`] asks for.
    pub const fn new(rounding: Rounding) -> Self {
        match rounding {
            Rounding::Nearest => Self::nearest(),
            Rounding::Stochastic { seed } => Self::stochastic(seed),
        }
    }

    /// The generator's state (0: rounding to nearest), for checkpoints.
    pub const fn state(&self) -> u32 {
        self.state
    }

    /// The dither with this state ([`Dither::state`]): training resumed from it draws the same
    /// offsets as if it had never stopped.
    pub const fn from_state(state: u32) -> Self {
        Self { state }
    }

    /// True when rounding to nearest.
    pub const fn is_nearest(&self) -> bool {
        self.state == 0
    }

    /// An offset in [0, 2^bits) to add before shifting right by `bits` (1 <= bits <= 31):
    /// uniform for stochastic rounding, 2^(bits-1) for rounding to nearest.
    #[inline]
    pub fn offset(&mut self, bits: u32) -> u32 {
        let bits = bits.clamp(1, 31);
        if self.state == 0 {
            return 1 << (bits - 1);
        }
        self.stochastic_offset(bits)
    }

    /// The next stochastic offset in [0, 2^bits), for a dither known not to be rounding to
    /// nearest (state != 0; `bits` in 1..=31, as [`Dither::offset`] clamps it): one xorshift32
    /// draw, no test. Kernels check [`Dither::is_nearest`] once per column and then call this
    /// per weight.
    #[inline(always)]
    pub(crate) fn stochastic_offset(&mut self, bits: u32) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        // The high bits of xorshift32 are its best.
        x >> (32 - bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_offsets_are_one_half() {
        let mut d = Dither::nearest();
        assert_eq!(d.offset(16), 1 << 15);
        assert_eq!(d.offset(12), 1 << 11);
    }

    #[test]
    fn stochastic_offsets_are_uniform() {
        let mut d = Dither::stochastic(5);
        let n = 100_000;
        let mean = (0..n).map(|_| d.offset(16) as f64).sum::<f64>() / n as f64;
        // Uniform on [0, 65536): mean 32767.5, standard error 65536 / sqrt(12 n) = 60.
        assert!((mean - 32767.5).abs() < 300.0, "mean {mean}");
        assert!(Dither::stochastic(0).offset(8) < 256);
    }

    /// Seed 0 is remapped to a fixed non-zero state (state 0 would mean rounding to nearest);
    /// every other seed is the state itself, so equal seeds give equal runs.
    #[test]
    fn seed_zero_is_remapped_and_other_seeds_are_kept() {
        assert_eq!(Dither::stochastic(0).state(), 0x9E37_79B9);
        assert!(!Dither::stochastic(0).is_nearest());
        for seed in [1, 5, 0x9E37_79B9, u32::MAX] {
            assert_eq!(Dither::stochastic(seed).state(), seed);
        }
        assert_eq!(Dither::new(Rounding::Stochastic { seed: 7 }).state(), 7);
        assert!(Dither::new(Rounding::Nearest).is_nearest());
    }

    /// The generator is xorshift32 (13, 17, 5) exactly: Marsaglia's sequence from state 1
    /// (270369 first) and from the remapped seed 0, computed outside this crate. Checkpoints
    /// resume from the state, so the sequence itself is part of the contract.
    #[test]
    fn draws_follow_marsaglias_xorshift32() {
        let cases: [(u32, [u32; 4]); 2] = [
            (1, [270_369, 67_634_689, 2_647_435_461, 307_599_695]),
            (0, [0x510C_4619, 0xE02E_553E, 0x7BB9_8F3A, 0x0183_A8B5]),
        ];
        for (seed, states) in cases {
            let mut d = Dither::stochastic(seed);
            for want in states {
                // bits = 31 keeps all but the lowest bit of the new state.
                assert_eq!(d.offset(31), want >> 1, "seed {seed}");
                assert_eq!(d.state(), want, "seed {seed}");
            }
            let mut d = Dither::stochastic(seed);
            for want in states {
                assert_eq!(d.offset(16), want >> 16, "seed {seed}");
            }
        }
    }
}
