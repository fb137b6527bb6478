//! The linear calibration mode's world and its certificate arithmetic, shared by the firmware
//! (`linear.rs`) and the host test that replays the firmware's stream (host/tests/
//! firmware_linear.rs includes this file): it uses only `nearid` and `libm`, nothing of the
//! firmware crate.
//!
//! **The sensor.** An accelerometer at rest in random orientations: the true value t is uniform
//! on the unit sphere (gravity, in units of g), the reading is
//!
//! ```text
//! raw = adc(D t + n),   D = I + S, |S_ij| <= 0.1,   n uniform in [-0.01, 0.01]^3,
//! ```
//!
//! and the reference the rig provides is adc(t). ||S||_2 <= ||S||_F <= 0.3 < 1, so D is
//! invertible with det D > 0 (I + sS is invertible for every s in [0, 1]). `adc` rounds to the
//! grid of [`LSB`] = 2^-12 after adding triangular dither of two LSB peak to peak: the values
//! are then exact in Q4.12 and in f32 (both boards see the same numbers), and the rounding error
//! e has E[e | v] = 0 and E[e^2 | v] = LSB^2 / 4 whatever v is (nonsubtractive dither with a
//! triangular density makes the first two moments of the error independent of the signal), so
//! the moments of the stream the chip sees are known exactly:
//!
//! ```text
//! Sigma = E[x x^T] = D D^T / 3 + (NOISE^2 / 3 + LSB^2 / 4) I,   E[y x^T] = D^T / 3,
//! ```
//!
//! (E[t t^T] = I / 3 on the sphere). The best linear calibration is P* = E[y x^T] Sigma^-1 and
//! the excess loss of any P is L(P) - L(P*) = 1/2 tr((P - P*) Sigma (P - P*)^T), with L the
//! population risk 1/2 E||P x - y||^2 ([`Population::excess`]). y - P* x is uncorrelated with x,
//! which is all that docs/THEORY.md section 2 needs of the noise.
//!
//! **The certificate's inputs** (docs/THEORY.md section 2, `nearid::certify`):
//! - ||grad L||_F^2, estimated by the steps' own gradients: [`grad_norm_sq`] sums the factors a
//!   step left on its tape in f64 (a Q4.12 sum, `Step::grad_norm_sq`, rounds each layer's part to
//!   2^-12 and saturates at 8: small gradients would round to a certificate of 0).
//! - sigma_min(Sigma), from below: [`SecondMoment::sigma_min_lower`].

use nearid::{LinearTape, Rng, Scalar};

/// The ADC's step: readings are integers times this (Q4.12's resolution).
pub const LSB: f64 = 1.0 / 4096.0;
/// Half-width of the uniform sensor noise per axis.
pub const NOISE: f64 = 0.01;
/// Bound on each entry of S in D = I + S.
pub const SCALE_ERROR: f64 = 0.1;
/// Every reading has ||raw|| <= RANGE: ||D t|| <= 1 + ||S||_F <= 1.3 on the unit sphere, the
/// noise adds at most 0.01 sqrt(3) = 0.0174 and the ADC one LSB per axis, 0.0005: 1.318. The
/// application rejects (and counts) a reading outside it, so the bound that the sigma_min
/// estimate relies on holds for every sample it uses.
pub const RANGE: f64 = 1.32;

/// A 3 x 3 matrix, row-major.
pub type M3 = [[f64; 3]; 3];

/// The simulated linear sensor: its distortion D (fixed by the seed) and its sample stream.
#[derive(Clone, Debug)]
pub struct LinearSensor {
    d: M3,
    rng: Rng,
}

impl LinearSensor {
    /// A sensor whose distortion and stream are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let d = core::array::from_fn(|i| {
            core::array::from_fn(|j| {
                let s = rng.uniform_in(-SCALE_ERROR, SCALE_ERROR);
                if i == j { 1.0 + s } else { s }
            })
        });
        Self {
            d,
            rng: Rng::new(seed ^ 0x11E4_0A11),
        }
    }

    /// D, the distortion: raw = D t + noise.
    pub fn distortion(&self) -> &M3 {
        &self.d
    }

    /// The next (raw, reference), both on the ADC grid.
    pub fn sample(&mut self) -> ([f64; 3], [f64; 3]) {
        // Uniform on the sphere (Archimedes: z uniform in [-1, 1], the azimuth uniform).
        let z = self.rng.uniform_in(-1.0, 1.0);
        let phi = self.rng.uniform_in(0.0, core::f64::consts::TAU);
        let r = libm::sqrt((1.0 - z * z).max(0.0));
        let t = [r * libm::cos(phi), r * libm::sin(phi), z];
        let dt = mat_vec(&self.d, &t);
        let raw = core::array::from_fn(|i| {
            let n = self.rng.uniform_in(-NOISE, NOISE);
            adc(&mut self.rng, dt[i] + n)
        });
        let reference = core::array::from_fn(|i| adc(&mut self.rng, t[i]));
        (raw, reference)
    }
}

