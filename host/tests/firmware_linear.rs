//! The firmware's linear calibration mode (firmware/src/linear.rs, issue 16) replayed on the
//! host through the core: the same sensor stream (firmware/src/sim_linear.rs, included here),
//! the same seeds, network, optimiser and certificate bookkeeping, in f32 (the M4F's format) and
//! Q4.12 (the micro:bit's). Here R is known (the simulated distortion), so the certificate can be
//! checked against the true excess loss:
//!
//! - every window mean of the certificate the firmware logs is at least the window's mean true
//!   excess loss. The theorem (docs/THEORY.md section 2) promises it for the population
//!   gradient; a step has one sample's gradient, whose squared norm is larger in expectation
//!   (see `Window`) but not on every sample: a single step's certificate does fall below its
//!   excess at times (the steps where it does are counted and printed, not asserted), and
//!   the window means are what the firmware logs and what is asserted. The worst ratios are
//!   printed;
//! - the sigma_min lower bound the certificate uses is below the true sigma_min(Sigma) at every
//!   log point, and the closed-form eigenvalues agree with nalgebra's symmetric eigensolver;
//! - the replay's figures are the golden logs' (firmware/qemu/*-linear.out) to the bit (every
//!   number of every window line, read back as f32: defmt and Rust print some f32 with
//!   different digits, "0.0" against "0" and 0.0063476562 against 0.0063476563 for the same
//!   f32), so what this test checks is what the chips compute, in both formats.

#[path = "../../firmware/src/sim_linear.rs"]
#[allow(dead_code)]
mod sim_linear;

use nearid::fixed::Q12;
use nearid::{FusedSgd, LinearResNet, Matrix, Scalar, Sgd, Vector};
use sim_linear::{
    DELTA, FACTORS, LEARNING_RATE, LOG_EVERY, LinearSensor, M3, Population, RANGE, SEED, STEPS,
    SecondMoment, WARMUP, Window, reading, symmetric_eigenvalues,
};

/// What a replay found.
struct Replay {
    /// The log lines with a window ("step ..."), formatted as the firmware formats them.
    lines: Vec<String>,
    /// (certificate, true excess) of every window.
    windows: Vec<(f64, f64)>,
    /// (certificate, true excess) of every step.
    steps: Vec<(f64, f64)>,
    /// (the lower bound used, the true sigma_min) at every log point.
    sigma: Vec<(f64, f64)>,
    /// (closed form, nalgebra) eigenvalues of the second moment at every log point.
    eigen: Vec<([f64; 3], [f64; 3])>,
}

fn nalgebra_eigenvalues(a: &M3) -> [f64; 3] {
    let m = Matrix::<f64, 3, 3>::from_fn(|i, j| a[i][j]);
    let mut e: Vec<f64> = m.symmetric_eigen().eigenvalues.iter().copied().collect();
    e.sort_by(f64::total_cmp);
    [e[0], e[1], e[2]]
}

/// The firmware's `log_window` line.
fn line(step: u32, window: &Window, sigma_min: f64) -> Option<String> {
    let (loss, certificate, excess) = window.means();
    let c = certificate?;
    Some(format!(
        "INFO  step {step}  loss {}  certificate {}  true excess {}  ratio {}  tau {}  sigma_min >= {}",
        loss as f32,
        c as f32,
        excess as f32,
        (c / excess) as f32,
        window.tau as f32,
        sigma_min as f32
    ))
}

