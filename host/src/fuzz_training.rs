//! The fuzz targets of the training APIs (issue 12): one step of each optimiser on a network
//! with hostile weights, hostile hyper-parameters and a hostile batch, in every kernel path and
//! scalar format; inference; loading model files and checkpoints from hostile bytes; growing.
//!
//! The promises checked: no panic; an `Ok` step leaves every weight finite and reports a finite
//! loss and gradient norm; an `Err` step leaves the weights, the momentum and the optimiser's
//! state exactly as they were (bit for bit); fixed point never wraps (every weight moves by at
//! most what its update can move it); an `Ok` load gives finite weights and an `Err` load
//! changes nothing.

use nearid::checkpoint::{self, Contents, Geometry, Image, Layout, Region};
use nearid::file::{self, LossKind};
use nearid::fixed::{Q12, Rounding};
use nearid::kernels::{ByUnit, Kernels, Lanes, Reference};
use nearid::model::{Name, ZipVisitor};
use nearid::{
    BufferedSgd, CrossEntropy, FusedSgd, LinearResNet, Matrix, Model, Net, Quadratic, ResNet, Rng,
    Scalar, Sgd, Trainable, Vector,
};
use proptest::prelude::*;

use crate::hostile::{Target, Verdict, hostile_f64};

/// Every target of this module.
pub fn targets() -> Vec<Target> {
    vec![
        Target::new(
            "FusedSgd ResNet f32 (own kernels), B=1",
            step_input(),
            fused::<f32, ResNet<f32, 3, 8, 3>, <f32 as Scalar>::Kernels, 3, 1>,
        ),
        Target::new("FusedSgd ResNet f32 ByUnit, B=2", step_input(), |i| {
            fused::<f32, ResNet<f32, 3, 8, 3>, ByUnit, 3, 2>(i)
        }),
        Target::new("FusedSgd ResNet f32 Lanes, B=3", step_input(), |i| {
            fused::<f32, ResNet<f32, 3, 8, 3>, Lanes, 3, 3>(i)
        }),
        Target::new(
            "FusedSgd LinearResNet f64 Reference, B=2",
            step_input(),
            fused::<f64, LinearResNet<f64, 3, 3>, Reference, 3, 2>,
        ),
        Target::new("FusedSgd ResNet Q4.12, B=1", step_input(), fixed_step),
        Target::new(
            "BufferedSgd ResNet f64 (momentum), B=2",
            step_input(),
            buffered,
        ),
        Target::new(
            "FusedSgd Net f32 cross-entropy, B=2",
            step_input(),
            classify,
        ),
        Target::new("Model::forward Net f32", step_input(), forward),
        Target::new("file::load ResNet f32", bytes_input(), load_file),
        Target::new("checkpoint::restore ResNet Q4.12", bytes_input(), restore),
        Target::new("ResNet::grow f32", step_input(), grow),
    ]
}

/// One step's hostile inputs: weights, hyper-parameters, a batch and class targets, each a
/// draw from the hostile distribution (mostly ordinary values, sometimes NaN, infinities,
/// subnormals, huge).
#[derive(Clone, Debug)]
pub struct StepInput {
    /// Scale of the weights, and whether each is hostile instead.
    weights: (f64, Vec<f64>),
    lr: f64,
    momentum: f64,
    decay: f64,
    clip: Option<f64>,
    stochastic: bool,
    /// 3 inputs and 3 targets per sample, up to 3 samples.
    data: Vec<f64>,
    classes: Vec<usize>,
}

