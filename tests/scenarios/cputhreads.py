"""Two worker threads burn known amounts of CPU (0.3 s and 0.6 s of their own CPU time),
started half a second after "ready" so that a profiler attached at "ready" sees them from
their first instant. Each worker writes its native thread id and the CPU time it used, by
its own clock, to cpu-NAME.txt in the directory given as the first argument."""
import os
import sys
import threading
import time

out_dir = sys.argv[1]


def burn(seconds):
    start = time.thread_time()
    x = 0
    while time.thread_time() - start < seconds:
        for i in range(1000):
            x += i * i
    return x


def worker(name, seconds):
    started = time.thread_time()
    burn(seconds)
    used = time.thread_time() - started
    with open(os.path.join(out_dir, f"cpu-{name}.txt.tmp"), "w") as f:
        f.write(f"{threading.get_native_id()} {used:.6f}\n")
    os.rename(os.path.join(out_dir, f"cpu-{name}.txt.tmp"), os.path.join(out_dir, f"cpu-{name}.txt"))


print("ready", flush=True)
time.sleep(0.5)
threads = [
    threading.Thread(target=worker, args=("short", 0.3), name="short"),
    threading.Thread(target=worker, args=("long", 0.6), name="long"),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
time.sleep(0.2)
