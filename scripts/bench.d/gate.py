"""The CI gate on a busy machine: false alarms and power (`scripts/bench --only gate`).

With CPU hogs running beside it (two by default, as on a shared runner; bounded in time,
killed at the end on every path and when the harness dies), this records
tests/bench/gatework.py with `framescope record` — identical code, and code whose
`render_month` (about 40% of the run) does 10, 20, 30, 50 or 100% more work — at one or
more run lengths (CPU seconds of the unchanged program: 1 and 3 by default). Each
(condition, replicate) is recorded once, in a shuffled order of blocks (each block one
recording of every slowdown and a few unchanged ones), so drifts of the machine meet
every condition alike. The hogs then stop, and `framescope diff --fail-on-regression 5%`
compares those recordings for each clock (`--clock cpu` and `--clock wall`: a recording
carries both), each also with `--normalize` (shares of each run's time: a busy machine
slows whole runs, on both clocks):

  - false alarms: single runs against single runs, and 3 runs against 3, all unchanged;
    pairs and sextuples are distinct draws from the unchanged recordings (each recording
    is in several comparisons, so these are not independent trials);
  - power: for every slowdown, each slowed recording against an unchanged one of its
    block (single runs), and triples of slowed recordings against triples of unchanged
    ones of the same blocks (3 vs 3; with 9 replicates, the triples are the lines of three
    parallel classes of the affine plane of order 3: each recording is in 3 triples, two
    triples share at most one recording).

A catch is the gate failing and naming render_month or a function it does its work
through. Each comparison is also judged as plain Benjamini-Hochberg over every function
would have judged it (recomputed from the p-values in the JSON), to show what the
same-time groups of the correction change. The tables are printed as markdown for README.
"""

import argparse
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time

LEVELS = [10, 20, 30, 50, 100]
# The function made slower and the functions it does its work through.
SLOWED = ("render_month", "render_week", "render_day", "cell")
GATE_PERCENT = 5.0
ALPHA = 0.05
SEED = 20261202

HOG = ("import sys, time\n"
       "end = time.monotonic() + float(sys.argv[1])\n"
       "while time.monotonic() < end:\n"
       "    pass\n")


