"""Benchmark target: a Python parent with N busy Python children, forever.

    python spinners.py N DEPTH

Each child runs recurse.py DEPTH (busy at the bottom of a recursion) and dies with the
parent. The parent prints "ready" once every child has said "ready", then waits for them.
scripts/bench's process-tree section (scripts/bench.d/tree.py) records the parent with
--subprocesses. Runs on CPython 3.8 and later.
"""
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent():
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main():
    n, depth = int(sys.argv[1]), sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    children = [subprocess.Popen([sys.executable, os.path.join(here, "recurse.py"), depth],
                                 stdout=subprocess.PIPE, preexec_fn=die_with_parent)
                for _ in range(n)]
    for child in children:
        if child.stdout.readline().strip() != b"ready":
            sys.exit("spinners.py: a child did not start")
    print("ready", flush=True)
    for child in children:
        child.wait()


if __name__ == "__main__":
    main()
