"""Waiting asyncio tasks for `dump --async` and `record --async --idle`: named tasks parked on
an asyncio.Lock, an asyncio.Queue.get and an asyncio.sleep; a `gather` tree and a
`TaskGroup` tree; an eager task (3.12+). Once all are parked, writes the truth to the file
named by argv[1]: each task's id, its coroutine, the file and line of the `await` it is
parked at (found by the markers in this file), and which task awaits which; the main task's
id and `await` line (its code is quickened by then, on 3.11 its `RESUME`s too). Then waits
until killed.

    python aiowait.py TRUTH.json            # the trees above
    python aiowait.py TRUTH.json many N     # N tasks asleep (and the trees)
    python aiowait.py TRUTH.json profiled   # under a no-op sys.setprofile (3.12+: every
                                            # RESUME instrumented)
"""
import asyncio
import json
import os
import sys

HERE = os.path.abspath(__file__)
LINES = {}
with open(HERE) as f:
    for number, text in enumerate(f, 1):
        if "# AT:" in text:
            LINES[text.split("# AT:")[1].strip()] = number


async def hold_lock(lock):
    async with lock:  # AT:lock
        pass


async def get_item(queue):
    return await queue.get()  # AT:queue


async def nap():
    await asyncio.sleep(3600)  # AT:sleep


async def leaf(event):
    await event.wait()  # AT:leaf


async def gather_parent(children):
    await asyncio.gather(*children)  # AT:gather


async def group_parent(event, names):
    async with asyncio.TaskGroup() as tg:  # AT:group
        for name in names:
            tg.create_task(leaf(event), name=name)


async def eager_leaf(event):
    await event.wait()  # AT:eager


async def main(truth_path, many):
    lock = asyncio.Lock()
    await lock.acquire()
    queue = asyncio.Queue()
    event = asyncio.Event()
    tasks = {
        "lock-waiter": asyncio.create_task(hold_lock(lock), name="lock-waiter"),
        "queue-waiter": asyncio.create_task(get_item(queue), name="queue-waiter"),
        "sleeper": asyncio.create_task(nap(), name="sleeper"),
    }
    children = [
        asyncio.create_task(leaf(event), name=f"gather-child-{i}") for i in (1, 2)
    ]
    for c in children:
        tasks[c.get_name()] = c
    tasks["gather-parent"] = asyncio.create_task(
        gather_parent(children), name="gather-parent"
    )
    tasks["group-parent"] = asyncio.create_task(
        group_parent(event, ["group-child-1", "group-child-2"]), name="group-parent"
    )
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        loop.set_task_factory(asyncio.eager_task_factory)
        tasks["eager"] = loop.create_task(eager_leaf(event), name="eager")
        loop.set_task_factory(None)
    sleepers = [asyncio.create_task(nap()) for _ in range(many)]
    for _ in range(5):
        await asyncio.sleep(0.05)
    for t in asyncio.all_tasks():
        if t.get_name().startswith("group-child-"):
            tasks[t.get_name()] = t
    me = asyncio.current_task()
    awaits = {
        "gather-parent": ["gather-child-1", "gather-child-2"],
        "group-parent": ["group-child-1", "group-child-2"],
    }
    where = {
        "lock-waiter": ("hold_lock", "lock"),
        "queue-waiter": ("get_item", "queue"),
        "sleeper": ("nap", "sleep"),
        "gather-child-1": ("leaf", "leaf"),
        "gather-child-2": ("leaf", "leaf"),
        "group-child-1": ("leaf", "leaf"),
        "group-child-2": ("leaf", "leaf"),
        "gather-parent": ("gather_parent", "gather"),
        "group-parent": ("group_parent", "group"),
        "eager": ("eager_leaf", "eager"),
    }
    truth = {
        "file": HERE,
        "main": {"name": me.get_name(), "id": id(me), "line": LINES["main"]},
        "many": len(sleepers),
        "tasks": {
            name: {
                "id": id(t),
                "coroutine": where[name][0],
                "line": LINES[where[name][1]],
                "awaits": awaits.get(name, []),
            }
            for name, t in tasks.items()
        },
    }
    with open(truth_path + ".tmp", "w") as f:
        json.dump(truth, f)
    os.rename(truth_path + ".tmp", truth_path)
    await asyncio.Event().wait()  # AT:main


many = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "many" else 0
if sys.argv[2:3] == ["profiled"]:
    sys.setprofile(lambda *args: None)
asyncio.run(main(sys.argv[1], many))
