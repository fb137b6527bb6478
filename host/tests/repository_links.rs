//! The repository points only at itself, and its citations of the theory document are ones the
//! document has. Over every file `git ls-files` lists:
//!
//! - no path into the shared notes beside the repository (`..` then `/shared`) and no absolute
//!   path under the work directory of the machine it was written on;
//! - every relative link in a markdown file resolves to a tracked file inside the repository;
//! - the theory document is cited by its path, `docs/THEORY.md`, and every "section N",
//!   "sections N-M", "section N.k" or "section N, step k" cited after it (across comment-line
//!   breaks too) is a heading (or numbered step) of docs/THEORY.md; inside docs/THEORY.md every
//!   "section N" is one of its own;
//! - every test file docs/THEORY.md names is tracked.
//!
//! It reads the file list with git: without git (or outside a checkout) it fails and says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The theory document's file name, spelled in two halves so that this file, which searches for
/// it, does not match itself.
const THEORY_MD: &str = concat!("THEORY", ".md");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

fn tracked_files(root: &Path) -> Vec<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .unwrap_or_else(|e| panic!("this test lists the tracked files with `git ls-files`: {e}"));
    assert!(
        out.status.success(),
        "`git ls-files` failed in {}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(files.len() > 10, "git ls-files listed only {files:?}");
    files
}

/// The sections of docs/THEORY.md: "1", "2", ..., "6.1", ..., each with its numbered steps.
fn theory_sections(text: &str) -> BTreeMap<String, BTreeSet<u32>> {
    let mut sections = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let heading = line
            .strip_prefix("### ")
            .or_else(|| line.strip_prefix("## "))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('.')
            });
        if let Some(number) = heading {
            let is_number = !number.is_empty()
                && number.split('.').all(|p| p.parse::<u32>().is_ok())
                && number.chars().next().is_some_and(|c| c.is_ascii_digit());
            current = is_number.then(|| number.to_owned());
            if let Some(n) = &current {
                sections.insert(n.clone(), BTreeSet::new());
            }
            continue;
        }
        // A numbered step: "1. *Polar form.* ..." at the start of a line.
        if let (Some(n), Some((step, _))) = (&current, line.split_once(". "))
            && let Ok(step) = step.parse::<u32>()
        {
            sections.entry(n.clone()).or_default().insert(step);
        }
    }
    sections
}

/// The text with line breaks inside comments and string continuations joined by a space, so a
/// citation broken across lines reads as one.
fn joined(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        let t = ["//!", "///", "//", "#", "*"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        let t = t.trim().trim_end_matches('\\').trim_end_matches("\\n");
        out.push_str(t);
        out.push(' ');
    }
    out
}

/// Section numbers cited after each match of `anchor` in `text`: (cited number, step if any,
/// the surrounding text for the message).
fn citations(text: &str, anchor: &str) -> Vec<(String, Option<u32>, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find(anchor) {
        let start = offset + at;
        let after = &text[start + anchor.len()..];
        offset = start + anchor.len();
        rest = &text[offset..];
        let after = after.trim_start();
        let Some(after) = after
            .strip_prefix("sections ")
            .or_else(|| after.strip_prefix("section "))
        else {
            continue;
        };
        let context: String = text[start..].chars().take(60).collect();
        // "N", "N.k", "N-M", "N and M", then optionally ", step k".
        let number = |s: &str| -> Option<(String, usize)> {
            let len = s
                .char_indices()
                .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map(|(i, c)| i + c.len_utf8())
                .last()?;
            let n = s[..len].trim_end_matches('.');
            (!n.is_empty()).then(|| (n.to_owned(), len))
        };
        let Some((first, len)) = number(after) else {
            continue;
        };
        let tail = &after[len..];
        let second = tail
            .strip_prefix('-')
            .or_else(|| tail.strip_prefix(" and "))
            .and_then(number);
        match second {
            Some((last, _)) => match (first.parse::<u32>(), last.parse::<u32>()) {
                (Ok(a), Ok(b)) if a <= b => {
                    for n in a..=b {
                        found.push((n.to_string(), None, context.clone()));
                    }
                }
                _ => {
                    found.push((first, None, context.clone()));
                    found.push((last, None, context));
                }
            },
            None => {
                let step = tail
                    .strip_prefix(", step ")
                    .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|s| s.parse().ok());
                found.push((first, step, context));
            }
        }
    }
    found
}

/// `target` (a relative link in `file`) as a repository path, or why it is not one.
fn resolve(file: &str, target: &str) -> Result<String, String> {
    if target.starts_with('/') {
        return Err("an absolute path".into());
    }
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut parts: Vec<String> = Vec::new();
    for c in dir.join(target).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err("a path outside the repository".into());
                }
            }
            _ => return Err("an absolute path".into()),
        }
    }
    Ok(parts.join("/"))
}