class Failure(Exception):
    """Said in one line by the caller."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Hogs:
    """N busy processes, each ending by itself after `bound` seconds at the latest, dying
    with the harness (PR_SET_PDEATHSIG), and stopped by `stop` (call it in a finally)."""

    def __init__(self, count, bound, preexec):
        self.count = count
        self.bound = bound
        self.preexec = preexec
        self.procs = []
        self.started = time.monotonic()

    def start(self):
        for _ in range(self.count):
            self.procs.append(self._one(self.bound))
        return self

    def _one(self, seconds):
        return subprocess.Popen([sys.executable, "-c", HOG, "%.0f" % seconds],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=self.preexec)

    def ensure(self):
        """Replaces a hog that has ended (its time bound reached) for what is left."""
        left = self.bound - (time.monotonic() - self.started)
        for i, p in enumerate(self.procs):
            if p.poll() is not None and left > 1:
                log("   gate: a CPU hog ended early; starting another")
                self.procs[i] = self._one(left)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


class Plan:
    """Sizes of one run of the section."""

    def __init__(self, opts):
        tiny = opts.gate_tiny
        self.seconds = parse_list(opts.gate_seconds, float) or ([0.3] if tiny else [1.0, 3.0])
        self.levels = parse_list(opts.gate_levels, int) or ([20, 100] if tiny else LEVELS)
        self.runs = opts.gate_runs or (3 if tiny else 9)
        self.nulls = max(opts.gate_nulls or (6 if tiny else 60), self.runs, 6)
        self.comparisons = opts.gate_comparisons or (6 if tiny else 80)
        self.hogs = 2 if opts.gate_hogs is None else opts.gate_hogs
        self.tiny = tiny

    def recordings(self):
        return self.nulls + self.runs * len(self.levels)

    def diffs(self, views):
        """(single-run diffs, 3 vs 3 diffs) per run length, all views."""
        triples = len(power_triples(self.runs))
        single = self.comparisons + self.runs * len(self.levels)
        replicate = self.comparisons + triples * len(self.levels)
        return single * len(views), replicate * len(views)


def parse_list(text, kind):
    return [kind(x) for x in text.split(",")] if text else None


def power_triples(n):
    """Triples of replicate indexes for the 3 vs 3 power comparisons, n of them when the
    design allows: for 9, three parallel classes of the affine plane of order 3 (rows,
    columns, one diagonal class of a 3x3 grid); for n >= 7 the cyclic triples
    {i, i+1, i+3} mod n (differences 1, 2, 3 distinct: two triples share at most one
    index); below 7, every triple (at most n)."""
    if n == 9:
        grid = [[3 * r + c for c in range(3)] for r in range(3)]
        rows = [grid[r] for r in range(3)]
        cols = [[grid[r][c] for r in range(3)] for c in range(3)]
        diag = [[grid[r][(c + r) % 3] for r in range(3)] for c in range(3)]
        return rows + cols + diag
    if n >= 7:
        return [[i, (i + 1) % n, (i + 3) % n] for i in range(n)]
    return [list(t) for t in itertools.combinations(range(n), 3)][:n]


def schedule(plan, rng):
    """The recording order: `runs` blocks, each one recording of every level (its
    replicate number is the block's) and its share of the unchanged ones, shuffled."""
    per_block = [plan.nulls // plan.runs + (1 if b < plan.nulls % plan.runs else 0)
                 for b in range(plan.runs)]
    order = []
    null_index = 0
    for b in range(plan.runs):
        block = [("slower", level, b) for level in plan.levels]
        for _ in range(per_block[b]):
            block.append(("same", 0, null_index))
            null_index += 1
        rng.shuffle(block)
        order.append((b, block))
    return order


def has_clock(fs):
    proc = subprocess.run([fs, "diff", "--help"], capture_output=True, text=True)
    return "--clock" in proc.stdout


def calibrate(fs, python, script, seconds, log_prefix):
    """Rounds of gatework.py for about `seconds` of its own CPU time (measured with the
    hogs running), and the wall time per CPU second it took."""
    rounds = 200
    ratios = []
    for _ in range(3):
        cpu, wall = run_cpu([python, "-S", script, str(rounds)])
        if cpu <= 0:
            raise Failure("gatework.py used no CPU time")
        ratios.append(wall / cpu)
        rounds = max(20, int(rounds * seconds / cpu))
    log("%s %d rounds for about %.1f s of CPU (wall/CPU %.2f under the hogs)"
        % (log_prefix, rounds, seconds, statistics.median(ratios)))
    return rounds, statistics.median(ratios)


def run_cpu(argv, env=None):
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise Failure("%s failed: %s" % (" ".join(argv), err.strip().splitlines()[-1:] or status))
    return usage.ru_utime + usage.ru_stime, time.monotonic() - start


def record(fs, python, script, rounds, slower, out, timeout):
    env = dict(os.environ, GATEWORK_SLOWER=str(slower))
    argv = [fs, "record", "--rate", "1000", "-o", out, "--", python, "-S", script, str(rounds)]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("framescope record took over %d s: %s" % (timeout, " ".join(argv)))
    if proc.returncode != 0 or not os.path.exists(out):
        tail = proc.stderr.strip().splitlines()[-1:] or ["exit %d" % proc.returncode]
        raise Failure("framescope record failed: %s" % tail[0])
    return time.monotonic() - start


def offender_names(offenders):
    names = []
    for o in offenders or []:
        if isinstance(o, dict):
            o = o.get("function") or o.get("label") or ""
        names.append(str(o).split(" (")[0])
    return names


def plain_bh_offenders(doc):
    """The gate's offenders had every function counted as a hypothesis of its own."""
    rows = [r for r in doc.get("functions", []) if r.get("p") is not None]
    m = len(rows)
    order = sorted(range(m), key=lambda i: rows[i]["p"])
    q = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, rows[i]["p"] * m / rank)
        q[i] = min(running, 1.0)
    return [r["function"] for r, qi in zip(rows, q)
            if qi <= ALPHA and r["base"]["cum_seconds"] > 0 and r["cum_change_seconds"] > 0
            and (r.get("cum_change_percent") or 0) > GATE_PERCENT]


