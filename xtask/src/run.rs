//! `cargo xtask run`: the main job. By default: build the firmware for the emulated Cortex-M4F
//! (mps2-an386), run it in QEMU, stream the decoded defmt log (the loss falling as the sensor
//! calibration trains on the chip) and exit with the firmware's verdict.
//!
//! - `--board NAME`: another QEMU board (`microbit`: Cortex-M0, 16 KiB RAM), or a real board
//!   (`nucleo-f411re`, `pico`): built, then flashed and logged by `probe-rs run` when installed.
//! - `--features LIST`: extra firmware features, e.g. `--board microbit --features soft-float`
//!   (or `q16`) to compare the scalar formats on the same chip.
//! - `--model-out PATH` (with `--features classify`): the classification app writes its trained
//!   model file to PATH (semihosting), for `nearid import`.
//! - `--host`: the host demo instead: a ResNet learning y = A x from the identity, in f32.

use nearid::{FusedSgd, LinearTask, Model, ResNet, Rng, Sgd, Trainable};
use xtask::qemu::{self, QEMU_TIMEOUT};
use xtask::{cmd, firmware, toolchain::ensure_targets};

pub fn main(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--host") {
        return match args {
            [_] => host(),
            _ => Err("`run --host` takes no other argument".into()),
        };
    }
    // `--model-out PATH`: the classification app's trained model file, written to PATH.
    let (mut model_out, mut rest) = (None, Vec::new());
    let mut words = args.iter();
    while let Some(a) = words.next() {
        if a == "--model-out" {
            let path = words.next().ok_or("`--model-out` needs a file name")?;
            // Absolute: QEMU's directory is the caller's, the firmware's the same.
            model_out =
                Some(std::path::absolute(path).map_err(|e| format!("--model-out {path}: {e}"))?);
        } else {
            rest.push(a.clone());
        }
    }
    let (board, features) = firmware::board_and_features(&rest, "run")?;
    if model_out.is_some() && !features.iter().any(|f| f == "classify") {
        return Err(
            "`--model-out` is the classification app's (`--features classify`); the \
                    calibration's weights come off with `--features checkpoint` and `cargo xtask \
                    pull`"
                .into(),
        );
    }
    ensure_targets(&[board.target])?;
    if board.qemu.is_none() {
        // A real board: build, then flash and stream the log with probe-rs if it is installed.
        let elf = firmware::build_with(board, &features)?;
        let probe_rs = format!("probe-rs run --chip {} {}", board.chip, elf.display());
        if std::process::Command::new("probe-rs")
            .arg("--version")
            .output()
            .is_err()
        {
            return Err(format!(
                "{} is a real board; install probe-rs (https://probe.rs), connect the board and run:\n  {probe_rs}",
                board.name
            ));
        }
        return cmd::run(
            std::process::Command::new("probe-rs")
                .args(["run", "--chip", board.chip])
                .arg(&elf),
        );
    }
    qemu::ensure()?;
    let elf = firmware::build_with(board, &features)?;
    let Some(path) = model_out else {
        return qemu::run_elf(board, &elf, QEMU_TIMEOUT, true)?.verdict(board);
    };
    let arg = format!("model-out={}", path.display());
    if arg.contains([' ', ',']) {
        return Err(format!(
            "{}: the firmware's command line cannot hold a path with a space or a comma",
            path.display()
        ));
    }
    qemu::run_elf_with(board, &elf, QEMU_TIMEOUT, true, &[arg])?.verdict(board)?;
    println!(
        "the trained model file is {} (`nearid import {} --out MODEL.npz` for numpy and PyTorch)",
        path.display(),
        path.display()
    );
    Ok(())
}

/// Width, hidden width, depth: a small network that trains in a second.
const D: usize = 4;
const H: usize = 16;
const M: usize = 8;
const STEPS: usize = 4000;
const REPORT_EVERY: usize = 400;

/// The host demo (`--host`).
fn host() -> Result<(), String> {
    let a = LinearTask::<f32, D>::random_spd(0.5, 1.5, 1);
    let mut task = LinearTask::new(a, 0.0, 2);
    let mut net = ResNet::<f32, D, H, M>::identity_init(&mut Rng::new(3), 0.5);
    let mut sgd = FusedSgd::<f32, _, 1>::new(Sgd::new(0.005)).map_err(|e| e.to_string())?;
    println!(
        "training ResNet<f32, D={D}, H={H}, M={M}> ({} parameters, {} bytes + {} bytes of tape) \
         on y = A x, A symmetric positive definite, from an exact identity (W2 = 0)",
        <ResNet<f32, D, H, M> as Trainable<f32>>::PARAMS,
        ResNet::<f32, D, H, M>::PARAM_BYTES,
        ResNet::<f32, D, H, M>::TAPE_BYTES,
    );
    let (mut window, mut first) = (0.0f64, None);
    for step in 1..=STEPS {
        let (x, y) = task.batch::<1>();
        let loss = sgd
            .step(&mut net, &x, &y)
            .map_err(|e| format!("step {step}: {e}"))?
            .loss;
        window += loss as f64;
        if step % REPORT_EVERY == 0 {
            let mean = window / REPORT_EVERY as f64;
            first.get_or_insert(mean);
            println!("step {step:>5}  mean loss {mean:.3e}");
            window = 0.0;
        }
    }
    let (x, y) = task.batch::<256>();
    let held_out: f64 = x
        .iter()
        .zip(&y)
        .map(|(x, y)| net.forward(x).map(|p| 0.5 * (p - y).norm_squared() as f64))
        .sum::<Result<f64, _>>()
        .map_err(|e| e.to_string())?
        / 256.0;
    println!(
        "final loss on 256 held-out samples: {held_out:.3e} (first window: {:.3e})",
        first.unwrap_or(0.0)
    );
    Ok(())
}