#[test]
fn the_repository_points_only_at_itself_and_cites_theory_sections_that_exist() {
    let root = root();
    let files = tracked_files(&root);
    let tracked: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    assert!(
        tracked.contains("docs/THEORY.md"),
        "docs/THEORY.md is not tracked"
    );
    let theory = std::fs::read_to_string(root.join("docs/THEORY.md")).unwrap();
    let sections = theory_sections(&theory);
    for n in ["1", "2", "3", "4", "5", "6"] {
        assert!(
            sections.contains_key(n),
            "docs/THEORY.md has no section {n}"
        );
    }
    // Spelled in two halves so that this file does not match itself.
    let shared = concat!("..", "/shared");
    let machine = concat!("/wo", "rk/");
    let mut problems = Vec::new();
    for file in &files {
        let Ok(bytes) = std::fs::read(root.join(file)) else {
            problems.push(format!("{file}: tracked but cannot be read"));
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            for (pattern, what) in [
                (
                    shared,
                    "points into the shared notes outside the repository",
                ),
                (machine, "names an absolute path of the machine"),
            ] {
                if line.contains(pattern) {
                    problems.push(format!("{file}:{}: {what}: {}", n + 1, line.trim()));
                }
            }
            // Every mention of the theory document is by its path in the repository.
            for (at, _) in line.match_indices(THEORY_MD) {
                if !line[..at].ends_with("docs/") {
                    problems.push(format!(
                        "{file}:{}: cites {THEORY_MD} without its path docs/{THEORY_MD}",
                        n + 1
                    ));
                }
            }
        }
        if file.ends_with(".md") {
            for (at, _) in text.match_indices("](") {
                let target = text[at + 2..].split([')', ' ']).next().unwrap_or("");
                let target = target.split('#').next().unwrap_or("");
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                match resolve(file, target) {
                    Ok(path) if tracked.contains(path.as_str()) => {}
                    Ok(path) => problems.push(format!(
                        "{file}: links {target}, which is not a tracked file ({path})"
                    )),
                    Err(why) => problems.push(format!("{file}: links {target}: {why}")),
                }
            }
        }
        let joined = joined(&text);
        let mut cited = citations(&joined, THEORY_MD);
        cited.extend(citations(&joined, "THEORY "));
        if file == "docs/THEORY.md" {
            cited.extend(citations(&joined, " "));
        }
        for (number, step, context) in cited {
            match sections.get(&number) {
                None => problems.push(format!(
                    "{file}: cites section {number}, which docs/THEORY.md does not have: {context}"
                )),
                Some(steps) => {
                    if let Some(step) = step
                        && !steps.contains(&step)
                    {
                        problems.push(format!(
                            "{file}: cites section {number}, step {step}, which docs/THEORY.md \
                             does not have: {context}"
                        ));
                    }
                }
            }
        }
    }
    // The tests the theory document names exist.
    for word in theory.split('`') {
        if (word.starts_with("host/tests/") || word.starts_with("core/tests/"))
            && word.ends_with(".rs")
            && !tracked.contains(word)
        {
            problems.push(format!(
                "docs/THEORY.md names {word}, which is not a tracked file"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_are_for() {
    // The parsers on small inputs, so that a silently broken parser cannot pass the test above.
    let doc = "# T\n## 1. One\n1. *a.* x\n2. *b.* y\n## 2. Two\n### 2.1 Sub\n## Notes\n";
    let s = theory_sections(doc);
    assert_eq!(s.keys().cloned().collect::<Vec<_>>(), ["1", "2", "2.1"]);
    assert_eq!(s["1"], BTreeSet::from([1, 2]));
    let text = joined(
        "//! see docs/THEORY.md section 1, step 2 and (docs/THEORY.md\n    // section 2.1's bound);\n\
         /// docs/THEORY.md sections 4-6 and docs/THEORY.md sections 1 and 2, docs/THEORY.md's f",
    );
    let cited: Vec<(String, Option<u32>)> = citations(&text, THEORY_MD)
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    let expected: Vec<(String, Option<u32>)> = [
        ("1", Some(2)),
        ("2.1", None),
        ("4", None),
        ("5", None),
        ("6", None),
        ("1", None),
        ("2", None),
    ]
    .iter()
    .map(|&(n, s)| (n.to_owned(), s))
    .collect();
    assert_eq!(cited, expected);
    assert_eq!(resolve("docs/a.md", "b.svg"), Ok("docs/b.svg".into()));
    assert_eq!(
        resolve("README.md", "docs/THEORY.md"),
        Ok("docs/THEORY.md".into())
    );
    assert!(resolve("README.md", concat!("..", "/shared/notes.md")).is_err());
    assert!(resolve("docs/a.md", "/etc/passwd").is_err());
}
