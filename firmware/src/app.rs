//! The application, the same on every board: online calibration of a 3-axis sensor.
//!
//! A residual network f = ResNet<T, 3, H, M> starts as exactly the identity (W2 = 0, random W1)
//! and learns the map raw -> true of the sensor, h^-1 for the distortion h of [`crate::sim`]:
//!
//! 1. read samples (raw, reference) through the I2C driver into a ring buffer of the last
//!    `RING` samples (heapless, fixed capacity: the oldest is overwritten); every reading goes
//!    through [`Acquire`], which retries failed reads and rejects stuck and railed readings,
//!    counting each;
//! 2. every step: read one new sample, draw a mini-batch of `B` samples from the ring at
//!    random, take one [`FusedSgd`] step on the loss 1/2 ||f(raw) - true||^2 (no gradient
//!    buffer: RAM = parameters + B tapes), timing the step with the board's [`Clock`]; a step
//!    that returns `Err` (the weights are then as they were) is skipped and counted;
//! 3. log the mean training loss every `LOG_EVERY` steps, with the fixed-point saturations the
//!    steps counted;
//! 4. at the end, measure the loss on [`EVAL_SAMPLES`] fresh samples, calibrated (f(raw)) and
//!    uncalibrated (raw itself), log the CRC of the weights, the stack and every fault count,
//!    and pass only if the calibrated loss is below [`THRESHOLD`].
//!
//! With the `pretrained` feature the network starts from the desktop's model file (`MODEL`,
//! `include_bytes!`, made by host/examples/calibration_model.rs) instead, is measured as loaded,
//! and is fine-tuned at a tenth of the board's learning rate ([`RATE`]).
//!
//! With the `grow` feature the network starts at active depth [`START_DEPTH`] of its capacity M
//! and grows a block at a time when the training loss stalls (see [`Growth`]), up to M; the
//! cost of a step falls with m, and the log ends with the instructions over all the steps.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use heapless::HistoryBuf;
use nearid::{FusedSgd, Model, ResNet, Rng, Scalar, Sgd, Vector};

use crate::acquire::{Acquire, READ_TRIES};
use crate::board::{
    self, B, Clock, H, LEARNING_RATE, LOG_EVERY, M, Parts, RING, STEPS, T, Watchdog,
};
#[cfg(feature = "grow")]
use crate::board::{GROW_THRESHOLD, GROW_WINDOW};
use crate::fault::fail;
use crate::flash::Storage;
#[cfg(feature = "checkpoint")]
use crate::persist::Persist;
use crate::sensor::{Sensor, units};
use crate::stack;

/// Seed of the simulated sensor's distortion and noise.
pub const SENSOR_SEED: u64 = 2026;
/// Seed of the network's initial W1.
pub const INIT_SEED: u64 = 1;
/// Seed of the mini-batch draws.
const BATCH_SEED: u64 = 7;
/// W1 ~ N(0, INIT_SCALE^2) at the start (W2 = 0: the network starts as the identity).
pub const INIT_SCALE: f64 = 0.5;
/// Fresh samples the final loss is measured on.
pub const EVAL_SAMPLES: u32 = 256;
/// The run passes when the final held-out loss, mean 1/2 ||f(raw) - true||^2, is below this.
/// The sensor noise alone (sigma = 0.005 per axis) costs 3 sigma^2 / 2 = 3.75e-5; the
/// uncalibrated sensor (f = identity) costs about 4e-2 (both are logged).
pub const THRESHOLD: f32 = 1e-3;

// A checkpoint keeps the active depth (the model file's), but not yet the stall rule's windows
// or the generator new blocks draw from: a resumed run would grow at other steps than a run
// never cut, which the power-cut tests check it does not.
#[cfg(all(feature = "grow", feature = "checkpoint"))]
compile_error!(
    "features `grow` and `checkpoint` together are not supported yet: a checkpoint does not keep the stall rule's state"
);

