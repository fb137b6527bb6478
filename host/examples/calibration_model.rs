//! Trains the calibration app's network on the desktop and writes the model files the firmware's
//! `pretrained` feature starts from: `calibration-f32.nid` (the Cortex-M4F boards: ResNet<f32, 3,
//! 16, 8>) and `calibration-q12.nid` (the micro:bit: ResNet<Q4.12, 3, 16, 40>, trained in Q4.12,
//! the chip's own arithmetic, bit for bit).
//!
//! ```text
//! cargo run --release -p nearid-host --example calibration_model -- firmware/models
//! ```
//!
//! The data is a factory calibration of the unit the firmware runs on: the simulated sensor's
//! distortion h of seed 2026 (firmware/src/sim.rs, `app::SENSOR_SEED`), on true values and
//! noise of a stream of its own (seed [`FACTORY_SEED`]: none of the chip's samples), quantised
//! to the sensor's counts and read back in units as the firmware's driver reads them. Training is
//! the chip's: one fresh sample per step, [`FusedSgd`] at the board's learning rate, from the
//! chip's start (W2 = 0, W1 ~ N(0, 0.5^2) of seed 1); only the number of steps is the desktop's.
//! firmware/models/README.md gives the figures of the checked-in files.

// The firmware's sensor simulation and driver, as the chip runs them.
#[path = "../../firmware/src/sensor.rs"]
#[allow(dead_code)]
mod sensor;
#[path = "../../firmware/src/sim.rs"]
// Its `fault-injection` feature is the firmware's.
#[allow(dead_code, unexpected_cfgs)]
mod sim;

use nearid::file::Stored;
use nearid::file::{self, LossKind};
use nearid::fixed::Q12;
use nearid::{FusedSgd, Model, ResNet, Rng, Scalar, Sgd, Vector};
use std::path::{Path, PathBuf};

/// The unit's distortion: the firmware's `app::SENSOR_SEED`.
const SENSOR_SEED: u64 = 2026;
/// The factory data's own stream of true values and noise.
const FACTORY_SEED: u64 = 11;
/// Seed and scale of the initial W1: the firmware's `app::INIT_SEED`, `app::INIT_SCALE`.
const INIT_SEED: u64 = 1;
const INIT_SCALE: f64 = 0.5;
/// Training steps on the desktop (the chips train 2,000 and 600 from the identity).
const STEPS: u32 = 20_000;
/// Held-out samples the printed loss is measured on (the factory stream, after training).
const EVAL_SAMPLES: u32 = 1_000;

/// One factory sample (raw, true) in units, as `app::read` gives them on the chip.
fn sample(sensor: &sim::SimSensor, rng: &mut Rng) -> ([f32; 3], [f32; 3]) {
    let t: [f64; 3] = std::array::from_fn(|_| rng.uniform_in(-1.0, 1.0));
    let h = sensor.distort(&t);
    let counts = |v: [f64; 3]| {
        v.map(|x| {
            (x * f64::from(sensor::LSB_PER_UNIT))
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
    };
    let raw = std::array::from_fn(|i| h[i] + sim::NOISE * rng.normal());
    (sensor::units(counts(raw)), sensor::units(counts(t)))
}

fn vector<T: Scalar>(v: [f32; 3]) -> Vector<T, 3> {
    Vector::from_fn(|i, _| T::from_f64(f64::from(v[i])))
}

/// Trains ResNet<T, 3, 16, M> at `learning_rate`, writes its model file to `path` and returns
/// the held-out loss (mean 1/2 ||f(raw) - true||^2, as the chip measures it) and the saturations.
fn train<T: Scalar + Stored, const M: usize>(
    learning_rate: f64,
    path: &Path,
) -> Result<(f64, u64), String> {
    let sensor = sim::SimSensor::new(SENSOR_SEED);
    let mut data = Rng::new(FACTORY_SEED);
    let mut net = Box::new(ResNet::<T, 3, 16, M>::identity_init(
        &mut Rng::new(INIT_SEED),
        INIT_SCALE,
    ));
    let mut sgd = Box::new(
        FusedSgd::<T, ResNet<T, 3, 16, M>, 1>::new(Sgd::new(T::from_f64(learning_rate)))
            .map_err(|e| format!("SGD: {e}"))?,
    );
    let (mut saturations, mut failed) = (0u64, 0u32);
    for _ in 0..STEPS {
        let (raw, truth) = sample(&sensor, &mut data);
        match sgd.step(&mut net, &[vector(raw)], &[vector(truth)]) {
            Ok(step) => saturations += u64::from(step.saturations),
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {STEPS} steps failed"));
    }
    let mut loss = 0.0;
    for _ in 0..EVAL_SAMPLES {
        let (raw, truth) = sample(&sensor, &mut data);
        let y = net
            .forward(&vector::<T>(raw))
            .map_err(|e| format!("forward: {e}"))?;
        loss += (0..3)
            .map(|i| 0.5 * (y[i].to_f64() - f64::from(truth[i])).powi(2))
            .sum::<f64>();
    }
    let mut bytes = vec![0u8; file::file_bytes::<T, ResNet<T, 3, 16, M>>()];
    let n = file::save(&*net, LossKind::Quadratic, &mut bytes).map_err(|e| e.to_string())?;
    std::fs::write(path, &bytes[..n]).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((loss / f64::from(EVAL_SAMPLES), saturations))
}

/// Trains one board's network and writes its file: the held-out loss and the saturations.
type Job = fn(&Path) -> Result<(f64, u64), String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: calibration_model DIR   (writes DIR/calibration-f32.nid, -q12.nid)");
        std::process::exit(2);
    };
    // The boards' learning rates and depths: firmware/src/board/m4f.rs and m0.rs.
    let jobs: [(&str, Job); 2] = [
        ("calibration-f32.nid", |p| train::<f32, 8>(0.02, p)),
        ("calibration-q12.nid", |p| train::<Q12, 40>(0.01, p)),
    ];
    for (name, job) in jobs {
        let path = PathBuf::from(dir).join(name);
        match job(&path) {
            Ok((loss, saturations)) => println!(
                "{}: {STEPS} steps, held-out loss {loss:.6e} on {EVAL_SAMPLES} factory samples, {saturations} saturations",
                path.display()
            ),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}
