"""For `top`: one thread whose time splits 3:1 between hot_a and hot_b (each loops in
its own frame), while the main thread waits. Prints "ready" once the loop runs; runs
until killed."""
import threading


def hot_a():
    total = 0
    for i in range(30000):
        total += i * i
    return total


def hot_b():
    total = 0
    for i in range(10000):
        total += i * i
    return total


def work():
    while True:
        hot_a()
        hot_b()


t = threading.Thread(target=work, name="worker", daemon=True)
t.start()
print("ready", flush=True)
threading.Event().wait()
