//! Checkpoints of the calibration app (the `checkpoint` feature; always on the real boards):
//! the network, the optimiser's state and the app's counters ([`payload::Counters`]) saved in
//! the board's flash every `CHECKPOINT_EVERY` steps with `nearid::checkpoint`, resumed at boot,
//! and restored when training diverges (a *rollback*, with a lower learning rate).
//!
//! ## Resuming
//! At boot the newest valid checkpoint is loaded into the network and the optimiser; the app
//! then reads the sensor on from where the checkpoint left it. With the simulated sensor that
//! means reading past the samples the earlier boots used (its stream restarts with the chip),
//! so a resumed run trains on exactly the samples, in exactly the batches, of a run that was
//! never cut, and ends with the same weights, to the bit (`cargo xtask powercut` checks it);
//! a real sensor simply gives new samples.
//!
//! ## Divergence and rollback
//! Between steps, at each checkpoint, the interval's training is judged before it is saved. It
//! has diverged when
//! - its mean loss is not finite, or more than half of its steps failed (a non-finite loss or
//!   gradient: the core refused them), or
//! - its mean loss exceeds [`DIVERGENCE_FACTOR`] times the lowest interval mean so far (at a
//!   fresh start: the network's mean loss on the ring before training), or
//! - its steps saturated more than [`SATURATIONS_PER_STEP`] fixed-point results per step.
//!
//! Then the newest checkpoint (saved only after an interval that passed, or the start) is
//! restored into the live network and optimiser, the learning rate is multiplied by
//! [`ROLLBACK_RATE`], and training goes on with the next samples; after [`MAX_ROLLBACKS`] the
//! run fails. Otherwise the interval is saved.

pub mod payload;

use heapless::HistoryBuf;
use nearid::checkpoint::{self, Checkpoint, Contents, Found, Geometry, Layout, Region, Saved};
use nearid::file::LossKind;
use nearid::{FusedSgd, Model, ResidualBlock, Rng, Scalar, SgdState, Step, Vector};

use crate::acquire::{Acquire, Faults};
use crate::app::RATE;
use crate::app::{INIT_SCALE, INIT_SEED, Net, Sample};
use crate::board::{B, CHECKPOINT_EVERY, Clock, M, RING, T, Watchdog};
use crate::fault::fail;
use crate::flash::Storage;
pub use payload::{Counters, PAYLOAD_MAX};

/// Training has diverged when an interval's mean loss exceeds this many times the lowest mean
/// so far. The default runs' interval means rise at most 1.67x above their running minimum
/// (micro:bit, intervals of 100 steps of batch 1, from the golden log; 1.1x on the M4F over 250
/// steps): a rise of 4x is not the noise of SGD.
pub const DIVERGENCE_FACTOR: f32 = 4.0;
/// Training has diverged when an interval saturated more fixed-point results than this per
/// step. The default micro:bit run's worst interval has 1.06 per step (106 in its first 100
/// steps, while W2 grows from zero), 0 after it.
pub const SATURATIONS_PER_STEP: u32 = 4;
/// A rollback multiplies the learning rate by this.
pub const ROLLBACK_RATE: f32 = 0.5;
/// Rollbacks before the run fails (the learning rate is then 1/256 of where it started).
pub const MAX_ROLLBACKS: u32 = 8;

// The image's description (shared with xtask, which reads it) is this build's.
#[cfg(feature = "qemu")]
const _: () = assert!(
    crate::board::HOST_IMAGE.model_bytes as usize == nearid::file::file_bytes::<T, Net>(),
    "persist::payload::HOST_IMAGES states another model file size than the board's network"
);

/// Why an interval counts as diverged.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub enum Divergence {
    /// No step of the interval gave a finite loss, or its mean is not finite.
    NonFinite,
    /// More than half of its steps failed.
    Failed(u32),
    /// Its mean loss rose past [`DIVERGENCE_FACTOR`] x the best (mean, best).
    Rose(f32, f32),
    /// It saturated this many fixed-point results.
    Saturated(u32),
}

/// The interval since the last checkpoint.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interval {
    loss: f32,
    trained: u32,
    failed: u32,
    saturations: u32,
}

impl Interval {
    /// Counts one step's result.
    pub fn add(&mut self, result: &nearid::Result<Step<T>>) {
        match result {
            Ok(step) => {
                self.loss += step.loss.to_f64() as f32;
                self.trained += 1;
                self.saturations = self.saturations.saturating_add(step.saturations);
            }
            Err(_) => self.failed += 1,
        }
    }

