"""A program that measures its own time split, for checking profiles against the truth.

Run as `python split.py TRUTH.json SECONDS [EXIT_CODE]`. It cycles through three phases —
`spin` (CPU, shallow), `deep_spin` (CPU at the bottom of a call chain 12 deep) and
`nap` (sleeping) — for random lengths (so no phase lines up with the sampling period),
timing each with perf_counter, then writes the seconds spent in each
to TRUTH.json and exits with EXIT_CODE (default 0). With SECONDS = 0 it runs until killed
and writes nothing.
"""
import json
import random
import sys
import time


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def chain(depth, seconds):
    if depth == 0:
        return deep_spin(seconds)
    return chain(depth - 1, seconds)


def deep_spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def nap(seconds):
    time.sleep(seconds)


def main():
    truth_path = sys.argv[1]
    total = float(sys.argv[2])
    exit_code = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    spent = {"spin": 0.0, "deep_spin": 0.0, "nap": 0.0}
    start = time.perf_counter()
    while total == 0 or time.perf_counter() - start < total:
        for name, fn, mean in (("spin", spin, 0.012), ("deep_spin", lambda s: chain(12, s), 0.008), ("nap", nap, 0.010)):
            t0 = time.perf_counter()
            fn(random.uniform(0.5 * mean, 1.5 * mean))
            spent[name] += time.perf_counter() - t0
    spent["total"] = time.perf_counter() - start
    with open(truth_path, "w") as f:
        json.dump(spent, f)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
