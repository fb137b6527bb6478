//! `cargo xtask powercut [--board NAME] [--chains N]`: power cuts of the checkpointing firmware
//! under QEMU, restarted on the same flash image until the run ends.
//!
//! A reference boot on a fresh image gives the uncut run's held-out loss, weight CRC and the
//! flash operations of each checkpoint save. Then each *chain* starts on a fresh image and boots
//! the firmware again and again, each boot cut at a chosen point:
//! - inside a save: `cut-op=K`, the flash driver leaves operation K half done (half its bytes,
//!   half the bits of the next) and stops the run, at K = the boot's first save's operations
//!   plus one of: 1 (the block's erase), 2 (the first word of the model file), half a save (the
//!   middle of the body), a save - 1 (the commit record's fields), a save (its checksum word,
//!   the last write), the offsets taken in turn along the chain and shifted by one per chain;
//! - between steps: `cut-step=S`, the run stops just before step S, in the middle of the
//!   boot's second interval, on every other boot.
//!
//! The first chain starts with two cuts before any checkpoint is complete (the first erase, and
//! the commit word of the checkpoint of step 0): both restarts must find the flash empty.
//! Every restart must resume from exactly the newest checkpoint a save completed before the cut
//! (a cut save is never valid, so a cut inside the save of step S resumes from the one before
//! it), and the last boot of each chain, uncut, must PASS with the held-out loss and the weight
//! CRC of the reference: resumed training ends on the same weights, to the bit.

use std::path::Path;

use xtask::checkpoint::{self, CUT_EXIT_CODE, Scratch};
use xtask::firmware::{self, Board};
use xtask::qemu::{self, Outcome};

const USAGE: &str = "`powercut` takes --board NAME (mps2-an386 or microbit) and --chains N \
                     (default 5: every cut offset at every position), or --rollback LR (one \
                     uncut run at learning rate LR, which must diverge and recover)";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut board, mut chains, mut rollback_rate) = (firmware::BOARDS[0], 5usize, None);
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--board" => board = firmware::board(rest.next().ok_or(USAGE)?)?,
            "--chains" => {
                chains = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or(USAGE)?;
            }
            "--rollback" => {
                rollback_rate = Some(rest.next().ok_or(USAGE)?.clone());
            }
            _ => return Err(format!("{USAGE} (got `{a}`)")),
        }
    }
    qemu::ensure()?;
    if let Some(lr) = rollback_rate {
        let out = rollback(board, &lr, true)?;
        println!("{}", rollback_summary(board, &out));
        return Ok(());
    }
    let tally = run(board, chains)?;
    println!("{}", tally.summary(board));
    Ok(())
}

/// What the cuts did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Power cuts made (boots that ended in a cut).
    pub cuts: u32,
    /// Of them, inside a checkpoint save (`cut-op`).
    pub in_save: u32,
    /// Restarts that resumed from a checkpoint (the expected one).
    pub resumed: u32,
    /// Restarts that found the flash empty, as expected (cut before any save completed).
    pub fresh: u32,
    /// Chains that ended with PASS on the reference's weights.
    pub chains: u32,
    /// Boots in all.
    pub boots: u32,
}

impl Tally {
    /// One line for the task's output.
    pub fn summary(&self, board: Board) -> String {
        format!(
            "{}: {} power cuts ({} inside a checkpoint save, {} between steps), {} restarts resumed from the newest complete checkpoint, {} found the flash empty as expected; {} chains ended PASS with the uncut run's held-out loss and weight CRC ({} boots)",
            board.name,
            self.cuts,
            self.in_save,
            self.cuts - self.in_save,
            self.resumed,
            self.fresh,
            self.chains,
            self.boots
        )
    }
}

/// The cut of one boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// During the boot's flash operation K.
    Op(u32),
    /// Just before training step S.
    Step(u32),
}

/// The run's constants, from the reference boot's log.
struct Reference {
    loss: String,
    crc: String,
    steps: u32,
    every: u32,
    ops_per_save: u32,
}

/// Runs `chains` chains of cuts on `board` (see the module docs).
pub fn run(board: Board, chains: usize) -> Result<Tally, String> {
    checkpoint::image_of(board)?;
    let elf = checkpoint::build(board)?;
    let scratch = Scratch::new(&format!("powercut-{}", board.name))?;
    let reference = reference(board, &elf, &scratch.join("reference.img"))?;
    println!(
        "{}: reference run: held-out loss {}, weights {}, a save is {} flash operations, {} steps, a checkpoint every {}",
        board.name,
        reference.loss,
        reference.crc,
        reference.ops_per_save,
        reference.steps,
        reference.every
    );
    let mut tally = Tally::default();
    for chain in 0..chains {
        let image = scratch.join(&format!("chain{chain}.img"));
        run_chain(board, &elf, &image, chain, &reference, &mut tally)?;
    }
    Ok(tally)
}

fn reference(board: Board, elf: &Path, image: &Path) -> Result<Reference, String> {
    let out = checkpoint::boot(board, elf, image, &[], false)?;
    out.verdict(board)?;
    let (loss, crc) = checkpoint::result(&out.lines)?;
    let number = |key: &str| {
        checkpoint::number_after(&out.lines, key)
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| format!("{}: no `{key}` in the reference log", board.name))
    };
    let saves = checkpoint::saves(&out.lines);
    let ops_per_save = match saves.as_slice() {
        [(_, ops), rest @ ..] if rest.iter().all(|(_, o)| o == ops) => *ops,
        _ => {
            return Err(format!(
                "{}: the saves took different numbers of flash operations: {saves:?}",
                board.name
            ));
        }
    };
    Ok(Reference {
        loss,
        crc,
        steps: number("training: ")?,
        every: number("), every ")?,
        ops_per_save,
    })
}

