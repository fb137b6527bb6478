//! Small dense linear algebra the smooth-map code needs in any dimension D: determinant, linear
//! solves and the inverse by Gaussian elimination with partial pivoting, and a guaranteed upper
//! bound on a spectral norm. Written out (rather than nalgebra's `lu`) so they work for every
//! const D without dimension-arithmetic bounds, and never panic.

use super::real;
use crate::{Error, Matrix, Real, Result, Scalar, Vector};

/// P A = L U of a D x D matrix, by Gaussian elimination with partial pivoting.
#[derive(Clone, Copy, Debug)]
struct Lu<T: Real, const D: usize> {
    /// L below the diagonal (unit diagonal implied), U on and above it: (D, D).
    lu: Matrix<T, D, D>,
    /// Row k of P A is row `perm[k]` of A.
    perm: [usize; D],
    /// det P = +-1.
    sign: T,
}

fn lu<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> Result<Lu<T, D>> {
    if !a.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite);
    }
    let mut lu = *a;
    let mut perm: [usize; D] = core::array::from_fn(|i| i);
    let mut sign = T::one();
    for k in 0..D {
        // Pivot: the largest |entry| in column k at or below the diagonal.
        let mut p = k;
        for r in k + 1..D {
            if Scalar::abs(lu[(r, k)]) > Scalar::abs(lu[(p, k)]) {
                p = r;
            }
        }
        if p != k {
            lu.swap_rows(p, k);
            perm.swap(p, k);
            sign = -sign;
        }
        let pivot = lu[(k, k)];
        if pivot == T::zero() {
            continue; // singular: det = 0; solves report it
        }
        for r in k + 1..D {
            let l = lu[(r, k)] / pivot;
            lu[(r, k)] = l;
            for c in k + 1..D {
                let u = lu[(k, c)];
                lu[(r, c)] -= l * u;
            }
        }
    }
    Ok(Lu { lu, perm, sign })
}

impl<T: Real, const D: usize> Lu<T, D> {
    /// The product of the pivots as (mantissa in [1/2, 1), exponent), so it neither overflows
    /// nor underflows on the way (1e200 * 1e200 * 0 would be inf * 0 = NaN); 0 when a pivot is.
    fn determinant_parts(&self) -> (f64, i32) {
        let mut mantissa = Scalar::to_f64(self.sign);
        let mut exponent = 0i32;
        for k in 0..D {
            let (m, e) = libm::frexp(Scalar::to_f64(self.lu[(k, k)]));
            mantissa *= m;
            exponent = exponent.saturating_add(e);
            let (m, e) = libm::frexp(mantissa);
            (mantissa, exponent) = (m, exponent.saturating_add(e));
        }
        if mantissa == 0.0 {
            (0.0, 0)
        } else {
            (mantissa, exponent)
        }
    }

    /// Solves A x = b, or [`Error::Singular`] when a pivot is zero (or smaller than
    /// eps * the largest pivot, where the answer would be noise).
    fn solve(&self, b: &Vector<T, D>) -> Result<Vector<T, D>> {
        let largest = (0..D).fold(T::zero(), |m, k| {
            Scalar::max(m, Scalar::abs(self.lu[(k, k)]))
        });
        let floor = largest * T::default_epsilon();
        if (0..D).any(|k| Scalar::abs(self.lu[(k, k)]) <= floor) {
            return Err(Error::Singular);
        }
        // Forward: L y = P b.
        let mut y: Vector<T, D> = Vector::from_fn(|k, _| b[self.perm[k]]);
        for r in 0..D {
            for c in 0..r {
                let v = self.lu[(r, c)] * y[c];
                y[r] -= v;
            }
        }
        // Back: U x = y.
        for r in (0..D).rev() {
            for c in r + 1..D {
                let v = self.lu[(r, c)] * y[c];
                y[r] -= v;
            }
            y[r] /= self.lu[(r, r)];
        }
        if y.iter().all(|v| v.is_finite()) {
            Ok(y)
        } else {
            Err(Error::NonFinite)
        }
    }
}