def view_name(view):
    clock, normalize = view
    return (clock or "default") + (" --normalize" if normalize else "")


def view_label(view):
    clock, normalize = view
    text = "--clock %s" % clock if clock else "diff's default clock"
    return "`%s`" % (text + " --normalize") if normalize else ("`%s`" % text if clock else text)


def diff(fs, view, base, head, out):
    """One gate; returns a dict: failed, caught, plain_failed, plain_caught, flagged
    (any function called slower or faster), run seconds, or error."""
    clock, normalize = view
    argv = [fs, "diff"]
    if clock:
        argv += ["--clock", clock]
    if normalize:
        argv.append("--normalize")
    argv += ["--base"] + base + ["--head"] + head + [
        "--fail-on-regression", "%g%%" % GATE_PERCENT, "--format", "json", "-o", out]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True)
    took = time.monotonic() - start
    if proc.returncode not in (0, 1):
        tail = proc.stderr.strip().splitlines()[-1:] or ["exit %d" % proc.returncode]
        return {"error": tail[0], "took": took}
    try:
        with open(out) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return {"error": "unreadable JSON: %s" % e, "took": took}
    gate = doc.get("gate") or {}
    named = offender_names(gate.get("offenders"))
    plain = plain_bh_offenders(doc)
    counts = doc.get("summary", {})
    return {
        "failed": proc.returncode == 1,
        "caught": proc.returncode == 1 and any(n in SLOWED for n in named),
        "plain_failed": bool(plain),
        "plain_caught": any(n in SLOWED for n in plain),
        "flagged": counts.get("slower", 0) + counts.get("faster", 0) > 0,
        "offenders": named[:4],
        "hypotheses": doc.get("method", {}).get("hypotheses"),
        "functions": counts.get("functions"),
        "seconds": [r["seconds"] for side in ("base", "head") for r in doc[side]["runs"]],
        "took": took,
    }


def null_comparisons(n, count, size, rng):
    """`count` distinct comparisons of `size` vs `size` of n recordings (as many as exist
    when fewer do)."""
    seen = set()
    out = []
    limit = math.comb(n, size) * math.comb(n - size, size)
    attempts = 0
    while len(out) < min(count, limit) and attempts < 100 * count:
        attempts += 1
        pick = rng.sample(range(n), 2 * size)
        key = (frozenset(pick[:size]), frozenset(pick[size:]))
        if key in seen or (key[1], key[0]) in seen:
            continue
        seen.add(key)
        out.append((pick[:size], pick[size:]))
    return out


