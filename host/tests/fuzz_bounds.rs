//! Property suite, bounds (issue 12): the certificate, the fixed-point guard and factors, and
//! the determinant, solves and upper bounds of smooth/ (`fuzz_targets::bound_targets`), each
//! over a bounded number of hostile inputs, checked against nalgebra in f64.

/// Inputs per target: the ten run in 0.8 s in the test profile (measured).
const CASES: u32 = 30000;

#[test]
fn bounds_bound_and_errors_are_typed_on_hostile_input() {
    for target in nearid_host::fuzz_targets::bound_targets() {
        if let Err(failure) = target.property(CASES, 12) {
            panic!("{failure}");
        }
    }
}
