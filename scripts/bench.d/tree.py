"""The process-tree section of scripts/bench (`--only tree`): what `--subprocesses` costs.

A Python parent (tests/bench/spinners.py) starts 1, 4 or 8 busy Python children, each at
the bottom of a recursion of DEPTH frames; framescope and py-spy record the parent with
--subprocesses at 1 kHz, nonblocking. Per run:

  - delivered: samples of the busy children found in the output, over rate x duration x
    children (the idle parent is sampled too, and left out of both numbers);
  - CPU per sample: the profiler's CPU time (wait4 rusage, its threads included) over
    those samples, and over ticks (one tick = one sample of every child);
  - the control: framescope on one of the children alone (`--pid CHILD`, no
    --subprocesses) right after, since a busy machine delays any sampler;
  - syscalls per sample: a second framescope run under `strace -f -c` (strace slows it,
    so its CPU time is not used), all calls over the samples that run delivered.

framescope's samples are counted per child with `report --pid CHILD --idle --clock wall`;
py-spy's from its raw output, whose stacks start with a "process PID:..." frame per
process from the root down.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from harness import log, run_measured
from measure import strace_calls

COUNTS = [1, 4, 8]
RATE = 1000
DEPTH = 20


@dataclass
class TreeRow:
    """One profiler run on a tree of N busy children."""
    tool: str
    children: int
    argv: List[str]
    status: int
    cpu_s: float
    wall_s: float
    per_child: Dict[int, int]
    stderr: str
    samples: int = 0
    delivered_pct: float = 0.0
    worst_child_pct: float = 0.0
    us_per_sample: Optional[float] = None
    us_per_tick: Optional[float] = None
    core_pct: Optional[float] = None
    failed: Optional[str] = None
    syscalls_per_sample: Optional[float] = None
    syscalls_per_tick: Optional[float] = None
    strace_top: List[Tuple[str, int]] = field(default_factory=list)


def children_of(pid):
    """Pids whose parent is PID, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry))
    return sorted(found)


def framescope_samples(fs, path, pids):
    """Samples of each pid in a recording, from `report --pid PID`."""
    counts = {}
    for pid in pids:
        proc = subprocess.run([fs, "report", path, "--pid", str(pid), "--idle", "--clock", "wall",
                               "--limit", "1"], capture_output=True, text=True)
        m = re.search(r"^(\d+) samples, ", proc.stdout, re.M)
        counts[pid] = int(m.group(1)) if m else 0
    return counts


def pyspy_samples(path, pids):
    """Samples of each pid in py-spy's raw output ("process PID:...;frame;... COUNT")."""
    counts = {pid: 0 for pid in pids}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                # A child's stack starts with its parent's frame, then its own.
                pids = re.findall(r'(?:^|;)process (\d+):"', line)
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if pids and stack and count.isdigit() and int(pids[-1]) in counts:
                    counts[int(pids[-1])] += int(count)
    except OSError:
        pass
    return counts


def run(opts, targets, tools, version):
    """Every count with each profiler: the rows (report with `markdown`)."""
    duration = opts.duration
    log("== process trees: %s, %s busy children at %d Hz, %d s per run, depth %d"
        % (version, "/".join(map(str, COUNTS)), RATE, duration, DEPTH))
    rows = []
    for n in COUNTS:
        target = targets.start(version, "spinners.py", [n, DEPTH])
        try:
            kids = children_of(target.pid)
            if len(kids) != n:
                log("   %d children: found %s under pid %d" % (n, kids, target.pid))
            for tool in [t for t in ("framescope", "py-spy") if t in opts.tools]:
                rows.append(one_run(tools, tool, target.pid, kids, n, duration))
            if "framescope" in opts.tools and kids:
                # The control: one child alone, no --subprocesses, on the same machine at
                # the same moment (a busy machine delays every sampler).
                rows.append(one_run(tools, "framescope, 1 child alone", kids[0], kids[:1], n,
                                    duration))
            if "framescope" in opts.tools and shutil.which("strace"):
                add_syscalls(next(r for r in rows[::-1] if r.tool == "framescope"), tools,
                             target.pid, kids)
        finally:
            targets.stop(target)
    return rows