/// det A of a D x D matrix: [`Error::NonFinite`] for a non-finite entry, [`Error::Overflow`]
/// when |det A| is above T::MAX (a determinant below T's smallest value is 0, to the nearest).
/// Each row is scaled by a power of two first (det(R A) = det R det A, exactly), so the
/// elimination cannot overflow, and the pivots are multiplied as mantissa and exponent.
///
/// ```
/// use nearid::{Matrix, smooth::determinant};
/// let a = Matrix::<f64, 2, 2>::new(-2.0, 0.0, 0.0, -0.5);
/// assert_eq!(determinant(&a), Ok(1.0));
/// let singular = Matrix::<f64, 3, 3>::from_diagonal(&nalgebra::Vector3::new(1e200, 1e200, 0.0));
/// assert_eq!(determinant(&singular), Ok(0.0));
/// ```
pub fn determinant<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> Result<T> {
    if !a.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite);
    }
    let (scaled, rows) = equilibrate(a);
    let (mantissa, exponent) = lu(&scaled)?.determinant_parts();
    let exponent = rows.iter().fold(exponent, |e, &r| e.saturating_add(r));
    let det = <T as Scalar>::from_f64(libm::ldexp(mantissa, exponent.clamp(-4000, 4000)));
    if Scalar::is_finite(det) {
        Ok(det)
    } else {
        Err(Error::Overflow)
    }
}

/// R A and the exponents e_i of R = diag(2^-e_i): each row of A scaled exactly by a power of
/// two so its largest entry is in [1/2, 1) (a zero row stays zero). Then elimination with
/// partial pivoting cannot overflow (entries grow at most 2^(D-1)), and rows of very different
/// magnitude (1e200 and 1e-200) keep their digits.
fn equilibrate<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> (Matrix<T, D, D>, [i32; D]) {
    let rows: [i32; D] =
        core::array::from_fn(|i| crate::upper::exponent_of(a.row(i).iter().copied()));
    (
        Matrix::from_fn(|i, j| crate::upper::scaled(a[(i, j)], rows[i])),
        rows,
    )
}

/// x with A x = b: [`Error::Singular`] when A is numerically singular, [`Error::NonFinite`] for
/// non-finite input, [`Error::Overflow`] when finite A and b give an x (or an elimination step)
/// above T::MAX.
pub fn solve<T: Real, const D: usize>(
    a: &Matrix<T, D, D>,
    b: &Vector<T, D>,
) -> Result<Vector<T, D>> {
    if !b.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite);
    }
    // (R A) x' = 2^-e R b with R = diag(2^-e_i) equilibrating the rows of A (exactly: powers
    // of two) and 2^-e bringing R b near 1, so the elimination neither under- nor overflows;
    // x = 2^e x'.
    let (scaled_a, rows) = equilibrate(a);
    let rb = Vector::<T, D>::from_fn(|i, _| crate::upper::scaled(b[i], rows[i]));
    let e = crate::upper::exponent_of(rb.iter().copied());
    let scaled_b = rb.map(|x| crate::upper::scaled(x, e));
    let x = lu(&scaled_a)?.solve(&scaled_b).map_err(overflowed)?;
    let x = x.map(|v| crate::upper::scaled(v, e.saturating_neg()));
    if x.iter().all(|v| v.is_finite()) {
        Ok(x)
    } else {
        Err(Error::Overflow)
    }
}

/// A non-finite value from finite input is an overflow.
fn overflowed(e: Error) -> Error {
    if e == Error::NonFinite {
        Error::Overflow
    } else {
        e
    }
}

/// A^-1 (column j solves A x = e_j), with the errors of [`solve`] (an inverse above T::MAX is
/// [`Error::Overflow`]).
pub fn inverse<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> Result<Matrix<T, D, D>> {
    // A^-1 = (R A)^-1 R: column j of (R A)^-1 times 2^-e_j, rows equilibrated as in [`solve`].
    if !a.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite);
    }
    let (scaled_a, rows) = equilibrate(a);
    let f = lu(&scaled_a)?;
    let mut inv = Matrix::<T, D, D>::zeros();
    for j in 0..D {
        let unit = Vector::<T, D>::from_fn(|i, _| if i == j { T::one() } else { T::zero() });
        inv.set_column(j, &f.solve(&unit).map_err(overflowed)?);
    }
    let inv = Matrix::<T, D, D>::from_fn(|i, j| crate::upper::scaled(inv[(i, j)], rows[j]));
    if inv.iter().all(|v| v.is_finite()) {
        Ok(inv)
    } else {
        Err(Error::Overflow)
    }
}

/// Squarings in [`spectral_norm_upper`]: the bound is at most n^(1 / 2^(k+1)) times the norm, a
/// factor below 1.006 for n <= 64.
const SQUARINGS: u32 = 10;

