//! `nearid train --grow START` end to end: on a task where one block stalls (a sawtooth), the
//! network grows, each growth is logged with its gradients, the compute is the sum of m over
//! the steps, the saved model keeps its active depth m through `.npz`, `export` to `.nid`
//! (the core reads the same m) and `eval` / `predict` on either file run m blocks; a bad START
//! is refused by the argument parser with one line naming the problem.

mod common;

use common::{nearid, run, s, scratch};
use nearid::file;
use nearid::{Net, Relu};
use nearid_host::network::Network;
use std::path::Path;

/// 600 rows of the sawtooth y = t(t(t(u))), t(u) = 1 - |2u - 1|, columns x0 and y0 (the
/// names a `.nid` file gives its columns), x in [-1, 1].
fn sawtooth_csv(path: &Path) {
    let tent = |u: f64| 1.0 - (2.0 * u - 1.0).abs();
    let mut rng = nearid::Rng::new(3);
    let mut text = String::from("x0,y0\n");
    for _ in 0..600 {
        let u = rng.uniform();
        text += &format!("{},{}\n", 2.0 * u - 1.0, 2.0 * tent(tent(tent(u))) - 1.0);
    }
    std::fs::write(path, text).unwrap();
}

fn train_grown(data: &Path, model: &Path, epochs: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        s(data),
        "--inputs",
        "x0",
        "--targets",
        "y0",
        "--hidden",
        "16",
        "--depth",
        "8",
        "--grow",
        "1",
        "--epochs",
        epochs,
        "--batch",
        "8",
        "--lr",
        "0.05",
        "--stall-window",
        "100",
        "--stall-threshold",
        "0.02",
        // No validation rows: the last epoch is kept, so the saved m is the last growth's.
        "--val",
        "0",
        "--out",
        s(model),
    ];
    args.extend_from_slice(extra);
    nearid(&args)
}

