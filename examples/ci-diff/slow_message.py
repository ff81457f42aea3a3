"""The text of a FizzBuzz notification, tidied up once too often (the second regression)."""


def format_message(k, n, value):
    """The message for the k-th FizzBuzz, carrying fibonacci(n) = value."""
    text = f"FizzBuzz #{k}: fibonacci({n}) = {value}"
    for _ in range(60):
        text = " ".join(text.split(" "))
    return text
