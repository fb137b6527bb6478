//! Register-blocked kernels for a mini-batch of B > 1 samples, used by [`super::Lanes`]: the
//! matrix-matrix forms of its one-sample kernels and of the fused SGD update.
//!
//! One sample at a time, every layer is a matrix-vector product: each weight is loaded for two
//! flops, and a network larger than the cache is streamed from memory once per sample. Here a
//! tile of weights (a few vector registers of a column) is loaded once and used for several
//! samples held in registers, and a whole layer runs for the batch before the next one, so its
//! weights stay in cache.
//!
//! Every output keeps the operation order of the one-sample kernel, so the results equal
//! [`mat_vec_add`], [`add_mat_t_vec`] (with the 8 lanes of [`dot`]) and [`update_column`] to
//! the bit: only the loop order over outputs changes (core/tests/float_kernels/ checks it).

use super::lanes::{add_mat_t_vec, dot, mat_vec_add, mul_add8, reduce8, update_column};
use crate::{Matrix, Scalar, Vector};

/// 256-bit vector registers (AVX): tiles twice as wide.
const WIDE: bool = cfg!(target_feature = "avx");

/// Rows of a register tile: two vector registers of `T`.
#[inline(always)]
fn tile_rows<T>() -> usize {
    let lanes = if WIDE { 32 } else { 16 } / core::mem::size_of::<T>().max(1);
    2 * lanes
}

/// `ys[b] += W xs[b]` for every sample b, with W: (R, C), `xs[b]`: (C), `ys[b]`: (R).
///
/// Each entry of `ys[b]` adds its C products `x_j W[r, j]` in column order j = 0, 1, ..., as
/// [`mat_vec_add`] does (C axpys), so the result is the same to the bit. Tiles of rows x 4
/// samples stay in registers while the columns stream past.
pub(crate) fn mat_mat_add<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &Matrix<T, R, C>,
    xs: [&Vector<T, C>; B],
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
    xs: [&Vector<T, C>; B],
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
        mat_vec_add(w, xs[b], &mut ys[b]);
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
        // Copied in a loop: a nested `array::from_fn` was left out of line (a call per tile).
        let mut acc = [[T::ZERO; RT]; NB];
        for (acc, y) in acc.iter_mut().zip(y.iter()) {
            acc.copy_from_slice(&y.data.0[0][r0..r0 + RT]);
        }
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

/// `outs[b] += W^T gs[b]` for every sample b, with W: (R, C), `gs[b]`: (R), `outs[b]`: (C) holding
/// the base on entry: `outs[b][j] = base + W[:, j] . gs[b]`, as [`add_mat_t_vec`] computes
/// it, to the bit: each dot product keeps the 8 partial sums of [`dot`] (lanes i mod 8,
/// added pairwise at the end). Tiles of 2 columns x 2 samples of 8-lane sums stay in registers ([`dots`]).
pub(crate) fn base_plus_mat_t_mat<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &Matrix<T, R, C>,
    gs: [&Vector<T, R>; B],
    outs: &mut [Vector<T, C>; B],
) {
    mat_t_mat_tiled::<T, R, C, B, 2>(w, gs, outs)
}

fn mat_t_mat_tiled<T: Scalar, const R: usize, const C: usize, const B: usize, const NT: usize>(
    w: &Matrix<T, R, C>,
    gs: [&Vector<T, R>; B],
    outs: &mut [Vector<T, C>; B],
) {
    let pairs = B / 2 * 2;
    for (o, g) in outs.chunks_exact_mut(2).zip(gs.chunks_exact(2)) {
        if let ([o0, o1], [g0, g1]) = (o, g) {
            let outs = [o0.as_mut_slice(), o1.as_mut_slice()];
            dot_tiles(w.as_slice(), R, [g0.as_slice(), g1.as_slice()], outs);
        }
    }
    for b in pairs..B {
        add_mat_t_vec::<T, R>(w.as_slice(), gs[b].as_slice(), outs[b].as_mut_slice());
    }
}

