//! Where a training step's instructions go on an emulated chip: QEMU's execution trace, counted
//! per instruction inside the firmware's `train_step`, and attributed to the phases of the step
//! (forward, backward, gradient norm, update) by the DWARF inline frames of each address.
//!
//! QEMU logs every translation block it translates (`-d in_asm`: its instructions) and, with
//! chaining off, every one it executes (`-d exec,nochain`: its start address). Counting the
//! executed blocks between an entry into `train_step` and the return to its caller gives each
//! instruction's executions during the steps only (the evaluation's forward passes, which run
//! the same code, are left out). The counts are deterministic, like `-icount` itself; their sum
//! per step is the step's cost, which the firmware also measures with its clock.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use addr2line::Context;
use gimli::{EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection, ObjectSymbol};

use xtask::firmware::{self, Board};
use xtask::qemu::{self, QEMU_TIMEOUT};
use xtask::runlog::parse_log;
use xtask::toolchain::ensure_targets;

/// `cargo xtask profile [--board NAME] [--features LIST]`: builds the firmware, traces its run
/// and prints where a step's instructions go.
pub fn main(args: &[String]) -> Result<(), String> {
    let (board, features) = firmware::board_and_features(args, "profile")?;
    ensure_targets(&[board.target])?;
    qemu::ensure()?;
    let elf = firmware::build_with(board, &features)?;
    // A plain run first: the network's size and the firmware's own count of a step.
    let out = qemu::run_elf(board, &elf, QEMU_TIMEOUT, false)?;
    out.verdict(board)?;
    let log = parse_log(board.name, &out.lines)?;
    println!(
        "\n{}: {} parameters, {} instructions per step (the firmware's clock); tracing the run \
         in QEMU (a minute or three)",
        board.name, log.params, log.per_step
    );
    let p = profile(board, &elf)?;
    print!("\n{}", p.table(Some(log.params)));
    println!("\nfunctions holding the step's instructions (per step):");
    for (name, n) in p.functions.iter().take(12) {
        println!("{:>12.1}  {name}", *n as f64 / p.steps as f64);
    }
    Ok(())
}

/// The phases of a step, each recognised by a function among an instruction's inline frames
/// (innermost first; the first frame that names a phase wins). Function names are matched on
/// their last path segment (`nearid::kernels::by_unit::backward<..>` -> `backward`).
const PHASES: [(&str, &[&str]); 4] = [
    (
        "forward (with the tape)",
        &["forward_with", "block_forward", "forward"],
    ),
    (
        "backward (signals into the tape)",
        &["backward_with", "block_backward", "backward", "mat_t_vec"],
    ),
    (
        "gradient norm (also the signals' finiteness check)",
        // dot_times_dot: out of line on the Cortex-M0, where its frames do not name its caller;
        // the step calls it only for the gradient norm.
        &["grad_norm_sq_with", "add_norm_sq", "dot_times_dot"],
    ),
    (
        "update (plain SGD, one pass per tensor)",
        &[
            "update_with",
            "block_update",
            "update",
            "update_matrix",
            "update_column",
            "column_b1",
        ],
    ),
];

/// What the rest is: the loss, the input/output checks, the step's own code and calls.
const REST: &str = "loss, finiteness checks of data and outputs, call overhead";

/// Instructions executed inside the training step, per phase and per function.
#[derive(Debug, PartialEq)]
pub struct Profile {
    /// Calls of `train_step` traced.
    pub steps: u64,
    /// (phase, instructions over all steps), in the order of [`PHASES`], the rest last.
    pub phases: Vec<(String, u64)>,
    /// (function holding the instruction, instructions over all steps), most first.
    pub functions: Vec<(String, u64)>,
}

impl Profile {
    /// Instructions per step in all.
    pub fn per_step(&self) -> f64 {
        let total: u64 = self.phases.iter().map(|(_, n)| n).sum();
        total as f64 / self.steps.max(1) as f64
    }

