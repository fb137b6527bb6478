//! The problem in dfdx 0.13 (CPU, f32): `Repeated<Residual<(Linear, ReLU, Linear)>, M>`,
//! `mse_loss` scaled by D/2 (mean over B D entries, times D/2, is the batch mean of
//! 1/2 ||y^ - y||^2), and dfdx's `Sgd` without momentum or weight decay.
//!
//! dfdx's shapes are types, so each benchmark shape gets its own impl of [`Step`] (the
//! `shapes!` invocation below).

use dfdx::losses::mse_loss;
use dfdx::nn::builders::{Linear, ReLU, Repeated, Residual};
use dfdx::nn::{BuildOnDevice, DeviceBuildExt, Module, ModuleMut, ZeroGrads};
use dfdx::optim::{Optimizer, Sgd, SgdConfig};
use dfdx::shapes::Rank2;
use dfdx::tensor::{AsArray, Cpu, Gradients, Tensor, Trace, ZerosTensor};
use dfdx::tensor_ops::Backward;

use crate::{Problem, row_major};

/// The architecture as dfdx builders.
pub type Arch<const D: usize, const H: usize, const M: usize> =
    Repeated<Residual<(Linear<D, H>, ReLU, Linear<H, D>)>, M>;
/// The built network.
pub type Built<const D: usize, const H: usize, const M: usize> =
    <Arch<D, H, M> as BuildOnDevice<Cpu, f32>>::Built;

/// The network, its gradients, optimiser and batch.
pub struct Net<const D: usize, const H: usize, const M: usize, const B: usize> {
    model: Built<D, H, M>,
    grads: Option<Gradients<f32, Cpu>>,
    sgd: Sgd<Built<D, H, M>, f32, Cpu>,
    x: Tensor<Rank2<B, D>, f32, Cpu>,
    y: Tensor<Rank2<B, D>, f32, Cpu>,
}

impl<const D: usize, const H: usize, const M: usize, const B: usize> std::fmt::Debug
    for Net<D, H, M, B>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dfdx::Net<{D}, {H}, {M}, {B}>")
    }
}

/// A training step and a forward pass for one concrete shape.
pub trait Step {
    /// One SGD step; returns the loss before it.
    fn step(&mut self) -> f32;
    /// The batch's outputs (no tape), summed to one number so the work cannot be skipped.
    fn forward(&self) -> f32;
}

impl<const D: usize, const H: usize, const M: usize, const B: usize> Net<D, H, M, B> {
    /// The network and batch of `p`.
    pub fn new(p: &Problem<D, H, M, B>, lr: f32) -> Self {
        let dev = Cpu::default();
        let mut model = dev.build_module::<Arch<D, H, M>, f32>();
        for (built, b) in model.modules.iter_mut().zip(&p.net.blocks) {
            let (l1, _, l2) = &mut built.0;
            // dfdx's Linear<I, O> weight is (O, I) row-major: W itself.
            l1.weight.copy_from(&row_major(&b.w1));
            l1.bias.copy_from(b.b1.as_slice());
            l2.weight.copy_from(&row_major(&b.w2));
            l2.bias.copy_from(b.b2.as_slice());
        }
        let grads = Some(model.alloc_grads());
        let sgd = Sgd::new(
            &model,
            SgdConfig {
                lr: lr.into(),
                momentum: None,
                weight_decay: None,
            },
        );
        let mut x: Tensor<Rank2<B, D>, f32, Cpu> = dev.zeros();
        x.copy_from(&Problem::<D, H, M, B>::batch_rows(&p.xs));
        let mut y: Tensor<Rank2<B, D>, f32, Cpu> = dev.zeros();
        y.copy_from(&Problem::<D, H, M, B>::batch_rows(&p.ys));
        Self {
            model,
            grads,
            sgd,
            x,
            y,
        }
    }
}

macro_rules! shapes {
    ($(($d:literal, $h:literal, $m:literal, $b:literal)),* $(,)?) => {$(
        impl Step for Net<$d, $h, $m, $b> {
            fn step(&mut self) -> f32 {
                let grads = self.grads.take().unwrap_or_else(|| self.model.alloc_grads());
                let out = self.model.forward_mut(self.x.clone().trace(grads));
                let loss = mse_loss(out, self.y.clone()) * ($d as f32 / 2.0);
                let value = loss.array();
                let mut grads = loss.backward();
                self.sgd
                    .update(&mut self.model, &grads)
                    .expect("every parameter has a gradient");
                self.model.zero_grads(&mut grads);
                self.grads = Some(grads);
                value
            }

            fn forward(&self) -> f32 {
                let out = self.model.forward(self.x.clone());
                out.array().iter().map(|r| r[0]).sum()
            }
        }
    )*};
}

shapes!(
    (8, 16, 8, 1),
    (16, 32, 32, 1),
    (64, 128, 16, 32),
    (4, 8, 2, 3)
);