/// outs[s][j] += w[:, j] . g[s] for the columns of the column-major `w` with `rows` rows and
/// two samples, in tiles of 2 columns x 2 samples ([`dots`]). Not inlined, so the row count is
/// a run-time value here: with it known the compiler unrolls the chunk loop and interleaves the
/// tile's loads badly (seen in the profile: scalar gathers and spills).
#[inline(never)]
fn dot_tiles<T: Scalar>(w: &[T], rows: usize, g: [&[T]; 2], outs: [&mut [T]; 2]) {
    let [o0, o1] = outs;
    let mut columns = w.chunks_exact(rows.max(1));
    let mut j = 0;
    while let (Some(c0), Some(c1)) = (columns.next(), columns.next()) {
        let d = dots([c0, c1], g);
        if let (Some(o00), Some(o01)) = (o0.get_mut(j), o1.get_mut(j)) {
            *o00 += d[0][0];
            *o01 += d[0][1];
        }
        if let (Some(o10), Some(o11)) = (o0.get_mut(j + 1), o1.get_mut(j + 1)) {
            *o10 += d[1][0];
            *o11 += d[1][1];
        }
        j += 2;
    }
    // An odd last column: `columns` is empty unless C is odd, when the last `next` above
    // returned it as c0 with no c1 and the loop ended; take it again from w.
    let done = j * rows;
    if let Some(c) = w.get(done..done + rows)
        && done + rows == w.len()
    {
        if let Some(o) = o0.get_mut(j) {
            *o += dot(c, g[0]);
        }
        if let Some(o) = o1.get_mut(j) {
            *o += dot(c, g[1]);
        }
    }
}

/// `d[t][s] = a[t] . b[s]` for a 2 x 2 tile, over the common length n of the slices, each with the
/// 8 partial sums of [`dot`] (lanes i mod 8, added pairwise at the end), so each equals
/// [`dot`]`(a[t], b[s])` to the bit. The four 8-lane sums are
/// separate locals passed by value, which keeps them in registers; each chunk of 8 entries of
/// every slice is loaded once.
#[inline(always)]
pub(crate) fn dots<T: Scalar>(a: [&[T]; 2], b: [&[T]; 2]) -> [[T; 2]; 2] {
    let n = a.iter().chain(&b).map(|v| v.len()).min().unwrap_or(0);
    let (a0, a0r) = a[0][..n].as_chunks::<8>();
    let (a1, a1r) = a[1][..n].as_chunks::<8>();
    let (b0, b0r) = b[0][..n].as_chunks::<8>();
    let (b1, b1r) = b[1][..n].as_chunks::<8>();
    let zero = [T::ZERO; 8];
    let (mut l00, mut l01, mut l10, mut l11) = (zero, zero, zero, zero);
    for (((x0, x1), y0), y1) in a0.iter().zip(a1).zip(b0).zip(b1) {
        l00 = mul_add8(l00, x0, y0);
        l01 = mul_add8(l01, x0, y1);
        l10 = mul_add8(l10, x1, y0);
        l11 = mul_add8(l11, x1, y1);
    }
    let rest = |mut l: [T; 8], x: &[T], y: &[T]| {
        for (l, (&x, &y)) in l.iter_mut().zip(x.iter().zip(y)) {
            *l += x * y;
        }
        reduce8(&l)
    };
    [
        [rest(l00, a0r, b0r), rest(l01, a0r, b1r)],
        [rest(l10, a1r, b0r), rest(l11, a1r, b1r)],
    ]
}

