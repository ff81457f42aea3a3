"""One thread burns CPU holding the GIL, another sleeps; prints "ready" when both run."""
import sys
import threading
import time


def sleeper():
    time.sleep(3600)


def spin():
    x = 0
    while True:
        x += 1


threading.Thread(target=sleeper, name="sleeper", daemon=True).start()
time.sleep(0.1)
print("ready", flush=True)
spin()
