//! Scales 0 = a_0 < a_1 < ... < a_m = 1 of the scaling decomposition (docs/THEORY.md section 4).

use super::real;
use crate::{Error, Real, Result};

/// Which scales the decomposition h_i = g_{a_i} o g_{a_{i-1}}^-1 uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule<T> {
    /// a_i = i / m: steps a_i - a_{i-1} = 1/m, so ||h_i - Id||_L = O(1/m).
    Uniform,
    /// BEL's geometric scales a_i = (1 - c)^(m - i) for i >= 1, with ratio 1 - c; `None` takes
    /// the paper's c = ln(m) / m. Steps a_i - a_{i-1} = c a_i <= c, so ||h_i - Id||_L =
    /// O(log m / m) with the paper's c.
    ///
    /// a_0 = 0, not (1 - c)^m: g_0 = Id is the start of every decomposition. The first step is
    /// then a_1 = (1 - c)^(m-1), about e^(-c (m-1)) = e^c / m for the paper's c (in general the
    /// smallest scale, not c times it), so it is no larger than the other steps' O(c) and the
    /// bound alpha R M (a_1 - a_0) still applies to h_1 = g_{a_1}.
    Geometric(Option<T>),
}

/// The m + 1 scales of a schedule, computed on demand (no storage, so m can be a run-time value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scales<T> {
    schedule: Schedule<T>,
    m: usize,
    /// The ratio parameter c of the geometric schedule (0 for uniform).
    c: T,
}

impl<T: Real> Scales<T> {
    /// The scales of `schedule` with m >= 1 layers; [`Error::OutOfRange`] for m = 0, m above
    /// i32::MAX, a geometric c outside (0, 1) (c = 0 is allowed for m = 1, where it is
    /// ln(1)/1), or scales that T cannot hold strictly increasing: a geometric c at or below
    /// (4 log2(m) + 2) eps, the rounding of (1 - c)^k (c = 1e-40 would give
    /// a_1 = ... = a_m = 1), a smallest step c a_1 = c (1 - c)^(m - 1) below T's smallest
    /// normal value, or uniform steps 1/m below T's resolution at 1 (m eps >= 1). [`Scales::step`] also refuses a step
    /// that rounding made 0.
    ///
    /// ```
    /// use nearid::smooth::{Scales, Schedule};
    /// let s = Scales::<f64>::new(Schedule::Geometric(None), 8).unwrap();
    /// assert_eq!(s.scale(0), Ok(0.0));
    /// assert_eq!(s.scale(8), Ok(1.0));
    /// assert!((s.c() - 8f64.ln() / 8.0).abs() < 1e-15);
    /// ```
    pub fn new(schedule: Schedule<T>, m: usize) -> Result<Self> {
        if m == 0 || i32::try_from(m).is_err() {
            return Err(Error::OutOfRange);
        }
        let c = match schedule {
            Schedule::Uniform => T::zero(),
            Schedule::Geometric(None) => real::<T>(libm::log(m as f64) / m as f64),
            Schedule::Geometric(Some(c)) => {
                if !(c.is_finite() && c > T::zero() && c < T::one()) {
                    return Err(Error::OutOfRange);
                }
                c
            }
        };
        let scales = Self { schedule, m, c };
        let resolution = real::<T>(m as f64) * T::default_epsilon();
        let holds = match schedule {
            Schedule::Uniform => resolution < T::one(),
            // For m = 1 there is only a_0 = 0 < a_1 = 1.
            // (1 - c)^k by powi is within (2 log2(m) + 1) eps relative, so consecutive scales,
            // a factor 1 - c apart, stay distinct and ordered when c exceeds twice that.
            Schedule::Geometric(_) => {
                let log2 = real::<T>(libm::log2(m as f64));
                let resolution = (log2 * real::<T>(4.0) + real::<T>(2.0)) * T::default_epsilon();
                // The smallest step, about c a_1, must be a normal number of T (subnormal
                // scales collide: a_1 and a_2 of c = 0.097, m = 1000 round to the same f32).
                let smallest = c * scales.scale(1)?;
                m == 1 || (c > resolution && smallest > crate::upper::min_normal::<T>())
            }
        };
        if !holds {
            return Err(Error::OutOfRange);
        }
        Ok(scales)
    }

    /// The number of layers m.
    pub fn layers(&self) -> usize {
        self.m
    }

    /// The schedule.
    pub fn schedule(&self) -> Schedule<T> {
        self.schedule
    }

    /// c of the geometric schedule (0 for the uniform one).
    pub fn c(&self) -> T {
        self.c
    }

    /// a_i for i in 0..=m (a_0 = 0, a_m = 1 exactly), else [`Error::OutOfRange`].
    pub fn scale(&self, i: usize) -> Result<T> {
        if i > self.m {
            return Err(Error::OutOfRange);
        }
        if i == 0 {
            return Ok(T::zero());
        }
        if i == self.m {
            return Ok(T::one());
        }
        Ok(match self.schedule {
            Schedule::Uniform => real::<T>(i as f64) / real::<T>(self.m as f64),
            // m - i < m <= i32::MAX (checked in new).
            Schedule::Geometric(_) => (T::one() - self.c).powi((self.m - i) as i32),
        })
    }

    /// a_i - a_{i-1} for i in 1..=m; [`Error::OutOfRange`] for other i, and for a step that is
    /// not positive in T (a_i and a_{i-1} rounded to the same value).
    pub fn step(&self, i: usize) -> Result<T> {
        if i == 0 {
            return Err(Error::OutOfRange);
        }
        let step = self.scale(i)? - self.scale(i - 1)?;
        if step > T::zero() {
            Ok(step)
        } else {
            Err(Error::OutOfRange)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_increase_from_zero_to_one() {
        for schedule in [Schedule::Uniform, Schedule::Geometric(None)] {
            for m in [1usize, 2, 7, 64, 1000] {
                let s = Scales::<f64>::new(schedule, m).unwrap();
                assert_eq!(s.scale(0), Ok(0.0));
                assert_eq!(s.scale(m), Ok(1.0));
                for i in 1..=m {
                    assert!(s.step(i).unwrap() > 0.0, "{schedule:?} m={m} i={i}");
                }
                assert_eq!(s.scale(m + 1), Err(Error::OutOfRange));
            }
        }
        assert_eq!(
            Scales::<f64>::new(Schedule::Uniform, 0),
            Err(Error::OutOfRange)
        );
        assert!(Scales::<f64>::new(Schedule::Geometric(Some(1.0)), 4).is_err());
        // 1 - 1e-40 = 1: the scales would be [0, 1, 1, 1, 1].
        assert_eq!(
            Scales::<f64>::new(Schedule::Geometric(Some(1e-40)), 4),
            Err(Error::OutOfRange)
        );
        assert_eq!(
            Scales::<f32>::new(Schedule::Uniform, 1 << 25),
            Err(Error::OutOfRange)
        );
    }

    #[test]
    fn geometric_steps_are_at_most_c() {
        for m in [4usize, 64, 1024] {
            let s = Scales::<f64>::new(Schedule::Geometric(None), m).unwrap();
            let largest = (1..=m).map(|i| s.step(i).unwrap()).fold(0.0, f64::max);
            assert!(
                (largest - s.c()).abs() < 1e-12,
                "m={m}: {largest} vs c={}",
                s.c()
            );
            // The first step, a_1 - a_0 = (1 - c)^(m-1), is about 1/m.
            let first = s.step(1).unwrap() * m as f64;
            assert!(first > 0.9 && first < 1.5, "m={m}: m a_1 = {first}");
        }
    }
}
