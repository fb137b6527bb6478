//! The gesture classifier's trained weights off the emulated chip: the classification app
//! writes its model file to the host when its semihosting command line says `model-out=PATH`
//! (firmware/src/semihost.rs), which `cargo xtask run --features classify --model-out PATH`
//! passes. `nearid import PATH --out MODEL.npz` then gives numpy and PyTorch what the chip
//! learned.
//!
//! [`check`] (run by `cargo xtask test` on every classification run) holds the file against
//! the run's own log, in three steps:
//!
//! 1. its length and CRC-32 are the ones the chip logged (`trained model file: N B, CRC-32 ..`);
//! 2. loaded into the app's network type in the board's format and evaluated as the firmware
//!    evaluates (the same 400 windows of seed 4 from firmware/src/sim_gesture.rs, the chip's
//!    kernels, the loss summed in f32 in order), it gives the chip's printed loss to the bit and
//!    its accuracy;
//! 3. `nearid import` and `nearid eval` on those windows as a CSV (a user's path) give the
//!    chip's accuracy, and its loss within the bound of the chip's own rounding (below).

use std::fmt::Write as _;
use std::path::Path;

use nearid::fixed::Q12;
use nearid::kernels::{ByUnit, FixedKernels, Kernels};
use nearid::{CrossEntropy, Loss, Model, Net, Vector};
use xtask::checkpoint;
use xtask::cmd::nearid;
use xtask::firmware::Board;

// The chip's windows, from the firmware's own generator (as host/examples/gestures_csv.rs).
#[path = "../../firmware/src/sim_gesture.rs"]
#[allow(dead_code)]
mod sim_gesture;

use sim_gesture::{CLASSES, Gestures, INPUTS};

/// The file's name in the run's directory (QEMU runs there, so the command line, and the
/// instructions the firmware spends reading it, are the same wherever the checkout is).
pub const FILE: &str = "model.nid";

/// The word that asks the firmware for the file.
pub fn arg() -> String {
    format!("model-out={FILE}")
}

/// The app's network (firmware/src/classify.rs): 15 inputs, blocks of width 16 and hidden 16,
/// 2 blocks, 4 logits, ReLU.
type Classifier<T> = Net<T, INPUTS, 16, 16, 2, CLASSES>;
/// The held-out windows and their seed (classify.rs's EVAL_WINDOWS, EVAL_SEED).
const EVAL_WINDOWS: usize = 400;
const EVAL_SEED: u64 = 4;

/// The log's line that starts with `key`, after the level.
fn line<'a>(lines: &'a [String], key: &str) -> Result<&'a str, String> {
    lines
        .iter()
        .find_map(|l| l.split_once(key).map(|(_, rest)| rest))
        .ok_or_else(|| format!("the log has no `{key}` line"))
}

/// The word after `key` in `text`, parsed.
fn number<N: std::str::FromStr>(text: &str, key: &str) -> Result<N, String> {
    checkpoint::word_after(text, key)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("no number after `{key}` in `{text}`"))
}

/// Mean cross-entropy (summed in f32 in window order, as the firmware does) and accuracy of the
/// model file `nid` on the held-out windows, in the format T with the chip's kernels K.
fn evaluate<T: nearid::file::Stored, K: Kernels<T>>(nid: &[u8]) -> Result<(f32, f32), String> {
    let mut net = <Classifier<T> as nearid::Trainable<T>>::zeros();
    nearid::file::load(&mut net, nid).map_err(|e| e.to_string())?;
    let mut stream = Gestures::new(EVAL_SEED);
    let (mut loss, mut right) = (0.0f32, 0u32);
    for _ in 0..EVAL_WINDOWS {
        let (x, class) = stream.window();
        let x = Vector::<T, INPUTS>::from_fn(|i, _| T::from_f64(x[i]));
        let [logits] = net.apply_with::<K, 1>(&[x]);
        loss += <CrossEntropy as Loss<T, CLASSES>>::value(&logits, &class).to_f64() as f32;
        right += u32::from(<CrossEntropy as Loss<T, CLASSES>>::correct(&logits, &class));
    }
    let n = EVAL_WINDOWS as f32;
    Ok((loss / n, right as f32 / n))
}

/// The held-out windows as the CSV `nearid train` and `eval` read (gestures_csv's columns).
fn windows_csv(path: &Path) -> Result<(), String> {
    let mut csv = String::new();
    let header: Vec<String> = (0..INPUTS / 3)
        .flat_map(|k| ["x", "y", "z"].map(|a| format!("{a}{k}")))
        .collect();
    let _ = writeln!(csv, "{},gesture", header.join(","));
    let mut stream = Gestures::new(EVAL_SEED);
    for _ in 0..EVAL_WINDOWS {
        let (x, class) = stream.window();
        let cells: Vec<String> = x.iter().map(|v| format!("{v:e}")).collect();
        let _ = writeln!(csv, "{},{class}", cells.join(","));
    }
    std::fs::write(path, csv).map_err(|e| format!("{}: {e}", path.display()))
}