/// The fused plain SGD update of one column-major tensor of shape (rows, len / rows):
/// W <- W - sum_b (eta v_b) u_b^T, with `us[b]`: (rows) and `vs[b]`: (columns), or `None` for a
/// bias (v_b = 1). Each entry sums its B terms `(eta v_b[k]) u_b[j]` in order b = 0, 1, ... from
/// the first and subtracts the sum once, as [`update_column`] does, so the result is
/// the same to the bit. Tiles of rows x 4 columns stay in registers while the samples stream
/// past. Factors that do not fit the tensor leave it alone.
pub(crate) fn sgd_update<T: Scalar, const B: usize>(
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

/// Scalars in the packed column factors of [`sgd_update`]: 16 KiB of f32 on the stack.
const PACKED: usize = 4096;

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
    if B > PACKED {
        // More samples than the packed factors hold: column by column, the same sums.
        for (k, column) in tensor.chunks_exact_mut(rows).enumerate() {
            let v: [T; B] = core::array::from_fn(|b| vs[b].map_or(T::ONE, |v| v[k]));
            update_column(column, us, &v, eta);
        }
        return;
    }
    // The factors sit in B tapes a multiple of 4 KiB apart, which map to the same L1 cache set:
    // read in place, the samples of one tile evicted each other (profile). So both are packed:
    // a[k][b] = eta v_b[k] for a group of columns, and u_b's rows of one row tile.
    let group = (PACKED / B).max(1);
    let mut a = [T::ZERO; PACKED];
    let mut k0 = 0;
    while k0 < cols {
        let k1 = (k0 + group).min(cols);
        // Sample by sample, so each v_b is read front to back.
        for (b, v) in vs.iter().enumerate() {
            for (k, a) in (k0..k1).zip(a[b..].iter_mut().step_by(B)) {
                *a = eta * v.map_or(T::ONE, |v| v[k]);
            }
        }
        let a = a.get(..(k1 - k0) * B).unwrap_or(&[]);
        let block = &mut tensor[k0 * rows..k1 * rows];
        let mut r0 = 0;
        r0 = update_rows::<T, B, RT>(block, rows, r0, us, a);
        r0 = update_rows::<T, B, 8>(block, rows, r0, us, a);
        for r in r0..rows {
            for (w, a) in block[r..].iter_mut().step_by(rows).zip(a.chunks_exact(B)) {
                let mut terms = us.iter().zip(a).map(|(u, &a)| a * u[r]);
                let first = terms.next().unwrap_or(T::ZERO);
                let step = terms.fold(first, |s, t| s + t);
                *w -= step;
            }
        }
        k0 = k1;
    }
}

/// Row tiles of RT rows from r0 on, for the columns of `block` whose factors are packed in `a`
/// (B per column); returns the first row not done.
#[inline(always)]
fn update_rows<T: Scalar, const B: usize, const RT: usize>(
    block: &mut [T],
    rows: usize,
    mut r0: usize,
    us: &[&[T]; B],
    a: &[T],
) -> usize {
    while r0 + RT <= rows {
        let mut panel = [[T::ZERO; RT]; B];
        for (p, u) in panel.iter_mut().zip(us) {
            p.copy_from_slice(&u[r0..r0 + RT]);
        }
        update_tile::<T, B, RT>(block, rows, r0, &panel, a);
        r0 += RT;
    }
    r0
}

