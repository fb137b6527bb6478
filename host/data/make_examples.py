"""Writes the README's example data sets (Python's standard library only; seeded, so the files
are the same on every run): `python3 host/data/make_examples.py` from the repository root.

- arm.csv (regression): a two-link arm's joint angles (radians) -> the position of its tip,
  x = cos a + 0.7 cos(a + b), y = sin a + 0.7 sin(a + b), plus noise of sd 0.01.
- motion.csv (classification): six accelerometer features (mean and spread of each axis, in g)
  of four motion states: rest, walk, run, shake.
"""

import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def arm(rng, n=600):
    rows = ["shoulder,elbow,x,y"]
    for _ in range(n):
        a = rng.uniform(-math.pi / 2, math.pi / 2)
        b = rng.uniform(0.0, 2.5)
        x = math.cos(a) + 0.7 * math.cos(a + b) + rng.gauss(0.0, 0.01)
        y = math.sin(a) + 0.7 * math.sin(a + b) + rng.gauss(0.0, 0.01)
        rows.append(f"{a:.5f},{b:.5f},{x:.5f},{y:.5f}")
    return rows


# (mean of x, y, z; spread of x, y, z) per state, in g.
STATES = {
    "rest": ((0.0, 0.0, 1.0), (0.02, 0.02, 0.02)),
    "walk": ((0.1, 0.0, 1.0), (0.25, 0.15, 0.3)),
    "run": ((0.2, 0.0, 1.0), (0.6, 0.4, 0.6)),
    "shake": ((0.0, 0.0, 0.9), (0.8, 0.6, 0.5)),
}


def motion(rng, n=800):
    rows = ["mean_x,mean_y,mean_z,spread_x,spread_y,spread_z,state"]
    names = list(STATES)
    for i in range(n):
        state = names[i % len(names)]
        mean, spread = STATES[state]
        m = [mu + rng.gauss(0.0, 0.15) for mu in mean]
        s = [abs(sd * (1.0 + rng.gauss(0.0, 0.6))) for sd in spread]
        rows.append(",".join(f"{v:.4f}" for v in m + s) + f",{state}")
    return rows


if __name__ == "__main__":
    rng = random.Random(14)
    for name, rows in [("arm.csv", arm(rng)), ("motion.csv", motion(rng))]:
        with open(os.path.join(HERE, name), "w") as f:
            f.write("\n".join(rows) + "\n")
