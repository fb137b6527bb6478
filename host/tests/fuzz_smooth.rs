//! Property suite, smooth maps (issue 12): scales, the scaling decomposition, Newton,
//! normalisation, distillation and block Lipschitz bounds (`fuzz_targets::smooth_targets`),
//! each over a bounded number of hostile inputs.

/// Inputs per target: the six run in 0.6 s in the test profile (measured).
const CASES: u32 = 20000;

#[test]
fn smooth_map_apis_keep_their_promises_on_hostile_input() {
    for target in nearid_host::fuzz_targets::smooth_targets() {
        if let Err(failure) = target.property(CASES, 12) {
            panic!("{failure}");
        }
    }
}
