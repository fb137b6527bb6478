//! Roots of a rotation: the real Schur form of orthogonal Q, det +1 (docs/THEORY.md section 1,
//! step 2).
//!
//! Q = S diag(T(theta_1), ..., T(theta_k), 1, ..., 1) S^T with S orthogonal and T(theta) the 2x2
//! rotation [[cos, -sin], [sin, cos]] acting in the plane of two columns of S. The eigenvalue -1
//! has even multiplicity (det Q = +1); its Schur vectors are paired into planes turned by pi.
//! Then Q^(1/q) = S diag(T(theta_j / q), 1, ...) S^T and ||Q^(1/q) - I|| = max_j 2|sin(theta_j / 2q)|.
//!
//! ## The method: built for orthogonal (normal) matrices, no luck involved
//!
//! Q is normal: its symmetric part C = (Q + Q^T) / 2 and skew part K = (Q - Q^T) / 2 commute,
//! and in an invariant plane turned by theta they are cos(theta) I and sin(theta) J (J the
//! rotation by pi/2). Both are read with absolute accuracy eps, but cos is flat at theta = 0 and
//! pi (1e-9 and 3e-9 have the same cosine in f64) and sin is flat at pi/2 and cannot tell theta
//! from pi - theta. So:
//!
//! 1. C = V diag(c) V^T by the core's Jacobi SVD of C + 2I (positive definite, so its SVD is its
//!    eigen-decomposition; Jacobi converges on any cluster of eigenvalues).
//! 2. The eigenvectors are split into three parts at the widest gap between the c_i inside two
//!    windows: near 0 (c > c_1, theta < 0.45 pi), middle (theta in (0.35 pi, 0.65 pi)), near pi
//!    (c < c_2, theta > 0.55 pi). Each window has width 0.30, so the gap is at least
//!    0.30 / (D / 2 + 2) (the c_i of a plane are equal), and the parts are invariant subspaces
//!    of Q up to (D eps) / gap.
//! 3. In each part a skew-symmetric function of Q that is monotone in theta with slope at least
//!    0.156 there is brought to 2x2 block-diagonal form by a Jacobi method for skew-symmetric
//!    matrices (Paardekooper's: each step block-diagonalises the 4 x 4 coupling of two blocks
//!    exactly, here through the quaternion form of 4-D rotations): K near 0 and near pi (sin),
//!    and (K (C + 0.55) + (C + 0.55) K) / 2 in the middle (sin(theta) (cos(theta) + 0.55)). A
//!    monotone function separates every pair of distinct angles, so its blocks are Q's
//!    invariant planes: mixing two planes whose angles differ by d costs at most eps / (0.156 d)
//!    in the function and so eps / 0.156 in Q, whatever the clustering. Repeated angles and the
//!    eigenvalues +-1 (K = 0) may be paired any way: every pairing is exact.
//! 4. The angles are read from S^T Q S (atan2 of each 2x2 block), and Q = S B S^T is checked.
//!
//! Every step is a classical Jacobi sweep: cyclic, convergent on any input, with a sweep cap
//! that turns a failure into [`Error::NoConvergence`] (never seen: see the host's fuzz suite).

use super::Svd;
use crate::{Error, Matrix, Real, Result, Scalar, identity_matrix};

/// A plane turned by `angle`: the columns `i` and `j` of S, angle in [-pi, pi].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plane<T> {
    /// First Schur vector of the plane (column of S).
    pub i: usize,
    /// Second Schur vector of the plane.
    pub j: usize,
    /// theta: the rotation takes s_i to cos(theta) s_i + sin(theta) s_j.
    pub angle: T,
}

/// An orthogonal Q with det +1 as rotations in orthogonal planes: Q = S diag(T(theta_j), 1) S^T.
/// At most D / 2 planes; the remaining Schur vectors are fixed (eigenvalue +1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rotation<T: Real, const D: usize> {
    /// The orthogonal Schur vectors S: (D, D).
    pub s: Matrix<T, D, D>,
    /// The planes; only the first `count` entries are used. (D) slots so no const arithmetic
    /// is needed (D / 2 would do).
    planes: [Plane<T>; D],
    count: usize,
}

