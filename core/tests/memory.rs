//! RAM use is known at compile time: the `const` byte counts match the shapes' formulas.

use nearid::fixed::Dither;
use nearid::fixed::Q12;
use nearid::{BufferedSgd, FusedSgd, LinearResNet, ResNet, Sgd, Trainable, training_bytes};

type Net = ResNet<f32, 8, 16, 8>;

#[test]
fn const_byte_counts_match_the_shapes() {
    let (d, h, m) = (8, 16, 8);
    assert_eq!(Net::PARAM_BYTES, 4 * m * (2 * d * h + d + h));
    assert_eq!(Net::TAPE_BYTES, 4 * m * (2 * d + 2 * h));
    assert_eq!(Net::PARAMS, m * (2 * d * h + d + h));
    assert_eq!(LinearResNet::<f64, 5, 7>::PARAM_BYTES, 8 * 7 * 25);
    assert_eq!(LinearResNet::<f64, 5, 7>::TAPE_BYTES, 8 * 7 * 10);
    // Fused SGD keeps the tape and a step count only (fixed point adds the 4-byte state of the
    // generator that rounds its updates stochastically; floats round as IEEE says and keep
    // nothing); the buffered one adds a gradient and a velocity.
    let steps = size_of::<u32>();
    // A batch's tape: B one-sample tapes and the active depth the forward pass ran.
    let tape = size_of::<<Net as Trainable<f32>>::Tape<4>>();
    assert_eq!(tape, 4 * Net::TAPE_BYTES + size_of::<usize>());
    assert_eq!(
        FusedSgd::<f32, Net, 4>::STATE_BYTES,
        tape + size_of::<Sgd<f32>>() + steps
    );
    type Fixed = ResNet<Q12, 8, 16, 8>;
    // Its parts are 2-, 4- and 8-byte aligned: the struct pads them to its 8-byte alignment.
    let parts = size_of::<<Fixed as Trainable<Q12>>::Tape<4>>()
        + size_of::<Sgd<Q12>>()
        + size_of::<Dither>()
        + steps;
    let fixed = FusedSgd::<Q12, Fixed, 4>::STATE_BYTES;
    assert!(
        fixed >= parts && fixed < parts + align_of::<FusedSgd<Q12, Fixed, 4>>(),
        "{fixed} vs {parts}"
    );
    assert_eq!(
        training_bytes::<f32, Net, 4>(0) + 2 * size_of::<Net>(),
        training_bytes::<f32, Net, 4>(2)
    );
    assert_eq!(
        BufferedSgd::<f32, Net, 4>::STATE_BYTES,
        2 * size_of::<Net>() + tape + size_of::<Sgd<f32>>() + steps
    );
    // Usable in const context, e.g. a firmware's RAM budget check.
    const _: () = assert!(training_bytes::<f32, Net, 1>(0) < 16 * 1024);
}
