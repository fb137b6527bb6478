//! One residual block, y = x + W2 s(W1 x + b1) + b2 (He et al. 2016; the "x + A_i sigma(B_i x)"
//! units of BEL, docs/THEORY.md section 4), and its backward pass.

use core::marker::PhantomData;

use crate::batch::batched;
use crate::batch::{base_plus_mat_t_mat, mat_mat_add};
use crate::fixed::Dither;
use crate::kernels::{base_plus_mat_t_vec, mat_vec_add, sgd_bias, sgd_outer};
use crate::scalar::{VECTOR_UNITS, is_float};
use crate::sgd::add_symmetric;
use crate::{Activation, Matrix, Model, Relu, Rng, Scalar, Vector, zeros};

/// y = x + W2 s(W1 x + b1) + b2 with x, y: (D), hidden width H, activation `S`.
///
/// All-zero parameters give exactly the identity map ([`Model::zeros`]).
///
/// ```
/// use nearid::{Model, ResidualBlock, Vector};
/// let block = ResidualBlock::<f64, 2, 4>::identity();
/// let x = Vector::<f64, 2>::new(1.0, -2.0);
/// assert_eq!(block.forward(&x), Ok(x));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResidualBlock<T: Scalar, const D: usize, const H: usize, S = Relu> {
    /// (H, D)
    pub w1: Matrix<T, H, D>,
    /// (H)
    pub b1: Vector<T, H>,
    /// (D, H)
    pub w2: Matrix<T, D, H>,
    /// (D)
    pub b2: Vector<T, D>,
    activation: PhantomData<S>,
}

/// What one block records for one sample: its input and hidden activations (forward), and the
/// backward signals dL/dy and dL/dz.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTape<T: Scalar, const D: usize, const H: usize> {
    /// x, the block's input: (D)
    pub x: Vector<T, D>,
    /// a = s(W1 x + b1): (H)
    pub a: Vector<T, H>,
    /// dL/dy, the signal arriving at the block's output: (D)
    pub dy: Vector<T, D>,
    /// dL/dz for z = W1 x + b1: (H)
    pub dz: Vector<T, H>,
}

impl<T: Scalar, const D: usize, const H: usize> BlockTape<T, D, H> {
    /// A tape of zeros.
    pub fn zeros() -> Self {
        Self {
            x: zeros(),
            a: zeros(),
            dy: zeros(),
            dz: zeros(),
        }
    }
}

impl<T: Scalar, const D: usize, const H: usize, S: Activation> ResidualBlock<T, D, H, S> {
    /// Bytes of parameters: (2 D H + D + H) scalars.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();

    /// A block from its parameters.
    pub fn new(
        w1: Matrix<T, H, D>,
        b1: Vector<T, H>,
        w2: Matrix<T, D, H>,
        b2: Vector<T, D>,
    ) -> Self {
        Self {
            w1,
            b1,
            w2,
            b2,
            activation: PhantomData,
        }
    }

    /// The exact identity map: every parameter zero. With ReLU this is a dead start (a = 0, so
    /// only b2 gets a gradient); train from [`ResidualBlock::identity_init`] instead.
    pub fn identity() -> Self {
        Self::new(zeros(), zeros(), zeros(), zeros())
    }

    /// Exactly the identity map, and trainable: W1 ~ N(0, scale^2) from the seeded generator,
    /// W2 = 0 and both biases 0, so the residual W2 s(W1 x + b1) + b2 is zero but its gradient
    /// dL/dW2 = dy s(W1 x)^T is not (the "zero last layer" start of Fixup and Goyal et al.).
    pub fn identity_init(rng: &mut Rng, scale: f64) -> Self {
        let mut b = Self::identity();
        b.w1.iter_mut()
            .for_each(|w| *w = T::from_f64(scale * rng.normal()));
        b
    }

