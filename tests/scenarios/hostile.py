"""Targets that push the stack reader to its limits. Each mode prints "ready" once its state
is set up, then holds it until killed:

  deep N        the main thread recursion N deep, in recurse(), asleep at the bottom
  longname N    the main thread, named N "t"s, asleep in a function whose name is N "f"s
                (its qualname, 3.11+, N "q"s), from a file named N "p"s
  threads       a worker thread asleep in worker() until a file "stop-worker" appears
                beside this script; prints its native id after "ready"
  zombie        forks a child that exits at once and is never reaped; prints its pid
"""
import os
import sys
import threading
import time


def recurse(n):
    if n == 0:
        print("ready", flush=True)
        while True:
            time.sleep(1)  # SLEEP_LINE
    recurse(n - 1)  # CALL_LINE


def deep(n):
    sys.setrecursionlimit(n + 1000)
    recurse(n)


def longname(n):
    def f():
        print("ready", flush=True)
        while True:
            time.sleep(1)  # LONG_SLEEP_LINE

    threading.current_thread().name = "t" * n
    name = "f" * n
    changes = {"co_name": name, "co_filename": "p" * n}
    if sys.version_info >= (3, 11):
        changes["co_qualname"] = "q" * n
    f.__code__ = f.__code__.replace(**changes)
    f()


def worker(started):
    started.set()
    stop = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stop-worker")
    while not os.path.exists(stop):
        time.sleep(0.02)  # WORKER_LINE


def threads():
    started = threading.Event()
    t = threading.Thread(target=worker, args=(started,), name="worker", daemon=True)
    t.start()
    started.wait()
    print("ready", flush=True)
    print(t.native_id, flush=True)
    while True:
        time.sleep(1)


def zombie():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    print("ready", flush=True)
    print(pid, flush=True)
    while True:
        time.sleep(1)


mode = sys.argv[1]
if mode == "deep":
    deep(int(sys.argv[2]))
elif mode == "longname":
    longname(int(sys.argv[2]))
elif mode == "threads":
    threads()
elif mode == "zombie":
    zombie()