/// Rows r0..r0 + RT of every column of `block`, 4 columns at a time, from the packed u rows
/// and column factors.
#[inline(never)]
fn update_tile<T: Scalar, const B: usize, const RT: usize>(
    block: &mut [T],
    rows: usize,
    r0: usize,
    panel: &[[T; RT]; B],
    a: &[T],
) {
    let mut columns = block.chunks_exact_mut(rows.max(1)).zip(a.chunks_exact(B));
    while let (Some((w0, a0)), Some((w1, a1)), Some((w2, a2)), Some((w3, a3))) = (
        columns.next(),
        columns.next(),
        columns.next(),
        columns.next(),
    ) {
        // Each step starts from its first product, as in update_column (0 + -0 is +0).
        let (Some(u), Some(&b0), Some(&b1), Some(&b2), Some(&b3)) = (
            panel.first(),
            a0.first(),
            a1.first(),
            a2.first(),
            a3.first(),
        ) else {
            break;
        };
        let mut s0: [T; RT] = core::array::from_fn(|r| b0 * u[r]);
        let mut s1: [T; RT] = core::array::from_fn(|r| b1 * u[r]);
        let mut s2: [T; RT] = core::array::from_fn(|r| b2 * u[r]);
        let mut s3: [T; RT] = core::array::from_fn(|r| b3 * u[r]);
        let rest = panel.iter().zip(a0).zip(a1).zip(a2).zip(a3).skip(1);
        for ((((u, &a0), &a1), &a2), &a3) in rest {
            for r in 0..RT {
                s0[r] += a0 * u[r];
                s1[r] += a1 * u[r];
                s2[r] += a2 * u[r];
                s3[r] += a3 * u[r];
            }
        }
        for (w, s) in [(w0, s0), (w1, s1), (w2, s2), (w3, s3)] {
            for (w, s) in w[r0..r0 + RT].iter_mut().zip(s) {
                *w -= s;
            }
        }
    }
    // The last cols mod 4 columns (the iterator is exhausted by then unless cols mod 4 != 0:
    // those columns were taken by the failed match above, so redo them from the end).
    let cols = block.len() / rows.max(1);
    for k in cols / 4 * 4..cols {
        let Some(ak) = a.get(k * B..k * B + B) else {
            continue;
        };
        let (Some(u), Some(&a0)) = (panel.first(), ak.first()) else {
            continue;
        };
        let mut s: [T; RT] = core::array::from_fn(|r| a0 * u[r]);
        for (u, &ak) in panel.iter().zip(ak).skip(1) {
            for r in 0..RT {
                s[r] += ak * u[r];
            }
        }
        for (w, s) in block[k * rows + r0..k * rows + r0 + RT].iter_mut().zip(s) {
            *w -= s;
        }
    }
}

/// The Gram matrix of B vectors, upper triangle: `g[b][c] = xs[b] . xs[c]` for c >= b (entries
/// below the diagonal are unspecified), each equal to [`dot`]`(xs[b], xs[c])` to the bit on
/// targets with vector units. Tiles of 2 x 2 dot products share their loads ([`dots`]).
pub(crate) fn gram_upper<T: Scalar, const B: usize>(xs: &[&[T]; B]) -> [[T; B]; B] {
    // Vectors read from B tapes a multiple of 4 KiB apart share L1 sets: copy them next to each
    // other first when they fit (the copy is B n scalars, the products B^2 n / 2).
    let n = xs.iter().map(|x| x.len()).min().unwrap_or(0);
    let mut packed = [T::ZERO; PACKED];
    if n > 0 && B * n <= PACKED {
        for (p, x) in packed.chunks_exact_mut(n).zip(xs) {
            p.copy_from_slice(&x[..n]);
        }
        let mut chunks = packed.chunks_exact(n);
        let copies: [&[T]; B] = core::array::from_fn(|_| chunks.next().unwrap_or(&[]));
        return gram_upper_in_place(&copies);
    }
    gram_upper_in_place(xs)
}

fn gram_upper_in_place<T: Scalar, const B: usize>(xs: &[&[T]; B]) -> [[T; B]; B] {
    const JT: usize = 2;
    const NT: usize = 2;
    let mut g = [[T::ZERO; B]; B];
    let mut b0 = 0;
    while b0 + JT <= B {
        let a = [xs[b0], xs[b0 + 1]];
        let mut c0 = b0;
        while c0 + NT <= B {
            let d = dots(a, [xs[c0], xs[c0 + 1]]);
            for t in 0..JT {
                g[b0 + t][c0..c0 + NT].copy_from_slice(&d[t]);
            }
            c0 += NT;
        }
        for c in c0..B {
            for t in 0..JT {
                g[b0 + t][c] = dot(xs[b0 + t], xs[c]);
            }
        }
        b0 += JT;
    }
    for b in b0..B {
        for c in b..B {
            g[b][c] = dot(xs[b], xs[c]);
        }
    }
    g
}
