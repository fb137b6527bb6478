//! The inverse of a smooth map at a point by a damped Newton solve (docs/THEORY.md section 4:
//! "inverting g_a needs a solver").

use super::real;
use super::{SmoothMap, solve};
use crate::{Error, Real, Result, Vector};

/// Settings of the damped Newton solve of f(y) = x.
///
/// Each iteration solves Df(y) d = x - f(y) and takes the largest step y + lambda d,
/// lambda in {1, 1/2, 1/4, ...}, that decreases the residual enough (Armijo:
/// ||r(y + lambda d)|| <= (1 - lambda / 4) ||r(y)||). It stops with the answer when
/// ||f(y) - x|| <= tolerance (1 + ||x||), and with [`Error::NoConvergence`] when no step
/// decreases the residual (lambda below 2^-`max_halvings`) or after `max_iterations`: a point it
/// cannot invert is an error, never a silently wrong value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Newton<T> {
    /// Relative residual at which the solve stops: ||f(y) - x|| <= tolerance (1 + ||x||).
    pub tolerance: T,
    /// Newton iterations before giving up.
    pub max_iterations: u32,
    /// Step halvings per iteration before giving up.
    pub max_halvings: u32,
}

impl<T: Real> Default for Newton<T> {
    /// tolerance 1000 eps (2.2e-13 in f64, 1.2e-4 in f32), 50 iterations, 30 halvings.
    fn default() -> Self {
        Self {
            tolerance: T::default_epsilon() * real::<T>(1000.0),
            max_iterations: 50,
            max_halvings: 30,
        }
    }
}

impl<T: Real> Newton<T> {
    /// The y with f(y) = x, starting from `guess`.
    ///
    /// Errors: [`Error::NonFinite`] for non-finite x or guess (or f producing non-finite values
    /// at the start), [`Error::Singular`] when Df(y) is singular at an iterate,
    /// [`Error::NoConvergence`] as described on [`Newton`].
    ///
    /// ```
    /// use nearid::{Matrix, SmoothMap, Vector, smooth::Newton};
    /// /// y -> y + y^3 / 3, coordinatewise: invertible, not linear.
    /// struct Cubic;
    /// impl SmoothMap<f64, 1> for Cubic {
    ///     fn value(&self, y: &Vector<f64, 1>) -> Vector<f64, 1> { y.map(|v| v + v * v * v / 3.0) }
    ///     fn jacobian(&self, y: &Vector<f64, 1>) -> Matrix<f64, 1, 1> {
    ///         Matrix::<f64, 1, 1>::new(1.0 + y[0] * y[0])
    ///     }
    /// }
    /// let x = Vector::<f64, 1>::new(10.0);
    /// let y = Newton::default().invert(&Cubic, &x, x).unwrap();
    /// assert!((Cubic.value(&y) - x).norm() < 1e-12);
    /// ```
    pub fn invert<F: SmoothMap<T, D> + ?Sized, const D: usize>(
        &self,
        f: &F,
        x: &Vector<T, D>,
        guess: Vector<T, D>,
    ) -> Result<Vector<T, D>> {
        let finite = |v: &Vector<T, D>| v.iter().all(|c| c.is_finite());
        if !finite(x) || !finite(&guess) {
            return Err(Error::NonFinite);
        }
        // Norms scaled before squaring: |x| = 1e200 must not make the target inf (which
        // would accept any finite residual), nor 1e-200 a residual 0.
        let norm = |v: &Vector<T, D>| {
            real::<T>(crate::upper::frobenius(
                v.iter().map(|c| crate::Scalar::to_f64(*c)),
            ))
        };
        let target = self.tolerance * (T::one() + norm(x));
        let mut y = guess;
        let (fy, mut jac) = f.value_and_jacobian(&y);
        let mut r = fy - x;
        let mut rn = norm(&r);
        if !rn.is_finite() {
            return Err(Error::NonFinite);
        }
        for _ in 0..self.max_iterations {
            if rn <= target {
                return Ok(y);
            }
            let d = solve(&jac, &(-r))?;
            let mut lambda = T::one();
            let mut accepted = false;
            for _ in 0..=self.max_halvings {
                let trial = y + d * lambda;
                let (ft, jt) = f.value_and_jacobian(&trial);
                let rt = ft - x;
                let rtn = norm(&rt);
                if rtn.is_finite() && rtn <= (T::one() - lambda / real::<T>(4.0)) * rn {
                    (y, r, rn, jac) = (trial, rt, rtn, jt);
                    accepted = true;
                    break;
                }
                lambda /= real::<T>(2.0);
            }
            if !accepted {
                return Err(Error::NoConvergence);
            }
        }
        if rn <= target {
            Ok(y)
        } else {
            Err(Error::NoConvergence)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    /// y -> y - y^3: not invertible beyond its fold at |y| = 1/sqrt 3, where it reaches 0.385.
    struct Fold;
    impl SmoothMap<f64, 1> for Fold {
        fn value(&self, y: &Vector<f64, 1>) -> Vector<f64, 1> {
            y.map(|v| v - v * v * v)
        }
        fn jacobian(&self, y: &Vector<f64, 1>) -> Matrix<f64, 1, 1> {
            Matrix::<f64, 1, 1>::new(1.0 - 3.0 * y[0] * y[0])
        }
    }

    #[test]
    fn a_point_outside_the_range_is_an_error_not_a_value() {
        let newton = Newton::<f64>::default();
        let inside = Vector::<f64, 1>::new(0.2);
        let y = newton.invert(&Fold, &inside, inside).unwrap();
        assert!((Fold.value(&y) - inside).norm() < 1e-13);
        let outside = Vector::<f64, 1>::new(0.5);
        let err = newton.invert(&Fold, &outside, Vector::<f64, 1>::new(0.1));
        assert!(
            matches!(err, Err(Error::NoConvergence) | Err(Error::Singular)),
            "{err:?}"
        );
        let nan = Vector::<f64, 1>::new(f64::NAN);
        assert_eq!(newton.invert(&Fold, &nan, inside), Err(Error::NonFinite));
    }
}
