//! The problem in candle (candle-core, CPU, f32): weights are `Var`s, the step is forward,
//! `backward()`, and w <- w - eta g for every variable (what candle-nn's `SGD` does).

use candle_core::{Device, Result, Tensor, Var};

use crate::Problem;

/// One block's variables: W1^T (D, H), b1 (H), W2^T (H, D), b2 (D) (transposed so that a batch
/// of row vectors X (B, D) goes through as X W1^T).
type Block = [Var; 4];

/// The network, its batch and the learning rate.
#[derive(Debug)]
pub struct Net {
    blocks: Vec<Block>,
    /// Detached copies of the weights for the forward-only benchmark (no graph recorded).
    plain: Vec<[Tensor; 4]>,
    x: Tensor,
    y: Tensor,
    lr: f64,
    inv_2b: f64,
}

impl Net {
    /// The network and batch of `p`.
    pub fn new<const D: usize, const H: usize, const M: usize, const B: usize>(
        p: &Problem<D, H, M, B>,
        lr: f32,
    ) -> Result<Self> {
        let dev = Device::Cpu;
        let mut blocks = Vec::with_capacity(M);
        for b in &p.net.blocks {
            // Column-major (H, D) W1 is row-major (D, H) W1^T; likewise W2.
            blocks.push([
                Var::from_slice(b.w1.as_slice(), (D, H), &dev)?,
                Var::from_slice(b.b1.as_slice(), H, &dev)?,
                Var::from_slice(b.w2.as_slice(), (H, D), &dev)?,
                Var::from_slice(b.b2.as_slice(), D, &dev)?,
            ]);
        }
        let plain = blocks
            .iter()
            .map(|b| b.each_ref().map(|v| v.as_detached_tensor()))
            .collect();
        let x = Tensor::from_vec(Problem::<D, H, M, B>::batch_rows(&p.xs), (B, D), &dev)?;
        let y = Tensor::from_vec(Problem::<D, H, M, B>::batch_rows(&p.ys), (B, D), &dev)?;
        Ok(Self {
            blocks,
            plain,
            x,
            y,
            lr: lr as f64,
            inv_2b: 0.5 / B as f64,
        })
    }

    fn run<'a>(x: &Tensor, blocks: impl Iterator<Item = [&'a Tensor; 4]>) -> Result<Tensor> {
        let mut h = x.clone();
        for [w1t, b1, w2t, b2] in blocks {
            let a = h.matmul(w1t)?.broadcast_add(b1)?.relu()?;
            h = (&h + a.matmul(w2t)?.broadcast_add(b2)?)?;
        }
        Ok(h)
    }

    /// The batch's outputs without recording a graph.
    pub fn forward(&self) -> Result<Tensor> {
        Self::run(&self.x, self.plain.iter().map(|b| b.each_ref()))
    }

    /// One SGD step; returns the loss before it.
    pub fn step(&self) -> Result<f32> {
        let out = Self::run(
            &self.x,
            self.blocks
                .iter()
                .map(|b| b.each_ref().map(|v| v.as_tensor())),
        )?;
        let loss = ((out - &self.y)?.sqr()?.sum_all()? * self.inv_2b)?;
        let grads = loss.backward()?;
        for v in self.blocks.iter().flatten() {
            if let Some(g) = grads.get(v) {
                v.set(&(v.as_tensor() - (g * self.lr)?)?)?;
            }
        }
        loss.to_scalar::<f32>()
    }
}
