"""Loads a server on 127.0.0.1:PORT with THREADS client threads for SECONDS, each asking
for /fast and /slow in turn, so both are asked for as often. Prints "ready" once the
server answers, then "fast N slow M" (answers received) at the end. Used by
tests/process_trees.rs.

    python tree_client.py PORT SECONDS THREADS
"""

import sys
import threading
import time
import urllib.request


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        r.read()


def main():
    port, seconds, threads = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    deadline = time.monotonic() + 20
    while True:
        try:
            get(port, "/fast")
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("tree_client: nothing answers on 127.0.0.1:%d" % port)
            time.sleep(0.05)
    print("ready", flush=True)
    counts = {"/fast": 0, "/slow": 0}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def load():
        while time.monotonic() < end:
            for path in ("/fast", "/slow"):
                try:
                    get(port, path)
                except OSError:
                    continue  # a worker restarting or killed: ask again
                with lock:
                    counts[path] += 1

    workers = [threading.Thread(target=load) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("fast %d slow %d" % (counts["/fast"], counts["/slow"]), flush=True)


if __name__ == "__main__":
    main()
