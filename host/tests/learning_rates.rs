//! Which learning rates train and which diverge, on the project's own example tasks: the table
//! of docs/LEARNING-RATES.md, recomputed here and compared with the file, so the guidance a user
//! reads is what the code does. `NEARID_BLESS=1 cargo test -p nearid-host --test learning_rates`
//! rewrites the table after a deliberate change.
//!
//! Each run: plain SGD (`FusedSgd`, batch 1, no decay, no clipping), a fixed seed, a fixed
//! number of steps; the verdict compares the mean loss of the last tenth of the steps with the
//! loss at the start (the mean of the first 20 steps):
//! - "trains": below 1/10 of it;
//! - "slow": below it, not by 10x;
//! - "stalls": not below it (and finite);
//! - "diverges": a step returned an error (non-finite loss or gradient: the weights were kept,
//!   but nothing more is learned) or the loss grew past 100x the start's.

use nearid::fixed::Q12;
use nearid::{
    CrossEntropy, FusedSgd, LinearTask, Loss, Model, Net, Quadratic, ResNet, Rng, Scalar, Sgd,
    Trainable, Vector,
};
use std::fmt::Write;

const RATES: [f64; 8] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0];
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/LEARNING-RATES.md");
const BEGIN: &str = "<!-- table: host/tests/learning_rates.rs -->\n";
const END: &str = "<!-- end of table -->\n";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Trains,
    Slow,
    Stalls,
    Diverges,
}

/// The verdict and the mean loss of the last tenth of the steps (None when a step failed),
/// judged against the loss at the start: the mean of the first 20 steps (or the first tenth,
/// when shorter), which is still the untrained network's at every rate.
fn judge(losses: &[f64], failed: bool) -> (Verdict, Option<f64>) {
    let tenth = losses.len() / 10;
    if failed || tenth == 0 {
        return (Verdict::Diverges, None);
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let start = mean(&losses[..tenth.min(20)]);
    let last = mean(&losses[losses.len() - tenth..]);
    let ratio = last / start;
    let verdict = if !ratio.is_finite() || ratio > 100.0 {
        Verdict::Diverges
    } else if ratio < 0.1 {
        Verdict::Trains
    } else if ratio < 1.0 {
        Verdict::Slow
    } else {
        Verdict::Stalls
    };
    (verdict, Some(last))
}

/// Trains `net` for `steps` samples drawn by `next` at rate `lr`; the losses, and whether a
/// step failed.
fn train<T, N, L, const I: usize, const O: usize>(
    mut net: N,
    lr: f64,
    steps: usize,
    mut next: impl FnMut() -> (Vector<T, I>, L::Target),
) -> (Vec<f64>, bool)
where
    T: Scalar,
    N: Model<T, I, O> + Trainable<T>,
    L: Loss<T, O>,
{
    let mut sgd = FusedSgd::<T, N, 1, L>::new(Sgd::new(T::from_f64(lr)))
        .expect("every rate of the table is a valid configuration");
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (x, y) = next();
        match sgd.step(&mut net, &[x], &[y]) {
            Ok(step) => losses.push(step.loss.to_f64()),
            Err(_) => return (losses, true),
        }
    }
    (losses, false)
}

/// The smooth map of the calibration examples: y = x + 0.3 tanh(B x) with a fixed B, on the
/// cube [-1, 1]^3 (a near-identity distortion like the firmware's sensor).
fn smooth_target<T: Scalar>(x: &Vector<T, 3>) -> Vector<T, 3> {
    const B: [[f64; 3]; 3] = [[0.9, -0.4, 0.2], [0.3, 0.8, -0.5], [-0.6, 0.1, 0.7]];
    let xf = x.map(|v| v.to_f64());
    Vector::from_fn(|i, _| {
        let bx: f64 = (0..3).map(|j| B[i][j] * xf[j]).sum();
        T::from_f64(xf[i] + 0.3 * bx.tanh())
    })
}

fn cube<T: Scalar>(rng: &mut Rng) -> Vector<T, 3> {
    Vector::from_fn(|_, _| T::from_f64(rng.uniform_in(-1.0, 1.0)))
}

/// One row of the table: task, network, scalar, steps, and per rate the verdict and the final
/// loss.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    usize,
    Vec<(Verdict, Option<f64>)>,
);

/// The verdict at every rate of [`RATES`] of `run`, which trains from the same start and data
/// at the rate it is given.
fn sweep(run: impl Fn(f64) -> (Vec<f64>, bool)) -> Vec<(Verdict, Option<f64>)> {
    RATES
        .iter()
        .map(|&lr| {
            let (losses, failed) = run(lr);
            judge(&losses, failed)
        })
        .collect()
}

/// The smooth map's row in the number type T, from the same f32 start (cast) and data.
fn smooth_row<T: Scalar>(steps: usize, scalar: &'static str) -> Row {
    let cells = sweep(|lr| {
        let net = ResNet::<f32, 3, 16, 8>::identity_init(&mut Rng::new(2), 0.5).cast::<T>();
        let mut rng = Rng::new(9);
        train::<T, _, Quadratic, 3, 3>(net, lr, steps, || {
            let x = cube::<T>(&mut rng);
            (x, smooth_target(&x))
        })
    });
    (
        "smooth near-identity map (D = 3)",
        "ResNet<3, H=16, M=8>",
        scalar,
        steps,
        cells,
    )
}

