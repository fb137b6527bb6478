//! Disassembly of the firmware's training step for `cargo xtask bench`: finds a disassembler,
//! picks the function that holds the step by its demangled name, disassembles it and the core
//! (`nearid::`) functions it calls, and measures each: its size in instructions and its innermost
//! loops (a loop is a backward branch to an address inside the same function; innermost = no
//! other loop nested in it).
//!
//! The listing is saved in a plain text form (see [`Function::save`]) so that
//! `cargo xtask bench --render-only` can analyse it again without the ELF.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSymbol, SymbolKind};

use xtask::cmd::{output, root};

const INSTALL: &str = "rustup component add llvm-tools (or apt-get install llvm, or \
                       apt-get install binutils-arm-none-eabi)";

/// The functions that hold the training step, tried in order: `*` matches any run of
/// characters, the pattern matches anywhere in the demangled name (without its hash). The first
/// pattern that matches any symbol wins; the note says what the figures then measure.
pub const STEP_PATTERNS: [(&str, &str); 4] = [
    ("train_step", "the firmware's training step"),
    (
        "FusedSgd<*>::step",
        "FusedSgd::step (the firmware has no `train_step` symbol)",
    ),
    (
        "nearid_firmware::app::run",
        "no `train_step` symbol: the step is inlined into app::run, so these figures are the \
         whole application loop's (sensor reads, batch draws, logging and evaluation included)",
    ),
    (
        "nearid_firmware::__cortex_m_rt_main",
        "no `train_step` symbol: the step is inlined into main, so these figures are the whole \
         program's main function",
    ),
];

/// The library calls a multiply-accumulate becomes without the hardware for it.
const ARITHMETIC_CALLS: [&str; 10] = [
    "__aeabi_lmul",
    "__muldi3",
    "__aeabi_fmul",
    "__mulsf3",
    "__aeabi_fadd",
    "__addsf3",
    "__aeabi_fsub",
    "__subsf3",
    "__aeabi_frsub",
    "__aeabi_dmul",
];

/// Multiply instructions (Thumb-1, Thumb-2, FPv4).
const MULTIPLIES: [&str; 14] = [
    "mul",
    "muls",
    "mla",
    "mls",
    "smull",
    "umull",
    "smlal",
    "umlal",
    "vmla.f32",
    "vmls.f32",
    "vfma.f32",
    "vfms.f32",
    "vmul.f32",
    "vnmls.f32",
];

/// A disassembler: its program and the name to show.
pub struct Disassembler {
    program: PathBuf,
}

impl Disassembler {
    /// `$OBJDUMP` when set, else the toolchain's own llvm-objdump (the `llvm-tools` rustup
    /// component), else `llvm-objdump` or `arm-none-eabi-objdump` on PATH; an error says how to
    /// install one.
    pub fn find() -> Result<Self, String> {
        if let Some(program) = std::env::var_os("OBJDUMP") {
            let program = PathBuf::from(program);
            return match Command::new(&program).arg("--version").output() {
                Ok(o) if o.status.success() => Ok(Self { program }),
                _ => Err(format!(
                    "OBJDUMP={} does not run (`--version` failed)",
                    program.display()
                )),
            };
        }
        let mut candidates = Vec::new();
        let rustc = || {
            let mut c = Command::new("rustc");
            c.current_dir(root());
            c
        };
        if let (Ok(sysroot), Ok(version)) = (
            output(rustc().args(["--print", "sysroot"])),
            output(rustc().arg("-vV")),
        ) && let Some(host) = version.lines().find_map(|l| l.strip_prefix("host: "))
        {
            candidates.push(
                Path::new(sysroot.trim())
                    .join("lib/rustlib")
                    .join(host.trim())
                    .join("bin/llvm-objdump"),
            );
        }
        candidates.push("llvm-objdump".into());
        candidates.push("arm-none-eabi-objdump".into());
        for program in candidates {
            if Command::new(&program)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return Ok(Self { program });
            }
        }
        Err(format!(
            "no disassembler for the firmware's hot loops (llvm-objdump or arm-none-eabi-objdump); \
             install one with:\n  {INSTALL}"
        ))
    }

    /// The program's file name and the version it reports, e.g. `llvm-objdump (LLVM version
    /// 20.1.8)`, with its path.
    pub fn name(&self) -> String {
        let version = Command::new(&self.program)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let version = version
            .lines()
            .map(str::trim)
            .find(|l| l.contains("version") || l.starts_with("GNU objdump"))
            .unwrap_or("version unknown")
            .to_string();
        format!("{} ({version})", self.program.display())
    }

    /// The instructions in [start, end) of `elf`.
    fn range(&self, elf: &Path, start: u64, end: u64) -> Result<Vec<Insn>, String> {
        let text = output(
            Command::new(&self.program)
                .args(["-d", "--no-show-raw-insn"])
                .arg(format!("--start-address={start:#x}"))
                .arg(format!("--stop-address={end:#x}"))
                .arg(elf),
        )?;
        Ok(text.lines().filter_map(Insn::parse_objdump).collect())
    }
}

