//! The figures of a firmware run, read from its decoded defmt log (lines "LEVEL message"): the
//! network, its RAM, the cost of a step, the held-out losses, the stack and the verdict. `cargo
//! xtask size` and the reports (`nearid-reports`) read runs through this one parser.

/// The figures of one run, from its decoded log.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLog {
    pub format: String,
    pub d: usize,
    pub h: usize,
    pub m: usize,
    pub params: u64,
    pub param_bytes: u64,
    pub batch: usize,
    pub tape_bytes: u64,
    pub ring_samples: u64,
    pub ring_bytes: u64,
    pub per_step: u64,
    pub per_param: f64,
    pub per_param_sample: f64,
    pub eval_samples: u64,
    pub uncalibrated: f64,
    pub calibrated: f64,
    /// Deepest stack use (stack painting), bytes.
    pub stack_used: u64,
    pub passed: bool,
}

impl RunLog {
    /// The network as the tables show it: `ResNet<FORMAT, D=3, H=16, M=8>`.
    pub fn network(&self) -> String {
        format!(
            "ResNet<{}, D={}, H={}, M={}>",
            self.format, self.d, self.h, self.m
        )
    }
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(rest[..rest.find(end)?].trim())
}

fn number<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s?.replace(',', "").parse().ok()
}

/// Reads a run's decoded log (lines "LEVEL message"). A missing or unreadable line is an error
/// naming the board and the line.
pub fn parse_log(board: &str, lines: &[String]) -> Result<RunLog, String> {
    let line = |prefix: &str, example: &str| -> Result<&str, String> {
        lines
            .iter()
            .find_map(|l| l.find(prefix).map(|at| &l[at..]))
            .ok_or_else(|| {
                format!("{board}: the log has no `{prefix}` line (expected `{example}`)")
            })
    };
    let bad = |l: &str| format!("{board}: cannot read the log line `{l}`");

    let example = "network: ResNet<FORMAT, D=3, H=16, M=8>, 920 parameters, ...";
    let net = line("network: ResNet<", example)?;
    let inner = between(net, "ResNet<", ">").ok_or_else(|| bad(net))?;
    let mut parts: Vec<&str> = inner.split(", ").collect();
    let dim = |parts: &mut Vec<&str>, key: &str| -> Result<usize, String> {
        parts
            .pop()
            .and_then(|p| p.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(net))
    };
    let m = dim(&mut parts, "M=")?;
    let h = dim(&mut parts, "H=")?;
    let d = dim(&mut parts, "D=")?;
    let format = parts.join(", ");
    let params = number(between(net, ">,", " parameters")).ok_or_else(|| bad(net))?;

    let example = "RAM: parameters X B, optimiser (B=4 tapes) Y B, ring of 32 samples Z B";
    let ram = line("RAM: parameters", example)?;
    let param_bytes = number(between(ram, "parameters ", " B")).ok_or_else(|| bad(ram))?;
    let batch = number(between(ram, "(B=", " tapes)")).ok_or_else(|| bad(ram))?;
    let tape_bytes = number(between(ram, "tapes) ", " B")).ok_or_else(|| bad(ram))?;
    let ring_samples = number(between(ram, "ring of ", " samples")).ok_or_else(|| bad(ram))?;
    let ring_bytes = number(between(ram, " samples ", " B")).ok_or_else(|| bad(ram))?;

    let example =
        "cost: N instructions per training step, X per parameter, Y per parameter per sample";
    let cost = line("cost: ", example)?;
    let per_step = number(between(cost, "cost: ", " ")).ok_or_else(|| bad(cost))?;
    let unit = between(cost, &format!("{per_step} "), " ").ok_or_else(|| bad(cost))?;
    if unit != "instructions" {
        return Err(format!(
            "{board}: the cost is in {unit}, not instructions (is QEMU running with -icount \
             shift=0?): `{cost}`"
        ));
    }
    let per_param = number(between(cost, "step, ", " per parameter,")).ok_or_else(|| bad(cost))?;
    let per_param_sample = number(between(cost, "parameter, ", " per parameter per sample"))
        .ok_or_else(|| bad(cost))?;

    let example = "held-out loss on 256 fresh samples: uncalibrated U, calibrated C";
    let held = line("held-out loss on ", example)?;
    let eval_samples =
        number(between(held, "held-out loss on ", " fresh")).ok_or_else(|| bad(held))?;
    let uncalibrated = number(between(held, "uncalibrated ", ",")).ok_or_else(|| bad(held))?;
    let calibrated =
        number(held.split("calibrated ").last().map(str::trim)).ok_or_else(|| bad(held))?;

    let example = "stack high-water mark: N B of the stack's M B";
    let stack = line("stack high-water mark: ", example)?;
    let stack_used =
        number(between(stack, "stack high-water mark: ", " B")).ok_or_else(|| bad(stack))?;

    let verdict = lines
        .iter()
        .filter_map(|l| l.split_once(' ').map(|(_, m)| m.trim_start()))
        .find(|m| m.starts_with("PASS:") || m.starts_with("FAIL:"))
        .ok_or_else(|| format!("{board}: the log has no `PASS:` or `FAIL:` line"))?;
    Ok(RunLog {
        format,
        d,
        h,
        m,
        params,
        param_bytes,
        batch,
        tape_bytes,
        ring_samples,
        ring_bytes,
        per_step,
        per_param,
        per_param_sample,
        eval_samples,
        uncalibrated,
        calibrated,
        stack_used,
        passed: verdict.starts_with("PASS:"),
    })
}