/// v rounded to the grid of [`LSB`] after triangular dither on (-LSB, LSB) (the difference of
/// two uniforms).
fn adc(rng: &mut Rng, v: f64) -> f64 {
    let dither = rng.uniform() - rng.uniform();
    libm::round(v / LSB + dither) * LSB
}

/// The exact second moments of the stream and what follows from them (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Population {
    /// Sigma = E[x x^T].
    pub sigma: M3,
    /// P* = E[y x^T] Sigma^-1, the best linear calibration.
    pub p_opt: M3,
}

impl Population {
    /// The moments of `sensor`'s stream.
    pub fn of(sensor: &LinearSensor) -> Self {
        let d = sensor.distortion();
        let white = NOISE * NOISE / 3.0 + LSB * LSB / 4.0;
        let sigma = core::array::from_fn(|i| {
            core::array::from_fn(|j| {
                let ddt = (0..3).map(|k| d[i][k] * d[j][k]).sum::<f64>() / 3.0;
                if i == j { ddt + white } else { ddt }
            })
        });
        let c_yx: M3 = core::array::from_fn(|i| core::array::from_fn(|j| d[j][i] / 3.0));
        let p_opt = mat_mul(&c_yx, &inverse(&sigma));
        Self { sigma, p_opt }
    }

    /// L(P) - L(P*) = 1/2 tr(E Sigma E^T) with E = P - P*.
    pub fn excess(&self, p: &M3) -> f64 {
        let e: M3 = core::array::from_fn(|i| core::array::from_fn(|j| p[i][j] - self.p_opt[i][j]));
        let es = mat_mul(&e, &self.sigma);
        0.5 * (0..3)
            .map(|i| (0..3).map(|j| es[i][j] * e[i][j]).sum::<f64>())
            .sum::<f64>()
    }
}

/// A running sum of x x^T, and sigma_min of its mean bounded from below.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecondMoment {
    /// sum of x x^T, upper triangle: xx, yy, zz, xy, xz, yz.
    sum: [f64; 6],
    /// Samples added.
    pub n: u32,
}

impl SecondMoment {
    /// Adds one sample.
    pub fn add(&mut self, x: &[f64; 3]) {
        let [a, b, c] = *x;
        for (s, v) in self
            .sum
            .iter_mut()
            .zip([a * a, b * b, c * c, a * b, a * c, b * c])
        {
            *s += v;
        }
        self.n += 1;
    }

    /// S_n = (1/n) sum x x^T.
    pub fn mean(&self) -> M3 {
        let n = f64::from(self.n.max(1));
        let [xx, yy, zz, xy, xz, yz] = self.sum.map(|s| s / n);
        [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]
    }

    /// A lower bound on sigma_min(Sigma), Sigma = E[x x^T], that holds with probability at
    /// least 1 - 2 delta for n i.i.d. samples with ||x||^2 <= `range_sq` (or a value <= 0 when
    /// n is too small to say anything).
    ///
    /// Weyl: sigma_min(Sigma) >= lambda_min(S_n) - lambda_max(S_n - Sigma). With
    /// Y_k = x_k x_k^T - Sigma: E Y_k = 0, lambda_max(Y_k) <= ||x_k||^2 <= K = `range_sq`, and
    /// E Y_k^2 <= E[||x||^2 x x^T] <= K Sigma, so ||sum_k E Y_k^2|| <= n K lambda_max(Sigma).
    /// Matrix Bernstein (Tropp 2012, "User-friendly tail bounds", Theorem 1.4) in d = 3:
    /// P(lambda_max(sum Y_k) >= t) <= 3 exp(-(t^2 / 2) / (n K lambda + K t / 3)), so with
    /// l = ln(3 / delta), a = K l / (3 n), b = 2 K l / n, with probability 1 - delta
    ///
    /// ```text
    /// lambda_max(S_n - Sigma) <= eps(lambda) = a + sqrt(a^2 + b lambda),   lambda = lambda_max(Sigma).
    /// ```
    ///
    /// lambda_max(Sigma) is not known either: the same inequality for Sigma - x x^T (its
    /// lambda_max is at most lambda_max(Sigma) <= K) gives lambda <= lambda_max(S_n) + eps(lambda)
    /// with probability 1 - delta, whose solution is lambda <= lambda_up = mu + a + s with
    /// mu = lambda_max(S_n) and s the positive root of s^2 - b s - (a^2 + b mu + a b) = 0.
    /// On both events, sigma_min(Sigma) >= lambda_min(S_n) - eps(lambda_up).
    ///
    /// The eigenvalues of S_n come from [`symmetric_eigenvalues`] (closed form), whose error is
    /// far below [`EIGEN_SLACK`] times tr(S_n) (host/tests/firmware_linear.rs checks it against
    /// a Jacobi solver); that slack is subtracted too.
    pub fn sigma_min_lower(&self, range_sq: f64, delta: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let s = self.mean();
        let [lo, _, hi] = symmetric_eigenvalues(&s);
        let n = f64::from(self.n);
        let l = libm::log(3.0 / delta);
        let (a, b) = (range_sq * l / (3.0 * n), 2.0 * range_sq * l / n);
        let root = 0.5 * (b + libm::sqrt(b * b + 4.0 * (a * a + b * hi + a * b)));
        let lambda_up = hi + a + root;
        let eps = a + libm::sqrt(a * a + b * lambda_up);
        lo - eps - EIGEN_SLACK * (s[0][0] + s[1][1] + s[2][2])
    }
}

