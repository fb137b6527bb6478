//! Register-blocked kernels for a mini-batch of B samples on desktop targets: the matrix-matrix
//! forms of [`crate::kernels`] and of the fused SGD update.
//!
//! One sample at a time, every layer is a matrix-vector product: each weight is loaded for two
//! flops, and a network larger than the cache is streamed from memory once per sample. Here a
//! tile of weights (a few vector registers of a column) is loaded once and used for several
//! samples held in registers, and a whole layer runs for the batch before the next one, so its
//! weights stay in cache.
//!
//! Every output keeps the operation order of the per-sample kernel, so the results equal
//! [`mat_vec_add`], [`base_plus_mat_t_vec`] (with the 8 lanes of [`Scalar::dot`] on targets
//! with vector units) and [`Scalar::sgd_column`] to the bit: only the loop order over outputs
//! changes. The kernels serve float scalars on targets with f32 vector units and B > 1
//! ([`batched`]); fixed-point formats (which accumulate wide) and microcontrollers keep the
//! per-sample code.

use core::any::TypeId;

use crate::kernels::{base_plus_mat_t_vec, mat_vec_add};
use crate::scalar::VECTOR_UNITS;
use crate::{Matrix, Scalar, Vector};

/// True when a batch of B samples of `T` takes the kernels of this module: B > 1, f32 or f64,
/// on a target with vector units ([`VECTOR_UNITS`]). Elsewhere the networks run sample by
/// sample, as they do at B = 1.
#[inline(always)]
pub fn batched<T: Scalar, const B: usize>() -> bool {
    B > 1
        && VECTOR_UNITS
        && (TypeId::of::<T>() == TypeId::of::<f32>() || TypeId::of::<T>() == TypeId::of::<f64>())
}

/// 256-bit vector registers (AVX): tiles twice as wide.
const WIDE: bool = cfg!(target_feature = "avx");

/// Rows of a register tile: two vector registers of `T`.
#[inline(always)]
fn tile_rows<T>() -> usize {
    let lanes = if WIDE { 32 } else { 16 } / core::mem::size_of::<T>().max(1);
    2 * lanes
}

/// ys[b] += W xs[b] for every sample b, with W: (R, C), xs[b]: (C), ys[b]: (R).
///
/// Each entry of ys[b] adds its C products x_j W[r, j] in column order j = 0, 1, ..., as
/// [`mat_vec_add`] does (C axpys), so the result is the same to the bit. Tiles of rows x 4
/// samples stay in registers while the columns stream past.
pub fn mat_mat_add<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &Matrix<T, R, C>,
    xs: &[Vector<T, C>; B],
    ys: &mut [Vector<T, R>; B],
) {
    match tile_rows::<T>() {
        32 => mat_mat_add_tiled::<T, R, C, B, 32>(w, xs, ys),
        16 => mat_mat_add_tiled::<T, R, C, B, 16>(w, xs, ys),
        _ => mat_mat_add_tiled::<T, R, C, B, 8>(w, xs, ys),
    }
}

/// Samples per register tile in [`mat_mat_add`] and [`sgd_update`]'s columns.
const NB: usize = 4;

fn mat_mat_add_tiled<T: Scalar, const R: usize, const C: usize, const B: usize, const RT: usize>(
    w: &Matrix<T, R, C>,
    xs: &[Vector<T, C>; B],
    ys: &mut [Vector<T, R>; B],
) {
    let columns: &[[T; R]; C] = &w.data.0;
    let mut b0 = 0;
    while b0 + NB <= B {
        let x: [&[T; C]; NB] = core::array::from_fn(|s| &xs[b0 + s].data.0[0]);
        let y = &mut ys[b0..b0 + NB];
        let mut r0 = 0;
        r0 = rows_tile::<T, R, C, RT>(columns, &x, y, r0);
        r0 = rows_tile::<T, R, C, 8>(columns, &x, y, r0);
        // The last R mod 8 rows one entry at a time, in the same order.
        for r in r0..R {
            for (s, y) in y.iter_mut().enumerate() {
                let mut v = y.data.0[0][r];
                for (j, column) in columns.iter().enumerate() {
                    v += x[s][j] * column[r];
                }
                y.data.0[0][r] = v;
            }
        }
        b0 += NB;
    }
    for b in b0..B {
        mat_vec_add(w, &xs[b], &mut ys[b]);
    }
}

/// The tiles of RT rows from row r0 on, for NB samples; returns the first row not done.
#[inline(always)]
fn rows_tile<T: Scalar, const R: usize, const C: usize, const RT: usize>(
    columns: &[[T; R]; C],
    x: &[&[T; C]; NB],
    y: &mut [Vector<T, R>],
    mut r0: usize,
) -> usize {
    while r0 + RT <= R {
        let mut acc: [[T; RT]; NB] =
            core::array::from_fn(|s| core::array::from_fn(|r| y[s].data.0[0][r0 + r]));
        for (j, column) in columns.iter().enumerate() {
            let wc = &column[r0..r0 + RT];
            for s in 0..NB {
                let xj = x[s][j];
                for r in 0..RT {
                    acc[s][r] += xj * wc[r];
                }
            }
        }
        for (s, acc) in acc.iter().enumerate() {
            y[s].data.0[0][r0..r0 + RT].copy_from_slice(acc);
        }
        r0 += RT;
    }
    r0
}

