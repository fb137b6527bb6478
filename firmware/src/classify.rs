//! The classification app (feature `classify`): which gesture a window of accelerometer
//! samples comes from ([`crate::sim_gesture`]: rest, shake, tilt, tap), learnt on the chip.
//!
//! The network is a [`nearid::Net`] x (15: five samples of x, y, z) -> z_0 = P x + p (16) -> `M`
//! residual blocks of width 16 -> 4 logits, trained by [`FusedSgd`] on the softmax cross-entropy
//! ([`CrossEntropy`]), one fresh window per step. It starts from
//!
//! - the default: [`Net::init`] (P, Q random, the blocks exactly the identity); or
//! - with the feature `pretrained`: the model file `models/gestures-<format>.nid`, trained on
//!   the desktop by `nearid train` on windows of the same generator with another seed (the
//!   commands are in models/README.md), loaded by [`nearid::file::load`] from
//!   `include_bytes!`; the run measures it as loaded, then trains on.
//!
//! The log gives the mean loss and accuracy of the training steps every [`LOG_EVERY`] steps,
//! the cost of a step, then the loss and accuracy on [`EVAL_WINDOWS`] fresh windows and the
//! CRC-32 of the trained model file (which pins every weight); the run passes when the held-out
//! accuracy is at least [`PASS_ACCURACY`].

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use nearid::file::{self, LossKind};
use nearid::{CrossEntropy, FusedSgd, Loss, Model, Net, Rng, Scalar, Sgd, Trainable, Vector};

use crate::board::{self, Clock, Parts, T, Watchdog};
use crate::sim_gesture::{CLASSES, Gestures, INPUTS, NAMES};
use crate::stack;

/// The blocks' width (16, as `nearid train` compiles it).
const WIDTH: usize = 16;
/// Hidden width of each block.
const HIDDEN: usize = 16;
/// Blocks.
const DEPTH: usize = 2;
/// One window per step.
const B: usize = 1;
/// The network: 15 inputs, 2 blocks of width 16 (hidden 16), 4 logits; ReLU.
type Classifier = Net<T, INPUTS, WIDTH, HIDDEN, DEPTH, CLASSES>;

/// Seed of the training stream; the held-out windows come from [`EVAL_SEED`], the desktop's
/// training set from seed 5 (models/README.md): three different streams.
const TRAIN_SEED: u64 = 3;
/// Seed of the held-out windows.
const EVAL_SEED: u64 = 4;
/// Seed of the initial weights.
const INIT_SEED: u64 = 1;
/// Initial W1 ~ N(0, INIT_SCALE^2) in the blocks (W2 = 0).
const INIT_SCALE: f64 = 0.5;
/// Learning rate of the chip's training: at 0.05 the f32 run diverged after 5,000 steps (the
/// loss to 1e6, the weights past f32's range); clipping the gradient's norm to 1 cured it but
/// made each step 4.6 times as costly (the checked, unfused update), 0.03 needs neither.
#[cfg(not(feature = "pretrained"))]
const LEARNING_RATE: f64 = 0.03;
/// Learning rate of the fine-tuning: the desktop's (models/README.md); at the chip's 0.03 the
/// desktop run diverged (its inputs are standardised, so larger).
#[cfg(feature = "pretrained")]
const LEARNING_RATE: f64 = 0.003;
/// Training steps: one fresh window each.
#[cfg(not(feature = "pretrained"))]
const STEPS: u32 = 6000;
/// Training steps after loading the desktop's model: a fine-tuning.
#[cfg(feature = "pretrained")]
const STEPS: u32 = 500;
/// Log every this many steps.
#[cfg(not(feature = "pretrained"))]
const LOG_EVERY: u32 = 1000;
/// Log every this many steps.
#[cfg(feature = "pretrained")]
const LOG_EVERY: u32 = 100;
/// Fresh windows the final loss and accuracy are measured on.
pub const EVAL_WINDOWS: u32 = 400;
/// The run passes at this held-out accuracy or above: chance is 25%; the weakest gestures drown
/// in the noise (see `sim_gesture.rs`), so no classifier reaches 100%.
pub const PASS_ACCURACY: f32 = 0.7;

/// The desktop-trained model file for this board's number format (models/README.md).
#[cfg(all(feature = "pretrained", feature = "mps2-an386"))]
const MODEL: &[u8] = include_bytes!("../models/gestures-f32.nid");
/// The desktop-trained model file for this board's number format (models/README.md).
#[cfg(all(feature = "pretrained", feature = "microbit"))]
const MODEL: &[u8] = include_bytes!("../models/gestures-q12.nid");
#[cfg(all(
    feature = "pretrained",
    any(feature = "q16", feature = "soft-float", feature = "linear")
))]
compile_error!("`pretrained` has model files for f32 (mps2-an386) and Q4.12 (microbit) only");