// A model file holds one active depth; growing starts from its own.
#[cfg(all(feature = "grow", feature = "pretrained"))]
compile_error!(
    "features `grow` and `pretrained` together are not supported: growing starts at START_DEPTH"
);
#[cfg(all(feature = "pretrained", feature = "linear"))]
compile_error!(
    "`pretrained` starts the calibration or (with `classify`) the classification app; the linear app has no model file"
);
#[cfg(all(feature = "pretrained", any(feature = "q16", feature = "soft-float")))]
compile_error!(
    "`pretrained` has calibration model files for f32 (M4F boards) and Q4.12 (microbit) only"
);

/// The learning rate: the board's, from the identity.
#[cfg(not(feature = "pretrained"))]
pub const RATE: f64 = LEARNING_RATE;
/// The learning rate fine-tuning the desktop's model: a tenth of the board's. At the board's own
/// (0.02) the M4F's held-out loss rose from 5.4e-5 as loaded to 8.1e-5 after its 2,000 steps:
/// one-sample SGD at that rate jitters above what the desktop's 20,000 steps reached.
#[cfg(feature = "pretrained")]
pub const RATE: f64 = LEARNING_RATE / 10.0;

/// The `pretrained` feature: the desktop-trained model file for this board's number format
/// (f32 on the M4F boards, Q4.12 on the Cortex-M0 ones), made by
/// `host/examples/calibration_model.rs` (models/README.md). A file of another shape or format
/// is refused by the load with the reason in the log.
#[cfg(all(
    feature = "pretrained",
    not(any(feature = "microbit", feature = "pico"))
))]
const MODEL: &[u8] = include_bytes!("../models/calibration-f32.nid");
/// The `pretrained` feature: the desktop-trained model file for this board's number format,
/// made by `host/examples/calibration_model.rs` (models/README.md).
#[cfg(all(feature = "pretrained", any(feature = "microbit", feature = "pico")))]
const MODEL: &[u8] = include_bytes!("../models/calibration-q12.nid");

/// The `pretrained` feature: loads [`MODEL`] into `net` (in place: the file's bytes are read
/// from flash, no copy of the network on the stack) and logs its header, or fails the run: a
/// file that does not fit this build's network is a build mistake. Out of line, its frame out
/// of `run`'s.
#[cfg(feature = "pretrained")]
#[inline(never)]
pub fn load_model(net: &mut Net) {
    match nearid::file::load(net, MODEL) {
        Ok(header) => defmt::info!(
            "model file: {=usize} B loaded (D={=u16}, H={=u16}, M={=u16}, m={=u16}), trained on the desktop",
            MODEL.len(),
            header.shape.width,
            header.shape.hidden,
            header.shape.depth,
            header.active_depth
        ),
        Err(e) => {
            defmt::error!("model file: {}", e);
            fail("the model file does not load into this firmware's network");
        }
    }
}

/// The `grow` feature: the blocks in use at the start (of the network's M).
#[cfg(feature = "grow")]
pub const START_DEPTH: usize = 2;

/// One sample: (raw reading, reference), each (3).
pub type Sample<S> = (Vector<S, 3>, Vector<S, 3>);

/// The network every board trains.
pub type Net = ResNet<T, 3, H, M>;

fn vector(v: [f32; 3]) -> Vector<T, 3> {
    Vector::from_fn(|i, _| T::from_f64(f64::from(v[i])))
}

/// The next sample that passes [`Acquire`]'s checks (retried reads, stuck and railed readings
/// rejected, all counted); the run fails only when the sensor has stopped giving any.
pub fn read<I: I2c>(sensor: &mut Sensor<I>, acquire: &mut Acquire) -> Sample<T> {
    match acquire.next(sensor) {
        Some((raw, reference)) => (vector(units(raw)), vector(units(reference))),
        None => fail("sensor: 64 samples in a row were unreadable or rejected"),
    }
}

