//! The firmware boards and how to build them (`firmware/`, its own workspace and targets).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{root, run_keep_error};

/// A board the firmware builds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// The Cargo feature and the name on the command line.
    pub name: &'static str,
    /// The rustc target triple.
    pub target: &'static str,
    /// QEMU machine and CPU when the board is emulated (run in CI); None for real boards.
    pub qemu: Option<(&'static str, Option<&'static str>)>,
    /// The `--chip` probe-rs knows the board's microcontroller by.
    pub chip: &'static str,
    /// The board's own package under firmware/, for the real boards: its `.cargo/config.toml`
    /// links with flip-link and runs probe-rs. None: built from firmware/ with the board feature.
    pub package: Option<&'static str>,
}

/// Every board, the default (mps2-an386) first.
pub const BOARDS: [Board; 4] = [
    Board {
        name: "mps2-an386",
        target: "thumbv7em-none-eabihf",
        qemu: Some(("mps2-an386", Some("cortex-m4"))),
        chip: "(QEMU only)",
        package: None,
    },
    Board {
        name: "microbit",
        target: "thumbv6m-none-eabi",
        qemu: Some(("microbit", None)),
        chip: "(QEMU only)",
        package: None,
    },
    Board {
        name: "nucleo-f411re",
        target: "thumbv7em-none-eabihf",
        qemu: None,
        chip: "STM32F411RETx",
        package: Some("boards/nucleo-f411re"),
    },
    Board {
        name: "pico",
        target: "thumbv6m-none-eabi",
        qemu: None,
        chip: "RP2040",
        package: Some("boards/pico"),
    },
];

/// The memory-map reader the firmware's build script uses (`firmware/memory/region.rs`).
#[path = "../../firmware/memory/region.rs"]
mod region;

/// The board's RAM in bytes, from its memory map `firmware/memory/<board>.x`: the one place it
/// is written (the firmware's build script reads the same file).
pub fn ram(board: Board) -> Result<u64, String> {
    let path = dir().join("memory").join(format!("{}.x", board.name));
    let map = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    region::length(&map, "RAM").map_err(|e| format!("{}: {e}", path.display()))
}

/// The rustup targets the boards need.
pub fn targets() -> Vec<&'static str> {
    let mut t: Vec<&str> = BOARDS.iter().map(|b| b.target).collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The board called `name`, or an error listing them.
pub fn board(name: &str) -> Result<Board, String> {
    BOARDS
        .iter()
        .copied()
        .find(|b| b.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
            format!("unknown board `{name}` (boards: {})", names.join(", "))
        })
}

/// The board and extra firmware features of a command line: `--board NAME` (default
/// mps2-an386) and `--features LIST` (comma-separated); anything else is an error naming
/// `task`.
pub fn board_and_features(args: &[String], task: &str) -> Result<(Board, Vec<String>), String> {
    let mut board = BOARDS[0];
    let mut features: Vec<String> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--board" => {
                let name = rest.next().ok_or("`--board` needs a board name")?;
                board = self::board(name)?;
            }
            "--features" => {
                let list = rest.next().ok_or("`--features` needs a feature list")?;
                features.extend(list.split(',').map(String::from));
            }
            other => return Err(format!("`{task}` does not take `{other}` (see --help)")),
        }
    }
    Ok((board, features))
}

/// The firmware directory.
pub fn dir() -> PathBuf {
    root().join("firmware")
}

/// `cargo` run in firmware/, so that its own `.cargo/config.toml` (linker scripts, DEFMT_LOG)
/// applies.
pub fn cargo() -> Command {
    let mut c = crate::cmd::cargo();
    c.current_dir(dir());
    c
}

/// Builds the release firmware for `board` and returns its ELF, copied to `<target dir>/elf/<board>`
/// (boards that share a target triple share a cargo output path).
pub fn build(board: Board) -> Result<PathBuf, String> {
    build_with(board, &[])
}

/// The name of the ELF [`build_with`] leaves in `<target dir>/elf/`: the board, then each extra
/// feature (`microbit`, `microbit-q16`), so that formats built in one run do not overwrite each
/// other.
pub fn elf_name(board: Board, extra: &[String]) -> String {
    let mut name = String::from(board.name);
    for f in extra {
        name.push('-');
        name.push_str(f);
    }
    name
}

