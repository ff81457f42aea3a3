"""Locals built to make a reader of locals hang or blow up: a 10 MB str, a list of a
million items, a dict of a million keys, a list that contains itself, and a dict that
another thread mutates without pause. `hostile()` prints "ready" and sleeps; tests/locals.rs
checks that `dump --locals` answers in bounded time with bounded reprs.
"""
import threading
import time

churn = {}


def mutate():
    i = 0
    while True:
        churn[i % 1000] = i
        i += 1
        if i % 5000 == 0:
            churn.clear()


def hostile(shared):
    huge = "x" * 10_000_000
    million = list(range(1_000_000))
    big_dict = dict.fromkeys(range(1_000_000))
    loop = []
    loop.append(loop)
    print("ready", flush=True)
    time.sleep(3600)
    return huge, million, big_dict, loop


threading.Thread(target=mutate, daemon=True).start()
hostile(churn)