/// The windows (in c = cos theta) in which the parts are split: theta in [0.35 pi, 0.45 pi]
/// and [0.55 pi, 0.65 pi]. cos(0.35 pi) = 0.4540, cos(0.45 pi) = 0.1564.
const WINDOW_LO: f64 = 0.156_434_465_040_230_9;
const WINDOW_HI: f64 = 0.453_990_499_739_546_8;
/// The shift of the middle part's function sin(theta) (cos(theta) + LAMBDA): above
/// |cos theta| <= 0.454 so it keeps one sign there, and its slope cos(2 theta) + LAMBDA
/// cos(theta) stays at or below -0.338 on [0.35 pi, 0.65 pi].
const LAMBDA: f64 = 0.55;
/// Sweeps of the skew-symmetric Jacobi method before giving up (it converges quadratically;
/// D <= 16 needs well under 10).
const MAX_SWEEPS: usize = 60;

impl<T: Real, const D: usize> Rotation<T, D> {
    /// The real Schur form of an orthogonal Q with det Q = +1 (the method is in the module
    /// docs).
    ///
    /// [`Error::NonFinite`] for a non-finite entry; [`Error::NoConvergence`] when a Jacobi sweep
    /// did not converge, or when the result is not the Schur form of an orthogonal matrix with
    /// det +1 to working precision (an odd number of -1 eigenvalues, a fixed vector that is not
    /// +-1, or ||S^T Q S - B||_F above 64 D^2 eps): Q was not orthogonal, which
    /// [`super::Polar`] rules out.
    ///
    /// ```
    /// use nearid::{Matrix, factor::Rotation};
    /// let minus_i = -Matrix::<f64, 4, 4>::identity(); // two planes turned by pi
    /// let rot = Rotation::new(&minus_i).unwrap();
    /// assert_eq!(rot.planes().len(), 2);
    /// assert!(rot.planes().iter().all(|p| (p.angle.abs() - core::f64::consts::PI).abs() < 1e-15));
    /// assert!((rot.root(1) - minus_i).norm() < 1e-14);
    /// ```
    pub fn new(q: &Matrix<T, D, D>) -> Result<Self> {
        if !q.iter().all(|v| Scalar::is_finite(*v)) {
            return Err(Error::NonFinite);
        }
        let real = <T as Scalar>::from_f64;
        let half = real(0.5);
        let identity = identity_matrix::<T, D>();
        let c = (q + q.transpose()) * half; // (D, D) symmetric
        let k = (q - q.transpose()) * half; // (D, D) skew

        // 1. C = V diag(c_i) V^T, from the SVD of C + 2I (eigenvalues c_i + 2 in [1, 3]).
        let eig = Svd::new(&(c + identity * real(2.0)))?;
        let cos: [T; D] = core::array::from_fn(|i| eig.k[i] - real(2.0));
        // Columns in decreasing c.
        let mut order: [usize; D] = core::array::from_fn(|i| i);
        order.sort_unstable_by(|&a, &b| {
            cos[b]
                .partial_cmp(&cos[a])
                .unwrap_or(core::cmp::Ordering::Equal)
        });
        let mut s = Matrix::<T, D, D>::from_fn(|r, j| eig.v[(r, order[j])]);
        let sorted: [T; D] = core::array::from_fn(|j| cos[order[j]]);

        // 2. The parts: [0, a) near 0, [a, b) middle, [b, D) near pi.
        let c1 = widest_gap(&sorted, real(WINDOW_LO), real(WINDOW_HI));
        let c2 = widest_gap(&sorted, real(-WINDOW_HI), real(-WINDOW_LO));
        let a = sorted.iter().take_while(|&&x| x > c1).count();
        let b = sorted.iter().take_while(|&&x| x > c2).count().max(a);

        // 3. Block-diagonalise the part's monotone skew function.
        let mut kp = s.transpose() * k * s;
        let cp = s.transpose() * c * s + identity * real(LAMBDA);
        let mut fp = (cp * kp + kp * cp) * half;
        skew_jacobi(&mut kp, &mut s, 0, a)?;
        skew_jacobi(&mut fp, &mut s, a, b)?;
        skew_jacobi(&mut kp, &mut s, b, D)?;

        // Rotations keep S orthogonal to rounding; two Newton-Schulz steps
        // S <- S (3 I - S^T S) / 2 make it so to the last bits before the angles are read.
        for _ in 0..2 {
            let gram = s.transpose() * s;
            s *= identity * real(1.5) - gram * half;
        }
        let t = s.transpose() * q * s;

        // 4. Planes: the 2x2 blocks of each part; a part of odd size ends with a fixed vector,
        // +1, or -1 waiting for a partner.
        let tol = real(64.0 * (D * D) as f64) * T::default_epsilon();
        let empty = Plane {
            i: 0,
            j: 0,
            angle: T::ZERO,
        };
        let mut planes = [empty; D];
        let mut count = 0;
        let mut pending: Option<usize> = None;
        for (lo, hi) in [(0, a), (a, b), (b, D)] {
            let mut i = lo;
            while i < hi {
                let plane = if i + 1 < hi {
                    i += 2;
                    Some(plane_of(&t, i - 2, i - 1))
                } else {
                    let d = t[(i, i)];
                    i += 1;
                    if Scalar::abs(d - T::ONE) <= tol {
                        None
                    } else if Scalar::abs(d + T::ONE) <= tol {
                        match pending.take() {
                            None => {
                                pending = Some(i - 1);
                                None
                            }
                            Some(first) => Some(plane_of(&t, first, i - 1)),
                        }
                    } else {
                        return Err(Error::NoConvergence);
                    }
                };
                if let Some(p) = plane {
                    let slot = planes.get_mut(count).ok_or(Error::NoConvergence)?;
                    *slot = p;
                    count += 1;
                }
            }
        }
        if pending.is_some() {
            return Err(Error::NoConvergence);
        }
        let rotation = Self { s, planes, count };
        let residual = (t - rotation.block_root(1)).norm();
        if !matches!(
            residual.partial_cmp(&tol),
            Some(core::cmp::Ordering::Less | core::cmp::Ordering::Equal)
        ) {
            return Err(Error::NoConvergence);
        }
        Ok(rotation)
    }

