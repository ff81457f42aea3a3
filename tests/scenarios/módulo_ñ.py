"""Functions whose names need latin-1, UCS-2 and UCS-4 strings, in a non-ASCII file."""
import sys


def función_β():
    sys.modules["__main__"].park()


def 関数_𠀋():
    función_β()
