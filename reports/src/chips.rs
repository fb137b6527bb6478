//! The microcontroller part of `cargo xtask bench`: every emulated board and format built and run
//! under `qemu-system-arm -icount shift=0` (one instruction per tick: counts are deterministic),
//! the figures read from the decoded log, the training step's hot loops read from its
//! disassembly, and the "Microcontrollers" section of docs/BENCHMARKS.md with the hand-counted
//! instruction floor per weight beside the measured cost and the targets of the performance issue.
//!
//! Each run's decoded log and disassembly are saved under `<target dir>/bench-problems/chips/` (beside
//! the desktop results), so that `--render-only` rewrites the section without running anything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use xtask::firmware::{self, Board};
use xtask::qemu::{self, QEMU_TIMEOUT};
use xtask::runlog::{RunLog, parse_log};
use xtask::toolchain::ensure_targets;

use crate::disasm::{Disassembler, Function, step_functions};
use crate::profile::{self, Profile};

/// One board and scalar format of the firmware.
pub struct Variant {
    /// File stem of the saved results and of the ELF (`firmware::elf_name`).
    pub key: &'static str,
    pub board: &'static str,
    pub features: &'static [&'static str],
    /// The chip, as shown.
    pub chip: &'static str,
    /// A fragment the logged format must contain (the floor is that format's).
    pub format_tag: &'static str,
    pub floor: Floor,
    /// Traced for the phase profile (`crate::profile`): the formats the issue sets goals for.
    pub profile: bool,
}

/// Every emulated board and format: f32 on the Cortex-M4F; Q4.12, Q16.16 and soft f32 on the M0.
pub const VARIANTS: [Variant; 4] = [
    Variant {
        key: "mps2-an386",
        board: "mps2-an386",
        features: &[],
        chip: "Cortex-M4F",
        format_tag: "f32 (FPU)",
        profile: true,
        floor: F32_M4F,
    },
    Variant {
        key: "microbit",
        board: "microbit",
        features: &[],
        chip: "Cortex-M0",
        format_tag: "Q4.12",
        profile: true,
        floor: Q12_M0,
    },
    Variant {
        key: "microbit-q16",
        board: "microbit",
        features: &["q16"],
        chip: "Cortex-M0",
        format_tag: "Q16.16",
        profile: false,
        floor: Q16_M0,
    },
    Variant {
        key: "microbit-soft-float",
        board: "microbit",
        features: &["soft-float"],
        chip: "Cortex-M0",
        format_tag: "soft float",
        profile: false,
        floor: SOFT_F32_M0,
    },
];

/// The hand-counted minimum of instructions per weight of a training step on a batch of B, from
/// the instruction set: per sample, the forward pass (load the weight, multiply-accumulate), the
/// backward pass (load, multiply-accumulate into the input gradient) and the update's
/// multiply-accumulate of that sample's gradient; per step, the update's load, rounding and
/// store, which a batch shares. Per weight per sample:
///
/// ```text
/// floor(B) = forward + backward + update_sample + update_step / B
/// ```
///
/// The other operand of each multiply (the input, the signal, the sample's column factor) is
/// held in a register or loaded once per row of a D = 3 wide matrix, so it is not counted; nor
/// are loop counters and pointer increments (unrolling amortises them), nor the per-output work
/// (activation, rescaling of a dot product, the loss). Biases are counted as weights.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    pub forward: f64,
    pub backward: f64,
    pub update_sample: f64,
    pub update_step: f64,
    /// Library calls per weight per sample that the instruction figures leave out (soft float:
    /// the cost of one depends on the operands).
    pub calls_sample: u32,
    /// The count, instruction by instruction.
    pub derivation: &'static str,
}

impl Floor {
    /// Instructions per weight per sample at batch `b` (calls not included).
    pub fn per_sample(&self, b: usize) -> f64 {
        self.forward + self.backward + self.update_sample + self.update_step / b.max(1) as f64
    }

