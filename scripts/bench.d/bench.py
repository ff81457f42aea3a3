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
     service and as the same work in plain calls, framescope (plain, --async, --async
     --idle) and py-spy nonblocking at 1 kHz: CPU us, reads and syscalls (one more run
     under strace) per sample, and how many samples framescope read again.
`--soak` instead records for a long time and reports framescope's RSS at intervals.
`--only gate` (never run unless asked: it keeps CPU hogs busy for a quarter of an hour)
measures the CI gate's false alarms and power with CPU hogs running (gate.py).

The package, one module a job: harness.py starts targets and tools (chroot, rusage),
tools.py runs each profiler, stacks.py checks the stacks they read, measure.py holds the
sections and their dataclass results, report.py renders the markdown; gate.py and
tree.py are sections of their own. This file parses the options and runs the sections.
ab.py runs on its own: an interleaved A/B of two framescope builds' CPU per sample.

Every number is measured here, in this run; nothing is compared to a stored baseline.
"""

import argparse
import atexit
import dataclasses
import json
import os
import signal
import sys
import time

import measure
import report
import tree as tree_bench
from harness import Chroot, Failure, Targets, interpreters, log, machine
from tools import Tools

QUICK_VERSIONS = ["pyenv-3.9", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "sid-3.14", "sid-3.15"]
FULL_VERSIONS = QUICK_VERSIONS
DEPTHS = [5, 50, 200]


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



def chroot_binds(interps, versions):
    """Host directories Austin must see inside the chroot: the interpreters' prefixes."""
    binds = set()
    for v in versions:
        root, python = interps[v]
        if root == "/" and "/versions/" in python:
            binds.add(python.split("/versions/")[0])  # pyenv's root
        elif root == "/" and os.path.dirname(os.path.dirname(python)) not in ("/", "/usr"):
            binds.add(os.path.dirname(os.path.dirname(python)))
        # A host interpreter under /usr stays out of Austin's reach: binding /usr would
        # hide the chroot's own glibc.
    return sorted(binds)


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
    meta.mode = ("soak" if opts.soak else "gate" if opts.sections == ["gate"]
                 else "quick" if opts.quick else "full")
    meta.duration, meta.repeats = opts.duration, opts.repeats
    meta.framescope = env.get("BENCH_FRAMESCOPE_VERSION", "?")
    meta.pyspy = env.get("BENCH_PYSPY_VERSION", "?")
    meta.austin = env.get("BENCH_AUSTIN_VERSION", "?")
    meta.slowdown_python, meta.slowdown_repeats = opts.slowdown_python, opts.slowdown_repeats
    meta.torn_rate = opts.torn_rate
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
    chroot = (Chroot(sid, chroot_binds(interps, versions))
              if (need_chroot and sid and os.path.isdir(sid)) else None)
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
        meta.cpu, meta.nproc, meta.kernel, " ".join(meta.loadavg), workdir))
    tools = Tools(env, chroot, workdir)
    results = {"meta": meta}
    started = time.monotonic()
    print(report.header(meta))
    if opts.soak:
        if opts.slowdown_python not in interps:
            raise Failure("%s is not installed" % opts.slowdown_python)
        results["soak"] = measure.soak(opts, targets, tools)
        print(report.soak(results["soak"]))
        save(workdir, results)
        return 0
    if opts.sections == ["gate"]:
        results["gate"] = measure.gate_section(opts, env, interps, workdir)
        save(workdir, results)
        log("bench: done in %.0f s; raw results in %s/results.json"
            % (time.monotonic() - started, workdir))
        return 0

    ps = ratios = strace = slow = post = torn = trees = None
    if "persample" in opts.sections:
        ps = measure.per_sample(opts, targets, tools, versions)
        results["per_sample"] = ps.runs
        ratios = report.ratio_table(ps)
        print(report.per_sample(ps, ratios))
        sys.stdout.flush()
    if "strace" in opts.sections:
        strace = results["strace"] = measure.strace_check(opts, targets, tools, versions)
        if strace:
            print(report.strace(strace))
    if "slowdown" in opts.sections:
        if opts.slowdown_python in interps:
            slow = measure.slowdown(opts, targets, tools)
            results["slowdown"] = slow.rows
            print(report.slowdown(slow))
        else:
            log("bench: %s is not installed; no slowdown measurement" % opts.slowdown_python)
    if "post" in opts.sections:
        post = results["post"] = measure.postprocess(opts, tools)
        print(report.post(post))
    if "torn" in opts.sections:
        torn = measure.torn(opts, targets, tools, versions)
        results["torn"] = torn.rows
        print(report.torn(torn))
    if "tree" in opts.sections:
        if opts.slowdown_python in interps:
            rows = results["tree"] = tree_bench.run(opts, targets, tools, opts.slowdown_python)
            markdown = tree_bench.markdown(rows)
            trees = markdown if rows else None
            print(tree_bench.heading(opts.slowdown_python, opts.duration))
            print(markdown)
            sys.stdout.flush()
        else:
            log("bench: %s is not installed; no process-tree measurement" % opts.slowdown_python)
    if "gate" in opts.sections:
        results["gate"] = measure.gate_section(opts, env, interps, workdir)
    if "asyncio" in opts.sections:
        aio = measure.asyncio(opts, targets, tools, versions)
        results["asyncio"] = aio.runs
        results["asyncio_rows"] = aio.rows
        print(report.asyncio(aio))
        sys.stdout.flush()
    save(workdir, results)
    table = report.readme(meta, ps, ratios, strace, slow, post, torn, trees)
    results["markdown"] = table
    save(workdir, results)
    with open(os.path.join(workdir, "summary.md"), "w") as f:
        f.write(table + "\n")
    print("\n---- for README (also in %s/summary.md) ----\n" % workdir)
    print(table)
    log("bench: done in %.0f s; raw results in %s/results.json" % (time.monotonic() - started, workdir))
    return 0


def as_json(value):
    """results.json: dataclasses as objects, anything else as its text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def save(workdir, results):
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=as_json)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        log("bench: FAILED: %s" % e)
        sys.exit(1)
    except KeyboardInterrupt:
        log("bench: interrupted")
        sys.exit(130)
