//! From run-time sizes to the core's const generics: D from 1 to [`MAX_DIM`], depth M from 1 to
//! [`MAX_DEPTH`] (the core writes the factors into a slice, so M needs no dispatch).

use nalgebra::{Const, DMatrix};
use nearid::{Decompose, FactorReport, Matrix, Real, Scalar};

/// The largest dimension the command-line tool and the sweeps dispatch onto.
pub const MAX_DIM: usize = 16;

/// The largest depth M factorised (M matrices of D x D are allocated, three times over between
/// the core's output, the f64 copy and the `.npy` bytes: 24 MiB at D = 16, f64).
///
/// Why 4096: the HM bound max_i ||A_i|| <= 2 (sqrt(pi) + sqrt(3 gamma))^2 / M applies from
/// M >= 3 gamma (docs/THEORY.md section 1), and gamma = max |ln sigma| of a finite float64 matrix
/// is at most |ln 4.9e-324| = 744.4, so M = 2234 already reaches the bound for every matrix the
/// tool can read (float32: |ln 1.4e-45| = 103.3, M = 310). Deeper factorisations only shrink each
/// factor further, as (gamma + theta_max) / M; 4096, the next power of two, is also the deepest
/// point of the `verify linear` sweep, where that limit is checked.
pub const MAX_DEPTH: usize = 4096;

/// Calls `$f::<D>($args...)` for the run-time `$d` in 1..=16; `$none` otherwise.
#[macro_export]
macro_rules! with_dim {
    ($d:expr, $none:expr, $f:ident :: < $($t:ty),* ; D > ( $($arg:expr),* $(,)? )) => {
        match $d {
            1 => $f::<$($t,)* 1>($($arg),*),
            2 => $f::<$($t,)* 2>($($arg),*),
            3 => $f::<$($t,)* 3>($($arg),*),
            4 => $f::<$($t,)* 4>($($arg),*),
            5 => $f::<$($t,)* 5>($($arg),*),
            6 => $f::<$($t,)* 6>($($arg),*),
            7 => $f::<$($t,)* 7>($($arg),*),
            8 => $f::<$($t,)* 8>($($arg),*),
            9 => $f::<$($t,)* 9>($($arg),*),
            10 => $f::<$($t,)* 10>($($arg),*),
            11 => $f::<$($t,)* 11>($($arg),*),
            12 => $f::<$($t,)* 12>($($arg),*),
            13 => $f::<$($t,)* 13>($($arg),*),
            14 => $f::<$($t,)* 14>($($arg),*),
            15 => $f::<$($t,)* 15>($($arg),*),
            16 => $f::<$($t,)* 16>($($arg),*),
            _ => $none,
        }
    };
}

/// A factorisation with run-time sizes, in f64 (f32 results are widened exactly).
#[derive(Clone, Debug)]
pub struct Factorisation {
    /// A_1 .. A_M, each (D, D); A_1 is applied first.
    pub factors: Vec<DMatrix<f64>>,
    /// The core's report, widened to f64.
    pub report: FactorReport<f64>,
}

impl Factorisation {
    /// Pi(A) = (I + A_M) ... (I + A_1), multiplied out in f64.
    pub fn product(&self) -> DMatrix<f64> {
        let d = self.factors.first().map_or(0, |a| a.nrows());
        let identity = DMatrix::<f64>::identity(d, d);
        self.factors
            .iter()
            .fold(identity.clone(), |acc, a| (&identity + a) * acc)
    }
}

/// Why a run-time factorisation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchError {
    /// The core refused the matrix.
    Core(nearid::Error),
    /// Not square, or D outside 1..=16.
    Shape,
    /// The depth M is above [`MAX_DEPTH`] (M = 0 is the core's `OutOfRange`).
    Depth,
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DispatchError::Core(e) => write!(f, "{e}"),
            DispatchError::Shape => {
                write!(f, "the matrix must be square with D from 1 to {MAX_DIM}")
            }
            DispatchError::Depth => write!(f, "the depth is above the maximum {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for DispatchError {}

fn widen<T: Real>(r: FactorReport<T>) -> FactorReport<f64> {
    FactorReport {
        max_norm: Scalar::to_f64(r.max_norm),
        bound: r.bound.map(Scalar::to_f64),
        gamma: Scalar::to_f64(r.gamma),
        sigma_min: Scalar::to_f64(r.sigma_min),
        sigma_max: Scalar::to_f64(r.sigma_max),
        max_angle: Scalar::to_f64(r.max_angle),
        p: r.p,
        q: r.q,
        error_bound: Scalar::to_f64(r.error_bound),
    }
}

/// The core's `factorize_into` in precision T for a D x D matrix given in f64.
pub fn factorize_static<T: Real, const D: usize>(
    r: &DMatrix<f64>,
    depth: usize,
) -> Result<Factorisation, DispatchError>
where
    Const<D>: Decompose<T, D>,
{
    if r.nrows() != D || r.ncols() != D {
        return Err(DispatchError::Shape);
    }
    if depth > MAX_DEPTH {
        return Err(DispatchError::Depth);
    }
    let r: Matrix<T, D, D> = Matrix::from_fn(|i, j| <T as Scalar>::from_f64(r[(i, j)]));
    let mut out = vec![Matrix::<T, D, D>::zeros(); depth];
    let report = nearid::factorize_into(&r, &mut out).map_err(DispatchError::Core)?;
    let factors = out
        .iter()
        .map(|a| DMatrix::from_fn(D, D, |i, j| Scalar::to_f64(a[(i, j)])))
        .collect();
    Ok(Factorisation {
        factors,
        report: widen(report),
    })
}

/// Factorise a square matrix of any D in 1..=16 into `depth` factors, in f64.
pub fn factorize_f64(r: &DMatrix<f64>, depth: usize) -> Result<Factorisation, DispatchError> {
    if r.nrows() != r.ncols() {
        return Err(DispatchError::Shape);
    }
    with_dim!(r.nrows(), Err(DispatchError::Shape), factorize_static::<f64; D>(r, depth))
}

/// Factorise in f32 (the microcontroller's precision); the factors are widened to f64 exactly.
pub fn factorize_f32(r: &DMatrix<f64>, depth: usize) -> Result<Factorisation, DispatchError> {
    if r.nrows() != r.ncols() {
        return Err(DispatchError::Shape);
    }
    with_dim!(r.nrows(), Err(DispatchError::Shape), factorize_static::<f32; D>(r, depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_capped_before_anything_is_allocated() {
        let r = DMatrix::<f64>::identity(16, 16);
        let f = factorize_f64(&r, MAX_DEPTH).unwrap();
        assert_eq!(f.factors.len(), MAX_DEPTH);
        for depth in [MAX_DEPTH + 1, 1 << 40, usize::MAX] {
            assert_eq!(factorize_f64(&r, depth).err(), Some(DispatchError::Depth));
            assert_eq!(factorize_f32(&r, depth).err(), Some(DispatchError::Depth));
        }
    }
}
