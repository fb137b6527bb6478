//! The scaling decomposition of BEL (docs/THEORY.md section 4): h = h_m o ... o h_1 with
//! h_i = g_{a_i} o g_{a_{i-1}}^-1, g_a(x) = h(a x) / a, g_0 = Id.
//!
//! For h with h(0) = 0 and Dh(0) = I (see [`super::Normalised`]), g_a -> Id as a -> 0, and on
//! z = g_{a_{i-1}}(y), y in X inside the ball B_R,
//!
//! ```text
//! D(h_i - Id)(z) = (Dh(a_i y) - Dh(a_{i-1} y)) Dh(a_{i-1} y)^-1,
//! ||h_i - Id||_L <= alpha R M (a_i - a_{i-1})       (alpha: Lipschitz constant of Dh,
//!                                                    M >= ||Dh^-1||, X star-shaped about 0)
//! ```
//!
//! so uniform scales give layers O(1/m) from the identity, the geometric ones O(log m / m).

use super::{Newton, Scales, SmoothMap, solve};
use crate::{Error, Matrix, Real, Result, Vector};

/// g_a(y) = h(a y) / a, with g_0 = Id: a [`SmoothMap`] with Dg_a(y) = Dh(a y) (the identity at
/// a = 0).
#[derive(Clone, Copy, Debug)]
pub struct Scaled<'a, F: ?Sized, T> {
    /// h.
    pub h: &'a F,
    /// a >= 0.
    pub a: T,
}

impl<T: Real, const D: usize, F: SmoothMap<T, D> + ?Sized> SmoothMap<T, D> for Scaled<'_, F, T> {
    fn value(&self, y: &Vector<T, D>) -> Vector<T, D> {
        if self.a == T::zero() {
            *y
        } else {
            self.h.value(&(y * self.a)) / self.a
        }
    }

    fn jacobian(&self, y: &Vector<T, D>) -> Matrix<T, D, D> {
        self.value_and_jacobian(y).1
    }

    fn value_and_jacobian(&self, y: &Vector<T, D>) -> (Vector<T, D>, Matrix<T, D, D>) {
        if self.a == T::zero() {
            (*y, Matrix::identity())
        } else {
            let (v, j) = self.h.value_and_jacobian(&(y * self.a));
            (v / self.a, j)
        }
    }
}

/// The decomposition of `h` into m layers h_1 .. h_m (1-based, h_1 applied first) on the scales
/// of a [`Scales`]; h_i is evaluated at a point through a [`Newton`] solve for g_{a_{i-1}}^-1.
///
/// ```
/// use nearid::{Matrix, SmoothMap, Vector};
/// use nearid::smooth::{ScalingDecomposition, Scales, Schedule};
/// /// The shear (x, y) -> (x + y^2 / 2, y): h(0) = 0, Dh(0) = I.
/// struct Shear;
/// impl SmoothMap<f64, 2> for Shear {
///     fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
///         Vector::<f64, 2>::new(x[0] + 0.5 * x[1] * x[1], x[1])
///     }
///     fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
///         Matrix::<f64, 2, 2>::new(1.0, x[1], 0.0, 1.0)
///     }
/// }
/// let dec = ScalingDecomposition::new(Shear, Scales::new(Schedule::Uniform, 16).unwrap());
/// let x = Vector::<f64, 2>::new(0.3, -0.6);
/// assert!((dec.compose(&x).unwrap() - Shear.value(&x)).norm() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScalingDecomposition<T, F> {
    /// The map h being decomposed.
    pub h: F,
    /// The scales a_0 .. a_m.
    pub scales: Scales<T>,
    /// The solver for g_a^-1.
    pub newton: Newton<T>,
}

impl<T: Real, F> ScalingDecomposition<T, F> {
    /// The decomposition of h on the given scales, with the default [`Newton`] settings.
    pub fn new(h: F, scales: Scales<T>) -> Self {
        Self {
            h,
            scales,
            newton: Newton::default(),
        }
    }

    /// m.
    pub fn layers(&self) -> usize {
        self.scales.layers()
    }

    /// g_{a_k} for k in 0..=m.
    pub fn g(&self, k: usize) -> Result<Scaled<'_, F, T>> {
        Ok(Scaled {
            h: &self.h,
            a: self.scales.scale(k)?,
        })
    }

    /// i in 1..=m, else [`Error::OutOfRange`].
    fn check_layer(&self, i: usize) -> Result<()> {
        if i == 0 || i > self.layers() {
            Err(Error::OutOfRange)
        } else {
            Ok(())
        }
    }
}

impl<T: Real, F> ScalingDecomposition<T, F> {
    /// g_{a_{i-1}}^-1(x) for layer i (the identity for i = 1), by Newton from `guess`.
    ///
    /// Errors (here and in every method that evaluates a layer): [`Error::OutOfRange`] for i
    /// outside 1..=m, [`Error::NonFinite`] for a non-finite point or a non-finite value of h,
    /// and those of [`Newton::invert`].
    pub fn preimage<const D: usize>(
        &self,
        i: usize,
        x: &Vector<T, D>,
        guess: Vector<T, D>,
    ) -> Result<Vector<T, D>>
    where
        F: SmoothMap<T, D>,
    {
        self.check_layer(i)?;
        finite(x)?;
        let g = self.g(i - 1)?;
        if g.a == T::zero() {
            return Ok(*x);
        }
        finite(&self.newton.invert(&g, x, guess)?)
    }

