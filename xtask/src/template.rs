//! The out-of-tree firmware template (examples/firmware-template/): built as a user builds a
//! copy of it (`cargo build --release` in its directory, its own workspace and
//! `.cargo/config.toml`), rustfmt-clean, then run in QEMU to a passing exit, so that it cannot rot.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cmd::{cargo, root, run};
use crate::qemu;

/// The template's directory.
pub fn dir() -> PathBuf {
    root().join("examples/firmware-template")
}

/// The template trains for about a second of QEMU; this leaves room for a busy machine.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the template, runs it on QEMU's mps2-an386 and fails unless it exits with success.
pub fn check() -> Result<(), String> {
    let dir = dir();
    run(cargo().current_dir(&dir).args(["fmt", "--", "--check"]))?;
    run(cargo().current_dir(&dir).args(["build", "--release"]))?;
    // Its own target directory (its own workspace), unless CARGO_TARGET_DIR moves it.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { dir.join(t) })
        .unwrap_or_else(|| dir.join("target"));
    let elf = target.join("thumbv7em-none-eabihf/release/my-nearid-firmware");
    println!(
        "\n$ qemu-system-arm -machine mps2-an386 ... -kernel {}",
        elf.display()
    );
    let mut child = qemu::command("mps2-an386", Some("cortex-m4"), &elf)
        .spawn()
        .map_err(|e| format!("could not start qemu-system-arm: {e}"))?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for QEMU: {e}"))?
        {
            return if status.success() {
                println!("firmware template: passed");
                Ok(())
            } else {
                Err(format!("firmware template: the firmware failed ({status})"))
            };
        }
        if Instant::now() > deadline {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("firmware template: timed out after {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
