"""Benchmark target for torn stacks: a recursion whose depth changes all the time.

    python churn.py

`<module>` calls `churn` forever; `churn` calls `dive(n)` for n = 0, 1, ... 39 and back,
over and over; `dive(n)` calls itself n times and does a little work at the bottom. So
every true stack of the main thread, root first, is

    <module> (line A) ; churn (line B) ; dive (line C) * k ; [dive at any line]

with A, B, C the lines marked `CALL-*` below. scripts/bench reads the lines from this file
(the markers), so editing it keeps the check right. Prints "ready" when it starts.
"""


def dive(n):
    if n > 0:
        return dive(n - 1)  # CALL-DIVE
    total = 0
    for i in range(20):
        total += i
    return total


def churn():
    print("ready", flush=True)
    depths = list(range(40)) + list(range(38, 0, -1))
    while True:
        for n in depths:
            dive(n)  # CALL-CHURN


churn()  # CALL-MODULE
