//! The real boards' fault path, read from their ELFs: a panic and a HardFault must each end in a
//! trap that `probe-rs run` stops at with a backtrace, never in a `wfi` loop that hangs it.
//!
//! What is checked, by disassembly (the boards are not run here):
//! - the vector table's HardFault entry is the `HardFault` symbol, which leads (cortex-m-rt's
//!   trampoline, `_HardFault`) to the firmware's handler;
//! - the handler logs (calls defmt) and ends in a `bkpt` loop: a breakpoint, then a branch back to
//!   it, with no return and no `wfi`;
//! - the panic handler (panic-probe with `print-defmt`) logs and ends in `udf`, which enters that
//!   HardFault handler (panic-probe turns UsageFault off first, so `udf` is a HardFault), and so
//!   does defmt's panic handler (`_defmt_panic`, the end of `defmt::panic!`) where it is linked.

use std::collections::BTreeMap;
use std::path::Path;

use object::{Object, ObjectSection};

use crate::disasm::{Disassembler, Insn, Symbol, symbols};

/// The fault path of `elf`, as one line (`panic -> udf -> HardFault -> log -> bkpt`), or what
/// is wrong with it.
pub fn check(tool: &Disassembler, elf: &Path) -> Result<String, String> {
    let shown = elf.display();
    let symbols = symbols(elf)?;
    let by_name = |suffix: &str| -> Result<&Symbol, String> {
        symbols
            .iter()
            .find(|s| s.name == suffix || s.name.ends_with(&format!("::{suffix}")))
            .ok_or_else(|| format!("{shown}: no function `{suffix}`"))
    };
    let code = |s: &Symbol| tool.range(elf, s.start, s.end);
    let by_start: BTreeMap<u64, &Symbol> = symbols.iter().map(|s| (s.start, s)).collect();
    let callees = |insns: &[Insn]| -> Vec<String> {
        insns
            .iter()
            .filter(|i| i.is_call() || i.is_branch())
            .filter_map(|i| by_start.get(&i.target()?).map(|s| s.name.clone()))
            .collect()
    };

    // The vector table's HardFault entry (the fourth word: initial SP, Reset, NMI, HardFault).
    let vector = hard_fault_vector(elf)?;
    let trampoline = by_name("HardFault")?;
    if vector & !1 != trampoline.start {
        return Err(format!(
            "{shown}: the HardFault vector is {vector:#x}, not the `HardFault` symbol at {:#x}",
            trampoline.start
        ));
    }
    let into = callees(&code(trampoline)?);
    if !into.iter().any(|c| c == "_HardFault") {
        return Err(format!(
            "{shown}: `HardFault` does not enter `_HardFault` (it goes to {into:?})"
        ));
    }
    let entry = code(by_name("_HardFault")?)?;
    let handler_name = callees(&entry)
        .into_iter()
        .find(|c| c.ends_with("__cortex_m_rt_HardFault"))
        .ok_or_else(|| format!("{shown}: `_HardFault` does not call the firmware's handler"))?;
    let handler = code(by_name(&handler_name)?)?;
    ends_in(&handler, &callees(&handler), "bkpt")
        .map_err(|e| format!("{shown}: the HardFault handler {e}"))?;

    let panic = by_name("rust_begin_unwind")?;
    let panic_code = code(panic)?;
    ends_in(&panic_code, &callees(&panic_code), "udf")
        .map_err(|e| format!("{shown}: the panic handler {e}"))?;
    // Linked only when something calls `defmt::panic!` and friends.
    let defmt_panic = match by_name("_defmt_panic") {
        Ok(s) => {
            if !code(s)?.iter().any(|i| i.base() == "udf") {
                return Err(format!("{shown}: `_defmt_panic` does not end in `udf`"));
            }
            "; defmt::panic! -> udf"
        }
        Err(_) => "; defmt::panic! unused (no `_defmt_panic`)",
    };
    Ok(format!(
        "panic -> defmt log -> udf -> HardFault -> defmt log -> bkpt{defmt_panic}"
    ))
}