    /// The planes and their angles.
    pub fn planes(&self) -> &[Plane<T>] {
        self.planes.get(..self.count).unwrap_or(&[])
    }

    /// The largest |theta_j| (0 for the identity).
    pub fn max_angle(&self) -> T {
        self.planes()
            .iter()
            .fold(T::ZERO, |m, p| Scalar::max(m, Scalar::abs(p.angle)))
    }

    /// ||Q^(1/q) - I|| = max_j 2 |sin(theta_j / 2q)|, for q >= 1.
    pub fn root_norm(&self, q: usize) -> T {
        let half = <T as Scalar>::from_f64(0.5 / q.max(1) as f64);
        self.planes().iter().fold(T::ZERO, |m, p| {
            Scalar::max(
                m,
                <T as Scalar>::from_f64(2.0) * Scalar::abs((p.angle * half).sin()),
            )
        })
    }

    /// Q^(1/q) = S diag(T(theta_j / q), 1, ...) S^T: (D, D), for q >= 1.
    pub fn root(&self, q: usize) -> Matrix<T, D, D> {
        self.s * self.block_root(q) * self.s.transpose()
    }

    /// Q^(1/q) - I = S (diag(T(theta_j / q), 1, ...) - I) S^T: (D, D), formed without the
    /// cancellation of subtracting I from a matrix close to I.
    pub fn root_perturbation(&self, q: usize) -> Matrix<T, D, D> {
        let mut b = self.block_root(q);
        let inv = <T as Scalar>::from_f64(1.0 / q.max(1) as f64);
        for p in self.planes() {
            // cos(x) - 1 = -2 sin^2(x / 2), exact in relative terms for small x.
            let h = (p.angle * inv * <T as Scalar>::from_f64(0.5)).sin();
            let c1 = -<T as Scalar>::from_f64(2.0) * h * h;
            b[(p.i, p.i)] = c1;
            b[(p.j, p.j)] = c1;
        }
        for k in 0..D {
            if !self.planes().iter().any(|p| p.i == k || p.j == k) {
                b[(k, k)] = T::ZERO;
            }
        }
        self.s * b * self.s.transpose()
    }

    /// Q = S B S^T, the rotation the planes represent, formed in f64 (for the error bound of
    /// [`super::factorize_into`]: in T, cos(theta) of a tiny angle rounds to 1).
    pub(crate) fn rotation_f64(&self) -> Matrix<f64, D, D> {
        let mut b = Matrix::<f64, D, D>::identity();
        for p in self.planes() {
            let (sin, cos) = libm::sincos(Scalar::to_f64(p.angle));
            b[(p.i, p.i)] = cos;
            b[(p.j, p.j)] = cos;
            b[(p.j, p.i)] = sin;
            b[(p.i, p.j)] = -sin;
        }
        let s = self.s.map(Scalar::to_f64);
        s * b * s.transpose()
    }

