"""The benchmark problem of nearid's benches in PyTorch (CPU, f32, one thread).

Residual MLP x + W2 relu(W1 x + b1) + b2, M blocks; loss = mean over the batch of 1/2 ||y^ - y||^2;
plain torch.optim.SGD. For each shape (D, H, M, B) it times forward alone (under no_grad) and one
training step (zero_grad, forward, backward, SGD step), and prints one JSON object per line:

  {"system": "pytorch", "group": "train", "shape": "16x32x32x1", "median_s": ..., "min_s": ..., ...}

With --problems DIR (written by `cargo run --bin dump-problems -- DIR` in benches/peers), the
weights and batch are nearid's own (DIR/DxHxMxB.f32) and the losses of 3 steps at lr 1e-3 are
compared with nearid's (DIR/DxHxMxB.losses); without it, the same initialisation is drawn from
torch.manual_seed(1): W1 ~ N(0, 0.3^2), W2 = 0, biases 0.

usage: python3 torch_step.py [--problems DIR] [--seconds S]
"""

import argparse
import json
import os
import sys
import time

SHAPES = [(8, 16, 8, 1), (16, 32, 32, 1), (64, 128, 16, 32)]
LEARNING_RATE = 1e-4


def build(torch, d, h, m, b, problems):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1 = nn.Linear(d, h)
            self.lin2 = nn.Linear(h, d)

        def forward(self, x):
            return x + self.lin2(torch.relu(self.lin1(x)))

    model = nn.Sequential(*[Block() for _ in range(m)])
    name = f"{d}x{h}x{m}x{b}"
    if problems:
        with open(os.path.join(problems, name + ".f32"), "rb") as f:
            raw = f.read()
        flat = torch.frombuffer(bytearray(raw), dtype=torch.float32)
        at = 0

        def take(*shape):
            nonlocal at
            n = 1
            for s in shape:
                n *= s
            t = flat[at : at + n].reshape(shape).clone()
            at += n
            return t

        with torch.no_grad():
            for blk in model:
                blk.lin1.weight.copy_(take(h, d))
                blk.lin1.bias.copy_(take(h))
                blk.lin2.weight.copy_(take(d, h))
                blk.lin2.bias.copy_(take(d))
        x, y = take(b, d), take(b, d)
        assert at == flat.numel(), f"{name}.f32 has {flat.numel()} values, expected {at}"
    else:
        torch.manual_seed(1)
        with torch.no_grad():
            for blk in model:
                blk.lin1.weight.normal_(0.0, 0.3)
                blk.lin1.bias.zero_()
                blk.lin2.weight.zero_()
                blk.lin2.bias.zero_()
        x = torch.randn(b, d)
        y = torch.randn(b, d)
    return model, x, y


def trainer(torch, model, x, y, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    inv_2b = 0.5 / x.shape[0]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).pow(2).sum() * inv_2b
        loss.backward()
        opt.step()
        return loss

    return step


def timed(fn, seconds):
    """Median and minimum seconds per call over 15 samples, each of enough calls to last seconds/15."""
    start = time.perf_counter()
    while time.perf_counter() - start < min(1.0, seconds / 3):  # warm up
        fn()
    n, t = 1, 0.0
    while True:  # calls per sample
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t > seconds / 15 / 4:
            break
        n *= 2
    n = max(1, int(n * (seconds / 15) / t))
    samples = []
    for _ in range(15):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    samples.sort()
    return samples[len(samples) // 2], samples[0], n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"system": "pytorch", "error": f"import torch failed: {e}"}))
        return 0
    torch.set_num_threads(1)
    info = {
        "system": "pytorch",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    print(json.dumps(info), flush=True)
    for d, h, m, b in SHAPES:
        name = f"{d}x{h}x{m}x{b}"
        if args.problems:
            model, x, y = build(torch, d, h, m, b, args.problems)
            step = trainer(torch, model, x, y, 1e-3)
            losses = [float(step()) for _ in range(3)]
            with open(os.path.join(args.problems, name + ".losses")) as f:
                want = [float(v) for v in f.read().split()]
            worst = max(abs(a - w) / max(abs(a), abs(w), 1e-30) for a, w in zip(losses, want))
            print(json.dumps({"system": "pytorch", "check": name, "losses": losses,
                              "nearid": want, "max_relative_difference": worst}), flush=True)
            if worst > 1e-3:
                print(f"torch_step.py: {name}: PyTorch losses {losses} differ from nearid's {want}",
                      file=sys.stderr)
                return 1
        model, x, y = build(torch, d, h, m, b, args.problems)

        def forward():
            with torch.no_grad():
                return model(x)

        for group, fn in [("forward", forward), ("train", trainer(torch, model, x, y, LEARNING_RATE))]:
            median, fastest, calls = timed(fn, args.seconds)
            print(json.dumps({"system": "pytorch", "group": group, "shape": name,
                              "median_s": median, "min_s": fastest, "calls_per_sample": calls}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
