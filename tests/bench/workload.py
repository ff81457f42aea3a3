"""Benchmark workload for target slowdown: a fixed amount of CPU-bound Python work.

    python workload.py ROUNDS

Prints "ready", waits for a line on standard input (so a profiler can attach first), runs
ROUNDS rounds of the same work 30 calls deep, then prints the seconds the work took, wall
(time.perf_counter) and CPU (time.process_time), and exits. Runs on CPython 3.8 and later.
"""
import sys
import time


def leaf(i):
    return (i * 7) % 13


def work(n):
    total = 0
    words = {}
    for i in range(n):
        total += leaf(i)
        key = "k%d" % (i & 63)
        words[key] = words.get(key, 0) + 1
    return total + len(words)


def nest(depth, n):
    if depth == 0:
        return work(n)
    return nest(depth - 1, n)


def main():
    rounds = int(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(rounds):
        nest(30, 20000)
    print("%.6f %.6f" % (time.perf_counter() - start, time.process_time() - cpu), flush=True)


main()
