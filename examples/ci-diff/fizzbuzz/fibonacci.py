"""Fibonacci numbers for the FizzBuzz notifications: memoized, each number computed once."""

_known = {0: 0, 1: 1}


def fibonacci(n):
    """The n-th Fibonacci number."""
    if n not in _known:
        _known[n] = fibonacci(n - 1) + fibonacci(n - 2)
    return _known[n]
