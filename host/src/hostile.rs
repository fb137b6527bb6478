//! Hostile inputs, in one place: proptest strategies for scalars and matrices with the value
//! distribution issue 12 asks of the core (NaN, +-inf, +-0, subnormals, MAX, MIN_POSITIVE,
//! 1e300, 1e-300, singular, det <= 0, rank-deficient, clustered eigenvalues, rotations by
//! exactly pi, permutations), and [`Target`]: one public API, its input strategy and the
//! judge of its result. The property tests (`host/tests/fuzz_*.rs`) run each target's
//! [`Target::property`] (proptest, with shrinking) for a bounded number of cases; `cargo xtask
//! fuzz` runs the same targets through [`fuzz`] for as long as asked. The targets themselves
//! are in [`crate::fuzz_targets`].

use nalgebra::DMatrix;
use nearid::Rng;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sample;

/// What a target made of one call.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// `Ok`, and the result passed every check.
    Ok,
    /// An `Err` the input justifies.
    Err,
    /// A result that breaks a promise: an unjustified `Err`, a non-finite `Ok`, a bound that
    /// does not bound, a factorisation that does not reconstruct.
    Wrong(String),
}

/// One public API under test: a name, a strategy for its input, and a check that calls it and
/// judges the result.
pub struct Target {
    /// The API, as the fuzz table prints it.
    pub name: &'static str,
    draw_and_check: Box<dyn Fn(&mut TestRunner) -> Verdict>,
    draw_and_describe: Box<dyn Fn(&mut TestRunner) -> String>,
    property: Box<dyn Fn(u32, u64) -> Result<(), String>>,
}

impl Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

impl Target {
    /// A target from its input strategy and its check.
    pub fn new<V: Debug + Clone + 'static>(
        name: &'static str,
        strategy: BoxedStrategy<V>,
        check: fn(&V) -> Verdict,
    ) -> Self {
        let strategy = Arc::new(strategy);
        let drawn = Arc::clone(&strategy);
        let described = Arc::clone(&strategy);
        Self {
            name,
            draw_and_check: Box::new(move |runner| match drawn.new_tree(runner) {
                Ok(tree) => check(&tree.current()),
                Err(reason) => Verdict::Wrong(format!("no input drawn: {reason}")),
            }),
            draw_and_describe: Box::new(move |runner| match described.new_tree(runner) {
                Ok(tree) => format!("{:?}", tree.current()),
                Err(reason) => format!("no input drawn: {reason}"),
            }),
            property: Box::new(move |cases, seed| {
                let mut runner = seeded_runner(cases, seed);
                runner
                    .run(&*strategy, |v| match check(&v) {
                        Verdict::Wrong(why) => Err(TestCaseError::fail(why)),
                        Verdict::Ok | Verdict::Err => Ok(()),
                    })
                    .map_err(|e| format!("{}: {e}", name))
            }),
        }
    }

    /// proptest over `cases` inputs from a seeded runner: `Err` names the smallest failing
    /// input proptest found (a panic in the API is a failure too).
    pub fn property(&self, cases: u32, seed: u64) -> Result<(), String> {
        (self.property)(cases, seed)
    }

    /// One input drawn from `runner`, the call, and the verdict; a panic is returned as `Err`
    /// with its message.
    pub fn call(&self, runner: &mut TestRunner) -> Result<Verdict, String> {
        catch_unwind(AssertUnwindSafe(|| (self.draw_and_check)(runner))).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into())
        })
    }
}

/// The input of call `call` (1-based) of target `index` in a [`fuzz`] run from `seed`, as
/// Debug text: how a failure the table reports is reproduced.
pub fn replay(targets: &[Target], index: usize, seed: u64, call: u64) -> Option<String> {
    let target = targets.get(index)?;
    let mut runner = fuzz_runner(seed, index);
    for _ in 1..call {
        let _ = (target.draw_and_describe)(&mut runner);
    }
    Some((target.draw_and_describe)(&mut runner))
}

/// The runner of target `index` in a [`fuzz`] run from `seed`.
fn fuzz_runner(seed: u64, index: usize) -> TestRunner {
    seeded_runner(
        1,
        seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1)),
    )
}

/// A runner whose inputs depend on `seed` alone (ChaCha), writing no regression files.
pub fn seeded_runner(cases: u32, seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(!seed).to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// One row of the fuzz table.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Calls made.
    pub calls: u64,
    /// `Ok` results that passed their checks.
    pub ok: u64,
    /// Justified `Err` results.
    pub err: u64,
    /// Panics caught.
    pub panics: u64,
    /// Broken promises.
    pub wrong: u64,
    /// The first few panics or wrong results: call number and what happened.
    pub failures: Vec<(u64, String)>,
}