fn step_input() -> BoxedStrategy<StepInput> {
    let value = prop_oneof![8 => -2.0..2.0f64, 1 => hostile_f64()];
    let param = prop_oneof![
        6 => prop::sample::select(vec![1e-3, 0.01, 0.05, 0.5, 1.0, 2.0]),
        3 => hostile_f64(),
    ];
    (
        (
            prop_oneof![4 => Just(0.3), 1 => hostile_f64()],
            prop::collection::vec(value.clone(), 64),
        ),
        param.clone(),
        prop_oneof![3 => Just(0.0), 1 => 0.0..1.0f64, 1 => hostile_f64()],
        prop_oneof![3 => Just(0.0), 1 => 0.0..2.0f64, 1 => hostile_f64()],
        prop::option::of(param),
        any::<bool>(),
        prop::collection::vec(prop_oneof![8 => -3.0..3.0f64, 1 => hostile_f64()], 18),
        prop::collection::vec(0usize..5, 3),
    )
        .prop_map(
            |(weights, lr, momentum, decay, clip, stochastic, data, classes)| StepInput {
                weights,
                lr,
                momentum,
                decay,
                clip,
                stochastic,
                data,
                classes,
            },
        )
        .boxed()
}

impl StepInput {
    /// The network: every parameter the scale times a normal draw, or a hostile value where
    /// the drawn list says so (cycling through it), made finite in T: a NaN becomes 0 and an
    /// infinity (or a value beyond T's range) the largest finite value of its sign. A network
    /// holds finite weights unless its fields are written by hand (`file::load`,
    /// `read_params` and the optimisers never store a non-finite one); the step does not scan
    /// the weights for that case, which `Trainable::is_finite` checks.
    fn net<T: Scalar, N: Trainable<T>>(&self, seed: u64) -> N {
        let mut rng = Rng::new(seed);
        let (scale, values) = &self.weights;
        let params: Vec<T> = (0..N::PARAMS)
            .map(|k| {
                let v = values[k % values.len()];
                let x = T::from_f64(if v.abs() <= 2.0 {
                    scale * rng.normal()
                } else {
                    v
                });
                match (x.is_finite(), v > 0.0, v < 0.0) {
                    (true, ..) => x,
                    (false, true, _) => T::MAX,
                    (false, _, true) => -T::MAX,
                    _ => T::ZERO,
                }
            })
            .collect();
        // Written through a visitor of our own, which (unlike `read_params`) does not check.
        struct Raw<'a, T>(&'a [T]);
        impl<T: Scalar> ZipVisitor<T, 1> for Raw<'_, T> {
            fn tensors<const R: usize, const C: usize>(
                &mut self,
                _: Name,
                [t]: [&mut Matrix<T, R, C>; 1],
            ) {
                for v in t.iter_mut() {
                    if let Some((&x, rest)) = self.0.split_first() {
                        *v = x;
                        self.0 = rest;
                    }
                }
            }
        }
        let mut net = N::zeros();
        N::visit_zip([&mut net], &mut Raw(&params));
        net
    }

    fn config<T: Scalar>(&self) -> Sgd<T> {
        let mut c = Sgd::new(T::from_f64(self.lr))
            .with_momentum(T::from_f64(self.momentum))
            .with_weight_decay(T::from_f64(self.decay))
            .with_rounding(if self.stochastic {
                Rounding::Stochastic { seed: 5 }
            } else {
                Rounding::Nearest
            });
        if let Some(clip) = self.clip {
            c = c.with_clip_norm(T::from_f64(clip));
        }
        c
    }

    fn vectors<T: Scalar, const D: usize, const B: usize>(&self, at: usize) -> [Vector<T, D>; B] {
        core::array::from_fn(|b| {
            Vector::from_fn(|i, _| T::from_f64(self.data[(at + 3 * b + i) % self.data.len()]))
        })
    }
}

fn bits<T: Scalar, N: Trainable<T>>(net: &N) -> Vec<String> {
    let mut v = vec![T::ZERO; N::PARAMS];
    let _ = net.write_params(&mut v);
    v.iter().map(|x| format!("{x:?}")).collect()
}