    /// A Markdown table: instructions per step (and per weight, given the number of weights)
    /// and share of each phase.
    pub fn table(&self, weights: Option<u64>) -> String {
        let total = self.per_step();
        let mut t = String::from(
            "| phase | instructions per step | per weight | share |\n|---|---|---|---|\n",
        );
        let row = |name: &str, n: f64| {
            let per_weight = weights.map_or("".into(), |w| format!("{:.2}", n / w as f64));
            format!(
                "| {name} | {n:.0} | {per_weight} | {:.1}% |\n",
                100.0 * n / total
            )
        };
        for (name, n) in &self.phases {
            t.push_str(&row(name, *n as f64 / self.steps as f64));
        }
        t.push_str(&row("**step**", total));
        t
    }

    /// A plain text form for `--render-only`: `steps N`, then `phase COUNT NAME` and
    /// `function COUNT NAME` lines.
    pub fn save(&self) -> String {
        let mut s = format!("steps {}\n", self.steps);
        for (name, n) in &self.phases {
            s.push_str(&format!("phase {n} {name}\n"));
        }
        for (name, n) in &self.functions {
            s.push_str(&format!("function {n} {name}\n"));
        }
        s
    }

    /// The inverse of [`Profile::save`].
    pub fn load(text: &str) -> Result<Self, String> {
        let mut p = Profile {
            steps: 0,
            phases: Vec::new(),
            functions: Vec::new(),
        };
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            let (kind, count) = (parts.next(), parts.next().map(str::parse::<u64>));
            match (kind, count, parts.next()) {
                (Some("steps"), Some(Ok(n)), None) => p.steps = n,
                (Some("phase"), Some(Ok(n)), Some(name)) => p.phases.push((name.into(), n)),
                (Some("function"), Some(Ok(n)), Some(name)) => p.functions.push((name.into(), n)),
                _ => return Err(format!("profile: unreadable line `{line}`")),
            }
        }
        if p.steps == 0 {
            return Err("profile: no steps".into());
        }
        Ok(p)
    }
}

