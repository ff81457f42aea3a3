"""Starting the benchmark's targets and tools: the machine, the interpreter matrix, the
chroot's mount namespace, and running a profiler to its end with its rusage.

Austin's binary needs a newer glibc than the host's, so it runs inside the Debian
unstable chroot of the interpreter matrix. The harness keeps one helper process in a
private mount namespace with /proc mounted inside the chroot; Austin, and the targets
that live in the chroot, are started inside that namespace (setns + chroot before exec),
so the paths in the targets' /proc/PID/maps mean the same thing to Austin as to the
target. Nothing is mounted outside that namespace, and it goes away with the helper.
"""

import ctypes
import datetime
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, List, Optional

CLONE_NEWNS = 0x00020000
PR_SET_PDEATHSIG = 1


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Failure(Exception):
    """Something the benchmark needs is not there or did not work: said in one line."""


# --- the machine and the interpreters --------------------------------------------------------

@dataclass
class Meta:
    """The machine and the run, as the report's headings say them."""
    date: str
    time: str
    nproc: Optional[int]
    cpu: str
    kernel: str
    loadavg: List[str]
    mode: str = "full"
    duration: int = 0
    repeats: int = 0
    framescope: str = "?"
    pyspy: str = "?"
    austin: str = "?"
    slowdown_python: str = ""
    slowdown_repeats: int = 0
    torn_rate: int = 0


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/loadavg") as f:
            loadavg = f.read().split()[:3]
    except OSError:
        loadavg = ["?", "?", "?"]
    return Meta(date=datetime.date.today().isoformat(),
                time=datetime.datetime.now().isoformat(timespec="seconds"),
                nproc=os.cpu_count(), cpu=model, kernel=platform.release(), loadavg=loadavg)


def interpreters(repo):
    """NAME -> (ROOT, PYTHON) from the one place the matrix is defined."""
    proc = subprocess.run([os.path.join(repo, "scripts", "provision"), "--list"],
                          capture_output=True, text=True)
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    return found


# --- namespaces, processes, rusage ------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def enter_chroot(ns_fd_path, root):
    """A preexec_fn: join the helper's mount namespace, then chroot into ROOT."""
    def enter():
        fd = os.open(ns_fd_path, os.O_RDONLY)
        if _libc.setns(fd, CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (ns_fd_path, os.strerror(err)))
        os.close(fd)
        os.chroot(root)
        os.chdir("/")
    return enter


def die_with_parent(then=None):
    """A preexec_fn: the child gets SIGKILL when the harness dies (a target left spinning
    would skew every later measurement on the machine), then runs THEN."""
    def enter():
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if then:
            then()
    return enter


class Chroot:
    """The Debian unstable chroot, seen through a private mount namespace with /proc."""

    def __init__(self, root, binds=()):
        """BINDS: host directories that Austin must see at the same path inside the chroot
        (the prefixes of host interpreters: Austin opens their libpython by its path)."""
        self.root = root
        script = 'root=$1; parent=$2; shift 2; mount -t proc proc "$root/proc" || exit 1; '
        script += ('for d in "$@"; do mkdir -p "$root$d" && mount --bind "$d" "$root$d" || exit 1; done; '
                   'echo ready; while kill -0 "$parent" 2>/dev/null; do sleep 1; done')
        self.helper = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root,
             str(os.getpid())] + list(binds),
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = read_line(self.helper.stdout, 10)
        if line != "ready":
            self.close()
            raise Failure("could not make a mount namespace with /proc inside %s "
                          "(unshare/mount failed; the benchmark needs root)" % root)
        self.ns = "/proc/%d/ns/mnt" % self.helper.pid

    def preexec(self):
        return enter_chroot(self.ns, self.root)

    def close(self):
        if self.helper.poll() is None:
            self.helper.kill()
            self.helper.wait()


def read_line(stream, timeout):
    """One line from a pipe, or None after TIMEOUT seconds or at end of file."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return None
    line = stream.readline()
    if not line:
        return None
    return line.decode(errors="replace").strip()


def wait_for_output(pattern, paths, proc, timeout):
    """The time PATTERN first shows in one of the files PATHS, or None at TIMEOUT or exit."""
    regex = re.compile(pattern)
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        for path in paths:
            with open(path, "rb") as f:
                if regex.search(f.read().decode(errors="replace")):
                    return time.monotonic()
        time.sleep(0.005)
    return None


def task_cpu_ns(pid):
    """CPU time so far of every thread of PID (ns, from schedstat), or None."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def status_kb(pid, name):
    """A `kB` field of /proc/PID/status (VmRSS, ...), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Measured:
    """What one process's run cost, from wait4 and schedstat, and what it printed."""
    argv: List[str]
    status: int
    killed: bool
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    maxrss_kb: int
    steady_cpu_s: Optional[float] = None
    steady_window_s: Optional[float] = None
    during: Any = None
    stdout: str = ""
    stderr: str = ""

    def trim(self, chars):
        """Keeps the last CHARS of stdout and stderr (results.json stays small)."""
        self.stdout = self.stdout[-chars:]
        self.stderr = self.stderr[-chars:]


