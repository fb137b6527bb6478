//! The arithmetic shared by the fixed-point formats, written once as a macro over the raw
//! integer type (i32 or i16), its wide accumulator (i64 or i32) and a wider type for the
//! accumulator's carries (i128 or i64).
//!
//! Rules, for a format with F fractional bits and raw value r (the number is r / 2^F):
//! - `+`, `-`, unary `-`: exact, or saturated to [MIN, MAX] and counted.
//! - `*`: the exact product (2F fractional bits, fits the wide type) rounded once to nearest
//!   (ties up), then saturated.
//! - `/`: (a 2^F) / b rounded to nearest (ties up); division by zero saturates toward the sign of a (0/0
//!   is 0), counted.
//! - [`Scalar::dot`](crate::Scalar::dot): products accumulate exactly in the wide type; when a partial sum
//!   overflows it, the carry is kept in a counter, so the sum is exact whatever the order; it is
//!   rounded once at the end, then saturated.
//! - [`Scalar::axpy`](crate::Scalar::axpy): each y_i + alpha x_i is formed exactly in the wide type and rounded once.
//! - [`Scalar::sub_mul_rounded`](crate::Scalar::sub_mul_rounded) (the SGD update w - eta d): the product eta d is exact, rounded
//!   with the [`Dither`](crate::fixed::Dither) (stochastic or to nearest), then subtracted.
//! - `exp`, `ln_1p`, `tanh` go through f32 (libm): correct to the format's precision but slow
//!   on chips without an FPU; ReLU networks never call them. `sqrt` is an exact integer square
//!   root (rounded to nearest).
//!
//! Every saturation adds one to the format's counter ([`crate::fixed::saturation`]).