def one_run(tools, tool, pid, kids, n, duration):
    name = tools.name(tool.split(",")[0] + "-tree%d" % n)
    if tool.startswith("framescope, 1 child"):
        out = os.path.join(tools.workdir, name + ".fsr")
        argv = [tools.fs, "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking",
                "--duration", str(duration), "-o", out]
        r = run_measured(argv, tools.workdir, name, duration, duration + 60)
        counts = framescope_samples(tools.fs, out, kids) if r.status == 0 else {}
    elif tool == "framescope":
        out = os.path.join(tools.workdir, name + ".fsr")
        argv = [tools.fs, "record", "--subprocesses", "--pid", str(pid), "--rate", str(RATE),
                "--nonblocking", "--duration", str(duration), "-o", out]
        r = run_measured(argv, tools.workdir, name, duration, duration + 60)
        counts = framescope_samples(tools.fs, out, kids) if r.status == 0 else {}
    else:
        out = os.path.join(tools.workdir, name + ".txt")
        argv = [tools.pyspy, "record", "--subprocesses", "--pid", str(pid), "--rate", str(RATE),
                "--nonblocking", "-f", "raw", "-o", out]
        r = run_measured(argv, tools.workdir, name, duration, duration + 60,
                         started=r"Sampling process")
        counts = pyspy_samples(out, kids)
    row = TreeRow(tool=tool, children=n, argv=argv, status=r.status, cpu_s=r.cpu_s,
                  wall_s=r.wall_s, per_child=counts, stderr=r.stderr[-1500:])
    samples = sum(counts.values())
    requested = RATE * duration * len(kids)
    row.samples = samples
    row.delivered_pct = 100.0 * samples / requested
    row.worst_child_pct = (100.0 * min(counts.values()) / (RATE * duration)
                           if counts else 0.0)
    row.us_per_sample = 1e6 * r.cpu_s / samples if samples else None
    row.us_per_tick = 1e6 * r.cpu_s / (samples / len(kids)) if samples else None
    row.core_pct = (100.0 * r.steady_cpu_s / r.steady_window_s
                    if r.steady_cpu_s is not None else None)
    if r.status != 0 or not samples:
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        row.failed = lines[-1] if lines else "exit %d" % r.status
    log("   %2d children  %-10s %s" % (n, tool, brief(row)))
    return row


def add_syscalls(row, tools, pid, kids):
    """framescope's syscalls per sample, from a second run under strace -f -c."""
    name = tools.name("strace-tree%d" % row.children)
    out = os.path.join(tools.workdir, name + ".fsr")
    summary = os.path.join(tools.workdir, name + ".txt")
    argv = ["strace", "-f", "-c", "-o", summary, tools.fs, "record", "--subprocesses", "--pid",
            str(pid), "--rate", str(RATE), "--nonblocking", "--duration", "2", "-o", out]
    r = run_measured(argv, tools.workdir, name, None, 120)
    if r.status != 0 or not os.path.exists(summary):
        log("   strace run failed: %s" % (r.stderr.strip().splitlines() or ["?"])[-1])
        return
    samples = sum(framescope_samples(tools.fs, out, kids).values())
    calls = strace_calls(summary)
    if samples:
        row.syscalls_per_sample = sum(calls.values()) / samples
        row.syscalls_per_tick = sum(calls.values()) / (samples / len(kids))
        row.strace_top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        log("   %2d children  strace: %.1f syscalls/sample (%s)"
            % (row.children, row.syscalls_per_sample,
               ", ".join("%s %d" % kv for kv in row.strace_top)))


def fmt(v, digits=1):
    return "-" if v is None else "%.*f" % (digits, v)


def brief(row):
    if row.failed is not None:
        return "FAILED: " + row.failed
    return ("%.1f%% delivered (worst child %.1f%%), %s us/sample, %s us/tick, core %s%%"
            % (row.delivered_pct, row.worst_child_pct, fmt(row.us_per_sample),
               fmt(row.us_per_tick), fmt(row.core_pct, 0)))


def heading(version, duration):
    return ("\n## Process trees: --subprocesses at %d Hz, nonblocking (%s, %d s per run)\n"
            % (RATE, version, duration))


def markdown(rows):
    lines = ["| busy children | profiler | delivered (worst child) | CPU µs per sample "
             "| CPU µs per tick | syscalls per sample | profiler's core |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row.failed is not None:
            lines.append("| %d | %s | failed: %s | | | | |" % (row.children, row.tool,
                                                          row.failed[:60]))
            continue
        lines.append("| %d | %s | %.1f%% (%.1f%%) | %s | %s | %s | %s%% |" % (
            row.children, row.tool, row.delivered_pct, row.worst_child_pct,
            fmt(row.us_per_sample), fmt(row.us_per_tick),
            fmt(row.syscalls_per_sample), fmt(row.core_pct, 0)))
    return "\n".join(lines)
