//! Distillation of a smooth map into a deep residual network (docs/THEORY.md section 4: residual
//! blocks approximate each h_i): block i learns layer h_i of the scaling decomposition, then the
//! whole network is fine-tuned on (x, h(x)).
//!
//! Block i is trained on pairs (g_{a_{i-1}}(x), g_{a_i}(x)) for x drawn from the domain X: the
//! input is a sample of g_{a_{i-1}}(X), the target is h_i at it, and no inverse is needed.

use super::real;
use super::{ScalingDecomposition, SmoothActivation, SmoothMap};
use crate::{BufferedSgd, Error, Real, ResNet, ResidualBlock, Result, Rng, Sgd, Vector, zeros};

/// Settings of [`distill`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distill<T> {
    /// SGD steps (mini-batches) per block.
    pub block_steps: usize,
    /// SGD for the blocks ([`BufferedSgd`]: momentum allowed; with momentum 0 it is plain SGD,
    /// what [`crate::FusedSgd`] does up to rounding).
    pub block_sgd: Sgd<T>,
    /// SGD steps on the whole network afterwards (0: none).
    pub fine_tune_steps: usize,
    /// SGD for the fine-tuning.
    pub fine_tune_sgd: Sgd<T>,
    /// The first block starts as the identity with random features: W1, b1 ~ N(0, init^2),
    /// W2 = 0, b2 = 0 (all-zero weights would be a stationary point of the block's loss); each
    /// later block starts from the trained block before it (see [`distill`]).
    pub init: f64,
    /// Seed of the initialisation and of the samples.
    pub seed: u64,
}

/// What [`distill`] measured: mean losses (1/2 ||f(x) - y||^2) over the last quarter of steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distilled<T, const M: usize> {
    /// Block i's loss against h_i, `block_loss[0]` for h_1.
    pub block_loss: [T; M],
    /// The whole network's loss against h after fine-tuning (after the blocks when there was
    /// none).
    pub loss: T,
}