/// outs[b] += W^T gs[b] for every sample b, with W: (R, C), gs[b]: (R), outs[b]: (C) holding
/// the base on entry: outs[b][j] = base + W[:, j] . gs[b], as [`base_plus_mat_t_vec`] computes
/// it, to the bit: each dot product keeps the 8 partial sums of [`Scalar::dot`] (lanes i mod 8,
/// added pairwise at the end). Tiles of 2 columns x NT samples of 8-lane sums stay in registers.
pub fn base_plus_mat_t_mat<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &Matrix<T, R, C>,
    gs: &[Vector<T, R>; B],
    outs: &mut [Vector<T, C>; B],
) {
    if WIDE && core::mem::size_of::<T>() == 4 {
        mat_t_mat_tiled::<T, R, C, B, 4>(w, gs, outs)
    } else {
        mat_t_mat_tiled::<T, R, C, B, 2>(w, gs, outs)
    }
}

fn mat_t_mat_tiled<T: Scalar, const R: usize, const C: usize, const B: usize, const NT: usize>(
    w: &Matrix<T, R, C>,
    gs: &[Vector<T, R>; B],
    outs: &mut [Vector<T, C>; B],
) {
    const JT: usize = 2;
    let columns: &[[T; R]; C] = &w.data.0;
    let mut b0 = 0;
    while b0 + NT <= B {
        let g: [&[T]; NT] = core::array::from_fn(|s| gs[b0 + s].as_slice());
        let mut j0 = 0;
        while j0 + JT <= C {
            let a: [&[T]; JT] = core::array::from_fn(|t| columns[j0 + t].as_slice());
            let d = dots::<T, JT, NT>(&a, &g);
            for t in 0..JT {
                for s in 0..NT {
                    outs[b0 + s].data.0[0][j0 + t] += d[t][s];
                }
            }
            j0 += JT;
        }
        for j in j0..C {
            for s in 0..NT {
                outs[b0 + s].data.0[0][j] += T::dot(&columns[j], g[s]);
            }
        }
        b0 += NT;
    }
    for b in b0..B {
        outs[b] = base_plus_mat_t_vec(w, &gs[b], &outs[b]);
    }
}

/// d[t][s] = a[t] . b[s] over the common length n of all the slices, each with the 8 partial
/// sums of [`Scalar::dot`] (lanes i mod 8, added pairwise at the end), so each equals
/// `T::dot(a[t], b[s])` to the bit on targets with vector units. The JT x NT x 8 sums stay in
/// registers; each chunk of 8 entries of every slice is loaded once.
#[inline(always)]
pub fn dots<T: Scalar, const JT: usize, const NT: usize>(
    a: &[&[T]; JT],
    b: &[&[T]; NT],
) -> [[T; NT]; JT] {
    let n = a.iter().chain(b).map(|v| v.len()).min().unwrap_or(0);
    let ac: [(&[[T; 8]], &[T]); JT] = core::array::from_fn(|t| a[t][..n].as_chunks::<8>());
    let bc: [(&[[T; 8]], &[T]); NT] = core::array::from_fn(|s| b[s][..n].as_chunks::<8>());
    let chunks = n / 8;
    let mut lanes = [[[T::ZERO; 8]; NT]; JT];
    for c in 0..chunks {
        for t in 0..JT {
            for s in 0..NT {
                mul_add8(&mut lanes[t][s], &ac[t].0[c], &bc[s].0[c]);
            }
        }
    }
    for t in 0..JT {
        for s in 0..NT {
            for (l, (&x, &y)) in ac[t].1.iter().zip(bc[s].1).enumerate() {
                lanes[t][s][l] += x * y;
            }
        }
    }
    core::array::from_fn(|t| core::array::from_fn(|s| reduce(&lanes[t][s])))
}

/// acc[l] += a[l] b[l] for the 8 lanes.
#[inline(always)]
fn mul_add8<T: Scalar>(acc: &mut [T; 8], a: &[T; 8], b: &[T; 8]) {
    for l in 0..8 {
        acc[l] += a[l] * b[l];
    }
}

/// The pairwise sum of 8 lanes in [`Scalar::dot`]'s order.
#[inline(always)]
fn reduce<T: Scalar>(lanes: &[T; 8]) -> T {
    let [l0, l1, l2, l3, l4, l5, l6, l7] = *lanes;
    ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))
}

