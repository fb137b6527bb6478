//! `cargo xtask size`: flash and RAM of the firmware per board, from the ELF's sections, plus the
//! stack high-water mark (stack painting, reported by the firmware) and the training figures of a
//! run for the QEMU boards.

use std::path::Path;

use object::{Object, ObjectSection};

use crate::firmware::{self, BOARDS, Board};
use crate::qemu;
use crate::run::QEMU_TIMEOUT;
use crate::test::ensure_targets;

/// Bytes per output section kind.
#[derive(Debug, Default)]
struct Sections {
    /// .vector_table + .text + .rodata (+ .boot2): code and constants in flash.
    text: u64,
    /// .data: initialised statics (in flash and in RAM).
    data: u64,
    /// .bss + .uninit: zeroed and uninitialised statics (RAM).
    bss: u64,
}

fn sections(elf: &Path) -> Result<Sections, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
    let mut s = Sections::default();
    for section in file.sections() {
        let size = section.size();
        match section.name().unwrap_or("") {
            ".vector_table" | ".text" | ".rodata" | ".boot2" => s.text += size,
            ".data" => s.data += size,
            ".bss" | ".uninit" => s.bss += size,
            _ => {}
        }
    }
    Ok(s)
}

/// The part of a log line after `prefix`, up to (not including) the first of `ends` or the end.
fn field<'a>(lines: &'a [String], prefix: &str, ends: &[char]) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let rest = &l[l.find(prefix)? + prefix.len()..];
        Some(rest[..rest.find(ends).unwrap_or(rest.len())].trim())
    })
}

pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`size` takes no arguments (got `{a}`)"));
    }
    ensure_targets(&firmware::targets())?;
    let mut rows = Vec::new();
    for board in BOARDS {
        let elf = firmware::build(board)?;
        rows.push(row(board, &elf)?);
    }
    println!(
        "\n| board | network | flash (.text + .data) | RAM (.data + .bss + stack) | .text | .data | .bss | stack high-water | per training step | final loss |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nflash and .text/.data/.bss from the ELF sections; stack (by painting), cost and loss from a QEMU run \
         (-icount shift=0: instructions); real boards are built, not run"
    );
    Ok(())
}

fn row(board: Board, elf: &Path) -> Result<String, String> {
    let s = sections(elf)?;
    let flash = s.text + s.data;
    let (mut network, mut stack, mut cost, mut loss) =
        ("".to_string(), None, "n/a".into(), "n/a".into());
    if board.qemu.is_some() {
        qemu::ensure()?;
        let out = qemu::run_elf(board, elf, QEMU_TIMEOUT, false)?;
        out.verdict(board)?;
        network = field(&out.lines, "network: ResNet<", &['>'])
            .map_or("?".into(), |v| format!("ResNet<{v}>"));
        stack = field(&out.lines, "stack high-water mark: ", &[' '])
            .and_then(|v| v.parse::<u64>().ok());
        cost = field(&out.lines, "cost: ", &[','])
            .unwrap_or("?")
            .to_string();
        loss = field(&out.lines, ", calibrated ", &[',', ' '])
            .unwrap_or("?")
            .to_string();
    }
    let ram = match stack {
        Some(st) => format!("{} B of {}", s.data + s.bss + st, kib(board.ram)),
        None => format!("{} B + stack, of {}", s.data + s.bss, kib(board.ram)),
    };
    Ok(format!(
        "| {} | {} | {} B | {} | {} | {} | {} | {} | {} | {} |",
        board.name,
        if network.is_empty() {
            "(see firmware/src/board/)".into()
        } else {
            network
        },
        flash,
        ram,
        s.text,
        s.data,
        s.bss,
        stack.map_or("n/a (not run)".into(), |v| format!("{v} B")),
        cost,
        loss
    ))
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes >> 10)
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_cut_from_the_log() {
        let log: Vec<String> = [
            "INFO  network: ResNet<f32 (FPU), D=3, H=16, M=8>, 920 parameters",
            "INFO  held-out loss on 256 fresh samples: uncalibrated 0.03, calibrated 0.00006",
            "INFO  stack high-water mark: 12956 B of 4194284 B",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            field(&log, "network: ResNet<", &['>']),
            Some("f32 (FPU), D=3, H=16, M=8")
        );
        assert_eq!(field(&log, ", calibrated ", &[',', ' ']), Some("0.00006"));
        assert_eq!(
            field(&log, "stack high-water mark: ", &[' ']),
            Some("12956")
        );
        assert_eq!(field(&log, "absent", &[' ']), None);
    }
}
