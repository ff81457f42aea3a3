"""Values of every kind `dump --locals` shows, held by a frame blocked at a known line.

`show()` takes an argument of each kind (positional, keyword-only, *args, **kwargs, one
captured by a closure), makes locals of each kind, and calls `wait()` from a list
comprehension; `wait()`, a closure whose free variables are two of them, prints "ready"
and sleeps. tests/locals.rs asserts the exact reprs and argument flags of both frames.
"""
import sys
import time


class Custom:
    pass


class MyInt(int):
    pass


def show(name, count, ratio, nothing, flag, items, pair, mapping, big, text, *rest,
         option=None, **extra):
    local_str = "hello"
    negative = -12345678901234567890123
    zero = 0
    small = -5
    falsy = False
    nested = [1, 2.5, "x", None, [1, 2, 3], (4,), {"k": 1}]
    empty = ()
    one = (1,)
    blob = b"ab\x00\xff'"
    quoted = "it's\n"
    wide = "\u540d\u524d \U0001f600"
    latin = "caf\xe9"
    long_text = "a" * 5000
    many = list(range(100))
    custom = Custom()
    evil = type("evil\x1b[2J", (), {})()
    subclassed = MyInt(7)
    huge_float = 1e300
    tiny = 1e-05
    whole = 2.0
    closure_var = "captured"

    def wait():
        waiting = closure_var + str(count)
        print("ready", flush=True)
        time.sleep(3600)
        return waiting

    # 3.12+ inlines the comprehension into show(): while it runs, its `_` is a variable
    # of show's frame (a "hidden" slot that `locals()` shows only while bound).
    return [wait() for _ in [1]]


show("hello", 42, 3.5, None, True, [1, 2], (1, "two"), {"a": 1, "b": [2]}, 2 ** 100,
     "\xfcn\xefc\xf6d\xe9", "extra-positional", option=-7, more=0.25)
