//! Property suite, factorisation (issue 12, "a fuzz suite of the project's own"): every target
//! of `nearid_host::fuzz_targets::factor_targets` over a bounded number of hostile inputs. A
//! failure names the API and the smallest failing input proptest found; `cargo xtask fuzz`
//! runs the same targets for as long as asked.

/// Inputs per target: the five run in 1.3 s in the test profile (measured).
const CASES: u32 = 6000;

#[test]
fn factorisation_apis_keep_their_promises_on_hostile_input() {
    for target in nearid_host::fuzz_targets::factor_targets() {
        if let Err(failure) = target.property(CASES, 12) {
            panic!("{failure}");
        }
    }
}