/// The checks of the module docs on the file a classification run wrote into `dir`, against
/// its log `lines`. Returns a line for the log.
pub fn check(board: Board, lines: &[String], dir: &Path) -> Result<String, String> {
    let at = |e: String| format!("{} model-out: {e}", board.name);
    let file = dir.join(FILE);
    let nid = std::fs::read(&file).map_err(|e| at(format!("{}: {e}", file.display())))?;
    // 1. The bytes the chip streamed.
    let logged = line(lines, "trained model file: ").map_err(at)?;
    let length: usize = number(logged, "").map_err(at)?;
    let crc = checkpoint::word_after(logged, "CRC-32 0x")
        .and_then(|w| u32::from_str_radix(w, 16).ok())
        .ok_or_else(|| at(format!("no CRC in `{logged}`")))?;
    let tail: [u8; 4] = nid
        .last_chunk()
        .copied()
        .ok_or_else(|| at("an empty file".into()))?;
    if nid.len() != length || u32::from_le_bytes(tail) != crc {
        return Err(at(format!(
            "{} B with CRC {:#010x}; the chip logged {length} B, CRC {crc:#010x}",
            nid.len(),
            u32::from_le_bytes(tail)
        )));
    }
    // 2. The chip's evaluation, redone on the desktop from the file.
    let printed = line(lines, "trained: held-out loss ").map_err(at)?;
    let chip_loss: f32 = number(printed, "").map_err(at)?;
    let chip_accuracy: f32 = number(printed, "accuracy ").map_err(at)?;
    let (loss, accuracy, bound) = match board.name {
        "mps2-an386" => {
            let (l, a) = evaluate::<f32, ByUnit>(&nid).map_err(at)?;
            // The chip sums 400 f32 losses in order: at most n u sum|l_i| = n u L apart from
            // the exact mean (u = 2^-24), the desktop's f64 mean; each window's own roundings
            // (a few u of its loss) and the desktop's other order of the logits' sums are
            // orders of magnitude below it.
            (
                l,
                a,
                EVAL_WINDOWS as f64 * f64::from(f32::EPSILON / 2.0) * f64::from(l),
            )
        }
        "microbit" => {
            let (l, a) = evaluate::<Q12, FixedKernels>(&nid).map_err(at)?;
            // The chip's cross-entropy rounds in Q4.12: within (O + 1) 2^-13 of the exact value
            // of the same logits per window (core/src/loss.rs), so in the mean too.
            (l, a, (CLASSES + 1) as f64 / 8192.0)
        }
        other => return Err(format!("{other}: no classification network known")),
    };
    if loss.to_bits() != chip_loss.to_bits() || accuracy.to_bits() != chip_accuracy.to_bits() {
        return Err(at(format!(
            "the file's held-out loss {loss:e}, accuracy {accuracy} on the desktop; the chip \
             printed {chip_loss:e}, {chip_accuracy}"
        )));
    }
    // 3. The user's path: the file imported and evaluated by the `nearid` tool.
    let (npz, csv) = (dir.join("model.npz"), dir.join("held-out.csv"));
    windows_csv(&csv).map_err(at)?;
    nearid(&[Path::new("import"), &file, Path::new("--out"), &npz]).map_err(at)?;
    // A file off the chip carries no column names (`import --names-from` would add them).
    let eval = nearid(&[
        Path::new("eval"),
        &npz,
        &csv,
        Path::new("--inputs"),
        Path::new("0-14"),
        Path::new("--targets"),
        Path::new("gesture"),
    ])
    .map_err(at)?;
    let tool_loss: f64 = number(&eval, "loss ").map_err(at)?;
    let tool_accuracy: f64 = number(&eval, "accuracy ").map_err(at)?;
    // `eval` prints six decimals of the loss and two of the percentage.
    let gap = (tool_loss - f64::from(chip_loss)).abs();
    if gap > bound + 0.5e-6 || (tool_accuracy - 100.0 * f64::from(chip_accuracy)).abs() > 0.005 {
        return Err(at(format!(
            "`nearid eval` of the imported file printed loss {tool_loss}, accuracy \
             {tool_accuracy}%; the chip {chip_loss:e}, {}% (the loss may differ by {bound:.1e})",
            100.0 * chip_accuracy
        )));
    }
    Ok(format!(
        "{}: the chip's model file ({length} B, CRC {crc:#010x}) gives its held-out loss \
         {chip_loss:e} and accuracy {chip_accuracy} on the desktop to the bit; `nearid import` \
         + `eval`: loss {tool_loss} (within {bound:.1e} of the chip's rounding), accuracy \
         {tool_accuracy}%",
        board.name
    ))
}