/// One fused step: `Ok` => finite weights, loss and norm; `Err` => nothing changed.
fn fused<T, N, K, const D: usize, const B: usize>(input: &StepInput) -> Verdict
where
    T: Scalar,
    N: Model<T, D>,
    K: Kernels<T>,
{
    let mut net: N = input.net::<T, N>(1);
    let Ok(mut sgd) = FusedSgd::<T, N, B, Quadratic, K>::new(input.config()) else {
        return Verdict::Err;
    };
    let (xs, ys) = (input.vectors::<T, D, B>(0), input.vectors::<T, D, B>(9));
    let (before, state) = (bits(&net), sgd.state());
    match sgd.step(&mut net, &xs, &ys) {
        Ok(step) => {
            if !net.is_finite() {
                Verdict::Wrong("Ok with a non-finite weight".into())
            } else if !step.loss.is_finite() || !step.grad_norm_sq.is_finite() {
                Verdict::Wrong(format!("Ok with {step:?}"))
            } else {
                Verdict::Ok
            }
        }
        Err(_) if bits(&net) != before => Verdict::Wrong("Err changed the weights".into()),
        Err(_) if sgd.state() != state => Verdict::Wrong("Err changed the state".into()),
        Err(_) => Verdict::Err,
    }
}

/// Q4.12: on `Err` nothing changes; on `Ok` no weight jumps by more than its update can move
/// it (|eta| (|c g| + lambda |w|) <= |eta| (8 + 8 lambda) plus a unit: a wrap would be 16).
fn fixed_step(input: &StepInput) -> Verdict {
    type N = ResNet<Q12, 3, 8, 3>;
    let mut net: N = input.net::<Q12, N>(2);
    let config = input.config::<Q12>();
    let Ok(mut sgd) = FusedSgd::<Q12, N, 1>::new(config) else {
        return Verdict::Err;
    };
    let (xs, ys) = (input.vectors::<Q12, 3, 1>(0), input.vectors::<Q12, 3, 1>(9));
    let before = net;
    let state = sgd.state();
    match sgd.step(&mut net, &xs, &ys) {
        Ok(_) => {
            let (eta, lambda) = (config.learning_rate.to_f64(), config.weight_decay.to_f64());
            let most = eta.abs() * (8.0 + 8.0 * lambda) + 2.0 / 4096.0;
            let (mut a, mut b) = (vec![Q12::ZERO; N::PARAMS], vec![Q12::ZERO; N::PARAMS]);
            let _ = (before.write_params(&mut a), net.write_params(&mut b));
            match a
                .iter()
                .zip(&b)
                .map(|(x, y)| (y.to_f64() - x.to_f64()).abs())
                .reduce(f64::max)
            {
                Some(d) if d > most => Verdict::Wrong(format!("a weight moved by {d} > {most}")),
                _ => Verdict::Ok,
            }
        }
        Err(_) if net != before || sgd.state() != state => {
            Verdict::Wrong("Err changed the weights or the state".into())
        }
        Err(_) => Verdict::Err,
    }
}

/// Momentum: `Err` keeps the weights and the velocity.
fn buffered(input: &StepInput) -> Verdict {
    type N = ResNet<f64, 3, 8, 3>;
    let mut net: N = input.net::<f64, N>(3);
    let Ok(mut sgd) = BufferedSgd::<f64, N, 2>::new(input.config()) else {
        return Verdict::Err;
    };
    let (xs, ys) = (input.vectors::<f64, 3, 2>(0), input.vectors::<f64, 3, 2>(9));
    // A first step so the velocity is not zero.
    let _ = sgd.step(&mut net, &xs, &ys);
    let (before, velocity) = (bits(&net), bits(sgd.velocity()));
    match sgd.step(&mut net, &ys, &xs) {
        Ok(_) if !net.is_finite() || !sgd.velocity().is_finite() => {
            Verdict::Wrong("Ok with a non-finite weight or velocity".into())
        }
        Ok(_) => Verdict::Ok,
        Err(_) if bits(&net) != before || bits(sgd.velocity()) != velocity => {
            Verdict::Wrong("Err changed the weights or the velocity".into())
        }
        Err(_) => Verdict::Err,
    }
}

