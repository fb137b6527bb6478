//! Growing depth while training: insert a residual block that is exactly the identity when
//! the loss stops falling, up to the network's capacity (BEL's argument, docs/THEORY.md
//! section 5: stationary points of the risk over near-identity compositions are global minima,
//! so a stall inside one architecture is a reason to try a deeper one).
//!
//! - [`Grow`]: networks whose active depth m can rise to their capacity M ([`crate::ResNet`],
//!   [`crate::Net`]); a new block has W2 = 0 and b2 = 0, so the network's outputs do not change
//!   at the insertion, and a random W1, so the block gets a gradient at once.
//! - [`Stall`]: the rule that says when: the mean loss of each window of `window` steps against
//!   the window before; a relative improvement below `threshold` is a stall.
//! - [`block_gradient_norms_sq`]: each block's share of ||grad L||^2, for inserting after the
//!   block with the largest gradient.

use crate::model::GradientVisitor;
use crate::{Activation, Matrix, Net, ResNet, Result, Rng, Scalar, Trainable, Vector};

/// A network that grows one block at a time, from its active depth up to its capacity.
pub trait Grow {
    /// m, the blocks in use.
    fn active_depth(&self) -> usize;
    /// M, the most blocks it can hold.
    fn capacity(&self) -> usize;
    /// Inserts, before block `position` (0 ..= m), a block that computes exactly the identity
    /// and has a random W1 (N(0, scale^2)) ([`crate::ResNet::grow`]).
    fn grow(&mut self, position: usize, rng: &mut Rng, scale: f64) -> Result<()>;
    /// Inserts an all-zero block (for buffers shaped like the network, such as momentum).
    fn grow_zero(&mut self, position: usize) -> Result<()>;
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation> Grow
    for ResNet<T, D, H, M, S>
{
    fn active_depth(&self) -> usize {
        ResNet::active_depth(self)
    }
    fn capacity(&self) -> usize {
        M
    }
    fn grow(&mut self, position: usize, rng: &mut Rng, scale: f64) -> Result<()> {
        ResNet::grow(self, position, rng, scale)
    }
    fn grow_zero(&mut self, position: usize) -> Result<()> {
        ResNet::grow_zero(self, position)
    }
}

impl<T, const I: usize, const D: usize, const H: usize, const M: usize, const O: usize, S, P, Q>
    Grow for Net<T, I, D, H, M, O, S, P, Q>
where
    T: Scalar,
    S: Activation,
{
    fn active_depth(&self) -> usize {
        self.blocks.active_depth()
    }
    fn capacity(&self) -> usize {
        M
    }
    fn grow(&mut self, position: usize, rng: &mut Rng, scale: f64) -> Result<()> {
        self.blocks.grow(position, rng, scale)
    }
    fn grow_zero(&mut self, position: usize) -> Result<()> {
        self.blocks.grow_zero(position)
    }
}

/// The stall rule: the loss is averaged over windows of `window` steps, and after each window
/// the relative improvement r = (previous - current) / previous of its mean over the previous
/// window's is compared with `threshold`; r < threshold is a stall. The first window only sets
/// the reference. After a growth ([`Stall::restart`]) the comparison starts again, so a
/// network is given one whole window at its new depth before it can stall.
///
/// Noise in the loss makes r noisy: with a window of n steps and losses of relative standard
/// deviation s, r has a standard deviation of about s sqrt(2 / n), which the threshold should
/// exceed (s = 1 and n = 100 give 0.14). Below it the rule fires on noise: the firmware's
/// `grow` runs (batch 1, windows of 10 steps on the micro:bit, threshold 0.05) fire at about
/// half the comparisons while the loss still falls, so there the window, not the threshold,
/// sets the pace of growth (firmware/README.md has the runs with other windows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stall {
    window: u32,
    threshold: f32,
    sum: f32,
    seen: u32,
    previous: Option<f32>,
}

impl Stall {
    /// Windows of `window` steps (at least 1), stall below the relative improvement
    /// `threshold`.
    pub fn new(window: u32, threshold: f32) -> Self {
        Self {
            window: window.max(1),
            threshold,
            sum: 0.0,
            seen: 0,
            previous: None,
        }
    }

    /// Takes one step's loss; true at the end of a window whose mean improved on the previous
    /// window's by less than the threshold (a non-finite loss counts as no improvement).
    pub fn observe(&mut self, loss: f32) -> bool {
        self.sum += loss;
        self.seen += 1;
        if self.seen < self.window {
            return false;
        }
        let mean = self.sum / self.seen as f32;
        (self.sum, self.seen) = (0.0, 0);
        let stalled = match self.previous {
            Some(previous) => {
                let improvement = (previous - mean) / previous;
                // NaN (a non-finite loss) is no improvement.
                improvement.is_nan() || improvement < self.threshold
            }
            None => false,
        };
        self.previous = Some(mean);
        stalled
    }

    /// The mean loss of the last complete window (None before the first, and after
    /// [`Stall::restart`]): the loss a growth is logged with.
    pub fn last_mean(&self) -> Option<f32> {
        self.previous
    }

    /// Forgets the windows seen (after a growth).
    pub fn restart(&mut self) {
        (self.sum, self.seen, self.previous) = (0.0, 0, None);
    }
}

/// ||dL/dW1||^2 + ||dL/db1||^2 + ||dL/dW2||^2 + ||dL/db2||^2 of each block that ran, from the
/// tape of the last step (after its backward pass), in f64; the input and output layers of a
/// [`Net`] are not counted. The block with the largest is where growing "after the block with
/// the largest gradient" inserts.
pub fn block_gradient_norms_sq<T, N, const B: usize, const M: usize>(
    net: &mut N,
    tape: &N::Tape<B>,
    blocks_start: usize,
) -> [f64; M]
where
    T: Scalar,
    N: Trainable<T>,
{
    struct PerBlock<const M: usize> {
        affine: usize,
        first: usize,
        norms: [f64; M],
    }
    impl<T: Scalar, const B: usize, const M: usize> GradientVisitor<T, B> for PerBlock<M> {
        fn affine<const R: usize, const C: usize>(
            &mut self,
            _: &mut Matrix<T, R, C>,
            bias: Option<&mut Vector<T, R>>,
            us: [&Vector<T, R>; B],
            vs: [&Vector<T, C>; B],
        ) {
            let index = self.affine;
            self.affine += 1;
            // Two affine maps per block, after `first` maps of an input layer.
            let Some(block) = index.checked_sub(self.first).map(|i| i / 2) else {
                return;
            };
            let Some(norm) = self.norms.get_mut(block) else {
                return;
            };
            crate::sgd::add_affine_norm_sq_f64(norm, bias.is_some(), us, vs);
        }
    }
    let mut per_block = PerBlock {
        affine: 0,
        first: blocks_start,
        norms: [0.0; M],
    };
    net.visit_gradients(tape, &mut per_block);
    per_block.norms
}

/// The index of the largest of the first `m` values (0 when m = 0), NaN-blind.
pub fn largest(values: &[f64], m: usize) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate().take(m) {
        if v > values[best] {
            best = i;
        }
    }
    best
}