/// The fused plain SGD update of one column-major tensor of shape (rows, len / rows):
/// W <- W - sum_b (eta v_b) u_b^T, with us[b]: (rows) and vs[b]: (columns), or `None` for a
/// bias (v_b = 1). Each entry sums its B terms (eta v_b[k]) u_b[j] in order b = 0, 1, ... from
/// zero and subtracts the sum once, as [`Scalar::sgd_column`] does for floats, so the result is
/// the same to the bit. Tiles of rows x 4 columns stay in registers while the samples stream
/// past. Factors that do not fit the tensor leave it alone.
pub fn sgd_update<T: Scalar, const B: usize>(
    tensor: &mut [T],
    us: &[&[T]; B],
    vs: &[Option<&[T]>; B],
    eta: T,
) {
    match tile_rows::<T>() {
        32 => sgd_update_tiled::<T, B, 32>(tensor, us, vs, eta),
        16 => sgd_update_tiled::<T, B, 16>(tensor, us, vs, eta),
        _ => sgd_update_tiled::<T, B, 8>(tensor, us, vs, eta),
    }
}

fn sgd_update_tiled<T: Scalar, const B: usize, const RT: usize>(
    tensor: &mut [T],
    us: &[&[T]; B],
    vs: &[Option<&[T]>; B],
    eta: T,
) {
    let Some(rows) = us.first().map(|u| u.len()).filter(|&r| r > 0) else {
        return;
    };
    let cols = tensor.len() / rows;
    let fits = tensor.len() == rows * cols
        && us.iter().all(|u| u.len() == rows)
        && vs.iter().all(|v| v.is_none_or(|v| v.len() == cols));
    if !fits {
        return;
    }
    let mut k0 = 0;
    while k0 + NB <= cols {
        columns_tile::<T, B, RT, NB>(tensor, rows, k0, us, vs, eta);
        k0 += NB;
    }
    while k0 < cols {
        columns_tile::<T, B, RT, 1>(tensor, rows, k0, us, vs, eta);
        k0 += 1;
    }
}

/// Columns k0..k0 + KT of the update (all rows).
#[inline(always)]
fn columns_tile<T: Scalar, const B: usize, const RT: usize, const KT: usize>(
    tensor: &mut [T],
    rows: usize,
    k0: usize,
    us: &[&[T]; B],
    vs: &[Option<&[T]>; B],
    eta: T,
) {
    // a[t][b] = eta v_b[k0 + t]: each sample's factor for each column of the tile.
    let a: [[T; B]; KT] = core::array::from_fn(|t| {
        core::array::from_fn(|b| eta * vs[b].map_or(T::ONE, |v| v[k0 + t]))
    });
    let block = &mut tensor[k0 * rows..(k0 + KT) * rows];
    let mut r0 = 0;
    r0 = update_rows::<T, B, RT, KT>(block, rows, r0, us, &a);
    r0 = update_rows::<T, B, 8, KT>(block, rows, r0, us, &a);
    for r in r0..rows {
        for t in 0..KT {
            let step = us
                .iter()
                .zip(&a[t])
                .fold(T::ZERO, |s, (u, &a)| s + a * u[r]);
            block[t * rows + r] -= step;
        }
    }
}

/// Row tiles of RT rows from r0 on for the KT columns in `block`; returns the first row not done.
#[inline(always)]
fn update_rows<T: Scalar, const B: usize, const RT: usize, const KT: usize>(
    block: &mut [T],
    rows: usize,
    mut r0: usize,
    us: &[&[T]; B],
    a: &[[T; B]; KT],
) -> usize {
    while r0 + RT <= rows {
        let mut step = [[T::ZERO; RT]; KT];
        for b in 0..B {
            let u = &us[b][r0..r0 + RT];
            for t in 0..KT {
                let ab = a[t][b];
                for r in 0..RT {
                    step[t][r] += ab * u[r];
                }
            }
        }
        for (t, step) in step.iter().enumerate() {
            let w = &mut block[t * rows + r0..t * rows + r0 + RT];
            for (w, &s) in w.iter_mut().zip(step) {
                *w -= s;
            }
        }
        r0 += RT;
    }
    r0
}

/// The Gram matrix of B vectors, upper triangle: g[b][c] = xs[b] . xs[c] for c >= b (entries
/// below the diagonal are unspecified), each equal to `T::dot(xs[b], xs[c])` to the bit on
/// targets with vector units. Tiles of 2 x 4 dot products share their loads ([`dots`]).
pub fn gram_upper<T: Scalar, const B: usize>(xs: &[&[T]; B]) -> [[T; B]; B] {
    const JT: usize = 2;
    const NT: usize = 4;
    let mut g = [[T::ZERO; B]; B];
    let mut b0 = 0;
    while b0 + JT <= B {
        let a: [&[T]; JT] = core::array::from_fn(|t| xs[b0 + t]);
        let mut c0 = b0;
        while c0 + NT <= B {
            let b: [&[T]; NT] = core::array::from_fn(|s| xs[c0 + s]);
            let d = dots::<T, JT, NT>(&a, &b);
            for t in 0..JT {
                g[b0 + t][c0..c0 + NT].copy_from_slice(&d[t]);
            }
            c0 += NT;
        }
        for c in c0..B {
            for t in 0..JT {
                g[b0 + t][c] = T::dot(xs[b0 + t], xs[c]);
            }
        }
        b0 += JT;
    }
    for b in b0..B {
        for c in b..B {
            g[b][c] = T::dot(xs[b], xs[c]);
        }
    }
    g
}