/// Runs `elf` on the board's QEMU machine with the execution trace and profiles its steps.
pub fn profile(board: Board, elf: &Path) -> Result<Profile, String> {
    let Some((machine, cpu)) = board.qemu else {
        return Err(format!("{} is not emulated: no profile", board.name));
    };
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
    let (entry, size) = step_symbol(&file).ok_or_else(|| {
        format!(
            "{}: no `train_step` symbol (the profile counts the instructions inside it)",
            elf.display()
        )
    })?;
    let returns = return_addresses(&file, entry);
    if returns.is_empty() {
        return Err(format!(
            "{}: no call of train_step found (a Thumb BL to {entry:#x})",
            elf.display()
        ));
    }

    // The trace goes to stderr (stdout carries the firmware's log, not needed here).
    let mut qemu = qemu::command(machine, cpu, elf);
    qemu.args(["-d", "in_asm,exec,nochain", "-D", "/dev/stderr"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = qemu
        .spawn()
        .map_err(|e| format!("could not start qemu-system-arm: {e}"))?;
    let trace = child.stderr.take().ok_or("no trace from QEMU")?;

    // Translation blocks: start address -> the addresses of their instructions.
    let mut blocks: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut translating: Option<Vec<u32>> = None;
    // Executions of each block while inside a step.
    let mut executed: HashMap<u32, u64> = HashMap::new();
    let (mut inside, mut steps) = (false, 0u64);
    for line in BufReader::new(trace).lines() {
        let line = line.map_err(|e| format!("reading QEMU's trace: {e}"))?;
        if let Some(pc) = line.strip_prefix("Trace ").and_then(executed_pc) {
            if pc == entry && !inside {
                // Once per call: an interrupt taken in the first block re-enters it.
                inside = true;
                steps += 1;
            } else if returns.contains(&pc) {
                inside = false;
            }
            if inside {
                *executed.entry(pc).or_default() += 1;
            }
        } else if line.starts_with("IN:") {
            translating = Some(Vec::new());
        } else if let Some(block) = translating.as_mut() {
            match line.strip_prefix("0x").and_then(|l| l.split(':').next()) {
                Some(hex) => block.extend(u32::from_str_radix(hex, 16).ok()),
                None if line.trim().is_empty() && !block.is_empty() => {
                    let block = std::mem::take(block);
                    blocks.insert(block[0], block);
                    translating = None;
                }
                None => {}
            }
        }
    }
    let status = child.wait().map_err(|e| format!("qemu-system-arm: {e}"))?;
    if !status.success() {
        return Err(format!("the traced run failed ({status})"));
    }
    if steps == 0 {
        return Err(format!(
            "train_step ({entry:#x}..{:#x}) never ran",
            entry + size
        ));
    }

    let mut per_address: HashMap<u32, u64> = HashMap::new();
    for (start, n) in executed {
        let block = blocks
            .get(&start)
            .ok_or_else(|| format!("trace: block at {start:#x} executed, never translated"))?;
        for &a in block {
            *per_address.entry(a).or_default() += n;
        }
    }
    attribute(&file, &per_address, steps)
}

/// The pc of a `-d exec` line: `Trace 0: 0x7f.. [00000000/0000126c/00000000/ff200000] name`.
fn executed_pc(rest: &str) -> Option<u32> {
    let fields = rest.split('[').nth(1)?;
    u32::from_str_radix(fields.split('/').nth(1)?, 16).ok()
}

/// Address and size of the firmware's `train_step` function.
fn step_symbol(file: &object::File) -> Option<(u32, u32)> {
    file.symbols().find_map(|s| {
        let name = rustc_demangle::demangle(s.name().ok()?).to_string();
        let is_step = name.contains("::train_step") && s.kind() == object::SymbolKind::Text;
        // Thumb function symbols have bit 0 set.
        is_step.then(|| ((s.address() & !1) as u32, s.size() as u32))
    })
}

/// The addresses just after every Thumb `BL` to `target` in the executable sections: where
/// the step returns to.
fn return_addresses(file: &object::File, target: u32) -> Vec<u32> {
    file.sections()
        .filter(|s| s.kind() == object::SectionKind::Text)
        .filter_map(|s| Some(calls_to(s.data().ok()?, s.address() as u32, target)))
        .flatten()
        .map(|bl| bl + 4)
        .collect()
}

/// The addresses of the Thumb `BL` instructions to `target` in `code`, which starts at `base`
/// (halfword-aligned scan; BL is the 32-bit T1 encoding on every Cortex-M).
fn calls_to(code: &[u8], base: u32, target: u32) -> Vec<u32> {
    let halfwords: Vec<u32> = code
        .chunks_exact(2)
        .map(|h| u32::from(u16::from_le_bytes([h[0], h[1]])))
        .collect();
    let mut found = Vec::new();
    for (i, pair) in halfwords.windows(2).enumerate() {
        let (h1, h2) = (pair[0], pair[1]);
        if h1 & 0xF800 != 0xF000 || h2 & 0xD000 != 0xD000 {
            continue;
        }
        // imm32 = SignExtend(S:I1:I2:imm10:imm11:0), I = NOT(J EOR S).
        let s = (h1 >> 10) & 1;
        let (j1, j2) = ((h2 >> 13) & 1, (h2 >> 11) & 1);
        let (i1, i2) = (1 ^ (j1 ^ s), 1 ^ (j2 ^ s));
        let imm = (s << 24) | (i1 << 23) | (i2 << 22) | ((h1 & 0x3FF) << 12) | ((h2 & 0x7FF) << 1);
        let offset = ((imm << 7) as i32) >> 7;
        let pc = base + 2 * i as u32;
        if pc.wrapping_add(4).wrapping_add(offset as u32) == target {
            found.push(pc);
        }
    }
    found
}

/// Sums the counts per phase (by the inline frames of each address) and per function (the
/// symbol that holds the address).
fn attribute(
    file: &object::File,
    per_address: &HashMap<u32, u64>,
    steps: u64,
) -> Result<Profile, String> {
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<EndianSlice<'_, RunTimeEndian>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).map_err(|e| format!("DWARF: {e}"))?;
    let context = Context::from_dwarf(dwarf).map_err(|e| format!("DWARF: {e}"))?;
    let mut symbols: Vec<(u32, u32, String)> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            let name = rustc_demangle::demangle(s.name().ok()?).to_string();
            Some(((s.address() & !1) as u32, s.size() as u32, short(&name)))
        })
        .collect();
    symbols.sort();

    let mut phases: Vec<(String, u64)> = PHASES.iter().map(|(p, _)| (p.to_string(), 0)).collect();
    phases.push((REST.to_string(), 0));
    let mut functions: HashMap<String, u64> = HashMap::new();
    for (&address, &n) in per_address {
        let phase = phase_of(&context, address).unwrap_or(PHASES.len());
        phases[phase].1 += n;
        let i = symbols.partition_point(|(start, _, _)| *start <= address);
        let function = match i.checked_sub(1).map(|i| &symbols[i]) {
            Some((start, size, name)) if address < start + size => name.clone(),
            _ => format!("{address:#x}"),
        };
        *functions.entry(function).or_default() += n;
    }
    let mut functions: Vec<(String, u64)> = functions.into_iter().collect();
    functions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Profile {
        steps,
        phases,
        functions,
    })
}