fn table() -> Vec<Row> {
    // y = A x, A symmetric with eigenvalues in [0.6, 1.4] (the crate root's example).
    let steps = 3000;
    let linear = sweep(|lr| {
        let net = ResNet::<f32, 4, 8, 4>::identity_init(&mut Rng::new(1), 0.5);
        let mut task = LinearTask::<f32, 4>::new(LinearTask::random_spd(0.6, 1.4, 7), 0.0, 8);
        train::<f32, _, Quadratic, 4, 4>(net, lr, steps, || task.sample())
    });

    // Classification: which of four half-spaces' scores is largest, x in [-1, 1]^3.
    let class_steps = 3000;
    let classes = sweep(|lr| {
        let net = Net::<f32, 3, 8, 16, 2, 4>::init(&mut Rng::new(3), 0.5);
        let mut rng = Rng::new(11);
        train::<f32, _, CrossEntropy, 3, 4>(net, lr, class_steps, || {
            let x = cube::<f32>(&mut rng);
            let scores = [x[0], x[1], x[2], -(x[0] + x[1] + x[2]) / 2.0];
            let class = (0..4).fold(0, |best, k| if scores[k] > scores[best] { k } else { best });
            (x, class)
        })
    });

    vec![
        (
            "linear map y = A x (D = 4)",
            "ResNet<4, H=8, M=4>",
            "f32",
            steps,
            linear,
        ),
        // The smooth map in f32 (the M4F's network) and in Q4.12 (the micro:bit's format).
        smooth_row::<f32>(2000, "f32"),
        smooth_row::<Q12>(2000, "Q4.12"),
        (
            "4 classes, softmax cross-entropy (D_in = 3)",
            "Net<3, D=8, H=16, M=2, 4>",
            "f32",
            class_steps,
            classes,
        ),
    ]
}

fn render() -> String {
    let mut s = String::from("| task | network | scalar | steps |");
    for lr in RATES {
        write!(s, " {lr} |").unwrap();
    }
    s.push_str("\n|---|---|---|---|");
    s.push_str(&"---|".repeat(RATES.len()));
    s.push('\n');
    for (task, net, scalar, steps, cells) in table() {
        write!(s, "| {task} | {net} | {scalar} | {steps} |").unwrap();
        for (verdict, last) in cells {
            let word = format!("{verdict:?}").to_lowercase();
            match last {
                Some(l) => write!(s, " {word} ({l:.1e}) |").unwrap(),
                None => write!(s, " {word} |").unwrap(),
            }
        }
        s.push('\n');
    }
    s
}

#[test]
fn the_learning_rate_table_is_what_the_code_does() {
    let fresh = render();
    let doc = std::fs::read_to_string(DOC).expect("docs/LEARNING-RATES.md exists");
    let start = doc.find(BEGIN).expect("the doc marks its table") + BEGIN.len();
    let end = doc[start..].find(END).expect("the doc ends its table") + start;
    if std::env::var_os("NEARID_BLESS").is_some() {
        std::fs::write(DOC, format!("{}{}{}", &doc[..start], fresh, &doc[end..])).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..end],
        fresh,
        "docs/LEARNING-RATES.md's table is not what the code does now; if the change is \
         deliberate, rewrite it with NEARID_BLESS=1"
    );
}

#[test]
fn the_guidance_holds_the_default_trains_and_too_large_diverges() {
    // What the doc's advice rests on, asserted whatever the exact ratios: 0.01 (the CLI's
    // default and the micro:bit's rate) trains or is slow on every task, and every task has a
    // rate in the table at which it diverges or stalls, so the table shows the edge.
    for (task, _, scalar, _, cells) in table() {
        let at = |lr: f64| cells[RATES.iter().position(|&r| r == lr).unwrap()].0;
        assert!(
            matches!(at(0.01), Verdict::Trains | Verdict::Slow),
            "{task} ({scalar}) at 0.01: {:?}",
            at(0.01)
        );
        assert!(
            cells
                .iter()
                .any(|(v, _)| matches!(v, Verdict::Diverges | Verdict::Stalls)),
            "{task} ({scalar}): no rate in the table is too large"
        );
    }
}

#[test]
fn the_verdicts_mean_what_they_say() {
    let falling: Vec<f64> = (0..100).map(|i| 1.0 / (1.0 + i as f64)).collect();
    assert_eq!(judge(&falling, false).0, Verdict::Trains);
    let flat = vec![1.0; 100];
    assert_eq!(judge(&flat, false).0, Verdict::Stalls);
    let gentle: Vec<f64> = (0..100).map(|i| 1.0 - i as f64 / 200.0).collect();
    assert_eq!(judge(&gentle, false).0, Verdict::Slow);
    let exploding: Vec<f64> = (0..100).map(|i| 10f64.powi(i / 10)).collect();
    assert_eq!(judge(&exploding, false).0, Verdict::Diverges);
    assert_eq!(judge(&falling, true), (Verdict::Diverges, None));
}