    fn block_root(&self, q: usize) -> Matrix<T, D, D> {
        let mut b = identity_matrix::<T, D>();
        let inv = <T as Scalar>::from_f64(1.0 / q.max(1) as f64);
        for p in self.planes() {
            let (sin, cos) = (p.angle * inv).sin_cos();
            b[(p.i, p.i)] = cos;
            b[(p.j, p.j)] = cos;
            b[(p.j, p.i)] = sin;
            b[(p.i, p.j)] = -sin;
        }
        b
    }
}

/// The midpoint of the widest gap between consecutive values of `sorted` (decreasing) that lie
/// in [lo, hi], the window's ends counted as values (the first from the top at a tie): a split
/// point at least (hi - lo) / (n + 1) / 2 from every value, n the number of values inside.
fn widest_gap<T: Real, const D: usize>(sorted: &[T; D], lo: T, hi: T) -> T {
    let half = <T as Scalar>::from_f64(0.5);
    let mut above = hi;
    let (mut width, mut mid) = (-T::ONE, (hi + lo) * half);
    let inside = sorted.iter().copied().filter(|&x| x < hi && x > lo);
    for x in inside.chain(core::iter::once(lo)) {
        if above - x > width {
            (width, mid) = (above - x, (above + x) * half);
        }
        above = x;
    }
    mid
}

/// Brings the skew-symmetric `f` on the indices lo..hi to 2x2 block-diagonal form, blocks
/// (lo, lo + 1), (lo + 2, lo + 3), ... and a last 1x1 block when hi - lo is odd, by cyclic
/// sweeps over pairs of blocks; each step is an exact orthogonal similarity of the pair's
/// (4 x 4 or 3 x 3) principal submatrix that zeroes its coupling, applied to the rows and
/// columns of `f` and the columns of `s`. The coupling's Frobenius norm falls by what each step
/// zeroes (the similarity keeps ||f||_F), so the sweeps converge; a pair is skipped when its
/// coupling is below 4 eps (f has norm at most 1.6: it is K or the middle part's function).
fn skew_jacobi<T: Real, const D: usize>(
    f: &mut Matrix<T, D, D>,
    s: &mut Matrix<T, D, D>,
    lo: usize,
    hi: usize,
) -> Result<()> {
    let tol = <T as Scalar>::from_f64(4.0) * T::default_epsilon();
    // Unit u covers indices start(u) .. start(u) + size(u).
    let units = (hi.saturating_sub(lo)).div_ceil(2);
    let size = |u: usize| if lo + 2 * u + 1 < hi { 2 } else { 1 };
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for ua in 0..units {
            for ub in (ua + 1)..units {
                let (a0, b0) = (lo + 2 * ua, lo + 2 * ub);
                // Only the last unit can be 1x1.
                let coupling = if size(ub) == 2 {
                    Scalar::sqrt(
                        f[(b0, a0)] * f[(b0, a0)]
                            + f[(b0, a0 + 1)] * f[(b0, a0 + 1)]
                            + f[(b0 + 1, a0)] * f[(b0 + 1, a0)]
                            + f[(b0 + 1, a0 + 1)] * f[(b0 + 1, a0 + 1)],
                    )
                } else {
                    Scalar::sqrt(f[(b0, a0)] * f[(b0, a0)] + f[(b0, a0 + 1)] * f[(b0, a0 + 1)])
                };
                if coupling.partial_cmp(&tol) != Some(core::cmp::Ordering::Greater) {
                    continue;
                }
                rotated = true;
                if size(ub) == 2 {
                    let idx = [a0, a0 + 1, b0, b0 + 1];
                    let g = quaternion_step(f, &idx);
                    apply(f, s, &idx, &g);
                } else {
                    let idx = [a0, a0 + 1, b0];
                    let g = axis_step(f, &idx);
                    apply(f, s, &idx, &g);
                }
            }
        }
        if !rotated {
            return Ok(());
        }
    }
    Err(Error::NoConvergence)
}

