"""asyncio tasks for `dump --async`: the main thread's loop runs a task named "main-spinner"
(coroutine `spin_main`), a second thread's loop runs one named "side-spinner" (`Side.spin`);
each spins without awaiting, so each loop's current task stays put. Writes the truth (each
thread's ident → task name, coroutine qualname, id) to the file named by argv[1] once both
run, then keeps spinning until killed.

    python aiotasks.py TRUTH.json [py]

`py`: the tasks are the pure-Python `asyncio.tasks._PyTask`, which framescope cannot read.
"""
import asyncio
import json
import os
import sys
import threading

truth = {}
lock = threading.Lock()

if len(sys.argv) > 2 and sys.argv[2] == "py":
    asyncio.tasks.Task = asyncio.tasks._PyTask


def note(name):
    task = asyncio.current_task()
    with lock:
        truth[str(threading.get_ident())] = {
            "name": task.get_name(),
            "coroutine": task.get_coro().__qualname__,
            "id": id(task),
        }
        if len(truth) == 2:
            tmp = sys.argv[1] + ".tmp"
            with open(tmp, "w") as f:
                json.dump(truth, f)
            os.rename(tmp, sys.argv[1])


def crunch():
    total = 0
    for i in range(1000):
        total += i * i
    return total


async def spin_main():
    note("main-spinner")
    while True:
        crunch()


class Side:
    async def spin(self):
        note("side-spinner")
        while True:
            crunch()


async def start(coro, name):
    await asyncio.get_running_loop().create_task(coro, name=name)


def side():
    asyncio.run(start(Side().spin(), "side-spinner"))


threading.Thread(target=side, daemon=True).start()
asyncio.run(start(spin_main(), "main-spinner"))
