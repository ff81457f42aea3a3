"""A parent with N busy children (separate Python processes, started with
subprocess): each child spins in busy_child until it is killed or its parent goes away.
The parent prints "ready PID PID ..." (the children's pids) and waits for them. Used by
tests/process_trees.rs.

    python tree_busy.py N
"""

import os
import subprocess
import sys
import time


def busy_child(parent):
    x = 0
    while os.getppid() == parent:
        for i in range(20000):
            x += i


def main():
    if sys.argv[1] == "child":
        busy_child(int(sys.argv[2]))
        return
    n = int(sys.argv[1])
    children = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "child",
                                  str(os.getpid())]) for _ in range(n)]
    # Each child is running Python code before its pid is announced.
    time.sleep(0.3)
    print("ready " + " ".join(str(c.pid) for c in children), flush=True)
    for c in children:
        c.wait()


if __name__ == "__main__":
    main()