    /// The floor as shown: instructions, and the calls when there are any.
    pub fn show(&self, b: usize) -> String {
        let n = self.per_sample(b);
        if self.calls_sample > 0 {
            format!("{n:.2} + {} calls", self.calls_sample)
        } else {
            format!("{n:.2}")
        }
    }
}

/// f32 on the Cortex-M4F (FPv4-SP): forward vldr + vmla.f32 = 2; backward vldr + vmla.f32 = 2;
/// update, per sample vmls.f32 on the weight held in a register = 1, per step vldr + vstr = 2.
/// At B = 1: 2 + 2 + 1 + 2 = 7 (the issue's goal is 8).
pub const F32_M4F: Floor = Floor {
    forward: 2.0,
    backward: 2.0,
    update_sample: 1.0,
    update_step: 2.0,
    calls_sample: 0,
    derivation: "forward vldr + vmla.f32 = 2; backward vldr + vmla.f32 = 2; update: per sample \
                 vmls.f32 = 1 (the weight stays in a register over the batch), per step vldr + \
                 vstr = 2. At B = 1: 7. (vldm/vstm move up to 16 registers in one instruction, \
                 which would lower the instruction count but not the cycles, 1 + n; the floor \
                 counts one load per weight, as the issue's decomposition does.)",
};

/// Q4.12 on the Cortex-M0 (ARMv6-M, Thumb-1): forward ldrsh + muls + adds = 3 (the Q8.24
/// products sum in 32 bits, rescaled once per dot product); backward the same, 3; update, per
/// sample muls + adds = 2 (the sample's factor with eta folded in is in a register), per step:
/// ldrsh 1, the stochastic rounding's random bits (one xorshift32 draw, the core's dither:
/// lsls/eors three times = 6, lsrs to keep 12 bits = 1) 7, adds the offset 1, asrs #12 1, subs
/// from the weight 1, saturation to 16 bits (sxth, cmp, bne not taken) 3, strh 1 = 15.
/// At B = 1: 3 + 3 + 2 + 15 = 23; at B = 4: 11.75.
pub const Q12_M0: Floor = Floor {
    forward: 3.0,
    backward: 3.0,
    update_sample: 2.0,
    update_step: 15.0,
    calls_sample: 0,
    derivation: "forward ldrsh + muls + adds = 3 (Q8.24 products summed in 32 bits, rescaled once \
                 per dot product, which assumes the sum stays within +-128: no overflow check); \
                 backward the same = 3; update: per sample muls + adds = 2 (eta \
                 folded into the sample's factor, held in a register), per step ldrsh 1 + random \
                 bits 7 (one xorshift32 draw, the core's dither: 3 x (lsls, eors) = 6, lsrs to \
                 keep 12 bits 1) + adds 1 + asrs #12 1 + subs 1 + saturation to 16 bits 3 (sxth, \
                 cmp, bne) + strh 1 = 15. At B = 1: 23 (a cheaper generator, an LCG step muls + \
                 adds, would make it 19).",
};

/// Instructions of `__aeabi_lmul` (compiler_builtins, rustc 1.95, thumbv6m): 37, branch-free
/// (push, 6 muls, the partial-product adds, pop), hand-counted from its disassembly.
pub const LMUL: f64 = 37.0;

/// Q16.16 on the Cortex-M0: the 32 x 32 -> 64 multiply is a call to `__aeabi_lmul` ([`LMUL`]).
/// A multiply-accumulate: asrs (the weight's high word) 1, movs the other operand into r2:r3
/// (clobbered by the call) 2, bl 1, the call 37, adds + adcs into the 64-bit sum 2 = 43; forward
/// and backward add the ldr: 44 each; update per sample 43; per step ldr 1 + random bits 7 +
/// adds/adcs the offset 2 + the 64-bit shift by 16 (lsrs, lsls, orrs) 3 + range check of the
/// step (asrs, cmp, bne) 3 + subs + bvs 2 + str 1 = 19.
pub const Q16_M0: Floor = Floor {
    forward: 1.0 + 6.0 + LMUL,
    backward: 1.0 + 6.0 + LMUL,
    update_sample: 6.0 + LMUL,
    update_step: 19.0,
    calls_sample: 0,
    derivation: "the 32 x 32 -> 64 multiply is a call to __aeabi_lmul, 37 instructions with no \
                 branch (compiler_builtins, rustc 1.95; push, 6 muls, adds, pop): a \
                 multiply-accumulate is asrs 1 + movs r2, r3 2 + bl 1 + 37 + adds, adcs 2 = 43; \
                 forward and backward add the ldr (44 each); update: per sample 43, per step ldr \
                 1 + random bits 7 + adds/adcs 2 + 64-bit shift by 16 3 + range check 3 + subs, \
                 bvs 2 + str 1 = 19.",
};

