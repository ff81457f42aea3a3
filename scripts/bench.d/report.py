"""The benchmark's markdown: each section's tables as printed after it runs, and the
closing block for README's Performance section, built from the sections' dataclasses.
A table that appears in both (the ratios, the process trees) is rendered once and reused.

Renderers return text for one print(): a leading "\\n" where the heading wants a blank
line above it."""

# The profiler rows of README's per-sample table, in order.
README_PROFILERS = [("floor", "sleep only"), ("framescope", "nonblocking"),
                    ("framescope", "blocking"), ("py-spy", "nonblocking"),
                    ("py-spy", "blocking"), ("austin", "nonblocking")]


def fmt(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def khz(rate):
    return "%g kHz" % (rate / 1000.0)


def pct(v, spec="%+.1f%%"):
    return "-" if v is None else spec % v


def brief(run):
    """One profiler run in a line of the log."""
    if not run.ok:
        return "FAILED: " + run.failed
    text = "%5.1f%% delivered, %d errors, %s us/sample (steady %s), %.1f MB" % (
        run.delivered_pct, run.errors, fmt(run.us_per_sample),
        fmt(run.steady_us_per_sample), run.rss_mb)
    if run.reads_per_sample is not None:
        text += ", %.1f reads/sample" % run.reads_per_sample
    if run.correct_pct is not None:
        text += ", %.2f%% true stacks" % run.correct_pct
    return text


def header(meta):
    return ("# framescope benchmark, %s (%s)\n\n"
            "%s, %s cores, Linux %s, load average %s. framescope %s, py-spy %s, Austin %s.\n" % (
                meta.time, meta.mode, meta.cpu, meta.nproc, meta.kernel, " ".join(meta.loadavg),
                meta.framescope, meta.pyspy, meta.austin))


# --- per-sample cost -------------------------------------------------------------------------

def ratio_table(ps):
    """framescope / other, CPU per sample: the same table in the section and in README."""
    lines = ["| Python | depth | " + " | ".join("vs " + l for l in ps.labels) + " |",
             "|---|---|" + "---|" * len(ps.labels)]
    for row in ps.ratios:
        lines.append("| %s | %d | %s |" % (row.version, row.depth, " | ".join(
            "-" if row.values[l] is None else "%.3f" % row.values[l] for l in ps.labels)))
    return "\n".join(lines)


def per_sample(ps, ratios):
    lines = ["\n## Per-sample cost (medians over repeats)\n",
             "us/sample = the profiler's CPU (user+sys, from rusage) / samples delivered; "
             "steady = the same over the middle of the run only (schedstat), without attach "
             "and shutdown. true = % of samples whose stack is exactly the target's.\n",
             "| Python | depth | rate | profiler | delivered | errors | us/sample | steady | "
             "core % | reads/sample | peak RSS MB | true stacks |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for version in ps.versions:
        for depth in ps.depths:
            for s in ps.settings:
                a = ps.get(version, depth, s.tool, s.mode, s.rate)
                if a is None:
                    continue
                label = "%s %s" % (s.tool, s.mode)
                if not a.ok:
                    lines.append("| %s | %d | %s | %s | failed: %s |||||||" % (
                        version, depth, khz(s.rate), label, a.failed[:90].replace("|", "/")))
                    continue
                lines.append("| %s | %d | %s | %s | %.1f%% | %s | %s | %s | %s | %s | %.1f | %s |" % (
                    version, depth, khz(s.rate), label, a.delivered_pct, fmt(a.errors, 0),
                    fmt(a.us_per_sample), fmt(a.steady_us_per_sample),
                    fmt(a.steady_core_pct), fmt(a.reads_per_sample), a.rss_mb,
                    pct(a.correct_pct, "%.2f%%")))
    lines.append("\n## framescope / other: CPU per sample (below 1: framescope is cheaper)\n")
    lines.append(ratios)
    return "\n".join(lines)


def per_sample_readme(ps, ratios):
    lines = ["| Python | profiler | µs/sample depth 5 | depth 50 | depth 200 | reads/sample (200) | "
             "delivered at 1 kHz | at 10 kHz | core % at 10 kHz (200) | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    deepest = max(ps.depths)
    for version in ps.versions:
        for tool, mode in README_PROFILERS:
            at1 = [ps.get(version, d, tool, mode, 1000) for d in ps.depths]
            at10 = [ps.get(version, d, tool, mode, 10000) for d in ps.depths]
            if not any(a and a.ok for a in at1):
                failure = next((a.failed for a in at1 if a and not a.ok), None)
                if failure:
                    lines.append("| %s | %s %s | unsupported: %s |||||||" % (
                        version, tool, mode, failure[:70].replace("|", "/")))
                continue
            cells = [fmt(a.us_per_sample) if a and a.ok else "-" for a in at1]
            deep = ps.get(version, deepest, tool, mode, 1000)
            deep10 = ps.get(version, deepest, tool, mode, 10000)
            d1 = [a.delivered_pct for a in at1 if a and a.ok]
            d10 = [a.delivered_pct for a in at10 if a and a.ok]
            rss = [a.rss_mb for case, a in ps.summaries.items()
                   if (case.version, case.tool, case.mode) == (version, tool, mode) and a.ok]
            lines.append("| %s | %s %s | %s | %s | %s | %s | %s | %s |" % (
                version, tool, mode, " | ".join(cells),
                fmt(deep.reads_per_sample if deep and deep.ok else None),
                "%.1f%%" % min(d1) if d1 else "-",
                "%.1f%%" % min(d10) if d10 else "-",
                fmt(deep10.steady_core_pct if deep10 and deep10.ok else None),
                "%.1f" % max(rss) if rss else "-"))
    lines += [
        "",
        "Delivered: the lowest over the three depths. Core %: the profiler's CPU over the "
        "middle of the run as a share of one core. floor: framescope's sleep loop alone "
        "(examples/sleep_floor.rs), sampling nothing: what this machine charges any process "
        "for waking up at that rate, part of every profiler's figure.",
        "",
        "framescope / other, CPU per sample (below 1: framescope is cheaper):",
        "",
        ratios]
    return lines


# --- the other sections ----------------------------------------------------------------------

def strace(st):
    return ("\n## strace cross-check (framescope, %s, depth %d, 1 kHz nonblocking, 2 s under strace)\n\n"
            "framescope's summary: %.1f reads/sample over %d samples; strace: %.2f "
            "process_vm_readv/sample, %.2f syscalls/sample in all (attach and the final report "
            "included). Calls: %s" % (
                st.version, st.depth, st.reported_reads_per_sample, st.samples,
                st.process_vm_readv_per_sample, st.syscalls_per_sample,
                ", ".join("%s %d" % kv for kv in st.top)))


def slowdown_table(sl, each_run):
    """The slowdown rows; EACH_RUN adds every round's wall time (the section's table)."""
    extra = " wall of each run (s) |" if each_run else ""
    lines = ["| profiler | %s | slowdown | %s | CPU change |%s" % (
                 "median wall s" if each_run else "wall s",
                 "median CPU s" if each_run else "target CPU s", extra),
             "|---|---|---|---|---|" + ("---|" if each_run else "")]
    for row in sl.rows:
        if row.median_s is None:
            lines.append("| %s | failed: %s | | | |%s" % (row.config, row.note,
                                                        " |" if each_run else ""))
            continue
        alone = row.config == "alone"
        cells = [row.config, "%.3f" % row.median_s, "-" if alone else pct(row.slowdown_pct),
                 "%.3f" % row.cpu_s, "-" if alone else pct(row.cpu_pct)]
        if each_run:
            cells.append(" ".join("%.3f" % t for t in row.all_s))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def slowdown(sl):
    return "\n".join([
        "\n## Target slowdown (%s, workload.py %d rounds, median of %d, profilers at 1 kHz)\n"
        % (sl.version, sl.rounds, sl.repeats),
        "wall: the workload's own perf_counter; CPU: its process_time (a paused or "
        "descheduled target spends wall time, not CPU time). slowdown and CPU change: the "
        "median over rounds of each run against the run alone in the same round.\n"]
        + slowdown_table(sl, each_run=True))


def post(p):
    lines = ["\n## Post-processing (1,000,000 samples, 4 threads, %.1f MB recording; median of %d)\n"
             % (p.recording_bytes / 1e6, p.repeats),
             "| step | wall s | CPU s | peak RSS MB |",
             "|---|---|---|---|"]
    lines += ["| %s | %.3f | %.3f | %.1f |" % (r.step, r.wall_s, r.cpu_s, r.rss_mb) for r in p.rows]
    return "\n".join(lines)


def torn(t):
    lines = ["\n## Torn stacks (framescope nonblocking, %d Hz, %d s per version, churn.py)\n"
             % (t.rate, t.seconds),
             "| Python | samples | impossible stacks | errors | error % | depths seen |",
             "|---|---|---|---|---|---|"]
    for row in t.rows:
        if row.failed is not None:
            lines.append("| %s | failed: %s |||||" % (row.version, row.failed))
            continue
        lines.append("| %s | %d | %d | %d | %.3f%% | %d |" % (
            row.version, row.samples, row.impossible, row.errors, row.error_pct,
            row.distinct_depths))
    for row in t.rows:
        for text, n in row.examples:
            lines.append("\n%s impossible stack (x%d): `%s`" % (row.version, n, text))
    return "\n".join(lines)


def asyncio(a):
    lines = ["\n## asyncio (aioserver.py, nonblocking, 1 kHz, median of %d)\n" % a.repeats,
             "CPU us per sample: the profiler's user+sys over the samples it delivered (steady: "
             "attach and exit left out); syscalls per sample from one more run under "
             "strace -f -c.\n",
             "| Python | program | profiler | CPU us/sample (steady) | reads/sample "
             "| syscalls/sample | re-read |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s (%s) | %s | %s | %s |" % (
        r.version, r.shape, r.tool, fmt(r.us_per_sample), fmt(r.steady_us_per_sample),
        fmt(r.reads_per_sample), fmt(r.syscalls_per_sample),
        pct(r.reread_pct, "%.1f%%")) for r in a.rows]
    tops = ["%s %s %s: %s" % (r.version, r.shape, r.tool,
                              ", ".join("%s %d" % kv for kv in r.strace_top))
            for r in a.rows if r.strace_top]
    if tops:
        lines += ["\nMost frequent syscalls under strace:\n"] + ["- " + t for t in tops]
    return "\n".join(lines)


def soak(s):
    lines = ["\n## Soak: framescope RSS while recording (%s, depth 50, 1 kHz, %d s)\n"
             % (s.version, s.seconds),
             s.summary or "no summary line: " + s.stderr_last,
             "\n| seconds | RSS MB | recording MB |",
             "|---|---|---|"]
    lines += ["| %.0f | %.1f | %.1f |" % point for point in s.series]
    lines.append("\npeak RSS (rusage): %.1f MB" % s.peak_rss_mb)
    if len(s.series) >= 4:
        t0, early, _ = s.series[len(s.series) // 4]
        t1, late, _ = s.series[-1]
        lines.append("RSS from %.0f s to %.0f s: %.1f MB -> %.1f MB (%+.1f MB, %+.2f MB per minute)"
                     % (t0, t1, early, late, late - early, (late - early) / ((t1 - t0) / 60.0)))
    return "\n".join(lines)


# --- README's block --------------------------------------------------------------------------

def readme(meta, ps=None, ratios=None, st=None, sl=None, p=None, t=None, trees=None):
    """The closing markdown for README's Performance section; RATIOS and TREES are the
    tables already rendered for their sections."""
    lines = [
        "## Performance",
        "",
        "Measured %s with `scripts/bench%s` on %s, %s cores, Linux %s (load average %s at "
        "the start; the machine was shared, so compare within a row). framescope %s, "
        "py-spy %s, Austin %s. %d s per run, median of %d; CPU per sample is the profiler's "
        "own user+sys time (rusage) divided by the samples it delivered, attach and shutdown "
        "included." % (
            meta.date, "" if meta.mode == "full" else " --quick", meta.cpu, meta.nproc,
            meta.kernel, " ".join(meta.loadavg), meta.framescope, meta.pyspy,
            meta.austin, meta.duration, meta.repeats),
        ""]
    if ps and ps.summaries:
        lines += per_sample_readme(ps, ratios)
    if st:
        lines += ["",
                  "strace -c, framescope on %s depth %d: %.2f process_vm_readv per sample "
                  "(framescope counts %.1f), %.2f syscalls per sample in all." % (
                      st.version, st.depth, st.process_vm_readv_per_sample,
                      st.reported_reads_per_sample, st.syscalls_per_sample)]
    if sl:
        lines += ["",
                  "Target slowdown (%s, a fixed CPU-bound workload, profilers at 1 kHz; each run "
                  "against the run alone in the same round, median of %d rounds):"
                  % (meta.slowdown_python, meta.slowdown_repeats),
                  ""]
        lines += slowdown_table(sl, each_run=False)
    if p:
        lines += ["",
                  "Post-processing a 1,000,000-sample recording (%.1f MB):" % (p.recording_bytes / 1e6),
                  "",
                  "| step | wall s | peak RSS MB |",
                  "|---|---|---|"]
        lines += ["| %s | %.2f | %.1f |" % (r.step, r.wall_s, r.rss_mb) for r in p.rows]
    if t and t.rows:
        lines += ["",
                  "Torn stacks (framescope nonblocking at %d Hz on a recursion that changes depth "
                  "all the time; every stack checked against the program):" % meta.torn_rate,
                  "",
                  "| Python | samples | impossible stacks | errors |",
                  "|---|---|---|---|"]
        for row in t.rows:
            if row.failed is not None:
                lines.append("| %s | failed: %s | | |" % (row.version, row.failed))
            else:
                lines.append("| %s | %d | %d | %d (%.3f%%) |" % (
                    row.version, row.samples, row.impossible, row.errors, row.error_pct))
    text = "\n".join(lines)
    if trees:
        text += "\n\n" + trees
    return text