def run_measured(argv, workdir, name, duration=None, timeout=60, preexec=None, during=None,
                 started=None):
    """Runs a profiler to its end and returns what its rusage and output say (Measured).

    cpu_s and maxrss_kb come from wait4 on the profiler's own pid (its threads included,
    nothing else). With DURATION, the profiler's CPU time is also read from schedstat at
    25 % and 85 % of the duration: `steady_cpu_s` over `steady_window_s`, which leaves out
    attaching and writing at the end. DURING, if given, is called once the profiler has
    started (instead of those readings) and its value returned as `during`.

    STARTED, a regular expression, is for a profiler that cannot be told to sample for a
    time (py-spy's --duration counts samples, so it runs long when it falls behind): the
    clock starts when its output shows STARTED, and it gets SIGINT DURATION seconds later."""
    out_path = os.path.join(workdir, name + ".stdout")
    err_path = os.path.join(workdir, name + ".stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                preexec_fn=preexec)
    steady = None
    during_value = None
    try:
        if started:
            start = wait_for_output(started, (out_path, err_path), proc, 30) or start
        if during:
            during_value = during()
        elif duration:
            readings = []
            for mark in (start + 0.25 * duration, start + 0.85 * duration):
                delay = mark - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                readings.append((time.monotonic(), task_cpu_ns(proc.pid)))
            if all(r[1] is not None for r in readings):
                steady = ((readings[1][1] - readings[0][1]) / 1e9, readings[1][0] - readings[0][0])
            if started:
                time.sleep(max(0.0, start + duration - time.monotonic()))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
        deadline = start + timeout
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline and not killed:
                proc.kill()
                killed = True
            time.sleep(0.02)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace")
    return Measured(
        argv=argv, status=proc.returncode, killed=killed, wall_s=time.monotonic() - start,
        cpu_s=usage.ru_utime + usage.ru_stime, user_s=usage.ru_utime, sys_s=usage.ru_stime,
        maxrss_kb=usage.ru_maxrss,
        steady_cpu_s=steady[0] if steady else None,
        steady_window_s=steady[1] if steady else None,
        during=during_value, stdout=stdout, stderr=stderr)


# --- targets -----------------------------------------------------------------------------

class Targets:
    """Starts the benchmark's Python programs on any interpreter of the matrix."""

    def __init__(self, repo, interps, chroot, workdir):
        self.repo = repo
        self.interps = interps
        self.chroot = chroot
        self.live = []
        self.host_dir = os.path.join(repo, "tests", "bench")
        self.inside_dir = None
        if chroot:
            # The scripts go into the chroot's /tmp, under a name of this run.
            self.inside_dir = "/tmp/framescope-bench-%d" % os.getpid()
            dest = chroot.root + self.inside_dir
            os.makedirs(dest, exist_ok=True)
            for script in os.listdir(self.host_dir):
                if script.endswith(".py"):
                    shutil.copy(os.path.join(self.host_dir, script), dest)

    def in_chroot(self, version):
        return self.interps[version][0] != "/"

    def start(self, version, script, args, stdin=False, ready_timeout=30):
        root, python = self.interps[version]
        if root == "/":
            argv = [python, os.path.join(self.host_dir, script)] + [str(a) for a in args]
            preexec = None
        else:
            if not self.chroot:
                raise Failure("%s lives in the chroot, which is not set up" % version)
            argv = [python, self.inside_dir + "/" + script] + [str(a) for a in args]
            preexec = self.chroot.preexec()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stderr=subprocess.PIPE, preexec_fn=die_with_parent(preexec))
        self.live.append(proc)
        line = read_line(proc.stdout, ready_timeout)
        if line != "ready":
            self.stop(proc)
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise Failure("%s %s did not start: %s" % (version, script, err[-1] if err else
                                                          "no 'ready' within %ds" % ready_timeout))
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc in self.live:
            self.live.remove(proc)

    def close(self):
        for proc in list(self.live):
            self.stop(proc)
        if self.inside_dir and self.chroot:
            shutil.rmtree(self.chroot.root + self.inside_dir, ignore_errors=True)