/// Subtracted from a computed eigenvalue, times the trace, to cover the closed form's rounding.
pub const EIGEN_SLACK: f64 = 1e-9;

/// The eigenvalues of a symmetric 3 x 3 matrix, ascending, in closed form (the trigonometric
/// solution of the characteristic cubic, O. K. Smith 1961): with q = tr(A) / 3,
/// p = sqrt(||A - q I||_F^2 / 6) and r = det((A - q I) / p) / 2 in [-1, 1], they are
/// q + 2 p cos(acos(r) / 3 + 2 pi k / 3). No iteration: a few dozen operations, a square root,
/// an arccosine and two cosines.
pub fn symmetric_eigenvalues(a: &M3) -> [f64; 3] {
    let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    let q = (a[0][0] + a[1][1] + a[2][2]) / 3.0;
    let diag = [a[0][0] - q, a[1][1] - q, a[2][2] - q];
    let p2 = diag.iter().map(|d| d * d).sum::<f64>() + 2.0 * off;
    if p2 == 0.0 {
        return [q; 3];
    }
    let p = libm::sqrt(p2 / 6.0);
    let b: M3 = core::array::from_fn(|i| {
        core::array::from_fn(|j| if i == j { diag[i] / p } else { a[i][j] / p })
    });
    let r = (det(&b) / 2.0).clamp(-1.0, 1.0);
    let phi = libm::acos(r) / 3.0;
    let third = 2.0 * core::f64::consts::PI / 3.0;
    let largest = q + 2.0 * p * libm::cos(phi);
    let smallest = q + 2.0 * p * libm::cos(phi + third);
    [smallest, 3.0 * q - largest - smallest, largest]
}

/// ||grad L||_F^2 of the step whose tape this is, summed in f64 from its factors: the gradient
/// of factor A_i on the batch is sum_b dy_ib x_ib^T, and its squared Frobenius norm
/// sum_{b,c} (dy_ib . dy_ic)(x_ib . x_ic). Every entry is exact in f64 (f32 and the fixed-point
/// formats convert exactly), so the only rounding is f64's, relative 1e-15.
pub fn grad_norm_sq<T: Scalar, const D: usize, const M: usize, const B: usize>(
    tape: &[[LinearTape<T, D>; B]; M],
) -> f64 {
    let dot = |u: &nearid::Vector<T, D>, v: &nearid::Vector<T, D>| -> f64 {
        u.iter()
            .zip(v.iter())
            .map(|(a, b)| a.to_f64() * b.to_f64())
            .sum()
    };
    tape.iter()
        .map(|factor| {
            let mut sum = 0.0;
            for tb in factor {
                for tc in factor {
                    sum += dot(&tb.dy, &tc.dy) * dot(&tb.x, &tc.x);
                }
            }
            sum
        })
        .sum()
}

/// A v.
pub fn mat_vec(a: &M3, v: &[f64; 3]) -> [f64; 3] {
    core::array::from_fn(|i| (0..3).map(|k| a[i][k] * v[k]).sum())
}

