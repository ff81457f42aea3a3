"""Reads one CPython version's preprocessed headers (gcc -E output of probe.c) on stdin and
prints the fields of its `_Py_DebugOffsets`, in order, as `DEBUG_OFFSETS_FIELD(name,
member)` lines for probe.c to include. probe.c then has the compiler confirm each one:
every field is a uint64_t at 8 + 8 * its index, and none is missing (the struct's size).
Prints nothing for a version without the struct (before 3.13). Run by `generate`."""

import re
import sys

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[{}\[\];]")


def struct_body(text):
    """The tokens between the braces of `typedef struct _Py_DebugOffsets { ... }`."""
    start = re.search(r"typedef\s+struct\s+_Py_DebugOffsets\s*\{", text)
    if not start:
        return None
    tokens = TOKEN.findall(text[start.end():])
    depth = 1
    for i, tok in enumerate(tokens):
        depth += {"{": 1, "}": -1}.get(tok, 0)
        if depth == 0:
            return tokens[:i]
    sys.exit("debug_offsets.py: _Py_DebugOffsets is not closed")


def members(tokens, i):
    """Field names (dotted for nested structs) from tokens[i] up to the closing brace."""
    names = []
    while i < len(tokens) and tokens[i] != "}":
        if tokens[i] == "struct":
            i += 1
            if tokens[i] != "{":
                i += 1  # the struct's tag
            inner, i = members(tokens, i + 1)
            name, semi = tokens[i + 1], tokens[i + 2]
            if semi != ";":
                sys.exit(f"debug_offsets.py: unexpected {semi!r} after struct {name}")
            names += [f"{name}.{n}" for n in inner]
            i += 3
            continue
        end = tokens.index(";", i)
        decl = tokens[i:end]
        if decl[:5] == ["char", "cookie", "[", "8", "]"]:
            pass  # possibly with __attribute__((nonstring))
        elif len(decl) == 2 and decl[0] == "uint64_t":
            names.append(decl[1])
        else:
            sys.exit(f"debug_offsets.py: a field that is not a uint64_t: {' '.join(decl)}")
        i = end + 1
    return names, i


def main():
    body = struct_body(sys.stdin.read())
    if body is None:
        return
    names, _ = members(body, 0)
    for name in names:
        print(f'DEBUG_OFFSETS_FIELD("{name}", {name})')


main()
