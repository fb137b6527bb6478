//! The checkpointing firmware (the `checkpoint` feature) under QEMU: its flash image, a boot on
//! an image with options on the semihosting command line (`firmware/src/flash/host.rs`), the
//! figures its log gives, and the newest checkpoint read back out of an image with the core's
//! own reader (`nearid::checkpoint::find` over an [`Image`]).

use std::path::{Path, PathBuf};

use nearid::checkpoint::{self, Contents, Found, Geometry, Image, Layout, Region};

use crate::firmware::{self, Board};
use crate::qemu::{self, Outcome, QEMU_TIMEOUT};

/// The firmware's description of each emulated board's flash image and of a checkpoint's
/// payload, shared by path so the two cannot disagree.
#[path = "../../firmware/src/persist/payload.rs"]
pub mod payload;

pub use payload::{CUT_EXIT_CODE, Counters, HostImage, PAYLOAD_MAX};

/// The firmware feature that turns checkpoints on.
pub const FEATURE: &str = "checkpoint";

/// Builds the checkpointing firmware of `board`.
pub fn build(board: Board) -> Result<PathBuf, String> {
    firmware::build_with(board, &[FEATURE.to_string()])
}

/// The flash image of an emulated board.
pub fn image_of(board: Board) -> Result<HostImage, String> {
    payload::host_image(board.name).ok_or_else(|| {
        format!(
            "{} keeps its checkpoints in its own flash, not in an image file",
            board.name
        )
    })
}

/// The layout the firmware uses on `image` (the flash driver reads single bytes).
pub fn layout(image: HostImage) -> Result<Layout, String> {
    let geometry = Geometry {
        read: 1,
        write: image.write,
        erase: image.erase,
    };
    let region = Region {
        start: 0,
        len: image.len,
    };
    let contents = Contents {
        model_bytes: image.model_bytes,
        velocity: false,
        payload_max: PAYLOAD_MAX,
    };
    Layout::new(geometry, region, contents).map_err(|e| format!("{}: layout: {e}", image.board))
}

/// The newest valid checkpoint in the image `bytes` of `image`, its model file (the `.nid`
/// bytes) and its counters; `Ok(None)` when the image holds none.
pub fn newest(
    bytes: &[u8],
    image: HostImage,
) -> Result<Option<(Found, Vec<u8>, Counters)>, String> {
    if bytes.len() != image.len as usize {
        return Err(format!(
            "the image has {} bytes, {}'s has {}",
            bytes.len(),
            image.board,
            image.len
        ));
    }
    let layout = layout(image)?;
    let Some(found) = checkpoint::find(&mut Image(bytes), &layout).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let span = |s: checkpoint::Span| &bytes[s.offset as usize..(s.offset + s.len) as usize];
    let counters = Counters::decode(span(found.payload))
        .ok_or("the newest checkpoint's payload is not the calibration app's counters")?;
    Ok(Some((found, span(found.model).to_vec(), counters)))
}

/// One boot of `elf` on the image file `image` (created erased when missing), with `options`
/// (`cut-op=K`, `cut-step=S`, `lr=X`, `eval-out=PATH`) on its command line.
pub fn boot(
    board: Board,
    elf: &Path,
    image: &Path,
    options: &[String],
    echo: bool,
) -> Result<Outcome, String> {
    // QEMU runs in the image's directory and the files there are named relative to it, so the
    // command line is as long on every machine (see `qemu::run_elf_in`).
    let dir = image.parent().filter(|d| !d.as_os_str().is_empty());
    let local = |path: &str| -> String {
        let p = Path::new(path);
        match (dir, p.parent(), p.file_name()) {
            (Some(d), Some(parent), Some(name)) if parent == d => {
                name.to_string_lossy().into_owned()
            }
            _ => path.to_string(),
        }
    };
    let mut args = vec![format!("flash={}", local(&image.to_string_lossy()))];
    args.extend(options.iter().map(|o| match o.split_once('=') {
        Some((key, value)) => format!("{key}={}", local(value)),
        None => o.clone(),
    }));
    if let Some(a) = args.iter().find(|a| a.contains(' ')) {
        return Err(format!("a firmware option may not hold a space: `{a}`"));
    }
    qemu::run_elf_in(board, elf, QEMU_TIMEOUT, echo, &args, dir)
}

