//! `cargo xtask run`: train a ResNet on the host from the synthetic linear stream y = A x,
//! starting at the identity, and print the loss as it falls.

use nearid::{FusedSgd, LinearTask, Model, ResNet, Rng, Sgd};

/// Width, hidden width, depth: a small network that trains in a second.
const D: usize = 4;
const H: usize = 16;
const M: usize = 8;
const STEPS: usize = 4000;
const REPORT_EVERY: usize = 400;

pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`run` takes no arguments (got `{a}`)"));
    }
    let a = LinearTask::<f32, D>::random_spd(0.5, 1.5, 1);
    let mut task = LinearTask::new(a, 0.0, 2);
    let mut net = ResNet::<f32, D, H, M>::identity_init(&mut Rng::new(3), 0.5);
    let mut sgd = FusedSgd::<f32, _, D, 1>::new(Sgd::new(0.005)).map_err(|e| e.to_string())?;
    println!(
        "training ResNet<f32, D={D}, H={H}, M={M}> ({} parameters, {} bytes + {} bytes of tape) \
         on y = A x, A symmetric positive definite, from an exact identity (W2 = 0)",
        ResNet::<f32, D, H, M>::parameter_count(),
        ResNet::<f32, D, H, M>::PARAM_BYTES,
        ResNet::<f32, D, H, M>::TAPE_BYTES,
    );
    let (mut window, mut first) = (0.0f64, None);
    for step in 1..=STEPS {
        let (x, y) = task.batch::<1>();
        let loss = sgd
            .step(&mut net, &x, &y)
            .map_err(|e| format!("step {step}: {e}"))?
            .loss;
        window += loss as f64;
        if step % REPORT_EVERY == 0 {
            let mean = window / REPORT_EVERY as f64;
            first.get_or_insert(mean);
            println!("step {step:>5}  mean loss {mean:.3e}");
            window = 0.0;
        }
    }
    let (x, y) = task.batch::<256>();
    let held_out: f64 = x
        .iter()
        .zip(&y)
        .map(|(x, y)| net.forward(x).map(|p| 0.5 * (p - y).norm_squared() as f64))
        .sum::<Result<f64, _>>()
        .map_err(|e| e.to_string())?
        / 256.0;
    println!(
        "final loss on 256 held-out samples: {held_out:.3e} (first window: {:.3e})",
        first.unwrap_or(0.0)
    );
    Ok(())
}