/// One instruction: address, mnemonic, operands, and for a call the callee's demangled name.
#[derive(Clone, Debug, PartialEq)]
pub struct Insn {
    pub addr: u64,
    pub mnemonic: String,
    pub operands: String,
    pub callee: Option<String>,
}

impl Insn {
    /// A line of `llvm-objdump -d --no-show-raw-insn` or GNU objdump: `   4d4:  \tpush\t{r7, lr}`.
    /// Labels, headers and data (`.word`, shown with its bytes even without raw instructions)
    /// are not instructions; comments (`@ imm = #0x10`) are dropped.
    pub fn parse_objdump(line: &str) -> Option<Self> {
        let (addr, rest) = line.split_once(':')?;
        let addr = u64::from_str_radix(addr.trim(), 16).ok()?;
        let is_bytes = |f: &str| {
            f.split_whitespace()
                .all(|t| matches!(t.len(), 2 | 4 | 8) && t.chars().all(|c| c.is_ascii_hexdigit()))
        };
        let mut fields = rest
            .split('\t')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .skip_while(|f| is_bytes(f));
        let first = fields.next()?;
        let (mnemonic, head) = first.split_once(' ').unwrap_or((first, ""));
        if mnemonic.starts_with('.') || mnemonic.starts_with('<') || mnemonic.starts_with('@') {
            return None;
        }
        let mut operands = head.trim().to_string();
        for f in fields {
            if !operands.is_empty() {
                operands.push(' ');
            }
            operands.push_str(f);
        }
        // The comment, and the `<symbol+offset>` annotation of a branch (the address stays).
        if let Some(at) = operands.find('@') {
            operands.truncate(at);
        }
        if let Some(at) = operands.find(" <") {
            operands.truncate(at);
        }
        Some(Self {
            addr,
            mnemonic: mnemonic.to_string(),
            operands: operands.trim().to_string(),
            callee: None,
        })
    }

    /// The mnemonic without a width qualifier (`bne.n` -> `bne`).
    fn base(&self) -> &str {
        self.mnemonic
            .strip_suffix(".n")
            .or_else(|| self.mnemonic.strip_suffix(".w"))
            .unwrap_or(&self.mnemonic)
    }

    /// A direct branch (not a call): `b`, `b<cond>`, `cbz`, `cbnz`.
    fn is_branch(&self) -> bool {
        const CONDITIONS: [&str; 15] = [
            "eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
            "gt",
        ];
        let m = self.base();
        m == "b"
            || m == "cbz"
            || m == "cbnz"
            || m == "ble"
            || m == "bal"
            || m.strip_prefix('b').is_some_and(|c| CONDITIONS.contains(&c))
    }

    fn is_call(&self) -> bool {
        self.base() == "bl"
    }

    /// The branch or call target: `0x50a <f+0x36>` (llvm), `50a <f+0x36>` (GNU), or a
    /// PC-relative `#-12` (older llvm; Thumb PC reads 4 ahead).
    fn target(&self) -> Option<u64> {
        let op = self.operands.rsplit(',').next()?.trim();
        let op = op.split_whitespace().next()?;
        if let Some(rel) = op.strip_prefix('#') {
            let rel: i64 = rel.parse().ok()?;
            return self.addr.checked_add_signed(rel + 4);
        }
        u64::from_str_radix(op.trim_start_matches("0x"), 16).ok()
    }