/// Mean over `EVAL_SAMPLES` fresh samples of 1/2 ||f(raw) - true||^2 and of 1/2 ||raw - true||^2.
fn evaluate<I: I2c>(
    net: &Net,
    sensor: &mut Sensor<I>,
    acquire: &mut Acquire,
    watchdog: &mut impl Watchdog,
    #[cfg(feature = "checkpoint")] persist: &mut Persist<impl Storage>,
) -> (f32, f32) {
    let (mut calibrated, mut uncalibrated) = (0.0f32, 0.0f32);
    for _ in 0..EVAL_SAMPLES {
        watchdog.feed();
        let (raw, truth) = read(sensor, acquire);
        #[cfg(feature = "checkpoint")]
        persist.held_out(&raw, &truth);
        let Ok(estimate) = net.forward(&raw) else {
            fail("network output is not finite");
        };
        let half_sq = |v: Vector<T, 3>| {
            0.5 * v
                .iter()
                .map(|e| e.to_f64() as f32)
                .map(|e| e * e)
                .sum::<f32>()
        };
        calibrated += half_sq(estimate - truth);
        uncalibrated += half_sq(raw - truth);
    }
    let n = EVAL_SAMPLES as f32;
    (calibrated / n, uncalibrated / n)
}

/// CRC-32 (ISO-HDLC, zlib's) of the trained weights: each parameter as the little-endian bytes
/// of its value in f64 (exact for f32, Q4.12 and Q16.16 alike), block by block, W1, b1, W2, b2,
/// each column-major. In the golden logs it pins the weights to the bit, not only the losses.
/// Out of line: its locals stay out of `run`'s frame, which is live under every training step
/// (on the micro:bit that frame is part of the stack high-water mark).
#[inline(never)]
fn weights_crc(net: &Net) -> u32 {
    // Bit by bit, without the 1 KiB table: it runs once, and flash is the scarcer.
    const CRC: crc::Crc<u32, crc::NoTable> =
        crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);
    let mut digest = CRC.digest();
    for block in &net.blocks {
        // As slices (column-major), one loop for the four: no copy of it per shape in flash.
        let tensors = [
            block.w1.as_slice(),
            block.b1.as_slice(),
            block.w2.as_slice(),
            block.b2.as_slice(),
        ];
        for w in tensors.into_iter().flatten() {
            digest.update(&w.to_f64().to_le_bytes());
        }
    }
    digest.finalize()
}

/// Instructions in the clock check: 40 passes of 100 NOPs and the 2-instruction loop step.
const CLOCK_CHECK_INSTRUCTIONS: u64 = 40 * (100 + 2);

/// Under QEMU, checks that the clock counts instructions: times a loop of known length
/// ([`CLOCK_CHECK_INSTRUCTIONS`]) and fails unless the count is within 5% of it (the counter's
/// resolution is 40 to 63 instructions per tick). On a chip instructions are not cycles (the M4
/// can fold NOPs, a taken branch costs more), so the figure is only logged there.
///
/// Out of line on purpose: LLVM sizes inline assembly by its statements, so it counts the
/// `.rept 100` block as one instruction where it is 200 bytes. Inlined into a large function,
/// that error pushed Thumb-1 (thumbv6m) pc-relative loads past their 1 KiB reach and the link
/// failed ("out of range pc-relative fixup value"); alone, the function is small enough.
#[inline(never)]
fn check_clock<C: Clock>(clock: &mut C) {
    let start = clock.ticks();
    // SAFETY: a counted loop on r0 (declared clobbered): no memory, no stack, only time passes.
    unsafe {
        core::arch::asm!(
            "2:",
            ".rept 100",
            "nop",
            ".endr",
            "subs r0, r0, #1",
            "bne 2b",
            inout("r0") 40u32 => _,
            options(nomem, nostack),
        )
    };
    let ticks = u64::from(clock.ticks().wrapping_sub(start) & C::MASK);
    let (num, den) = C::UNITS_PER_TICK;
    let counted = ticks * num / den;
    defmt::info!(
        "clock check: a loop of {=u64} instructions counted as {=u64} {=str}",
        CLOCK_CHECK_INSTRUCTIONS,
        counted,
        C::UNIT
    );
    if cfg!(feature = "qemu")
        && counted.abs_diff(CLOCK_CHECK_INSTRUCTIONS) * 20 > CLOCK_CHECK_INSTRUCTIONS
    {
        fail("the clock does not count instructions (is QEMU running with -icount shift=0?)");
    }
}

