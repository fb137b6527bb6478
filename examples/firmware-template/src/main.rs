//! The smallest firmware that trains a nearid network on the chip: a residual network learns a
//! 3 x 3 linear map y = A x from samples drawn on the device, one sample per step, and prints
//! its loss; under QEMU it exits with success when the loss fell below a threshold.
//!
//! Replace the samples with your sensor's readings (and references), and the network's sizes
//! with yours: its RAM is `Net::PARAM_BYTES` + `Sgd::STATE_BYTES`, known at compile time.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use nearid::{FusedSgd, LinearTask, ResNet, Rng, Sgd};

/// A residual network: 3 inputs and outputs, 8 blocks of hidden width 16, in f32.
type Net = ResNet<f32, 3, 16, 8>;
/// Plain SGD on one sample per step, no gradient buffer.
type Optimiser = FusedSgd<f32, Net, 1>;

#[entry]
fn main() -> ! {
    // Exactly the identity at the start (W2 = 0), with random W1 so that gradients flow.
    let mut net = Net::identity_init(&mut Rng::new(1), 0.5);
    let Ok(mut sgd) = Optimiser::new(Sgd::new(0.02)) else {
        exit(false)
    };
    hprintln!(
        "RAM: network {} B, optimiser {} B",
        Net::PARAM_BYTES,
        Optimiser::STATE_BYTES
    );
    // The task: y = A x with A symmetric positive definite (eigenvalues in [0.6, 1.4]).
    let mut task = LinearTask::<f32, 3>::new(LinearTask::random_spd(0.6, 1.4, 7), 0.0, 8);
    let mut recent = 0.0;
    for step in 1..=3000 {
        let (x, y) = task.batch::<1>();
        // A step that fails (a non-finite sample) leaves the weights as they were: skip it.
        let Ok(done) = sgd.step(&mut net, &x, &y) else {
            continue;
        };
        recent += done.loss / 500.0;
        if step % 500 == 0 {
            hprintln!("step {}: mean loss {}", step, recent);
            if step == 3000 {
                exit(recent < 1e-3);
            }
            recent = 0.0;
        }
    }
    exit(false)
}

/// Ends the run: under QEMU the semihosting exit code becomes QEMU's (0 = success).
fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    exit(false)
}
