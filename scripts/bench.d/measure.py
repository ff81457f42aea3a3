"""The benchmark's sections: each starts its targets, runs the profilers and returns its
numbers as dataclasses (syscalls per sample, CPU µs per sample, delivery, RSS, slowdown).
Nothing here prints a table: report.py renders them."""

import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import gate
import report
from harness import Failure, die_with_parent, log, read_line, run_measured, status_kb
from stacks import Shape, check_stacks, churn_ok, recurse_ok, show_stack
from tools import FS_SUMMARY, Run, last_line


@dataclass(frozen=True)
class Setting:
    """How a profiler is run: which one, in which mode, at what rate (Hz)."""
    tool: str
    mode: str
    rate: int


@dataclass(frozen=True)
class Case:
    """One cell of the per-sample tables: a setting on one interpreter at one depth."""
    version: str
    depth: int
    tool: str
    mode: str
    rate: int


# The profiler runs per case. Blocking modes only at 1 kHz: pausing the target 10,000
# times a second is not a way anyone profiles, and py-spy cannot keep up with it at depth.
RUNS = [
    Setting("floor", "sleep only", 1000),
    Setting("floor", "sleep only", 10000),
    Setting("framescope", "nonblocking", 1000),
    Setting("framescope", "blocking", 1000),
    Setting("py-spy", "nonblocking", 1000),
    Setting("py-spy", "blocking", 1000),
    Setting("austin", "nonblocking", 1000),
    Setting("framescope", "nonblocking", 10000),
    Setting("py-spy", "nonblocking", 10000),
    Setting("austin", "nonblocking", 10000),
]

