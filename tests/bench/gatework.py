"""A fixed amount of CPU work shaped like a benchmark under a test runner, for measuring
the CI gate (`scripts/bench --only gate`); exits when done.

    GATEWORK_SLOWER=PERCENT python -S gatework.py ROUNDS

Eight harness frames (main, Runner.run, Runner.run_suite, Suite.run_test, Test.call,
timed, benchmark, run_case) sit over four functions that share the work: `render_month`
(40%, doing its work through `render_week`, `render_day` and `cell`), `parse_records`
(30%), `summarize` (20%) and `checksum` (10%). GATEWORK_SLOWER (default 0) makes
render_month do that many percent more work, so its cumulative time grows by that much
and the rest stays as it was. Every function does the same loop, so the shares are the
shares of the iterations. The size of each round varies (a fixed pseudo-random sequence,
the same in every run), so the work has no period a fixed-rate sampler could lock onto.
Imports nothing but os and sys, so that start-up is short.
"""
import os
import sys

SLOWER = 1.0 + float(os.environ.get("GATEWORK_SLOWER", "0")) / 100.0


def cell(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def render_day(n):
    return cell(n)


def render_week(n):
    return render_day(n)


def render_month(n):
    return render_week(int(n * SLOWER))


def parse_records(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def summarize(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def checksum(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def run_case(rounds):
    state = 12345
    for _ in range(rounds):
        # A linear congruential sequence: sizes from 200 to 999, mean 600.
        state = (state * 1103515245 + 12345) % 2147483648
        size = 200 + (state >> 8) % 800
        render_month(4 * size)
        parse_records(3 * size)
        summarize(2 * size)
        checksum(size)


def benchmark(rounds):
    run_case(rounds)


def timed(rounds):
    benchmark(rounds)


class Test:
    def call(self, rounds):
        timed(rounds)


class Suite:
    def run_test(self, rounds):
        Test().call(rounds)


class Runner:
    def run_suite(self, rounds):
        Suite().run_test(rounds)

    def run(self, rounds):
        self.run_suite(rounds)


def main():
    Runner().run(int(sys.argv[1]))


main()