fn window(stream: &mut Gestures) -> (Vector<T, INPUTS>, usize) {
    let (x, class) = stream.window();
    (Vector::from_fn(|i, _| T::from_f64(x[i])), class)
}

/// Mean loss and accuracy over [`EVAL_WINDOWS`] fresh windows of the seed [`EVAL_SEED`], and
/// the windows of each class predicted right.
fn evaluate(net: &Classifier, watchdog: &mut impl Watchdog) -> (f32, f32, [u32; CLASSES]) {
    let mut stream = Gestures::new(EVAL_SEED);
    let (mut loss, mut right) = (0.0f32, [0u32; CLASSES]);
    for _ in 0..EVAL_WINDOWS {
        watchdog.feed();
        let (x, class) = window(&mut stream);
        let logits = net.apply(&x);
        loss += <CrossEntropy as Loss<T, CLASSES>>::value(&logits, &class).to_f64() as f32;
        if <CrossEntropy as Loss<T, CLASSES>>::correct(&logits, &class) {
            right[class] += 1;
        }
    }
    let n = EVAL_WINDOWS as f32;
    (loss / n, right.iter().sum::<u32>() as f32 / n, right)
}

fn report_evaluation(what: &str, net: &Classifier, watchdog: &mut impl Watchdog) -> f32 {
    let (loss, accuracy, right) = evaluate(net, watchdog);
    defmt::info!(
        "{=str}: held-out loss {=f32}, accuracy {=f32} on {=u32} fresh windows (right per class: {=str} {=u32}, {=str} {=u32}, {=str} {=u32}, {=str} {=u32})",
        what,
        loss,
        accuracy,
        EVAL_WINDOWS,
        NAMES[0],
        right[0],
        NAMES[1],
        right[1],
        NAMES[2],
        right[2],
        NAMES[3],
        right[3]
    );
    accuracy
}

/// The starting network: the desktop's model file, or [`Net::init`].
fn start() -> Classifier {
    #[cfg_attr(not(feature = "pretrained"), expect(unused_mut))]
    let mut net = Classifier::init(&mut Rng::new(INIT_SEED), INIT_SCALE);
    #[cfg(feature = "pretrained")]
    match file::load(&mut net, MODEL) {
        Ok(header) => defmt::info!(
            "model file: {=usize} B loaded (D_in={=u16}, D={=u16}, H={=u16}, M={=u16}, D_out={=u16})",
            MODEL.len(),
            header.shape.inputs,
            header.shape.width,
            header.shape.hidden,
            header.shape.depth,
            header.shape.outputs
        ),
        Err(e) => {
            defmt::error!("model file: {}", e);
            crate::fault::fail("the model file does not load into this firmware's network");
        }
    }
    net
}

/// CRC-32 of the model file of `net` (its last four bytes, [`file::stream`]): every weight to the
/// bit, the same figure `nearid export` of the same weights writes. Under QEMU the file is also
/// written to the host when the command line asks (`model-out=PATH`, [`crate::semihost`]): the
/// trained weights off the chip, for `nearid import`.
#[inline(never)]
fn model_crc(net: &Classifier) -> (usize, u32) {
    #[cfg(feature = "qemu")]
    let mut out = crate::semihost::ModelOut::from_command_line();
    let mut last = [0u8; 4];
    let mut written = 0;
    let length = file::stream::<T, Classifier>(net, LossKind::CrossEntropy, &mut |bytes| {
        #[cfg(feature = "qemu")]
        out.write(bytes);
        for &b in bytes {
            last.rotate_left(1);
            last[3] = b;
        }
        written += bytes.len();
    });
    match length {
        Ok(n) => (n, u32::from_le_bytes(last)),
        Err(_) => (written, 0),
    }
}

/// One training step, out of line so its code is one symbol and the clock reads sit around the
/// call alone.
#[inline(never)]
fn timed_step<C: Clock>(
    clock: &mut C,
    sgd: &mut FusedSgd<T, Classifier, B, CrossEntropy>,
    net: &mut Classifier,
    xs: &[Vector<T, INPUTS>; B],
    classes: &[usize; B],
) -> (nearid::Result<nearid::Step<T>>, u64) {
    let start = clock.ticks();
    let result = sgd.step(net, xs, classes);
    let ticks = u64::from(clock.ticks().wrapping_sub(start) & C::MASK);
    (result, ticks)
}