    fn is_multiply(&self) -> bool {
        MULTIPLIES.contains(&self.base())
            || self
                .callee
                .as_deref()
                .is_some_and(|c| ARITHMETIC_CALLS.contains(&c))
    }
}

/// A function's disassembly and why it is in the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// "step" for the function found by [`STEP_PATTERNS`], "called" for the core functions it
    /// calls (directly or not), "library" for arithmetic library calls in them.
    pub role: String,
    pub name: String,
    pub insns: Vec<Insn>,
}

/// A loop: the instructions from a backward branch's target to the branch.
#[derive(Clone, Debug, PartialEq)]
pub struct Loop {
    pub start: u64,
    pub end: u64,
    /// Instructions in the body (static count; a conditional inside may skip some).
    pub len: usize,
    /// Multiplies and arithmetic library calls in the body.
    pub multiplies: usize,
    /// Library and function calls in the body, by name.
    pub calls: Vec<String>,
}

impl Function {
    /// Every loop of the function, by start address.
    pub fn loops(&self) -> Vec<Loop> {
        let Some(first) = self.insns.first().map(|i| i.addr) else {
            return Vec::new();
        };
        let mut edges = BTreeSet::new();
        for i in &self.insns {
            if i.is_branch()
                && let Some(t) = i.target()
                && t >= first
                && t <= i.addr
            {
                edges.insert((t, i.addr));
            }
        }
        edges
            .into_iter()
            .map(|(start, end)| {
                let body: Vec<&Insn> = self
                    .insns
                    .iter()
                    .filter(|i| i.addr >= start && i.addr <= end)
                    .collect();
                Loop {
                    start,
                    end,
                    len: body.len(),
                    multiplies: body.iter().filter(|i| i.is_multiply()).count(),
                    calls: body.iter().filter_map(|i| i.callee.clone()).collect(),
                }
            })
            .collect()
    }

    /// The loops with no other loop inside them.
    pub fn innermost_loops(&self) -> Vec<Loop> {
        let all = self.loops();
        all.iter()
            .filter(|l| {
                !all.iter().any(|o| {
                    (o.start, o.end) != (l.start, l.end) && o.start >= l.start && o.end <= l.end
                })
            })
            .cloned()
            .collect()
    }

    /// The innermost loops that multiply and call nothing but arithmetic routines: the
    /// candidates for the step's kernels (the sensor, logging and initialisation loops call other
    /// functions).
    pub fn kernel_loops(&self) -> Vec<Loop> {
        self.innermost_loops()
            .into_iter()
            .filter(|l| {
                l.multiplies > 0
                    && l.calls
                        .iter()
                        .all(|c| ARITHMETIC_CALLS.contains(&c.as_str()))
            })
            .collect()
    }

    /// How many of each mnemonic `l` holds, most frequent first: `vldr 150, vmla.f32 100, ...`.
    pub fn mix(&self, l: &Loop) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for i in self
            .insns
            .iter()
            .filter(|i| i.addr >= l.start && i.addr <= l.end)
        {
            *counts.entry(i.mnemonic.as_str()).or_default() += 1;
        }
        let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
        counts.sort_by_key(|&(m, n)| (std::cmp::Reverse(n), m));
        let parts: Vec<String> = counts.iter().map(|(m, n)| format!("{m} {n}")).collect();
        parts.join(", ")
    }

    /// The instructions of `l`, one per line.
    pub fn listing(&self, l: &Loop) -> String {
        let mut s = String::new();
        for i in self
            .insns
            .iter()
            .filter(|i| i.addr >= l.start && i.addr <= l.end)
        {
            s.push_str(&format!(
                "{:8x}:  {:<10} {}",
                i.addr, i.mnemonic, i.operands
            ));
            if let Some(c) = &i.callee {
                s.push_str(&format!("  ; {c}"));
            }
            s.push('\n');
        }
        s
    }

    /// The saved form: a header line `function ROLE NAME`, then one instruction per line,
    /// `ADDR<TAB>MNEMONIC<TAB>OPERANDS<TAB>CALLEE`.
    pub fn save(functions: &[Function]) -> String {
        let mut s = String::new();
        for f in functions {
            s.push_str(&format!("function {} {}\n", f.role, f.name));
            for i in &f.insns {
                s.push_str(&format!(
                    "{:x}\t{}\t{}\t{}\n",
                    i.addr,
                    i.mnemonic,
                    i.operands,
                    i.callee.as_deref().unwrap_or("")
                ));
            }
        }
        s
    }

    /// Reads [`Function::save`]'s form back.
    pub fn load(text: &str) -> Result<Vec<Function>, String> {
        let mut functions: Vec<Function> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if let Some(header) = line.strip_prefix("function ") {
                let (role, name) = header.split_once(' ').unwrap_or((header, ""));
                functions.push(Function {
                    role: role.to_string(),
                    name: name.to_string(),
                    insns: Vec::new(),
                });
                continue;
            }
            let bad = || format!("line {}: `{line}` is not an instruction", n + 1);
            let mut parts = line.split('\t');
            let addr = parts
                .next()
                .and_then(|a| u64::from_str_radix(a, 16).ok())
                .ok_or_else(bad)?;
            let mnemonic = parts.next().ok_or_else(bad)?.to_string();
            let operands = parts.next().unwrap_or("").to_string();
            let callee = parts.next().filter(|c| !c.is_empty()).map(String::from);
            functions.last_mut().ok_or_else(bad)?.insns.push(Insn {
                addr,
                mnemonic,
                operands,
                callee,
            });
        }
        Ok(functions)
    }
}

