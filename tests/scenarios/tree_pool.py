"""A multiprocessing pool of two workers, each busy in its own function for a known CPU
time: worker_a for A seconds, worker_b for twice as long. Each starts with a fifth of its
time in warm_up, which a profiler that finds a worker late misses. The workers measure
what they used with time.process_time() and the parent writes it to DIR/pool-truth.txt,
one line a function: "NAME PID SECONDS WARM_UP_SECONDS" (SECONDS includes the warm-up).
Used by tests/process_trees.rs.

    python tree_pool.py START_METHOD DIR [A]
"""

import multiprocessing
import os
import sys
import time


def warm_up(seconds):
    start = time.process_time()
    x = 0
    while time.process_time() - start < seconds:
        for i in range(2000):
            x += i
    return time.process_time() - start


def worker_a(seconds):
    start = time.process_time()
    warm = warm_up(seconds / 5)
    x = 0
    while time.process_time() - start < seconds:
        for i in range(2000):
            x += i
    return "worker_a", os.getpid(), time.process_time() - start, warm


def worker_b(seconds):
    start = time.process_time()
    warm = warm_up(seconds / 5)
    x = 0
    while time.process_time() - start < seconds:
        for i in range(2000):
            x += i
    return "worker_b", os.getpid(), time.process_time() - start, warm


def main():
    method, out = sys.argv[1], sys.argv[2]
    a = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        jobs = [pool.apply_async(worker_a, (a,)), pool.apply_async(worker_b, (2 * a,))]
        results = [job.get(timeout=60) for job in jobs]
    with open(os.path.join(out, "pool-truth.txt.partial"), "w") as f:
        for name, pid, used, warm in results:
            f.write("%s %d %.6f %.6f\n" % (name, pid, used, warm))
    os.rename(os.path.join(out, "pool-truth.txt.partial"), os.path.join(out, "pool-truth.txt"))


if __name__ == "__main__":
    main()
