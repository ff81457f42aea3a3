"""FizzBuzzFibonacci: FizzBuzz, where every FizzBuzz sends a notification carrying a
Fibonacci number."""

from fibonacci import fibonacci
from message import format_message


def word(i):
    """The FizzBuzz word for i, or i itself."""
    if i % 15 == 0:
        return "FizzBuzz"
    if i % 3 == 0:
        return "Fizz"
    if i % 5 == 0:
        return "Buzz"
    return str(i)


def notification(i):
    """The message sent for the i-th number when it is a FizzBuzz."""
    k = i // 15
    n = 10 + k % 5
    return format_message(k, n, fibonacci(n))


def render(i, text):
    """One line of the report."""
    return f"{i:>8} | {text:<40} |"


def run(count):
    """FizzBuzz from 1 to count; returns a checksum of the report."""
    checksum = 0
    for i in range(1, count + 1):
        text = word(i)
        if text == "FizzBuzz":
            text = notification(i)
        checksum = (checksum * 31 + len(render(i, text))) % 1_000_003
    return checksum
