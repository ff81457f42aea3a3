"""Benchmark target: sits busy at the bottom of a recursion, forever.

    python recurse.py DEPTH

The main thread's Python stack is exactly DEPTH frames deep, root first:

    <module> (line CALL-MODULE) ; descend (line CALL-DESCEND) * (DEPTH - 3) ;
    descend (line CALL-SPIN) ; spin (any line of spin)

where CALL-* are the lines marked below; scripts/bench reads the marks from this file to
check the stacks the profilers report. Prints "ready" once it is at the bottom. Runs on
CPython 3.8 and later.
"""
import sys


def spin():
    print("ready", flush=True)
    x = 0
    while True:
        x += 1


def descend(n):
    if n <= 0:
        spin()  # CALL-SPIN
    descend(n - 1)  # CALL-DESCEND


depth = int(sys.argv[1])
if depth < 3:
    sys.exit("recurse.py: DEPTH must be at least 3")
sys.setrecursionlimit(max(1000, depth + 100))
descend(depth - 3)  # CALL-MODULE