    /// The interval's mean loss, and whether it diverged against `best`.
    pub fn judge(&self, best: f32) -> (f32, Option<Divergence>) {
        let steps = self.trained + self.failed;
        let mean = self.loss / self.trained as f32;
        let verdict = if self.trained == 0 || !mean.is_finite() {
            Some(Divergence::NonFinite)
        } else if 2 * self.failed > steps {
            Some(Divergence::Failed(self.failed))
        } else if mean > DIVERGENCE_FACTOR * best {
            Some(Divergence::Rose(mean, best))
        } else if self.saturations > SATURATIONS_PER_STEP * steps {
            Some(Divergence::Saturated(self.saturations))
        } else {
            None
        };
        (mean, verdict)
    }
}

/// The fault counts as the payload stores them.
pub fn fault_words(f: &Faults) -> [u32; 6] {
    [
        f.retried,
        f.unreadable,
        f.stuck,
        f.railed,
        f.steps_failed,
        f.saturations,
    ]
}

/// The fault counts from [`fault_words`].
pub fn faults_from(w: [u32; 6]) -> Faults {
    let [
        retried,
        unreadable,
        stuck,
        railed,
        steps_failed,
        saturations,
    ] = w;
    Faults {
        retried,
        unreadable,
        stuck,
        railed,
        steps_failed,
        saturations,
    }
}

/// Mean 1/2 ||f(raw) - true||^2 over `samples`: the reference of the divergence test at a
/// fresh start.
#[inline(never)]
pub fn mean_loss(net: &Net, samples: &[(Vector<T, 3>, Vector<T, 3>)]) -> f32 {
    let mut sum = 0.0f32;
    for (x, y) in samples {
        let Ok(out) = net.forward(x) else {
            return f32::INFINITY;
        };
        sum += (out - y)
            .iter()
            .map(|e| e.to_f64() as f32)
            .map(|e| 0.5 * e * e)
            .sum::<f32>();
    }
    sum / samples.len().max(1) as f32
}

/// The board's flash and the layout of its checkpoint region.
#[derive(Debug)]
pub struct Store<F> {
    flash: F,
    layout: Layout,
}

impl<F: Storage> Store<F> {
    /// The store over `region` of `flash`; fails the run if the region cannot hold two slots.
    pub fn new(flash: F, region: Region) -> Self {
        let contents = Contents::of::<T, Net>(false, PAYLOAD_MAX);
        let Ok(layout) = Layout::new(Geometry::of::<F>(), region, contents) else {
            fail("checkpoint: the flash region cannot hold two checkpoints");
        };
        Self { flash, layout }
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The newest checkpoint, loaded into `net` (see `nearid::checkpoint::restore`), with its
    /// counters. `Ok(None)`: there is none, `net` untouched. On `Err` `net` may be partly
    /// overwritten (a read that failed while copying) and must be initialised again; a payload
    /// that is not the app's counters is [`nearid::FileError::Format`].
    #[inline(never)]
    pub fn restore(&mut self, net: &mut Net) -> nearid::Result<Option<(Found, Counters)>> {
        let mut payload = [0u8; PAYLOAD_MAX as usize];
        let found = checkpoint::restore(&mut self.flash, &self.layout, net, None, &mut payload)?;
        let Some(found) = found else {
            return Ok(None);
        };
        let counters = Counters::decode(&payload[..found.payload.len as usize])
            .ok_or(nearid::Error::File(nearid::FileError::Format))?;
        Ok(Some((found, counters)))
    }

    /// Saves a checkpoint. Out of line, so its frames (about 0.9 KiB on the Cortex-M0) are
    /// on the stack only while it runs, between steps, never under a training step.
    #[inline(never)]
    pub fn save(&mut self, net: &Net, sgd: SgdState, counters: &Counters) -> nearid::Result<Saved> {
        let payload = counters.encode();
        let checkpoint = Checkpoint {
            net,
            loss: LossKind::Quadratic,
            sgd,
            velocity: None,
            payload: &payload,
        };
        checkpoint::save(&mut self.flash, &self.layout, &checkpoint)
    }
}

/// The app's checkpointing: the store, the counters the next checkpoint saves, the interval
/// being trained and the run's options. Every method runs between steps and out of line.
#[derive(Debug)]
pub struct Persist<F> {
    store: Store<F>,
    /// What the next checkpoint saves (step and faults are brought up to date at each one).
    pub counters: Counters,
    /// The steps since the last checkpoint.
    pub interval: Interval,
    saves: u32,
    resumed: bool,
}

impl<F: Storage> Persist<F> {
    /// At boot: resumes from the newest checkpoint (network, optimiser, counters; then
    /// [`Persist::replay`] and [`Persist::first_checkpoint`] bring the sensor, the ring and the
    /// batch draws to where they were), or starts afresh (the network drawn again if a
    /// checkpoint was found unusable).
    #[inline(never)]
    pub fn boot(store: Store<F>, net: &mut Net, sgd: &mut FusedSgd<T, Net, B>) -> Self {
        let layout = *store.layout();
        defmt::info!(
            "checkpoints: {=u32} slots of {=u32} B in {=u32} B of flash (erase unit {=u32} B, each erased once per {=u32} saves), every {=u32} steps",
            layout.slots(),
            layout.slot_bytes(),
            layout.region.len,
            layout.geometry.erase,
            layout.saves_per_erase(),
            CHECKPOINT_EVERY
        );
        let options = store.flash().options();
        let mut persist = Self {
            counters: Counters {
                step: 0,
                samples: RING as u32,
                learning_rate: options.learning_rate.unwrap_or(RATE as f32),
                rollbacks: 0,
                best: f32::INFINITY,
                faults: [0; 6],
            },
            store,
            interval: Interval::default(),
            saves: 0,
            resumed: false,
        };
        match persist.store.restore(net) {
            Ok(Some((found, counters))) => {
                sgd.set_state(found.sgd);
                if counters.learning_rate != RATE as f32 {
                    set_learning_rate(sgd, counters.learning_rate);
                }
                defmt::info!(
                    "resumed from slot {=u32} (sequence {=u32}) at step {=u32} ({=u32} optimiser steps), learning rate {=f32}, {=u32} rollbacks so far",
                    found.slot,
                    found.sequence,
                    counters.step,
                    found.sgd.steps,
                    counters.learning_rate,
                    counters.rollbacks
                );
                persist.counters = counters;
                persist.resumed = true;
            }
            Ok(None) => defmt::info!("checkpoints: none in flash, a fresh start"),
            Err(e) => {
                defmt::warn!("checkpoints: the newest is unusable ({}), a fresh start", e);
                restart(net);
            }
        }
        if !persist.resumed && options.learning_rate.is_some() {
            set_learning_rate(sgd, persist.counters.learning_rate);
            defmt::info!(
                "learning rate {=f32} from the command line",
                persist.counters.learning_rate
            );
        }
        persist
    }

