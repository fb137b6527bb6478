//! Growing depth: a network runs only its first m blocks, and an inserted block is exactly the
//! identity at the moment of insertion (outputs bit-identical, in every format and position),
//! trains from the next step, and the optimiser state of the other blocks carries over.

mod common;

use common::{batch_of, params, randomised, same_bits};
use nearid::file::{LossKind, file_bytes, load, save};
use nearid::fixed::{Q12, Q16};
use nearid::{
    BufferedSgd, Error, FusedSgd, Model, Net, ResNet, Rng, Scalar, Sgd, Stall, Tanh, Trainable,
    Vector,
};

/// Inserts a block at every position of a network of active depth 2 (of 4) and checks that
/// the outputs of a batch keep every bit.
fn insertion_is_exact<N, T, const I: usize, const O: usize>(net: &N, name: &str)
where
    T: Scalar,
    N: Model<T, I, O> + nearid::Grow,
{
    let mut rng = Rng::new(9);
    let xs: [Vector<T, I>; 8] =
        core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(2.0 * rng.normal())));
    let before = net.apply_batch(&xs);
    for position in 0..=net.active_depth() {
        let mut grown = net.clone();
        grown.grow(position, &mut rng, 0.7).unwrap();
        assert_eq!(grown.active_depth(), net.active_depth() + 1);
        let after = grown.apply_batch(&xs);
        assert_eq!(
            format!("{before:?}"),
            format!("{after:?}"),
            "{name}: inserting at {position} changed the outputs"
        );
    }
}

#[test]
fn an_inserted_block_leaves_the_outputs_bit_identical() {
    let mut rng = Rng::new(1);
    macro_rules! resnet {
        ($t:ty, $s:ty, $name:expr) => {{
            let mut net = randomised(&ResNet::<$t, 3, 8, 4, $s>::zeros(), &mut rng, 0.4);
            net.set_active_depth(2).unwrap();
            insertion_is_exact::<_, $t, 3, 3>(&net, $name);
        }};
    }
    resnet!(f32, nearid::Relu, "ResNet f32 ReLU");
    resnet!(f64, Tanh, "ResNet f64 tanh");
    resnet!(Q16, nearid::Relu, "ResNet Q16.16 ReLU");
    resnet!(Q12, nearid::Relu, "ResNet Q4.12 ReLU");
    let mut net = randomised(&Net::<f32, 2, 4, 8, 4, 3>::zeros(), &mut rng, 0.4);
    net.blocks.set_active_depth(2).unwrap();
    insertion_is_exact::<_, f32, 2, 3>(&net, "Net f32");
    let mut net = randomised(&Net::<Q12, 2, 4, 8, 4, 3>::zeros(), &mut rng, 0.4);
    net.blocks.set_active_depth(1).unwrap();
    insertion_is_exact::<_, Q12, 2, 3>(&net, "Net Q4.12");
}

/// Blocks past the active depth are neither run nor trained: NaN there changes nothing.
#[test]
fn blocks_past_the_active_depth_cost_nothing_and_are_not_touched() {
    let mut rng = Rng::new(2);
    let mut net = randomised(&ResNet::<f32, 3, 8, 4>::zeros(), &mut rng, 0.4);
    net.set_active_depth(2).unwrap();
    for block in &mut net.blocks[2..] {
        block.w1[(0, 0)] = f32::NAN;
    }
    let (xs, ys) = (
        batch_of::<f32, 3, 2>(&mut rng),
        batch_of::<f32, 3, 2>(&mut rng),
    );
    let mut sgd = FusedSgd::<f32, _, 2>::new(Sgd::new(0.05)).unwrap();
    let before = net;
    let step = sgd.step(&mut net, &xs, &ys).unwrap();
    assert!(step.loss.is_finite());
    assert_eq!(
        format!("{:?}", &net.blocks[2..]),
        format!("{:?}", &before.blocks[2..])
    );
    assert_ne!(
        net.blocks[..2],
        before.blocks[..2],
        "the active blocks did not train"
    );
    assert_eq!(sgd.tape().active, 2);
}

/// A new block trains at once: its W2 moves on the first step (dL/dW2 = dy a^T with a != 0).
#[test]
fn an_inserted_block_trains_from_the_next_step() {
    let mut rng = Rng::new(3);
    let mut net = ResNet::<f32, 3, 8, 4>::identity_init(&mut rng, 0.5);
    net.set_active_depth(1).unwrap();
    net.grow(1, &mut rng, 0.5).unwrap();
    assert_eq!(net.blocks[1].w2, nearid::zeros::<f32, 3, 8>());
    let (xs, ys) = (
        batch_of::<f32, 3, 1>(&mut rng),
        batch_of::<f32, 3, 1>(&mut rng),
    );
    let mut sgd = FusedSgd::<f32, _, 1>::new(Sgd::new(0.05)).unwrap();
    sgd.step(&mut net, &xs, &ys).unwrap();
    assert_ne!(
        net.blocks[1].w2,
        nearid::zeros::<f32, 3, 8>(),
        "the new block got no gradient"
    );
}