/// One training step: forward and backward over the batch and the fused SGD update. Kept out of
/// line so its code is one symbol (`train_step`) in the ELF: the disassembly of the hot loops and
/// the size reports find it by name.
#[inline(never)]
fn train_step(
    sgd: &mut FusedSgd<T, Net, B>,
    net: &mut Net,
    xs: &[Vector<T, 3>; B],
    ys: &[Vector<T, 3>; B],
) -> nearid::Result<nearid::Step<T>> {
    sgd.step(net, xs, ys)
}

/// [`train_step`] timed by the board's clock: the clock reads and the call alone, out of line,
/// so that what the count includes besides the step (the reads, the arguments moved into place)
/// is fixed here, whatever the training loop around it looks like. Inlined, the compiler was free
/// to schedule the loop's own work (the batch draw, the fault counts) between the clock reads.
#[inline(never)]
fn timed_step<C: Clock>(
    clock: &mut C,
    sgd: &mut FusedSgd<T, Net, B>,
    net: &mut Net,
    xs: &[Vector<T, 3>; B],
    ys: &[Vector<T, 3>; B],
) -> (nearid::Result<nearid::Step<T>>, u64) {
    let start = clock.ticks();
    let result = train_step(sgd, net, xs, ys);
    let ticks = u64::from(clock.ticks().wrapping_sub(start) & C::MASK);
    (result, ticks)
}

/// Growing depth (the `grow` feature): the core's [`Stall`](nearid::Stall) rule on each step's
/// training loss, and the generator new blocks draw W1 from.
///
/// A block is always appended at the end (position m): [`FusedSgd`] applies each block's
/// gradient as the backward pass makes it and keeps no per-block gradient buffer, so there is
/// no "block with the largest gradient" to insert after without a second pass, and no
/// optimiser state to grow with the network. The generator is the one the first blocks were
/// drawn from, in [`ResNet::identity_init`]'s order, so block k gets the W1 that block k of the
/// fixed-depth run starts with.
#[cfg(feature = "grow")]
struct Growth {
    stall: nearid::Stall,
    init: Rng,
    grown: u32,
}

#[cfg(feature = "grow")]
impl Growth {
    /// Takes a trained step's loss; at a stall below the capacity, appends a block that
    /// computes exactly the identity and logs it. Out of line: its frame (the log line's) stays
    /// out of `run`'s, which is live under every training step.
    #[inline(never)]
    fn observe(&mut self, step: u32, loss: f32, net: &mut Net) {
        let m = net.active_depth();
        if m >= M || !self.stall.observe(loss) {
            return;
        }
        let window = self.stall.last_mean().unwrap_or(f32::NAN);
        append(net, &mut self.init);
        self.stall.restart();
        self.grown += 1;
        defmt::info!(
            "grow: step {=u32}  m {=usize} -> {=usize}  loss {=f32} over the last {=u32} steps",
            step,
            m,
            m + 1,
            window,
            GROW_WINDOW
        );
    }
}

/// Grows the network by one block at the end, in place: what [`ResNet::grow`] at position m
/// does (W1 drawn as [`nearid::ResidualBlock::for_insertion`] draws it, W2 = b1 = b2 = 0), without
/// the copies of the new block it makes on the stack. Those took a 1.4 KiB frame on the
/// Cortex-M0, and on top of `run`'s (13.9 KiB) they overflowed the micro:bit's stack (measured:
/// a lockup at the first growth). Block m was never touched: [`Net::identity`] zeroed it and
/// training updates only the blocks that ran, so it computes exactly the identity.
#[cfg(feature = "grow")]
#[inline(never)]
fn append(net: &mut Net, init: &mut Rng) {
    let m = net.active_depth();
    let Some(block) = net.blocks.get_mut(m) else {
        fail("grow: the network is at its capacity");
    };
    draw_w1(block, init);
    if net.set_active_depth(m + 1).is_err() {
        fail("grow: the network is at its capacity");
    }
}

/// W1 ~ N(0, INIT_SCALE^2), in place, in the order [`ResNet::identity_init`] draws it (as the
/// fixed run's start does).
#[cfg(feature = "grow")]
#[inline(always)]
fn draw_w1(block: &mut nearid::ResidualBlock<T, 3, H>, init: &mut Rng) {
    block
        .w1
        .iter_mut()
        .for_each(|w| *w = T::from_f64(INIT_SCALE * init.normal()));
}

