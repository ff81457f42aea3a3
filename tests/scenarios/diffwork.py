"""A fixed amount of CPU work for the `framescope diff` tests; exits when done.

    python diffwork.py ROUNDS FACTOR VARIANT

Each round calls `steady` (always the same work), `tuned` (FACTOR times the work of
`steady`: the function a test makes slower) and one of `legacy` (VARIANT `old`) or
`modern` (VARIANT `new`): a function that disappears and one that appears. The size of
each call varies from round to round (a fixed pseudo-random sequence, the same in every
run), so that the work has no period a fixed-rate sampler could lock onto. Imports
nothing, so that start-up is short.
"""
import sys


def steady(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def tuned(n):
    total = 0
    for i in range(n):
        total += i % 11
    return total


def legacy(n):
    total = 0
    for i in range(n):
        total ^= i
    return total


def modern(n):
    total = 0
    for i in range(n):
        total |= i
    return total


def main():
    rounds = int(sys.argv[1])
    factor = float(sys.argv[2])
    extra = legacy if sys.argv[3] == "old" else modern
    state = 12345
    for _ in range(rounds):
        # A linear congruential sequence: sizes from 1000 to 4999, mean 3000.
        state = (state * 1103515245 + 12345) % 2147483648
        size = 1000 + (state >> 8) % 4000
        steady(size)
        tuned(int(size * factor))
        extra(size // 2)


main()
