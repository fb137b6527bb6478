//! `cargo xtask size`: flash and RAM of the firmware per board, from the ELF's sections, plus the
//! stack high-water mark (stack painting, reported by the firmware) and the training figures of a
//! run for the QEMU boards.

use std::path::Path;

use object::{Object, ObjectSection};

use xtask::firmware::{self, BOARDS, Board};
use xtask::qemu::{self, QEMU_TIMEOUT};
use xtask::runlog;
use xtask::toolchain::ensure_targets;

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
    let (mut network, mut stack, mut cost, mut loss) = (
        "(see firmware/src/board/)".to_string(),
        None,
        "n/a".into(),
        "n/a".into(),
    );
    if board.qemu.is_some() {
        qemu::ensure()?;
        let out = qemu::run_elf(board, elf, QEMU_TIMEOUT, false)?;
        out.verdict(board)?;
        let log = runlog::parse_log(board.name, &out.lines)?;
        network = log.network();
        stack = Some(log.stack_used);
        cost = format!("{} instructions", log.per_step);
        loss = log.calibrated.to_string();
    }
    let total = kib(firmware::ram(board)?);
    let ram = match stack {
        Some(st) => format!("{} B of {total}", s.data + s.bss + st),
        None => format!("{} B + stack, of {total}", s.data + s.bss),
    };
    Ok(format!(
        "| {} | {network} | {flash} B | {ram} | {} | {} | {} | {} | {cost} | {loss} |",
        board.name,
        s.text,
        s.data,
        s.bss,
        stack.map_or("n/a (not run)".into(), |v| format!("{v} B")),
    ))
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes >> 10)
}