/// Runs the calibration; returns whether it passed, and the watchdog for the board's end.
pub fn run<I, L, D, C, W, F>(parts: Parts<I, L, D, C, W, F>) -> (bool, W)
where
    I: I2c,
    L: OutputPin,
    D: DelayNs,
    C: Clock,
    W: Watchdog,
    F: Storage,
{
    let Parts {
        i2c,
        mut led,
        mut delay,
        mut clock,
        mut watchdog,
        flash,
    } = parts;
    defmt::info!(
        "nearid firmware: online calibration of a 3-axis sensor on {=str}",
        board::NAME
    );
    check_clock(&mut clock);
    let mut sensor = match Sensor::new(i2c) {
        Ok(s) => s,
        Err(_) => fail("no sensor: WHO_AM_I did not answer as expected"),
    };
    defmt::info!("sensor: WHO_AM_I ok");

    // The network and the optimiser are built where they stay, without a temporary copy on the
    // stack (on the micro:bit a second copy of either would not fit): W1 is drawn in place, in
    // the order `ResNet::identity_init` draws it, so the weights are the same.
    let mut net = Net::identity();
    let mut init = Rng::new(INIT_SEED);
    // The loop as it was before `grow`: in a helper (or over a slice), the Cortex-M0 builds'
    // code moved and with it the phase of the clock, and the q16 and soft-float golden logs'
    // per-step counts moved by a few instructions.
    #[cfg(not(feature = "grow"))]
    for block in &mut net.blocks {
        block
            .w1
            .iter_mut()
            .for_each(|w| *w = T::from_f64(INIT_SCALE * init.normal()));
    }
    // Growing, only the first blocks now: the later ones draw theirs as they are grown.
    #[cfg(feature = "grow")]
    for block in &mut net.blocks[..START_DEPTH] {
        draw_w1(block, &mut init);
    }
    #[cfg(feature = "grow")]
    let mut growth = {
        if net.set_active_depth(START_DEPTH).is_err() {
            fail("grow: the start depth is above the capacity");
        }
        Growth {
            stall: nearid::Stall::new(GROW_WINDOW, GROW_THRESHOLD),
            init,
            grown: 0,
        }
    };
    #[cfg(feature = "pretrained")]
    load_model(&mut net);
    let mut sgd = FusedSgd::<T, Net, B>::new(Sgd::new(T::from_f64(RATE)));
    let Ok(sgd) = sgd.as_mut() else {
        fail("invalid SGD configuration");
    };
    // From the type, not `Net::parameter_count()`, which builds a zero network to count.
    let params = Net::PARAM_BYTES / core::mem::size_of::<T>();
    #[cfg(not(feature = "pretrained"))]
    defmt::info!(
        "network: ResNet<{=str}, D=3, H={=usize}, M={=usize}>, {=usize} parameters, identity start",
        board::SCALAR,
        H,
        M,
        params
    );
    #[cfg(feature = "pretrained")]
    defmt::info!(
        "network: ResNet<{=str}, D=3, H={=usize}, M={=usize}>, {=usize} parameters, from the model file",
        board::SCALAR,
        H,
        M,
        params
    );
    defmt::info!(
        "RAM: parameters {=usize} B, optimiser (B={=usize} tapes) {=usize} B, ring of {=usize} samples {=usize} B",
        Net::PARAM_BYTES,
        B,
        FusedSgd::<T, Net, B>::STATE_BYTES,
        RING,
        core::mem::size_of::<HistoryBuf<Sample<T>, RING>>()
    );
    defmt::info!(
        "training: {=u32} steps of FusedSgd, learning rate {=f32}, batch {=usize} from the ring, one new sample per step",
        STEPS,
        RATE as f32,
        B
    );
    #[cfg(feature = "grow")]
    defmt::info!(
        "growing: from m = {=usize} of M = {=usize}, a block appended when the mean training loss of {=u32} steps improves on the previous {=u32} by less than {=f32}",
        net.active_depth(),
        M,
        GROW_WINDOW,
        GROW_WINDOW,
        GROW_THRESHOLD
    );

    let mut acquire = Acquire::default();
    let mut ring: HistoryBuf<Sample<T>, RING> = HistoryBuf::new();
    // The desktop's model as loaded, on fresh samples of this unit. Not in a checkpointing
    // build: there the held-out samples are recorded for `cargo xtask pull`, and a resumed run
    // does not start from the file.
    #[cfg(all(feature = "pretrained", not(feature = "checkpoint")))]
    {
        let (calibrated, uncalibrated) = evaluate(&net, &mut sensor, &mut acquire, &mut watchdog);
        defmt::info!(
            "as loaded: held-out loss on {=u32} fresh samples: uncalibrated {=f32}, calibrated {=f32}",
            EVAL_SAMPLES,
            uncalibrated,
            calibrated
        );
    }
    // The step training starts after: 0, or the step a checkpoint resumes at (its ring refilled
    // as it was, so the fill below has nothing left to do).
    #[cfg(not(feature = "checkpoint"))]
    let (start, _) = (0u32, flash);
    #[cfg(feature = "checkpoint")]
    let (start, mut persist) = {
        let store = crate::persist::Store::new(flash, board::checkpoint_region());
        let (net, sgd, watchdog) = (&mut net, &mut *sgd, &mut watchdog);
        let mut source = || read(&mut sensor, &mut acquire);
        let persist = Persist::boot(store, net, sgd);
        persist.replay(&mut ring, &mut source, watchdog);
        acquire.faults = crate::persist::faults_from(persist.counters.faults);
        (persist.counters.step, persist)
    };
    while !ring.is_full() {
        watchdog.feed();
        ring.write(read(&mut sensor, &mut acquire));
    }
    let mut draw = Rng::new(BATCH_SEED);
    #[cfg(feature = "checkpoint")]
    persist.first_checkpoint(&net, sgd, &ring, &mut draw, &acquire, &mut clock);
    let (mut window_loss, mut window_ticks, mut total_ticks) = (0.0f32, 0u64, 0u64);
    // Failed steps and saturations at the last log line: the window's follow from them.
    #[cfg(not(feature = "checkpoint"))]
    let (mut failed_at_log, mut saturations_at_log) = (0u32, 0u32);
    #[cfg(feature = "checkpoint")]
    let (mut failed_at_log, mut saturations_at_log) =
        (acquire.faults.steps_failed, acquire.faults.saturations);
    let (mut led_on, mut logged) = (false, start);
    for step in start + 1..=STEPS {
        watchdog.feed();
        #[cfg(feature = "checkpoint")]
        persist.before_step(step);
        ring.write(read(&mut sensor, &mut acquire));
        let samples = ring.as_slice();
        let mut xs = [Vector::<T, 3>::from_element(T::ZERO); B];
        let mut ys = [Vector::<T, 3>::from_element(T::ZERO); B];
        for b in 0..B {
            let i = (draw.next_u32() as usize) % samples.len();
            (xs[b], ys[b]) = samples[i];
        }
        #[cfg(feature = "fault-injection")]
        crate::sim::corrupt_step(step, &mut xs);
        let (result, ticks) = timed_step(&mut clock, sgd, &mut net, &xs, &ys);
        #[cfg(feature = "checkpoint")]
        persist.interval.add(&result);
        match result {
            Ok(done) => {
                window_loss += done.loss.to_f64() as f32;
                let faults = &mut acquire.faults;
                faults.saturations = faults.saturations.saturating_add(done.saturations);
                #[cfg(feature = "grow")]
                growth.observe(step, done.loss.to_f64() as f32, &mut net);
            }
            // A non-finite loss or gradient: the core left the weights as they were, so the
            // sample is skipped and the run goes on.
            Err(_) => acquire.faults.steps_failed += 1,
        }
        window_ticks += ticks;
        total_ticks += ticks;
        // Log the mean since the last line: at steps 1, 10, 100 (the fast start), then every
        // LOG_EVERY steps.
        if matches!(step, 1 | 10 | 100) || step % LOG_EVERY == 0 {
            let (num, den) = C::UNITS_PER_TICK;
            let n = step - logged;
            let now = acquire.faults;
            let trained = n - (now.steps_failed - failed_at_log);
            defmt::info!(
                "step {=u32}  loss {=f32}  {=u64} {=str}/step  {=u32} saturations",
                step,
                window_loss / trained.max(1) as f32,
                window_ticks * num / den / u64::from(n),
                C::UNIT,
                now.saturations - saturations_at_log
            );
            (window_loss, window_ticks, logged) = (0.0, 0, step);
            (failed_at_log, saturations_at_log) = (now.steps_failed, now.saturations);
            led_on = !led_on;
            let _ = if led_on {
                led.set_high()
            } else {
                led.set_low()
            };
        }
        // Between steps: judge the interval, then save it or roll back.
        #[cfg(feature = "checkpoint")]
        if step % board::CHECKPOINT_EVERY == 0 {
            watchdog.feed();
            persist.between_steps(step, &mut net, sgd, &acquire, &mut clock);
        }
    }

    let (num, den) = C::UNITS_PER_TICK;
    // Steps trained in this boot (all of them unless a checkpoint resumed the run).
    let per_step = total_ticks * num / den / u64::from((STEPS - start).max(1));
    defmt::info!(
        "cost: {=u64} {=str} per training step, {=f32} per parameter, {=f32} per parameter per sample",
        per_step,
        C::UNIT,
        per_step as f32 / params as f32,
        per_step as f32 / (params * B) as f32
    );
    // The sum of the measured steps, what a grown run and a fixed one compare by. Only in the
    // `grow` build: in the micro:bit's default build the line moved the clock's phase and with
    // it the golden log's per-step counts (by up to 4 instructions), so a fixed run's total is
    // read from its `cost:` line (the mean, rounded down, times the steps).
    #[cfg(feature = "grow")]
    defmt::info!(
        "total: {=u64} {=str} over {=u32} training steps",
        total_ticks * num / den,
        C::UNIT,
        STEPS - start
    );
    #[cfg(feature = "grow")]
    defmt::info!(
        "depth: m = {=usize} of M = {=usize} after {=u32} growths",
        net.active_depth(),
        M,
        growth.grown
    );
    let (calibrated, uncalibrated) = evaluate(
        &net,
        &mut sensor,
        &mut acquire,
        &mut watchdog,
        #[cfg(feature = "checkpoint")]
        &mut persist,
    );
    defmt::info!(
        "held-out loss on {=u32} fresh samples: uncalibrated {=f32}, calibrated {=f32}",
        EVAL_SAMPLES,
        uncalibrated,
        calibrated
    );
    defmt::info!(
        "trained weights: {=usize} parameters, CRC-32 {=u32:#010x}",
        params,
        weights_crc(&net)
    );
    #[cfg(feature = "checkpoint")]
    persist.summary();
    let stack = stack::high_water();
    defmt::info!(
        "stack high-water mark: {=usize} B of the stack's {=usize} B",
        stack.used,
        stack.available
    );
    let faults = acquire.faults;
    defmt::info!(
        "faults: {=u32} sensor reads retried, {=u32} samples unreadable after {=u32} tries, {=u32} stuck and {=u32} railed readings rejected, {=u32} training steps failed and skipped (weights kept)",
        faults.retried,
        faults.unreadable,
        READ_TRIES,
        faults.stuck,
        faults.railed,
        faults.steps_failed
    );
    defmt::info!(
        "saturations: {=u32} fixed-point results clamped in {=u32} training steps",
        faults.saturations,
        STEPS
    );
    if stack.overflowed() {
        defmt::error!("FAIL: the stack reached its limit");
        return (false, watchdog);
    }
    let passed = calibrated < THRESHOLD;
    if passed {
        defmt::info!(
            "PASS: final loss {=f32} < threshold {=f32}",
            calibrated,
            THRESHOLD
        );
        // Three blinks, then the LED stays on.
        watchdog.feed();
        for _ in 0..3 {
            let _ = led.set_low();
            delay.delay_ms(100);
            let _ = led.set_high();
            delay.delay_ms(100);
        }
    } else {
        let _ = led.set_low();
        defmt::error!(
            "FAIL: final loss {=f32} is not below the threshold {=f32}",
            calibrated,
            THRESHOLD
        );
    }
    (passed, watchdog)
}
