//! Property suite, training (issue 12): one step of each optimiser in every kernel path and
//! format, inference, model files, checkpoints and growth, each over a bounded number of hostile
//! inputs (`fuzz_training::targets`): no panic, `Ok` finite, `Err` changes nothing.

/// Inputs per target, chosen to keep the whole test near a few seconds in the test profile.
const CASES: u32 = 3000;

#[test]
fn training_apis_keep_their_promises_on_hostile_input() {
    for target in nearid_host::fuzz_training::targets() {
        if let Err(failure) = target.property(CASES, 21) {
            panic!("{failure}");
        }
    }
}
