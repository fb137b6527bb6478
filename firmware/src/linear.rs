//! The linear calibration mode (feature `linear`): a sensor whose distortion is linear, learnt
//! by a [`LinearResNet`] from the identity, with the HM suboptimality certificate in the log
//! (docs/THEORY.md section 2; issue 16, "the certificate on the chip").
//!
//! The sensor ([`crate::sim_linear`]) reads raw = D t + noise for t on the unit sphere, so the
//! calibration to learn is y = P* x with P* close to D^-1 (det > 0). Each step reads one sample,
//! adds it to a running second moment (whose smallest eigenvalue, bounded from below by matrix
//! Bernstein, is the certificate's sigma_min) and takes one [`FusedSgd`] step on
//! 1/2 ||Pi(A) x - y||^2. From the gradient that step left on its tape and the weights it was
//! taken at, [`Window::add`] forms that step's certificate c_k; every [`LOG_EVERY`] steps the log
//! gives the window's mean loss, mean certificate and, because this is a simulation that knows
//! D, the mean true excess loss beside it (a real device knows only the certificate).
//!
//! Before training, [`WARMUP`] readings go into the second moment alone, so that sigma_min has a
//! positive lower bound from the first step.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use nearid::{FusedSgd, LinearResNet, Scalar, Sgd, Vector};

use crate::board::{self, Clock, Parts, T, Watchdog};
use crate::sim_linear::{
    DELTA, FACTORS, LEARNING_RATE, LOG_EVERY, LinearSensor, Population, RANGE, SEED, STEPS,
    SecondMoment, THRESHOLD, WARMUP, Window, reading,
};
use crate::stack;

/// The network: (I + A_4) ... (I + A_1), 3 x 3 each.
pub type Calibration = LinearResNet<T, 3, FACTORS>;

/// A reading as the network's vector.
pub fn vector(v: &[f64; 3]) -> Vector<T, 3> {
    Vector::from_fn(|i, _| T::from_f64(v[i]))
}

/// One training step, out of line, with the clock reads around the call alone.
#[inline(never)]
fn timed_step<C: Clock>(
    clock: &mut C,
    sgd: &mut FusedSgd<T, Calibration, 1>,
    net: &mut Calibration,
    x: &Vector<T, 3>,
    y: &Vector<T, 3>,
) -> (nearid::Result<nearid::Step<T>>, u64) {
    let start = clock.ticks();
    let result = sgd.step(net, &[*x], &[*y]);
    let ticks = u64::from(clock.ticks().wrapping_sub(start) & C::MASK);
    (result, ticks)
}

/// Logs one window.
fn log_window(step: u32, window: &Window, sigma_min: f64) {
    let (loss, certificate, excess) = window.means();
    match certificate {
        Some(c) => defmt::info!(
            "step {=u32}  loss {=f32}  certificate {=f32}  true excess {=f32}  ratio {=f32}  tau {=f32}  sigma_min >= {=f32}",
            step,
            loss as f32,
            c as f32,
            excess as f32,
            (c / excess) as f32,
            window.tau as f32,
            sigma_min as f32
        ),
        None => defmt::info!(
            "step {=u32}  loss {=f32}  certificate none ({=u32} steps without one)  true excess {=f32}",
            step,
            loss as f32,
            window.uncertified,
            excess as f32
        ),
    }
}

/// Runs the linear calibration; returns whether it passed, and the watchdog for the board's end.
pub fn run<I, L, D, C, W, F>(parts: Parts<I, L, D, C, W, F>) -> (bool, W)
where
    I: I2c,
    L: OutputPin,
    D: DelayNs,
    C: Clock,
    W: Watchdog,
{
    let Parts {
        mut led,
        mut clock,
        mut watchdog,
        ..
    } = parts;
    defmt::info!(
        "nearid firmware: linear calibration with the HM certificate on {=str}",
        board::NAME
    );
    let mut sensor = LinearSensor::new(SEED);
    let population = Population::of(&sensor);
    let mut net = Calibration::identity();
    let mut sgd = FusedSgd::<T, Calibration, 1>::new(Sgd::new(T::from_f64(LEARNING_RATE)));
    let Ok(sgd) = sgd.as_mut() else {
        crate::fault::fail("invalid SGD configuration");
    };
    defmt::info!(
        "network: LinearResNet<{=str}, D=3, M={=usize}> from the identity; the sensor's det D = {=f64} (simulation)",
        board::SCALAR,
        FACTORS,
        crate::sim_linear::det(sensor.distortion())
    );
    defmt::info!(
        "uncalibrated excess loss {=f64} (P = I); training: {=u32} steps of FusedSgd, learning rate {=f32}; sigma_min bound with probability {=f64}",
        population.excess(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        STEPS,
        LEARNING_RATE as f32,
        1.0 - 2.0 * DELTA
    );
    let (mut moment, mut rejected) = (SecondMoment::default(), 0u32);
    for _ in 0..WARMUP {
        watchdog.feed();
        moment.add(&reading(&mut sensor, &mut rejected).0);
    }
    let mut sigma_min = moment.sigma_min_lower(RANGE * RANGE, DELTA);
    defmt::info!(
        "warm-up: {=u32} readings, sigma_min(Sigma) >= {=f64}",
        WARMUP,
        sigma_min
    );
    let (mut window, mut ticks, mut failed) = (Window::default(), 0u64, 0u32);
    for step in 1..=STEPS {
        watchdog.feed();
        let (raw, reference) = reading(&mut sensor, &mut rejected);
        moment.add(&raw);
        let before = net.cast::<f64>();
        let (result, t) = timed_step(
            &mut clock,
            sgd,
            &mut net,
            &vector(&raw),
            &vector(&reference),
        );
        ticks += t;
        match result {
            Ok(done) => window.add(
                done.loss.to_f64(),
                sgd.tape(),
                &before,
                sigma_min,
                &population,
            ),
            Err(_) => failed += 1,
        }
        if matches!(step, 1 | 10 | 100) || step % LOG_EVERY == 0 {
            log_window(step, &window, sigma_min);
            if step < STEPS {
                window = Window::default();
            }
            sigma_min = moment.sigma_min_lower(RANGE * RANGE, DELTA);
            let _ = if step / LOG_EVERY % 2 == 1 {
                led.set_high()
            } else {
                led.set_low()
            };
        }
    }
    let (num, den) = C::UNITS_PER_TICK;
    defmt::info!(
        "cost: {=u64} {=str} per training step (the certificate's own work not included)",
        ticks * num / den / u64::from(STEPS),
        C::UNIT
    );
    let stack = stack::high_water();
    defmt::info!(
        "stack high-water mark: {=usize} B of the stack's {=usize} B",
        stack.used,
        stack.available
    );
    defmt::info!(
        "faults: {=u32} readings out of range skipped, {=u32} training steps failed and skipped (weights kept)",
        rejected,
        failed
    );
    let (_, certificate, excess) = window.means();
    let passed = !stack.overflowed() && excess < THRESHOLD && certificate.is_some();
    if passed {
        defmt::info!(
            "PASS: last window's excess loss {=f64} < {=f64}, certified",
            excess,
            THRESHOLD
        );
        let _ = led.set_high();
    } else {
        let _ = led.set_low();
        defmt::error!(
            "FAIL: last window's excess loss {=f64} (threshold {=f64}), certificate formed: {=bool}",
            excess,
            THRESHOLD,
            certificate.is_some()
        );
    }
    (passed, watchdog)
}
