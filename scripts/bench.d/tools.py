"""The profilers the benchmark runs: framescope, py-spy, Austin, and the sleep floor
(examples/sleep_floor.rs), each invoked on a pid and its closing summary read into a Run."""

import os
import re
import subprocess
from dataclasses import dataclass
from typing import List, Optional, Tuple

from harness import Failure, Measured, run_measured
from stacks import parse_collapsed

ANSI = re.compile(r"\x1b\[[0-9;]*m")

FS_SUMMARY = re.compile(
    r"framescope: (?P<samples>\d+) samples, (?P<missed>\d+) missed, (?P<errors>\d+) errors "
    r"in (?P<secs>[\d.]+)s \((?P<why>[^)]*)\); pid \d+, CPython (?P<version>\S+), "
    r"(?P<reads>[\d.]+) reads/sample(?:, (?P<reread>\d+) re-read)?")


@dataclass
class Run:
    """One profiler run against one target: what the tool said it delivered, what it cost
    (measured), and the numbers derived from both (measure.derive)."""
    tool: str
    mode: str
    rate: int
    failed: Optional[str] = None
    measured: Optional[Measured] = None
    output: Optional[str] = None
    output_bytes: Optional[int] = None
    samples: int = 0
    errors: int = 0
    missed: Optional[int] = None
    reads_per_sample: Optional[float] = None
    reread_pct: Optional[float] = None
    python: Optional[str] = None
    stopped: Optional[str] = None
    sampled_s: Optional[float] = None
    # Where it ran (set by the section).
    version: Optional[str] = None
    depth: Optional[int] = None
    shape: Optional[str] = None
    repeat: Optional[int] = None
    # Derived.
    requested: Optional[int] = None
    delivered_pct: Optional[float] = None
    us_per_sample: Optional[float] = None
    steady_us_per_sample: Optional[float] = None
    steady_core_pct: Optional[float] = None
    rss_mb: Optional[float] = None
    # The stacks read back, checked against the target's shape.
    stacks_total: Optional[int] = None
    stacks_good: Optional[int] = None
    correct_pct: Optional[float] = None
    bad_examples: Optional[List[Tuple[str, int]]] = None

    @property
    def ok(self):
        return self.failed is None


def last_line(text):
    lines = [l.strip() for l in ANSI.sub("", text).splitlines() if l.strip()]
    return lines[-1] if lines else ""


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

    def record(self, tool, mode, pid, rate, duration, timeout=None, during=None, extra=()):
        """One profiler run against PID (a Run; `failed` says why not). EXTRA: more
        options for framescope's `record` (`--async`)."""
        name = self.name(tool)
        timeout = timeout or duration + 60
        run = Run(tool=tool, mode=mode, rate=rate)
        blocking = mode == "blocking"
        if tool == "framescope":
            self._framescope(run, name, pid, blocking, duration, timeout, during, extra)
        elif tool == "floor":
            self._floor(run, name, duration, timeout)
        elif tool == "py-spy":
            self._pyspy(run, name, pid, blocking, duration, timeout, during)
        elif tool == "austin":
            self._austin(run, name, pid, blocking, duration, timeout, during)
        else:
            raise ValueError(tool)
        return run

    def _framescope(self, run, name, pid, blocking, duration, timeout, during, extra=()):
        out = os.path.join(self.workdir, name + ".fsr")
        argv = [self.fs, "record", "--pid", str(pid), "--rate", str(run.rate),
                "--blocking" if blocking else "--nonblocking", "-o", out] + list(extra)
        if duration:
            argv += ["--duration", str(duration)]
        m = run.measured = run_measured(argv, self.workdir, name, duration, timeout, during=during)
        run.output = out
        s = FS_SUMMARY.search(m.stderr)
        if not s:
            run.failed = last_line(m.stderr) or "exit %d, no summary line" % m.status
            return
        run.samples = int(s.group("samples"))
        run.errors = int(s.group("errors"))
        run.missed = int(s.group("missed"))
        run.reads_per_sample = float(s.group("reads"))
        if s.group("reread") is not None:
            run.reread_pct = 100.0 * int(s.group("reread")) / max(1, run.samples)
        run.python = s.group("version")
        run.stopped = s.group("why")
        run.sampled_s = float(s.group("secs"))

    def _floor(self, run, name, duration, timeout):
        if not self.floor:
            run.failed = "examples/sleep_floor is not built"
            return
        m = run.measured = run_measured([self.floor, str(run.rate), str(duration)],
                                        self.workdir, name, duration, timeout)
        s = re.search(r"sleep_floor: (\d+) wake-ups", m.stdout)
        if not s:
            run.failed = last_line(m.stderr) or "exit %d" % m.status
            return
        run.samples = int(s.group(1))
        run.errors = 0

    def _pyspy(self, run, name, pid, blocking, duration, timeout, during):
        out = os.path.join(self.workdir, name + ".txt")
        # Not --duration: py-spy takes that as a number of samples (rate x duration) and
        # runs for longer when it falls behind. It is stopped with SIGINT instead,
        # DURATION seconds after it says it has started sampling.
        argv = [self.pyspy, "record", "--pid", str(pid), "--rate", str(run.rate),
                "-f", "raw", "-o", out]
        if not blocking:
            argv.append("--nonblocking")
        m = run.measured = run_measured(argv, self.workdir, name, duration, timeout,
                                        during=during,
                                        started=None if during else r"Sampling process")
        run.output = out
        s = re.search(r"Samples: (\d+) Errors: (\d+)", m.stdout + m.stderr)
        if not s:
            run.failed = last_line(m.stderr) or last_line(m.stdout) or "exit %d" % m.status
            return
        run.samples = int(s.group(1))
        run.errors = int(s.group(2))

    def _austin(self, run, name, pid, blocking, duration, timeout, during):
        if not (self.austin and self.chroot):
            run.failed = "Austin is not installed (it needs the chroot)"
            return
        if blocking:
            run.failed = "Austin has no blocking mode"
            return
        inside = "/tmp/framescope-bench-%d/%s.mojo" % (os.getpid(), name)
        argv = [self.austin, "-i", "%dus" % round(1e6 / run.rate), "-p", str(pid), "-o", inside]
        if duration:
            argv += ["-x", str(duration)]
        m = run.measured = run_measured(argv, self.workdir, name, duration, timeout,
                                        preexec=self.chroot.preexec(), during=during)
        try:
            run.output_bytes = os.path.getsize(self.chroot.root + inside)
            os.remove(self.chroot.root + inside)
        except OSError:
            pass
        text = ANSI.sub("", m.stderr)
        s = re.search(r"Error rate[ .]*(\d+)/(\d+)", text)
        if not s:
            lines = [l.strip() for l in text.splitlines() if l.strip() and "austin" not in l.lower()
                     and not set(l.strip()) <= set("_|/\\`'() ,-<>")]
            failed = next((l for l in lines if "🔢" in l or "Cannot" in l or "rror" in l),
                          lines[0] if lines else "exit %d" % m.status)
            run.failed = failed.replace("🔢", "").strip()
            return
        run.errors = int(s.group(1))
        run.samples = int(s.group(2)) - run.errors

    def stacks(self, run):
        """The stacks a run recorded, or None where the tool's output is not read here."""
        path = run.output
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
