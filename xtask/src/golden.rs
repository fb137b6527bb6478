//! Golden firmware logs: under `-icount shift=0` a QEMU run is deterministic, so the whole
//! decoded log of each emulated build (every loss digit, every instruction count, the stack
//! high-water mark, the CRC of the trained weights) is checked against a file kept in the
//! repository, `firmware/qemu/<name>.out`, as defmt's own firmware tests do. A change that moves
//! any of it shows as a diff; `cargo xtask test --bless` rewrites the files when it is meant.

use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::firmware;

/// The golden file of the build called `name` (`firmware::elf_name`).
pub fn path(name: &str) -> PathBuf {
    firmware::dir().join("qemu").join(format!("{name}.out"))
}

/// `path` from the repository root, as a user would type it.
pub fn shown(path: &Path) -> String {
    path.strip_prefix(crate::cmd::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The log as the golden file holds it: one line per defmt frame, each ending in a newline.
pub fn text(lines: &[String]) -> String {
    lines.iter().flat_map(|l| [l.as_str(), "\n"]).collect()
}

/// What [`check`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The log is the golden file, byte for byte.
    Same,
    /// The file was (re)written from the log (`--bless`).
    Blessed,
}

/// Compares the log of the build `name` with its golden file; with `bless`, writes the file
/// instead when they differ. A difference is an error holding a unified diff of the lines.
pub fn check(name: &str, lines: &[String], bless: bool) -> Result<Verdict, String> {
    let path = path(name);
    let actual = text(lines);
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if expected.as_deref() == Some(actual.as_str()) {
        return Ok(Verdict::Same);
    }
    if bless {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, &actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(Verdict::Blessed);
    }
    let Some(expected) = expected else {
        return Err(format!(
            "{}: no golden log yet; `cargo xtask test --bless` writes it from this run",
            shown(&path)
        ));
    };
    let shown = shown(&path);
    Err(format!(
        "{name}: the log differs from {shown} (- golden, + this run); if the change is meant, \
         `cargo xtask test --bless` rewrites it\n{}",
        diff(&expected, &actual, &shown)
    ))
}

/// A unified diff of two logs, three lines of context.
pub fn diff(expected: &str, actual: &str, name: &str) -> String {
    TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header(name, "this run")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{diff, text};

    #[test]
    fn a_changed_line_shows_in_a_unified_diff() {
        let golden = text(&[
            "INFO  a".into(),
            "INFO  loss 0.1".into(),
            "INFO  PASS".into(),
        ]);
        let run = text(&[
            "INFO  a".into(),
            "INFO  loss 0.2".into(),
            "INFO  PASS".into(),
        ]);
        let d = diff(&golden, &run, "x.out");
        assert!(
            d.starts_with("--- x.out\n+++ this run\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert!(d.contains("\n-INFO  loss 0.1\n+INFO  loss 0.2\n"), "{d}");
        assert!(
            d.contains(" INFO  a\n") && d.contains(" INFO  PASS\n"),
            "{d}"
        );
        assert_eq!(diff(&golden, &golden, "x.out"), "");
    }
}