def run(opts, fs, repo, python, workdir, preexec):
    plan = Plan(opts)
    clocks = ["cpu", "wall"] if has_clock(fs) else [None]
    if clocks == [None]:
        log("   gate: this framescope has no --clock; comparing with diff's default (wall) only")
    views = [(c, n) for c in clocks for n in (False, True)]
    script = os.path.join(repo, "tests", "bench", "gatework.py")
    out_dir = os.path.join(workdir, "gate")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(SEED)
    log("== gate: %s, %d CPU hogs, runs of %s s CPU, %d unchanged recordings and %d per "
        "slowdown (%s%%) per length, %d comparisons of unchanged code per kind; compared: %s"
        % (python, plan.hogs, ",".join("%g" % s for s in plan.seconds), plan.nulls, plan.runs,
           ",".join(map(str, plan.levels)), plan.comparisons,
           ", ".join(view_name(v) for v in views)))
    started = time.monotonic()
    results = {"plan": vars(plan), "views": [view_name(v) for v in views], "lengths": []}
    # Bound the hogs generously: the full plan takes well under an hour.
    hogs = Hogs(plan.hogs, 2 * 3600, preexec).start()
    recordings = {}
    try:
        time.sleep(1.0)
        sizes = []
        for seconds in plan.seconds:
            rounds, ratio = calibrate(fs, python, script, seconds, "   gate: %g s:" % seconds)
            sizes.append((seconds, rounds, ratio))
        estimate = estimate_seconds(plan, sizes, views)
        log("   gate: estimated %.0f min (recording %.0f, comparing %.0f)"
            % (sum(estimate) / 60, estimate[0] / 60, estimate[1] / 60))
        if plan.tiny:
            results["full_estimate_min"] = full_estimate(sizes)
        for seconds, rounds, _ in sizes:
            tag = "%gs" % seconds
            done = 0
            total = plan.recordings()
            for block, items in schedule(plan, rng):
                for kind, level, index in items:
                    hogs.ensure()
                    name = "%s-%s-%03d.fsr" % (tag, "same" if kind == "same" else "slower%d" % level,
                                               index)
                    path = os.path.join(out_dir, name)
                    if os.path.exists(path):
                        os.remove(path)
                    took = record(fs, python, script, rounds, level, path,
                                  timeout=int(60 + 20 * seconds))
                    recordings[(seconds, kind, level, index)] = (path, block)
                    done += 1
                    if done % 10 == 0 or done == total:
                        log("   gate: %s runs: %d of %d recorded (last %.1f s)"
                            % (tag, done, total, took))
        recorded = time.monotonic() - started
    finally:
        hogs.stop()
    log("   gate: recorded in %.0f s; hogs stopped; comparing" % recorded)

    for seconds, _, _ in sizes:
        results["lengths"].append(
            compare_length(fs, plan, seconds, views, recordings, out_dir, rng))
    results["took_s"] = time.monotonic() - started
    results["recording_s"] = recorded
    print_tables(plan, views, results)
    took = [r["took"] for L in results["lengths"] for c in L["views"].values()
            for r in all_results(c)]
    log("   gate: done in %.0f s (estimated %.0f s); %d diffs, %.2f s each on average"
        % (results["took_s"], sum(estimate), len(took), sum(took) / max(len(took), 1)))
    return results


def all_results(c):
    yield from c["same_single"]
    yield from c["same_3v3"]
    for kind in ("power_single", "power_3v3"):
        for rs in c[kind].values():
            yield from rs


def full_estimate(sizes):
    """Logs what the full section would take on this machine, from the tiny run's
    calibration; returns minutes."""
    defaults = argparse.Namespace(gate_tiny=False, gate_seconds=None, gate_levels=None,
                                  gate_runs=None, gate_nulls=None, gate_comparisons=None,
                                  gate_hogs=None)
    full = Plan(defaults)
    ratio = statistics.median(r for _, _, r in sizes)
    views = [(c, n) for c in ("cpu", "wall") for n in (False, True)]
    est = estimate_seconds(full, [(s, None, ratio) for s in full.seconds], views)
    log("   gate: the full section (runs of %s s, %d recordings per length, %d diffs) would "
        "take about %.0f min here (recording %.0f, comparing %.0f)"
        % (",".join("%g" % s for s in full.seconds), full.recordings(),
           sum(full.diffs(views)) * len(full.seconds), sum(est) / 60, est[0] / 60,
           est[1] / 60))
    return sum(est) / 60