/// Failures kept per target for the report.
const FAILURES_KEPT: usize = 4;

/// Runs every target in turn, each from its own runner seeded by (`seed`, its index), until
/// `budget` has passed (at least one call each): the n-th input of a target depends on the seed
/// alone, so a failure at call n is reproduced by the same seed. Panics are caught and counted.
pub fn fuzz(targets: &[Target], seed: u64, budget: Duration) -> Vec<Tally> {
    let mut runners: Vec<TestRunner> = (0..targets.len()).map(|i| fuzz_runner(seed, i)).collect();
    let mut tallies = vec![Tally::default(); targets.len()];
    let start = Instant::now();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // counted, not printed
    loop {
        for ((target, runner), tally) in targets.iter().zip(&mut runners).zip(&mut tallies) {
            tally.calls += 1;
            match target.call(runner) {
                Ok(Verdict::Ok) => tally.ok += 1,
                Ok(Verdict::Err) => tally.err += 1,
                Ok(Verdict::Wrong(why)) => {
                    tally.wrong += 1;
                    if tally.failures.len() < FAILURES_KEPT {
                        tally.failures.push((tally.calls, why));
                    }
                }
                Err(panic) => {
                    tally.panics += 1;
                    if tally.failures.len() < FAILURES_KEPT {
                        tally
                            .failures
                            .push((tally.calls, format!("panic: {panic}")));
                    }
                }
            }
        }
        if start.elapsed() >= budget {
            break;
        }
    }
    std::panic::set_hook(previous);
    tallies
}

/// A float from the hostile distribution: ordinary values most of the time, else one of the
/// special values, or a power of ten from 1e-320 to 1e308 with either sign.
pub fn hostile_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        6 => -3.0..3.0f64,
        1 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            -f64::MAX,
            1e300,
            -1e300,
            1e-300,
            -1e-300,
            f32::MAX as f64,
            f32::MIN_POSITIVE as f64,
            1.0,
            -1.0,
        ]),
        2 => (-320.0..308.0f64, any::<bool>())
            .prop_map(|(e, negative)| if negative { -(10f64.powf(e)) } else { 10f64.powf(e) }),
    ]
    .boxed()
}

/// A finite, positive value from the hostile distribution's magnitudes (for scales, radii and
/// singular values that must be positive to be valid at all).
pub fn hostile_positive() -> BoxedStrategy<f64> {
    hostile_f64()
        .prop_map(|x| {
            if x.is_finite() && x != 0.0 {
                x.abs()
            } else {
                1.0
            }
        })
        .boxed()
}

/// How a hostile matrix is made; [`HostileMatrix::build`] turns it into the matrix (the kind
/// and the seed shrink, the matrix follows).
#[derive(Clone, Debug)]
pub struct HostileMatrix {
    /// D.
    pub d: usize,
    /// Which family (see [`HostileMatrix::build`]).
    pub kind: u8,
    /// Seed of the family's random choices.
    pub seed: u64,
    /// The whole matrix is multiplied by this (1 most of the time).
    pub scale: f64,
    /// One entry replaced by this, when set (NaN, +-inf).
    pub poison: Option<f64>,
}

/// The number of matrix families.
pub const KINDS: u8 = 13;

/// A hostile D x D matrix, D in `dims`.
pub fn hostile_matrix(dims: std::ops::RangeInclusive<usize>) -> BoxedStrategy<HostileMatrix> {
    let scale = prop_oneof![
        12 => Just(1.0),
        1 => prop::sample::select(vec![
            1e-300, 1e-310, 1e300, 3e38, 1e-40, f64::MIN_POSITIVE, 1e-8, 1e8, 2.0, 0.5, -1.0,
        ]),
        1 => (-320.0..308.0f64).prop_map(|e| 10f64.powf(e)),
    ];
    let poison = prop_oneof![
        19 => Just(None),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]).prop_map(Some),
    ];
    (dims, 0..KINDS, any::<u64>(), scale, poison)
        .prop_map(|(d, kind, seed, scale, poison)| HostileMatrix {
            d,
            kind,
            seed,
            scale,
            poison,
        })
        .boxed()
}