/// One chain on a fresh image: boots cut in turn until too few steps are left for the next
/// cut, then one boot to the end.
fn run_chain(
    board: Board,
    elf: &Path,
    image: &Path,
    chain: usize,
    r: &Reference,
    tally: &mut Tally,
) -> Result<(), String> {
    let _ = std::fs::remove_file(image);
    let p = r.ops_per_save;
    let offsets = [1, 2, p / 2, p - 1, p];
    // Expected of the next boot: the step it resumes from (None: the flash holds none).
    let mut expect: Option<u32> = None;
    let mut early = if chain == 0 {
        vec![Cut::Op(1), Cut::Op(p)]
    } else {
        Vec::new()
    };
    early.reverse();
    for b in 0usize.. {
        let start = expect.unwrap_or(0);
        // A fresh boot saves step 0 first; a resumed one the next interval's end.
        let cut = if let Some(c) = early.pop() {
            Some(c)
        } else if start + 2 * r.every > r.steps {
            None
        } else if b % 2 == 0 {
            Some(Cut::Op(p + offsets[(b / 2 + chain) % offsets.len()]))
        } else {
            Some(Cut::Step(start + r.every + r.every / 2 + 1))
        };
        let options: Vec<String> = match cut {
            Some(Cut::Op(k)) => vec![format!("cut-op={k}")],
            Some(Cut::Step(s)) => vec![format!("cut-step={s}")],
            None => Vec::new(),
        };
        let out = checkpoint::boot(board, elf, image, &options, false)?;
        tally.boots += 1;
        let what = format!(
            "{}: chain {chain}, boot {b} ({})",
            board.name,
            if options.is_empty() {
                "uncut".to_string()
            } else {
                options.join(" ")
            }
        );
        let resumed = checkpoint::resumed_step(&out.lines).map_err(|e| format!("{what}: {e}"))?;
        if resumed != expect {
            return Err(format!(
                "{what}: resumed from {resumed:?}, expected the newest complete checkpoint {expect:?}\n{}",
                out.lines.join("\n")
            ));
        }
        if b > 0 {
            match resumed {
                Some(_) => tally.resumed += 1,
                None => tally.fresh += 1,
            }
        }
        let Some(cut) = cut else {
            return finish(&what, board, &out, r, tally);
        };
        if out.code != Some(CUT_EXIT_CODE) {
            return Err(format!(
                "{what}: ended with {:?}, not the power cut (exit code {CUT_EXIT_CODE})\n{}",
                out.code,
                out.lines.join("\n")
            ));
        }
        tally.cuts += 1;
        if matches!(cut, Cut::Op(_)) {
            tally.in_save += 1;
        }
        // The newest complete save of this boot, if any, is where the next one resumes.
        if let Some(&(step, _)) = checkpoint::saves(&out.lines).last() {
            expect = Some(step);
        }
    }
    unreachable!("the loop returns at its uncut boot")
}

/// The uncut last boot of a chain: PASS, on the reference's weights.
fn finish(
    what: &str,
    board: Board,
    out: &Outcome,
    r: &Reference,
    tally: &mut Tally,
) -> Result<(), String> {
    out.verdict(board).map_err(|e| format!("{what}: {e}"))?;
    let (loss, crc) = checkpoint::result(&out.lines)?;
    if (loss.as_str(), crc.as_str()) != (r.loss.as_str(), r.crc.as_str()) {
        return Err(format!(
            "{what}: held-out loss {loss} and weights {crc}, the uncut run's are {} and {}",
            r.loss, r.crc
        ));
    }
    tally.chains += 1;
    Ok(())
}

/// The divergence test: one uncut boot on a fresh image at learning rate `lr` (too large for
/// the board), which must roll back at least once and still end PASS. Returns its log.
pub fn rollback(board: Board, lr: &str, echo: bool) -> Result<Outcome, String> {
    checkpoint::image_of(board)?;
    let elf = checkpoint::build(board)?;
    let scratch = Scratch::new(&format!("rollback-{}", board.name))?;
    let out = checkpoint::boot(
        board,
        &elf,
        &scratch.join("flash.img"),
        &[format!("lr={lr}")],
        echo,
    )?;
    let rollbacks = out
        .lines
        .iter()
        .filter(|l| l.contains("rolled back to the checkpoint of step"))
        .count();
    if rollbacks == 0 {
        return Err(format!(
            "{}: at learning rate {lr} training never diverged (no rollback): the test tests nothing",
            board.name
        ));
    }
    out.verdict(board)
        .map_err(|e| format!("{e} after {rollbacks} rollbacks at learning rate {lr}"))?;
    Ok(out)
}

/// The rollbacks of [`rollback`]'s log in one line.
pub fn rollback_summary(board: Board, out: &Outcome) -> String {
    let events: Vec<&str> = out
        .lines
        .iter()
        .filter(|l| l.contains("rolled back"))
        .map(|l| l.trim_start_matches("WARN  "))
        .collect();
    format!(
        "{}: {} rollbacks, then PASS: {}",
        board.name,
        events.len(),
        events.join("; ")
    )
}
