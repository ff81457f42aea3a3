"""Fibonacci numbers for the FizzBuzz notifications: the textbook recursion (the regression)."""


def fibonacci(n):
    """The n-th Fibonacci number."""
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
