"""A parent that starts two Python children with subprocess, each busy in its own
function (hot_alpha, hot_beta) until the parent goes away, and on demand a third, forked
one (hot_gamma): it starts when DIR/late appears and exits normally (status 0) when
DIR/late-stop appears. The parent itself only waits. It writes DIR/pids ("alpha PID",
"beta PID") once both children run, DIR/gamma-pid once the third does, and prints
"ready". Used by tests/top.rs.

    python top_tree.py DIR
"""

import os
import subprocess
import sys
import time


def hot_alpha(parent):
    x = 0
    while os.getppid() == parent:
        for i in range(20000):
            x += i


def hot_beta(parent):
    x = 0
    while os.getppid() == parent:
        for i in range(20000):
            x += i


def hot_gamma(parent, stop):
    x = 0
    while os.getppid() == parent and not os.path.exists(stop):
        for i in range(20000):
            x += i


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def main():
    if sys.argv[1] == "alpha":
        hot_alpha(int(sys.argv[2]))
        return
    if sys.argv[1] == "beta":
        hot_beta(int(sys.argv[2]))
        return
    out = sys.argv[1]
    me = str(os.getpid())
    script = os.path.abspath(__file__)
    children = [subprocess.Popen([sys.executable, script, role, me]) for role in ("alpha", "beta")]
    time.sleep(0.3)
    write(os.path.join(out, "pids"), "".join(
        f"{role} {c.pid}\n" for role, c in zip(("alpha", "beta"), children)))
    print("ready", flush=True)
    gamma = None
    while True:
        if gamma is None and os.path.exists(os.path.join(out, "late")):
            gamma = os.fork()
            if gamma == 0:
                hot_gamma(int(me), os.path.join(out, "late-stop"))
                os._exit(0)
            write(os.path.join(out, "gamma-pid"), f"{gamma}\n")
        if gamma:
            done, status = os.waitpid(gamma, os.WNOHANG)
            if done:
                write(os.path.join(out, "gamma-status"), f"{status}\n")
                gamma = -1
        time.sleep(0.05)


if __name__ == "__main__":
    main()