/// Does `pattern` (`*` = any characters) occur in `name`?
pub fn matches(pattern: &str, name: &str) -> bool {
    let mut rest = name;
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    match rest.find(first) {
        Some(at) => rest = &rest[at + first.len()..],
        None => return false,
    }
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A text symbol: start, end, demangled name (without hash).
struct Symbol {
    start: u64,
    end: u64,
    name: String,
}

fn symbols(elf: &Path) -> Result<Vec<Symbol>, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
    let mut found: Vec<Symbol> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            let name = s.name().ok()?;
            // Thumb functions have bit 0 set in their symbol value.
            let start = s.address() & !1;
            Some(Symbol {
                start,
                end: start + s.size(),
                name: format!("{:#}", rustc_demangle::demangle(name)),
            })
        })
        .collect();
    // Prefer the __aeabi_ name of a routine that has several.
    found.sort_by_key(|s| (s.start, !s.name.starts_with("__aeabi"), s.name.len()));
    found.dedup_by_key(|s| s.start);
    Ok(found)
}

/// The step's function (by [`STEP_PATTERNS`]), the core functions it calls, directly or not,
/// and the arithmetic library routines they call; with the note of the pattern that matched.
pub fn step_functions(
    tool: &Disassembler,
    elf: &Path,
) -> Result<(Vec<Function>, &'static str), String> {
    let symbols = symbols(elf)?;
    let (step, note) = STEP_PATTERNS
        .iter()
        .find_map(|(pattern, note)| {
            let hits: Vec<&Symbol> = symbols
                .iter()
                .filter(|s| matches(pattern, &s.name))
                .collect();
            (!hits.is_empty()).then_some((hits, *note))
        })
        .ok_or_else(|| {
            let patterns: Vec<&str> = STEP_PATTERNS.iter().map(|(p, _)| *p).collect();
            format!(
                "{}: no function holds the training step: no demangled symbol matches any of {} \
                 (reports/src/disasm.rs STEP_PATTERNS)",
                elf.display(),
                patterns.join(", ")
            )
        })?;
    let by_start: BTreeMap<u64, &Symbol> = symbols.iter().map(|s| (s.start, s)).collect();
    let mut queue: Vec<(&Symbol, &str)> = step.into_iter().map(|s| (s, "step")).collect();
    let mut seen: BTreeSet<u64> = queue.iter().map(|(s, _)| s.start).collect();
    let mut functions = Vec::new();
    while let Some((symbol, role)) = queue.pop() {
        let mut insns = tool.range(elf, symbol.start, symbol.end)?;
        for i in insns.iter_mut().filter(|i| i.is_call()) {
            let Some(callee) = i.target().and_then(|t| by_start.get(&t)) else {
                continue;
            };
            i.callee = Some(callee.name.clone());
            let core = callee.name.contains("nearid::") && role != "library";
            let library = ARITHMETIC_CALLS.contains(&callee.name.as_str());
            if (core || library) && seen.insert(callee.start) {
                queue.push((callee, if library { "library" } else { "called" }));
            }
        }
        functions.push(Function {
            role: role.to_string(),
            name: symbol.name.clone(),
            insns,
        });
    }
    // The step first, then the core functions, then the library routines, each by name.
    let rank = |r: &str| match r {
        "step" => 0,
        "called" => 1,
        _ => 2,
    };
    functions.sort_by(|a, b| (rank(&a.role), &a.name).cmp(&(rank(&b.role), &b.name)));
    Ok((functions, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "
00000100 <f>:
     100:      \tpush\t{r4, r5, r6, r7, lr}
     102:      \tldrsh\tr4, [r0, r1]
     104:      \tmuls\tr4, r5, r4
     106:      \tadds\tr6, r6, r4
     108:      \tsubs\tr2, #0x1
     10a:      \tbne\t0x102 <f+0x2>
     10c:      \tbl\t0x200 <__aeabi_lmul> @ imm = #0xf0
     110:      \tsubs\tr3, #0x1
     112:      \tbne.n\t100 <f>
     114: 00 00 80 3f  \t.word\t0x3f800000
     118:      \tpop\t{r4, r5, r6, r7, pc}
";

    fn function() -> Function {
        let mut insns: Vec<Insn> = LISTING.lines().filter_map(Insn::parse_objdump).collect();
        insns[6].callee = Some("__aeabi_lmul".into());
        Function {
            role: "step".into(),
            name: "f".into(),
            insns,
        }
    }

    #[test]
    fn objdump_lines_parse_and_data_is_skipped() {
        let f = function();
        assert_eq!(f.insns.len(), 10, "{:?}", f.insns);
        assert_eq!(f.insns[1].mnemonic, "ldrsh");
        assert_eq!(f.insns[1].operands, "r4, [r0, r1]");
        assert_eq!(f.insns[5].target(), Some(0x102));
        assert_eq!(f.insns[8].target(), Some(0x100), "GNU form without 0x");
        assert_eq!(
            f.insns[6].operands, "0x200",
            "comment and annotation dropped"
        );
        let raw = Insn::parse_objdump("  4d4:\tb580      \tpush\t{r7, lr}").unwrap();
        assert_eq!(
            (raw.mnemonic.as_str(), raw.operands.as_str()),
            ("push", "{r7, lr}")
        );
        let relative = Insn::parse_objdump("  10a:\tbne\t#-12 <f+0x2>").unwrap();
        assert_eq!(relative.target(), Some(0x102));
    }

    #[test]
    fn loops_are_backward_branches_and_innermost_have_no_loop_inside() {
        let f = function();
        let all = f.loops();
        assert_eq!(all.len(), 2);
        let inner = f.innermost_loops();
        assert_eq!(inner.len(), 1);
        let l = &inner[0];
        assert_eq!((l.start, l.end, l.len, l.multiplies), (0x102, 0x10a, 5, 1));
        let outer = all.iter().find(|l| l.start == 0x100).unwrap();
        assert_eq!(
            (outer.len, outer.multiplies),
            (9, 2),
            "the lmul call counts"
        );
        assert_eq!(outer.calls, vec!["__aeabi_lmul".to_string()]);
        assert_eq!(f.kernel_loops(), inner);
        assert!(f.listing(l).contains("ldrsh      r4, [r0, r1]"));
        assert_eq!(f.mix(l), "adds 1, bne 1, ldrsh 1, muls 1, subs 1");
    }

    #[test]
    fn saved_form_reads_back() {
        let f = function();
        let text = Function::save(std::slice::from_ref(&f));
        assert_eq!(Function::load(&text).unwrap(), vec![f]);
        assert!(Function::load("10\tnop\t\t\n").is_err(), "no header");
    }

    #[test]
    fn patterns_match_demangled_names() {
        let name = "<nearid::sgd::FusedSgd<T,N,_,_>>::step";
        assert!(matches("FusedSgd<*>::step", name));
        assert!(matches("train_step", "nearid_firmware::app::train_step"));
        assert!(!matches("train_step", name));
        assert!(matches(
            "nearid_firmware::app::run",
            "nearid_firmware::app::run"
        ));
    }
}