    /// After [`Persist::boot`], before the ring's first fill: a resumed run reads the sensor on
    /// to where the checkpoint left it and refills the ring as it was (samples from a multiple
    /// of RING on, so each lands in the slot it had: the batches index the ring's storage; the
    /// ones before, read past). Out of line and apart from `boot`, whose frame would otherwise
    /// sit under every sensor read (the micro:bit's stack overflowed).
    #[inline(never)]
    pub fn replay(
        &self,
        ring: &mut HistoryBuf<Sample<T>, RING>,
        read: &mut impl FnMut() -> Sample<T>,
        watchdog: &mut impl Watchdog,
    ) {
        if !self.resumed {
            return;
        }
        let samples = self.counters.samples;
        let from = (samples - RING as u32) / RING as u32 * RING as u32;
        for i in 0..samples {
            watchdog.feed();
            let sample = read();
            if i >= from {
                ring.write(sample);
            }
        }
    }

    /// After the ring is filled and the batch generator made: a resumed run's batch draws
    /// advanced past the steps already trained (B per step); a fresh start's divergence
    /// reference (the loss on the ring) and checkpoint of step 0, which a rollback in the first
    /// interval returns to, with the stack used so far logged (boot, restore and this save,
    /// before any training step).
    #[inline(never)]
    pub fn first_checkpoint<C: Clock>(
        &mut self,
        net: &Net,
        sgd: &FusedSgd<T, Net, B>,
        ring: &HistoryBuf<Sample<T>, RING>,
        draw: &mut Rng,
        acquire: &Acquire,
        clock: &mut C,
    ) {
        if self.resumed {
            for _ in 0..self.counters.step as usize * B {
                draw.next_u32();
            }
            return;
        }
        self.counters.best = mean_loss(net, ring.as_slice());
        self.save(0, net, sgd, acquire, clock);
        let stack = crate::stack::high_water();
        defmt::info!(
            "stack after boot and the first checkpoint: {=usize} B",
            stack.used
        );
    }

    /// Before step `step`: the power cut the command line asked for, and the sample count.
    pub fn before_step(&mut self, step: u32) {
        #[cfg(feature = "qemu")]
        if self.store.flash().options().cut_step == Some(step) {
            defmt::warn!("power cut before step {=u32}", step);
            crate::flash::power_cut();
        }
        #[cfg(not(feature = "qemu"))]
        let _ = step;
        self.counters.samples += 1;
    }