/// The 4 x 4 rotation G that block-diagonalises the skew M = f[idx, idx] into the planes
/// (0, 1), (2, 3): G^T M G = diag(x J, y J).
///
/// Identify R^4 with the quaternions (basis 1, i, j, k). Every skew 4 x 4 M is L_u + R_v, left
/// and right multiplication by pure quaternions u, v; G x = g x h~ (g, h unit) turns it into
/// L_(g~ u g) + R_(h~ v h), rotating u and v independently. M is block-diagonal exactly when u
/// and v are multiples of i, so g~ and h~ are the smallest rotations taking u and v to +-|u| i
/// and +-|v| i.
fn quaternion_step<T: Real, const D: usize>(f: &Matrix<T, D, D>, idx: &[usize; 4]) -> [[T; 4]; 4] {
    let m = |r: usize, c: usize| f[(idx[r], idx[c])];
    let half = <T as Scalar>::from_f64(0.5);
    let u = [
        (m(1, 0) + m(3, 2)) * half,
        (m(2, 0) - m(3, 1)) * half,
        (m(3, 0) + m(2, 1)) * half,
    ];
    let v = [
        (m(1, 0) - m(3, 2)) * half,
        (m(2, 0) + m(3, 1)) * half,
        (m(3, 0) - m(2, 1)) * half,
    ];
    let ru = to_axis(u); // g = conj(ru)
    let rv = to_axis(v); // h~ = rv
    let g = [ru[0], -ru[1], -ru[2], -ru[3]];
    let left = left_matrix(g);
    let right = right_matrix(rv);
    let mut out = [[T::ZERO; 4]; 4];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = (0..4).fold(T::ZERO, |acc, k| acc + left[r][k] * right[k][c]);
        }
    }
    out
}

/// The unit quaternion r with r w r~ = +-|w| i (the sign of w_1), the smallest such rotation:
/// r = (|w| + |w_1|, 0, +-w_3, -+w_2) normalised (r = 1 for w = 0).
fn to_axis<T: Real>(w: [T; 3]) -> [T; 4] {
    let norm = Scalar::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    let sign = if w[0] < T::ZERO { -T::ONE } else { T::ONE };
    let r = [norm + Scalar::abs(w[0]), T::ZERO, sign * w[2], -sign * w[1]];
    let n = Scalar::sqrt(r[0] * r[0] + r[2] * r[2] + r[3] * r[3]);
    if n > T::ZERO && Scalar::is_finite(n) {
        [r[0] / n, T::ZERO, r[2] / n, r[3] / n]
    } else {
        [T::ONE, T::ZERO, T::ZERO, T::ZERO]
    }
}

/// x -> q x as a 4 x 4 matrix (basis 1, i, j, k).
fn left_matrix<T: Real>(q: [T; 4]) -> [[T; 4]; 4] {
    let [a, b, c, d] = q;
    [[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]]
}

/// x -> x q as a 4 x 4 matrix (basis 1, i, j, k).
fn right_matrix<T: Real>(q: [T; 4]) -> [[T; 4]; 4] {
    let [a, b, c, d] = q;
    [[a, -b, -c, -d], [b, a, d, -c], [c, -d, a, b], [d, c, -b, a]]
}

/// The 3 x 3 rotation G that block-diagonalises the skew M = f[idx, idx] into the plane (0, 1)
/// and the fixed index 2: M x = w x x with w = (m21, -m20, m10), and G^T M G = [G^T w]_x, so G
/// is the smallest rotation taking +-e_3 to w / |w| (Rodrigues).
fn axis_step<T: Real, const D: usize>(f: &Matrix<T, D, D>, idx: &[usize; 3]) -> [[T; 3]; 3] {
    let m = |r: usize, c: usize| f[(idx[r], idx[c])];
    let w = [m(2, 1), -m(2, 0), m(1, 0)];
    let norm = Scalar::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    let mut g = [[T::ZERO; 3]; 3];
    for (i, row) in g.iter_mut().enumerate() {
        row[i] = T::ONE;
    }
    if !(norm > T::ZERO && Scalar::is_finite(norm)) {
        return g;
    }
    let sign = if w[2] < T::ZERO { -T::ONE } else { T::ONE };
    // k = (sign e3) x (w / |w|), cos = |w_3| / |w|.
    let k = [-sign * w[1] / norm, sign * w[0] / norm, T::ZERO];
    let cos = Scalar::abs(w[2]) / norm;
    let kx = [
        [T::ZERO, -k[2], k[1]],
        [k[2], T::ZERO, -k[0]],
        [-k[1], k[0], T::ZERO],
    ];
    let scale = T::ONE / (T::ONE + cos);
    for r in 0..3 {
        for c in 0..3 {
            let kk = (0..3).fold(T::ZERO, |acc, j| acc + kx[r][j] * kx[j][c]);
            g[r][c] += kx[r][c] + kk * scale;
        }
    }
    g
}

