"""A small program to profile: a CPU-heavy parser, a slower report, and some sleeping.

    framescope record -o profile.svg -- python3 examples/workload.py
"""
import time


def tokenize(text):
    return [word.strip(".,") for word in text.split()]


def count_words(words):
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return counts


def parse(n):
    text = "the quick brown fox jumps over the lazy dog, again and again. " * n
    return count_words(tokenize(text))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def report(counts):
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), fib(22)


def wait_for_io():
    time.sleep(0.05)


def main(seconds=2.0):
    end = time.time() + seconds
    while time.time() < end:
        counts = parse(2000)
        report(counts)
        wait_for_io()


if __name__ == "__main__":
    import sys
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
