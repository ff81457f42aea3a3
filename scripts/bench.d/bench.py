#!/usr/bin/env python3
"""The measuring half of scripts/bench: framescope side by side with py-spy and Austin.

scripts/bench builds framescope, installs py-spy and Austin, and then runs this file with
the paths in environment variables (BENCH_*). Run `scripts/bench --help` for the options;
docs/bench.md says how to read the output.

What it measures, in this order:
  1. per-sample cost: targets busy at the bottom of a recursion (tests/bench/recurse.py)
     on each Python version, each profiler at 1 kHz and 10 kHz: samples delivered,
     errors, CPU per sample from the profiler's own rusage, framescope's remote reads per
     sample, peak RSS, and whether the stacks reported are the true one; next to them the
     "floor": framescope's sleep loop alone (examples/sleep_floor.rs), what this machine
     charges a process for waking up at that rate, sampling nothing;
  2. a strace cross-check of framescope's reads per sample;
  3. target slowdown: the wall time of tests/bench/workload.py alone and under each
     profiler at 1 kHz;
  4. post-processing: a synthetic 1,000,000-sample recording to a table and a flamegraph;
  5. torn stacks: framescope nonblocking at 10 kHz on tests/bench/churn.py, whose depth
     changes all the time; every stack read back is checked against the program's shape;
  6. process trees: --subprocesses on a parent with 1, 4 and 8 busy children at 1 kHz,
     framescope and py-spy: samples delivered, CPU and syscalls per sample (tree.py).
  7. asyncio (only when named: --only asyncio): tests/bench/aioserver.py as an asyncio
     service and as the same work in plain calls, framescope and py-spy nonblocking at
     1 kHz: reads and us per sample, and how many samples framescope read again.
`--soak` instead records for a long time and reports framescope's RSS at intervals.
`--only gate` (never run unless asked: it keeps CPU hogs busy for a quarter of an hour)
measures the CI gate's false alarms and power with CPU hogs running (gate.py).

Austin's binary needs a newer glibc than the host's, so it runs inside the Debian
unstable chroot of the interpreter matrix. The harness keeps one helper process in a
private mount namespace with /proc mounted inside the chroot; Austin, and the targets
that live in the chroot, are started inside that namespace (setns + chroot before exec),
so the paths in the targets' /proc/PID/maps mean the same thing to Austin as to the
target. Nothing is mounted outside that namespace, and it goes away with the helper.

Every number is measured here, in this run; nothing is compared to a stored baseline.
"""

import argparse
import ast
import atexit
import ctypes
import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

import gate
import tree as tree_bench

CLONE_NEWNS = 0x00020000
ANSI = re.compile(r"\x1b\[[0-9;]*m")

QUICK_VERSIONS = ["pyenv-3.9", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "sid-3.14", "sid-3.15"]
FULL_VERSIONS = QUICK_VERSIONS
DEPTHS = [5, 50, 200]

