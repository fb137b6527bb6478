//! The benchmark problem of nearid's `benches/benches/train.rs`, set up identically in nearid,
//! candle and dfdx (and written to a file for the PyTorch script), so that every system trains
//! the same network on the same batch:
//!
//! - the residual MLP y = x + W2 relu(W1 x + b1) + b2, M blocks of width D, hidden width H;
//! - weights from `ResNet::identity_init(&mut Rng::new(1), 0.3)` (W1 ~ N(0, 0.09), W2 = 0, biases 0);
//! - one batch of B samples of `LinearTask::new(random_spd(0.5, 1.5, 2), 0.01, 3)`;
//! - loss = mean over the batch of 1/2 ||y^ - y||^2, plain SGD, f32.
//!
//! [`check`] trains a few steps in every system from the same start and compares the losses, so
//! the figures of the report are known to time the same computation.

use nearid::{FusedSgd, LinearTask, Matrix, ResNet, Rng, Sgd, Vector};

/// Learning rate of the timed steps (as in `benches/benches/train.rs`).
pub const LEARNING_RATE: f32 = 1e-4;

/// The shared start: nearid's network and batch for shape (D, H, M, B).
#[derive(Clone, Debug)]
pub struct Problem<const D: usize, const H: usize, const M: usize, const B: usize> {
    /// The network (boxed: the largest shape is about 1 MiB).
    pub net: Box<ResNet<f32, D, H, M>>,
    /// Inputs, one vector per sample.
    pub xs: [Vector<f32, D>; B],
    /// Targets.
    pub ys: [Vector<f32, D>; B],
}

impl<const D: usize, const H: usize, const M: usize, const B: usize> Default
    for Problem<D, H, M, B>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const D: usize, const H: usize, const M: usize, const B: usize> Problem<D, H, M, B> {
    /// The problem with the seeds of `benches/benches/train.rs`.
    pub fn new() -> Self {
        let net = Box::new(ResNet::<f32, D, H, M>::identity_init(&mut Rng::new(1), 0.3));
        let mut task = LinearTask::new(LinearTask::<f32, D>::random_spd(0.5, 1.5, 2), 0.01, 3);
        let (xs, ys) = task.batch::<B>();
        Self { net, xs, ys }
    }

    /// "DxHxMxB", the name the reports use.
    pub fn name() -> String {
        format!("{D}x{H}x{M}x{B}")
    }

    /// The batch as a row-major (B, D) array.
    pub fn batch_rows(vs: &[Vector<f32, D>; B]) -> Vec<f32> {
        vs.iter().flat_map(|v| v.iter().copied()).collect()
    }

    /// Losses of `steps` nearid training steps at learning rate `lr`.
    pub fn nearid_losses(&self, lr: f32, steps: usize) -> Vec<f32> {
        let mut net = self.net.clone();
        let mut sgd =
            Box::new(FusedSgd::<f32, ResNet<f32, D, H, M>, B>::new(Sgd::new(lr)).unwrap());
        (0..steps)
            .map(|_| sgd.step(&mut net, &self.xs, &self.ys).unwrap().loss)
            .collect()
    }

    /// The problem as little-endian f32, for the PyTorch script: for each block W1 (H, D) row-major,
    /// b1 (H), W2 (D, H) row-major, b2 (D); then xs (B, D) and ys (B, D) row-major.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for block in &self.net.blocks {
            out.extend(row_major(&block.w1));
            out.extend(block.b1.iter());
            out.extend(row_major(&block.w2));
            out.extend(block.b2.iter());
        }
        out.extend(Self::batch_rows(&self.xs));
        out.extend(Self::batch_rows(&self.ys));
        out.iter().flat_map(|v: &f32| v.to_le_bytes()).collect()
    }
}

/// The entries of an (R, C) matrix in row-major order (nalgebra stores column-major).
pub fn row_major<const R: usize, const C: usize>(m: &Matrix<f32, R, C>) -> Vec<f32> {
    m.transpose().as_slice().to_vec()
}

pub mod candle;
pub mod dfdx;

/// Relative difference |a - b| / max(|a|, |b|, tiny).
pub fn relative_difference(a: f32, b: f32) -> f32 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-30)
}

/// Trains `steps` steps at a learning rate large enough to move the loss in every Rust system
/// from the same start and returns (nearid, candle, dfdx) losses; panics with the figures when a
/// peer's losses differ from nearid's by more than 1e-3 relative (summation order differs, so
/// the last bits do).
pub fn check<const D: usize, const H: usize, const M: usize, const B: usize>() -> [Vec<f32>; 3]
where
    dfdx::Net<D, H, M, B>: dfdx::Step,
{
    let p = Problem::<D, H, M, B>::new();
    let (lr, steps) = (1e-3, 3);
    let nearid = p.nearid_losses(lr, steps);
    let candle = {
        let net = candle::Net::new(&p, lr).expect("candle setup");
        (0..steps)
            .map(|_| net.step().expect("candle step"))
            .collect::<Vec<_>>()
    };
    let dfdx = {
        let mut net = dfdx::Net::<D, H, M, B>::new(&p, lr);
        (0..steps)
            .map(|_| dfdx::Step::step(&mut net))
            .collect::<Vec<_>>()
    };
    for (name, losses) in [("candle", &candle), ("dfdx", &dfdx)] {
        for (s, (&a, &b)) in nearid.iter().zip(losses.iter()).enumerate() {
            assert!(
                relative_difference(a, b) < 1e-3,
                "{}: {name} loss at step {s} is {b}, nearid's {a}",
                Problem::<D, H, M, B>::name()
            );
        }
    }
    [nearid, candle, dfdx]
}
