# Process trees for tests/subprocesses.rs. `python tree.py MODE ...`:
#   delayed PY DIR     start `sh -c 'sleep 0.3; exec PY DIR/tree.py child'`, spin meanwhile
#   child              spin in child_spin for 0.6 s of CPU
#   cross PY DIR       start `PY DIR/tree.py waiter` (another CPython), print ready, wait
#   waiter             print ready, wait in child_wait
#   zombie DIR         start a child that exits at once, never reap it, print ready, spin
#   workers PY DIR N   start N workers (`PY DIR/tree.py worker`), write their pids, wait
#   worker             spin in worker_spin forever
#   hinted PY DIR      start `PY DIR/tree.py child` and wait for it, then exit
import os
import subprocess
import sys
import time


def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def parent_spin(seconds):
    spin(seconds)


def child_spin():
    end = time.process_time() + 0.6
    while time.process_time() < end:
        pass


def child_wait():
    time.sleep(60)


def worker_spin():
    while True:
        pass


def parent_wait(children):
    for c in children:
        c.wait()


def main():
    mode = sys.argv[1]
    if mode == "delayed":
        py, here = sys.argv[2], sys.argv[3]
        c = subprocess.Popen(["sh", "-c", "sleep 0.3; exec %s %s/tree.py child" % (py, here)])
        parent_spin(0.2)
        parent_wait([c])
    elif mode == "child":
        child_spin()
    elif mode == "cross":
        py, here = sys.argv[2], sys.argv[3]
        c = subprocess.Popen([py, here + "/tree.py", "waiter"], stdout=subprocess.PIPE)
        assert c.stdout.readline().strip() == b"ready"
        print("ready", flush=True)
        parent_wait([c])
    elif mode == "waiter":
        print("ready", flush=True)
        child_wait()
    elif mode == "zombie":
        c = subprocess.Popen([sys.executable, "-c", "pass"])
        while True:
            with open("/proc/%d/stat" % c.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        print("ready %d" % c.pid, flush=True)
        parent_spin(30)
    elif mode == "workers":
        py, here, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        cs = [subprocess.Popen([py, here + "/tree.py", "worker"]) for _ in range(n)]
        with open(here + "/pids.tmp", "w") as f:
            f.write(" ".join(str(c.pid) for c in cs))
        os.rename(here + "/pids.tmp", here + "/pids")
        parent_wait(cs)
    elif mode == "worker":
        worker_spin()
    elif mode == "hinted":
        py, here = sys.argv[2], sys.argv[3]
        parent_wait([subprocess.Popen([py, here + "/tree.py", "child"])])
    elif mode == "execs":
        py, here = sys.argv[2], sys.argv[3]
        parent_wait([subprocess.Popen([py, here + "/tree.py", "early", py, here])])
    elif mode == "early":
        early(sys.argv[2], sys.argv[3])
    elif mode == "later":
        other_work(sys.argv[2])


# Modes below main() (the lines above are checked by tests):
#   execs PY DIR       start `PY DIR/tree.py early PY DIR` and wait for it
#   early PY DIR       burn 0.5 s of CPU in early(), write process_time() to DIR/early,
#                      then exec `PY DIR/tree.py later DIR`
#   later DIR          burn 0.3 s of CPU in other_work(), write process_time() to DIR/later
def early(py, here):
    spin(0.5)
    # The CPU time of the process so far: exec keeps counting it.
    with open(here + "/early", "w") as f:
        f.write(repr(time.process_time()))
    os.execv(py, [py, here + "/tree.py", "later", here])


def other_work(here):
    spin(0.3)
    with open(here + "/later", "w") as f:
        f.write(repr(time.process_time()))


main()
