"""Work locked to the clock: during the first 30% of every millisecond of CLOCK_MONOTONIC
(time.perf_counter) the program runs in_window(), the rest of the time out_of_window(), so
the true share of in_window is 30% by construction. A sampler ticking exactly every
millisecond sees the same phase each time and gets the share badly wrong; one that samples
at a random point of each period does not. Runs for the seconds given (default 2)."""
import sys
import time

PERIOD = 1_000_000
WINDOW = 300_000
now = time.perf_counter_ns


def in_window():
    while now() % PERIOD < WINDOW:
        pass


def out_of_window():
    while now() % PERIOD >= WINDOW:
        pass


def main(seconds):
    end = now() + int(seconds * 1e9)
    print("ready", flush=True)
    while now() < end:
        in_window()
        out_of_window()


main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
