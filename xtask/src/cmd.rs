//! Running commands: echo them, fail with a message that names them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `cargo` as the one that runs us (respects `CARGO` set by cargo itself).
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `command`, printing it first; an error names the command and its exit status.
pub fn run(command: &mut Command) -> Result<(), String> {
    let shown = show(command);
    println!("\n$ {shown}");
    let start = std::time::Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    took(start);
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// [`run`], with the standard error echoed line by line and the first `error` line it printed
/// (the compiler's reason, say) added to the error message. Returns the standard output, read
/// on a thread of its own so that neither pipe can fill while the other is read.
pub fn run_keep_error(command: &mut Command) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let shown = show(command);
    println!("\n$ {shown}");
    let start = std::time::Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let mut first_error = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if first_error.is_none() && line.starts_with("error") {
                first_error = Some(line);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("`{shown}` did not finish: {e}"))?;
    took(start);
    let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    match (status.success(), first_error) {
        (true, _) => Ok(stdout),
        (false, Some(e)) => Err(format!("{e} (`{shown}` failed, {status})")),
        (false, None) => Err(format!("`{shown}` failed ({status})")),
    }
}

/// Where cargo puts what it builds for the workspace whose manifest `command` (a `cargo` with
/// its directory and environment set) finds: `cargo metadata`'s `target_directory`, which
/// follows `CARGO_TARGET_DIR`, `build.target-dir` and the default `target/` alike.
pub fn target_dir(command: &mut Command) -> Result<PathBuf, String> {
    let text = output(command.args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let metadata: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata: no target_directory".into())
}

/// Runs `command`, echoing its standard output line by line as it comes, and returns the
/// output too (so callers can read test counts while the user watches progress).
pub fn run_tee(command: &mut Command) -> Result<String, String> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let shown = show(command);
    println!("\n$ {shown}");
    let start = std::time::Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    let mut captured = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            captured.push_str(&line);
            captured.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("`{shown}` did not finish: {e}"))?;
    took(start);
    if status.success() {
        Ok(captured)
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Prints how long the command echoed last took: where the time of a long run (CI's) goes.
fn took(start: std::time::Instant) {
    println!("  (took {:.1} s)", start.elapsed().as_secs_f64());
}

/// Runs `command` and returns its standard output.
pub fn output(command: &mut Command) -> Result<String, String> {
    let shown = show(command);
    let out = command
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn show(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for a in command.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The `nearid` tool on `args` (`cargo run -p nearid-host --bin nearid -- ARGS`), its stdout.
pub fn nearid(args: &[&Path]) -> Result<String, String> {
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "-p",
        "nearid-host",
        "--bin",
        "nearid",
        "--",
    ]);
    output(c.args(args))
}
