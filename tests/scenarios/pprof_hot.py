"""Known hot spots for the pprof tests: the main thread spends its time on one line of
crunch(), a thread named "pprof-worker" on one line of churn(); both stop after the
seconds given as the first argument. The tests find the lines by their marker comments."""
import sys
import threading
import time


def crunch(deadline):
    x = 0
    while time.monotonic() < deadline:
        x += sum(range(200))  # crunch-hot
    return x


def churn(deadline):
    y = 0
    while time.monotonic() < deadline:
        y = (y * 31 + 7) % 1000003  # churn-hot
    return y


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    worker = threading.Thread(target=churn, args=(deadline,), name="pprof-worker")
    worker.start()
    crunch(deadline)
    worker.join()


main()