    /// [`Model::apply`] for a batch of B samples with the batch kernels of [`crate::batch`]
    /// (each layer once per batch): the same results to the bit.
    pub fn apply_batch<const B: usize>(&self, xs: &[Vector<T, D>; B]) -> [Vector<T, D>; B] {
        // z = W1 x + b1: (H) per sample; a = s(z)
        let mut zs = [self.b1; B];
        mat_mat_add(&self.w1, xs, &mut zs);
        let activations = zs.map(|z| z.map(S::apply));
        // y = x + b2 + W2 a: (D) per sample
        let mut ys = xs.map(|x| x + self.b2);
        mat_mat_add(&self.w2, &activations, &mut ys);
        ys
    }

    /// [`Model::forward_tape`] for a batch of B samples with the batch kernels of
    /// [`crate::batch`], `tapes[b]` recording sample b: the same tapes and outputs to the bit.
    pub fn forward_tape_batch<const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tapes: [&mut BlockTape<T, D, H>; B],
    ) -> [Vector<T, D>; B] {
        let mut zs = [self.b1; B];
        mat_mat_add(&self.w1, xs, &mut zs);
        let activations = zs.map(|z| z.map(S::apply));
        let mut ys = xs.map(|x| x + self.b2);
        mat_mat_add(&self.w2, &activations, &mut ys);
        for ((tape, x), a) in tapes.into_iter().zip(xs).zip(&activations) {
            tape.x = *x;
            tape.a = *a;
        }
        ys
    }

    /// [`Model::backward`] for a batch of B samples with the batch kernels of [`crate::batch`]:
    /// given dL/dy of each sample, fills `tapes[b]` with its signals and returns each dL/dx,
    /// the same to the bit.
    pub fn backward_batch<const B: usize>(
        &self,
        dys: &[Vector<T, D>; B],
        mut tapes: [&mut BlockTape<T, D, H>; B],
    ) -> [Vector<T, D>; B] {
        // da = W2^T dy: (H) per sample; dz = da * s'(z)
        let mut das = [zeros::<T, H, 1>(); B];
        base_plus_mat_t_mat(&self.w2, dys, &mut das);
        let dzs: [Vector<T, H>; B] =
            core::array::from_fn(|b| das[b].zip_map(&tapes[b].a, S::backward_from_output));
        // dx = dy + W1^T dz: (D) per sample
        let mut dxs = *dys;
        base_plus_mat_t_mat(&self.w1, &dzs, &mut dxs);
        for ((tape, dy), dz) in tapes.iter_mut().zip(dys).zip(&dzs) {
            tape.dy = *dy;
            tape.dz = *dz;
        }
        dxs
    }

    /// [`Model::sgd_plain`] from one tape per sample, in the order of [`Model::tensor`]:
    /// dW1 = dz x^T, db1 = dz, dW2 = dy a^T, db2 = dy (summed over the batch).
    pub fn sgd_plain_from<const B: usize>(
        &mut self,
        tapes: &[&BlockTape<T, D, H>; B],
        eta: T,
        dither: &mut Dither,
    ) {
        if by_hidden_unit::<T>() {
            self.sgd_plain_by_unit(tapes, eta);
            return;
        }
        let (dz, dy) = (tapes.map(|t| &t.dz), tapes.map(|t| &t.dy));
        sgd_outer(&mut self.w1, &dz, &tapes.map(|t| &t.x), eta, dither);
        sgd_bias(&mut self.b1, &dz, eta, dither);
        sgd_outer(&mut self.w2, &dy, &tapes.map(|t| &t.a), eta, dither);
        sgd_bias(&mut self.b2, &dy, eta, dither);
    }

    /// [`Model::forward_tape`] one hidden unit at a time: z_j = b1_j + W1[j, :] x, a_j = s(z_j),
    /// y += W2[:, j] a_j, so each weight is read once and z_j, a_j stay in registers. Every
    /// sum runs in the order of the column kernels ([`mat_vec_add`]: k = 0, 1, ... for z_j,
    /// j = 0, 1, ... for y), each term of z_j added as one entry of [`Scalar::axpy`]
    /// ([`Scalar::add_product`]) and y's as [`Scalar::axpy`] itself: the same bits as the
    /// column kernels in every format. The forward pass on targets without vector units.
    pub fn forward_tape_by_unit(
        &self,
        x: &Vector<T, D>,
        tape: &mut BlockTape<T, D, H>,
    ) -> Vector<T, D> {
        tape.x = *x;
        let mut y = x + self.b2;
        for j in 0..H {
            let z = (0..D).fold(self.b1[j], |z, k| z.add_product(x[k], self.w1[(j, k)]));
            let a = S::apply(z);
            tape.a[j] = a;
            // y += a W2[:, j]: the column kernel's axpy (fixed point skips a dead unit's a = 0).
            T::axpy(a, self.w2.column(j).as_slice(), y.as_mut_slice());
        }
        y
    }

    /// [`Model::backward`] one hidden unit at a time: da_j = W2[:, j] . dy, dz_j = da_j s'(a_j),
    /// then W1^T dz accumulated row by row (acc_k += W1[j, k] dz_j, j = 0, 1, ...) and added
    /// to dy: each weight read once, the order of the column kernels' in-order dot products
    /// ([`base_plus_mat_t_vec`] on targets without vector units), the same bits wherever
    /// [`Scalar::dot`] is the plain fold (floats on targets without vector units).
    #[inline(never)]
    pub fn backward_by_unit(
        &self,
        dy: &Vector<T, D>,
        tape: &mut BlockTape<T, D, H>,
    ) -> Vector<T, D> {
        tape.dy = *dy;
        let mut acc = zeros::<T, D, 1>();
        for j in 0..H {
            let da = (0..D).fold(T::ZERO, |s, k| s + self.w2[(k, j)] * dy[k]);
            let dz = S::backward_from_output(da, tape.a[j]);
            tape.dz[j] = dz;
            for k in 0..D {
                acc[k] += self.w1[(j, k)] * dz;
            }
        }
        dy + acc
    }

    /// [`ResidualBlock::sgd_plain_from`] one hidden unit at a time: W1's row j and b1_j share
    /// the signal dz_j (loaded once), W2's column j takes a_j. Each weight gets the expression of
    /// [`Scalar::sgd_column`] on targets without vector units, w - sum_b (eta v_b) u_b summed
    /// from b = 0 (a bias's v_b = 1), and the weights' updates are independent of each other:
    /// the same bits in another order (floats only, [`by_hidden_unit`]; fixed point's dither
    /// must be drawn in the column order).
    fn sgd_plain_by_unit<const B: usize>(&mut self, tapes: &[&BlockTape<T, D, H>; B], eta: T) {
        let step = |a: [T; B], u: [T; B]| (1..B).fold(a[0] * u[0], |s, b| s + a[b] * u[b]);
        // eta v_b for W1's columns (v = x), W2's columns (v = a) and the biases (v = 1).
        let ax: [[T; B]; D] = core::array::from_fn(|k| tapes.map(|t| eta * t.x[k]));
        let one = [eta * T::ONE; B];
        for j in 0..H {
            let dz = tapes.map(|t| t.dz[j]);
            for (k, ax) in ax.iter().enumerate() {
                self.w1[(j, k)] -= step(*ax, dz);
            }
            self.b1[j] -= step(one, dz);
        }
        for j in 0..H {
            let aa = tapes.map(|t| eta * t.a[j]);
            for k in 0..D {
                self.w2[(k, j)] -= step(aa, tapes.map(|t| t.dy[k]));
            }
        }
        for k in 0..D {
            self.b2[k] -= step(one, tapes.map(|t| t.dy[k]));
        }
    }

    /// Adds this block's part of [`Model::grad_norm_sq`] to `total`, from one tape per sample,
    /// in the order of [`Model::tensor`]: W1 (dz, x), b1 (dz), W2 (dy, a), b2 (dy).
    pub fn add_grad_norm_sq<const B: usize>(tapes: &[&BlockTape<T, D, H>; B], total: &mut T) {
        let (dz, x) = (
            tapes.map(|t| t.dz.as_slice()),
            tapes.map(|t| t.x.as_slice()),
        );
        let (dy, a) = (
            tapes.map(|t| t.dy.as_slice()),
            tapes.map(|t| t.a.as_slice()),
        );
        add_symmetric::<T, B>(total, |b, c| T::dot_times_dot(dz[b], dz[c], x[b], x[c]));
        add_symmetric::<T, B>(total, |b, c| T::dot(dz[b], dz[c]));
        add_symmetric::<T, B>(total, |b, c| T::dot_times_dot(dy[b], dy[c], a[b], a[c]));
        add_symmetric::<T, B>(total, |b, c| T::dot(dy[b], dy[c]));
    }

    /// Weights drawn from N(0, scale^2) by the seeded generator, biases zero.
    pub fn random(rng: &mut Rng, scale: f64) -> Self {
        let mut b = Self::identity();
        b.w1.iter_mut()
            .chain(b.w2.iter_mut())
            .for_each(|w| *w = T::from_f64(scale * rng.normal()));
        b
    }
}