/// A fresh directory for images and files of one task, removed by [`Scratch::drop`].
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `<tmp>/nearid-<task>-<pid>`, empty.
    pub fn new(task: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("nearid-{task}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self(dir))
    }

    /// A path in it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The number after `key` in the first line of `lines` that holds `key` (`key` ends where the
/// number starts, e.g. `"at step "`); digits, `.`, `-`, `e` and `x` (hex) make the number.
pub fn number_after<'a>(lines: &'a [String], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| word_after(l, key))
}

/// The number after `key` in `line`.
pub fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | '-' | 'x' | '+')))
        .unwrap_or(rest.len());
    (end > 0).then_some(&rest[..end])
}

/// The step a boot resumed from (its "resumed from slot ... at step N" line), None for a
/// fresh start.
pub fn resumed_step(lines: &[String]) -> Result<Option<u32>, String> {
    if lines
        .iter()
        .any(|l| l.contains("checkpoints: none in flash"))
    {
        return Ok(None);
    }
    let line = lines
        .iter()
        .find(|l| l.contains("resumed from slot"))
        .ok_or("the boot neither resumed nor found the flash empty")?;
    word_after(line, "at step ")
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or_else(|| format!("no step in `{line}`"))
}

/// The steps the boot saved checkpoints of, in order, and the flash operations of each.
pub fn saves(lines: &[String]) -> Vec<(u32, u32)> {
    lines
        .iter()
        .filter(|l| l.contains("checkpoint: step ") && l.contains(" saved in slot "))
        .filter_map(|l| {
            let step = word_after(l, "checkpoint: step ")?.parse().ok()?;
            let ops = word_after(l, " instructions, ")?.parse().ok()?;
            Some((step, ops))
        })
        .collect()
}

/// The run's held-out loss (calibrated) and weight CRC as printed, from a finished run.
pub fn result(lines: &[String]) -> Result<(String, String), String> {
    let loss = lines
        .iter()
        .find(|l| l.contains("held-out loss on "))
        .and_then(|l| word_after(l, ", calibrated "))
        .ok_or("no held-out loss in the log")?;
    let crc = number_after(lines, "CRC-32 ").ok_or("no weight CRC in the log")?;
    Ok((loss.to_string(), crc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn the_log_gives_resume_saves_and_result() {
        let log = lines(
            "INFO  resumed from slot 1 (sequence 5) at step 250 (250 optimiser steps), learning rate 0.02, 0 rollbacks so far
INFO  checkpoint: step 500 saved in slot 2 (sequence 6, its block erased 2 times) in 236360 instructions, 62 flash operations
INFO  held-out loss on 256 fresh samples: uncalibrated 0.034971364, calibrated 0.00007533477
INFO  trained weights: 920 parameters, CRC-32 0x7fb16601",
        );
        assert_eq!(resumed_step(&log), Ok(Some(250)));
        assert_eq!(saves(&log), [(500, 62)]);
        assert_eq!(
            result(&log),
            Ok(("0.00007533477".into(), "0x7fb16601".into()))
        );
        let fresh = lines("INFO  checkpoints: none in flash, a fresh start");
        assert_eq!(resumed_step(&fresh), Ok(None));
        assert!(resumed_step(&lines("INFO  nothing")).is_err());
    }

    #[test]
    fn the_layouts_of_the_images_hold_two_checkpoints() {
        for image in payload::HOST_IMAGES {
            let layout = layout(image).unwrap();
            assert!(layout.slots() >= 2, "{}", image.board);
        }
        let image = payload::HOST_IMAGES[0];
        let erased = vec![0xFF; image.len as usize];
        assert_eq!(newest(&erased, image).map(|n| n.is_none()), Ok(true));
        assert!(newest(&erased[1..], image).is_err());
    }
}