/// The numbers after `key` in `line` up to the next space or comma.
fn number_after(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    let end = rest.find([' ', ',', ';', ')']).unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

#[test]
fn a_stalling_network_grows_and_its_depth_is_saved_and_restored() {
    let data = scratch("saw.csv");
    sawtooth_csv(&data);
    let model = scratch("saw.npz");
    let out = train_grown(&data, &model, "60", &[]);
    let growths: Vec<&str> = out.lines().filter(|l| l.starts_with("growth at")).collect();
    assert!(!growths.is_empty(), "no growth on a stalling task:\n{out}");
    // Each growth adds one block, in order, from 1, after a block that exists.
    for (k, line) in growths.iter().enumerate() {
        assert!(
            line.contains(&format!("m = {} -> {}", k + 1, k + 2)),
            "{line}"
        );
        let after = number_after(line, "after block ") as usize;
        assert!((1..=k + 1).contains(&after), "{line}");
        // The new block gets a gradient at once (W1 random, a != 0).
        assert!(number_after(line, "||dL/dW2|| = ") > 0.0, "{line}");
        assert!(number_after(line, "RMS |a| = ") > 0.0, "{line}");
    }
    assert!(
        out.contains("Theorem-3 bound not computable on file data"),
        "the log says why there is no bound:\n{out}"
    );
    // Compute = sum over steps of m: with growths at steps s_1 < s_2 < ... (each block there
    // from the next step), sum_k k (s_k - s_(k-1)) + (m_last) (steps - s_last).
    let summary = out
        .lines()
        .find(|l| l.contains("growth(s); compute"))
        .unwrap();
    let compute = number_after(summary, "compute ") as u64;
    let steps = number_after(summary, "over ") as u64;
    assert_eq!(steps, 60 * (600 / 8), "{summary}");
    let mut expected = 0u64;
    let (mut m, mut from) = (1u64, 0u64);
    for line in &growths {
        let at = number_after(line, "growth at step ") as u64;
        expected += m * (at - from);
        (m, from) = (m + 1, at);
    }
    expected += m * (steps - from);
    assert_eq!(compute, expected, "{summary}");

    // The .npz keeps the last epoch's m (one more than the growths), and says so.
    let net = Network::read_npz(&model).unwrap();
    assert_eq!(net.depth(), 8);
    let saved = number_after(summary, "runs ") as usize;
    assert_eq!(saved, growths.len() + 1, "{summary}");
    assert_eq!(net.active_depth(), saved);
    if saved < 8 {
        assert_eq!(net.config.active_depth, Some(saved));
    }

    // export -> .nid: the header holds m and the core network runs m blocks.
    let nid = scratch("saw.nid");
    nearid(&["export", s(&model), "--out", s(&nid)]);
    let bytes = std::fs::read(&nid).unwrap();
    let header = file::read_header(&bytes).unwrap();
    assert_eq!(usize::from(header.active_depth), saved);
    assert_eq!(header.shape.depth, 8);
    let mut core = Net::<f32, 1, 16, 16, 8, 1, Relu>::init(&mut nearid::Rng::new(0), 0.1);
    file::load(&mut core, &bytes).unwrap();
    assert_eq!(core.blocks.active_depth(), saved);

    // predict on the .nid gives the .npz's predictions, bit for bit; and they are the first m
    // blocks' outputs: with the blocks past m made non-identity the predictions stay, and with
    // all 8 blocks in use they change.
    let read = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let (pred_nid, pred_npz) = (scratch("pred-nid.csv"), scratch("pred-npz.csv"));
    nearid(&["predict", s(&nid), s(&data), "--out", s(&pred_nid)]);
    nearid(&["predict", s(&model), s(&data), "--out", s(&pred_npz)]);
    assert_eq!(read(&pred_nid), read(&pred_npz));
    if saved < 8 {
        let mut changed = net.clone();
        for b in &mut changed.blocks[saved..] {
            b.w2.iter_mut().for_each(|w| *w = 0.5);
            b.b2.iter_mut().for_each(|w| *w = 0.25);
        }
        let (tail, all) = (scratch("tail.npz"), scratch("all.npz"));
        changed.write_npz(&tail).unwrap();
        changed.config.active_depth = None;
        changed.write_npz(&all).unwrap();
        let (pred_tail, pred_all) = (scratch("pred-tail.csv"), scratch("pred-all.csv"));
        nearid(&["predict", s(&tail), s(&data), "--out", s(&pred_tail)]);
        nearid(&["predict", s(&all), s(&data), "--out", s(&pred_all)]);
        assert_eq!(read(&pred_tail), read(&pred_npz), "blocks past m were run");
        assert_ne!(read(&pred_all), read(&pred_npz));
    }
    let eval_npz = nearid(&["eval", s(&model), s(&data)]);
    let eval_nid = nearid(&["eval", s(&nid), s(&data)]);
    assert_eq!(
        number_after(&eval_npz, "loss "),
        number_after(&eval_nid, "loss ")
    );
    // Import keeps it too.
    let back = scratch("back.npz");
    nearid(&[
        "import",
        s(&nid),
        "--names-from",
        s(&model),
        "--out",
        s(&back),
    ]);
    assert_eq!(Network::read_npz(&back).unwrap().active_depth(), saved);
}

#[test]
fn growing_at_the_end_and_fine_tuning_a_grown_model() {
    let data = scratch("saw-end.csv");
    sawtooth_csv(&data);
    let model = scratch("saw-end.npz");
    let out = train_grown(&data, &model, "10", &["--grow-at", "end"]);
    let growths: Vec<&str> = out.lines().filter(|l| l.starts_with("growth at")).collect();
    assert!(!growths.is_empty(), "{out}");
    for (k, line) in growths.iter().enumerate() {
        // At the end: after block m.
        assert_eq!(number_after(line, "after block ") as usize, k + 1, "{line}");
        assert!(line.contains("(the last)"), "{line}");
    }
    let saved = Network::read_npz(&model).unwrap().active_depth();
    // Fine-tuning without --grow keeps m; --grow above it is refused in one line.
    let tuned = scratch("saw-tuned.npz");
    nearid(&[
        "train",
        s(&data),
        "--init",
        s(&model),
        "--epochs",
        "1",
        "--out",
        s(&tuned),
        "--quiet",
    ]);
    assert_eq!(Network::read_npz(&tuned).unwrap().active_depth(), saved);
    // 750 steps, two windows of 100 per growth: at most 4 blocks.
    assert!(saved < 8, "{out}");
    {
        let too_many = (saved + 1).to_string();
        let out = run(&[
            "train",
            s(&data),
            "--init",
            s(&model),
            "--grow",
            &too_many,
            "--out",
            s(&tuned),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--grow {too_many}: the --init model runs {saved} of its 8"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn a_bad_start_depth_is_refused_with_one_line() {
    let data = scratch("saw-bad.csv");
    sawtooth_csv(&data);
    let model = scratch("never.npz");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--grow", "0", "--depth", "4"],
            "error: invalid value '0' for '--grow <START>': the start depth must be at least 1 \
             (a block to train)",
        ),
        (
            &["--grow", "5", "--depth", "4"],
            "error: --grow 5 is more than the capacity --depth 4: the network starts with \
             START <= M blocks in use",
        ),
        (
            &["--grow", "5"],
            "error: --grow 5 is more than the capacity --depth 4 (the default): the network \
             starts with START <= M blocks in use",
        ),
        (
            &["--grow", "64", "--depth", "32"],
            "error: invalid value '64' for '--grow <START>': more than the largest compiled \
             depth M = 32",
        ),
        (
            &["--grow", "two"],
            "error: invalid value 'two' for '--grow <START>': not a whole number (the blocks to \
             start with, e.g. 1)",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["train", s(&data), "--inputs", "x0", "--targets", "y0"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", s(&model)]);
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().next().unwrap_or(""), expected, "{extra:?}");
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(out.stdout.is_empty() && !stderr.contains("panicked"));
        assert!(!model.exists());
    }
    // The stall options belong to --grow.
    let out = run(&[
        "train",
        s(&data),
        "--stall-window",
        "10",
        "--out",
        s(&model),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--grow <START>"));
}
