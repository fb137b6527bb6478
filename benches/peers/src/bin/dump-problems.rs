//! Writes the benchmark problems for the PyTorch script: `DIR/DxHxMxB.f32` (the weights and batch
//! as little-endian f32, layout in [`nearid_peers::Problem::to_le_bytes`]) and
//! `DIR/DxHxMxB.losses` (nearid's losses of 3 steps at learning rate 1e-3, one per line), so that
//! PyTorch starts from the same weights and is checked against the same losses.
//!
//! `cargo run --release --bin dump-problems -- DIR`

use std::path::Path;

use nearid_peers::Problem;

fn dump<const D: usize, const H: usize, const M: usize, const B: usize>(
    dir: &Path,
) -> Result<(), String> {
    let p = Problem::<D, H, M, B>::new();
    let name = Problem::<D, H, M, B>::name();
    let weights = dir.join(format!("{name}.f32"));
    std::fs::write(&weights, p.to_le_bytes()).map_err(|e| format!("{}: {e}", weights.display()))?;
    let losses: String = p
        .nearid_losses(1e-3, 3)
        .iter()
        .map(|l| format!("{l:e}\n"))
        .collect();
    let file = dir.join(format!("{name}.losses"));
    std::fs::write(&file, losses).map_err(|e| format!("{}: {e}", file.display()))
}

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: dump-problems DIR");
        return std::process::ExitCode::FAILURE;
    };
    let dir = Path::new(&dir);
    let result = std::fs::create_dir_all(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|()| dump::<8, 16, 8, 1>(dir))
        .and_then(|()| dump::<16, 32, 32, 1>(dir))
        .and_then(|()| dump::<64, 128, 16, 32>(dir));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dump-problems: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