/// [`build`] with extra firmware features (`soft-float`, `q16` on the Cortex-M0 boards); the ELF
/// is `<target dir>/elf/<board>[-<feature>...]`.
pub fn build_with(board: Board, extra: &[String]) -> Result<PathBuf, String> {
    build_into(board, extra, None)
}

/// [`build_with`] with `CARGO_TARGET_DIR` set to `target_dir` for cargo (None: as the caller's
/// environment has it). The emulated boards build from firmware/ with the board's feature; a
/// real board from its package directory, as a user runs `cargo run --release` there, so that
/// its `.cargo/config.toml` (flip-link) applies. The ELF's path is cargo's own answer, never a
/// guess: the executable named in `--message-format=json`, copied into the `elf/` directory
/// beside cargo's output (`cargo metadata`'s `target_directory`).
pub fn build_into(
    board: Board,
    extra: &[String],
    target_dir: Option<&Path>,
) -> Result<PathBuf, String> {
    let cargo = || {
        let mut c = cargo();
        if let Some(package) = board.package {
            c.current_dir(dir().join(package));
        }
        if let Some(dir) = target_dir {
            c.env("CARGO_TARGET_DIR", dir);
        }
        c
    };
    let mut build = cargo();
    build.args(["build", "--release", "--target", board.target]);
    if board.package.is_some() {
        crate::toolchain::ensure_flip_link()?;
        if !extra.is_empty() {
            build.args(["--features", &extra.join(",")]);
        }
    } else {
        let mut features = vec![board.name.to_string()];
        features.extend(extra.iter().cloned());
        build.args(["--no-default-features", "--features", &features.join(",")]);
    }
    let messages = run_keep_error(build.arg("--message-format=json-render-diagnostics"))?;
    let built = executable(&messages)?;
    let elf_dir = crate::cmd::target_dir(&mut cargo())?.join("elf");
    std::fs::create_dir_all(&elf_dir).map_err(|e| format!("{}: {e}", elf_dir.display()))?;
    let elf = elf_dir.join(elf_name(board, extra));
    std::fs::copy(&built, &elf)
        .map_err(|e| format!("copy {} to {}: {e}", built.display(), elf.display()))?;
    Ok(elf)
}

/// The one executable among cargo's `--message-format=json` messages (`compiler-artifact` with
/// an `executable`).
fn executable(messages: &str) -> Result<PathBuf, String> {
    let found: Vec<PathBuf> = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("cargo built no executable (no compiler-artifact with one)".into()),
        many => Err(format!("cargo built {} executables: {many:?}", many.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::{BOARDS, executable, ram, region};
    use std::path::PathBuf;

    #[test]
    fn ram_sizes_come_from_the_memory_maps() {
        let sizes: Vec<u64> = BOARDS.iter().map(|&b| ram(b).unwrap()).collect();
        assert_eq!(sizes, [4 << 20, 16 << 10, 128 << 10, 264 << 10]);
        let map = "MEMORY\n{\n  FLASH : ORIGIN = 0x0, LENGTH = 2048K - 0x100\n  RAM : ORIGIN = 0x20000000, LENGTH = 0x4000\n}";
        assert_eq!(region::length(map, "RAM"), Ok(0x4000));
        let err = region::length(map, "FLASH").unwrap_err();
        assert!(err.contains("2048K - 0x100"), "{err}");
        assert!(region::length(map, "CCM").is_err());
    }

    #[test]
    fn the_executable_is_cargo_s_answer() {
        let messages = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/core#nearid@0.1.0","target":{"kind":["lib"],"name":"nearid"},"filenames":["/t/libnearid.rlib"],"executable":null,"fresh":true}
{"reason":"build-script-executed","package_id":"x","out_dir":"/t/out"}
{"reason":"compiler-artifact","package_id":"path+file:///w/firmware#nearid-firmware@0.1.0","target":{"kind":["bin"],"name":"nearid-firmware"},"filenames":["/elsewhere/thumbv7em-none-eabihf/release/nearid-firmware"],"executable":"/elsewhere/thumbv7em-none-eabihf/release/nearid-firmware","fresh":false}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable(messages),
            Ok(PathBuf::from(
                "/elsewhere/thumbv7em-none-eabihf/release/nearid-firmware"
            ))
        );
        assert!(executable("{\"reason\":\"build-finished\",\"success\":true}").is_err());
    }
}