/// A run's decoded log in the firmware's format, with made-up figures: what this parser and the
/// reports' tests read.
pub const EXAMPLE: [&str; 8] = [
    "INFO  nearid firmware: online calibration of a 3-axis sensor on microbit (Cortex-M0, 16 KiB RAM, QEMU)",
    "INFO  network: ResNet<Q4.12 (16-bit fixed point), D=3, H=16, M=23>, 2645 parameters, identity start",
    "INFO  RAM: parameters 5290 B, optimiser (B=4 tapes) 4784 B, ring of 32 samples 392 B",
    "INFO  step 600  loss 0.0001  1353013 instructions/step  0 saturations",
    "INFO  cost: 1353013 instructions per training step, 511.53 per parameter, 127.88 per parameter per sample",
    "INFO  held-out loss on 256 fresh samples: uncalibrated 0.033, calibrated 0.00007",
    "INFO  stack high-water mark: 1234 B of the stack's 5000 B",
    "INFO  PASS: final loss 0.00007 < threshold 0.001",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_log() -> Vec<String> {
        EXAMPLE.map(String::from).to_vec()
    }

    #[test]
    fn the_log_parses() {
        let log = parse_log("microbit", &sample_log()).unwrap();
        assert_eq!(log.format, "Q4.12 (16-bit fixed point)");
        assert_eq!((log.d, log.h, log.m, log.params), (3, 16, 23, 2645));
        assert_eq!(
            (log.param_bytes, log.batch, log.tape_bytes),
            (5290, 4, 4784)
        );
        assert_eq!((log.ring_samples, log.ring_bytes), (32, 392));
        assert_eq!(log.per_step, 1_353_013);
        assert_eq!((log.per_param, log.per_param_sample), (511.53, 127.88));
        assert_eq!(log.eval_samples, 256);
        assert_eq!((log.uncalibrated, log.calibrated), (0.033, 0.00007));
        assert_eq!(log.stack_used, 1234);
        assert!(log.passed);
    }

    #[test]
    fn a_missing_or_wrong_line_is_an_error_naming_board_and_line() {
        for (drop, word) in [
            (1, "network: ResNet<"),
            (2, "RAM: parameters"),
            (4, "cost: "),
            (5, "held-out loss on "),
            (6, "stack high-water mark: "),
            (7, "PASS:"),
        ] {
            let mut lines = sample_log();
            lines.remove(drop);
            let err = parse_log("microbit", &lines).unwrap_err();
            assert!(err.starts_with("microbit: ") && err.contains(word), "{err}");
        }
        let mut lines = sample_log();
        lines[4] = lines[4].replace("instructions per", "cycles per");
        let err = parse_log("microbit", &lines).unwrap_err();
        assert!(err.contains("cycles"), "{err}");
        lines = sample_log();
        lines[7] = "ERROR FAIL: final loss 0.1 is not below the threshold 0.001".into();
        assert!(!parse_log("microbit", &lines).unwrap().passed);
    }
}