    /// At a checkpoint step: the interval judged, then saved, or rolled back.
    #[inline(never)]
    pub fn between_steps<C: Clock>(
        &mut self,
        step: u32,
        net: &mut Net,
        sgd: &mut FusedSgd<T, Net, B>,
        acquire: &Acquire,
        clock: &mut C,
    ) {
        let (mean, verdict) = self.interval.judge(self.counters.best);
        self.interval = Interval::default();
        let Some(why) = verdict else {
            self.counters.best = self.counters.best.min(mean);
            self.save(step, net, sgd, acquire, clock);
            return;
        };
        if self.counters.rollbacks >= MAX_ROLLBACKS {
            fail("training diverged after the last rollback");
        }
        let (found, saved) = match self.store.restore(net) {
            Ok(Some(back)) => back,
            Ok(None) => fail("rollback: no checkpoint to restore"),
            Err(e) => {
                defmt::error!("rollback: {}", e);
                fail("rollback: the checkpoint cannot be restored");
            }
        };
        sgd.set_state(found.sgd);
        let lowered = self.counters.learning_rate * ROLLBACK_RATE;
        set_learning_rate(sgd, lowered);
        defmt::warn!(
            "diverged at step {=u32} ({}): rolled back to the checkpoint of step {=u32} (slot {=u32}, sequence {=u32}), learning rate {=f32} -> {=f32}",
            step,
            why,
            saved.step,
            found.slot,
            found.sequence,
            self.counters.learning_rate,
            lowered
        );
        self.counters.learning_rate = lowered;
        self.counters.rollbacks += 1;
    }

    /// Saves step `step`, logging the slot, the wear and the time it took.
    fn save<C: Clock>(
        &mut self,
        step: u32,
        net: &Net,
        sgd: &FusedSgd<T, Net, B>,
        acquire: &Acquire,
        clock: &mut C,
    ) {
        self.counters.step = step;
        self.counters.faults = fault_words(&acquire.faults);
        let operations = self.store.flash().operations();
        let begin = clock.ticks();
        let saved = self.store.save(net, sgd.state(), &self.counters);
        let ticks = u64::from(clock.ticks().wrapping_sub(begin) & C::MASK);
        let operations = self.store.flash().operations() - operations;
        let (num, den) = C::UNITS_PER_TICK;
        match saved {
            Ok(s) => {
                self.saves += 1;
                defmt::info!(
                    "checkpoint: step {=u32} saved in slot {=u32} (sequence {=u32}, its block erased {=u32} times) in {=u64} {=str}, {=u32} flash operations",
                    step,
                    s.slot,
                    s.sequence,
                    s.wear,
                    ticks * num / den,
                    C::UNIT,
                    operations
                );
            }
            Err(e) => defmt::error!("checkpoint: step {=u32} not saved: {}", step, e),
        }
    }

    /// One held-out sample (raw, truth) of the final evaluation, handed to the flash driver,
    /// which keeps it for `cargo xtask pull`'s check when the run was asked to (`eval-out`).
    /// Out of line: its buffers stay out of `run`'s frame, which is live under every step.
    #[inline(never)]
    pub fn held_out(&mut self, raw: &Vector<T, 3>, truth: &Vector<T, 3>) {
        let mut values = [0.0f64; 6];
        for (v, x) in values.iter_mut().zip(raw.iter().chain(truth.iter())) {
            *v = x.to_f64();
        }
        self.store.flash.held_out(&values);
    }

    /// The run's checkpointing in one line (before the verdict).
    pub fn summary(&self) {
        defmt::info!(
            "checkpoints: {=u32} saved, {=u32} rollbacks, {=u32} flash erases and writes, learning rate {=f32}",
            self.saves,
            self.counters.rollbacks,
            self.store.flash().operations(),
            self.counters.learning_rate
        );
    }
}

/// The app's start again, in a network a failed restore may have partly overwritten: block by
/// block (a whole second network would not fit on the micro:bit's stack), in
/// `ResNet::identity_init`'s order. Out of line: the block being drawn is on the stack only
/// while it runs, never under the restore that came before.
#[inline(never)]
fn restart(net: &mut Net) {
    let mut init = Rng::new(INIT_SEED);
    for block in &mut net.blocks {
        *block = ResidualBlock::identity_init(&mut init, INIT_SCALE);
    }
    if net.set_active_depth(M).is_err() {
        fail("checkpoint: cannot reset the network's depth");
    }
    // A run started from the desktop's model file starts again from it.
    #[cfg(feature = "pretrained")]
    crate::app::load_model(net);
}

/// Sets the learning rate, which the configuration checks accepted at startup for the board's
/// own rate and accept for any lower positive one.
fn set_learning_rate(sgd: &mut FusedSgd<T, Net, B>, rate: f32) {
    if sgd.set_learning_rate(T::from_f64(f64::from(rate))).is_err() {
        fail("the learning rate is out of range");
    }
}
