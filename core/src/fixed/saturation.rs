//! Saturation accounting: every fixed-point operation that clamps a result to its format's
//! range adds one to a counter of that format, so saturation is never silent.
//!
//! Fixed-point arithmetic goes through operator traits (`a + b`), which have no place for a
//! context argument, so the counter lives beside the format:
//!
//! - with the `std` feature (host builds and tests) it is **thread-local**, so tests running in
//!   parallel threads do not see each other's saturations;
//! - without it (firmware) it is one static per format. Where the target has atomic
//!   read-modify-write (`target_has_atomic = "32"`: Cortex-M3 and up, RISC-V with A) it is
//!   incremented with `fetch_add`; thumbv6m (Cortex-M0/M0+) has atomic loads and stores only, so
//!   there it is a plain load then store. An interrupt that saturates between the two can lose
//!   its own increments, but a count, once non-zero, stays non-zero until [`reset`]
//!   (every store writes at least 1), which is what "saturation happened" checks rely on.
//!
//! The optimisers report the saturations of each step in [`crate::Step::saturations`].

/// Which format a counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// [`crate::fixed::Q16`], Q16.16 in 32 bits.
    Q16 = 0,
    /// [`crate::fixed::Q12`], Q4.12 in 16 bits.
    Q12 = 1,
}

const FORMATS: usize = 2;

use core::sync::atomic::{AtomicU32, Ordering};

#[cfg(any(test, feature = "std"))]
mod imp {
    use super::{FORMATS, Format};
    use core::cell::Cell;

    std::thread_local! {
        static COUNTS: [Cell<u32>; FORMATS] = const { [Cell::new(0), Cell::new(0)] };
    }

    #[inline]
    pub fn add(f: Format) {
        COUNTS.with(|c| {
            let c = &c[f as usize];
            c.set(c.get().saturating_add(1));
        });
    }

    pub fn get(f: Format) -> u32 {
        COUNTS.with(|c| c[f as usize].get())
    }

    pub fn reset(f: Format) {
        COUNTS.with(|c| c[f as usize].set(0));
    }
}

/// The firmware's counters: one static per format (no thread-locals without std). Compiled on
/// every target, so the host's tests hold it to its contract even where the std counters serve.
#[cfg_attr(any(test, feature = "std"), allow(dead_code))]
struct StaticCounts([AtomicU32; FORMATS]);

#[cfg_attr(any(test, feature = "std"), allow(dead_code))]
impl StaticCounts {
    const fn new() -> Self {
        Self([AtomicU32::new(0), AtomicU32::new(0)])
    }

    #[inline]
    fn add(&self, f: Format) {
        let Some(c) = self.0.get(f as usize) else {
            return;
        };
        #[cfg(target_has_atomic = "32")]
        {
            // Saturates at u32::MAX instead of wrapping back to zero.
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
        }
        #[cfg(not(target_has_atomic = "32"))]
        {
            // No read-modify-write on this target (thumbv6m): see the module docs.
            c.store(
                c.load(Ordering::Relaxed).saturating_add(1),
                Ordering::Relaxed,
            );
        }
    }

    fn get(&self, f: Format) -> u32 {
        self.0
            .get(f as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn reset(&self, f: Format) {
        if let Some(c) = self.0.get(f as usize) {
            c.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(not(any(test, feature = "std")))]
mod imp {
    use super::{Format, StaticCounts};

    static COUNTS: StaticCounts = StaticCounts::new();

    #[inline]
    pub fn add(f: Format) {
        COUNTS.add(f);
    }

    pub fn get(f: Format) -> u32 {
        COUNTS.get(f)
    }

    pub fn reset(f: Format) {
        COUNTS.reset(f);
    }
}

/// Records one saturation of format `f`.
#[inline]
pub fn record(f: Format) {
    imp::add(f);
}

/// Saturations of format `f` since the last [`reset`] (saturates at `u32::MAX`).
pub fn count(f: Format) -> u32 {
    imp::get(f)
}

/// Sets the counter of format `f` to zero.
pub fn reset(f: Format) {
    imp::reset(f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_format_and_resets() {
        reset(Format::Q16);
        reset(Format::Q12);
        record(Format::Q16);
        record(Format::Q16);
        record(Format::Q12);
        assert_eq!((count(Format::Q16), count(Format::Q12)), (2, 1));
        reset(Format::Q16);
        assert_eq!((count(Format::Q16), count(Format::Q12)), (0, 1));
    }

    #[test]
    fn the_firmwares_static_counts_count_per_format_reset_and_saturate() {
        let counts = StaticCounts::new();
        counts.add(Format::Q16);
        counts.add(Format::Q16);
        counts.add(Format::Q12);
        assert_eq!((counts.get(Format::Q16), counts.get(Format::Q12)), (2, 1));
        counts.reset(Format::Q16);
        assert_eq!((counts.get(Format::Q16), counts.get(Format::Q12)), (0, 1));
        // A count that has reached u32::MAX stays there: it never wraps back to "no saturation".
        let full = StaticCounts([AtomicU32::new(u32::MAX - 1), AtomicU32::new(0)]);
        full.add(Format::Q16);
        full.add(Format::Q16);
        assert_eq!(full.get(Format::Q16), u32::MAX);
    }
}
