"""The text of a FizzBuzz notification."""


def format_message(k, n, value):
    """The message for the k-th FizzBuzz, carrying fibonacci(n) = value."""
    return f"FizzBuzz #{k}: fibonacci({n}) = {value}"