/// f <- G^T f G and s <- s G on the indices `idx` (G: N x N), then f made exactly skew on the
/// rows and columns touched.
fn apply<T: Real, const D: usize, const N: usize>(
    f: &mut Matrix<T, D, D>,
    s: &mut Matrix<T, D, D>,
    idx: &[usize; N],
    g: &[[T; N]; N],
) {
    for x in [&mut *f, &mut *s] {
        for r in 0..D {
            let old: [T; N] = core::array::from_fn(|m| x[(r, idx[m])]);
            for (j, &col) in idx.iter().enumerate() {
                x[(r, col)] = (0..N).fold(T::ZERO, |acc, m| acc + old[m] * g[m][j]);
            }
        }
    }
    for c in 0..D {
        let old: [T; N] = core::array::from_fn(|m| f[(idx[m], c)]);
        for (j, &row) in idx.iter().enumerate() {
            f[(row, c)] = (0..N).fold(T::ZERO, |acc, m| acc + g[m][j] * old[m]);
        }
    }
    let half = <T as Scalar>::from_f64(0.5);
    for &r in idx {
        for c in 0..D {
            let skew = (f[(r, c)] - f[(c, r)]) * half;
            f[(r, c)] = skew;
            f[(c, r)] = -skew;
        }
    }
}

