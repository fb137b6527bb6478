//! The float kernels (`ByUnit`, `Lanes`) against the reference kernels on a table of shapes x
//! batch sizes, for the test crates float_kernels_f32.rs and float_kernels_f64.rs: 36
//! instances of the four matrix kernels per format, one test crate per format so that the two
//! compile side by side (one crate of both took 22 s of a mutant's 23.5 s rebuild, on 2 cores;
//! see core/tests/kernels.rs for what the other kernels are held to).
//!
//! Bounds, with u the unit roundoff (eps / 2) and gamma_n = n u / (1 - n u) (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, 2nd ed., section 3.1): a dot product of n
//! terms summed in any order is within gamma_n sum_i |a_i b_i| of the exact one.

use crate::common::{batch_of, bits, matrix};
use nearid::kernels::{ByUnit, Kernels, Lanes, Reference};
use nearid::{Real, Rng, RoundingState, Scalar};

/// u for the type (f32: 2^-24, f64: 2^-53).
fn unit<T: Real>() -> f64 {
    if core::mem::size_of::<T>() == 4 {
        f64::from(f32::EPSILON) / 2.0
    } else {
        f64::EPSILON / 2.0
    }
}

fn gamma<T: Real>(n: usize) -> f64 {
    let nu = n as f64 * unit::<T>();
    nu / (1.0 - nu)
}

/// The four matrix kernels of K against the reference, for floats.
///
/// - W x: the same order of additions in every kernel: the same bits.
/// - W^T g: out_j = base_j + W[:, j] . g. Each kernel's dot is within gamma_R S_j of the exact
///   s_j (S_j = sum_i |W_ij g_i|), and the addition of the base rounds once more:
///   |out_K - out_ref| <= 2 u (|base_j| + S_j) + 2 gamma_R S_j (1 + u).
/// - the update: the reference forms w - eta (sum_b u_b v_b), the fused kernels
///   w - sum_b (eta v_b) u_b; both are within a few roundings of the exact update, per weight
///   |fused - ref| <= 2 (B + 1) u sum_b |eta u_b v_b| + 2 u |w'| (B + 1 products and partial
///   sums of the step round once each, and w - step once more).
/// - the norm: each term (u_b . u_c)(v_b . v_c) carries the errors of its two dots and its
///   product, and the B (B + 1) / 2 terms are summed once: |K - ref| <=
///   2 (gamma_R + gamma_C + gamma_R gamma_C + u + gamma_(B^2)) sum_{b,c} X_bc Y_bc with
///   X_bc = sum_i |u_bi u_ci| and Y_bc the same for v (1 for the bias).
fn float_matrix_kernels<T: Real, K: Kernels<T>, const R: usize, const C: usize, const B: usize>(
    name: &str,
    same_dots: bool,
    seed: u64,
) {
    let case = format!("{name} {R}x{C} B={B}");
    let mut rng = Rng::new(seed);
    let w = matrix::<T, R, C>(&mut rng, 0.5);
    let xs = batch_of::<T, C, B>(&mut rng);
    let gs = batch_of::<T, R, B>(&mut rng);
    let base_r = batch_of::<T, R, B>(&mut rng);
    let base_c = batch_of::<T, C, B>(&mut rng);
    let u = unit::<T>();

    let (mut y_k, mut y_ref) = (base_r, base_r);
    K::mat_vec(&w, xs.each_ref(), &mut y_k);
    Reference::mat_vec(&w, xs.each_ref(), &mut y_ref);
    assert_eq!(bits(&y_k), bits(&y_ref), "{case}: W x");

    let (mut o_k, mut o_ref) = (base_c, base_c);
    K::mat_t_vec(&w, gs.each_ref(), &mut o_k);
    Reference::mat_t_vec(&w, gs.each_ref(), &mut o_ref);
    if same_dots {
        assert_eq!(bits(&o_k), bits(&o_ref), "{case}: W^T g");
    } else {
        let mut worst = 0.0f64;
        for b in 0..B {
            for j in 0..C {
                let s: f64 = (0..R).map(|i| (w[(i, j)] * gs[b][i]).to_f64().abs()).sum();
                let bound = 2.0 * u * (base_c[b][j].to_f64().abs() + s)
                    + 2.0 * gamma::<T>(R) * s * (1.0 + u);
                let diff = (o_k[b][j] - o_ref[b][j]).to_f64().abs();
                assert!(
                    diff <= bound,
                    "{case}: W^T g [{b}][{j}] differs by {diff:e} > {bound:e}"
                );
                worst = worst.max(diff / bound);
            }
        }
        println!("{case}: W^T g within {worst:.3} of its bound");
    }

    // The update, with factors u_b = g_b and v_b = x_b, and a bias.
    let eta = <T as Scalar>::from_f64(0.0375);
    let bias = batch_of::<T, R, 1>(&mut rng)[0];
    let (mut w_k, mut b_k, mut w_ref, mut b_ref) = (w, bias, w, bias);
    K::update(
        &mut w_k,
        Some(&mut b_k),
        gs.each_ref(),
        xs.each_ref(),
        eta,
        &mut T::Rounding::new(Default::default()),
    );
    Reference::update(
        &mut w_ref,
        Some(&mut b_ref),
        gs.each_ref(),
        xs.each_ref(),
        eta,
        &mut T::Rounding::new(Default::default()),
    );
    let entries = (0..R * C)
        .map(|e| (e % R, Some(e / R)))
        .chain((0..R).map(|j| (j, None)));
    for (j, k) in entries {
        let (old, new_k, new_ref) = match k {
            Some(k) => (w[(j, k)], w_k[(j, k)], w_ref[(j, k)]),
            None => (bias[j], b_k[j], b_ref[j]),
        };
        let v = |b: usize| k.map_or(T::ONE, |k| xs[b][k]);
        // The fused definition, from the first term.
        let step = (1..B).fold(eta * v(0) * gs[0][j], |s, b| s + eta * v(b) * gs[b][j]);
        assert_eq!(
            bits(&new_k),
            bits(&(old - step)),
            "{case}: update ({j}, {k:?}) vs its definition"
        );
        let scale: f64 = (0..B).map(|b| (eta * gs[b][j] * v(b)).to_f64().abs()).sum();
        let bound = 2.0 * (B as f64 + 1.0) * u * scale
            + 2.0 * u * new_k.to_f64().abs().max(new_ref.to_f64().abs());
        let diff = (new_k - new_ref).to_f64().abs();
        assert!(
            diff <= bound,
            "{case}: update ({j}, {k:?}) differs by {diff:e} > {bound:e}"
        );
    }

    let (mut n_k, mut n_ref) = (T::ZERO, T::ZERO);
    K::add_norm_sq(&mut n_k, gs.each_ref(), xs.each_ref(), true);
    Reference::add_norm_sq(&mut n_ref, gs.each_ref(), xs.each_ref(), true);
    if same_dots {
        assert_eq!(bits(&n_k), bits(&n_ref), "{case}: norm");
    } else {
        let abs_dot = |a: &[T], b: &[T]| -> f64 {
            a.iter().zip(b).map(|(x, y)| (*x * *y).to_f64().abs()).sum()
        };
        let mut sum = 0.0;
        for b in 0..B {
            for c in 0..B {
                let x = abs_dot(gs[b].as_slice(), gs[c].as_slice());
                sum += x * (abs_dot(xs[b].as_slice(), xs[c].as_slice()) + 1.0);
            }
        }
        let (gr, gc) = (gamma::<T>(R), gamma::<T>(C));
        let bound = 2.0 * (gr + gc + gr * gc + u + gamma::<T>(B * B)) * sum;
        let diff = (n_k - n_ref).to_f64().abs();
        assert!(
            diff <= bound,
            "{case}: norm differs by {diff:e} > {bound:e}"
        );
    }
}

