"""One thread burns CPU holding the GIL, another sleeps; spin() prints "ready" once both run."""
import sys
import threading
import time


def sleeper():
    time.sleep(3600)


def spin():
    x = 0
    print("ready", flush=True)  # from "ready" on, the main thread is inside spin()
    while True:
        x += 1


threading.Thread(target=sleeper, name="sleeper", daemon=True).start()
time.sleep(0.1)
spin()
