//! `cargo xtask pull [--board NAME] [--image PATH] [--out DIR]`: the newest checkpoint of a
//! flash image, read with the core's own reader, written as the model file `<board>.nid` (the
//! exact bytes the chip stored, `core/src/file.rs`'s layout) and as `<board>.npz` (PyTorch's
//! names and a JSON config, `nearid import`'s conversion from the host library), so that
//! `nearid eval` and numpy can use what the chip learned.
//!
//! - Emulated boards: the image is the file the checkpointing firmware ran on (`--image`,
//!   default `nearid-flash.img` in the current directory, where `cargo xtask run --features
//!   checkpoint` leaves it).
//! - Real boards: a dump of the checkpoint region (`--image`), made with probe-rs (see
//!   firmware/README.md, "Checkpoints"); the region's geometry is the board's flash driver's.
//!
//! [`check`] (run by `cargo xtask test`): a fresh run writes its held-out samples
//! (`eval-out=`); the pulled model evaluated on them on the desktop gives the loss the chip
//! printed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nearid::fixed::Q12;
use nearid::{Model, ResNet, Scalar, Vector};
use nearid_host::network::Network;
use xtask::checkpoint::{self, HostImage, Scratch};
use xtask::cmd;
use xtask::firmware::{self, Board};

const USAGE: &str = "`pull` takes --board NAME, --image PATH (default nearid-flash.img) and --out \
                     DIR (default .), or --check (after --board: a fresh run pulled and evaluated \
                     on the desktop, as `cargo xtask test` does)";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut board, mut image, mut out) = (
        firmware::BOARDS[0],
        PathBuf::from("nearid-flash.img"),
        PathBuf::from("."),
    );
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        let mut value = || rest.next().ok_or(USAGE);
        match a.as_str() {
            "--board" => board = firmware::board(value()?)?,
            "--image" => image = PathBuf::from(value()?),
            "--out" => out = PathBuf::from(value()?),
            "--check" => {
                xtask::qemu::ensure()?;
                println!("{}", check(board)?);
                return Ok(());
            }
            _ => return Err(format!("{USAGE} (got `{a}`)")),
        }
    }
    let pulled = pull(board, &image, &out)?;
    println!("{}", pulled.summary(&image));
    Ok(())
}

/// What [`pull`] wrote.
#[derive(Debug)]
pub struct Pulled {
    /// The model file.
    pub nid: PathBuf,
    /// The same model as .npz.
    pub npz: PathBuf,
    /// The checkpoint's slot, sequence number and training step.
    pub slot: u32,
    pub sequence: u32,
    pub step: u32,
}

impl Pulled {
    fn summary(&self, image: &Path) -> String {
        format!(
            "{}: the checkpoint of step {} (slot {}, sequence {}) -> {} and {}",
            image.display(),
            self.step,
            self.slot,
            self.sequence,
            self.nid.display(),
            self.npz.display()
        )
    }
}

/// The image description of `board` (emulated boards only for now).
fn image_of(board: Board) -> Result<HostImage, String> {
    checkpoint::image_of(board)
}

/// Reads the newest checkpoint of `image` and writes `<out>/<board>.nid` and `.npz`.
pub fn pull(board: Board, image: &Path, out: &Path) -> Result<Pulled, String> {
    let bytes = std::fs::read(image).map_err(|e| format!("{}: {e}", image.display()))?;
    let (found, model, counters) = checkpoint::newest(&bytes, image_of(board)?)
        .map_err(|e| format!("{}: {e}", image.display()))?
        .ok_or_else(|| format!("{}: no valid checkpoint in the image", image.display()))?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let nid = out.join(format!("{}.nid", board.name));
    std::fs::write(&nid, &model).map_err(|e| format!("{}: {e}", nid.display()))?;
    let npz = out.join(format!("{}.npz", board.name));
    Network::from_nid(&model, None)
        .map_err(|e| format!("{}: {e}", nid.display()))?
        .write_npz(&npz)
        .map_err(|e| e.to_string())?;
    Ok(Pulled {
        nid,
        npz,
        slot: found.slot,
        sequence: found.sequence,
        step: counters.step,
    })
}