/// Soft f32 on the Cortex-M0: every multiply and add is a call to compiler_builtins
/// (`__aeabi_fmul`, `__aeabi_fadd`, `__aeabi_fsub`), whose length depends on the operands
/// (tens of instructions each on normal numbers), so the floor is stated as instructions
/// outside the calls + calls: forward ldr + bl fmul + bl fadd = 3 + 2 calls; backward the same;
/// update per sample bl fmul + bl fsub = 2 + 2 calls; per step ldr + str = 2.
pub const SOFT_F32_M0: Floor = Floor {
    forward: 3.0,
    backward: 3.0,
    update_sample: 2.0,
    update_step: 2.0,
    calls_sample: 6,
    derivation: "every multiply and add is a call (__aeabi_fmul, __aeabi_fadd, __aeabi_fsub) whose \
                 length depends on the operands, so the floor is instructions outside the calls + \
                 calls: forward ldr + bl + bl = 3 + 2 calls, backward the same, update per sample \
                 bl + bl = 2 + 2 calls, per step ldr + str = 2.",
};

/// What one variant gave: its log's figures and its step's disassembly, or why there are none.
#[expect(
    clippy::large_enum_variant,
    reason = "four values per report, built once: boxing would only add indirection"
)]
pub enum Outcome {
    Measured {
        log: RunLog,
        functions: Vec<Function>,
        /// How the step's function was found (see `disasm::STEP_PATTERNS`).
        note: String,
        disassembler: String,
        /// Where the step's instructions go (traced variants only).
        profile: Option<Box<Profile>>,
    },
    Missing(String),
}