/// Growing under momentum: the new block starts with zero momentum, every other block keeps
/// its own, moved with it.
#[test]
fn momentum_carries_over_when_the_network_grows() {
    let mut rng = Rng::new(4);
    let mut net = ResNet::<f64, 3, 8, 4>::identity_init(&mut rng, 0.5);
    net.set_active_depth(2).unwrap();
    let mut sgd = BufferedSgd::<f64, _, 2>::new(Sgd::new(0.02).with_momentum(0.9)).unwrap();
    for _ in 0..20 {
        let (xs, ys) = (
            batch_of::<f64, 3, 2>(&mut rng),
            batch_of::<f64, 3, 2>(&mut rng),
        );
        sgd.step(&mut net, &xs, &ys).unwrap();
    }
    let before = *sgd.velocity();
    assert_ne!(before.blocks[1], nearid::ResidualBlock::identity());
    sgd.grow(&mut net, 1, &mut rng, 0.5).unwrap();
    let after = sgd.velocity();
    assert_eq!(after.blocks[0], before.blocks[0]);
    assert_eq!(
        after.blocks[1],
        nearid::ResidualBlock::identity(),
        "new block's momentum"
    );
    assert_eq!(after.blocks[2], before.blocks[1]);
    assert_eq!(net.active_depth(), 3);
    // And training goes on from there.
    let (xs, ys) = (
        batch_of::<f64, 3, 2>(&mut rng),
        batch_of::<f64, 3, 2>(&mut rng),
    );
    sgd.step(&mut net, &xs, &ys).unwrap();
}

#[test]
fn growth_past_the_capacity_or_the_depth_is_refused_and_changes_nothing() {
    let mut rng = Rng::new(5);
    let mut net = ResNet::<f32, 3, 8, 2>::identity_init(&mut rng, 0.5);
    let start = net;
    assert_eq!(
        net.grow(0, &mut rng, 0.5),
        Err(Error::OutOfRange),
        "at capacity"
    );
    net.set_active_depth(1).unwrap();
    assert_eq!(
        net.grow(2, &mut rng, 0.5),
        Err(Error::OutOfRange),
        "past the depth"
    );
    assert_eq!(net.set_active_depth(3), Err(Error::OutOfRange));
    assert_eq!(net.blocks, start.blocks);
    assert_eq!(net.active_depth(), 1);
}

/// A model file keeps the active depth, and a file of a grown network loads only into a
/// network that can grow.
#[test]
fn the_model_file_keeps_the_active_depth() {
    let mut rng = Rng::new(6);
    let mut net = ResNet::<f32, 3, 8, 4>::identity_init(&mut rng, 0.5);
    net.set_active_depth(3).unwrap();
    let mut bytes = vec![0u8; file_bytes::<f32, ResNet<f32, 3, 8, 4>>()];
    save(&net, LossKind::Quadratic, &mut bytes).unwrap();
    let mut back = ResNet::<f32, 3, 8, 4>::zeros();
    let header = load(&mut back, &bytes).unwrap();
    assert_eq!(header.active_depth, 3);
    assert_eq!(back, net);
    assert!(same_bits(&back, &net));
    assert_eq!(
        params(&back).len(),
        <ResNet<f32, 3, 8, 4> as Trainable<f32>>::PARAMS
    );
}

/// The stall rule on loss sequences: a falling loss never stalls, a flat one stalls at the end
/// of its second window, a NaN stalls, and a restart waits for two windows again.
#[test]
fn the_stall_rule_fires_on_flat_losses_only() {
    let mut falling = Stall::new(10, 0.05);
    assert!((0..200).all(|i| !falling.observe(0.97f32.powi(i))));
    let mut flat = Stall::new(10, 0.05);
    let fired: Vec<usize> = (0..40).filter(|_| flat.observe(1.0)).map(|_| 0).collect();
    assert_eq!(fired.len(), 3, "windows 2, 3 and 4 stall");
    let mut s = Stall::new(10, 0.05);
    assert!((0..19).all(|_| !s.observe(1.0)));
    assert!(s.observe(1.0), "the end of the second flat window");
    s.restart();
    assert!(
        (0..19).all(|_| !s.observe(1.0)),
        "a restart needs two windows"
    );
    assert!(s.observe(1.0));
    let mut nan = Stall::new(2, 0.05);
    nan.observe(1.0);
    nan.observe(1.0);
    nan.observe(f32::NAN);
    assert!(nan.observe(1.0), "a NaN window is no improvement");
}

/// `last_mean` is the mean of the last complete window (what the firmware logs a growth with),
/// none before the first window ends and none after a restart.
#[test]
fn the_stall_rule_reports_the_last_windows_mean() {
    let mut s = Stall::new(4, 0.05);
    for loss in [1.0, 2.0, 3.0] {
        s.observe(loss);
        assert_eq!(s.last_mean(), None);
    }
    s.observe(6.0);
    assert_eq!(s.last_mean(), Some(3.0));
    for loss in [3.0, 3.0, 3.0] {
        s.observe(loss);
    }
    assert!(s.observe(3.0), "no improvement on 3: a stall");
    assert_eq!(s.last_mean(), Some(3.0));
    s.restart();
    assert_eq!(s.last_mean(), None);
}
