"""Fibonacci numbers for the FizzBuzz notifications: one loop (the fix)."""


def fibonacci(n):
    """The n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
