//! Disassembly of the firmware's ELFs: finds a disassembler (llvm-objdump or GNU objdump),
//! reads the text symbols (demangled) and disassembles a range into instructions. The reports
//! (`nearid-reports`: the training step's loops) and `cargo xtask test` (the real boards' fault
//! path ends in a breakpoint) read the code through it.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSymbol, SymbolKind};

use crate::cmd::{output, root};

const INSTALL: &str = "rustup component add llvm-tools (or apt-get install llvm, or \
                       apt-get install binutils-arm-none-eabi)";

/// A disassembler: its program and the name to show.
#[derive(Debug)]
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
    pub fn range(&self, elf: &Path, start: u64, end: u64) -> Result<Vec<Insn>, String> {
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
    pub fn base(&self) -> &str {
        self.mnemonic
            .strip_suffix(".n")
            .or_else(|| self.mnemonic.strip_suffix(".w"))
            .unwrap_or(&self.mnemonic)
    }

    /// A direct branch (not a call): `b`, `b<cond>`, `cbz`, `cbnz`.
    pub fn is_branch(&self) -> bool {
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

    pub fn is_call(&self) -> bool {
        self.base() == "bl"
    }

    /// The branch or call target: `0x50a <f+0x36>` (llvm), `50a <f+0x36>` (GNU), or a
    /// PC-relative `#-12` (older llvm; Thumb PC reads 4 ahead).
    pub fn target(&self) -> Option<u64> {
        let op = self.operands.rsplit(',').next()?.trim();
        let op = op.split_whitespace().next()?;
        if let Some(rel) = op.strip_prefix('#') {
            let rel: i64 = rel.parse().ok()?;
            return self.addr.checked_add_signed(rel + 4);
        }
        u64::from_str_radix(op.trim_start_matches("0x"), 16).ok()
    }
}

/// A text symbol: start, end, demangled name (without hash).
#[derive(Debug)]
pub struct Symbol {
    pub start: u64,
    pub end: u64,
    pub name: String,
}

/// The text symbols of `elf` with a size, by address (one name per address).
pub fn symbols(elf: &Path) -> Result<Vec<Symbol>, String> {
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

#[cfg(test)]
mod tests {
    use super::Insn;

    #[test]
    fn objdump_lines_parse_and_data_is_skipped() {
        let listing = "
00000100 <f>:
     100:      \tpush\t{r4, r5, r6, r7, lr}
     10a:      \tbne\t0x102 <f+0x2>
     10c:      \tbl\t0x200 <__aeabi_lmul> @ imm = #0xf0
     112:      \tbne.n\t100 <f>
     114: 00 00 80 3f  \t.word\t0x3f800000
     118:      \tpop\t{r4, r5, r6, r7, pc}
";
        let insns: Vec<Insn> = listing.lines().filter_map(Insn::parse_objdump).collect();
        assert_eq!(insns.len(), 5, "{insns:?}");
        assert_eq!(insns[0].mnemonic, "push");
        assert_eq!(insns[0].operands, "{r4, r5, r6, r7, lr}");
        assert_eq!(insns[1].target(), Some(0x102));
        assert!(insns[1].is_branch() && !insns[1].is_call());
        assert!(insns[2].is_call());
        assert_eq!(insns[2].operands, "0x200", "comment and annotation dropped");
        assert_eq!(insns[3].target(), Some(0x100), "GNU form without 0x");
        assert_eq!(insns[3].base(), "bne");
        let raw = Insn::parse_objdump("  4d4:\tb580      \tpush\t{r7, lr}").unwrap();
        assert_eq!(
            (raw.mnemonic.as_str(), raw.operands.as_str()),
            ("push", "{r7, lr}")
        );
        let relative = Insn::parse_objdump("  10a:\tbne\t#-12 <f+0x2>").unwrap();
        assert_eq!(relative.target(), Some(0x102));
    }
}