/// The index in [`PHASES`] of the first inline frame (innermost first) that names a phase.
fn phase_of(context: &Context<EndianSlice<'_, RunTimeEndian>>, address: u32) -> Option<usize> {
    let mut frames = context
        .find_frames(u64::from(address))
        .skip_all_loads()
        .ok()?;
    while let Ok(Some(frame)) = frames.next() {
        let Some(name) = frame
            .function
            .and_then(|f| f.demangle().ok().map(|n| n.to_string()))
        else {
            continue;
        };
        let name = short(&name);
        let last = last_segment(&name);
        if let Some(p) = PHASES.iter().position(|(_, fs)| fs.contains(&last)) {
            return Some(p);
        }
    }
    None
}

/// `a::b<c::d>::e<f>` -> `e`: the last path segment outside angle brackets, without its
/// generic arguments.
fn last_segment(name: &str) -> &str {
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = name.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => start = i + 2,
            _ => {}
        }
    }
    let last = name.get(start..).unwrap_or(name);
    last.split('<').next().unwrap_or(last)
}

/// A demangled name without its hash (`::h0123...`).
fn short(name: &str) -> String {
    match name.rfind("::h") {
        Some(i) if name[i + 3..].chars().all(|c| c.is_ascii_hexdigit()) => name[..i].to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_segment_skips_generic_arguments() {
        assert_eq!(
            last_segment("<nearid::block::ResidualBlock<T,_,_,S>>::backward_by_unit"),
            "backward_by_unit"
        );
        assert_eq!(
            last_segment("nearid::sgd::grad_norm_sq<f32, a::B, 3, 1>"),
            "grad_norm_sq"
        );
        assert_eq!(last_segment("train_step"), "train_step");
    }

    #[test]
    fn executed_pc_reads_the_second_field() {
        let line = "0: 0x7f3c2c000100 [00000000/0000126c/00000000/ff200000] train_step";
        assert_eq!(executed_pc(line), Some(0x126c));
    }

    /// BL encodings worked out by hand from the Armv7-M manual (T1): forward by 0x268 and
    /// backward by 0xd9a, both to 0x126c.
    #[test]
    fn calls_are_found_by_their_bl_encoding() {
        let halfwords =
            |hs: &[u16]| -> Vec<u8> { hs.iter().flat_map(|h| h.to_le_bytes()).collect() };
        // At 0x1000: bl 0x126c (imm32 = 0x268: S = 0, J1 = J2 = 1, imm11 = 0x134).
        assert_eq!(
            calls_to(&halfwords(&[0xF000, 0xF934]), 0x1000, 0x126c),
            vec![0x1000]
        );
        // At 0x2002, after a nop: bl 0x126c (imm32 = -0xd9a: S = 1, imm10 = 0x3ff, imm11 0x133).
        let code = halfwords(&[0xBF00, 0xF7FF, 0xF933]);
        assert_eq!(calls_to(&code, 0x2000, 0x126c), vec![0x2002]);
        assert_eq!(calls_to(&code, 0x2000, 0x1270), Vec::<u32>::new());
    }

    #[test]
    fn saved_profiles_load_back() {
        let p = Profile {
            steps: 3,
            phases: vec![("forward (x)".into(), 30), (REST.into(), 3)],
            functions: vec![("nearid::a::b c".into(), 33)],
        };
        assert_eq!(Profile::load(&p.save()), Ok(p));
    }
}
