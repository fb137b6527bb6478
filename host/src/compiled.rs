//! The compiled network types the tool trains and runs, and the zero padding that fits a
//! user's shape into them exactly.
//!
//! The core's networks have const-generic sizes, so the tool is built for a fixed set:
//! `Net<T, 16, 16, H, 32, 8, S>` ([`Padded`] at [`CAPACITY`]) for T in {f32, Q16.16, Q4.12},
//! S in {ReLU, tanh, softplus} and H in [`HIDDEN`] (27 types; [`dispatch`] picks one from the
//! run-time values). A model of depth M in [`DEPTHS`] runs in the capacity-32 type with its
//! active depth set to M: the core runs, trains and clips only the first m blocks, so the rest
//! never run and never change (one type per depth would compile six times the code for the
//! same arithmetic). A model with D_in <= 16 inputs, D <= 16 wide blocks and D_out <= 8
//! outputs (or classes) runs in them with every padded entry zero, and the padding is exact:
//!
//! - a padded input x_k = 0 adds w_jk * 0 = 0 to every sum, and the gradient of w_jk is
//!   dz_j x_k = 0, so it never moves (fixed point: a zero gradient leaves a weight as it is);
//! - padded block rows and columns (D < 16) are zero: z_k = 0 stays 0 through every block
//!   (W2 and b2 are zero there), its backward signal is zero (its head column is zero), so no
//!   padded weight gets a gradient;
//! - a padded output row is zero, its target is 0, so its residual and its gradient are 0
//!   ([`nearid::Quadratic`]); for classification [`PaddedCrossEntropy`] takes the softmax
//!   over the first C logits only and gives the others a zero gradient.
//!
//! host/tests/train_cli.rs checks that padded weights stay exactly zero through training, and
//! that the trimmed result loads into the unpadded core type and predicts the same.

use crate::network::{ActivationName, Affine, Block, Network, ScalarName};
use nalgebra::{DMatrix, DVector};
use nearid::file::Stored;
use nearid::fixed::{Q12, Q16};
use nearid::loss::argmax;
use nearid::{Activation, Loss, Net, Relu, Scalar, Softplus, Tanh, Vector};

/// Inputs are padded to this many.
pub const INPUTS: usize = 16;
/// The blocks' width D of every compiled type (narrower blocks are padded).
pub const WIDTH: usize = 16;
/// Outputs (or classes) are padded to this many.
pub const OUTPUTS: usize = 8;
/// The hidden widths H compiled.
pub const HIDDEN: [usize; 3] = [16, 32, 64];
/// The depths M the tool runs.
pub const DEPTHS: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// The depth of the compiled type every depth runs in (the largest of [`DEPTHS`]).
pub const CAPACITY: usize = DEPTHS[DEPTHS.len() - 1];

/// A compiled network: 16 inputs, blocks of width 16, 8 outputs.
pub type Padded<T, S, const H: usize, const M: usize> = Net<T, INPUTS, WIDTH, H, M, OUTPUTS, S>;

/// A number type the tool runs: a [`Scalar`] the model file can hold.
pub trait Format: Stored {
    /// Its name.
    const NAME: ScalarName;
}
impl Format for f32 {
    const NAME: ScalarName = ScalarName::F32;
}
impl Format for Q16 {
    const NAME: ScalarName = ScalarName::Q16;
}
impl Format for Q12 {
    const NAME: ScalarName = ScalarName::Q12;
}

/// Work to do with one compiled type, chosen at run time by [`dispatch`].
pub trait Job {
    /// What it returns.
    type Output;
    /// Do it with `Padded<T, S, H, M>`.
    fn run<T: Format, S: Activation, const H: usize, const M: usize>(self) -> Self::Output;
}

/// Runs `job` with the compiled type for (scalar, activation, H) at [`CAPACITY`], or says
/// which of H and M is not compiled (the job sets the active depth M: [`to_padded`]).
pub fn dispatch<J: Job>(
    scalar: ScalarName,
    activation: ActivationName,
    hidden: usize,
    depth: usize,
    job: J,
) -> Result<J::Output, String> {
    check_sizes(hidden, depth)?;
    Ok(match scalar {
        ScalarName::F32 => by_activation::<f32, J>(activation, hidden, job),
        ScalarName::Q16 => by_activation::<Q16, J>(activation, hidden, job),
        ScalarName::Q12 => by_activation::<Q12, J>(activation, hidden, job),
    })
}

