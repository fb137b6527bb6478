//! Disassembly of the firmware's training step for `cargo xtask bench` (through
//! `xtask::disasm`, which finds the disassembler and reads the instructions): picks the function that holds the step by its demangled name, disassembles it and the core
//! (`nearid::`) functions it calls, and measures each: its size in instructions and its innermost
//! loops (a loop is a backward branch to an address inside the same function; innermost = no
//! other loop nested in it).
//!
//! The listing is saved in a plain text form (see [`Function::save`]) so that
//! `cargo xtask bench --render-only` can analyse it again without the ELF.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use xtask::disasm::{Disassembler, Insn};
use xtask::disasm::{Symbol, symbols};

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

/// A multiply instruction, or a call of an arithmetic library routine.
fn is_multiply(i: &Insn) -> bool {
    MULTIPLIES.contains(&i.base())
        || i.callee
            .as_deref()
            .is_some_and(|c| ARITHMETIC_CALLS.contains(&c))
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
                    multiplies: body.iter().filter(|i| is_multiply(i)).count(),
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
