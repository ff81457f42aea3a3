"""Two known-hot tests for a pytest-xdist run (`pytest -n 2 tree_xdist_hot.py`): each
spins for 0.4 s of CPU and writes the pid of the worker that ran it next to this file.
Used by tests/process_trees.rs."""

import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _note(name):
    with open(os.path.join(HERE, name + ".pid"), "w") as f:
        f.write("%d\n" % os.getpid())


def test_hot_a():
    _note("test_hot_a")
    start = time.process_time()
    x = 0
    while time.process_time() - start < 0.4:
        for i in range(2000):
            x += i


def test_hot_b():
    _note("test_hot_b")
    start = time.process_time()
    x = 0
    while time.process_time() - start < 0.4:
        for i in range(2000):
            x += i
