"""nearid's model files (.npz) in Python.

A model is x (D_in) -> z = P x + p (D) -> M residual blocks z + W2 s(W1 z + b1) + b2 -> y = Q z + c
(D_out outputs, or one logit per class). `nearid train` writes it with PyTorch's parameter names
(stem.weight, stem.bias, blocks.{i}.w1/b1/w2/b2, head.weight, head.bias) and a `config` entry,
a 0-d string array holding JSON (activation, loss, scalar, inputs, targets, classes). The inputs'
standardisation is folded into the stem, so the forward pass needs nothing else.

- `load`, `forward`, `save`: numpy only.
- `NearidNet`: a torch.nn.Module with the same parameter names (imports torch when used), so
  `NearidNet.from_npz(path)` loads a nearid model and `model.to_npz(path, config)` writes one
  that `nearid eval`, `predict`, `export` and `train --init` read.

Run as a script: `python3 nearid_reference.py MODEL.npz X.npy` prints the outputs for the rows of X.
"""

import json

import numpy as np

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(0.0, z),  # ln(1 + e^z), without overflow
}


def load(path):
    """(params, config): every tensor of the model as float64, and its config as a dict."""
    with np.load(path) as f:
        params = {k: f[k].astype(np.float64) for k in f.files if k != "config"}
        config = json.loads(str(f["config"]))
    return params, config


def depth(params):
    """M, the number of residual blocks."""
    m = 0
    while f"blocks.{m}.w1" in params:
        m += 1
    return m


def forward(params, config, x):
    """The outputs (N, D_out) for inputs x (N, D_in), in float64: logits for a classifier."""
    s = ACTIVATIONS[config["activation"]]
    z = np.asarray(x, np.float64) @ params["stem.weight"].T + params["stem.bias"]
    # A grown model runs only its first active_depth blocks (absent: all of them).
    for i in range(config.get("active_depth", depth(params))):
        a = s(z @ params[f"blocks.{i}.w1"].T + params[f"blocks.{i}.b1"])
        z = z + a @ params[f"blocks.{i}.w2"].T + params[f"blocks.{i}.b2"]
    return z @ params["head.weight"].T + params["head.bias"]


def predict_classes(params, config, x):
    """A classifier's predicted class names (the first largest logit)."""
    return [config["classes"][k] for k in np.argmax(forward(params, config, x), axis=1)]


def save(path, params, config):
    """Writes a model file from a dict of arrays (e.g. a torch state_dict's .numpy()) in float32."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    np.savez(path, config=np.array(json.dumps(config)), **arrays)


def _module_class():
    import torch

    acts = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "softplus": torch.nn.functional.softplus,
    }

    class Block(torch.nn.Module):
        """z + W2 s(W1 z + b1) + b2, parameters named w1, b1, w2, b2 as in the model file."""

        def __init__(self, width, hidden, activation):
            super().__init__()
            self.w1 = torch.nn.Parameter(torch.randn(hidden, width) / width**0.5)
            self.b1 = torch.nn.Parameter(torch.zeros(hidden))
            self.w2 = torch.nn.Parameter(torch.zeros(width, hidden))
            self.b2 = torch.nn.Parameter(torch.zeros(width))
            self.s = acts[activation]

        def forward(self, z):
            return z + self.s(z @ self.w1.T + self.b1) @ self.w2.T + self.b2

    class NearidNet(torch.nn.Module):
        """nearid's network in PyTorch: state_dict() keys are the model file's member names."""

        def __init__(self, inputs, outputs, width=16, hidden=32, depth=4, activation="relu"):
            super().__init__()
            self.activation = activation
            self.stem = torch.nn.Linear(inputs, width)
            self.blocks = torch.nn.ModuleList(
                [Block(width, hidden, activation) for _ in range(depth)]
            )
            self.head = torch.nn.Linear(width, outputs)

        def forward(self, x):
            z = self.stem(x)
            for block in self.blocks[: getattr(self, "active_depth", len(self.blocks))]:
                z = block(z)
            return self.head(z)

        @classmethod
        def from_npz(cls, path):
            """(module, config) from a nearid model file, in float64."""
            params, config = load(path)
            w = params["stem.weight"]
            net = cls(w.shape[1], params["head.weight"].shape[0], w.shape[0],
                      params["blocks.0.w1"].shape[0], depth(params), config["activation"])
            net.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
            net.active_depth = config.get("active_depth", depth(params))
            return net.double(), config

        def to_npz(self, path, config):
            """Writes the module as a nearid model file (float32) with this config."""
            save(path, {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()},
                 dict(config, activation=self.activation))

    return NearidNet


def __getattr__(name):
    # `nearid_reference.NearidNet` imports torch only when it is asked for.
    if name == "NearidNet":
        return _module_class()
    raise AttributeError(name)


if __name__ == "__main__":
    import sys

    params, config = load(sys.argv[1])
    np.savetxt(sys.stdout, forward(params, config, np.load(sys.argv[2])), fmt="%.9e")