/// `insns` (a function that calls `callees`) logs through defmt and ends in the trap
/// `mnemonic` (`bkpt` in a loop: the breakpoint and a branch back to it; `udf`: the fault
/// itself), with no return and no `wfi` on the way.
fn ends_in(insns: &[Insn], callees: &[String], mnemonic: &str) -> Result<(), String> {
    if !callees.iter().any(|c| c.starts_with("_defmt_")) {
        return Err(format!(
            "does not log (no call into defmt among {callees:?})"
        ));
    }
    if let Some(i) = insns.iter().find(|i| i.base() == "wfi") {
        return Err(format!("waits for an interrupt (`wfi` at {:#x})", i.addr));
    }
    let returns = |i: &&Insn| {
        (i.base() == "bx" && i.operands == "lr") || (i.base() == "pop" && i.operands.contains("pc"))
    };
    if let Some(i) = insns.iter().find(returns) {
        return Err(format!(
            "returns (`{} {}` at {:#x})",
            i.mnemonic, i.operands, i.addr
        ));
    }
    let trap = insns
        .iter()
        .position(|i| i.base() == mnemonic)
        .ok_or_else(|| format!("has no `{mnemonic}`"))?;
    if mnemonic == "bkpt" {
        let at = insns[trap].addr;
        let looped = insns[trap + 1..]
            .first()
            .is_some_and(|b| b.is_branch() && b.target() == Some(at));
        if !looped {
            return Err(format!("does not loop on its `bkpt` at {at:#x}"));
        }
    }
    Ok(())
}

/// The HardFault entry of the ELF's vector table (`.vector_table`, word 3).
fn hard_fault_vector(elf: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
    let table = file
        .section_by_name(".vector_table")
        .and_then(|s| s.data().ok())
        .ok_or_else(|| format!("{}: no .vector_table", elf.display()))?;
    let word = table
        .get(12..16)
        .ok_or_else(|| format!("{}: .vector_table too short", elf.display()))?;
    Ok(u64::from(u32::from_le_bytes([
        word[0], word[1], word[2], word[3],
    ])))
}

#[cfg(test)]
mod tests {
    use super::ends_in;
    use crate::disasm::Insn;

    fn code(listing: &str) -> Vec<Insn> {
        listing.lines().filter_map(Insn::parse_objdump).collect()
    }

    #[test]
    fn a_handler_must_log_and_end_in_its_trap() {
        let logs = vec!["_defmt_acquire".to_string(), "_defmt_write".to_string()];
        let good = code(
            "  a58:\tpush\t{r4, r5, r6, lr}
  a8e:\tbl\t0x7d92 <_defmt_release>
  a92:\tbkpt\t#0
  a94:\tb\t0xa92 <f+0x3a>",
        );
        assert_eq!(ends_in(&good, &logs, "bkpt"), Ok(()));
        let err = ends_in(&good, &[], "bkpt").unwrap_err();
        assert!(err.contains("does not log"), "{err}");
        let hangs = code(
            "  a58:\tpush\t{r7, lr}
  a5a:\twfi
  a5c:\tb\t0xa5a <f+0x2>",
        );
        let err = ends_in(&hangs, &logs, "bkpt").unwrap_err();
        assert!(err.contains("wfi"), "{err}");
        let once = code(
            "  a92:\tbkpt\t#0
  a94:\tpop\t{r7, pc}",
        );
        let err = ends_in(&once, &logs, "bkpt").unwrap_err();
        assert!(err.contains("returns"), "{err}");
        let faults = code(
            "  416:\tudf\t#0
  418:\ttrap",
        );
        assert_eq!(ends_in(&faults, &logs, "udf"), Ok(()));
        assert!(ends_in(&faults, &logs, "bkpt").is_err());
    }
}
