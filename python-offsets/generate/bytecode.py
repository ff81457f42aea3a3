"""Prints the [bytecode] section of python-offsets/3.X.toml for the CPython running it
(3.11+), from that interpreter's own opcode tables (its `opcode` and `dis` modules).

framescope walks a code object's instructions to learn where each starts, and checks that
every caller on a stack it read without pausing stands at an instruction that can have
pushed the frame above it. The section says how many inline cache units follow each
opcode and what kind of instruction each opcode is:

  1  pushes a Python frame itself (generic calls and calls specialized for Python
     functions, `send` to a generator, specialized `__getitem__`/property/
     `__getattribute__`/generator loops, the `__init__` check);
  2  does not (a call specialized for a C function, a load specialized otherwise), but
     it may be specialized or despecialized into one that does later;
  3  stands in for an instruction kept elsewhere (line/instruction events, executors), so
     its true length is unknown;
  0  anything else.

It also lists the opcodes a `RESUME` can carry after a `yield`/`await` (the generic one,
its specializations and its instrumented form): a suspended coroutine's next instruction
is one of them when it is parked in an `await` (`dump --async`, 3.11/3.12).
"""
import dis
import opcode
import sys

# Families whose generic instruction can have a Python frame running above it.
PUSHING_FAMILIES = {"CALL", "CALL_KW", "CALL_FUNCTION_EX", "SEND"}
# Specializations that push a frame; the rest of their family gets kind 2 (except in the
# SEND family, whose every member is taken to push: its variants all resume generators).
PUSHING_SPECIALIZATIONS = {
    "CALL_ADAPTIVE", "CALL_PY_EXACT_ARGS", "CALL_PY_WITH_DEFAULTS", "CALL_PY_GENERAL",
    "CALL_BOUND_METHOD_EXACT_ARGS", "CALL_BOUND_METHOD_GENERAL", "CALL_ALLOC_AND_ENTER_INIT",
    "CALL_KW_PY", "CALL_KW_BOUND_METHOD", "CALL_EX_PY",
    "FOR_ITER_GEN", "FOR_ITER_VIRTUAL", "BINARY_SUBSCR_GETITEM", "BINARY_OP_SUBSCR_GETITEM",
    "LOAD_ATTR_PROPERTY", "LOAD_ATTR_GETATTRIBUTE_OVERRIDDEN",
}
ALWAYS_PUSHING = {"EXIT_INIT_CHECK"}
HIDDEN = {"INSTRUMENTED_LINE", "INSTRUMENTED_INSTRUCTION", "ENTER_EXECUTOR"}

if not hasattr(dis, "_all_opmap"):
    sys.exit("bytecode.py: this CPython has no dis._all_opmap")
opmap = dis._all_opmap
names = {number: name for name, number in opmap.items()}
family_of = {}
for base, members in opcode._specializations.items():
    for member in members:
        family_of[member] = base
families_with_pushing = {family_of.get(n, n) for n in PUSHING_SPECIALIZATIONS if n in opmap}
families_with_pushing -= PUSHING_FAMILIES


def cache_units(name):
    table = opcode._inline_cache_entries
    if hasattr(table, "get"):  # by name (3.12+; a frozendict on 3.15)
        return table.get(name, 0)
    return table[opmap[name]]  # a list by opcode number (3.11)


def kind(name, family):
    if name in ALWAYS_PUSHING or name in PUSHING_SPECIALIZATIONS or family == "SEND":
        return 1
    if family in PUSHING_FAMILIES:
        return 1 if name == family else 2
    if family in families_with_pushing:
        return 2
    return 0


caches, kinds = [0] * 256, [0] * 256
for number, name in names.items():
    if number > 255:  # pseudo-instructions of the compiler
        continue
    if name in HIDDEN:
        kinds[number] = 3
        continue
    plain = name
    if name.startswith("INSTRUMENTED_"):
        plain = name[len("INSTRUMENTED_"):]
        if plain not in opmap:
            kinds[number] = 3
            continue
    family = family_of.get(plain, plain)
    caches[number] = cache_units(family)
    # An instrumented instruction is its family's generic one until instrumentation ends.
    kinds[number] = kind(family if plain != name else plain, family)

print()
print("[bytecode]")
print("# Inline cache units after each opcode, by opcode number.")
print("caches = [%s]" % ", ".join(map(str, caches)))
print("# Kind of each opcode: 1 pushes a Python frame, 2 may be specialized into one that")
print("# does, 3 hides the true instruction, 0 neither.")
print("kinds = [%s]" % ", ".join(map(str, kinds)))
resumes = sorted(number for number, name in names.items()
                 if number <= 255 and "RESUME" in (name, family_of.get(name),
                                                   name[len("INSTRUMENTED_"):]))
print("# Opcodes of a RESUME: generic, specialized and instrumented.")
print("resumes = [%s]" % ", ".join(map(str, resumes)))
print("cache_opcode = %d" % opmap["CACHE"])
print("extended_arg = %d" % opmap["EXTENDED_ARG"])