/// Cross-entropy with hostile classes: a class out of range is `Err(OutOfRange)`.
fn classify(input: &StepInput) -> Verdict {
    type N = Net<f32, 3, 4, 8, 2, 4>;
    let mut net: N = input.net::<f32, N>(4);
    let Ok(mut sgd) = FusedSgd::<f32, N, 2, CrossEntropy>::new(input.config()) else {
        return Verdict::Err;
    };
    let xs = input.vectors::<f32, 3, 2>(0);
    let classes = [input.classes[0], input.classes[1]];
    let before = bits(&net);
    match sgd.step(&mut net, &xs, &classes) {
        Ok(_) if classes.iter().any(|&c| c >= 4) => Verdict::Wrong("Ok with a class >= 4".into()),
        Ok(step) if !net.is_finite() || !step.loss.is_finite() || step.correct > 2 => {
            Verdict::Wrong(format!("Ok with {step:?} or non-finite weights"))
        }
        Ok(_) => Verdict::Ok,
        Err(nearid::Error::OutOfRange) if classes.iter().all(|&c| c < 4) => {
            Verdict::Wrong("OutOfRange for classes in range".into())
        }
        Err(_) if bits(&net) != before => Verdict::Wrong("Err changed the weights".into()),
        Err(_) => Verdict::Err,
    }
}

/// Inference: `Ok` is finite.
fn forward(input: &StepInput) -> Verdict {
    let net: Net<f32, 3, 4, 8, 2, 4> = input.net::<f32, _>(5);
    let [x] = input.vectors::<f32, 3, 1>(3);
    match net.forward(&x) {
        Ok(y) if y.iter().all(|v| v.is_finite()) => Verdict::Ok,
        Ok(y) => Verdict::Wrong(format!("Ok({y:?})")),
        Err(_) => Verdict::Err,
    }
}

/// Hostile bytes: a valid model file with bytes overwritten, truncated or extended.
#[derive(Clone, Debug)]
pub struct BytesInput {
    edits: Vec<(usize, u8)>,
    length: Option<usize>,
    garbage: bool,
}

fn bytes_input() -> BoxedStrategy<BytesInput> {
    (
        prop::collection::vec((0usize..20_000, any::<u8>()), 0..4),
        prop::option::of(0usize..20_000),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(edits, length, garbage)| BytesInput {
            edits,
            length,
            garbage,
        })
        .boxed()
}

impl BytesInput {
    fn apply(&self, good: &[u8]) -> Vec<u8> {
        let mut b = if self.garbage {
            let mut rng = Rng::new(self.edits.len() as u64);
            (0..good.len()).map(|_| rng.next_u32() as u8).collect()
        } else {
            good.to_vec()
        };
        for &(at, v) in &self.edits {
            if let Some(x) = b.get_mut(at % good.len().max(1)) {
                *x = v;
            }
        }
        if let Some(n) = self.length {
            b.resize(n % (good.len() + 64), 0xFF);
        }
        b
    }
}

/// `file::load`: `Ok` => finite weights and the bytes were a valid file of this network;
/// `Err` => the network unchanged.
fn load_file(input: &BytesInput) -> Verdict {
    type N = ResNet<f32, 3, 4, 2>;
    let good_net = N::random(&mut Rng::new(6), 0.5);
    let mut good = vec![0u8; file::file_bytes::<f32, N>()];
    if file::save(&good_net, LossKind::Quadratic, &mut good).is_err() {
        return Verdict::Wrong("save failed".into());
    }
    let bytes = input.apply(&good);
    let mut net = N::identity();
    let before = net;
    match file::load(&mut net, &bytes) {
        Ok(_) if !net.is_finite() => Verdict::Wrong("Ok with non-finite weights".into()),
        Ok(_) => Verdict::Ok,
        Err(_) if net != before => Verdict::Wrong("Err changed the network".into()),
        Err(_) => Verdict::Err,
    }
}

