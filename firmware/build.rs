//! Puts the chosen board's `memory.x` where cortex-m-rt's `link.x` finds it (the linker search
//! path), so each board gets its own memory map from one crate, and hands the map's RAM size to
//! the code (`board::RAM_BYTES`): the memory map is the one place it is written.

use std::{env, fs, path::PathBuf};

#[path = "memory/region.rs"]
mod region;

/// (Cargo feature, memory map file under memory/).
const BOARDS: [(&str, &str); 4] = [
    ("mps2-an386", "mps2-an386.x"),
    ("microbit", "microbit.x"),
    ("nucleo-f411re", "nucleo-f411re.x"),
    ("pico", "pico.x"),
];

fn main() {
    let chosen: Vec<_> = BOARDS
        .iter()
        .filter(|(feature, _)| {
            let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
            env::var_os(var).is_some()
        })
        .collect();
    let [(_, file)] = chosen.as_slice() else {
        panic!(
            "choose exactly one board feature (got {}): {}",
            chosen.len(),
            BOARDS.map(|(f, _)| f).join(", ")
        );
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The firmware directory: this package's own (firmware/, the emulated boards) or, for a real
    // board's package (firmware/boards/<board>/, which builds with this script), the nearest
    // one above it that holds the memory maps.
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let firmware = manifest
        .ancestors()
        .find(|d| d.join("memory/region.rs").is_file())
        .unwrap_or_else(|| panic!("no memory/ above {}", manifest.display()));
    let src = firmware.join("memory").join(file);
    let map = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    fs::write(out.join("memory.x"), &map).unwrap_or_else(|e| panic!("write memory.x: {e}"));
    let ram = region::length(&map, "RAM").unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    fs::write(
        out.join("ram.rs"),
        format!(
            "/// RAM in bytes, from `{}`.\npub const RAM_BYTES: usize = {ram};\n",
            src.display()
        ),
    )
    .unwrap_or_else(|e| panic!("write ram.rs: {e}"));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", src.display());
    println!(
        "cargo:rerun-if-changed={}",
        firmware.join("memory/region.rs").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        firmware.join("build.rs").display()
    );
}