# The profiler runs per case: (tool, mode, rate). Blocking modes only at 1 kHz: pausing
# the target 10,000 times a second is not a way anyone profiles, and py-spy cannot keep
# up with it at depth.
RUNS = [
    ("floor", "sleep only", 1000),
    ("floor", "sleep only", 10000),
    ("framescope", "nonblocking", 1000),
    ("framescope", "blocking", 1000),
    ("py-spy", "nonblocking", 1000),
    ("py-spy", "blocking", 1000),
    ("austin", "nonblocking", 1000),
    ("framescope", "nonblocking", 10000),
    ("py-spy", "nonblocking", 10000),
    ("austin", "nonblocking", 10000),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Failure(Exception):
    """Something the benchmark needs is not there or did not work: said in one line."""


# --- the machine and the interpreters --------------------------------------------------------

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
    return {
        "date": datetime.date.today().isoformat(),
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


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


PR_SET_PDEATHSIG = 1


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


def run_measured(argv, workdir, name, duration=None, timeout=60, preexec=None, during=None,
                 started=None):
    """Runs a profiler to its end and returns what its rusage and output say.

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
    return {
        "argv": argv,
        "status": proc.returncode,
        "killed": killed,
        "wall_s": time.monotonic() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
        "steady_cpu_s": steady[0] if steady else None,
        "steady_window_s": steady[1] if steady else None,
        "during": during_value,
        "stdout": stdout,
        "stderr": stderr,
    }


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


# --- stacks: reading them back and checking them --------------------------------------------

LABEL = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def parse_collapsed(text):
    """[(frames root first as (name, line), count)] from collapsed/raw stack lines."""
    stacks = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or " " not in line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = []
        for label in stack.split(";"):
            m = LABEL.match(label)
            frames.append((m.group("name"), int(m.group("line"))) if m else (label, -1))
        stacks.append((frames, int(count)))
    return stacks


class Shape:
    """What a target's source says its stacks can be: the CALL-* marks and the line
    ranges of its functions."""

    def __init__(self, path):
        with open(path) as f:
            source = f.read()
        self.marks = {}
        for number, text in enumerate(source.splitlines(), 1):
            m = re.search(r"# (CALL-[A-Z]+)", text)
            if m:
                self.marks[m.group(1)] = number
        self.ranges = {}
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                self.ranges[node.name] = (node.lineno, node.end_lineno)

    def inside(self, function, frame):
        lo, hi = self.ranges[function]
        return frame[0] == function and lo <= frame[1] <= hi


def recurse_ok(shape, depth):
    """recurse.py DEPTH: exactly one true stack (the innermost line aside)."""
    head = ([("<module>", shape.marks["CALL-MODULE"])]
            + [("descend", shape.marks["CALL-DESCEND"])] * (depth - 3)
            + [("descend", shape.marks["CALL-SPIN"])])

    def ok(frames):
        return (len(frames) == depth and frames[:-1] == head
                and shape.inside("spin", frames[-1]))
    return ok


def churn_ok(shape):
    """churn.py: <module> ; churn [; dive * k ; dive-anywhere], k < 40."""
    module = ("<module>", shape.marks["CALL-MODULE"])
    churn_call = ("churn", shape.marks["CALL-CHURN"])
    dive_call = ("dive", shape.marks["CALL-DIVE"])

    def ok(frames):
        if len(frames) < 2 or frames[0] != module:
            return False
        if len(frames) == 2:
            return shape.inside("churn", frames[1])
        if frames[1] != churn_call or len(frames) > 2 + 40:
            return False
        return (all(f == dive_call for f in frames[2:-1])
                and shape.inside("dive", frames[-1]))
    return ok


def check_stacks(stacks, ok):
    good = sum(n for frames, n in stacks if ok(frames))
    total = sum(n for _, n in stacks)
    bad = [(frames, n) for frames, n in stacks if not ok(frames)]
    bad.sort(key=lambda x: -x[1])
    return good, total, bad


def show_stack(frames, limit=8):
    labels = ["%s:%d" % f for f in frames]
    if len(labels) > limit:
        labels = labels[:3] + ["...(%d frames)..." % (len(labels) - limit + 2)] + labels[-(limit - 4):]
    return ";".join(labels)


# --- the three profilers ---------------------------------------------------------------------

FS_SUMMARY = re.compile(
    r"framescope: (?P<samples>\d+) samples, (?P<missed>\d+) missed, (?P<errors>\d+) errors "
    r"in (?P<secs>[\d.]+)s \((?P<why>[^)]*)\); pid \d+, CPython (?P<version>\S+), "
    r"(?P<reads>[\d.]+) reads/sample(?:, (?P<reread>\d+) re-read)?")


class Tools:
    def __init__(self, env, chroot, workdir):
        self.fs = env["BENCH_FRAMESCOPE"]
        self.example = env["BENCH_SYNTHETIC"]
        self.floor = env.get("BENCH_SLEEP_FLOOR")
        self.pyspy = env["BENCH_PYSPY"]
        self.austin = env.get("BENCH_AUSTIN")  # a path inside the chroot
        self.chroot = chroot
        self.workdir = workdir
        self.count = 0

    def name(self, tool):
        self.count += 1
        return "%04d-%s" % (self.count, tool)

    def record(self, tool, mode, pid, rate, duration, timeout=None, during=None):
        """One profiler run against PID. Returns a result dict; 'failed' says why not."""
        name = self.name(tool)
        timeout = timeout or duration + 60
        blocking = mode == "blocking"
        if tool == "framescope":
            out = os.path.join(self.workdir, name + ".fsr")
            argv = [self.fs, "record", "--pid", str(pid), "--rate", str(rate),
                    "--blocking" if blocking else "--nonblocking", "-o", out]
            if duration:
                argv += ["--duration", str(duration)]
            r = run_measured(argv, self.workdir, name, duration, timeout, during=during)
            r["output"] = out
            m = FS_SUMMARY.search(r["stderr"])
            if not m:
                r["failed"] = last_line(r["stderr"]) or "exit %d, no summary line" % r["status"]
                return r
            r["samples"] = int(m.group("samples"))
            r["errors"] = int(m.group("errors"))
            r["missed"] = int(m.group("missed"))
            r["reads_per_sample"] = float(m.group("reads"))
            if m.group("reread") is not None:
                r["reread_pct"] = 100.0 * int(m.group("reread")) / max(1, r["samples"])
            r["python"] = m.group("version")
            r["stopped"] = m.group("why")
            r["sampled_s"] = float(m.group("secs"))
        elif tool == "floor":
            if not self.floor:
                return {"failed": "examples/sleep_floor is not built"}
            r = run_measured([self.floor, str(rate), str(duration)], self.workdir, name,
                             duration, timeout)
            m = re.search(r"sleep_floor: (\d+) wake-ups", r["stdout"])
            if not m:
                r["failed"] = last_line(r["stderr"]) or "exit %d" % r["status"]
                return r
            r["samples"] = int(m.group(1))
            r["errors"] = 0
        elif tool == "py-spy":
            out = os.path.join(self.workdir, name + ".txt")
            # Not --duration: py-spy takes that as a number of samples (rate x duration) and
            # runs for longer when it falls behind. It is stopped with SIGINT instead,
            # DURATION seconds after it says it has started sampling.
            argv = [self.pyspy, "record", "--pid", str(pid), "--rate", str(rate),
                    "-f", "raw", "-o", out]
            if not blocking:
                argv.append("--nonblocking")
            r = run_measured(argv, self.workdir, name, duration, timeout, during=during,
                             started=None if during else r"Sampling process")
            r["output"] = out
            m = re.search(r"Samples: (\d+) Errors: (\d+)", r["stdout"] + r["stderr"])
            if not m:
                r["failed"] = last_line(r["stderr"]) or last_line(r["stdout"]) or "exit %d" % r["status"]
                return r
            r["samples"] = int(m.group(1))
            r["errors"] = int(m.group(2))
        elif tool == "austin":
            if not (self.austin and self.chroot):
                return {"failed": "Austin is not installed (it needs the chroot)"}
            if blocking:
                return {"failed": "Austin has no blocking mode"}
            inside = "/tmp/framescope-bench-%d/%s.mojo" % (os.getpid(), name)
            argv = [self.austin, "-i", "%dus" % round(1e6 / rate), "-p", str(pid), "-o", inside]
            if duration:
                argv += ["-x", str(duration)]
            r = run_measured(argv, self.workdir, name, duration, timeout,
                             preexec=self.chroot.preexec(), during=during)
            try:
                r["output_bytes"] = os.path.getsize(self.chroot.root + inside)
                os.remove(self.chroot.root + inside)
            except OSError:
                pass
            text = ANSI.sub("", r["stderr"])
            m = re.search(r"Error rate[ .]*(\d+)/(\d+)", text)
            if not m:
                lines = [l.strip() for l in text.splitlines() if l.strip() and "austin" not in l.lower()
                         and not set(l.strip()) <= set("_|/\\`'() ,-<>")]
                r["failed"] = next((l for l in lines if "🔢" in l or "Cannot" in l or "rror" in l),
                                   lines[0] if lines else "exit %d" % r["status"])
                r["failed"] = r["failed"].replace("🔢", "").strip()
                return r
            r["errors"] = int(m.group(1))
            r["samples"] = int(m.group(2)) - r["errors"]
        else:
            raise ValueError(tool)
        return r

    def stacks(self, result):
        """The stacks a run recorded, or None where the tool's output is not read here."""
        path = result.get("output")
        if not path or not os.path.exists(path):
            return None
        if path.endswith(".fsr"):
            proc = subprocess.run([self.fs, "report", path, "--format", "collapsed", "--idle",
                                   "--lines"], capture_output=True, text=True)
            if proc.returncode != 0:
                raise Failure("framescope report %s failed: %s" % (path, last_line(proc.stderr)))
            return parse_collapsed(proc.stdout)
        with open(path, errors="replace") as f:
            return parse_collapsed(f.read())


def last_line(text):
    lines = [l.strip() for l in ANSI.sub("", text).splitlines() if l.strip()]
    return lines[-1] if lines else ""


def per_sample(r, rate, duration):
    """Adds the derived numbers to one run's result."""
    if "failed" in r:
        return r
    n = r["samples"]
    r["requested"] = int(rate * duration)
    r["delivered_pct"] = 100.0 * n / r["requested"] if r["requested"] else None
    r["us_per_sample"] = 1e6 * r["cpu_s"] / n if n else None
    if r.get("steady_cpu_s") is not None and n:
        # Samples in the window: the run's delivered rate over the window's length.
        expected = n / duration * r["steady_window_s"]
        r["steady_us_per_sample"] = 1e6 * r["steady_cpu_s"] / expected if expected else None
        r["steady_core_pct"] = 100.0 * r["steady_cpu_s"] / r["steady_window_s"]
    r["rss_mb"] = r["maxrss_kb"] / 1024.0
    return r


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# --- the sections ------------------------------------------------------------------------------

def bench_per_sample(opts, targets, tools, versions):
    log("== per-sample cost: %s, depths %s, %ds per run, %d repeat(s)"
        % (", ".join(versions), ", ".join(map(str, opts.depths)), opts.duration, opts.repeats))
    shape = Shape(os.path.join(targets.host_dir, "recurse.py"))
    results = []
    for version in versions:
        for depth in opts.depths:
            try:
                target = targets.start(version, "recurse.py", [depth])
            except Failure as e:
                log("   %s depth %d: %s" % (version, depth, e))
                results.append({"version": version, "depth": depth, "failed": str(e)})
                continue
            ok = recurse_ok(shape, depth)
            unsupported = set()
            try:
                for rep in range(opts.repeats):
                    for tool, mode, rate in RUNS:
                        if (tool, mode) in unsupported or (tool not in opts.tools
                                                           and tool != "floor"):
                            continue
                        r = tools.record(tool, mode, target.pid, rate, opts.duration)
                        r = per_sample(r, rate, opts.duration)
                        r.update(version=version, depth=depth, tool=tool, mode=mode, rate=rate,
                                 repeat=rep)
                        if "failed" not in r:
                            stacks = tools.stacks(r)
                            if stacks is not None:
                                good, total, bad = check_stacks(stacks, ok)
                                r["stacks_total"] = total
                                r["stacks_good"] = good
                                r["correct_pct"] = 100.0 * good / total if total else None
                                r["bad_examples"] = [(show_stack(f), n) for f, n in bad[:3]]
                        else:
                            # A profiler that cannot read this interpreter will not on the
                            # next try either.
                            unsupported.add((tool, mode))
                        for key in ("stdout", "stderr"):
                            r[key] = r.get(key, "")[-2000:]
                        results.append(r)
                        log("   %-9s depth %3d  %-10s %-11s %5d Hz  %s"
                            % (version, depth, tool, mode, rate, brief(r)))
                        if target.poll() is not None:
                            raise Failure("the target died during the run")
            finally:
                targets.stop(target)
    return results


def brief(r):
    if "failed" in r:
        return "FAILED: " + r["failed"]
    text = "%5.1f%% delivered, %d errors, %s us/sample (steady %s), %.1f MB" % (
        r["delivered_pct"], r["errors"], fmt(r["us_per_sample"]),
        fmt(r.get("steady_us_per_sample")), r["rss_mb"])
    if r.get("reads_per_sample") is not None:
        text += ", %.1f reads/sample" % r["reads_per_sample"]
    if r.get("correct_pct") is not None:
        text += ", %.2f%% true stacks" % r["correct_pct"]
    return text


def fmt(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def aggregate(results):
    """Medians over repeats: (version, depth, tool, mode, rate) -> summary dict."""
    groups = {}
    for r in results:
        if "tool" not in r:
            continue
        key = (r["version"], r["depth"], r["tool"], r["mode"], r["rate"])
        groups.setdefault(key, []).append(r)
    agg = {}
    for key, runs in groups.items():
        good = [r for r in runs if "failed" not in r]
        if not good:
            agg[key] = {"failed": runs[0]["failed"]}
            continue
        agg[key] = {
            "runs": len(good),
            "delivered_pct": median(r["delivered_pct"] for r in good),
            "errors": median(r["errors"] for r in good),
            "us_per_sample": median(r["us_per_sample"] for r in good),
            "steady_us_per_sample": median(r.get("steady_us_per_sample") for r in good),
            "steady_core_pct": median(r.get("steady_core_pct") for r in good),
            "reads_per_sample": median(r.get("reads_per_sample") for r in good),
            "rss_mb": max(r["rss_mb"] for r in good),
            "correct_pct": median(r.get("correct_pct") for r in good),
            "python": good[0].get("python"),
        }
    return agg


def print_per_sample(agg, versions, depths):
    print("\n## Per-sample cost (medians over repeats)\n")
    print("us/sample = the profiler's CPU (user+sys, from rusage) / samples delivered; "
          "steady = the same over the middle of the run only (schedstat), without attach "
          "and shutdown. true = % of samples whose stack is exactly the target's.\n")
    print("| Python | depth | rate | profiler | delivered | errors | us/sample | steady | "
          "core % | reads/sample | peak RSS MB | true stacks |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for version in versions:
        for depth in depths:
            for tool, mode, rate in RUNS:
                a = agg.get((version, depth, tool, mode, rate))
                if a is None:
                    continue
                label = "%s %s" % (tool, mode)
                if "failed" in a:
                    print("| %s | %d | %s | %s | failed: %s |||||||" % (
                        version, depth, khz(rate), label, a["failed"][:90].replace("|", "/")))
                    continue
                print("| %s | %d | %s | %s | %.1f%% | %s | %s | %s | %s | %s | %.1f | %s |" % (
                    version, depth, khz(rate), label, a["delivered_pct"], fmt(a["errors"], 0),
                    fmt(a["us_per_sample"]), fmt(a["steady_us_per_sample"]),
                    fmt(a["steady_core_pct"]), fmt(a["reads_per_sample"]), a["rss_mb"],
                    "-" if a["correct_pct"] is None else "%.2f%%" % a["correct_pct"]))


def khz(rate):
    return "%g kHz" % (rate / 1000.0)


def ratios(agg, versions, depths):
    """framescope / other, per version and depth, for CPU per sample (all-in)."""
    rows = []
    pairs = [
        ("py-spy nb 1k", ("framescope", "nonblocking", 1000), ("py-spy", "nonblocking", 1000)),
        ("py-spy b 1k", ("framescope", "blocking", 1000), ("py-spy", "blocking", 1000)),
        ("py-spy nb 10k", ("framescope", "nonblocking", 10000), ("py-spy", "nonblocking", 10000)),
        ("Austin 1k", ("framescope", "nonblocking", 1000), ("austin", "nonblocking", 1000)),
        ("Austin 10k", ("framescope", "nonblocking", 10000), ("austin", "nonblocking", 10000)),
    ]
    floor_pairs = [
        ("py-spy nb 1k above floor", ("framescope", "nonblocking", 1000),
         ("py-spy", "nonblocking", 1000)),
        ("Austin 1k above floor", ("framescope", "nonblocking", 1000),
         ("austin", "nonblocking", 1000)),
    ]
    for version in versions:
        for depth in depths:
            row = {"version": version, "depth": depth}
            for label, ours, theirs in pairs:
                a = agg.get((version, depth) + ours)
                b = agg.get((version, depth) + theirs)
                if a and b and "failed" not in a and "failed" not in b and b["us_per_sample"]:
                    row[label] = a["us_per_sample"] / b["us_per_sample"]
                else:
                    row[label] = None
            # The same with the cost of waking up (measured alone, same rate) taken out of
            # both: what each profiler spends on the sample itself.
            for label, ours, theirs in floor_pairs:
                a = agg.get((version, depth) + ours)
                b = agg.get((version, depth) + theirs)
                f = agg.get((version, depth, "floor", "sleep only", ours[2]))
                ok = all(x and "failed" not in x for x in (a, b, f))
                above = ok and b["us_per_sample"] - f["us_per_sample"]
                row[label] = ((a["us_per_sample"] - f["us_per_sample"]) / above
                              if ok and above and above > 0 else None)
            rows.append(row)
    return [p[0] for p in pairs + floor_pairs], rows


def print_ratios(labels, rows):
    print("\n## framescope / other: CPU per sample (below 1: framescope is cheaper)\n")
    print("| Python | depth | " + " | ".join("vs " + l for l in labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for row in rows:
        print("| %s | %d | %s |" % (row["version"], row["depth"], " | ".join(
            "-" if row[l] is None else "%.3f" % row[l] for l in labels)))


def strace_check(opts, targets, tools, versions):
    """framescope's reads per sample as strace counts them, once."""
    if not shutil.which("strace"):
        log("== strace cross-check: skipped (strace is not installed; apt-get install strace)")
        return None
    version = next((v for v in versions if v in ("pyenv-3.12", "sid-3.14")), versions[0])
    depth = 50 if 50 in opts.depths else opts.depths[0]
    log("== strace cross-check: framescope nonblocking at 1 kHz, %s depth %d, 2 s" % (version, depth))
    target = targets.start(version, "recurse.py", [depth])
    try:
        summary = os.path.join(tools.workdir, "strace-summary.txt")
        out = os.path.join(tools.workdir, "strace.fsr")
        argv = ["strace", "-f", "-c", "-o", summary, tools.fs, "record", "--pid", str(target.pid),
                "--rate", "1000", "--duration", "2", "--nonblocking", "-o", out]
        r = run_measured(argv, tools.workdir, "strace", None, 120)
    finally:
        targets.stop(target)
    m = FS_SUMMARY.search(r["stderr"])
    if not m or not os.path.exists(summary):
        log("   strace run failed: %s" % last_line(r["stderr"]))
        return None
    calls = {}
    with open(summary) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and not parts[-1].startswith("total"):
                try:
                    calls[parts[-1]] = int(parts[3])
                except ValueError:
                    pass
    samples = int(m.group("samples"))
    res = {
        "version": version, "depth": depth, "samples": samples,
        "reported_reads_per_sample": float(m.group("reads")),
        "process_vm_readv_per_sample": calls.get("process_vm_readv", 0) / samples if samples else None,
        "syscalls_per_sample": sum(calls.values()) / samples if samples else None,
        "top": sorted(calls.items(), key=lambda kv: -kv[1])[:8],
    }
    print("\n## strace cross-check (framescope, %s, depth %d, 1 kHz nonblocking, 2 s under strace)\n"
          % (version, depth))
    print("framescope's summary: %.1f reads/sample over %d samples; strace: %.2f "
          "process_vm_readv/sample, %.2f syscalls/sample in all (attach and the final report "
          "included). Calls: %s" % (
              res["reported_reads_per_sample"], samples, res["process_vm_readv_per_sample"],
              res["syscalls_per_sample"], ", ".join("%s %d" % kv for kv in res["top"])))
    return res


def bench_slowdown(opts, targets, tools):
    version = opts.slowdown_python
    log("== target slowdown: tests/bench/workload.py %d rounds on %s, %d repeats"
        % (opts.workload_rounds, version, opts.slowdown_repeats))
    configs = [("alone", None, None)]
    for tool, mode in [("framescope", "nonblocking"), ("framescope", "blocking"),
                       ("py-spy", "nonblocking"), ("py-spy", "blocking"), ("austin", "nonblocking")]:
        if tool in opts.tools:
            configs.append((tool + " " + mode, tool, mode))
    # Per round, so that each profiled run can be set against the run alone next to it.
    times = {c[0]: {} for c in configs}
    cpus = {c[0]: {} for c in configs}
    notes = {}
    for rep in range(opts.slowdown_repeats):
        for label, tool, mode in configs:
            if label in notes:
                continue
            try:
                target = targets.start(version, "workload.py", [opts.workload_rounds], stdin=True)
            except Failure as e:
                raise Failure("slowdown: %s" % e)
            try:
                def go():
                    if tool:
                        time.sleep(0.8)  # let the profiler attach before the work starts
                    target.stdin.write(b"go\n")
                    target.stdin.flush()
                    return read_line(target.stdout, 300)
                if tool:
                    # A long duration: the profiler stops when the workload exits.
                    r = tools.record(tool, mode, target.pid, 1000, 600, timeout=320, during=go)
                    if "failed" in r:
                        notes[label] = r["failed"]
                        log("   %s: %s" % (label, r["failed"]))
                    line = r.get("during")
                else:
                    line = go()
                if label not in notes:
                    try:
                        times[label][rep], cpus[label][rep] = map(float, line.split())
                    except (AttributeError, TypeError, ValueError):
                        notes[label] = "the workload printed %r" % (line,)
            finally:
                targets.stop(target)
            if label not in notes:
                log("   round %d  %-24s %.3f s wall, %.3f s CPU"
                    % (rep + 1, label, times[label][rep], cpus[label][rep]))
    def paired(values, alone):
        """The median over rounds of (this run / the run alone in the same round) - 1, %."""
        ratios = [values[r] / alone[r] for r in values if alone.get(r)]
        return 100.0 * (median(ratios) - 1) if ratios else None
    rows = []
    for label, _, _ in configs:
        rows.append({"config": label, "median_s": median(times[label].values()),
                     "runs": len(times[label]),
                     "slowdown_pct": paired(times[label], times["alone"]),
                     "cpu_s": median(cpus[label].values()),
                     "cpu_pct": paired(cpus[label], cpus["alone"]),
                     "all_s": [times[label][r] for r in sorted(times[label])],
                     "all_cpu_s": [cpus[label][r] for r in sorted(cpus[label])],
                     "note": notes.get(label)})
    print("\n## Target slowdown (%s, workload.py %d rounds, median of %d, profilers at 1 kHz)\n"
          % (version, opts.workload_rounds, opts.slowdown_repeats))
    print("wall: the workload's own perf_counter; CPU: its process_time (a paused or "
          "descheduled target spends wall time, not CPU time). slowdown and CPU change: the "
          "median over rounds of each run against the run alone in the same round.\n")
    print("| profiler | median wall s | slowdown | median CPU s | CPU change | wall of each run (s) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        if row["median_s"] is None:
            print("| %s | failed: %s | | | | |" % (row["config"], row["note"]))
            continue
        alone = row["config"] == "alone"
        print("| %s | %.3f | %s | %.3f | %s | %s |" % (
            row["config"], row["median_s"], "-" if alone else "%+.1f%%" % row["slowdown_pct"],
            row["cpu_s"], "-" if alone else "%+.1f%%" % row["cpu_pct"],
            " ".join("%.3f" % t for t in row["all_s"])))
    return rows


def bench_postprocess(opts, tools):
    log("== post-processing: a synthetic 1,000,000-sample recording, %d repeats" % opts.post_repeats)
    big = os.path.join(tools.workdir, "synthetic.fsr")
    steps = []
    r = run_measured([tools.example, "write", big], tools.workdir, "synthetic-write", None, 600)
    if r["status"] != 0:
        raise Failure("synthetic_recording write failed: %s" % last_line(r["stderr"]))
    size = os.path.getsize(big)
    steps.append(("write the recording (example)", [r]))
    plan = [
        ("framescope report --format table", [tools.fs, "report", big, "--format", "table",
                                              "-o", os.path.join(tools.workdir, "big.table")]),
        ("framescope report -o flamegraph.svg", [tools.fs, "report", big,
                                                 "-o", os.path.join(tools.workdir, "big.svg")]),
        ("example render table", [tools.example, "render", big, "table",
                                  os.path.join(tools.workdir, "big-ex.table")]),
        ("example render flamegraph", [tools.example, "render", big, "flamegraph",
                                       os.path.join(tools.workdir, "big-ex.svg")]),
    ]
    runs = {label: [] for label, _ in plan}
    for rep in range(opts.post_repeats):
        for label, argv in plan:
            r = run_measured(argv, tools.workdir, "post", None, 600)
            if r["status"] != 0:
                raise Failure("%s failed: %s" % (label, last_line(r["stderr"])))
            runs[label].append(r)
            log("   %-40s %.3f s, %.1f MB" % (label, r["wall_s"], r["maxrss_kb"] / 1024.0))
    steps += [(label, runs[label]) for label, _ in plan]
    rows = [{"step": label, "wall_s": median(r["wall_s"] for r in rs),
             "cpu_s": median(r["cpu_s"] for r in rs),
             "rss_mb": max(r["maxrss_kb"] for r in rs) / 1024.0} for label, rs in steps]
    print("\n## Post-processing (1,000,000 samples, 4 threads, %.1f MB recording; median of %d)\n"
          % (size / 1e6, opts.post_repeats))
    print("| step | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|")
    for row in rows:
        print("| %s | %.3f | %.3f | %.1f |" % (row["step"], row["wall_s"], row["cpu_s"], row["rss_mb"]))
    return {"recording_bytes": size, "rows": rows}


def bench_torn(opts, targets, tools, versions):
    log("== torn stacks: framescope nonblocking at %d Hz for %d s on tests/bench/churn.py"
        % (opts.torn_rate, opts.torn_seconds))
    shape = Shape(os.path.join(targets.host_dir, "churn.py"))
    ok = churn_ok(shape)
    rows = []
    for version in versions:
        try:
            target = targets.start(version, "churn.py", [])
        except Failure as e:
            rows.append({"version": version, "failed": str(e)})
            continue
        try:
            r = tools.record("framescope", "nonblocking", target.pid, opts.torn_rate,
                             opts.torn_seconds)
        finally:
            targets.stop(target)
        if "failed" in r:
            rows.append({"version": version, "failed": r["failed"]})
            log("   %s: FAILED %s" % (version, r["failed"]))
            continue
        stacks = tools.stacks(r)
        good, total, bad = check_stacks(stacks, ok)
        depths = {}
        for frames, n in stacks:
            depths[len(frames)] = depths.get(len(frames), 0) + n
        row = {"version": version, "samples": r["samples"], "errors": r["errors"],
               "stacks": total, "impossible": total - good,
               "error_pct": 100.0 * r["errors"] / r["samples"] if r["samples"] else None,
               "distinct_depths": len(depths),
               "examples": [(show_stack(f, 12), n) for f, n in bad[:3]],
               "us_per_sample": 1e6 * r["cpu_s"] / r["samples"] if r["samples"] else None}
        rows.append(row)
        log("   %-10s %d samples, %d impossible, %d errors, %d distinct depths"
            % (version, row["samples"], row["impossible"], row["errors"], row["distinct_depths"]))
        for text, n in row["examples"]:
            log("      impossible x%d: %s" % (n, text))
    print("\n## Torn stacks (framescope nonblocking, %d Hz, %d s per version, churn.py)\n"
          % (opts.torn_rate, opts.torn_seconds))
    print("| Python | samples | impossible stacks | errors | error % | depths seen |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        if "failed" in row:
            print("| %s | failed: %s |||||" % (row["version"], row["failed"]))
            continue
        print("| %s | %d | %d | %d | %.3f%% | %d |" % (
            row["version"], row["samples"], row["impossible"], row["errors"], row["error_pct"],
            row["distinct_depths"]))
    for row in rows:
        for text, n in row.get("examples", []):
            print("\n%s impossible stack (x%d): `%s`" % (row["version"], n, text))
    return rows


ASYNCIO_VERSIONS = ["pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "sid-3.14"]


def bench_asyncio(opts, targets, tools, versions):
    """aioserver.py async against aioserver.py sync: the same CPU work, with and
    without an event loop and coroutines between it and the thread."""
    wanted = [v for v in versions if v in ASYNCIO_VERSIONS] or [
        v for v in ASYNCIO_VERSIONS if v in targets.interps]
    log("== asyncio: %s, %ds per run, %d repeat(s)" % (", ".join(wanted), opts.duration,
                                                    opts.repeats))
    rows = []
    for version in wanted:
        for shape in ("async", "sync"):
            try:
                target = targets.start(version, "aioserver.py", [shape])
            except Failure as e:
                log("   %s %s: %s" % (version, shape, e))
                continue
            try:
                for rep in range(opts.repeats):
                    for tool in [t for t in ("framescope", "py-spy") if t in opts.tools]:
                        r = tools.record(tool, "nonblocking", target.pid, 1000, opts.duration)
                        r = per_sample(r, 1000, opts.duration)
                        r.update(version=version, shape=shape, tool=tool, repeat=rep)
                        for key in ("stdout", "stderr"):
                            r[key] = r.get(key, "")[-2000:]
                        rows.append(r)
                        log("   %-9s %-5s %-10s %s" % (version, shape, tool, brief(r)))
            finally:
                targets.stop(target)
    print("\n## asyncio (aioserver.py, nonblocking, 1 kHz, median of %d)\n" % opts.repeats)
    print("| Python | program | profiler | us/sample | reads/sample | re-read |")
    print("|---|---|---|---|---|---|")
    for version in wanted:
        for shape in ("async", "sync"):
            for tool in ("framescope", "py-spy"):
                good = [r for r in rows if (r["version"], r["shape"], r["tool"]) ==
                        (version, shape, tool) and "failed" not in r]
                if not good:
                    continue
                reread = median(r.get("reread_pct") for r in good)
                print("| %s | %s | %s | %s | %s | %s |" % (
                    version, shape, tool, fmt(median(r["us_per_sample"] for r in good)),
                    fmt(median(r.get("reads_per_sample") for r in good)),
                    "-" if reread is None else "%.1f%%" % reread))
    return rows


def soak(opts, targets, tools):
    version = opts.slowdown_python
    seconds = opts.soak
    every = max(5, seconds // 24)
    log("== soak: framescope at 1 kHz for %d s on %s depth 50; RSS every %d s" % (seconds, version, every))
    target = targets.start(version, "recurse.py", [50])
    out = os.path.join(tools.workdir, "soak.fsr")
    argv = [tools.fs, "record", "--pid", str(target.pid), "--rate", "1000",
            "--duration", str(seconds), "-o", out]
    err_path = os.path.join(tools.workdir, "soak.stderr")
    series = []
    try:
        with open(err_path, "wb") as err:
            start = time.monotonic()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                    stdin=subprocess.DEVNULL)
        # Readings stop when the recording's time is up: framescope then reads its
        # recording back for the closing table, which is not recording memory.
        while time.monotonic() - start + every < seconds:
            time.sleep(every)
            rss = status_kb(proc.pid, "VmRSS")
            if rss is None:
                break
            size = os.path.getsize(out) if os.path.exists(out) else 0
            t = time.monotonic() - start
            series.append((t, rss / 1024.0, size / 1e6))
            log("   %6.0f s  RSS %6.1f MB  recording %7.1f MB" % series[-1])
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        targets.stop(target)
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    m = FS_SUMMARY.search(stderr)
    print("\n## Soak: framescope RSS while recording (%s, depth 50, 1 kHz, %d s)\n" % (version, seconds))
    print(m.group(0) if m else "no summary line: " + last_line(stderr))
    print("\n| seconds | RSS MB | recording MB |")
    print("|---|---|---|")
    for t, rss, size in series:
        print("| %.0f | %.1f | %.1f |" % (t, rss, size))
    print("\npeak RSS (rusage): %.1f MB" % (usage.ru_maxrss / 1024.0))
    if len(series) >= 4:
        early = series[len(series) // 4][1]
        late = series[-1][1]
        print("RSS from %.0f s to %.0f s: %.1f MB -> %.1f MB (%+.1f MB, %+.2f MB per minute)" % (
            series[len(series) // 4][0], series[-1][0], early, late, late - early,
            (late - early) / ((series[-1][0] - series[len(series) // 4][0]) / 60.0)))
    return {"series": series, "peak_rss_mb": usage.ru_maxrss / 1024.0,
            "summary": m.group(0) if m else None}


def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --- the closing markdown ------------------------------------------------------------------

def readme_table(meta, agg, versions, depths, labels, ratio_rows, slow, post, torn, strace):
    lines = []
    add = lines.append
    add("## Performance")
    add("")
    add("Measured %s with `scripts/bench%s` on %s, %s cores, Linux %s (load average %s at "
        "the start; the machine was shared, so compare within a row). framescope %s, "
        "py-spy %s, Austin %s. %d s per run, median of %d; CPU per sample is the profiler's "
        "own user+sys time (rusage) divided by the samples it delivered, attach and shutdown "
        "included." % (
            meta["date"], "" if meta["mode"] == "full" else " --quick", meta["cpu"], meta["nproc"],
            meta["kernel"], " ".join(meta["loadavg"]), meta["framescope"], meta["pyspy"],
            meta["austin"], meta["duration"], meta["repeats"]))
    add("")
    if agg:
        per_sample_markdown(add, agg, versions, depths, labels, ratio_rows)
    if strace:
        add("")
        add("strace -c, framescope on %s depth %d: %.2f process_vm_readv per sample "
            "(framescope counts %.1f), %.2f syscalls per sample in all." % (
                strace["version"], strace["depth"], strace["process_vm_readv_per_sample"],
                strace["reported_reads_per_sample"], strace["syscalls_per_sample"]))
    if slow:
        slowdown_markdown(add, meta, slow)
    if post:
        post_markdown(add, post)
    if torn:
        torn_markdown(add, meta, torn)
    return "\n".join(lines)


def per_sample_markdown(add, agg, versions, depths, labels, ratio_rows):
    add("| Python | profiler | µs/sample depth 5 | depth 50 | depth 200 | reads/sample (200) | "
        "delivered at 1 kHz | at 10 kHz | core % at 10 kHz (200) | peak RSS MB |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for version in versions:
        for tool, mode in [("floor", "sleep only"), ("framescope", "nonblocking"),
                           ("framescope", "blocking"), ("py-spy", "nonblocking"),
                           ("py-spy", "blocking"), ("austin", "nonblocking")]:
            cells = []
            any_ok = False
            failure = None
            for depth in depths:
                a = agg.get((version, depth, tool, mode, 1000))
                if a and "failed" not in a:
                    any_ok = True
                    cells.append(fmt(a["us_per_sample"]))
                else:
                    failure = failure or (a or {}).get("failed")
                    cells.append("-")
            if not any_ok:
                if failure:
                    add("| %s | %s %s | unsupported: %s |||||||" % (
                        version, tool, mode, failure[:70].replace("|", "/")))
                continue
            deep = agg.get((version, max(depths), tool, mode, 1000)) or {}
            d1 = [agg.get((version, d, tool, mode, 1000)) for d in depths]
            d10 = [agg.get((version, d, tool, mode, 10000)) for d in depths]
            d1 = [a["delivered_pct"] for a in d1 if a and "failed" not in a]
            d10 = [a["delivered_pct"] for a in d10 if a and "failed" not in a]
            deep10 = agg.get((version, max(depths), tool, mode, 10000)) or {}
            rss = [a["rss_mb"] for k, a in agg.items()
                   if k[0] == version and k[2] == tool and k[3] == mode and "failed" not in a]
            add("| %s | %s %s | %s | %s | %s | %s | %s | %s |" % (
                version, tool, mode, " | ".join(cells),
                fmt(deep.get("reads_per_sample")),
                "%.1f%%" % min(d1) if d1 else "-",
                "%.1f%%" % min(d10) if d10 else "-",
                fmt(deep10.get("steady_core_pct")),
                "%.1f" % max(rss) if rss else "-"))
    add("")
    add("Delivered: the lowest over the three depths. Core %: the profiler's CPU over the "
        "middle of the run as a share of one core. floor: framescope's sleep loop alone "
        "(examples/sleep_floor.rs), sampling nothing: what this machine charges any process "
        "for waking up at that rate, part of every profiler's figure.")
    add("")
    add("framescope / other, CPU per sample (below 1: framescope is cheaper):")
    add("")
    add("| Python | depth | " + " | ".join("vs " + l for l in labels) + " |")
    add("|---|---|" + "---|" * len(labels))
    for row in ratio_rows:
        add("| %s | %d | %s |" % (row["version"], row["depth"], " | ".join(
            "-" if row[l] is None else "%.3f" % row[l] for l in labels)))


def slowdown_markdown(add, meta, slow):
    add("")
    add("Target slowdown (%s, a fixed CPU-bound workload, profilers at 1 kHz; each run "
        "against the run alone in the same round, median of %d rounds):"
        % (meta["slowdown_python"], meta["slowdown_repeats"]))
    add("")
    add("| profiler | wall s | slowdown | target CPU s | CPU change |")
    add("|---|---|---|---|---|")
    for row in slow:
        if row["median_s"] is None:
            add("| %s | failed: %s | | | |" % (row["config"], row["note"]))
        else:
            alone = row["config"] == "alone"
            add("| %s | %.3f | %s | %.3f | %s |" % (
                row["config"], row["median_s"], "-" if alone else "%+.1f%%" % row["slowdown_pct"],
                row["cpu_s"], "-" if alone else "%+.1f%%" % row["cpu_pct"]))


def post_markdown(add, post):
    add("")
    add("Post-processing a 1,000,000-sample recording (%.1f MB):" % (post["recording_bytes"] / 1e6))
    add("")
    add("| step | wall s | peak RSS MB |")
    add("|---|---|---|")
    for row in post["rows"]:
        add("| %s | %.2f | %.1f |" % (row["step"], row["wall_s"], row["rss_mb"]))


def torn_markdown(add, meta, torn):
    add("")
    add("Torn stacks (framescope nonblocking at %d Hz on a recursion that changes depth "
        "all the time; every stack checked against the program):" % meta["torn_rate"])
    add("")
    add("| Python | samples | impossible stacks | errors |")
    add("|---|---|---|---|")
    for row in torn:
        if "failed" in row:
            add("| %s | failed: %s | | |" % (row["version"], row["failed"]))
        else:
            add("| %s | %d | %d | %d (%.3f%%) |" % (row["version"], row["samples"],
                                                   row["impossible"], row["errors"], row["error_pct"]))


def bench_gate(opts, env, interps, workdir):
    """The CI gate's false alarms and power with CPU hogs running (gate.py)."""
    if opts.gate_python not in interps or interps[opts.gate_python][0] != "/":
        raise Failure("gate: %s is not a host interpreter of the matrix (scripts/provision "
                      "--list)" % opts.gate_python)
    try:
        return gate.run(opts, env["BENCH_FRAMESCOPE"], env["BENCH_REPO"],
                        interps[opts.gate_python][1], workdir, die_with_parent())
    except gate.Failure as e:
        raise Failure("gate: %s" % e)


# --- main --------------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="framescope side by side with py-spy and Austin: per-sample cost, target "
                    "slowdown, post-processing, torn stacks. docs/bench.md says how to read it.",
        epilog="Handled by scripts/bench before this: --rev REV (measure framescope as of a git "
               "revision, built from a clean export); BENCH_NO_BUILD=1 (use what is built); "
               "CARGO_TARGET_DIR (where to build).")
    p.add_argument("--quick", action="store_true", help="a few minutes: 1 s per run, fewer repeats")
    p.add_argument("--soak", type=int, nargs="?", const=600, metavar="SECONDS",
                   help="only the soak test: framescope's RSS while recording SECONDS (600)")
    p.add_argument("--versions", help="comma-separated matrix names (default: %s)" % ",".join(FULL_VERSIONS))
    p.add_argument("--depths", help="comma-separated recursion depths (default 5,50,200)")
    p.add_argument("--tools", default="framescope,py-spy,austin", help="which profilers")
    p.add_argument("--only", help="comma-separated sections: persample,strace,slowdown,post,torn,"
                                  "tree (the default), and gate, asyncio (only when named)")
    p.add_argument("--duration", type=int, help="seconds per profiler run (2; quick 1)")
    p.add_argument("--repeats", type=int, help="repeats of each profiler run (2; quick 1)")
    p.add_argument("--slowdown-python", default="pyenv-3.12", help="matrix name for slowdown and soak")
    p.add_argument("--out", help="directory for recordings, logs and results.json")
    g = p.add_argument_group("gate", "the CI gate's false alarms and power with CPU hogs "
                                     "running (--only gate; docs/bench.md)")
    g.add_argument("--gate-tiny", action="store_true",
                   help="a check of the harness in a minute or two: 0.3 s runs, 6 unchanged "
                        "recordings, 3 per slowdown, slowdowns 20,100, 6 comparisons")
    g.add_argument("--gate-seconds", help="CPU seconds per run, comma-separated (1,3)")
    g.add_argument("--gate-levels", help="slowdowns of render_month in percent (10,20,30,50,100)")
    g.add_argument("--gate-runs", type=int, help="recordings per slowdown and run length (9)")
    g.add_argument("--gate-nulls", type=int,
                   help="recordings of unchanged code per run length (60)")
    g.add_argument("--gate-comparisons", type=int,
                   help="comparisons of unchanged code per kind: single runs, 3 vs 3 (80)")
    g.add_argument("--gate-hogs", type=int, help="CPU hogs running while recording (2)")
    g.add_argument("--gate-python", default="pyenv-3.12", help="matrix name of the interpreter")
    args = p.parse_args()
    q = args.quick
    args.versions = args.versions.split(",") if args.versions else (QUICK_VERSIONS if q else FULL_VERSIONS)
    args.depths = [int(d) for d in args.depths.split(",")] if args.depths else DEPTHS
    args.tools = args.tools.split(",")
    args.duration = args.duration or (1 if q else 2)
    args.repeats = args.repeats or (1 if q else 2)
    args.slowdown_repeats = 3 if q else 7
    args.workload_rounds = 60 if q else 100
    args.post_repeats = 1 if q else 3
    args.torn_rate = 10000
    args.torn_seconds = 2 if q else 10
    sections = ["persample", "strace", "slowdown", "post", "torn", "tree"]
    args.sections = args.only.split(",") if args.only else sections
    unknown = [x for x in args.sections if x not in sections + ["gate", "asyncio"]]
    if unknown:
        p.error("--only: no section %s (there are %s)" % (", ".join(unknown),
                                                         ", ".join(sections + ["gate"])))
    for name in ("gate_runs", "gate_nulls", "gate_comparisons", "gate_hogs"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1000:
            p.error("--%s must be between 0 and 1000" % name.replace("_", "-"))
    try:
        for text, kind in ((args.gate_seconds, float), (args.gate_levels, int)):
            if text and any(not 0 < kind(x) <= 1000 for x in text.split(",")):
                raise ValueError
    except ValueError:
        p.error("--gate-seconds and --gate-levels take positive numbers, comma-separated")
    unknown = [t for t in args.tools if t not in ("framescope", "py-spy", "austin")]
    if unknown:
        p.error("--tools: no profiler %s (there are framescope, py-spy, austin)" % ", ".join(unknown))
    return args


def main():
    opts = parse_args()
    if os.environ.get("BENCH_PARSE_ONLY"):
        # scripts/bench checks the options before it builds anything, and needs neither
        # py-spy nor Austin for the gate alone.
        if opts.sections == ["gate"] and not opts.soak:
            print("gate-only")
        return 0
    env = os.environ
    repo = env["BENCH_REPO"]
    workdir = opts.out or os.path.join(
        env.get("TMPDIR", "/tmp"), "framescope-bench-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(workdir, exist_ok=True)
    interps = interpreters(repo)
    meta = machine()
    meta.update(mode="soak" if opts.soak else "gate" if opts.sections == ["gate"]
                else "quick" if opts.quick else "full",
                duration=opts.duration,
                repeats=opts.repeats, framescope=env.get("BENCH_FRAMESCOPE_VERSION", "?"),
                pyspy=env.get("BENCH_PYSPY_VERSION", "?"), austin=env.get("BENCH_AUSTIN_VERSION", "?"),
                slowdown_python=opts.slowdown_python, slowdown_repeats=opts.slowdown_repeats,
                torn_rate=opts.torn_rate)
    versions = [v for v in opts.versions if v in interps]
    for v in opts.versions:
        if v not in interps:
            log("bench: %s is not installed (scripts/provision --list does not show it); "
                "its rows are left out" % v)
    if not versions:
        raise Failure("none of the interpreters asked for is installed: %s" % ", ".join(opts.versions))
    sid = env.get("BENCH_SID")
    need_chroot = (any(interps[v][0] != "/" for v in versions)
                   or ("austin" in opts.tools and env.get("BENCH_AUSTIN")))
    need_chroot = need_chroot and opts.sections != ["gate"]
    binds = set()
    for v in versions:
        root, python = interps[v]
        if root == "/" and "/versions/" in python:
            binds.add(python.split("/versions/")[0])  # pyenv's root
        elif root == "/" and os.path.dirname(os.path.dirname(python)) not in ("/", "/usr"):
            binds.add(os.path.dirname(os.path.dirname(python)))
        # A host interpreter under /usr stays out of Austin's reach: binding /usr would
        # hide the chroot's own glibc.
    chroot = (Chroot(sid, sorted(binds)) if (need_chroot and sid and os.path.isdir(sid))
              else None)
    if not chroot and "austin" in opts.tools:
        log("bench: no chroot, so no Austin")
    targets = Targets(repo, interps, chroot, workdir)

    def cleanup():
        targets.close()
        if chroot:
            chroot.close()
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    log("bench: %s, %s cores, Linux %s, load %s; writing to %s" % (
        meta["cpu"], meta["nproc"], meta["kernel"], " ".join(meta["loadavg"]), workdir))
    tools = Tools(env, chroot, workdir)
    results = {"meta": meta}
    started = time.monotonic()
    print("# framescope benchmark, %s (%s)\n" % (meta["time"], meta["mode"]))
    print("%s, %s cores, Linux %s, load average %s. framescope %s, py-spy %s, Austin %s.\n" % (
        meta["cpu"], meta["nproc"], meta["kernel"], " ".join(meta["loadavg"]), meta["framescope"],
        meta["pyspy"], meta["austin"]))
    if opts.soak:
        if opts.slowdown_python not in interps:
            raise Failure("%s is not installed" % opts.slowdown_python)
        results["soak"] = soak(opts, targets, tools)
        save(workdir, results)
        return 0
    if opts.sections == ["gate"]:
        results["gate"] = bench_gate(opts, env, interps, workdir)
        save(workdir, results)
        log("bench: done in %.0f s; raw results in %s/results.json"
            % (time.monotonic() - started, workdir))
        return 0

    agg, labels, ratio_rows, strace, slow, post, torn = {}, [], [], None, None, None, None
    if "persample" in opts.sections:
        runs = bench_per_sample(opts, targets, tools, versions)
        results["per_sample"] = runs
        agg = aggregate(runs)
        print_per_sample(agg, versions, opts.depths)
        labels, ratio_rows = ratios(agg, versions, opts.depths)
        print_ratios(labels, ratio_rows)
        sys.stdout.flush()
    if "strace" in opts.sections:
        strace = strace_check(opts, targets, tools, versions)
        results["strace"] = strace
    if "slowdown" in opts.sections:
        if opts.slowdown_python in interps:
            slow = bench_slowdown(opts, targets, tools)
            results["slowdown"] = slow
        else:
            log("bench: %s is not installed; no slowdown measurement" % opts.slowdown_python)
    if "post" in opts.sections:
        post = bench_postprocess(opts, tools)
        results["post"] = post
    if "torn" in opts.sections:
        torn = bench_torn(opts, targets, tools, versions)
        results["torn"] = torn
    if "tree" in opts.sections:
        if opts.slowdown_python in interps:
            results["tree"] = tree_bench.run(opts, targets, tools, opts.slowdown_python,
                                             run_measured, log)
            sys.stdout.flush()
        else:
            log("bench: %s is not installed; no process-tree measurement" % opts.slowdown_python)
    if "gate" in opts.sections:
        results["gate"] = bench_gate(opts, env, interps, workdir)
    if "asyncio" in opts.sections:
        results["asyncio"] = bench_asyncio(opts, targets, tools, versions)
        sys.stdout.flush()
    save(workdir, results)
    table = readme_table(meta, agg, versions, opts.depths, labels, ratio_rows, slow, post, torn, strace)
    if results.get("tree"):
        table += "\n\n" + tree_bench.markdown(results["tree"])
    results["markdown"] = table
    save(workdir, results)
    with open(os.path.join(workdir, "summary.md"), "w") as f:
        f.write(table + "\n")
    print("\n---- for README (also in %s/summary.md) ----\n" % workdir)
    print(table)
    log("bench: done in %.0f s; raw results in %s/results.json" % (time.monotonic() - started, workdir))
    return 0


def save(workdir, results):
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        log("bench: FAILED: %s" % e)
        sys.exit(1)
    except KeyboardInterrupt:
        log("bench: interrupted")
        sys.exit(130)
