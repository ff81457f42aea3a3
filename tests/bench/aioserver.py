"""Benchmark target: the same CPU work as an asyncio service, or as plain calls.

    python aioserver.py async|sync [CLIENTS]

`async`: an asyncio.start_server echo-like service on 127.0.0.1; CLIENTS (default 8) client
tasks each send a request, the server's handler coroutine does the work (three awaits deep,
yielding to the loop between slices) and answers. `sync`: the same work in the same call
shape without the event loop. Prints "ready" once running, then runs until killed. Runs on
CPython 3.8 and later.
"""
import asyncio
import sys


def crunch(n):
    total = 0
    for i in range(n):
        total += (i * 7) % 13
    return total


async def compute(n):
    return crunch(n)


async def handle_request(n):
    total = 0
    for _ in range(4):
        total += await compute(n)
        await asyncio.sleep(0)
    return total


async def handler(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        result = await handle_request(int(line))
        writer.write(b"%d\n" % result)
        await writer.drain()
    writer.close()


async def client(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while True:
        writer.write(b"2000\n")
        await writer.drain()
        await reader.readline()


async def serve(clients):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for i in range(clients):
        asyncio.get_running_loop().create_task(client(port), name="client-%d" % i)
    print("ready", flush=True)
    await asyncio.Event().wait()


def sync_compute(n):
    return crunch(n)


def sync_request(n):
    total = 0
    for _ in range(4):
        total += sync_compute(n)
    return total


def sync_serve():
    print("ready", flush=True)
    while True:
        sync_request(2000)


if __name__ == "__main__":
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    if sys.argv[1] == "async":
        asyncio.run(serve(clients))
    else:
        sync_serve()