/// Defines a fixed-point newtype over a `fixed` crate type; see the module docs for the rules.
macro_rules! fixed_format {
    (
        $(#[$doc:meta])*
        $name:ident, inner = $inner:ty, raw = $raw:ty, wide = $wide:ty, wider = $wider:ty,
        frac = $frac:expr, counter = $counter:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// Fractional bits F: the value is raw / 2^F.
            pub const FRAC: u32 = $frac;
            /// Integer bits, including the sign bit.
            pub const INT: u32 = <$raw>::BITS - $frac;
            /// The smallest value.
            pub const MIN: Self = Self(<$inner>::MIN);
            /// One unit in the last place, 2^-F.
            pub const EPSILON: Self = Self(<$inner>::DELTA);

            /// The value with raw bits `r` (r / 2^F).
            #[inline(always)]
            pub const fn from_bits(r: $raw) -> Self {
                Self(<$inner>::from_bits(r))
            }

            /// The raw bits.
            #[inline(always)]
            pub const fn to_bits(self) -> $raw {
                self.0.to_bits()
            }

            /// Sets this format's saturation counter to zero.
            pub fn reset_saturations() {
                $crate::fixed::saturation::reset($counter)
            }

            /// A wide value (any number of fractional bits already removed) clamped to the raw
            /// range; clamping is counted.
            #[inline(always)]
            pub(crate) fn saturate(w: $wide) -> Self {
                // In range exactly when w survives the round trip through the raw type: one
                // test on the common path (`clamp` compares with both bounds, which a
                // Cortex-M0 loads from the literal pool).
                if w as $raw as $wide == w {
                    Self::from_bits(w as $raw)
                } else {
                    Self::saturate_out_of_range(w)
                }
            }

            /// The rare branch of [`Self::saturate`]: clamp and count.
            #[cold]
            #[inline(never)]
            fn saturate_out_of_range(w: $wide) -> Self {
                $crate::fixed::saturation::record($counter);
                Self::from_bits(if w < 0 { <$raw>::MIN } else { <$raw>::MAX })
            }

            /// w / 2^F rounded to nearest (ties up), for a wide value with 2F fractional bits
            /// formed from at most one product of raw values plus a raw value shifted by F:
            /// |w| <= 2^(2 bits - 2) + 2^(bits + F - 1), so adding the half cannot overflow.
            #[inline(always)]
            fn round_frac(w: $wide) -> $wide {
                w.wrapping_add(1 << ($frac - 1)) >> $frac
            }

            /// w / 2^F rounded to nearest (ties up) for every wide w, without overflow:
            /// (w + 2^(F-1)) >> F written as ((w >> (F - 1)) + 1) >> 1 (equal: the floor of
            /// a floor), which on a Cortex-M0 needs no constant in a register.
            #[inline(always)]
            pub(crate) fn round_any(w: $wide) -> $wide {
                ((w >> ($frac - 1)) + 1) >> 1
            }

            /// sum_i a_i b_i exactly (2F fractional bits): products accumulate in the wide
            /// type, and when a partial sum overflows it the carry is counted, so the result
            /// is exact in any order; the carries are folded in at the end, in the wider type.
            #[inline]
            fn dot_exact(a: &[Self], b: &[Self]) -> $wider {
                let (acc, carries) = Self::dot_wide(a, b);
                Self::fold_carries(acc, carries)
            }

            /// The sum of [`Self::dot_exact`] as the wide type's wrapped sum and the count of
            /// its overflows (signed: +1 for each wrap upward, -1 downward).
            #[inline(always)]
            fn dot_wide(a: &[Self], b: &[Self]) -> ($wide, i32) {
                let mut acc: $wide = 0;
                let mut carries: i32 = 0;
                for (&x, &y) in a.iter().zip(b) {
                    let p = x.to_bits() as $wide * y.to_bits() as $wide;
                    let (s, overflow) = acc.overflowing_add(p);
                    if overflow {
                        // The true sum left the wide range in the direction of p's sign.
                        // (saturating: more than 2^31 overflows would need a longer slice than
                        // memory holds, but no input may panic)
                        carries = carries.saturating_add(if p > 0 { 1 } else { -1 });
                    }
                    acc = s;
                }
                (acc, carries)
            }

            /// sum_i a_i b_i exactly (2F fractional bits) summed in the wider type, for
            /// formats whose wider type is at most 64 bits (Q4.12: on a Cortex-M0 a sign, an
            /// add and an add with carry per product, where the carry count of
            /// [`Self::dot_wide`] costs a test and a select): |a_i b_i| <= 2^(2 bits - 2), so
            /// the sum is exact for fewer than 2^(wider bits - 2 bits + 1) products (2^33 for
            /// Q4.12, more than memory holds); past that it wraps, never panics.
            #[inline(always)]
            fn dot_wider(a: &[Self], b: &[Self]) -> $wider {
                let mut acc: $wider = 0;
                for (&x, &y) in a.iter().zip(b) {
                    acc = acc.wrapping_add((x.to_bits() as $wide * y.to_bits() as $wide) as $wider);
                }
                acc
            }

            /// acc + carries 2^bits(wide), exactly, in the wider type.
            #[inline(always)]
            fn fold_carries(acc: $wide, carries: i32) -> $wider {
                if carries == 0 {
                    acc as $wider
                } else {
                    ((carries as $wider) << <$wide>::BITS) + acc as $wider
                }
            }

            /// A wider value with 2F fractional bits rounded to F (nearest, ties up), not
            /// yet saturated.
            #[inline(always)]
            fn round_wider(w: $wider) -> $wider {
                w.saturating_add(1 << ($frac - 1)) >> $frac
            }

            /// A wider value with F fractional bits saturated to the format (counted).
            #[inline]
            fn saturate_wider(w: $wider) -> Self {
                if w > <$raw>::MAX as $wider {
                    Self::saturate(<$wide>::MAX)
                } else if w < <$raw>::MIN as $wider {
                    Self::saturate(<$wide>::MIN)
                } else {
                    Self::from_bits(w as $raw)
                }
            }

            /// x clamped to the raw range, adding one to `clamped` when it was outside. The
            /// common case, x in range, is one test: x survives the round trip through the raw
            /// type (on a Cortex-M0 a sign extension, a compare and a branch; `clamp` there
            /// loaded both bounds from the literal pool and compared them every time).
            #[inline(always)]
            fn clamp_counted(x: $wide, clamped: &mut u32) -> $wide {
                if x as $raw as $wide == x {
                    x
                } else {
                    Self::clamp_out_of_range(x, clamped)
                }
            }

            /// [`Self::clamp_counted`] with the range test written as x >> (bits - 1) ==
            /// x >> (wide bits - 1) (the bits above the raw sign bit all copy the sign): two
            /// shifts and a compare, no constant. LLVM rewrites the round trip of
            /// `clamp_counted` as x + 2^(bits-1) <u 2^bits, two constants that a Cortex-M0 keeps
            /// in registers or reloads from the stack: that form is the cheaper one where
            /// registers are free (`axpy`: 326k instructions per micro:bit step with this form
            /// there, 307k without), this one in the update loop, which needs every register.
            #[inline(always)]
            fn clamp_counted_by_shifts(x: $wide, clamped: &mut u32) -> $wide {
                if (x >> (<$raw>::BITS - 1)) == (x >> (<$wide>::BITS - 1)) {
                    x
                } else {
                    Self::clamp_out_of_range(x, clamped)
                }
            }

            /// The rare branch of [`Self::clamp_counted`], out of line so the compiler keeps
            /// the test a branch (it turned it into selects, which on a Cortex-M0 cost more
            /// registers than there are).
            #[cold]
            #[inline(never)]
            fn clamp_out_of_range(x: $wide, clamped: &mut u32) -> $wide {
                *clamped = clamped.saturating_add(1);
                if x < 0 { <$raw>::MIN as $wide } else { <$raw>::MAX as $wide }
            }

            /// The largest magnitude of a raw value, 2^(bits - 1).
            const U_BOUND: $wide = 1 << (<$raw>::BITS - 1);

            /// [`Scalar::sgd_column`](crate::Scalar::sgd_column) with the rounding mode fixed
            /// at compile time (`NEAREST`: the dither's offset is one half; else one xorshift
            /// draw per weight), written for a core without a barrel of tricks (Cortex-M0):
            /// the same arithmetic as the operators it replaces, with the overflow checks that
            /// cannot fire left out and the clamps counted once per column:
            ///
            /// - g <- round((g 2^F + v_b u_b) / 2^F), clamped: as [`Scalar::axpy`] on one entry
            ///   (and for B = 1 as `u * v`, whose first step starts from g = 0 identically);
            /// - w <- clamp(w - (eta g + r) / 2^F) with r the dither's offset: as
            ///   [`Scalar::sub_mul_rounded`], whose `saturating_add` and `saturating_sub` never
            ///   saturate here: |eta g| <= 2^(2 bits - 2) and r < 2^F, and |w| <= 2^(bits - 1)
            ///   with |(eta g + r) / 2^F| <= 2^(2 bits - 2 - F) + 1, all far inside the wide type.
            ///
            /// For B = 1 it is [`Self::column_b1`], with `u_bound` >= max_j |u_j| (the raw
            /// range's 2^(bits - 1) when unknown). The results are the same bits as the
            /// operators' (tests below).
            #[inline(always)]
            fn sgd_column_as<const B: usize, const NEAREST: bool>(
                column: &mut [Self],
                us: &[&[Self]; B],
                vs: &[Self; B],
                eta: Self,
                dither: &mut $crate::fixed::Dither,
                u_bound: $wide,
            ) {
                const HALF: $wide = 1 << ($frac - 1);
                if us.iter().any(|u| u.len() < column.len()) {
                    return;
                }
                let mut clamped = 0u32;
                if let ([u], [v]) = (us.as_slice(), vs.as_slice()) {
                    // One sample: the loop the chips run.
                    Self::column_b1::<NEAREST>(column, u, *v, eta, dither, u_bound, &mut clamped);
                    for _ in 0..clamped {
                        $crate::fixed::saturation::record($counter);
                    }
                    return;
                }
                let e = eta.to_bits() as $wide;
                let v: [$wide; B] = core::array::from_fn(|b| vs[b].to_bits() as $wide);
                for (j, w) in column.iter_mut().enumerate() {
                    let mut g: $wide = 0;
                    for (u, &v) in us.iter().zip(&v) {
                        if let Some(&u) = u.get(j) {
                            let s = (g << $frac)
                                .wrapping_add(v * u.to_bits() as $wide)
                                .wrapping_add(HALF)
                                >> $frac;
                            g = Self::clamp_counted(s, &mut clamped);
                        }
                    }
                    Self::update_weight::<NEAREST>(w, g, e, dither, &mut clamped);
                }
                for _ in 0..clamped {
                    $crate::fixed::saturation::record($counter);
                }
            }

            /// w <- clamp(w - (e g + r) / 2^F) with r the dither's next offset (one half for
            /// `NEAREST`), as [`Scalar::sub_mul_rounded`](crate::Scalar::sub_mul_rounded):
            /// see [`Self::sgd_column_as`]. g = 0 leaves w as it is, (0 + r) >> F = 0 for
            /// r < 2^F (a dead ReLU unit's row or column); the draw still happens, so the
            /// dither stays in step.
            #[inline(always)]
            fn update_weight<const NEAREST: bool>(
                w: &mut Self,
                g: $wide,
                e: $wide,
                dither: &mut $crate::fixed::Dither,
                clamped: &mut u32,
            ) {
                let r = if NEAREST {
                    1 << ($frac - 1)
                } else {
                    dither.stochastic_offset($frac) as $wide
                };
                if g != 0 {
                    let x = (w.to_bits() as $wide).wrapping_sub((e * g).wrapping_add(r) >> $frac);
                    *w = Self::from_bits(Self::clamp_counted_by_shifts(x, clamped) as $raw);
                }
            }

            /// One column of the B = 1 update, w_j <- w_j - eta round(v u_j), for
            /// `u_bound` >= max_j |u_j| (`u` at least as long as `column`); clamps are added
            /// to `clamped`. With m = |v| u_bound:
            /// - m < 2^(F-1): every g = round(v u_j / 2^F) is 0, so no weight moves; only the
            ///   dither draws, one per row;
            /// - m < 2^(bits - 1 + F) - 2^(F - 1): g is in range, the loop has no clamp of g;
            /// - else the loop clamps g as `u * v` does.
            #[inline(always)]
            fn column_b1<const NEAREST: bool>(
                column: &mut [Self],
                u: &[Self],
                v: Self,
                eta: Self,
                dither: &mut $crate::fixed::Dither,
                u_bound: $wide,
                clamped: &mut u32,
            ) {
                const HALF: $wide = 1 << ($frac - 1);
                // |v u| below this keeps round(v u / 2^F) inside the raw range.
                const LIMIT: $wide = (1 << (<$raw>::BITS - 1 + $frac)) - HALF;
                let e = eta.to_bits() as $wide;
                let v = v.to_bits() as $wide;
                let m = v.unsigned_abs() as $wide * u_bound;
                if m < HALF {
                    if !NEAREST {
                        for _ in 0..column.len() {
                            dither.stochastic_offset($frac);
                        }
                    }
                } else if m < LIMIT {
                    // The rounding as `round_any`: no constant in a register.
                    for (w, &u) in column.iter_mut().zip(u) {
                        let p = v * u.to_bits() as $wide;
                        let g = Self::round_any(p);
                        Self::update_weight::<NEAREST>(w, g, e, dither, clamped);
                    }
                } else {
                    for (w, &u) in column.iter_mut().zip(u) {
                        let s = (v * u.to_bits() as $wide).wrapping_add(HALF) >> $frac;
                        let g = Self::clamp_counted(s, clamped);
                        Self::update_weight::<NEAREST>(w, g, e, dither, clamped);
                    }
                }
            }

            /// [`Scalar::sgd_outer`](crate::Scalar::sgd_outer) with the rounding mode fixed at
            /// compile time: [`Self::sgd_column_as`] on each column, in one function.
            #[inline(never)]
            fn sgd_outer_as<const B: usize, const NEAREST: bool>(
                w: &mut [Self],
                us: &[&[Self]; B],
                vs: &[&[Self]; B],
                eta: Self,
                dither: &mut $crate::fixed::Dither,
            ) {
                let Some((rows, cols)) = $crate::scalar::outer_shape(w, us, vs) else {
                    return;
                };
                if let ([u], [v]) = (us.as_slice(), vs.as_slice()) {
                    // One sample: max_j |u_j| once, shared by every column (whose |v_k| times
                    // it tells which loop the column takes), the clamps counted once.
                    let u_bound = u.iter().fold(0, |m, u| m.max((u.to_bits() as $wide).abs()));
                    let mut clamped = 0u32;
                    for (column, &v) in w.chunks_exact_mut(rows).zip(*v) {
                        Self::column_b1::<NEAREST>(column, u, v, eta, dither, u_bound, &mut clamped);
                    }
                    for _ in 0..clamped {
                        $crate::fixed::saturation::record($counter);
                    }
                    return;
                }
                let u_bound = Self::U_BOUND;
                for (k, column) in w.chunks_exact_mut(rows).enumerate().take(cols) {
                    let v: [Self; B] = core::array::from_fn(|b| vs[b][k]);
                    Self::sgd_column_as::<B, NEAREST>(column, us, &v, eta, dither, u_bound);
                }
            }

            /// The value as f32 (exact when |raw| < 2^24).
            #[inline]
            pub fn to_f32(self) -> f32 {
                self.to_bits() as f32 / (1u32 << $frac) as f32
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl core::ops::Add for $name {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                Self::saturate(self.to_bits() as $wide + o.to_bits() as $wide)
            }
        }

        impl core::ops::Sub for $name {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                Self::saturate(self.to_bits() as $wide - o.to_bits() as $wide)
            }
        }

        impl core::ops::Neg for $name {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                Self::saturate(-(self.to_bits() as $wide))
            }
        }

        impl core::ops::Mul for $name {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                Self::saturate(Self::round_frac(self.to_bits() as $wide * o.to_bits() as $wide))
            }
        }

        impl core::ops::Div for $name {
            type Output = Self;
            fn div(self, o: Self) -> Self {
                let n = (self.to_bits() as $wide) << $frac;
                let d = o.to_bits() as $wide;
                if d == 0 {
                    return match n.signum() {
                        0 => Self::from_bits(0),
                        s => Self::saturate(s * <$wide>::MAX),
                    };
                }
                // Round to nearest, ties up like `*`: floor(n / d + 1/2) = floor((2n + d) / 2d)
                // with d > 0. |n| <= 2^(bits + F - 1) and |d| <= 2^(bits - 1) leave room for
                // the doubling in the wide type.
                let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
                let q = (2 * n + d).div_euclid(2 * d);
                Self::saturate(q)
            }
        }

        impl core::ops::AddAssign for $name {
            #[inline(always)]
            fn add_assign(&mut self, o: Self) {
                *self = *self + o;
            }
        }

        impl core::ops::SubAssign for $name {
            #[inline(always)]
            fn sub_assign(&mut self, o: Self) {
                *self = *self - o;
            }
        }

        impl $crate::fixed::guard::FixedPoint for $name {
            const FRAC_BITS: u32 = $frac;
            const INT_BITS: u32 = <$raw>::BITS - $frac;
        }

        impl $crate::Scalar for $name {
            const ZERO: Self = Self(<$inner>::ZERO);
            const ONE: Self = Self(<$inner>::ONE);
            const MAX: Self = Self(<$inner>::MAX);

            /// Rounded to nearest (the `fixed` crate's conversion); out of range saturates and
            /// NaN becomes zero, both counted.
            fn from_f64(x: f64) -> Self {
                match <$inner>::checked_from_num(x) {
                    Some(v) => Self(v),
                    None => {
                        $crate::fixed::saturation::record($counter);
                        if x > 0.0 {
                            Self::MAX
                        } else if x < 0.0 {
                            Self::MIN
                        } else {
                            Self::ZERO
                        }
                    }
                }
            }

            #[inline]
            fn to_f64(self) -> f64 {
                self.0.to_num::<f64>()
            }

            #[inline(always)]
            fn is_finite(self) -> bool {
                true
            }

            #[inline]
            fn abs(self) -> Self {
                if self.to_bits() < 0 { -self } else { self }
            }

            /// The exact square root rounded to nearest, by integer square root of raw 2^F;
            /// zero for negative input.
            fn sqrt(self) -> Self {
                let r = self.to_bits();
                if r <= 0 {
                    return Self::ZERO;
                }
                let n = (r as u64) << $frac;
                let s = $crate::fixed::format::isqrt(n);
                // Round to nearest: s + 1/2 <= sqrt(n) exactly when n - s^2 > s.
                let s = if n - s * s > s { s + 1 } else { s };
                Self::saturate(s as $wide)
            }

            /// Through f32 (libm's `expf`): slow without an FPU.
            fn exp(self) -> Self {
                Self::from_f64(libm::expf(self.to_f32()) as f64)
            }

            /// Through f32 (libm's `log1pf`): slow without an FPU; -1 and below saturate.
            fn ln_1p(self) -> Self {
                Self::from_f64(libm::log1pf(self.to_f32()) as f64)
            }

            /// Through f32 (libm's `tanhf`): slow without an FPU.
            fn tanh(self) -> Self {
                Self::from_f64(libm::tanhf(self.to_f32()) as f64)
            }

            fn saturations() -> u32 {
                $crate::fixed::saturation::count($counter)
            }

            /// When the exact sum fits the wide type (the common case), the rounding
            /// (`round_any`, which cannot overflow) and the saturation run in the wide
            /// type, with the same result as in the wider one (on a Cortex-M0 the wider type is
            /// i64, two registers and a carry chain).
            #[inline]
            fn dot(a: &[Self], b: &[Self]) -> Self {
                if <$wide>::BITS == 32 {
                    // A 32-bit accumulator (Q4.12): the sum in the 64-bit wider type instead
                    // ([`Self::dot_wider`]), then the same roundings.
                    let acc = Self::dot_wider(a, b);
                    let narrow = acc as $wide;
                    if narrow as $wider == acc {
                        return Self::saturate(Self::round_any(narrow));
                    }
                    return Self::saturate_wider(Self::round_wider(acc));
                }
                let (acc, carries) = Self::dot_wide(a, b);
                if carries == 0 {
                    return Self::saturate(Self::round_any(acc));
                }
                Self::saturate_wider(Self::round_wider(Self::fold_carries(acc, carries)))
            }

            /// Both dot products rounded once to F fractional bits but kept unsaturated in
            /// the wider type, multiplied there and rounded again: saturates only when the
            /// result does, not when one factor alone leaves the range.
            fn dot_times_dot(a: &[Self], b: &[Self], c: &[Self], d: &[Self]) -> Self {
                // Fast path, the same value: both dot products in the format's range after
                // rounding (no carries, no clamp), so their product and its rounding fit the
                // wide type (|x y| <= 2^(2 bits - 2)); on a Cortex-M0 this avoids two i64
                // sums and an i64 multiply per tensor.
                let in_wide = |a: &[Self], b: &[Self]| -> Option<$wide> {
                    let (acc, carries) = if <$wide>::BITS == 32 {
                        // As in `dot`: summed in the 64-bit wider type.
                        let acc = Self::dot_wider(a, b);
                        (acc as $wide, i32::from(acc as $wide as $wider != acc))
                    } else {
                        Self::dot_wide(a, b)
                    };
                    let x = Self::round_any(acc);
                    (carries == 0 && x as $raw as $wide == x).then_some(x)
                };
                if let (Some(x), Some(y)) = (in_wide(a, b), in_wide(c, d)) {
                    return Self::saturate(Self::round_any(x * y));
                }
                // Clamp each factor to half the wider type's bits so their product fits; a
                // factor that large makes the product saturate anyway (unless the other is 0).
                let lim: $wider = 1 << (<$wider>::BITS / 2 - 2);
                let x = Self::round_wider(Self::dot_exact(a, b)).clamp(-lim, lim);
                let y = Self::round_wider(Self::dot_exact(c, d)).clamp(-lim, lim);
                Self::saturate_wider(Self::round_wider(x * y))
            }

            /// alpha = 0 returns at once: (y 2^F + 0) rounded is y, no clamp (a dead ReLU
            /// unit's column in the forward pass).
            #[inline]
            fn axpy(alpha: Self, x: &[Self], y: &mut [Self]) {
                let a = alpha.to_bits() as $wide;
                if a == 0 {
                    return;
                }
                let mut saturated = 0u32;
                for (yi, &xi) in y.iter_mut().zip(x) {
                    // round((y 2^F + alpha x) / 2^F) = y + round(alpha x / 2^F) exactly (y 2^F
                    // is a multiple of 2^F), rounded by `round_any` (free of constants);
                    // |alpha x| <= 2^(2 bits - 2) and |y| < 2^(bits - 1) cannot overflow.
                    let p = a * xi.to_bits() as $wide;
                    let r = (yi.to_bits() as $wide).wrapping_add(Self::round_any(p));
                    *yi = Self::from_bits(Self::clamp_counted(r, &mut saturated) as $raw);
                }
                for _ in 0..saturated {
                    $crate::fixed::saturation::record($counter);
                }
            }

            /// `g_j = sum_b vs[b] us[b][j]` summed as [`crate::Scalar::axpy`] does (one rounding per
            /// sample), then w_j - eta g_j with eta g_j formed exactly and rounded once by the
            /// dither: eta v_b folded first would lose most of its bits in 16-bit formats.
            /// Bit for bit `w.sub_mul_rounded(eta, g, dither)` after `g = u v` (B = 1) or
            /// `axpy(v_b, [u_b], [g])` for each sample in order (see `sgd_column_as`
            /// for how it is kept cheap).
            #[inline]
            fn sgd_column<const B: usize>(
                column: &mut [Self],
                us: &[&[Self]; B],
                vs: &[Self; B],
                eta: Self,
                dither: &mut $crate::fixed::Dither,
            ) {
                if dither.is_nearest() {
                    Self::sgd_column_as::<B, true>(column, us, vs, eta, dither, Self::U_BOUND);
                } else {
                    Self::sgd_column_as::<B, false>(column, us, vs, eta, dither, Self::U_BOUND);
                }
            }

            /// Every column in one call: `sgd_column` per column, with the loop over columns
            /// inside the function that holds the kernel.
            #[inline]
            fn sgd_outer<const B: usize>(
                w: &mut [Self],
                us: &[&[Self]; B],
                vs: &[&[Self]; B],
                eta: Self,
                dither: &mut $crate::fixed::Dither,
            ) {
                if dither.is_nearest() {
                    Self::sgd_outer_as::<B, true>(w, us, vs, eta, dither);
                } else {
                    Self::sgd_outer_as::<B, false>(w, us, vs, eta, dither);
                }
            }

            #[inline]
            fn sub_mul_rounded(self, a: Self, b: Self, dither: &mut $crate::fixed::Dither) -> Self {
                let p = a.to_bits() as $wide * b.to_bits() as $wide;
                let r = dither.offset($frac) as $wide;
                let step = p.saturating_add(r) >> $frac;
                Self::saturate((self.to_bits() as $wide).saturating_sub(step))
            }

            /// One entry of [`Scalar::axpy`](crate::Scalar::axpy): self 2^F + a b exact in
            /// the wide type, rounded to nearest once, saturated and counted.
            ///
            /// Written as self + round(a b / 2^F), the same value (self 2^F is a multiple of
            /// 2^F), rounded by `round_any` (free of constants), as in `axpy`.
            #[inline]
            fn add_product(self, a: Self, b: Self) -> Self {
                let p = a.to_bits() as $wide * b.to_bits() as $wide;
                Self::saturate((self.to_bits() as $wide).wrapping_add(Self::round_any(p)))
            }
        }
    };
}

