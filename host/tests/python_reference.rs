//! The model file against the Python reference (host/python/nearid_reference.py), through
//! `python3`:
//!
//! - numpy (always; the test fails with the reason when python3 or numpy is missing, and CI
//!   installs numpy): `nearid predict` of an f32 model equals the numpy forward pass of its
//!   `.npz` to 1e-6 relative, and within the f32 rounding bound derived in the script;
//! - PyTorch (when `import torch` works; otherwise the test prints that this part is skipped
//!   and why): a model created in torch and saved with numpy's savez under its state_dict
//!   names loads, `nearid predict` gives what torch computes, and `nearid train --init` fine-
//!   tunes it (the loss on the data falls).
//!
//! About 1 s with numpy alone, 3-5 s more with torch.

mod common;

use common::{nearid, s, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a Python script with the reference module importable; (success, stdout + stderr).
fn python(script: &str) -> (bool, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
    match Command::new("python3")
        .env("PYTHONPATH", dir)
        .args(["-c", script])
        .output()
    {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("cannot run python3: {e}")),
    }
}

fn data() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/arm.csv"))
}

/// The numpy check. The bound: every affine map of n terms computed in f32 (any order) is
/// within gamma_(n+1) (|W| |x| + |b|) of the exact value, gamma_k = k u / (1 - k u), u = 2^-24,
/// plus |W| times its input's error; ReLU is exact and 1-Lipschitz; the residual sum adds
/// gamma_(H+2) (|z| + |r|) (Higham, Accuracy and Stability of Numerical Algorithms, 3.1). The
/// reference computes in float64 from the file's float32 weights and the float32 inputs, whose
/// own error is below 1e-15 relative.
const NUMPY_CHECK: &str = r#"
import sys, numpy as np, nearid_reference as ref
params, config = ref.load(sys.argv[1])
raw = np.genfromtxt(sys.argv[2], delimiter=",", names=True)
x = np.stack([raw[c] for c in config["inputs"]], axis=1).astype(np.float32).astype(np.float64)
y = ref.forward(params, config, x)
cli = np.load(sys.argv[3])
u = 2.0 ** -24
g = lambda k: k * u / (1 - k * u)
def affine(w, b, x, e):
    mag = np.abs(x) @ np.abs(w).T + np.abs(b)
    return x @ w.T + b, g(w.shape[1] + 1) * mag + e @ np.abs(w).T
z, e = affine(params["stem.weight"], params["stem.bias"], x, np.zeros_like(x))
for i in range(ref.depth(params)):
    pre, ep = affine(params[f"blocks.{i}.w1"], params[f"blocks.{i}.b1"], z, e)
    r, er = affine(params[f"blocks.{i}.w2"], params[f"blocks.{i}.b2"], np.maximum(pre, 0), ep)
    e = e + er + g(pre.shape[1] + 2) * (np.abs(z) + np.abs(r))
    z = z + r
_, bound = affine(params["head.weight"], params["head.bias"], z, e)
diff = np.abs(cli - y)
relative = diff.max() / np.abs(y).max()
print(f"max |cli - numpy| = {diff.max():.3e}, relative to max |y| {relative:.3e}, "
      f"largest diff / bound {np.max(diff / bound):.3f}")
assert cli.shape == y.shape, (cli.shape, y.shape)
assert np.all(diff <= bound), "outside the derived f32 bound"
assert relative <= 1e-6, relative
"#;

