"""A program whose every thread parks at a known place, then reports the truth.

Run as `python stacks.py TRUTH.json`. Once every thread (the main one included) is
parked in `park()`, a reporter thread takes `sys._current_frames()` until two looks agree,
writes them to TRUTH.json (every thread but itself) and ends. The other threads stay
parked until the process is killed. framescope's `dump` must then show exactly these
stacks. The program covers: methods of nested classes, a non-ASCII function in a
non-ASCII file, a generator, coroutines run by asyncio, a decorator, a lambda, recursion
40 deep (and 300 deep, past one data-stack chunk), a Python key function called from C (`sorted`),
an `__init__` run by a specialized constructor call (3.13+ puts a shim frame under it), a
property, a `__getitem__` and a generator loop run often enough to be specialized (3.12+
then push their frames without a C call in between), a handler reached by `throw()` through
two `yield from`s (3.12+ links the middle generator's frame onto the outer one, which
stands on its `yield`, with no C call in between),
named threads, the main thread.
"""
import asyncio
import functools
import importlib.util
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED_PARKED = 15  # threads below + the main thread
parked = []
parked_lock = threading.Lock()


def park():
    with parked_lock:
        parked.append(threading.get_ident())
    time.sleep(3600)


# --- the shapes under test -------------------------------------------------------------

class Outer:
    class Inner:
        def method(self):
            return recurse(40)


def recurse(n):
    if n == 0:
        return park()
    return recurse(n - 1)


def numbers():
    yield 1
    park()
    yield 2


def consume_generator():
    for _ in numbers():
        pass


async def coroutine_inner():
    park()


async def coroutine_outer():
    await coroutine_inner()


def run_asyncio():
    asyncio.run(coroutine_outer())


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


@logged
def decorated():
    park()


def call_lambda():
    (lambda: park())()


def key_function(x):
    if x == 2:
        park()
    return x


def sort_with_callback():
    sorted([3, 2, 1], key=key_function)


class Built:
    def __init__(self, last):
        if last:
            park()


def construct_many():
    # Enough calls for the interpreter to specialize the call site (3.13+ then enters
    # `__init__` through a shim frame of its own, which CPython does not list).
    for i in range(200):
        Built(i == 199)


class Lookups:
    def __init__(self):
        self.reads = 0

    @property
    def prop(self):
        self.reads += 1
        if self.reads == 200:
            park()
        return self.reads

    def __getitem__(self, i):
        if i == 199:
            park()
        return i


def read_property_often():
    lookups = Lookups()
    for _ in range(200):
        lookups.prop


def subscript_often():
    lookups = Lookups()
    for i in range(200):
        lookups[i]


def counting():
    for i in range(200):
        if i == 199:
            park()
        yield i


def loop_over_generator():
    for _ in counting():
        pass


def catching():
    try:
        yield 1
    except KeyError:
        park()
    yield 2


def delegating():
    yield from catching()


def delegating_twice():
    yield from delegating()


def throw_through_delegation():
    generator = delegating_twice()
    next(generator)
    generator.throw(KeyError)


def load_non_ascii_module():
    path = os.path.join(HERE, "módulo_ñ.py")
    spec = importlib.util.spec_from_file_location("modulo_n", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


non_ascii = load_non_ascii_module()


# --- the truth --------------------------------------------------------------------------

def frame_list(frame):
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append({
            "function": getattr(code, "co_qualname", code.co_name),
            "name": code.co_name,
            "file": code.co_filename,
            "line": frame.f_lineno,
            "first_line": code.co_firstlineno,
        })
        frame = frame.f_back
    return frames


def report(truth_path, main_ident):
    me = threading.get_ident()
    while True:
        with parked_lock:
            ready = len(parked) >= EXPECTED_PARKED
        if ready:
            first = {k: frame_list(f) for k, f in sys._current_frames().items() if k != me}
            time.sleep(0.2)
            second = {k: frame_list(f) for k, f in sys._current_frames().items() if k != me}
            if first == second and all(s[0]["name"] == "park" for s in second.values()):
                break
        time.sleep(0.02)
    by_ident = {t.ident: t for t in threading.enumerate()}
    threads = []
    for ident, frames in second.items():
        thread = by_ident.get(ident)
        threads.append({
            "ident": ident,
            "native_id": getattr(thread, "native_id", None),
            "name": thread.name if thread else None,
            "main": ident == main_ident,
            "frames": frames,
        })
    tmp = truth_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "reporter": me, "threads": threads}, f, ensure_ascii=False)
    os.rename(tmp, truth_path)


def main():
    targets = [
        ("generator-thread", consume_generator),
        ("asyncio-thread", run_asyncio),
        ("decorated-thread", decorated),
        ("lambda-thread", call_lambda),
        ("sorted-thread", sort_with_callback),
        ("init-thread", construct_many),
        ("property-thread", read_property_often),
        ("getitem-thread", subscript_often),
        ("generator-loop-thread", loop_over_generator),
        ("throw-thread", throw_through_delegation),
        ("non-ascii-thread", non_ascii.función_β),
        ("wide-chars-ünï-名前", non_ascii.関数_𠀋),
        ("deep-thread", lambda: recurse(300)),  # spills over several data-stack chunks
        (None, park),  # an unnamed thread gets the default Thread-N name
    ]
    for name, target in targets:
        threading.Thread(target=target, name=name, daemon=True).start()
    threading.Thread(target=report, args=(sys.argv[1], threading.get_ident()), name="reporter", daemon=True).start()
    Outer.Inner().method()


if __name__ == "__main__":
    main()