def estimate_seconds(plan, sizes, views):
    """(recording, comparing) seconds: each run takes its CPU seconds times the measured
    wall/CPU ratio plus 0.4 s of start-up and writing; a single-run diff (9999 bootstrap
    resamples) 0.1 s plus 0.1 s per second of run, a 3 vs 3 diff 0.1 s plus 0.05 s per
    second of run (measured: 0.04 s per diff of 0.3 s runs, with the hogs stopped)."""
    rec = sum(plan.recordings() * (s * ratio + 0.4) for s, _, ratio in sizes)
    single, replicate = plan.diffs(views)
    cmp = sum(single * (0.1 + 0.1 * s) + replicate * (0.1 + 0.05 * s) for s, _, _ in sizes)
    return rec, cmp


def compare_length(fs, plan, seconds, views, recordings, out_dir, rng):
    tag = "%gs" % seconds
    same = [recordings[(seconds, "same", 0, i)] for i in range(plan.nulls)]
    by_block = {}
    for path, block in same:
        by_block.setdefault(block, []).append(path)
    singles = null_comparisons(plan.nulls, plan.comparisons, 1, rng)
    sextuples = null_comparisons(plan.nulls, plan.comparisons, 3, rng)
    triples = power_triples(plan.runs)
    out = {"seconds": seconds, "views": {}}
    counter = itertools.count()

    def one(view, base, head):
        path = os.path.join(out_dir, "%s-diff-%05d.json" % (tag, next(counter)))
        r = diff(fs, view, base, head, path)
        if "error" in r:
            log("   gate: diff failed: %s" % r["error"])
        return r

    for view in views:
        c = {"same_single": [], "same_3v3": [], "power_single": {}, "power_3v3": {}}
        for b, h in singles:
            c["same_single"].append(one(view, [same[b[0]][0]], [same[h[0]][0]]))
        for b, h in sextuples:
            c["same_3v3"].append(one(view, [same[i][0] for i in b], [same[i][0] for i in h]))
        for k, level in enumerate(plan.levels):
            heads = [recordings[(seconds, "slower", level, i)] for i in range(plan.runs)]

            def base_of(i):
                block = heads[i][1]
                nulls = by_block[block]
                return nulls[k % len(nulls)]

            c["power_single"][level] = [one(view, [base_of(i)], [heads[i][0]])
                                        for i in range(plan.runs)]
            c["power_3v3"][level] = [one(view, [base_of(i) for i in t], [heads[i][0] for i in t])
                                     for t in triples]
        errors = sum("error" in r for kind in ("same_single", "same_3v3") for r in c[kind])
        log("   gate: %s runs, %s: %d false alarms of %d single, %d of %d 3 vs 3%s"
            % (tag, view_name(view), count(c["same_single"], "failed"), len(singles),
               count(c["same_3v3"], "failed"), len(sextuples),
               "; %d diffs failed" % errors if errors else ""))
        out["views"][view_name(view)] = c
    return out


def count(results, key):
    return sum(1 for r in results if r.get(key))


def smallest(levels, per_level, key):
    """The smallest slowdown caught in every comparison at it and at every larger one."""
    best = None
    for level in sorted(levels, reverse=True):
        rs = per_level[level]
        if rs and count(rs, key) == len(rs):
            best = level
        else:
            break
    return best