ASYNCIO_VERSIONS = ["pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "sid-3.14", "sid-3.15"]

# What each run keeps of the profiler's stdout and stderr in results.json.
KEPT_OUTPUT = 2000


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def derive(run, duration):
    """Adds the derived numbers (delivery, µs per sample, core share, RSS) to one run."""
    if not run.ok:
        return run
    m = run.measured
    n = run.samples
    run.requested = int(run.rate * duration)
    run.delivered_pct = 100.0 * n / run.requested if run.requested else None
    run.us_per_sample = 1e6 * m.cpu_s / n if n else None
    if m.steady_cpu_s is not None and n:
        # Samples in the window: the run's delivered rate over the window's length.
        expected = n / duration * m.steady_window_s
        run.steady_us_per_sample = 1e6 * m.steady_cpu_s / expected if expected else None
        run.steady_core_pct = 100.0 * m.steady_cpu_s / m.steady_window_s
    run.rss_mb = m.maxrss_kb / 1024.0
    return run


def strace_calls(summary):
    """All calls counted by `strace -c` (its summary file), by name."""
    calls = {}
    with open(summary) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and not parts[-1].startswith("total"):
                try:
                    calls[parts[-1]] = int(parts[3])
                except ValueError:
                    pass
    return calls


# --- per-sample cost ------------------------------------------------------------------------

@dataclass
class Summary:
    """One case's runs, medians over repeats (or why none of them worked)."""
    failed: Optional[str] = None
    runs: int = 0
    delivered_pct: Optional[float] = None
    errors: Optional[float] = None
    us_per_sample: Optional[float] = None
    steady_us_per_sample: Optional[float] = None
    steady_core_pct: Optional[float] = None
    reads_per_sample: Optional[float] = None
    rss_mb: Optional[float] = None
    correct_pct: Optional[float] = None
    python: Optional[str] = None

    @property
    def ok(self):
        return self.failed is None


@dataclass
class RatioRow:
    """framescope's CPU per sample over another's, per comparison label (None: no figure)."""
    version: str
    depth: int
    values: Dict[str, Optional[float]] = field(default_factory=dict)


@dataclass
class PerSample:
    settings: List[Setting]
    versions: List[str]
    depths: List[int]
    runs: List[Run]
    summaries: Dict[Case, Summary]
    labels: List[str]
    ratios: List[RatioRow]

    def get(self, version, depth, tool, mode, rate):
        return self.summaries.get(Case(version, depth, tool, mode, rate))


def per_sample(opts, targets, tools, versions):
    log("== per-sample cost: %s, depths %s, %ds per run, %d repeat(s)"
        % (", ".join(versions), ", ".join(map(str, opts.depths)), opts.duration, opts.repeats))
    shape = Shape(os.path.join(targets.host_dir, "recurse.py"))
    runs = []
    failed_starts = []
    for version in versions:
        for depth in opts.depths:
            try:
                target = targets.start(version, "recurse.py", [depth])
            except Failure as e:
                log("   %s depth %d: %s" % (version, depth, e))
                failed_starts.append((version, depth, str(e)))
                continue
            ok = recurse_ok(shape, depth)
            unsupported = set()
            try:
                for rep in range(opts.repeats):
                    for s in RUNS:
                        if (s.tool, s.mode) in unsupported or (s.tool not in opts.tools
                                                               and s.tool != "floor"):
                            continue
                        r = derive(tools.record(s.tool, s.mode, target.pid, s.rate,
                                                opts.duration), opts.duration)
                        r.version, r.depth, r.repeat = version, depth, rep
                        if r.ok:
                            stacks = tools.stacks(r)
                            if stacks is not None:
                                good, total, bad = check_stacks(stacks, ok)
                                r.stacks_total = total
                                r.stacks_good = good
                                r.correct_pct = 100.0 * good / total if total else None
                                r.bad_examples = [(show_stack(f), n) for f, n in bad[:3]]
                        else:
                            # A profiler that cannot read this interpreter will not on the
                            # next try either.
                            unsupported.add((s.tool, s.mode))
                        if r.measured:
                            r.measured.trim(KEPT_OUTPUT)
                        runs.append(r)
                        log("   %-9s depth %3d  %-10s %-11s %5d Hz  %s"
                            % (version, depth, s.tool, s.mode, s.rate, report.brief(r)))
                        if target.poll() is not None:
                            raise Failure("the target died during the run")
            finally:
                targets.stop(target)
    summaries = summarize(runs)
    labels, rows = ratios(summaries, versions, opts.depths)
    return PerSample(RUNS, versions, opts.depths, runs, summaries, labels, rows)


def summarize(runs):
    """Medians over repeats, per case."""
    groups = {}
    for r in runs:
        groups.setdefault(Case(r.version, r.depth, r.tool, r.mode, r.rate), []).append(r)
    summaries = {}
    for case, group in groups.items():
        good = [r for r in group if r.ok]
        if not good:
            summaries[case] = Summary(failed=group[0].failed)
            continue
        summaries[case] = Summary(
            runs=len(good),
            delivered_pct=median(r.delivered_pct for r in good),
            errors=median(r.errors for r in good),
            us_per_sample=median(r.us_per_sample for r in good),
            steady_us_per_sample=median(r.steady_us_per_sample for r in good),
            steady_core_pct=median(r.steady_core_pct for r in good),
            reads_per_sample=median(r.reads_per_sample for r in good),
            rss_mb=max(r.rss_mb for r in good),
            correct_pct=median(r.correct_pct for r in good),
            python=good[0].python)
    return summaries


# (label, framescope's setting, the other's setting)
RATIO_PAIRS = [
    ("py-spy nb 1k", Setting("framescope", "nonblocking", 1000), Setting("py-spy", "nonblocking", 1000)),
    ("py-spy b 1k", Setting("framescope", "blocking", 1000), Setting("py-spy", "blocking", 1000)),
    ("py-spy nb 10k", Setting("framescope", "nonblocking", 10000), Setting("py-spy", "nonblocking", 10000)),
    ("Austin 1k", Setting("framescope", "nonblocking", 1000), Setting("austin", "nonblocking", 1000)),
    ("Austin 10k", Setting("framescope", "nonblocking", 10000), Setting("austin", "nonblocking", 10000)),
]
FLOOR_PAIRS = [
    ("py-spy nb 1k above floor", Setting("framescope", "nonblocking", 1000),
     Setting("py-spy", "nonblocking", 1000)),
    ("Austin 1k above floor", Setting("framescope", "nonblocking", 1000),
     Setting("austin", "nonblocking", 1000)),
]


def ratios(summaries, versions, depths):
    """framescope / other, per version and depth, for CPU per sample (all-in)."""
    def at(version, depth, s):
        return summaries.get(Case(version, depth, s.tool, s.mode, s.rate))

    rows = []
    for version in versions:
        for depth in depths:
            row = RatioRow(version, depth)
            for label, ours, theirs in RATIO_PAIRS:
                a, b = at(version, depth, ours), at(version, depth, theirs)
                ok = a and b and a.ok and b.ok and b.us_per_sample
                row.values[label] = a.us_per_sample / b.us_per_sample if ok else None
            # The same with the cost of waking up (measured alone, same rate) taken out of
            # both: what each profiler spends on the sample itself.
            for label, ours, theirs in FLOOR_PAIRS:
                a, b = at(version, depth, ours), at(version, depth, theirs)
                f = at(version, depth, Setting("floor", "sleep only", ours.rate))
                ok = all(x and x.ok for x in (a, b, f))
                above = ok and b.us_per_sample - f.us_per_sample
                row.values[label] = ((a.us_per_sample - f.us_per_sample) / above
                                     if ok and above and above > 0 else None)
            rows.append(row)
    return [p[0] for p in RATIO_PAIRS + FLOOR_PAIRS], rows


# --- strace cross-check ----------------------------------------------------------------------

@dataclass
class StraceCheck:
    version: str
    depth: int
    samples: int
    reported_reads_per_sample: float
    process_vm_readv_per_sample: Optional[float]
    syscalls_per_sample: Optional[float]
    top: List[Tuple[str, int]]


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
    m = FS_SUMMARY.search(r.stderr)
    if not m or not os.path.exists(summary):
        log("   strace run failed: %s" % last_line(r.stderr))
        return None
    calls = strace_calls(summary)
    samples = int(m.group("samples"))
    return StraceCheck(
        version=version, depth=depth, samples=samples,
        reported_reads_per_sample=float(m.group("reads")),
        process_vm_readv_per_sample=calls.get("process_vm_readv", 0) / samples if samples else None,
        syscalls_per_sample=sum(calls.values()) / samples if samples else None,
        top=sorted(calls.items(), key=lambda kv: -kv[1])[:8])


# --- target slowdown -------------------------------------------------------------------------

@dataclass
class SlowdownRow:
    config: str
    median_s: Optional[float]
    runs: int
    slowdown_pct: Optional[float]
    cpu_s: Optional[float]
    cpu_pct: Optional[float]
    all_s: List[float]
    all_cpu_s: List[float]
    note: Optional[str]


@dataclass
class Slowdown:
    version: str
    rounds: int
    repeats: int
    rows: List[SlowdownRow]


def slowdown(opts, targets, tools):
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
                    if not r.ok:
                        notes[label] = r.failed
                        log("   %s: %s" % (label, r.failed))
                    line = r.measured.during if r.measured else None
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
    rows = [SlowdownRow(config=label, median_s=median(times[label].values()),
                        runs=len(times[label]),
                        slowdown_pct=paired(times[label], times["alone"]),
                        cpu_s=median(cpus[label].values()),
                        cpu_pct=paired(cpus[label], cpus["alone"]),
                        all_s=[times[label][r] for r in sorted(times[label])],
                        all_cpu_s=[cpus[label][r] for r in sorted(cpus[label])],
                        note=notes.get(label))
            for label, _, _ in configs]
    return Slowdown(version, opts.workload_rounds, opts.slowdown_repeats, rows)


# --- post-processing -------------------------------------------------------------------------

@dataclass
class PostRow:
    step: str
    wall_s: float
    cpu_s: float
    rss_mb: float


@dataclass
class Post:
    recording_bytes: int
    repeats: int
    rows: List[PostRow]


def postprocess(opts, tools):
    log("== post-processing: a synthetic 1,000,000-sample recording, %d repeats" % opts.post_repeats)
    big = os.path.join(tools.workdir, "synthetic.fsr")
    steps = []
    r = run_measured([tools.example, "write", big], tools.workdir, "synthetic-write", None, 600)
    if r.status != 0:
        raise Failure("synthetic_recording write failed: %s" % last_line(r.stderr))
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
    for _ in range(opts.post_repeats):
        for label, argv in plan:
            r = run_measured(argv, tools.workdir, "post", None, 600)
            if r.status != 0:
                raise Failure("%s failed: %s" % (label, last_line(r.stderr)))
            runs[label].append(r)
            log("   %-40s %.3f s, %.1f MB" % (label, r.wall_s, r.maxrss_kb / 1024.0))
    steps += [(label, runs[label]) for label, _ in plan]
    rows = [PostRow(step=label, wall_s=median(r.wall_s for r in rs),
                    cpu_s=median(r.cpu_s for r in rs),
                    rss_mb=max(r.maxrss_kb for r in rs) / 1024.0) for label, rs in steps]
    return Post(size, opts.post_repeats, rows)


# --- torn stacks -----------------------------------------------------------------------------

@dataclass
class TornRow:
    version: str
    failed: Optional[str] = None
    samples: int = 0
    errors: int = 0
    stacks: int = 0
    impossible: int = 0
    error_pct: Optional[float] = None
    distinct_depths: int = 0
    examples: List[Tuple[str, int]] = field(default_factory=list)
    us_per_sample: Optional[float] = None


@dataclass
class Torn:
    rate: int
    seconds: int
    rows: List[TornRow]


def torn(opts, targets, tools, versions):
    log("== torn stacks: framescope nonblocking at %d Hz for %d s on tests/bench/churn.py"
        % (opts.torn_rate, opts.torn_seconds))
    ok = churn_ok(Shape(os.path.join(targets.host_dir, "churn.py")))
    rows = []
    for version in versions:
        try:
            target = targets.start(version, "churn.py", [])
        except Failure as e:
            rows.append(TornRow(version, failed=str(e)))
            continue
        try:
            r = tools.record("framescope", "nonblocking", target.pid, opts.torn_rate,
                             opts.torn_seconds)
        finally:
            targets.stop(target)
        if not r.ok:
            rows.append(TornRow(version, failed=r.failed))
            log("   %s: FAILED %s" % (version, r.failed))
            continue
        stacks = tools.stacks(r)
        good, total, bad = check_stacks(stacks, ok)
        depths = {}
        for frames, n in stacks:
            depths[len(frames)] = depths.get(len(frames), 0) + n
        row = TornRow(version, samples=r.samples, errors=r.errors, stacks=total,
                      impossible=total - good,
                      error_pct=100.0 * r.errors / r.samples if r.samples else None,
                      distinct_depths=len(depths),
                      examples=[(show_stack(f, 12), n) for f, n in bad[:3]],
                      us_per_sample=1e6 * r.measured.cpu_s / r.samples if r.samples else None)
        rows.append(row)
        log("   %-10s %d samples, %d impossible, %d errors, %d distinct depths"
            % (version, row.samples, row.impossible, row.errors, row.distinct_depths))
        for text, n in row.examples:
            log("      impossible x%d: %s" % (n, text))
    return Torn(opts.torn_rate, opts.torn_seconds, rows)


# --- asyncio ---------------------------------------------------------------------------------

# The profilers of the asyncio section: (label, tool, framescope's extra options).
ASYNCIO_PROFILERS = [
    ("framescope", "framescope", []),
    ("framescope --async", "framescope", ["--async"]),
    ("framescope --async --idle", "framescope", ["--async", "--idle"]),
    ("py-spy", "py-spy", []),
]


@dataclass
class AsyncioRow:
    """Medians over repeats of one profiler on one program on one interpreter, and the
    syscalls of one more run under strace -f -c."""
    version: str
    shape: str
    tool: str
    us_per_sample: Optional[float]
    steady_us_per_sample: Optional[float]
    reads_per_sample: Optional[float]
    reread_pct: Optional[float]
    syscalls_per_sample: Optional[float] = None
    strace_top: List[Tuple[str, int]] = field(default_factory=list)


@dataclass
class Asyncio:
    repeats: int
    runs: List[Run]
    rows: List[AsyncioRow]


def asyncio_syscalls(tools, tool, extra, pid, duration):
    """Syscalls per sample of one run under `strace -f -c` (strace slows the profiler, so
    only the counts are kept), and the most frequent calls; (None, []) without strace."""
    if not shutil.which("strace"):
        return None, []
    name = tools.name("strace-" + tool)
    summary = os.path.join(tools.workdir, name + ".txt")
    if tool == "framescope":
        out = os.path.join(tools.workdir, name + ".fsr")
        argv = [tools.fs, "record", "--pid", str(pid), "--rate", "1000", "--nonblocking",
                "--duration", str(duration), "-o", out] + list(extra)
    else:
        # py-spy's --duration is a number of samples here, which is all that is counted.
        out = os.path.join(tools.workdir, name + ".txt")
        argv = [tools.pyspy, "record", "--pid", str(pid), "--rate", "1000", "--nonblocking",
                "--duration", str(duration), "-f", "raw", "-o", out]
    r = run_measured(["strace", "-f", "-c", "-o", summary] + argv, tools.workdir, name, None,
                     duration + 120)
    if tool == "framescope":
        m = FS_SUMMARY.search(r.stderr)
        samples = int(m.group("samples")) if m else 0
    else:
        m = re.search(r"Samples: (\d+)", r.stdout + r.stderr)
        samples = int(m.group(1)) if m else 0
    if not samples or not os.path.exists(summary):
        log("   strace run of %s failed: %s" % (tool, last_line(r.stderr)))
        return None, []
    calls = strace_calls(summary)
    return sum(calls.values()) / samples, sorted(calls.items(), key=lambda kv: -kv[1])[:4]


def asyncio(opts, targets, tools, versions):
    """aioserver.py async against aioserver.py sync: the same CPU work, with and
    without an event loop and coroutines between it and the thread; framescope plain,
    with --async (each sample's task) and --async --idle (every waiting task too), and
    py-spy."""
    wanted = [v for v in versions if v in ASYNCIO_VERSIONS] or [
        v for v in ASYNCIO_VERSIONS if v in targets.interps]
    log("== asyncio: %s, %ds per run, %d repeat(s)" % (", ".join(wanted), opts.duration,
                                                    opts.repeats))
    profilers = [p for p in ASYNCIO_PROFILERS if p[1] in opts.tools]
    runs = []
    syscalls = {}
    for version in wanted:
        for shape in ("async", "sync"):
            try:
                target = targets.start(version, "aioserver.py", [shape])
            except Failure as e:
                log("   %s %s: %s" % (version, shape, e))
                continue
            try:
                for rep in range(opts.repeats):
                    for label, tool, extra in profilers:
                        if extra and shape == "sync":
                            continue
                        r = derive(tools.record(tool, "nonblocking", target.pid, 1000,
                                                opts.duration, extra=extra), opts.duration)
                        r.tool = label
                        r.version, r.shape, r.repeat = version, shape, rep
                        if r.measured:
                            r.measured.trim(KEPT_OUTPUT)
                        runs.append(r)
                        log("   %-9s %-5s %-26s %s" % (version, shape, label, report.brief(r)))
                for label, tool, extra in profilers:
                    if extra and shape == "sync":
                        continue
                    per, top = asyncio_syscalls(tools, tool, extra, target.pid, opts.duration)
                    syscalls[(version, shape, label)] = (per, top)
                    if per is not None:
                        log("   %-9s %-5s %-26s strace: %.1f syscalls/sample (%s)" % (
                            version, shape, label, per,
                            ", ".join("%s %d" % kv for kv in top)))
            finally:
                targets.stop(target)
    rows = []
    for version in wanted:
        for shape in ("async", "sync"):
            for label, _, _ in profilers:
                good = [r for r in runs if (r.version, r.shape, r.tool) == (version, shape, label)
                        and r.ok]
                if good:
                    per, top = syscalls.get((version, shape, label), (None, []))
                    rows.append(AsyncioRow(version, shape, label,
                                           median(r.us_per_sample for r in good),
                                           median(r.steady_us_per_sample for r in good),
                                           median(r.reads_per_sample for r in good),
                                           median(r.reread_pct for r in good),
                                           per, top))
    return Asyncio(opts.repeats, runs, rows)


# --- soak ------------------------------------------------------------------------------------

@dataclass
class Soak:
    version: str
    seconds: int
    series: List[Tuple[float, float, float]]  # (seconds, RSS MB, recording MB)
    peak_rss_mb: float
    summary: Optional[str]
    stderr_last: str


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
    return Soak(version, seconds, series, usage.ru_maxrss / 1024.0,
                m.group(0) if m else None, last_line(stderr))


# --- the CI gate -----------------------------------------------------------------------------

def gate_section(opts, env, interps, workdir):
    """The CI gate's false alarms and power with CPU hogs running (gate.py)."""
    if opts.gate_python not in interps or interps[opts.gate_python][0] != "/":
        raise Failure("gate: %s is not a host interpreter of the matrix (scripts/provision "
                      "--list)" % opts.gate_python)
    try:
        return gate.run(opts, env["BENCH_FRAMESCOPE"], env["BENCH_REPO"],
                        interps[opts.gate_python][1], workdir, die_with_parent())
    except gate.Failure as e:
        raise Failure("gate: %s" % e)