/// Every kernel of the table against the reference for T, the kernel tests' largest part: one
/// instance of the four matrix kernels per shape, batch size and kernel type.
pub fn float_table<T: Real>(name: &str) {
    macro_rules! shapes {
        ($($r:literal x $c:literal),*) => {$(
            for (b, seed) in [(1usize, 1u64), (3, 2), (32, 3)] {
                match b {
                    1 => {
                        float_matrix_kernels::<T, ByUnit, $r, $c, 1>(&format!("{name} ByUnit"), true, seed);
                        float_matrix_kernels::<T, Lanes, $r, $c, 1>(&format!("{name} Lanes"), false, seed);
                    }
                    3 => {
                        float_matrix_kernels::<T, ByUnit, $r, $c, 3>(&format!("{name} ByUnit"), true, seed);
                        float_matrix_kernels::<T, Lanes, $r, $c, 3>(&format!("{name} Lanes"), false, seed);
                    }
                    _ => {
                        float_matrix_kernels::<T, ByUnit, $r, $c, 32>(&format!("{name} ByUnit"), true, seed);
                        float_matrix_kernels::<T, Lanes, $r, $c, 32>(&format!("{name} Lanes"), false, seed);
                    }
                }
            }
        )*};
    }
    // Multiples of 16, of 8 only, of neither; single rows and columns; both orientations of
    // the firmware's blocks.
    shapes!(1 x 1, 3 x 16, 16 x 3, 13 x 21, 24 x 40, 64 x 9);
}