/// Ok when H is in [`HIDDEN`] and M in [`DEPTHS`]; else the one-line reason.
pub fn check_sizes(hidden: usize, depth: usize) -> Result<(), String> {
    if !HIDDEN.contains(&hidden) {
        return Err(format!(
            "hidden width {hidden} is not compiled (the tool runs H = 16, 32 or 64)"
        ));
    }
    if !DEPTHS.contains(&depth) {
        return Err(format!(
            "depth {depth} is not compiled (the tool runs M = 1, 2, 4, 8, 16 or 32)"
        ));
    }
    Ok(())
}

fn by_activation<T: Format, J: Job>(
    activation: ActivationName,
    hidden: usize,
    job: J,
) -> J::Output {
    match activation {
        ActivationName::Relu => by_hidden::<T, Relu, J>(hidden, job),
        ActivationName::Tanh => by_hidden::<T, Tanh, J>(hidden, job),
        ActivationName::Softplus => by_hidden::<T, Softplus, J>(hidden, job),
    }
}

fn by_hidden<T: Format, S: Activation, J: Job>(hidden: usize, job: J) -> J::Output {
    // `check_sizes` has passed: the last arm is 64.
    match hidden {
        16 => job.run::<T, S, 16, CAPACITY>(),
        32 => job.run::<T, S, 32, CAPACITY>(),
        _ => job.run::<T, S, 64, CAPACITY>(),
    }
}

/// Ok when the network's D_in, D and D_out fit the compiled type (H and M are checked by
/// [`dispatch`]).
pub fn check_fits(net: &Network) -> Result<(), String> {
    let (d_in, d, d_out) = (net.inputs(), net.width(), net.outputs());
    if d_in > INPUTS {
        return Err(format!(
            "{d_in} inputs, more than the {INPUTS} the tool is built for"
        ));
    }
    if d > WIDTH {
        return Err(format!(
            "blocks of width {d}, wider than the {WIDTH} the tool is built for"
        ));
    }
    if d_out > OUTPUTS {
        return Err(format!(
            "{d_out} outputs, more than the {OUTPUTS} the tool is built for"
        ));
    }
    Ok(())
}

/// The network zero-padded into the compiled type, every value converted with
/// `T::from_f64` (the caller has checked that they fit: [`crate::network::quantise`]); its
/// active depth is the network's m, so blocks past the network's own M (zero, and the
/// identity) never run.
pub fn to_padded<T: Format, S: Activation, const H: usize, const M: usize>(
    net: &Network,
) -> Padded<T, S, H, M> {
    let mut p = <Padded<T, S, H, M> as nearid::Trainable<T>>::zeros();
    let put = |dst: &mut [T], rows_dst: usize, src: &DMatrix<f64>| {
        // Column-major on both sides.
        for c in 0..src.ncols() {
            for r in 0..src.nrows() {
                dst[c * rows_dst + r] = T::from_f64(src[(r, c)]);
            }
        }
    };
    let col = |v: &DVector<f64>| DMatrix::from_column_slice(v.len(), 1, v.as_slice());
    put(p.input.w.as_mut_slice(), WIDTH, &net.stem.w);
    put(p.input.b.as_mut_slice(), WIDTH, &col(&net.stem.b));
    for (dst, src) in p.blocks.blocks.iter_mut().zip(&net.blocks) {
        put(dst.w1.as_mut_slice(), H, &src.w1);
        put(dst.b1.as_mut_slice(), H, &col(&src.b1));
        put(dst.w2.as_mut_slice(), WIDTH, &src.w2);
        put(dst.b2.as_mut_slice(), WIDTH, &col(&src.b2));
    }
    put(p.output.w.as_mut_slice(), OUTPUTS, &net.head.w);
    put(p.output.b.as_mut_slice(), OUTPUTS, &col(&net.head.b));
    // `Network::check` keeps m <= the network's M <= M ([`check_sizes`]).
    let _ = p.blocks.set_active_depth(net.active_depth().min(M));
    p
}