pub(crate) use fixed_format;

/// floor(sqrt(n)), bit by bit (no division, no float).
pub(crate) fn isqrt(n: u64) -> u64 {
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests {
    use crate::Scalar;
    use crate::fixed::{Dither, Q12, Q16};

    /// The fast `sgd_column` against the operators it replaces (`u * v` or `axpy` per sample,
    /// then `sub_mul_rounded`), bit for bit and saturation for saturation, with values large
    /// enough that g and w saturate, for B = 1 and 3 and both roundings.
    fn sgd_column_matches_the_operators<T: Scalar>(scale: f64) {
        let mut rng = crate::Rng::new(11);
        let mut draw = |n: usize| -> [T; 16] {
            core::array::from_fn(|i| {
                if i < n {
                    T::from_f64(scale * rng.normal())
                } else {
                    T::ZERO
                }
            })
        };
        for (seed, n) in [(0u32, 16usize), (5, 3), (9, 16)] {
            let (u0, u1, u2, w) = (draw(n), draw(n), draw(n), draw(n));
            let v16 = draw(3);
            let v = [v16[0], v16[1], v16[2]];
            let eta = T::from_f64(0.3);
            for dither in [Dither::nearest(), Dither::stochastic(seed)] {
                // B = 1.
                let (mut fast, mut slow) = (w, w);
                let (mut d_fast, mut d_slow) = (dither, dither);
                let before = T::saturations();
                T::sgd_column(&mut fast[..n], &[&u0[..n]], &[v[0]], eta, &mut d_fast);
                let fast_saturations = T::saturations() - before;
                let before = T::saturations();
                for (w, &u) in slow[..n].iter_mut().zip(&u0) {
                    *w = w.sub_mul_rounded(eta, u * v[0], &mut d_slow);
                }
                assert_eq!(fast, slow);
                assert_eq!(d_fast, d_slow);
                assert_eq!(fast_saturations, T::saturations() - before);
                // B = 3.
                let (mut fast, mut slow) = (w, w);
                let (mut d_fast, mut d_slow) = (dither, dither);
                let us = [&u0[..n], &u1[..n], &u2[..n]];
                let before = T::saturations();
                T::sgd_column(&mut fast[..n], &us, &v, eta, &mut d_fast);
                let fast_saturations = T::saturations() - before;
                let before = T::saturations();
                for (j, w) in slow[..n].iter_mut().enumerate() {
                    let mut g = T::ZERO;
                    for (u, &v) in us.iter().zip(&v) {
                        T::axpy(v, &u[j..=j], core::slice::from_mut(&mut g));
                    }
                    *w = w.sub_mul_rounded(eta, g, &mut d_slow);
                }
                assert_eq!(fast, slow);
                assert_eq!(d_fast, d_slow);
                assert_eq!(fast_saturations, T::saturations() - before);
            }
        }
    }

    /// The fast `sgd_outer` (one call per matrix, its shortcuts for zero factors and for
    /// columns whose gradient cannot leave the range) against the operators column by column,
    /// bit for bit, saturation for saturation and draw for draw: a 7 x 5 matrix whose factors
    /// have zero entries (a zero column of the gradient, zero rows), for small factors (no
    /// clamp possible), large ones (g and w clamp) and mixed ones, B = 1 and 2.
    /// Returns the saturations of the fast calls.
    fn sgd_outer_matches_the_operators<T: Scalar>(tiny: f64, small: f64, large: f64) -> u32 {
        const R: usize = 7;
        const C: usize = 5;
        let mut rng = crate::Rng::new(23);
        let mut draw = |scale: f64, zeros: &[usize]| -> [T; R] {
            core::array::from_fn(|i| {
                let x = T::from_f64(scale * rng.normal());
                if zeros.contains(&i) { T::ZERO } else { x }
            })
        };
        let mut saturations = 0;
        for (u_scale, v_scale) in [
            (tiny, tiny),
            (tiny, small),
            (small, small),
            (large, large),
            (small, large),
            (large, small),
        ] {
            let us = [draw(u_scale, &[1, 4]), draw(u_scale, &[2])];
            let v0 = draw(v_scale, &[2]);
            let v1 = draw(v_scale, &[0, 3]);
            let vs = [&v0[..C], &v1[..C]];
            let mut w = [T::ZERO; R * C];
            for column in w.chunks_exact_mut(R) {
                column.copy_from_slice(&draw(large, &[]));
            }
            let eta = T::from_f64(0.3);
            for dither in [Dither::nearest(), Dither::stochastic(7)] {
                // B = 1.
                let (mut fast, mut slow) = (w, w);
                let (mut d_fast, mut d_slow) = (dither, dither);
                let before = T::saturations();
                T::sgd_outer(&mut fast, &[&us[0][..]], &[vs[0]], eta, &mut d_fast);
                let fast_saturations = T::saturations() - before;
                saturations += fast_saturations;
                let before = T::saturations();
                for (column, &v) in slow.chunks_exact_mut(R).zip(vs[0]) {
                    for (w, &u) in column.iter_mut().zip(&us[0]) {
                        *w = w.sub_mul_rounded(eta, u * v, &mut d_slow);
                    }
                }
                assert_eq!(fast, slow);
                assert_eq!(d_fast, d_slow);
                assert_eq!(fast_saturations, T::saturations() - before);
                // B = 2.
                let (mut fast, mut slow) = (w, w);
                let (mut d_fast, mut d_slow) = (dither, dither);
                let before = T::saturations();
                T::sgd_outer(&mut fast, &[&us[0][..], &us[1][..]], &vs, eta, &mut d_fast);
                let fast_saturations = T::saturations() - before;
                saturations += fast_saturations;
                let before = T::saturations();
                for (k, column) in slow.chunks_exact_mut(R).enumerate() {
                    for (j, w) in column.iter_mut().enumerate() {
                        let mut g = T::ZERO;
                        for (u, v) in us.iter().zip(&vs) {
                            T::axpy(v[k], &u[j..=j], core::slice::from_mut(&mut g));
                        }
                        *w = w.sub_mul_rounded(eta, g, &mut d_slow);
                    }
                }
                assert_eq!(fast, slow);
                assert_eq!(d_fast, d_slow);
                assert_eq!(fast_saturations, T::saturations() - before);
            }
        }
        saturations
    }

    #[test]
    fn fixed_sgd_outer_is_the_operators_bit_for_bit() {
        // Q4.12: 0.003 (12 units) makes every |u v| less than half a unit (columns that only
        // draw the dither); 0.3 keeps |u v| far below 8 (no clamp can fire, the unchecked
        // loop); 3 makes products leave [-8, 8) and weights near the edge step out of it.
        let q12 = sgd_outer_matches_the_operators::<Q12>(0.003, 0.3, 3.0);
        assert!(q12 > 0, "Q4.12: no clamp");
        let q16 = sgd_outer_matches_the_operators::<Q16>(1e-4, 0.3, 20_000.0);
        assert!(q16 > 0, "Q16.16: no clamp");
    }

    /// The shortcut that skips the gradient's clamp (|v| max|u| < 2^27 - 2^11 in Q4.12) at its
    /// edge: u v = 30720 * 4369 = 2^27 - 2^11 rounds to 2^15, one past the range, so it must
    /// clamp, and one unit less must not.
    #[test]
    fn fixed_sgd_outer_clamps_the_gradient_exactly_at_the_edge() {
        let q = Q12::from_bits;
        let u = [q(30720), q(-30720), q(30719), q(0)];
        let v = [q(4369), q(-4369), q(4368), q(0)];
        let w = [q(0); 16];
        let eta = Q12::ONE;
        for dither in [Dither::nearest(), Dither::stochastic(3)] {
            let (mut fast, mut slow) = (w, w);
            let (mut d_fast, mut d_slow) = (dither, dither);
            let before = Q12::saturations();
            Q12::sgd_outer(&mut fast, &[&u[..]], &[&v[..]], eta, &mut d_fast);
            let fast_saturations = Q12::saturations() - before;
            let before = Q12::saturations();
            for (column, &v) in slow.chunks_exact_mut(4).zip(&v) {
                for (w, &u) in column.iter_mut().zip(&u) {
                    *w = w.sub_mul_rounded(eta, u * v, &mut d_slow);
                }
            }
            assert_eq!(fast, slow);
            assert_eq!(d_fast, d_slow);
            assert_eq!(fast_saturations, Q12::saturations() - before);
            assert!(fast_saturations > 0);
        }
    }

    #[test]
    fn fixed_sgd_column_is_the_operators_bit_for_bit() {
        // Scale 3: products of two entries often leave Q4.12's [-8, 8), so both clamps fire.
        sgd_column_matches_the_operators::<Q12>(3.0);
        sgd_column_matches_the_operators::<Q12>(0.2);
        sgd_column_matches_the_operators::<Q16>(200.0);
        sgd_column_matches_the_operators::<Q16>(0.2);
        assert!(Q12::saturations() > 0, "the test never saturated");
    }

    #[test]
    fn fixed_dot_fast_path_matches_the_wide_sum() {
        // Short sums (fast path) and sums whose partial sums overflow i32 (carry path).
        let big = Q12::from_bits(i16::MIN);
        let a = [big; 5];
        assert_eq!(Q12::dot(&a, &a), Q12::MAX);
        let x = [Q12::from_f64(0.5), Q12::from_f64(-1.25), Q12::from_f64(2.0)];
        let y = [Q12::from_f64(1.5), Q12::from_f64(0.75), Q12::from_f64(-0.5)];
        assert_eq!(Q12::dot(&x, &y).to_f64(), 0.75 - 0.9375 - 1.0);
        let mut c = [big, big, Q12::from_bits(i16::MAX), Q12::from_bits(i16::MAX)];
        let d = [big, big, big, big];
        // 2 * 2^30 - 2 * (2^15 - 1) 2^15 = 2^16: a partial sum overflows, the total does not.
        assert_eq!(Q12::dot(&c, &d).to_bits(), 16);
        c[3] = Q12::ZERO;
        assert_eq!(Q12::dot(&c, &d), Q12::MAX);
    }

    /// `round_any` is (w + 2^(F-1)) >> F computed without overflow, at the ends of the wide
    /// range too (where the plain sum would wrap).
    #[test]
    fn round_any_is_the_rounding_to_nearest_ties_up() {
        let mut rng = crate::Rng::new(5);
        let ends = [
            i32::MIN,
            i32::MIN + 1,
            -2049,
            -2048,
            -2047,
            -1,
            0,
            1,
            2047,
            2048,
            i32::MAX,
        ];
        let random = (0..2000).map(|_| (rng.uniform() * 2.0 - 1.0) * 2f64.powi(31));
        for w in ends.into_iter().chain(random.map(|x| x as i32)) {
            assert_eq!(Q12::round_any(w) as i64, (w as i64 + 2048) >> 12, "{w}");
        }
        for w in [i64::MIN, -32769, -32768, -1, 0, 32767, 32768, i64::MAX] {
            assert_eq!(Q16::round_any(w) as i128, (w as i128 + 32768) >> 16, "{w}");
        }
    }

    /// axpy's early return for alpha = 0 is what the arithmetic gives: y unchanged, nothing
    /// counted, at the ends of the range too.
    #[test]
    fn fixed_axpy_with_zero_alpha_leaves_y() {
        let y0 = [Q12::MIN, Q12::MAX, Q12::from_f64(-0.3), Q12::EPSILON];
        let mut y = y0;
        let before = Q12::saturations();
        Q12::axpy(Q12::ZERO, &[Q12::MAX; 4], &mut y);
        assert_eq!((y, Q12::saturations()), (y0, before));
        let y0 = [Q16::MIN, Q16::MAX, Q16::from_f64(-0.3), Q16::EPSILON];
        let mut y = y0;
        let before = Q16::saturations();
        Q16::axpy(Q16::ZERO, &[Q16::MIN; 4], &mut y);
        assert_eq!((y, Q16::saturations()), (y0, before));
    }

    #[test]
    fn isqrt_is_the_floor_of_the_square_root() {
        for n in (0u64..5000).chain([u64::MAX, (1 << 47) - 1, 1 << 47, 999_999_999_999]) {
            let s = super::isqrt(n);
            assert!(s * s <= n, "{n}");
            assert!((s + 1).checked_mul(s + 1).is_none_or(|q| q > n), "{n}");
        }
    }
}
