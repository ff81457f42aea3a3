"""A WSGI app with two endpoints of known cost, for gunicorn: /fast does one unit of CPU
work in handle_fast, /slow three units in handle_slow (a unit: 4 ms of the worker's CPU
time, by time.process_time()). Used by tests/process_trees.rs."""

import time

UNIT = 0.004


def handle_fast():
    start = time.process_time()
    x = 0
    while time.process_time() - start < UNIT:
        for i in range(200):
            x += i
    return b"fast\n"


def handle_slow():
    start = time.process_time()
    x = 0
    while time.process_time() - start < 3 * UNIT:
        for i in range(200):
            x += i
    return b"slow\n"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/fast":
        body = handle_fast()
    elif path == "/slow":
        body = handle_slow()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such page\n"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