/// A B.
pub fn mat_mul(a: &M3, b: &M3) -> M3 {
    core::array::from_fn(|i| core::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// det A.
pub fn det(a: &M3) -> f64 {
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
}

/// A^-1 by the adjugate (A is Sigma here: symmetric positive definite, well conditioned).
pub fn inverse(a: &M3) -> M3 {
    let d = det(a);
    let c = |i: usize, j: usize| {
        let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
        let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
        a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]
    };
    // (A^-1)_ij = C_ji / det, with the cofactors' signs built into the cyclic index order.
    core::array::from_fn(|i| core::array::from_fn(|j| c(j, i) / d))
}

/// The run of the firmware's linear mode (`linear.rs`), which the host test replays.
///
/// Factors A_1 .. A_M of its `LinearResNet`.
pub const FACTORS: usize = 4;
/// Seed of the sensor's distortion and stream.
pub const SEED: u64 = 16;
/// Readings that go into the second moment before the first step.
pub const WARMUP: u32 = 2000;
/// Training steps, one new reading each.
pub const STEPS: u32 = 3000;
/// Log every this many steps (and at steps 10 and 100).
pub const LOG_EVERY: u32 = 500;
/// Learning rate.
pub const LEARNING_RATE: f64 = 0.05;
/// The run passes when the last window's mean excess loss is below this: the uncalibrated
/// sensor's is about 1e-2, the noise floor 1e-5 (both in the log).
pub const THRESHOLD: f64 = 1e-3;

/// The next reading within [`RANGE`] (others are counted in `rejected` and skipped); its
/// values are exact in f32 and Q4.12 (on the ADC's grid).
pub fn reading(sensor: &mut LinearSensor, rejected: &mut u32) -> ([f64; 3], [f64; 3]) {
    loop {
        let (raw, reference) = sensor.sample();
        if raw.iter().map(|v| v * v).sum::<f64>() <= RANGE * RANGE {
            return (raw, reference);
        }
        *rejected += 1;
    }
}

/// The probability 1 - 2 delta with which [`SecondMoment::sigma_min_lower`] holds: delta.
pub const DELTA: f64 = 1e-3;

/// The certificate's bookkeeping over a window of training steps, the same on the chip
/// (`linear.rs`) and in the host test that replays it.
///
/// For each step k, with w_k the weights the step's gradient g_k was taken at (before its
/// update), it adds
///
/// ```text
/// c_k = ||g_k||_F^2 / (2 M (1 - tau_k)^(2M - 2) s),   tau_k >= max_i ||A_i||_2 (Frobenius),
/// ```
///
/// s the current lower bound on sigma_min(Sigma) ([`SecondMoment::sigma_min_lower`]), and the
/// true excess e_k = L(w_k) - L(P*) ([`Population::excess`], which only a simulation knows).
/// g_k is the gradient of one sample; the theorem (docs/THEORY.md section 2) bounds the
/// excess by the population gradient grad L(w_k) = E[g_k | w_k], and E||g_k||^2 >= ||E g_k||^2
/// (Jensen), so E[c_k | w_k] >= cert(w_k) >= e_k: the window's mean of c_k estimates a bound on
/// the window's mean excess from above. It is a bound in expectation, not on every sample; the
/// host test measures how far above it stays.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Steps in the window.
    pub steps: u32,
    /// Sum of the steps' losses.
    pub loss: f64,
    /// Sum of c_k.
    pub certificate: f64,
    /// Sum of e_k.
    pub excess: f64,
    /// The largest tau_k.
    pub tau: f64,
    /// Steps whose certificate could not be formed (tau >= 1, or no positive sigma_min bound):
    /// their c_k is not in the sum, so the window reports none when there is any.
    pub uncertified: u32,
}

impl Window {
    /// Adds step k: the loss it reported, its tape, the weights before its update.
    pub fn add<T: Scalar, const M: usize>(
        &mut self,
        loss: f64,
        tape: &[[LinearTape<T, 3>; 1]; M],
        before: &nearid::LinearResNet<f64, 3, M>,
        sigma_min_lower: f64,
        population: &Population,
    ) {
        self.steps += 1;
        self.loss += loss;
        self.excess += population.excess(&to_m3(&before.product()));
        match nearid::certify_frobenius(before, grad_norm_sq(tape), sigma_min_lower) {
            Ok(c) => {
                self.certificate += c.excess_loss_bound;
                self.tau = self.tau.max(c.tau);
            }
            Err(_) => self.uncertified += 1,
        }
    }

    /// The means over the window: (loss, certificate or None, excess).
    pub fn means(&self) -> (f64, Option<f64>, f64) {
        let n = f64::from(self.steps.max(1));
        let certificate = (self.uncertified == 0).then_some(self.certificate / n);
        (self.loss / n, certificate, self.excess / n)
    }
}

/// A nalgebra 3 x 3 matrix as rows.
pub fn to_m3(a: &nearid::Matrix<f64, 3, 3>) -> M3 {
    core::array::from_fn(|i| core::array::from_fn(|j| a[(i, j)]))
}