/// An upper bound on the spectral norm ||W|| of an R x C matrix, never below it (rounding included;
/// NaN for a non-finite entry, +inf above T::MAX),
/// at most n^(1/2048) times it (n = min(R, C)): ||W||^2 = lambda_max(G) for the Gram matrix
/// G = W^T W or W W^T (the smaller), and lambda_max(G) <= ||G^(2^k)||_F^(1 / 2^k) for every k,
/// with equality as k grows. G is renormalised at each squaring so nothing overflows.
///
/// Power iteration gives a lower estimate; the checks of docs/THEORY.md section 5 need an upper
/// one.
///
/// ```
/// use nearid::{Matrix, smooth::spectral_norm_upper};
/// let w = Matrix::<f64, 2, 3>::new(3.0, 0.0, 0.0, 0.0, 1.0, 0.0);
/// let s = spectral_norm_upper(&w);
/// assert!(s >= 3.0 && s < 3.0 * 1.001);
/// ```
pub fn spectral_norm_upper<T: Real, const R: usize, const C: usize>(w: &Matrix<T, R, C>) -> T {
    // Scaled by a power of two first (exactly), so the Gram matrix of entries of 1e-111 does not
    // underflow to 0 (nor that of 1e200 overflow), and scaled back in f64.
    if !w.iter().all(|v| v.is_finite()) {
        return <T as Scalar>::from_f64(f64::NAN);
    }
    let e = crate::upper::exponent_of(w.iter().copied());
    let w = w.map(|x| crate::upper::scaled(x, e));
    let bound = if R <= C {
        gram_bound(&(w * w.transpose()))
    } else {
        gram_bound(&(w.transpose() * w))
    };
    crate::upper::round_up(libm::ldexp(Scalar::to_f64(bound), e))
}

/// sqrt(lambda_max(G)) bound for a symmetric positive semi-definite G: (n, n), entries at most
/// n (G of a matrix whose entries are below 1 in magnitude).
fn gram_bound<T: Real, const N: usize>(g: &Matrix<T, N, N>) -> T {
    let mut g = *g;
    // log of the scale divided out so far, in units of the current power: lambda_max(G_0) <=
    // exp(log_scale) * ||G_k||_F^(1/2^k).
    let mut log_scale = T::zero();
    let mut power = T::one();
    for _ in 0..SQUARINGS {
        let f = g.norm();
        if f == T::zero() {
            return T::zero();
        }
        g /= f;
        log_scale += f.ln() / power;
        g = g * g;
        power *= real::<T>(2.0);
    }
    let f = g.norm();
    let log_lambda = log_scale + f.ln() / power;
    // sqrt, and the rounding of the 2^k-th root: each of the 11 logarithms is within a few ulps
    // of its value (|log| < 60 after scaling), so the exponent is within 1e-4 relative in f32
    // (1e-12 in f64).
    let slack = if T::default_epsilon() > real::<T>(1e-10) {
        1e-4
    } else {
        1e-12
    };
    Scalar::exp(log_lambda / real::<T>(2.0)) * real::<T>(1.0 + slack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_and_inverse_reconstruct() {
        let a = Matrix::<f64, 3, 3>::new(0.0, 2.0, 1.0, 1.0, -1.0, 0.5, 3.0, 0.0, 1.0);
        let inv = inverse(&a).unwrap();
        assert!((a * inv - Matrix::<f64, 3, 3>::identity()).norm() < 1e-14);
        let det = determinant(&a).unwrap();
        assert!((det - a.determinant()).abs() < 1e-14);
    }

    #[test]
    fn singular_and_non_finite_are_errors() {
        let a = Matrix::<f64, 2, 2>::new(1.0, 2.0, 2.0, 4.0);
        assert_eq!(
            solve(&a, &Vector::<f64, 2>::new(1.0, 0.0)),
            Err(Error::Singular)
        );
        let b = Matrix::<f64, 2, 2>::new(f64::NAN, 0.0, 0.0, 1.0);
        assert_eq!(determinant(&b), Err(Error::NonFinite));
    }

    #[test]
    fn spectral_bound_is_above_and_close() {
        let mut rng = crate::Rng::new(5);
        for _ in 0..50 {
            let w = Matrix::<f64, 3, 5>::from_fn(|_, _| rng.normal());
            let exact = w.singular_values().max();
            let bound = spectral_norm_upper(&w);
            assert!(
                bound >= exact && bound <= exact * 1.001,
                "{bound} vs {exact}"
            );
            let wt = w.transpose();
            assert!(spectral_norm_upper(&wt) >= exact);
        }
        assert_eq!(spectral_norm_upper(&Matrix::<f64, 2, 2>::zeros()), 0.0);
    }
}
