# Named threads for the thread-keying tests. Usage: named_threads.py MODE OUT.json
#   rename  a thread named "before" renames itself "after" 0.5 s in, then works 1.5 s more
#   three   threads "alpha", "beta" and "gamma" work 1 s each, at once
#   short   a thread "short-worker" and the main thread work 0.3 s in all
# The main thread waits for the others (in `short` it works too). Writes
# {name: native thread id} of every thread, "MainThread" included, to OUT.json at the end.
import json
import sys
import threading
import time

mode, out = sys.argv[1], sys.argv[2]
tids = {}


def spin(seconds):
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        for i in range(1000):
            total += i
    return total


def worker(seconds):
    tids[threading.current_thread().name] = threading.get_native_id()
    spin(seconds)


def renaming():
    spin(0.5)
    threading.current_thread().name = "after"
    tids["after"] = threading.get_native_id()
    spin(1.5)


tids["MainThread"] = threading.get_native_id()
if mode == "rename":
    threads = [threading.Thread(target=renaming, name="before")]
elif mode == "three":
    threads = [threading.Thread(target=worker, args=(1.0,), name=n) for n in ("alpha", "beta", "gamma")]
else:
    threads = [threading.Thread(target=worker, args=(0.25,), name="short-worker")]
for t in threads:
    t.start()
if mode == "short":
    spin(0.25)
for t in threads:
    t.join()
with open(out, "w") as f:
    json.dump(tids, f)