/// Where the results of `cargo xtask bench` are kept, under the workspace's target directory.
pub fn dir(base: &Path) -> PathBuf {
    base.join("bench-problems/chips")
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds, runs and disassembles every variant, saving each one's results. A variant that fails
/// to build or run is saved as failed (its reason is in the report) and named in the error
/// returned after all have been tried, so the report is written either way.
pub fn run_all(base: &Path) -> Result<Vec<String>, String> {
    let tool = Disassembler::find()?;
    let boards: Vec<Board> = VARIANTS
        .iter()
        .map(|v| firmware::board(v.board))
        .collect::<Result<_, _>>()?;
    let mut targets: Vec<&str> = boards.iter().map(|b| b.target).collect();
    targets.dedup();
    ensure_targets(&targets)?;
    qemu::ensure()?;
    let dir = dir(base);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut failures = Vec::new();
    for (v, board) in VARIANTS.iter().zip(boards) {
        let failed = dir.join(format!("{}.failed", v.key));
        let _ = std::fs::remove_file(&failed);
        if let Err(why) = run_one(v, board, &tool, &dir) {
            eprintln!("xtask bench: {}: {why}", v.key);
            write(&failed, &why)?;
            failures.push(format!("{}: {why}", v.key));
        }
    }
    Ok(failures)
}

fn run_one(v: &Variant, board: Board, tool: &Disassembler, dir: &Path) -> Result<(), String> {
    let features: Vec<String> = v.features.iter().map(|f| f.to_string()).collect();
    // The previous results of this variant must not survive a failed run.
    for ext in ["log", "disasm", "profile"] {
        let _ = std::fs::remove_file(dir.join(format!("{}.{ext}", v.key)));
    }
    let elf = firmware::build_with(board, &features)?;
    println!("\n{}: running in QEMU (-icount shift=0)", v.key);
    let out = qemu::run_elf(board, &elf, QEMU_TIMEOUT, false)?;
    let mut text = out.lines.join("\n");
    text.push('\n');
    write(&dir.join(format!("{}.log", v.key)), &text)?;
    let Some(code) = out.code else {
        return Err(format!("{}: timed out after {QEMU_TIMEOUT:?}", v.key));
    };
    let log = parse_log(v.key, &out.lines)?;
    if log.passed != (code == 0) {
        return Err(format!(
            "{}: the log says {} but QEMU exited with {code}",
            v.key,
            if log.passed { "PASS" } else { "FAIL" }
        ));
    }
    let (functions, note) = step_functions(tool, &elf)?;
    let mut saved = format!("note {note}\ndisassembler {}\n", tool.name());
    saved.push_str(&Function::save(&functions));
    write(&dir.join(format!("{}.disasm", v.key)), &saved)?;
    if v.profile {
        println!("{}: tracing the run for the phase profile", v.key);
        let p = profile::profile(board, &elf)?;
        write(&dir.join(format!("{}.profile", v.key)), &p.save())?;
    }
    Ok(())
}

/// The saved results of every variant.
pub fn load_all(base: &Path) -> Vec<Outcome> {
    let dir = dir(base);
    VARIANTS.iter().map(|v| load(v, &dir)).collect()
}

fn load(v: &Variant, dir: &Path) -> Outcome {
    if let Ok(why) = std::fs::read_to_string(dir.join(format!("{}.failed", v.key))) {
        return Outcome::Missing(why);
    }
    let read = |ext: &str| {
        let p = dir.join(format!("{}.{ext}", v.key));
        std::fs::read_to_string(&p).map_err(|e| {
            format!(
                "no saved results ({}: {e}); run `cargo xtask bench --chips-only`",
                p.display()
            )
        })
    };
    let measured = || -> Result<Outcome, String> {
        let lines: Vec<String> = read("log")?.lines().map(String::from).collect();
        let log = parse_log(v.key, &lines)?;
        if !log.format.contains(v.format_tag) {
            return Err(format!(
                "the log's format `{}` is not {} (the floor would not apply)",
                log.format, v.format_tag
            ));
        }
        let disasm = read("disasm")?;
        let mut header = disasm.lines();
        let note = header
            .next()
            .and_then(|l| l.strip_prefix("note "))
            .unwrap_or("");
        let tool = header
            .next()
            .and_then(|l| l.strip_prefix("disassembler "))
            .unwrap_or("");
        let body: String = disasm.lines().skip(2).flat_map(|l| [l, "\n"]).collect();
        let profile = match v.profile {
            true => Some(Box::new(Profile::load(&read("profile")?)?)),
            false => None,
        };
        Ok(Outcome::Measured {
            log,
            functions: Function::load(&body)?,
            note: note.to_string(),
            disassembler: tool.to_string(),
            profile,
        })
    };
    measured().unwrap_or_else(Outcome::Missing)
}

/// The label of a variant in the tables.
fn label(v: &Variant) -> String {
    let mut s = format!("{} ({})", v.board, v.chip);
    for f in v.features {
        s.push_str(&format!(" `--features {f}`"));
    }
    s
}

/// "measured: met" or "measured: missed" against a goal (at most or at least), one decimal
/// unless `unit` counts whole things.
fn verdict(measured: Option<f64>, goal: f64, at_most: bool, unit: &str) -> String {
    let Some(x) = measured else {
        return "not measured".into();
    };
    let shown = if unit == " weights" {
        format!("{x:.0}{unit}")
    } else {
        format!("{x:.1}{unit}")
    };
    if (at_most && x <= goal) || (!at_most && x >= goal) {
        format!("{shown}: met")
    } else {
        format!("{shown}: missed")
    }
}

/// The heading the section starts with.
pub const HEADING: &str = "\n## Microcontrollers\n";

/// The "Microcontrollers" section of docs/BENCHMARKS.md.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut r = String::from(HEADING);
    r.push('\n');
    let _ = writeln!(
        r,
        "Every emulated board and scalar format of the firmware (`firmware/`, the on-chip sensor \
         calibration of `firmware/README.md`), built in release (opt-level 3, fat LTO) and run by \
         `qemu-system-arm -icount shift=0`: one instruction per tick of the clock, so the counts \
         are instructions and the same on every run. The figures are read from each run's decoded \
         defmt log: the step cost is the mean over the run's training steps (FusedSgd on a batch \
         of B drawn from a ring of recent samples), per weight = per parameter (biases included). \
         The training RAM is parameters + B tapes, the `const` figures the firmware logs; the \
         held-out loss is the mean 1/2 ||f(raw) - true||^2 on fresh samples (noise floor 3.75e-5)."
    );
    let _ = writeln!(
        r,
        "\n| board (chip), format | network | parameters | B | instructions per step | per weight per step | per weight per sample | floor per weight per sample | measured / floor | training RAM (parameters + tapes) | held-out loss (uncalibrated) | verdict |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (v, o) in VARIANTS.iter().zip(outcomes) {
        match o {
            Outcome::Measured { log, .. } => {
                let floor = v.floor.per_sample(log.batch);
                let ratio = if v.floor.calls_sample > 0 {
                    "n/a (calls)".to_string()
                } else {
                    format!("{:.1}x", log.per_param_sample / floor)
                };
                let _ = writeln!(
                    r,
                    "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} B + {} B = {} B | {:.1e} ({:.1e}) | {} |",
                    label(v),
                    log.network(),
                    log.params,
                    log.batch,
                    log.per_step,
                    log.per_param,
                    log.per_param_sample,
                    v.floor.show(log.batch),
                    ratio,
                    log.param_bytes,
                    log.tape_bytes,
                    log.param_bytes + log.tape_bytes,
                    log.calibrated,
                    log.uncalibrated,
                    if log.passed { "PASS" } else { "FAIL" }
                );
            }
            Outcome::Missing(why) => {
                let _ = writeln!(
                    r,
                    "| {} | not measured: {} | | | | | | {} | | | | |",
                    label(v),
                    short(why).replace('|', "/"),
                    v.floor.show(4)
                );
            }
        }
    }
    let _ = writeln!(
        r,
        "\nFloors (hand-counted, `reports/src/chips.rs`): the minimum instructions per weight per \
         sample of a step on a batch of B, from the instruction set: per sample, the forward pass \
         (load the weight, multiply-accumulate), the backward pass (load, multiply-accumulate) \
         and the update's multiply-accumulate; per step, the update's load, rounding and store, \
         shared by the batch: floor(B) = forward + backward + update per sample + (update per \
         step) / B. The other operand of each multiply is held in a register (or loaded once per \
         row of a D = 3 matrix); loop counters, pointer increments, activations and per-output \
         rescaling are not counted.\n"
    );
    for v in &VARIANTS {
        let _ = writeln!(
            r,
            "- {} {}: {} Per weight per sample at B = 1: {}; at B = 4: {}.",
            v.chip,
            v.format_tag,
            v.floor.derivation,
            v.floor.show(1),
            v.floor.show(4)
        );
    }

    // Targets.
    let get = |key: &str| {
        VARIANTS
            .iter()
            .zip(outcomes)
            .find(|(v, _)| v.key == key)
            .and_then(|(_, o)| match o {
                Outcome::Measured { log, .. } => Some(log),
                Outcome::Missing(_) => None,
            })
    };
    let (f32_m4, q12, q16, soft) = (
        get("mps2-an386"),
        get("microbit"),
        get("microbit-q16"),
        get("microbit-soft-float"),
    );
    let _ = writeln!(
        r,
        "\nTargets of the performance issue (microcontrollers):\n"
    );
    let _ = writeln!(
        r,
        "(A training step of the issue is read per sample, as a step on one sample: the \
         firmware's step trains on a batch of B, which does B samples' forward and backward \
         passes, and the goals are of the order of the B = 1 floors: 7 for f32 on the M4F, 23 for \
         Q4.12 on the M0 with the core's xorshift32 dither, so that 20 is out of reach at B = 1 \
         with that dither and within reach at B = 4, floor 11.75.)\n"
    );
    let _ = writeln!(
        r,
        "- f32 on the Cortex-M4F, <= 8 instructions per weight per training step (per sample): {}",
        verdict(f32_m4.map(|l| l.per_param_sample), 8.0, true, "")
    );
    let _ = writeln!(
        r,
        "- 16-bit fixed point (Q4.12) on the Cortex-M0, <= 20 instructions per weight per training \
         step (per sample): {}",
        verdict(q12.map(|l| l.per_param_sample), 20.0, true, "")
    );
    let fewer = |fixed: Option<&RunLog>| Some(soft?.per_param_sample / fixed?.per_param_sample);
    let _ = writeln!(
        r,
        "- fixed point >= 5x fewer instructions per weight than soft f32 on the Cortex-M0 \
         (per weight per sample; the networks differ in depth): Q4.12 {}; Q16.16 {}",
        verdict(fewer(q12), 5.0, false, "x"),
        verdict(fewer(q16), 5.0, false, "x")
    );
    let _ = writeln!(
        r,
        "- the largest network trainable in 16-bit fixed point on the 16 KiB micro:bit, >= 4,000 \
         weights: {} (the firmware's depth is the largest whose parameters + tapes + ring + a \
         3.5 KiB reserve fit, a compile-time assertion in `firmware/src/board/microbit.rs`{})",
        verdict(q12.map(|l| l.params as f64), 4000.0, false, " weights"),
        q12.map_or(String::new(), |l| format!(
            "; training state: parameters {} B + {} tapes {} B = {} B, {:.1} B per weight; \
             ring {} B",
            l.param_bytes,
            l.batch,
            l.tape_bytes,
            l.param_bytes + l.tape_bytes,
            (l.param_bytes + l.tape_bytes) as f64 / l.params.max(1) as f64,
            l.ring_bytes
        ))
    );

    render_profiles(&mut r, outcomes);

    // Disassembly.
    let _ = writeln!(r, "\n### The training step's code\n");
    let _ = writeln!(
        r,
        "Disassembled from each ELF: the function that holds the step (found by its demangled \
         name, `reports/src/disasm.rs`) and the core functions it calls. Size = instructions in the \
         function; loops = backward branches, innermost = no loop inside. Kernel loops are the \
         innermost loops that multiply (a multiply instruction or an arithmetic library call) \
         and call nothing else: each is shown as instructions in its body / multiplies in it \
         (static counts: a branch inside may skip some; for a loop over weights, instructions \
         per multiply is its cost per weight). The {LISTED} kernel loops with the most multiplies \
         are listed under each table."
    );
    for (v, o) in VARIANTS.iter().zip(outcomes) {
        let _ = writeln!(r, "\n#### {}\n", label(v));
        match o {
            Outcome::Measured {
                functions,
                note,
                disassembler,
                ..
            } => render_code(&mut r, functions, note, disassembler),
            Outcome::Missing(_) => {
                let _ = writeln!(r, "Not measured (see the table).");
            }
        }
    }
    r
}

