//! Activations s in a residual block x + W2 s(W1 x + b1) + b2.
//!
//! Each activation is a zero-sized type, so the choice costs nothing at run time. The backward
//! pass needs s'(z); every activation here can give it from the output a = s(z) alone, so the
//! tape stores only a (H values per block), never z:
//!
//! | activation | s(z)            | s'(z) from a = s(z) |
//! |------------|-----------------|---------------------|
//! | [`Relu`]     | max(z, 0)       | 1 if a > 0 else 0   |
//! | [`Tanh`]     | tanh z          | 1 - a^2             |
//! | [`Softplus`] | ln(1 + e^z)     | 1 - e^(-a) (the logistic sigmoid of z) |
//! | [`Identity`] | z               | 1                   |
//!
//! ReLU is what networks train with; the smooth ones (tanh, softplus) are what the theory of
//! docs/THEORY.md sections 4-5 assumes (Dh Lipschitz).

use crate::Scalar;

/// An elementwise activation whose derivative is a function of its output.
pub trait Activation: Copy + Default + core::fmt::Debug + 'static {
    /// True when s is continuously differentiable (the smooth-map theory needs it).
    const SMOOTH: bool;
    /// Its code in model files ([`crate::file`]).
    const ID: u8;
    /// Its name in reports and files, as the `nearid` tool spells it.
    const NAME: &'static str;
    /// s(z).
    fn apply<T: Scalar>(z: T) -> T;
    /// s'(z), given a = s(z).
    fn derivative_from_output<T: Scalar>(a: T) -> T;
    /// g s'(z), given a = s(z): a backward signal through the activation.
    #[inline]
    fn backward_from_output<T: Scalar>(g: T, a: T) -> T {
        g * Self::derivative_from_output(a)
    }
}

/// max(z, 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

impl Activation for Relu {
    const SMOOTH: bool = false;
    const ID: u8 = 1;
    const NAME: &'static str = "relu";
    #[inline]
    fn apply<T: Scalar>(z: T) -> T {
        if z > T::ZERO { z } else { T::ZERO }
    }
    #[inline]
    fn derivative_from_output<T: Scalar>(a: T) -> T {
        if a > T::ZERO { T::ONE } else { T::ZERO }
    }
    /// A select where the default multiplies by 1 or 0: the same value (g 1 = g exactly, in
    /// floats and fixed point; g 0 kept, so an infinite g still gives NaN), one multiply
    /// fewer per active unit.
    #[inline]
    fn backward_from_output<T: Scalar>(g: T, a: T) -> T {
        if a > T::ZERO { g } else { g * T::ZERO }
    }
}

/// tanh z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tanh;

impl Activation for Tanh {
    const SMOOTH: bool = true;
    const ID: u8 = 2;
    const NAME: &'static str = "tanh";
    #[inline]
    fn apply<T: Scalar>(z: T) -> T {
        z.tanh()
    }
    #[inline]
    fn derivative_from_output<T: Scalar>(a: T) -> T {
        T::ONE - a * a
    }
}

/// ln(1 + e^z), computed as max(z, 0) + ln(1 + e^-|z|) so large |z| neither overflows nor
/// loses the linear part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Softplus;

impl Activation for Softplus {
    const SMOOTH: bool = true;
    const ID: u8 = 3;
    const NAME: &'static str = "softplus";
    #[inline]
    fn apply<T: Scalar>(z: T) -> T {
        Relu::apply(z) + (-z.abs()).exp().ln_1p()
    }
    #[inline]
    fn derivative_from_output<T: Scalar>(a: T) -> T {
        // s(z) = ln(1 + e^z)  =>  e^-s = 1 / (1 + e^z) = 1 - sigmoid(z).
        T::ONE - (-a).exp()
    }
}

/// s(z) = z: a residual block with it is x + W2 (W1 x + b1) + b2, useful in tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity;

impl Activation for Identity {
    const SMOOTH: bool = true;
    const ID: u8 = 4;
    const NAME: &'static str = "identity";
    #[inline]
    fn apply<T: Scalar>(z: T) -> T {
        z
    }
    #[inline]
    fn derivative_from_output<T: Scalar>(_a: T) -> T {
        T::ONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// s'(z) from the output against a central difference of s, on a table of points.
    fn check<S: Activation>() {
        for &z in &[-6.0f64, -2.0, -0.7, -0.1, 0.1, 0.3, 1.0, 2.5, 8.0] {
            let h = 1e-6;
            let fd = (S::apply(z + h) - S::apply(z - h)) / (2.0 * h);
            let d = S::derivative_from_output(S::apply(z));
            assert!(
                (fd - d).abs() < 1e-8,
                "{:?} at {z}: {d} vs {fd}",
                S::default()
            );
        }
    }

    #[test]
    fn derivatives_from_outputs_match_finite_differences() {
        check::<Relu>();
        check::<Tanh>();
        check::<Softplus>();
        check::<Identity>();
    }

    /// ReLU's select against the default g s'(a), bit for bit, on signed zeros, infinities
    /// and NaN in f32 and on Q4.12 values up to its range.
    #[test]
    fn relu_backward_is_the_product_with_its_derivative() {
        let special = [
            0.0f32,
            -0.0,
            1.5,
            -2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        for &g in &special {
            for &a in &[-1.0f32, 0.0, -0.0, 2.0, f32::NAN] {
                let (select, product) = (
                    Relu::backward_from_output(g, a),
                    g * Relu::derivative_from_output(a),
                );
                let same =
                    select.to_bits() == product.to_bits() || (select.is_nan() && product.is_nan());
                assert!(same, "g = {g}, a = {a}: {select} vs {product}");
            }
        }
        use crate::fixed::Q12;
        for &g in &[-8.0, -3.25, -0.000244140625, 0.0, 0.5, 7.999755859375] {
            for &a in &[-1.0, 0.0, 0.25] {
                let (g, a) = (Q12::from_f64(g), Q12::from_f64(a));
                let product = g * Relu::derivative_from_output(a);
                assert_eq!(Relu::backward_from_output(g, a), product);
            }
        }
    }

    #[test]
    fn softplus_is_stable_at_large_arguments() {
        assert_eq!(Softplus::apply(1000.0f64), 1000.0);
        assert!(Softplus::apply(-1000.0f64) >= 0.0);
        assert!(Softplus::apply(1000.0f32).is_finite());
    }
}