/// True for floats on targets without vector units ([`VECTOR_UNITS`]): there `dot` and `axpy`
/// are the plain in-order folds of `+` and `*`, so a block may walk its hidden units one by one
/// ([`ResidualBlock::forward_tape_by_unit`], [`ResidualBlock::backward_by_unit`]) with the same
/// bits as the column kernels, in fewer instructions (each hidden value stays in a register).
/// Fixed point accumulates wide inside its kernels and keeps them.
fn by_hidden_unit<T: Scalar>() -> bool {
    !VECTOR_UNITS && is_float::<T>()
}

impl<T: Scalar, const D: usize, const H: usize, S: Activation> Model<T, D>
    for ResidualBlock<T, D, H, S>
{
    type Tape = BlockTape<T, D, H>;
    const TENSORS: usize = 4;

    fn new_tape() -> Self::Tape {
        BlockTape::zeros()
    }

    fn zeros() -> Self {
        Self::identity()
    }

    fn tensor(&self, i: usize) -> &[T] {
        match i {
            0 => self.w1.as_slice(),
            1 => self.b1.as_slice(),
            2 => self.w2.as_slice(),
            3 => self.b2.as_slice(),
            _ => &[],
        }
    }

    fn tensor_mut(&mut self, i: usize) -> &mut [T] {
        match i {
            0 => self.w1.as_mut_slice(),
            1 => self.b1.as_mut_slice(),
            2 => self.w2.as_mut_slice(),
            3 => self.b2.as_mut_slice(),
            _ => &mut [],
        }
    }

    fn grad_factors(tape: &Self::Tape, i: usize) -> (&[T], Option<&[T]>) {
        match i {
            0 => (tape.dz.as_slice(), Some(tape.x.as_slice())), // dW1 = dz x^T
            1 => (tape.dz.as_slice(), None),                    // db1 = dz
            2 => (tape.dy.as_slice(), Some(tape.a.as_slice())), // dW2 = dy a^T
            3 => (tape.dy.as_slice(), None),                    // db2 = dy
            _ => (&[], None),
        }
    }

    /// With the shapes fixed by the types ([`ResidualBlock::sgd_plain_from`]); B > 1 floats on
    /// desktop targets take the batch kernels of the default.
    fn sgd_plain<const B: usize>(&mut self, tapes: &[Self::Tape; B], eta: T, dither: &mut Dither) {
        if batched::<T, B>() {
            crate::sgd::plain_update::<T, Self, D, B>(self, tapes, eta, dither);
        } else {
            self.sgd_plain_from(&tapes.each_ref(), eta, dither);
        }
    }

    /// With the lengths fixed by the types ([`ResidualBlock::add_grad_norm_sq`]); B > 1 floats
    /// on desktop targets take the Gram kernels of the default.
    fn grad_norm_sq<const B: usize>(tapes: &[Self::Tape; B]) -> T {
        if batched::<T, B>() {
            return crate::sgd::grad_norm_sq::<T, Self, D, B>(tapes);
        }
        let mut total = T::ZERO;
        Self::add_grad_norm_sq(&tapes.each_ref(), &mut total);
        total
    }

    fn apply(&self, x: &Vector<T, D>) -> Vector<T, D> {
        let mut tape = BlockTape::zeros();
        self.forward_tape(x, &mut tape)
    }

    fn forward_tape(&self, x: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D> {
        if !VECTOR_UNITS {
            return self.forward_tape_by_unit(x, tape);
        }
        tape.x = *x;
        // z = W1 x + b1: (H); a = s(z)
        let mut z = self.b1;
        mat_vec_add(&self.w1, x, &mut z);
        tape.a = z.map(S::apply);
        // y = x + b2 + W2 a: (D)
        let mut y = x + self.b2;
        mat_vec_add(&self.w2, &tape.a, &mut y);
        y
    }

    fn backward(&self, dy: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D> {
        if by_hidden_unit::<T>() {
            return self.backward_by_unit(dy, tape);
        }
        tape.dy = *dy;
        // dz = (W2^T dy) * s'(z): (H)
        let da = base_plus_mat_t_vec(&self.w2, dy, &zeros());
        tape.dz = da.zip_map(&tape.a, S::backward_from_output);
        // dx = dy + W1^T dz: (D), the skip connection carries dy through unchanged.
        base_plus_mat_t_vec(&self.w1, &tape.dz, dy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The by-unit passes against the column kernels on values whose sums are exact in f32
    /// (multiples of 1/8 below 2^10), so any summation order gives the same bits and the test
    /// checks the indexing; the order itself is the column kernels' on targets without vector
    /// units, where the firmware's QEMU runs compare the trained weights' loss.
    fn by_unit_matches_the_column_kernels<const D: usize, const H: usize>() {
        let mut rng = Rng::new(5);
        let mut eighth = || (rng.normal() * 16.0).round() as f32 / 8.0;
        let mut block = ResidualBlock::<f32, D, H>::identity();
        for i in 0..4 {
            block.tensor_mut(i).iter_mut().for_each(|w| *w = eighth());
        }
        let x = Vector::<f32, D>::from_fn(|_, _| eighth());
        let dy = Vector::<f32, D>::from_fn(|_, _| eighth());
        let (mut by_unit, mut by_column) = (BlockTape::zeros(), BlockTape::zeros());
        let y = block.forward_tape_by_unit(&x, &mut by_unit);
        assert_eq!(y, block.forward_tape(&x, &mut by_column));
        let dx = block.backward_by_unit(&dy, &mut by_unit);
        assert_eq!(dx, block.backward(&dy, &mut by_column));
        assert_eq!(by_unit, by_column);
        assert!(by_unit.a.iter().any(|&a| a > 0.0) && by_unit.dz.iter().any(|&d| d != 0.0));
    }

    /// The by-unit forward pass against the column kernels in Q4.12, where both round every
    /// product (one entry of `axpy` each) in the same order: the same bits, saturations included.
    #[test]
    fn by_unit_forward_matches_the_column_kernels_in_fixed_point() {
        use crate::fixed::{Q12, saturation};
        let mut rng = Rng::new(8);
        let mut block = ResidualBlock::<Q12, 3, 16>::identity();
        for i in 0..4 {
            block
                .tensor_mut(i)
                .iter_mut()
                .for_each(|w| *w = Q12::from_f64(1.5 * rng.normal()));
        }
        let mut saturated = 0;
        for _ in 0..50 {
            let x = Vector::<Q12, 3>::from_fn(|_, _| Q12::from_f64(2.0 * rng.normal()));
            let (mut by_unit, mut by_column) = (BlockTape::zeros(), BlockTape::zeros());
            let before = saturation::count(saturation::Format::Q12);
            let y = block.forward_tape_by_unit(&x, &mut by_unit);
            let counted = saturation::count(saturation::Format::Q12) - before;
            let before = saturation::count(saturation::Format::Q12);
            assert_eq!(y, block.forward_tape(&x, &mut by_column));
            assert_eq!(by_unit, by_column);
            assert_eq!(counted, saturation::count(saturation::Format::Q12) - before);
            saturated += counted;
        }
        assert!(
            saturated > 0,
            "no sample reached the range: the counts were not compared"
        );
    }

    #[test]
    fn by_unit_passes_match_the_column_kernels() {
        by_unit_matches_the_column_kernels::<3, 16>();
        by_unit_matches_the_column_kernels::<5, 7>();
        by_unit_matches_the_column_kernels::<1, 1>();
    }
}