impl HostileMatrix {
    /// The matrix. Families: 0 det > 0 (random, singular values within e^+-2); 1 Gaussian (any
    /// det); 2 rank-deficient; 3 nearly singular (sigma_min = 10^-k, k in 6..=20); 4 det < 0;
    /// 5 rotations by clustered angles (0, tiny, pi/2 +- tiny, pi - tiny, pi, repeated) in a
    /// random basis; 6 permutations (either sign); 7 I + 10^-k noise (k in 1..=16); 8
    /// c I + delta (k mod 7) in row-major k, issue 12's 16 x 16 case among them; 9 -I with an
    /// even number of -1 replaced by +1, in a random basis; 10 a random rotation, times a
    /// clustered-angle rotation; 11 entries from [`hostile_f64`]-like special values; 12
    /// diagonal with extreme singular values.
    pub fn build(&self) -> DMatrix<f64> {
        let d = self.d.max(1);
        let mut rng = Rng::new(self.seed);
        let mut m = match self.kind % KINDS {
            0 => sample::det_positive(d, 2.0, &mut rng),
            1 => sample::gaussian(d, &mut rng),
            2 => {
                let rank = (rng.uniform() * d as f64) as usize; // 0..d
                let s: Vec<f64> = (0..d)
                    .map(|i| {
                        if i < rank {
                            rng.uniform_in(0.5, 2.0)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                sample::with_singular_values(&s, &mut rng)
            }
            3 => {
                let k = 6 + (rng.uniform() * 15.0) as i32;
                let s: Vec<f64> = (0..d)
                    .map(|i| {
                        if i == 0 {
                            10f64.powi(-k)
                        } else {
                            rng.uniform_in(0.5, 2.0)
                        }
                    })
                    .collect();
                sample::with_singular_values(&s, &mut rng)
            }
            4 => {
                let mut r = sample::det_positive(d, 2.0, &mut rng);
                r.row_mut(0).neg_mut();
                r
            }
            5 => clustered_rotation(d, &mut rng),
            6 => permutation(d, &mut rng),
            7 => {
                let k = 1 + (rng.uniform() * 16.0) as i32;
                DMatrix::identity(d, d) + sample::gaussian(d, &mut rng) * 10f64.powi(-k)
            }
            8 => {
                let c = [2.0, 1.0, 0.5, -1.0][(rng.uniform() * 4.0) as usize % 4];
                let delta = [0.01, 1e-3, 1e-9, 0.1][(rng.uniform() * 4.0) as usize % 4];
                DMatrix::from_fn(d, d, |i, j| {
                    let k = i * d + j;
                    c * f64::from(u8::from(i == j)) + delta * (k % 7) as f64
                })
            }
            9 => {
                let plus = 2 * ((rng.uniform() * (d / 2 + 1) as f64) as usize);
                let v: Vec<f64> = (0..d)
                    .map(|i| if i < plus.min(d) { 1.0 } else { -1.0 })
                    .collect();
                let mut diag = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(v));
                if diag.determinant() < 0.0 {
                    diag[(0, 0)] = -diag[(0, 0)];
                }
                let basis = sample::rotation(d, &mut rng);
                &basis * diag * basis.transpose()
            }
            10 => sample::rotation(d, &mut rng) * clustered_rotation(d, &mut rng),
            11 => {
                let specials = [
                    0.0,
                    -0.0,
                    1.0,
                    -1.0,
                    1e-300,
                    1e300,
                    5e-324,
                    f64::MIN_POSITIVE,
                    3e38,
                    1e-40,
                ];
                DMatrix::from_fn(d, d, |_, _| {
                    if rng.uniform() < 0.3 {
                        specials[(rng.uniform() * specials.len() as f64) as usize % specials.len()]
                    } else {
                        rng.normal()
                    }
                })
            }
            _ => {
                let extremes = [1e-310, 1e-300, 1e-150, 1e-20, 1.0, 1e20, 1e150, 1e300, 3e38];
                let s: Vec<f64> = (0..d)
                    .map(|_| extremes[(rng.uniform() * extremes.len() as f64) as usize % 9])
                    .collect();
                DMatrix::from_diagonal(&nalgebra::DVector::from_vec(s))
            }
        };
        if self.scale != 1.0 {
            m *= self.scale;
        }
        if let Some(p) = self.poison {
            let (i, j) = (
                (self.seed % d as u64) as usize,
                ((self.seed >> 8) % d as u64) as usize,
            );
            m[(i, j)] = p;
        }
        m
    }
}

/// An angle from the clusters where Schur iterations stagnate: 0, tiny, pi/2 +- tiny,
/// pi - tiny, exactly pi, or uniform in (0, pi).
pub fn clustered_angle(rng: &mut Rng) -> f64 {
    use std::f64::consts::PI;
    let tiny = 10f64.powf(rng.uniform_in(-17.0, -2.0));
    match (rng.uniform() * 6.0) as u32 {
        0 => 0.0,
        1 => tiny,
        2 => PI / 2.0 + if rng.uniform() < 0.5 { tiny } else { -tiny },
        3 => PI - tiny,
        4 => PI,
        _ => rng.uniform_in(0.0, PI),
    }
}

/// S diag(T(theta_1), ..., T(theta_k), 1) S^T, S a random rotation, with the angles clustered:
/// each plane either repeats the previous plane's angle, nudges it by a tiny amount, or draws
/// a new one from [`clustered_angle`].
pub fn clustered_rotation(d: usize, rng: &mut Rng) -> DMatrix<f64> {
    let mut b = DMatrix::<f64>::identity(d, d);
    let mut angle = clustered_angle(rng);
    for k in 0..d / 2 {
        match (rng.uniform() * 3.0) as u32 {
            0 => {}
            1 => angle += 10f64.powf(rng.uniform_in(-16.0, -6.0)),
            _ => angle = clustered_angle(rng),
        }
        let (s, c) = angle.sin_cos();
        let (i, j) = (2 * k, 2 * k + 1);
        b[(i, i)] = c;
        b[(j, j)] = c;
        b[(j, i)] = s;
        b[(i, j)] = -s;
    }
    let basis = sample::rotation(d, rng);
    &basis * b * basis.transpose()
}

/// A random permutation matrix (either determinant sign).
pub fn permutation(d: usize, rng: &mut Rng) -> DMatrix<f64> {
    let mut order: Vec<usize> = (0..d).collect();
    for i in (1..d).rev() {
        let j = (rng.uniform() * (i + 1) as f64) as usize % (i + 1);
        order.swap(i, j);
    }
    DMatrix::from_fn(d, d, |i, j| f64::from(u8::from(order[j] == i)))
}

/// Iterations of nalgebra's reference SVD before it counts as failed.
const REFERENCE_ITERATIONS: usize = 100_000;

/// The singular values of a finite matrix, by nalgebra's SVD in f64 after scaling by a
/// power of two (nalgebra's iteration on entries of 1e-310 or 1e300 would under- or overflow):
/// the independent reference the bounds are checked against.
pub fn reference_singular_values(a: &DMatrix<f64>) -> Option<Vec<f64>> {
    if !a.iter().all(|v| v.is_finite()) {
        return None;
    }
    let largest = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        return Some(vec![0.0; a.nrows().min(a.ncols())]);
    }
    let e = libm::frexp(largest).1;
    let scaled = a.map(|v| libm::ldexp(v, -e));
    // (Capped, unordered: nalgebra's default iterates without limit, and did not stop on a
    // mix of subnormal and 1e300 entries; its ordered form panics on a NaN, which the iteration
    // has produced for a finite input. Such an input then has no reference.)
    let s = scaled
        .try_svd_unordered(false, false, f64::EPSILON, REFERENCE_ITERATIONS)?
        .singular_values;
    if !s.iter().all(|x| x.is_finite()) {
        return None;
    }
    Some(s.iter().map(|&x| libm::ldexp(x, e)).collect())
}

/// The sign of det A for a finite A, from nalgebra's SVD (det U det V^T = +-1): +1, -1, or 0
/// when A is singular to f64 (sigma_min <= D eps sigma_max) and the sign means nothing.
pub fn reference_det_sign(a: &DMatrix<f64>) -> i8 {
    let largest = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return 0;
    }
    let e = libm::frexp(largest).1;
    let scaled = a.map(|v| libm::ldexp(v, -e));
    let Some(svd) = scaled.try_svd(true, true, f64::EPSILON, REFERENCE_ITERATIONS) else {
        return 0;
    };
    let (Some(u), Some(vt)) = (svd.u, svd.v_t) else {
        return 0;
    };
    let s = &svd.singular_values;
    let (lo, hi) = (s.min(), s.max());
    if lo <= a.nrows() as f64 * f64::EPSILON * hi * 16.0 {
        return 0;
    }
    if u.determinant() * vt.determinant() > 0.0 {
        1
    } else {
        -1
    }
}
