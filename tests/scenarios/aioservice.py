"""An asyncio service on 127.0.0.1 and named client tasks doing known CPU work.

Usage: aioservice.py TRUTH_JSON SECONDS

A server from asyncio.start_server echoes each request line. Client tasks `client-a` and
`client-b` (their names given at create_task) loop: burn CPU for their unit count (a=1,
b=3) in `burn`, then send a request and await the answer. Each measures its own CPU time
around its work with time.thread_time; after SECONDS the truth is written to TRUTH_JSON:
{"client-a": s, "client-b": s, "total": s} (total: the thread's CPU time of the run).
"""

import asyncio
import json
import sys
import time

UNIT_S = 0.002


def burn(units):
    end = time.thread_time() + units * UNIT_S
    x = 0
    while time.thread_time() < end:
        for i in range(200):
            x += i * i
    return x


async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(line)
        await writer.drain()
    writer.close()


async def client(port, units, spent, deadline):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    name = asyncio.current_task().get_name()
    while time.monotonic() < deadline:
        start = time.thread_time()
        burn(units)
        spent[name] += time.thread_time() - start
        writer.write(b"ping\n")
        await writer.drain()
        await reader.readline()
    writer.close()


async def main(truth_path, seconds):
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spent = {"client-a": 0.0, "client-b": 0.0}
    start = time.thread_time()
    deadline = time.monotonic() + seconds
    tasks = [
        asyncio.create_task(client(port, 1, spent, deadline), name="client-a"),
        asyncio.create_task(client(port, 3, spent, deadline), name="client-b"),
    ]
    await asyncio.gather(*tasks)
    spent["total"] = time.thread_time() - start
    server.close()
    with open(truth_path + ".tmp", "w") as f:
        json.dump(spent, f)
    import os

    os.rename(truth_path + ".tmp", truth_path)


asyncio.run(main(sys.argv[1], float(sys.argv[2])))