/// The angle of the rotation closest to the 2x2 block t[[i, j], [i, j]]: for
/// [[a, b], [c, d]] it is atan2((c - b) / 2, (a + d) / 2), exact for a rotation.
fn plane_of<T: Real, const D: usize>(t: &Matrix<T, D, D>, i: usize, j: usize) -> Plane<T> {
    let half = <T as Scalar>::from_f64(0.5);
    let angle = ((t[(j, i)] - t[(i, j)]) * half).atan2((t[(i, i)] + t[(j, j)]) * half);
    Plane { i, j, angle }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split point is the midpoint of the widest gap between the values strictly inside the
    /// window, its ends counted as values (dyadic values: every difference is exact).
    #[test]
    fn widest_gap_splits_at_the_middle_of_the_widest_gap() {
        // Inside (0, 1): 0.75, 0.5, 0.125; gaps from the top 0.25, 0.25, 0.375, 0.125.
        assert_eq!(widest_gap(&[1.5, 0.75, 0.5, 0.125, -1.0], 0.0, 1.0), 0.3125);
        // Nothing inside: the window's middle.
        assert_eq!(widest_gap(&[2.0, -1.0, -2.0], 0.0, 1.0), 0.5);
        // Values on the ends are the ends: gaps 0.75, 0.25.
        assert_eq!(widest_gap(&[1.0, 0.25, 0.0], 0.0, 1.0), 0.625);
        // A tie: four gaps of 0.25, the first from the top is taken.
        assert_eq!(widest_gap(&[1.5, 0.75, 0.5, 0.25, -1.0], 0.0, 1.0), 0.875);
        // The near-0 part's window [WINDOW_LO, WINDOW_HI] with one value inside, off-centre.
        let (lo, hi) = (WINDOW_LO, WINDOW_HI);
        let x = lo + 0.25 * (hi - lo);
        assert_eq!(widest_gap(&[0.9, x, 0.0, -0.5], lo, hi), (hi + x) / 2.0);
    }

    /// A skew 4 x 4 with every coupling entry non-zero becomes block-diagonal in one step,
    /// with an orthogonal G.
    #[test]
    fn one_quaternion_step_block_diagonalises_a_4x4() {
        let mut rng = crate::Rng::new(4);
        for _ in 0..50 {
            let a = Matrix::<f64, 4, 4>::from_fn(|_, _| rng.normal());
            assert_one_step_splits(a - a.transpose());
        }
    }

    /// One quaternion step on the skew 4 x 4 `f`: G orthogonal, the planes (0, 1), (2, 3)
    /// uncoupled.
    fn assert_one_step_splits(mut f: Matrix<f64, 4, 4>) {
        let mut s = Matrix::<f64, 4, 4>::identity();
        let g = quaternion_step(&f, &[0, 1, 2, 3]);
        apply(&mut f, &mut s, &[0, 1, 2, 3], &g);
        assert!((s.transpose() * s - Matrix::<f64, 4, 4>::identity()).norm() < 1e-14);
        for (r, c) in [(2, 0), (2, 1), (3, 0), (3, 1)] {
            assert!(f[(r, c)].abs() < 1e-14, "{f}");
        }
    }

    /// M = L_u (v = 0) and M = R_v (u = 0): the other quaternion is zero, its rotation is the
    /// identity (to_axis of 0), and the step still block-diagonalises with an orthogonal G.
    #[test]
    fn a_quaternion_step_with_one_part_zero_is_finite() {
        let pure = [0.0, 0.3, -0.4, 1.2];
        for m in [left_matrix(pure), right_matrix(pure)] {
            let f = Matrix::<f64, 4, 4>::from_fn(|r, c| m[r][c]);
            assert!((f + f.transpose()).norm() == 0.0, "L_u and R_v are skew");
            assert_one_step_splits(f);
        }
        assert_eq!(to_axis([0.0f64; 3]), [1.0, 0.0, 0.0, 0.0]);
    }

    /// Two 2 x 2 units coupled through one entry alone: the sweep must see that entry (the
    /// coupling is the norm of all four) and block-diagonalise them.
    #[test]
    fn a_single_coupling_entry_is_seen() {
        for (r, c) in [(2, 0), (2, 1), (3, 0), (3, 1)] {
            let mut f = Matrix::<f64, 4, 4>::zeros();
            (f[(1, 0)], f[(3, 2)], f[(r, c)]) = (0.3, 0.9, 0.7);
            f -= f.transpose();
            let mut s = Matrix::<f64, 4, 4>::identity();
            skew_jacobi(&mut f, &mut s, 0, 4).unwrap();
            for (i, j) in [(2, 0), (2, 1), (3, 0), (3, 1)] {
                assert!(f[(i, j)].abs() < 1e-14, "entry ({r}, {c}): {f}");
            }
            assert!((s.transpose() * s - Matrix::<f64, 4, 4>::identity()).norm() < 1e-14);
        }
        // A 2 x 2 unit and a last 1 x 1 one, coupled through (2, 0) or (2, 1) alone, or
        // through both with 2 f20 + f21^2 = 0 (a sum that is not the norm would vanish).
        for (f20, f21) in [(0.7, 0.0), (0.0, 0.7), (-0.245, 0.7)] {
            let mut f = Matrix::<f64, 3, 3>::zeros();
            (f[(1, 0)], f[(2, 0)], f[(2, 1)]) = (0.3, f20, f21);
            f -= f.transpose();
            let mut s = Matrix::<f64, 3, 3>::identity();
            skew_jacobi(&mut f, &mut s, 0, 3).unwrap();
            assert!(
                f[(2, 0)].abs() < 1e-14 && f[(2, 1)].abs() < 1e-14,
                "({f20}, {f21}): {f}"
            );
        }
    }

    /// Nothing to rotate (w = 0): the 3 x 3 step is the identity, not 0 / 0.
    #[test]
    fn an_axis_step_of_zero_is_the_identity() {
        let g = axis_step(&Matrix::<f64, 3, 3>::zeros(), &[0, 1, 2]);
        assert_eq!(g, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }

    #[test]
    fn one_axis_step_block_diagonalises_a_3x3() {
        let mut rng = crate::Rng::new(3);
        for _ in 0..50 {
            let a = Matrix::<f64, 3, 3>::from_fn(|_, _| rng.normal());
            let mut f = a - a.transpose();
            let mut s = Matrix::<f64, 3, 3>::identity();
            let g = axis_step(&f, &[0, 1, 2]);
            apply(&mut f, &mut s, &[0, 1, 2], &g);
            assert!((s.transpose() * s - Matrix::<f64, 3, 3>::identity()).norm() < 1e-14);
            assert!(f[(2, 0)].abs() < 1e-14 && f[(2, 1)].abs() < 1e-14, "{f}");
        }
    }

    #[test]
    fn the_widest_gap_is_found_inside_the_window() {
        let sorted = [0.9, 0.5, 0.4, 0.2, -0.3];
        let split = widest_gap(&sorted, 0.15, 0.45);
        assert!((split - 0.3).abs() < 1e-15, "{split}");
        assert!((widest_gap(&[1.0, -1.0], 0.15, 0.45) - 0.3).abs() < 1e-15);
    }
}