/// Runs the classification; returns whether it passed, and the watchdog for the board's end.
pub fn run<I, L, D, C, W, F>(parts: Parts<I, L, D, C, W, F>) -> (bool, W)
where
    I: I2c,
    L: OutputPin,
    D: DelayNs,
    C: Clock,
    W: Watchdog,
{
    let Parts {
        mut led,
        mut clock,
        mut watchdog,
        ..
    } = parts;
    defmt::info!(
        "nearid firmware: gesture classification on {=str}",
        board::NAME
    );
    let mut net = start();
    let config = Sgd::new(T::from_f64(LEARNING_RATE));
    let mut sgd = FusedSgd::<T, Classifier, B, CrossEntropy>::new(config);
    let Ok(sgd) = sgd.as_mut() else {
        crate::fault::fail("invalid SGD configuration");
    };
    let params = <Classifier as Trainable<T>>::PARAMS;
    defmt::info!(
        "network: Net<{=str}, D_in={=usize}, D={=usize}, H={=usize}, M={=usize}, D_out={=usize}>, {=usize} parameters; softmax cross-entropy over {=usize} classes",
        board::SCALAR,
        INPUTS,
        WIDTH,
        HIDDEN,
        DEPTH,
        CLASSES,
        params,
        CLASSES
    );
    defmt::info!(
        "RAM: parameters {=usize} B, optimiser (B={=usize} tape) {=usize} B",
        Classifier::PARAM_BYTES,
        B,
        FusedSgd::<T, Classifier, B, CrossEntropy>::STATE_BYTES
    );
    if cfg!(feature = "pretrained") {
        report_evaluation("as loaded", &net, &mut watchdog);
    }
    defmt::info!(
        "training: {=u32} steps of FusedSgd, learning rate {=f32}, one fresh window per step",
        STEPS,
        LEARNING_RATE as f32
    );
    let mut stream = Gestures::new(TRAIN_SEED);
    let (mut window_loss, mut window_right, mut window_ticks, mut total_ticks) =
        (0.0f32, 0u32, 0u64, 0u64);
    let (mut failed, mut saturations, mut logged, mut failed_at_log) = (0u32, 0u32, 0u32, 0u32);
    for step in 1..=STEPS {
        watchdog.feed();
        let (x, class) = window(&mut stream);
        let (result, ticks) = timed_step(&mut clock, sgd, &mut net, &[x], &[class]);
        match result {
            Ok(done) => {
                window_loss += done.loss.to_f64() as f32;
                window_right += done.correct;
                saturations = saturations.saturating_add(done.saturations);
            }
            // The core left the weights as they were: the window is skipped.
            Err(_) => failed += 1,
        }
        window_ticks += ticks;
        total_ticks += ticks;
        if step % LOG_EVERY == 0 {
            let (num, den) = C::UNITS_PER_TICK;
            let n = step - logged;
            let trained = (n - (failed - failed_at_log)).max(1);
            defmt::info!(
                "step {=u32}  loss {=f32}  accuracy {=f32}  {=u64} {=str}/step",
                step,
                window_loss / trained as f32,
                window_right as f32 / trained as f32,
                window_ticks * num / den / u64::from(n),
                C::UNIT
            );
            (window_loss, window_right, window_ticks) = (0.0, 0, 0);
            (logged, failed_at_log) = (step, failed);
            let _ = if step / LOG_EVERY % 2 == 1 {
                led.set_high()
            } else {
                led.set_low()
            };
        }
    }
    let (num, den) = C::UNITS_PER_TICK;
    defmt::info!(
        "cost: {=u64} {=str} per training step",
        total_ticks * num / den / u64::from(STEPS),
        C::UNIT
    );
    let accuracy = report_evaluation("trained", &net, &mut watchdog);
    let (bytes, crc) = model_crc(&net);
    defmt::info!(
        "trained model file: {=usize} B, CRC-32 {=u32:#010x}",
        bytes,
        crc
    );
    let stack = stack::high_water();
    defmt::info!(
        "stack high-water mark: {=usize} B of the stack's {=usize} B",
        stack.used,
        stack.available
    );
    defmt::info!(
        "faults: {=u32} training steps failed and skipped (weights kept); {=u32} fixed-point results clamped",
        failed,
        saturations
    );
    let passed = !stack.overflowed() && accuracy >= PASS_ACCURACY;
    if passed {
        defmt::info!(
            "PASS: held-out accuracy {=f32} >= {=f32}",
            accuracy,
            PASS_ACCURACY
        );
        let _ = led.set_high();
    } else {
        let _ = led.set_low();
        defmt::error!(
            "FAIL: held-out accuracy {=f32} below {=f32}, or the stack reached its limit",
            accuracy,
            PASS_ACCURACY
        );
    }
    (passed, watchdog)
}

#[cfg(feature = "linear")]
compile_error!("features `classify` and `linear` each choose the app: enable one");