def print_tables(plan, views, results):
    lengths = results["lengths"]
    heads = ["~%g s runs" % L["seconds"] for L in lengths]
    print("\n## The CI gate on a busy machine (%d CPU hogs; gatework.py; `--fail-on-regression %g%%`)\n"
          % (plan.hogs, GATE_PERCENT))
    print("Recorded once per condition and replicate with `framescope record --rate 1000`, "
          "%d unchanged recordings and %d per slowdown for each run length (CPU seconds of the "
          "unchanged program). Comparisons of unchanged code are distinct draws from the "
          "unchanged recordings, so one recording is in several of them: they are not "
          "independent trials. `render_month` holds about 40%% of the run; a catch is the "
          "gate failing and naming it or a function it works through.\n"
          % (plan.nulls, plan.runs))
    for view in views:
        name = view_name(view)
        print("### %s\n" % view_label(view))
        print("False alarms (gate failed on identical code):\n")
        print("| comparison | " + " | ".join(heads) + " |")
        print("|---|" + "---|" * len(heads))
        for kind, what in (("same_single", "single runs"), ("same_3v3", "3 vs 3 runs")):
            cells = []
            for L in lengths:
                rs = L["views"][name][kind]
                cells.append("%d of %d" % (count(rs, "failed"), len(rs)))
            print("| %s | %s |" % (what, " | ".join(cells)))
            cells = []
            for L in lengths:
                rs = L["views"][name][kind]
                cells.append("%d of %d" % (count(rs, "plain_failed"), len(rs)))
            print("| %s, plain Benjamini-Hochberg | %s |" % (what, " | ".join(cells)))
        print("\nCaught (of %d) when `render_month` is slower by:\n" % plan.runs)
        cols = []
        for L in lengths:
            cols += [("~%g s, single" % L["seconds"], L, "power_single"),
                     ("~%g s, 3 vs 3" % L["seconds"], L, "power_3v3")]
        print("| slower by | " + " | ".join(c[0] for c in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for level in plan.levels:
            cells = []
            for _, L, kind in cols:
                rs = L["views"][name][kind][level]
                plain = count(rs, "plain_caught")
                got = count(rs, "caught")
                cells.append("%d of %d" % (got, len(rs)) + (" (plain BH %d)" % plain if plain != got else ""))
            print("| %d%% | %s |" % (level, " | ".join(cells)))
        print()
    print("Smallest slowdown of `render_month` caught every time (at it and every larger one):\n")
    print("| compared | runs of | single runs | 3 vs 3 runs |")
    print("|---|---|---|---|")
    for view in views:
        name = view_name(view)
        for L in lengths:
            cells = []
            for kind in ("power_single", "power_3v3"):
                s = smallest(plan.levels, L["views"][name][kind], "caught")
                cells.append("%d%%" % s if s is not None else
                             "not reliably, even at %d%%" % max(plan.levels))
            print("| %s | ~%g s | %s |" % (name, L["seconds"], " | ".join(cells)))
    print()
    for view in views:
        clock, normalize = view
        if clock not in ("cpu", None):
            continue
        for L in lengths:
            c = L["views"][view_name(view)]
            alarms = count(c["same_3v3"], "failed")
            n = len(c["same_3v3"])
            if 20 not in c["power_3v3"]:
                continue
            caught = count(c["power_3v3"][20], "caught")
            total = len(c["power_3v3"][20])
            ok = caught == total and alarms * 80 <= max(n, 1)
            print("Goal (3 vs 3, %s, ~%g s runs: +20%% caught 9 of 9, at most 1 false alarm in 80): "
                  "%d of %d caught, %d false alarms of %d: %s."
                  % (view_label(view), L["seconds"], caught, total,
                     alarms, n, "reached" if ok else "not reached"))
    print()
    for view in views:
        if view[1]:
            continue  # --normalize scales every run to the base's time
        name = view_name(view)
        for L in lengths:
            secs = [s for r in L["views"][name]["same_single"] if "seconds" in r for s in r["seconds"]]
            if secs:
                print("Unchanged runs of ~%g s, %s: %.2f to %.2f s (median %.2f) per run."
                      % (L["seconds"], name, min(secs), max(secs), statistics.median(secs)))
            pairs = [(r["hypotheses"], r["functions"]) for r in L["views"][name]["same_3v3"]
                     if r.get("hypotheses") is not None and r.get("functions")]
            if pairs:
                print("Hypotheses the correction counted (3 vs 3, unchanged, ~%g s, %s): "
                      "median %g, for a median of %g functions tested."
                      % (L["seconds"], name, statistics.median(h for h, _ in pairs),
                         statistics.median(f for _, f in pairs)))
