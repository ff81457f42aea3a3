"""Stacks read back from a profiler's output, and checked against what the target's own
source says they can be (the CALL-* marks and the line ranges of its functions)."""

import ast
import re

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
    """(samples whose stack is OK, all samples, the others most frequent first)."""
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
