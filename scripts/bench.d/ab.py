#!/usr/bin/env python3
"""Interleaved A/B of two framescope builds: CPU per sample, nothing else.

    python3 scripts/bench.d/ab.py OLD_BINARY NEW_BINARY PYTHON [PYTHON ...]
        [--depth 50] [--rounds 5] [--seconds 3]

For each PYTHON (an interpreter's path on this machine), starts tests/bench/recurse.py
DEPTH under it and records it with each binary in turn (`record --pid --nonblocking` at
1 kHz for SECONDS), alternating which goes first each round, so that a machine getting
busier or quieter weighs on both alike. Prints each binary's CPU µs per sample (its own
user+sys from wait4, over the samples its summary says it took), every round and the
median, and new/old. scripts/bench --rev measures one revision per run; this is for
"is this build slower than that one" on a noisy machine.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RECURSE = os.path.join(HERE, "..", "..", "tests", "bench", "recurse.py")


def cpu_us_per_sample(binary, pid, seconds, out):
    p = subprocess.Popen([binary, "record", "--pid", str(pid), "--nonblocking", "--rate",
                          "1000", "--duration", str(seconds), "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(p.pid, 0)
    m = re.search(r"framescope: (\d+) samples", err)
    if status != 0 or not m or int(m.group(1)) == 0:
        sys.exit("%s failed: %s" % (binary, err.strip().splitlines()[-1:] or status))
    return (usage.ru_utime + usage.ru_stime) / int(m.group(1)) * 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("pythons", nargs="+")
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=3)
    args = p.parse_args()
    out = "/tmp/framescope-ab-%d.fsr" % os.getpid()
    for python in args.pythons:
        target = subprocess.Popen([python, RECURSE, str(args.depth)], stdout=subprocess.PIPE)
        try:
            target.stdout.readline()
            runs = {"old": [], "new": []}
            for r in range(args.rounds):
                order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
                for name in order:
                    runs[name].append(cpu_us_per_sample(getattr(args, name), target.pid,
                                                        args.seconds, out))
        finally:
            target.kill()
            target.wait()
        old, new = statistics.median(runs["old"]), statistics.median(runs["new"])
        print("%s depth %d: old %.1f µs/sample %s, new %.1f %s, new/old %.3f" % (
            python, args.depth, old, ["%.1f" % x for x in runs["old"]], new,
            ["%.1f" % x for x in runs["new"]], new / old), flush=True)
    if os.path.exists(out):
        os.remove(out)


if __name__ == "__main__":
    main()