/// `checkpoint::restore` from a hostile flash image (a valid checkpoint with bytes edited):
/// no panic; `Ok(Some)` => finite weights; an error before the copy changes nothing.
fn restore(input: &BytesInput) -> Verdict {
    type N = ResNet<Q12, 3, 4, 2>;
    let geometry = Geometry {
        read: 1,
        write: 4,
        erase: 256,
    };
    let contents = Contents::of::<Q12, N>(false, 8);
    let Ok(layout) = Layout::new(
        geometry,
        Region {
            start: 0,
            len: 4096,
        },
        contents,
    ) else {
        return Verdict::Wrong("no layout".into());
    };
    let mut image = vec![0xFFu8; 4096];
    let net = N::random(&mut Rng::new(7), 0.5);
    {
        let mut flash = checkpoint::RamFlash::<4, 256>(&mut image);
        let sgd = FusedSgd::<Q12, N, 1>::new(Sgd::new(Q12::from_f64(0.01)))
            .map(|s| s.state())
            .unwrap_or(nearid::SgdState {
                steps: 0,
                rounding: 0,
            });
        let saved = checkpoint::save(
            &mut flash,
            &layout,
            &checkpoint::Checkpoint {
                net: &net,
                loss: LossKind::Quadratic,
                sgd,
                velocity: None,
                payload: &[1, 2, 3],
            },
        );
        if saved.is_err() {
            return Verdict::Wrong("save failed".into());
        }
    }
    let mut bytes = input.apply(&image);
    bytes.resize(4096, 0xFF);
    let mut back = N::identity();
    let before = back;
    let mut payload = [0u8; 8];
    match checkpoint::restore(&mut Image(&bytes), &layout, &mut back, None, &mut payload) {
        Ok(Some(_)) if !back.is_finite() => Verdict::Wrong("Ok with non-finite weights".into()),
        Ok(Some(_)) => Verdict::Ok,
        Ok(None) if back != before => {
            Verdict::Wrong("no checkpoint, yet the network changed".into())
        }
        Ok(None) => Verdict::Err,
        Err(nearid::Error::Flash(nearid::FlashError::ReadDuringCopy)) => Verdict::Err,
        Err(_) if back != before => Verdict::Wrong("Err changed the network".into()),
        Err(_) => Verdict::Err,
    }
}

/// Growing at hostile positions: `Ok` keeps every output bit; `Err` changes nothing.
fn grow(input: &StepInput) -> Verdict {
    let mut net: ResNet<f32, 3, 8, 4> = input.net::<f32, _>(8);
    let depth = input.classes[0] % 5;
    let position = input.classes[1] + input.classes[2];
    if net.set_active_depth(depth).is_err() {
        return Verdict::Wrong(format!("depth {depth} <= 4 refused"));
    }
    let xs = input.vectors::<f32, 3, 2>(0);
    let (before, outputs) = (net, net.apply_batch(&xs));
    let bits = |ys: &[Vector<f32, 3>; 2]| -> Vec<u32> {
        ys.iter()
            .flat_map(|y| y.iter().map(|v| v.to_bits()))
            .collect()
    };
    match net.grow(position, &mut Rng::new(9), 0.5) {
        // ReLU blocks: every bit, the sign of zero included (ResidualBlock::for_insertion),
        // unless the new block's W1 z overflows (a signal within a factor of its weights of
        // f32::MAX): then its outputs are non-finite, which `forward` refuses, never a silently
        // different finite value.
        Ok(())
            if {
                let after = net.apply_batch(&xs);
                after.iter().all(|y| y.iter().all(|v| v.is_finite()))
                    && bits(&after) != bits(&outputs)
            } =>
        {
            Verdict::Wrong(format!("growing at {position} changed the outputs"))
        }
        Ok(()) => Verdict::Ok,
        Err(_) if net != before => Verdict::Wrong("Err changed the network".into()),
        Err(_) if depth < 4 && position <= depth => Verdict::Wrong(format!(
            "refused a valid growth at {position} of depth {depth}"
        )),
        Err(_) => Verdict::Err,
    }
}