/// Where the traced variants' steps spend their instructions (`cargo xtask profile`).
fn render_profiles(r: &mut String, outcomes: &[Outcome]) {
    let _ = writeln!(r, "\n### Where a step's instructions go\n");
    let _ = writeln!(
        r,
        "QEMU's execution trace of the same firmware (`-d in_asm,exec,nochain`; \
         `reports/src/profile.rs`, also `cargo xtask profile [--board NAME]`): every instruction \
         executed between an entry into `train_step` and its return, summed over the run's steps \
         (the evaluation's forward passes are outside), and attributed to a phase by the DWARF \
         inline frames of its address: the first frame, innermost first, that is one of the \
         core's forward, backward, gradient-norm or update functions. The traced total per step \
         and the firmware's own clock count differ by the clock reads around the call."
    );
    for (v, o) in VARIANTS.iter().zip(outcomes) {
        let Outcome::Measured {
            log,
            profile: Some(p),
            ..
        } = o
        else {
            continue;
        };
        let _ = writeln!(
            r,
            "\n{}, {}, {} parameters: {:.0} instructions per step traced over {} steps ({} by \
             the firmware's clock).\n",
            label(v),
            log.network(),
            log.params,
            p.per_step(),
            p.steps,
            log.per_step
        );
        r.push_str(&p.table(Some(log.params)));
        let out_of_line: Vec<String> = p
            .functions
            .iter()
            .filter(|(name, _)| !name.ends_with("train_step"))
            .take(5)
            .map(|(name, n)| format!("`{name}` {:.0}", *n as f64 / p.steps as f64))
            .collect();
        if !out_of_line.is_empty() {
            let _ = writeln!(
                r,
                "\nCalled out of line (instructions per step, inside the phases above): {}.",
                out_of_line.join(", ")
            );
        }
    }
}