#[test]
fn cli_predictions_equal_the_numpy_forward_pass() {
    let (ok, why) = python("import numpy");
    assert!(
        ok,
        "python3 with numpy is needed for this test (CI installs it: python3 -m pip install \
         numpy): {why}"
    );
    let model = scratch("arm.npz");
    nearid(&[
        "train",
        s(&data()),
        "--inputs",
        "shoulder,elbow",
        "--targets",
        "x,y",
        "--epochs",
        "5",
        "--depth",
        "2",
        "--hidden",
        "16",
        "--quiet",
        "--out",
        s(&model),
    ]);
    let pred = scratch("arm-pred.npy");
    nearid(&["predict", s(&model), s(&data()), "--out", s(&pred)]);
    let script = format!(
        "import sys; sys.argv = ['', {:?}, {:?}, {:?}]\n{NUMPY_CHECK}",
        s(&model),
        s(&data()),
        s(&pred)
    );
    let (ok, out) = python(&script);
    println!("{out}");
    assert!(ok, "{out}");
}

/// Build a NearidNet in torch (2 inputs, 2 outputs, H = 16, M = 2, random W2 so every block
/// does something), save it under its state_dict names with a config, and write torch's own
/// predictions for the data's inputs.
const TORCH_MAKE: &str = r#"
import sys, json, numpy as np, torch, nearid_reference as ref
torch.manual_seed(3)
net = ref.NearidNet(2, 2, hidden=16, depth=2)
with torch.no_grad():
    for b in net.blocks:
        b.w2.normal_(0.0, 0.1)
config = {"activation": "relu", "loss": "quadratic", "scalar": "f32",
          "inputs": ["shoulder", "elbow"], "targets": ["x", "y"]}
net.to_npz(sys.argv[1], config)
back, _ = ref.NearidNet.from_npz(sys.argv[1])
raw = np.genfromtxt(sys.argv[2], delimiter=",", names=True)
x = np.stack([raw["shoulder"], raw["elbow"]], axis=1).astype(np.float32).astype(np.float64)
with torch.no_grad():
    y = back(torch.from_numpy(x)).numpy()
np.save(sys.argv[3], y)
"#;

#[test]
fn a_torch_model_loads_predicts_the_same_and_fine_tunes() {
    let (has_numpy, why) = python("import numpy");
    assert!(
        has_numpy,
        "python3 with numpy is needed for this test: {why}"
    );
    let (has_torch, why) = python("import torch");
    if !has_torch {
        println!(
            "torch check skipped: `import torch` fails in python3 ({}); CI never installs \
             PyTorch (several GB), install it with `python3 -m pip install torch` to run this \
             part",
            why.lines().last().unwrap_or("no output")
        );
        return;
    }
    let model = scratch("torch.npz");
    let torch_pred = scratch("torch-pred.npy");
    let script = format!(
        "import sys; sys.argv = ['', {:?}, {:?}, {:?}]\n{TORCH_MAKE}",
        s(&model),
        s(&data()),
        s(&torch_pred)
    );
    let (ok, out) = python(&script);
    assert!(ok, "{out}");
    let pred = scratch("torch-cli.npy");
    nearid(&["predict", s(&model), s(&data()), "--out", s(&pred)]);
    let compare = format!(
        "import numpy as np\na = np.load({:?}); b = np.load({:?})\nr = np.abs(a - b).max() / \
         np.abs(b).max()\nprint(f'max |cli - torch| / max |torch| = {{r:.3e}}')\nassert r <= \
         1e-6, r",
        s(&pred),
        s(&torch_pred)
    );
    let (ok, out) = python(&compare);
    println!("{out}");
    assert!(ok, "{out}");
    // Fine-tune from it: the loss on the data must fall.
    let tuned = scratch("torch-tuned.npz");
    nearid(&[
        "train",
        s(&data()),
        "--init",
        s(&model),
        "--epochs",
        "5",
        "--quiet",
        "--out",
        s(&tuned),
    ]);
    let loss = |m: &Path| -> f64 {
        let out = nearid(&["eval", s(m), s(&data())]);
        let at = out.find("loss ").unwrap() + 5;
        out[at..].split(',').next().unwrap().trim().parse().unwrap()
    };
    let (before, after) = (loss(&model), loss(&tuned));
    println!("loss of the torch model {before:.6}, after fine-tuning {after:.6}");
    assert!(after < before, "{before} -> {after}");
}
