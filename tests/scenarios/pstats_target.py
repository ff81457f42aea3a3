# A program with known hot functions and known callers, for the pstats tests: main calls
# recurse (which calls itself three times, then outer), outer calls inner; inner burns
# the CPU. Runs for argv[1] seconds (default 1.5).
import sys
import time


def inner(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def outer():
    return inner(20000)


def recurse(depth):
    if depth == 0:
        return outer()
    return recurse(depth - 1)


def main(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        recurse(3)


main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.5)