/// Kernel loops listed in full per board and format.
const LISTED: usize = 4;
/// Kernel loops shown per function in the table.
const SHOWN: usize = 16;

/// The table of the step's functions and the listing of its busiest kernel loops.
fn render_code(r: &mut String, functions: &[Function], note: &str, disassembler: &str) {
    let _ = writeln!(
        r,
        "Step function: {note}. Disassembler: `{disassembler}`.\n"
    );
    let _ = writeln!(
        r,
        "| function | role | instructions | loops (innermost) | kernel loops: instructions / multiplies |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|");
    let mut kernels: Vec<(&Function, crate::disasm::Loop)> = Vec::new();
    for f in functions.iter().filter(|f| f.role != "library") {
        let k = f.kernel_loops();
        let mut cells: Vec<String> = k
            .iter()
            .take(SHOWN)
            .map(|l| format!("{}/{}", l.len, l.multiplies))
            .collect();
        if k.len() > SHOWN {
            cells.push(format!("and {} more", k.len() - SHOWN));
        }
        let _ = writeln!(
            r,
            "| `{}` | {} | {} | {} ({}) | {} |",
            f.name.replace('|', "/"),
            f.role,
            f.insns.len(),
            f.loops().len(),
            f.innermost_loops().len(),
            if cells.is_empty() {
                "none".into()
            } else {
                cells.join(", ")
            }
        );
        kernels.extend(k.into_iter().map(|l| (f, l)));
    }
    // The arithmetic routines the kernels call, with their size.
    for f in functions
        .iter()
        .filter(|f| f.role == "library" && kernels.iter().any(|(_, l)| l.calls.contains(&f.name)))
    {
        let _ = writeln!(
            r,
            "| `{}` | library | {} | {} | |",
            f.name,
            f.insns.len(),
            f.loops().len()
        );
    }
    kernels.sort_by_key(|(_, l)| (std::cmp::Reverse(l.multiplies), l.len, l.start));
    // Overlapping loops (branch chains that re-enter a body a few instructions apart) are listed
    // once.
    let mut listed: Vec<&(&Function, crate::disasm::Loop)> = Vec::new();
    for k in &kernels {
        let overlaps = listed
            .iter()
            .any(|(g, o)| g.name == k.0.name && o.start <= k.1.end && k.1.start <= o.end);
        if !overlaps && listed.len() < LISTED {
            listed.push(k);
        }
    }
    if listed.is_empty() {
        return;
    }
    let mut bodies = String::new();
    for (f, l) in listed.iter().map(|k| (k.0, &k.1)) {
        let _ = writeln!(
            bodies,
            "{} {:#x}..{:#x}: {} instructions, {} multiplies ({:.1} instructions per multiply){}\n  mix: {}",
            f.name,
            l.start,
            l.end,
            l.len,
            l.multiplies,
            l.len as f64 / l.multiplies as f64,
            calls(&l.calls),
            f.mix(l)
        );
        if l.len <= FULL_LISTING {
            let _ = writeln!(bodies, "{}", f.listing(l));
        } else {
            let _ = writeln!(
                bodies,
                "  (body longer than {FULL_LISTING} instructions: mix only)\n"
            );
        }
    }
    let _ = writeln!(
        r,
        "\n<details><summary>the {} kernel loops with the most multiplies (of {}; overlapping \
         ones once): instruction mix, and the listing of bodies up to {FULL_LISTING} \
         instructions</summary>\n\n```text\n{}```\n\n</details>",
        listed.len(),
        kernels.len(),
        bodies
    );
}

