#!/usr/bin/env python3
"""Alternating A/B runs of criterion bench binaries (for a shared, loaded machine): each round
runs every binary once, the order rotated per round, each with its own CRITERION_HOME under
target/ab/; prints per benchmark and binary the median over rounds of criterion's medians,
with min and max, and the 1-minute load average at each run. docs/BENCHMARKS.md ("Against an
older commit") says how the binaries were built.

usage: python3 benches/ab/ab.py OUT.json ROUNDS FILTER name=binary [name=binary ...]
environment: AB_SECONDS = criterion's measurement time per benchmark (default 1)
"""
import json, os, subprocess, sys, time, glob, statistics

out, rounds, flt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bins = [a.split("=", 1) for a in sys.argv[4:]]
wt = os.environ.get("AB_SECONDS", "1")
base = os.path.join(os.getcwd(), "target", "ab")
results = {}  # (id, name) -> [medians]
loads = []
for r in range(rounds):
    order = bins[r % len(bins):] + bins[: r % len(bins)]
    for name, binary in order:
        home = f"{base}/{name}"
        subprocess.run(["rm", "-rf", home])
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, CRITERION_HOME=home)
        loads.append(open("/proc/loadavg").read().split()[0])
        subprocess.run(
            ["nice", "-n", "0", binary, "--bench", "--warm-up-time", "0.5",
             "--measurement-time", wt, "--noplot", flt],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            check=True,
        )
        for bj in glob.glob(f"{home}/**/new/benchmark.json", recursive=True):
            full = json.load(open(bj))["full_id"]
            est = json.load(open(bj.replace("benchmark.json", "estimates.json")))
            results.setdefault(full, {}).setdefault(name, []).append(
                est["median"]["point_estimate"])
    print(f"round {r + 1} done, load {loads[-1]}", file=sys.stderr, flush=True)

json.dump({"results": results, "loads": loads}, open(out, "w"), indent=1)

def fmt(ns):
    return f"{ns / 1000:.2f} us" if ns < 1e6 else f"{ns / 1e6:.3f} ms"

names = [n for n, _ in bins]
print("| benchmark | " + " | ".join(names) + " |")
print("|---|" + "---|" * len(names))
for full in sorted(results):
    cells = []
    for n in names:
        v = results[full].get(n, [])
        if v:
            cells.append(f"{fmt(statistics.median(v))} ({fmt(min(v))}-{fmt(max(v))})")
        else:
            cells.append("-")
    print(f"| {full} | " + " | ".join(cells) + " |")
print("load (1 min) at each run:", " ".join(loads))
