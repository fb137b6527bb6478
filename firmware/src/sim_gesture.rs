//! Simulated gestures: short windows of a 3-axis accelerometer (units of g) held by a hand
//! that rests, shakes, tilts or taps, for the classification app (`classify.rs`) and the host program that writes the desktop training set (host/examples/gestures_csv.rs). Seeded and
//! deterministic; it uses only `nearid` and `libm`, so a host program can include it too.
//!
//! A window is [`WINDOW`] samples at [`RATE_HZ`] (0.1 s), flattened sample by sample (x, y, z,
//! x, ...) into [`INPUTS`] values: 15, within the 16 inputs `nearid train` compiles, so a model
//! trained on the desktop has the firmware's shape. Every window starts from a random orientation of gravity g0 (tilted
//! up to 0.6 rad from the z axis, any azimuth) and adds noise uniform in [-0.1, 0.1] g per axis;
//! the classes, drawn with equal probability, differ in what happens on top of that:
//!
//! | class | motion | parameters (uniform) |
//! |---|---|---|
//! | 0 rest | nothing | |
//! | 1 shake | a sin(2 pi f t + psi) along a random horizontal direction | a in [0.03, 0.5] g, f in [6, 16] Hz |
//! | 2 tilt | gravity turns by an angle about a random horizontal axis, linearly over the window | angle in [0.05, 0.6] rad |
//! | 3 tap | an impulse on one sample, half of it back on the next, along a random direction | a in [0.1, 1.0] g |
//!
//! The window's mean per axis is then taken out (a high-pass filter, as accelerometers have one
//! built in), which removes gravity's random orientation and leaves the motion and the noise, and
//! the result is scaled by [`GAIN`].
//!
//! The weakest of each class (a 0.03 g shake, a 0.05 rad tilt, a 0.1 g tap) drown in the
//! noise, so no classifier reaches 100%: chance is 1 / [`CLASSES`] = 25%, and the accuracy a
//! classifier reaches between the two is the measure.

use nearid::Rng;

/// Samples per window.
pub const WINDOW: usize = 5;
/// Sample rate of the accelerometer.
pub const RATE_HZ: f64 = 50.0;
/// Values per window: 3 axes per sample.
pub const INPUTS: usize = 3 * WINDOW;
/// Gesture classes.
pub const CLASSES: usize = 4;
/// Their names, by class index.
pub const NAMES: [&str; CLASSES] = ["rest", "shake", "tilt", "tap"];
/// The window is returned in units of g / GAIN: an accelerometer's +-2 g range spans Q4.12's
/// +-8, and the inputs are not small next to the initial weights.
pub const GAIN: f64 = 4.0;
/// Half-width of the uniform noise per axis, in g.
pub const NOISE: f64 = 0.1;

/// The gesture stream.
#[derive(Clone, Debug)]
pub struct Gestures {
    rng: Rng,
}

impl Gestures {
    /// A stream fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
        }
    }

    /// The next window (x, y, z of each sample in turn) and its class.
    pub fn window(&mut self) -> ([f64; INPUTS], usize) {
        let rng = &mut self.rng;
        let class = (rng.next_u32() % CLASSES as u32) as usize;
        let tilt = rng.uniform_in(0.0, 0.6);
        let azimuth = rng.uniform_in(0.0, core::f64::consts::TAU);
        let (sa, ca) = (libm::sin(azimuth), libm::cos(azimuth));
        // A random horizontal direction (and the axis the tilt class turns about).
        let heading = rng.uniform_in(0.0, core::f64::consts::TAU);
        let horizontal = [libm::cos(heading), libm::sin(heading), 0.0];
        let mut out = [0.0; INPUTS];
        // Per class, the motion's parameters, drawn once per window.
        let (amplitude, freq, phase) = match class {
            1 => (
                rng.uniform_in(0.03, 0.5),
                rng.uniform_in(6.0, 16.0),
                rng.uniform_in(0.0, core::f64::consts::TAU),
            ),
            2 => (rng.uniform_in(0.05, 0.6), 0.0, 0.0),
            3 => (
                rng.uniform_in(0.1, 1.0),
                0.0,
                f64::from(rng.next_u32() % (WINDOW as u32 - 1)),
            ),
            _ => (0.0, 0.0, 0.0),
        };
        let tap_direction = if class == 3 {
            unit_vector(rng)
        } else {
            [0.0; 3]
        };
        for k in 0..WINDOW {
            let time = k as f64 / RATE_HZ;
            // Gravity at this sample: tilted by `tilt` toward the azimuth, and for the tilt
            // class turned further by up to `amplitude` about the horizontal axis.
            let turn = if class == 2 {
                amplitude * k as f64 / (WINDOW - 1) as f64
            } else {
                0.0
            };
            let g0 = [libm::sin(tilt) * ca, libm::sin(tilt) * sa, libm::cos(tilt)];
            let g = rotate(&g0, &horizontal, turn);
            let motion: [f64; 3] = match class {
                1 => {
                    let s = amplitude * libm::sin(core::f64::consts::TAU * freq * time + phase);
                    horizontal.map(|h| s * h)
                }
                3 if k as f64 == phase => tap_direction.map(|d| amplitude * d),
                3 if k as f64 == phase + 1.0 => tap_direction.map(|d| -0.5 * amplitude * d),
                _ => [0.0; 3],
            };
            for axis in 0..3 {
                let noise = rng.uniform_in(-NOISE, NOISE);
                out[3 * k + axis] = g[axis] + motion[axis] + noise;
            }
        }
        // The window's mean per axis taken out (a high-pass filter, as accelerometers have
        // one built in): gravity and its random orientation mostly go, the motion stays.
        for axis in 0..3 {
            let mean = (0..WINDOW).map(|k| out[3 * k + axis]).sum::<f64>() / WINDOW as f64;
            for k in 0..WINDOW {
                out[3 * k + axis] = (out[3 * k + axis] - mean) * GAIN;
            }
        }
        (out, class)
    }
}

/// Uniform on the unit sphere.
fn unit_vector(rng: &mut Rng) -> [f64; 3] {
    let z = rng.uniform_in(-1.0, 1.0);
    let phi = rng.uniform_in(0.0, core::f64::consts::TAU);
    let r = libm::sqrt((1.0 - z * z).max(0.0));
    [r * libm::cos(phi), r * libm::sin(phi), z]
}

/// v turned by `angle` about the unit axis `k` (Rodrigues).
fn rotate(v: &[f64; 3], k: &[f64; 3], angle: f64) -> [f64; 3] {
    if angle == 0.0 {
        return *v;
    }
    let (s, c) = (libm::sin(angle), libm::cos(angle));
    let dot = k[0] * v[0] + k[1] * v[1] + k[2] * v[2];
    let cross = [
        k[1] * v[2] - k[2] * v[1],
        k[2] * v[0] - k[0] * v[2],
        k[0] * v[1] - k[1] * v[0],
    ];
    core::array::from_fn(|i| v[i] * c + cross[i] * s + k[i] * dot * (1.0 - c))
}