/// The first line of a failure, without the command that failed (printed during the run).
fn short(why: &str) -> &str {
    let first = why.lines().next().unwrap_or("");
    first.split(" (`").next().unwrap_or(first)
}

/// ", calls f x2, g" for a loop's calls, or nothing.
fn calls(names: &[String]) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for n in names {
        match counted.iter_mut().find(|(m, _)| m == n) {
            Some((_, c)) => *c += 1,
            None => counted.push((n, 1)),
        }
    }
    let parts: Vec<String> = counted
        .iter()
        .map(|&(n, c)| {
            if c > 1 {
                format!("{n} x{c}")
            } else {
                n.to_string()
            }
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(", calls {}", parts.join(", "))
    }
}

/// Loop bodies up to this many instructions are listed in full.
const FULL_LISTING: usize = 48;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_log() -> Vec<String> {
        xtask::runlog::EXAMPLE.map(String::from).to_vec()
    }

    #[test]
    fn floors_follow_the_instruction_counts() {
        assert_eq!(F32_M4F.per_sample(1), 7.0);
        assert_eq!(F32_M4F.per_sample(4), 5.5);
        assert_eq!(Q12_M0.per_sample(1), 23.0);
        assert_eq!(Q12_M0.per_sample(4), 11.75);
        assert_eq!(Q16_M0.per_sample(1), 44.0 + 44.0 + 43.0 + 19.0);
        assert_eq!(SOFT_F32_M0.show(4), "8.50 + 6 calls");
    }

    #[test]
    fn the_section_shows_figures_floors_and_targets() {
        let log = parse_log("microbit", &sample_log()).unwrap();
        let mut outcomes: Vec<Outcome> = VARIANTS
            .iter()
            .map(|_| Outcome::Missing("build failed: out of range pc-relative fixup".into()))
            .collect();
        outcomes[1] = Outcome::Measured {
            log,
            functions: Vec::new(),
            note: "the firmware's training step".into(),
            disassembler: "llvm-objdump".into(),
            profile: Some(Box::new(Profile {
                steps: 2,
                phases: vec![("forward".into(), 1_000_000), ("update".into(), 1_706_026)],
                functions: vec![
                    ("nearid_firmware::app::train_step".into(), 2_000_000),
                    ("nearid::fixed::q12::Q12::sgd_outer_as".into(), 706_026),
                ],
            })),
        };
        let s = render(&outcomes);
        assert!(s.contains("| forward | 500000 | 189.04 | 37.0% |"), "{s}");
        assert!(
            s.contains("| **step** | 1353013 | 511.54 | 100.0% |"),
            "{s}"
        );
        assert!(
            s.contains("`nearid::fixed::q12::Q12::sgd_outer_as` 353013"),
            "{s}"
        );
        assert!(s.contains("| ResNet<Q4.12 (16-bit fixed point), D=3, H=16, M=23> | 2645 | 4 | 1353013 | 511.5 | 127.9 | 11.75 | 10.9x | 5290 B + 4784 B = 10074 B | 7.0e-5 (3.3e-2) | PASS |"), "{s}");
        assert!(s.contains("on the Cortex-M0, <= 20 instructions per weight per training step (per sample): 127.9: missed"), "{s}");
        assert!(s.contains(">= 4,000 weights: 2645 weights: missed"), "{s}");
        assert!(s.contains("Q4.12 not measured; Q16.16 not measured"), "{s}");
        assert!(
            s.contains("not measured: build failed: out of range"),
            "{s}"
        );
    }
}