/// The compiled network trimmed to `shape`'s D_in, D, M and D_out (its H), exactly.
pub fn from_padded<T: Format, S: Activation, const H: usize, const M: usize>(
    p: &Padded<T, S, H, M>,
    shape: &Network,
) -> Network {
    let (d_in, d, d_out) = (shape.inputs(), shape.width(), shape.outputs());
    let m = |rows: usize, cols: usize, f: &dyn Fn(usize, usize) -> T| {
        DMatrix::from_fn(rows, cols, |r, c| f(r, c).to_f64())
    };
    let v = |n: usize, f: &dyn Fn(usize) -> T| DVector::from_fn(n, |i, _| f(i).to_f64());
    let (active, depth) = (p.blocks.active_depth(), shape.depth().min(M));
    Network {
        config: crate::network::Config {
            active_depth: (active < depth).then_some(active),
            ..shape.config.clone()
        },
        stem: Affine {
            w: m(d, d_in, &|r, c| p.input.w[(r, c)]),
            b: v(d, &|i| p.input.b[i]),
        },
        blocks: p
            .blocks
            .blocks
            .iter()
            .take(depth)
            .map(|b| Block {
                w1: m(H, d, &|r, c| b.w1[(r, c)]),
                b1: v(H, &|i| b.b1[i]),
                w2: m(d, H, &|r, c| b.w2[(r, c)]),
                b2: v(d, &|i| b.b2[i]),
            })
            .collect(),
        head: Affine {
            w: m(d_out, d, &|r, c| p.output.w[(r, c)]),
            b: v(d_out, &|i| p.output.b[i]),
        },
    }
}

/// True when every padded entry of `p` (outside `shape`'s D_in, D, D_out) is exactly zero.
pub fn padding_is_zero<T: Format, S: Activation, const H: usize, const M: usize>(
    p: &Padded<T, S, H, M>,
    shape: &Network,
) -> bool {
    let (d_in, d, d_out) = (shape.inputs(), shape.width(), shape.outputs());
    let zero = |x: T| x == T::ZERO;
    let stem = (0..WIDTH).all(|r| {
        (0..INPUTS).all(|c| (r < d && c < d_in) || zero(p.input.w[(r, c)]))
            && (r < d || zero(p.input.b[r]))
    });
    let blocks = p.blocks.blocks.iter().all(|b| {
        (0..WIDTH).all(|k| {
            k < d || ((0..H).all(|j| zero(b.w1[(j, k)]) && zero(b.w2[(k, j)])) && zero(b.b2[k]))
        })
    });
    let head = (0..OUTPUTS).all(|r| {
        (0..WIDTH).all(|c| (r < d_out && c < d) || zero(p.output.w[(r, c)]))
            && (r < d_out || zero(p.output.b[r]))
    });
    stem && blocks && head
}

/// A classification target for padded logits: the class, and how many of the logits are
/// classes (the rest are padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// The class, 0 .. classes - 1.
    pub class: usize,
    /// C, the number of classes (<= the logits).
    pub classes: usize,
}

/// Softmax cross-entropy over the first C of O logits ([`Class`]): exactly the core's
/// [`nearid::CrossEntropy`] over C logits (the same expressions in the same order), with a
/// zero gradient for the padded logits, so they never train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaddedCrossEntropy;

impl PaddedCrossEntropy {
    /// (m, e_i = e^(y^_i - m) for i < C, s = sum_i e_i), as the core computes them.
    fn exponentials<T: Scalar, const O: usize>(logits: &Vector<T, O>, c: usize) -> (T, [T; O], T) {
        let m = logits
            .iter()
            .take(c)
            .copied()
            .reduce(T::max)
            .unwrap_or(T::ZERO);
        let mut e = [T::ZERO; O];
        for i in 0..c.min(O) {
            e[i] = (logits[i] - m).exp();
        }
        let s = e[..c.min(O)].iter().fold(T::ZERO, |s, &e| s + e);
        (m, e, s)
    }
}

impl<T: Scalar, const O: usize> Loss<T, O> for PaddedCrossEntropy {
    type Target = Class;

    fn valid(t: &Class) -> bool {
        t.classes <= O && t.class < t.classes
    }

    fn value(logits: &Vector<T, O>, t: &Class) -> T {
        let (m, _, s) = Self::exponentials(logits, t.classes);
        let c = logits.get(t.class).copied().unwrap_or(m);
        (m - c) + (s - T::ONE).ln_1p()
    }

    fn gradient(logits: &Vector<T, O>, t: &Class, scale: T) -> Vector<T, O> {
        let (_, e, s) = Self::exponentials(logits, t.classes);
        Vector::from_fn(|i, _| {
            if i >= t.classes {
                return T::ZERO;
            }
            let p = e[i] / s;
            let g = if i == t.class { p - T::ONE } else { p };
            g * scale
        })
    }

    fn correct(logits: &Vector<T, O>, t: &Class) -> bool {
        first_argmax(logits, t.classes) == t.class
    }
}

/// The index of the first largest of the first `c` entries.
pub fn first_argmax<T: Scalar, const O: usize>(v: &Vector<T, O>, c: usize) -> usize {
    if c >= O {
        return argmax(v);
    }
    let mut best = 0;
    for i in 1..c {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}
