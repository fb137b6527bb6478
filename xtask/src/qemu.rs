//! Running firmware under `qemu-system-arm`: install QEMU when missing, run with a timeout,
//! decode the defmt frames (semihosting stdout) live with the `defmt-decoder` library.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use defmt_decoder::{DecodeError, Table};

use crate::cmd::{output, run};
use crate::firmware::Board;

/// Long enough for the slowest board on a busy 2-core machine; a run takes seconds.
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(300);

const QEMU: &str = "qemu-system-arm";
const INSTALL: &str =
    "apt-get update && apt-get install -y --no-install-recommends qemu-system-arm";

/// Makes sure `qemu-system-arm` runs: installs it with apt when we are root on Debian/Ubuntu,
/// else fails with the command to run.
pub fn ensure() -> Result<(), String> {
    if Command::new(QEMU).arg("--version").output().is_ok() {
        return Ok(());
    }
    let root = output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0");
    let debian = Path::new("/etc/debian_version").exists();
    if !(root && debian) {
        return Err(format!(
            "{QEMU} is missing; install it with:\n  sudo sh -c '{INSTALL}'\n\
             (on other systems: the package that provides {QEMU}, version 7.2 or later)"
        ));
    }
    println!("{QEMU} is missing: installing it with apt");
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", QEMU])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    output(Command::new(QEMU).arg("--version")).map(|_| ())
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    /// The decoded log, one line per defmt frame: "LEVEL message".
    pub lines: Vec<String>,
    /// QEMU's exit code (the firmware's semihosting exit), None if killed at the timeout.
    pub code: Option<i32>,
}

impl Outcome {
    /// Ok when the firmware exited with success.
    pub fn verdict(&self, board: Board) -> Result<(), String> {
        match self.code {
            Some(0) => Ok(()),
            Some(c) => Err(format!(
                "{}: the firmware failed (exit code {c})",
                board.name
            )),
            None => Err(format!("{}: timed out", board.name)),
        }
    }
}

/// `qemu-system-arm` running `elf` on a machine (and CPU) with instructions counted
/// (`-icount shift=0`), semihosting for the firmware's log and exit, no display or monitor,
/// stdin closed.
pub fn command(machine: &str, cpu: Option<&str>, elf: &Path) -> Command {
    command_with(machine, cpu, elf, &[])
}

/// [`command`] with words on the semihosting command line (`-semihosting-config ...,arg=WORD`,
/// what the firmware reads with SYS_GET_CMDLINE: the checkpointing build's options, see
/// `firmware/src/flash/host.rs`). A word may not hold a comma (QEMU's option separator).
pub fn command_with(machine: &str, cpu: Option<&str>, elf: &Path, args: &[String]) -> Command {
    let mut semihosting = String::from("enable=on,target=native");
    for a in args {
        semihosting.push_str(",arg=");
        semihosting.push_str(a);
    }
    let mut qemu = Command::new(QEMU);
    qemu.args(["-machine", machine]);
    if let Some(cpu) = cpu {
        qemu.args(["-cpu", cpu]);
    }
    qemu.args([
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-icount",
        "shift=0",
        "-semihosting-config",
        &semihosting,
        "-kernel",
    ])
    .arg(elf)
    .stdin(Stdio::null());
    qemu
}

/// Runs `elf` on the board's QEMU machine for at most `timeout`, printing each decoded log line
/// as it arrives when `echo` is set. Instructions are counted: `-icount shift=0`.
pub fn run_elf(board: Board, elf: &Path, timeout: Duration, echo: bool) -> Result<Outcome, String> {
    run_elf_with(board, elf, timeout, echo, &[])
}

/// [`run_elf`] with words on the semihosting command line ([`command_with`]).
pub fn run_elf_with(
    board: Board,
    elf: &Path,
    timeout: Duration,
    echo: bool,
    args: &[String],
) -> Result<Outcome, String> {
    run_elf_in(board, elf, timeout, echo, args, None)
}

/// [`run_elf_with`] with QEMU started in the directory `cwd`, so that the firmware's options
/// can name files relative to it: the semihosting command line's length, and with it the
/// instructions the firmware spends reading it, are then the same wherever the checkout and
/// the temporary directory are (the golden logs count instructions).
pub fn run_elf_in(
    board: Board,
    elf: &Path,
    timeout: Duration,
    echo: bool,
    args: &[String],
    cwd: Option<&Path>,
) -> Result<Outcome, String> {
    if let Some(a) = args.iter().find(|a| a.contains(',')) {
        return Err(format!(
            "a semihosting argument may not hold a comma: `{a}`"
        ));
    }
    let Some((machine, cpu)) = board.qemu else {
        return Err(format!(
            "{} is a real board: flash it with probe-rs",
            board.name
        ));
    };
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let table = Table::parse(&bytes)
        .map_err(|e| format!("{}: defmt table: {e}", elf.display()))?
        .ok_or_else(|| format!("{}: no defmt table in the ELF", elf.display()))?;
    let mut qemu = command_with(machine, cpu, elf, args);
    if let Some(dir) = cwd {
        qemu.current_dir(dir);
    }
    qemu.stdout(Stdio::piped());
    if echo {
        println!(
            "\n$ {QEMU} -machine {machine} ... -kernel {} {}",
            elf.display(),
            args.join(" ")
        );
    }
    let mut child = qemu
        .spawn()
        .map_err(|e| format!("could not start {QEMU}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout from QEMU")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut decoder = table.new_stream_decoder();
    let mut lines = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => {
                decoder.received(&chunk);
                loop {
                    match decoder.decode() {
                        Ok(frame) => {
                            let level = frame.level().map_or("", |l| l.as_str());
                            let line =
                                format!("{:<5} {}", level.to_uppercase(), frame.display_message());
                            if echo {
                                println!("{line}");
                            }
                            lines.push(line);
                        }
                        Err(DecodeError::UnexpectedEof) => break,
                        Err(DecodeError::Malformed) => {
                            return Err(format!("{}: malformed defmt frame", board.name));
                        }
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        // Our own child, by its handle.
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| format!("waiting for QEMU: {e}"))?;
    let _ = reader.join();
    Ok(Outcome {
        lines,
        code: if timed_out { None } else { status.code() },
    })
}