/// Trains `net` to approximate the map `dec.h` through its decomposition: block i (0-based, for
/// layer h_{i+1}) is trained alone on B-sample batches of (g_{a_i}(x), g_{a_{i+1}}(x)),
/// x = `sample(rng)` in X, to the normalised target x + (h_i(x) - x) / (a_i - a_{i-1}); its
/// W2, b2 are then multiplied by a_i - a_{i-1}. Then the network is trained on (x, h(x)). The
/// first block starts as the identity with random features, block i > 0 from the normalised
/// block i-1: neighbouring layers differ by O(1/m), so each starts close to its target.
///
/// h should be normalised (h(0) = 0, Dh(0) = I: see [`super::Normalised`]); its linear part and
/// translations belong to a [`crate::LinearResNet`] and the end biases.
///
/// Errors: [`Error::OutOfRange`] when the decomposition has not M layers or a setting is invalid;
/// [`Error::NonFinite`] from a step, or when a reported loss or a weight of the result is not
/// finite (h or the samples produced a non-finite value; the network is then left partly
/// trained). `Ok` means every loss and every weight is finite.
pub fn distill<T, F, S, R, const D: usize, const H: usize, const M: usize, const B: usize>(
    net: &mut ResNet<T, D, H, M, S>,
    dec: &ScalingDecomposition<T, F>,
    mut sample: R,
    config: &Distill<T>,
) -> Result<Distilled<T, M>>
where
    T: Real,
    F: SmoothMap<T, D>,
    S: SmoothActivation,
    R: FnMut(&mut Rng) -> Vector<T, D>,
{
    if dec.layers() != M || !config.init.is_finite() {
        return Err(Error::OutOfRange);
    }
    let mut rng = Rng::new(config.seed);
    let mut report = Distilled {
        block_loss: [T::zero(); M],
        loss: T::zero(),
    };
    // Losses are averaged over the last quarter of the steps (at least one), from step
    // `start(steps)`; written without multiplication so no step count can overflow.
    let start = |steps: usize| steps - (steps / 4).clamp(1, steps.max(1)).min(steps);
    let tail = |steps: usize| steps - start(steps);
    // The normalised residual (h_i - Id) / (a_i - a_{i-1}) is O(1) for any m (docs/THEORY.md
    // section 4's bound), so every block learns it at the same scale and learning rate; its
    // output layer W2, b2 is multiplied by the step afterwards. (Trained directly, the O(1/m)
    // residual would leave W1's gradient, proportional to W2, O(1/m) too: the hidden features
    // would hardly move in deep networks.) Block i starts from the trained normalised block i-1
    // (neighbouring layers differ by O(1/m)); the first from the identity with random features.
    let mut previous: Option<ResidualBlock<T, D, H, S>> = None;
    for (i, block) in net.blocks.iter_mut().enumerate() {
        let mut b = previous.unwrap_or_else(|| {
            let mut b = ResidualBlock::<T, D, H, S>::identity();
            b.w1.iter_mut()
                .chain(b.b1.iter_mut())
                .for_each(|w| *w = real::<T>(config.init * rng.normal()));
            b
        });
        let (lower, upper) = (dec.g(i)?, dec.g(i + 1)?);
        let step = dec.scales.step(i + 1)?;
        let mut sgd = BufferedSgd::<T, ResidualBlock<T, D, H, S>, B>::new(config.block_sgd)?;
        let mut recent = T::zero();
        for k in 0..config.block_steps {
            let mut xs = [zeros(); B];
            let mut ys = [zeros(); B];
            for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
                let p = sample(&mut rng);
                *x = lower.value(&p);
                *y = *x + (upper.value(&p) - *x) / step;
            }
            let loss = sgd.step(&mut b, &xs, &ys)?.loss;
            if k >= start(config.block_steps) {
                recent += loss;
            }
        }
        if let Some(l) = report.block_loss.get_mut(i) {
            // The loss of the scaled-back block against h_i.
            *l = recent * step * step / real::<T>(tail(config.block_steps).max(1) as f64);
        }
        previous = Some(b);
        b.w2 *= step;
        b.b2 *= step;
        *block = b;
    }
    let mut sgd = BufferedSgd::<T, ResNet<T, D, H, M, S>, B>::new(config.fine_tune_sgd)?;
    let mut recent = T::zero();
    for step in 0..config.fine_tune_steps {
        let mut xs = [zeros(); B];
        let mut ys = [zeros(); B];
        for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
            let p = sample(&mut rng);
            (*x, *y) = (p, dec.h.value(&p));
        }
        let loss = sgd.step(net, &xs, &ys)?.loss;
        if step >= start(config.fine_tune_steps) {
            recent += loss;
        }
    }
    report.loss = if config.fine_tune_steps > 0 {
        recent / real::<T>(tail(config.fine_tune_steps).max(1) as f64)
    } else {
        // No fine-tuning: measure the composed network on fresh samples.
        let n = 256;
        let mut total = T::zero();
        for _ in 0..n {
            let p = sample(&mut rng);
            let r = net.value(&p) - dec.h.value(&p);
            total += r.norm_squared() / real::<T>(2.0);
        }
        total / real::<T>(n as f64)
    };
    let losses_finite = report.block_loss.iter().all(|l| l.is_finite()) && report.loss.is_finite();
    let weights_finite = crate::Trainable::is_finite(net);
    if losses_finite && weights_finite {
        Ok(report)
    } else {
        Err(Error::NonFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smooth::{Scales, Schedule};
    use crate::{Matrix, Tanh};

    /// The shear (x, y) -> (x + y^2 / 2, y).
    struct Shear;
    impl SmoothMap<f64, 2> for Shear {
        fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
            Vector::<f64, 2>::new(x[0] + 0.5 * x[1] * x[1], x[1])
        }
        fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
            Matrix::<f64, 2, 2>::new(1.0, x[1], 0.0, 1.0)
        }
    }

    fn config() -> Distill<f64> {
        Distill {
            block_steps: 800,
            block_sgd: Sgd::new(0.1).with_momentum(0.9),
            fine_tune_steps: 0,
            fine_tune_sgd: Sgd::new(0.01),
            init: 1.0,
            seed: 3,
        }
    }

    #[test]
    fn distilled_network_approximates_the_map() {
        let dec = ScalingDecomposition::new(Shear, Scales::new(Schedule::Uniform, 4).unwrap());
        let mut net = ResNet::<f64, 2, 8, 4, Tanh>::identity();
        let square = |rng: &mut Rng| {
            Vector::<f64, 2>::new(rng.uniform_in(-1.0, 1.0), rng.uniform_in(-1.0, 1.0))
        };
        let report = distill::<_, _, _, _, 2, 8, 4, 4>(&mut net, &dec, square, &config()).unwrap();
        // The identity's loss: mean of (y^2/2)^2 / 2 over the square = 1/40.
        assert!(report.loss < 0.025 / 20.0, "{report:?}");
        assert!(report.block_loss.iter().all(|l| l.is_finite() && *l >= 0.0));
    }

    #[test]
    fn a_depth_mismatch_is_out_of_range() {
        let dec = ScalingDecomposition::new(Shear, Scales::new(Schedule::Uniform, 3).unwrap());
        let mut net = ResNet::<f64, 2, 8, 4, Tanh>::identity();
        let origin = |_: &mut Rng| Vector::<f64, 2>::zeros();
        let err = distill::<_, _, _, _, 2, 8, 4, 1>(&mut net, &dec, origin, &config());
        assert_eq!(err, Err(Error::OutOfRange));
    }
}