/// The held-out samples a run wrote (`eval-out=`): (raw, truth) rows of 3 + 3 values.
fn samples(path: &Path) -> Result<Vec<[f64; 6]>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(48) {
        return Err(format!(
            "{}: {} bytes, not rows of 6 f64",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(48)
        .map(|row| {
            let mut v = [0.0; 6];
            for (x, c) in v.iter_mut().zip(row.chunks_exact(8)) {
                *x = f64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            }
            v
        })
        .collect())
}

/// The chip's held-out loss on `rows`, computed as the firmware computes it (`app::evaluate`):
/// the network in the board's format, each squared error in f32, summed in f32 in order.
fn chip_loss<T: Scalar, N: Model<T, 3>>(net: &N, rows: &[[f64; 6]]) -> Result<f32, String> {
    let mut sum = 0.0f32;
    for r in rows {
        let x = Vector::<T, 3>::from_fn(|i, _| T::from_f64(r[i]));
        let y = Vector::<T, 3>::from_fn(|i, _| T::from_f64(r[3 + i]));
        let out = net.forward(&x).map_err(|e| e.to_string())?;
        sum += 0.5
            * (out - y)
                .iter()
                .map(|e| e.to_f64() as f32)
                .map(|e| e * e)
                .sum::<f32>();
    }
    Ok(sum / rows.len() as f32)
}

/// The pulled model file loaded into the board's network type, its loss on `rows`.
fn core_loss(board: Board, nid: &[u8], rows: &[[f64; 6]]) -> Result<f32, String> {
    fn load<T: nearid::file::Stored, const M: usize>(
        nid: &[u8],
        rows: &[[f64; 6]],
    ) -> Result<f32, String> {
        let mut net = ResNet::<T, 3, 16, M>::identity();
        nearid::file::load(&mut net, nid).map_err(|e| e.to_string())?;
        chip_loss(&net, rows)
    }
    match board.name {
        "mps2-an386" => load::<f32, 8>(nid, rows),
        "microbit" => load::<Q12, 40>(nid, rows),
        other => Err(format!("{other}: no network type known")),
    }
}

/// `cargo xtask test`'s check: a fresh run with its held-out samples kept, the checkpoint it
/// leaves pulled, and the model evaluated on the desktop on those samples: by the core in the
/// board's own format (the same digits as the chip printed), and, where the `nearid` tool is
/// compiled for the depth, by `nearid eval` (the loss it prints, to its six decimals) and
/// `nearid predict` (its float64 predictions, to f32 rounding). Returns a line for the log.
pub fn check(board: Board) -> Result<String, String> {
    let elf = checkpoint::build(board)?;
    let scratch = Scratch::new(&format!("pull-{}", board.name))?;
    let (image, held_out) = (scratch.join("flash.img"), scratch.join("held-out.bin"));
    let out = checkpoint::boot(
        board,
        &elf,
        &image,
        &[format!("eval-out={}", held_out.display())],
        false,
    )?;
    out.verdict(board)?;
    let (printed, _) = checkpoint::result(&out.lines)?;
    let chip: f32 = printed
        .parse()
        .map_err(|_| format!("{}: held-out loss `{printed}`", board.name))?;
    let pulled = pull(board, &image, &scratch.0)?;
    let rows = samples(&held_out)?;
    let nid = std::fs::read(&pulled.nid).map_err(|e| format!("{}: {e}", pulled.nid.display()))?;
    let core = core_loss(board, &nid, &rows)?;
    // The same network, samples and arithmetic as the chip: the same f32, to the bit.
    if core.to_bits() != chip.to_bits() {
        return Err(format!(
            "{}: the pulled model's held-out loss is {core:e} on the desktop, the chip printed {chip:e}",
            board.name
        ));
    }
    let mut line = format!(
        "{}: pulled the checkpoint of step {} (slot {}); held-out loss on the desktop {core:e} = the chip's {chip:e}",
        board.name, pulled.step, pulled.slot
    );
    let depth = nearid::file::read_header(&nid)
        .map_err(|e| e.to_string())?
        .shape
        .depth;
    if !nearid_host::compiled::DEPTHS.contains(&usize::from(depth)) {
        let _ = write!(
            line,
            "; `nearid eval` not run: the tool is compiled for depths {:?}, the model has {depth}",
            nearid_host::compiled::DEPTHS
        );
        return Ok(line);
    }
    let data = scratch.join("held-out.csv");
    let mut csv = String::from("x0,x1,x2,y0,y1,y2\n");
    for r in &rows {
        let cells: Vec<String> = r.iter().map(|v| format!("{v:?}")).collect();
        let _ = writeln!(csv, "{}", cells.join(","));
    }
    std::fs::write(&data, csv).map_err(|e| format!("{}: {e}", data.display()))?;
    let eval = cmd::nearid(&[Path::new("eval"), &pulled.npz, &data])?;
    let loss: f64 = checkpoint::word_after(&eval, "loss ")
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("`nearid eval` printed no loss: {eval}"))?;
    // It prints six decimals: equal to the chip's loss to half a unit of the sixth.
    if (loss - f64::from(chip)).abs() > 0.5e-6 {
        return Err(format!(
            "{}: `nearid eval` printed loss {loss}, the chip {chip:e}",
            board.name
        ));
    }
    let predicted = scratch.join("predicted.npy");
    cmd::nearid(&[
        Path::new("predict"),
        &pulled.npz,
        &data,
        Path::new("--out"),
        &predicted,
    ])?;
    let p = std::fs::read(&predicted).map_err(|e| format!("{}: {e}", predicted.display()))?;
    let p = nearid_host::npy::parse_npy(&p).map_err(|e| format!("{}: {e}", predicted.display()))?;
    let desktop = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (0..3)
                .map(|j| 0.5 * (p[(i, j)] - r[3 + j]).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / rows.len() as f64;
    // The chip sums 256 terms in f32 (each rounded once, the running sum once per term): a
    // relative error of at most about (256 + 3) x 2^-24 = 1.5e-5 of the sum of the terms
    // (all positive); `nearid predict` works in f64 from the same f32 weights, and in f32 it
    // runs the same operations as the chip, whose outputs it then prints exactly.
    let bound = 259.0 * f64::from(f32::EPSILON) / 2.0 * desktop;
    if (desktop - f64::from(chip)).abs() > bound {
        return Err(format!(
            "{}: `nearid predict`'s outputs give loss {desktop:e}, the chip printed {chip:e} (bound {bound:e})",
            board.name
        ));
    }
    let _ = write!(
        line,
        "; `nearid eval` prints loss {loss}, `nearid predict` gives {desktop:e} (within {bound:.1e})"
    );
    Ok(line)
}
