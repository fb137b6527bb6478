//! Reads a region's size from a board's memory map (`memory/<board>.x`), the one place each
//! board's flash and RAM sizes are written. Shared, by `#[path]`, by the firmware's build script
//! (which hands the RAM size to the code as `board::RAM_BYTES`) and by xtask (the size report).

/// The `LENGTH` of the region `name` in the `MEMORY` block of a linker script, in bytes: a
/// decimal or `0x` hexadecimal number with an optional `K` or `M` suffix (what the boards'
/// memory maps use; anything else is an error naming the line).
pub fn length(script: &str, name: &str) -> Result<u64, String> {
    let line = script
        .lines()
        .map(str::trim)
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .ok_or_else(|| format!("no `{name} : ORIGIN = .., LENGTH = ..` line"))?;
    let value = line
        .split_once("LENGTH")
        .and_then(|(_, rest)| rest.trim_start().strip_prefix('='))
        .map(|rest| rest.split([',', '}']).next().unwrap_or("").trim())
        .ok_or_else(|| format!("no LENGTH in `{line}`"))?;
    let (digits, scale) = match value.as_bytes().last() {
        Some(b'K') => (&value[..value.len() - 1], 1 << 10),
        Some(b'M') => (&value[..value.len() - 1], 1 << 20),
        _ => (value, 1),
    };
    let number = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    number
        .map(|n| n * scale)
        .map_err(|_| format!("LENGTH `{value}` in `{line}` is not a number with K or M"))
}
