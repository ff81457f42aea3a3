"""The benchmark CI records: FizzBuzz over a fixed range of numbers, several times.

    python bench.py [COUNT] [REPEAT]
"""

import sys

import app


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 150_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for _ in range(repeat):
        checksum = app.run(count)
    print(f"checksum {checksum}")


main()