/// The firmware's loop (firmware/src/linear.rs `run`), without the board.
fn replay<T: Scalar>() -> Replay {
    let mut sensor = LinearSensor::new(SEED);
    let population = Population::of(&sensor);
    let true_sigma_min = nalgebra_eigenvalues(&population.sigma)[0];
    let mut net = LinearResNet::<T, 3, FACTORS>::identity();
    let mut sgd =
        FusedSgd::<T, LinearResNet<T, 3, FACTORS>, 1>::new(Sgd::new(T::from_f64(LEARNING_RATE)))
            .unwrap();
    let (mut moment, mut rejected) = (SecondMoment::default(), 0u32);
    for _ in 0..WARMUP {
        moment.add(&reading(&mut sensor, &mut rejected).0);
    }
    let mut sigma_min = moment.sigma_min_lower(RANGE * RANGE, DELTA);
    let vector = |v: &[f64; 3]| Vector::<T, 3>::from_fn(|i, _| T::from_f64(v[i]));
    let mut out = Replay {
        lines: Vec::new(),
        windows: Vec::new(),
        steps: Vec::new(),
        sigma: vec![(sigma_min, true_sigma_min)],
        eigen: Vec::new(),
    };
    let mut window = Window::default();
    for step in 1..=STEPS {
        let (raw, reference) = reading(&mut sensor, &mut rejected);
        moment.add(&raw);
        let before = net.cast::<f64>();
        let done = sgd
            .step(&mut net, &[vector(&raw)], &[vector(&reference)])
            .expect("the replay's steps succeed, as the firmware's log says (0 failed)");
        let mut one = Window::default();
        for w in [&mut window, &mut one] {
            w.add(
                done.loss.to_f64(),
                sgd.tape(),
                &before,
                sigma_min,
                &population,
            );
        }
        let (_, c, e) = one.means();
        out.steps.push((c.expect("every step is certified"), e));
        if matches!(step, 1 | 10 | 100) || step % LOG_EVERY == 0 {
            out.lines
                .push(line(step, &window, sigma_min).expect("every window is certified"));
            let (_, c, e) = window.means();
            out.windows.push((c.unwrap(), e));
            window = Window::default();
            sigma_min = moment.sigma_min_lower(RANGE * RANGE, DELTA);
            out.sigma.push((sigma_min, true_sigma_min));
            let s = moment.mean();
            out.eigen
                .push((symmetric_eigenvalues(&s), nalgebra_eigenvalues(&s)));
        }
    }
    assert_eq!(
        rejected, 0,
        "the firmware's log says no reading was out of range"
    );
    out
}

fn golden_lines(name: &str) -> Vec<String> {
    let path = format!("{}/../firmware/qemu/{name}.out", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| l.starts_with("INFO  step "))
        .map(String::from)
        .collect()
}

fn check(name: &str, replay: &Replay) {
    let worst = |pairs: &[(f64, f64)]| {
        pairs
            .iter()
            .map(|&(c, e)| c / e)
            .fold(f64::INFINITY, f64::min)
    };
    let below = replay.steps.iter().filter(|&&(c, e)| c < e).count();
    for &(c, e) in &replay.windows {
        assert!(c >= e, "{name}: window certificate {c} < excess {e}");
    }
    for &(lower, truth) in &replay.sigma {
        assert!(
            lower > 0.0 && lower <= truth,
            "{name}: sigma_min bound {lower} vs {truth}"
        );
    }
    for (closed, reference) in &replay.eigen {
        let trace: f64 = reference.iter().sum();
        for (a, b) in closed.iter().zip(reference) {
            // EIGEN_SLACK (1e-9 of the trace) is what sigma_min_lower subtracts for this error.
            assert!(
                (a - b).abs() <= 1e-12 * trace,
                "{name}: eigenvalue {a} vs nalgebra's {b}"
            );
        }
    }
    println!(
        "{name}: worst certificate / true excess: {:.3} over {} windows (asserted >= 1); single steps: worst {:.3}, {below} of {} below 1; sigma_min bound {:.4} .. {:.4} of the true {:.4}",
        worst(&replay.windows),
        replay.windows.len(),
        worst(&replay.steps),
        replay.steps.len(),
        replay.sigma.first().unwrap().0,
        replay.sigma.last().unwrap().0,
        replay.sigma[0].1
    );
    let numbers = |l: &String| -> Vec<u32> {
        l.split_whitespace()
            .filter_map(|w| w.parse::<f32>().ok())
            .map(f32::to_bits)
            .collect()
    };
    let golden = golden_lines(name);
    assert_eq!(replay.lines.len(), golden.len(), "{name}: window lines");
    for (ours, chip) in replay.lines.iter().zip(&golden) {
        assert_eq!(
            numbers(ours),
            numbers(chip),
            "{name}: the replay's figures differ from the chip's:\n  host: {ours}\n  chip: {chip}"
        );
    }
}

#[test]
fn certificate_bounds_the_excess_in_f32() {
    check("mps2-an386-linear", &replay::<f32>());
}

#[test]
fn certificate_bounds_the_excess_in_q12() {
    check("microbit-linear", &replay::<Q12>());
}