    /// h_i(x) = g_{a_i}(g_{a_{i-1}}^-1(x)) for i in 1..=m, the inverse by Newton started at x.
    pub fn layer<const D: usize>(&self, i: usize, x: &Vector<T, D>) -> Result<Vector<T, D>>
    where
        F: SmoothMap<T, D>,
    {
        let y = self.preimage(i, x, *x)?;
        self.layer_from_preimage(i, &y).map(|(_, out)| out)
    }

    /// For y in X: (g_{a_{i-1}}(y), g_{a_i}(y)), the input and output of layer i at the point
    /// whose preimage is y. No solve needed: this is how layer inputs are sampled.
    pub fn layer_from_preimage<const D: usize>(
        &self,
        i: usize,
        y: &Vector<T, D>,
    ) -> Result<(Vector<T, D>, Vector<T, D>)>
    where
        F: SmoothMap<T, D>,
    {
        self.check_layer(i)?;
        finite(y)?;
        Ok((
            finite(&self.g(i - 1)?.value(y))?,
            finite(&self.g(i)?.value(y))?,
        ))
    }

    /// D h_i at z = g_{a_{i-1}}(y): Dh(a_i y) Dh(a_{i-1} y)^-1 (the identity factor is
    /// Dg_0 = I), so D(h_i - Id)(z) is this minus I. [`Error::Singular`] when Dh(a_{i-1} y) is.
    pub fn layer_jacobian_at_preimage<const D: usize>(
        &self,
        i: usize,
        y: &Vector<T, D>,
    ) -> Result<Matrix<T, D, D>>
    where
        F: SmoothMap<T, D>,
    {
        self.check_layer(i)?;
        finite(y)?;
        let upper = self.g(i)?.jacobian(y);
        let lower = self.g(i - 1)?.jacobian(y);
        // J = U L^-1  <=>  L^T J^T = U^T: solve column by column.
        let lt = lower.transpose();
        let mut jt = Matrix::<T, D, D>::zeros();
        for c in 0..D {
            jt.set_column(c, &solve(&lt, &upper.row(c).transpose())?);
        }
        finite_matrix(&jt.transpose())
    }

    /// h_m o ... o h_1 (x), each layer evaluated on its own as [`Self::layer`] does (its Newton
    /// solve started at the layer's input, not at the previous layer's preimage, which would be
    /// the answer already and would make the composition g_1 = h by construction). Equals h(x)
    /// up to the solver tolerance; the first failing layer's error otherwise.
    pub fn compose<const D: usize>(&self, x: &Vector<T, D>) -> Result<Vector<T, D>>
    where
        F: SmoothMap<T, D>,
    {
        (1..=self.layers()).try_fold(*x, |z, i| self.layer(i, &z))
    }
}

/// v itself, or [`Error::NonFinite`] when an entry is NaN or infinite (inputs, and values a
/// user's h produced).
fn finite<T: Real, const D: usize>(v: &Vector<T, D>) -> Result<Vector<T, D>> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(*v)
    } else {
        Err(Error::NonFinite)
    }
}

fn finite_matrix<T: Real, const D: usize>(m: &Matrix<T, D, D>) -> Result<Matrix<T, D, D>> {
    if m.iter().all(|x| x.is_finite()) {
        Ok(*m)
    } else {
        Err(Error::NonFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smooth::Schedule;

    /// A smooth radial map on the plane: x (1 + |x|^2 / 4), h(0) = 0, Dh(0) = I.
    struct Radial;
    impl SmoothMap<f64, 2> for Radial {
        fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
            x * (1.0 + 0.25 * x.norm_squared())
        }
        fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
            Matrix::<f64, 2, 2>::identity() * (1.0 + 0.25 * x.norm_squared())
                + x * x.transpose() * 0.5
        }
    }

    #[test]
    fn layers_compose_to_h() {
        for schedule in [Schedule::Uniform, Schedule::Geometric(None)] {
            let dec = ScalingDecomposition::new(Radial, Scales::new(schedule, 12).unwrap());
            let x = Vector::<f64, 2>::new(0.7, -0.5);
            let mut z = x;
            for i in 1..=12 {
                z = dec.layer(i, &z).unwrap();
            }
            assert!((z - Radial.value(&x)).norm() < 1e-12);
            assert!((dec.compose(&x).unwrap() - Radial.value(&x)).norm() < 1e-12);
        }
    }

    #[test]
    fn layer_jacobian_matches_finite_differences() {
        let dec = ScalingDecomposition::new(Radial, Scales::new(Schedule::Uniform, 5).unwrap());
        let y = Vector::<f64, 2>::new(0.4, 0.9);
        let (z, _) = dec.layer_from_preimage(3, &y).unwrap();
        let j = dec.layer_jacobian_at_preimage(3, &y).unwrap();
        let h = 1e-6;
        for c in 0..2 {
            let mut e = Vector::<f64, 2>::zeros();
            e[c] = h;
            let fd =
                (dec.layer(3, &(z + e)).unwrap() - dec.layer(3, &(z - e)).unwrap()) / (2.0 * h);
            assert!((fd - j.column(c)).norm() < 1e-8);
        }
        assert_eq!(dec.layer(0, &y), Err(Error::OutOfRange));
        assert_eq!(dec.layer(6, &y), Err(Error::OutOfRange));
    }
}
