/*
 * framescope offsets probe: prints, as TOML, the byte offsets and sizes of the CPython
 * structures that framescope reads out of a running interpreter.
 *
 * It is compiled against one CPython version's own headers (including the internal
 * ones) by python-offsets/generate/generate, once per version and ABI flavour, so every
 * number in python-offsets/*.toml comes from the compiler, not from reading headers by eye.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Header names moved between versions; take whichever of them this version has. */
#if __has_include("internal/pycore_runtime.h")
#include "internal/pycore_runtime.h"
#endif
#include "internal/pycore_pystate.h"
#if __has_include("internal/pycore_interp.h")
#include "internal/pycore_interp.h"
#endif
#if __has_include("internal/pycore_frame.h")
#include "internal/pycore_frame.h"
#endif
#if __has_include("internal/pycore_code.h") && PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_code.h"
#endif
#if __has_include("internal/pycore_tstate.h")
#include "internal/pycore_tstate.h"
#endif
#if __has_include("internal/pycore_stackref.h") && PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_stackref.h"
#endif
#if PY_VERSION_HEX < 0x030B0000
#include "frameobject.h"
#endif
#if PY_VERSION_HEX >= 0x030A0000
#include "internal/pycore_moduleobject.h"
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_object.h"
#include "internal/pycore_dict.h"
#endif
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_long.h"
#endif
#include <stdint.h>
#include <stdlib.h>

#if PY_VERSION_HEX < 0x030A0000
/* Before 3.10 the module object is private to Objects/moduleobject.c; this is its layout. */
typedef struct {
    PyObject_HEAD
    PyObject *md_dict;
    struct PyModuleDef *md_def;
    void *md_state;
    PyObject *md_weaklist;
    PyObject *md_name;
} PyModuleObject;
#endif

#if PY_VERSION_HEX < 0x030B0000
/* Before 3.11 the dict keys object and its entries are private to Objects/dict-common.h;
 * this is their layout. dk_indices holds dk_size indices of 1, 2, 4 or 8 bytes (by
 * dk_size), followed by the entries. */
typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} PyDictKeyEntry;

typedef struct {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} framescope_dict_keys;
#else
typedef PyDictKeysObject framescope_dict_keys;
#endif

#define SECTION(name) printf("\n[%s]\n", name)
#define FIELD(key, type, member) printf("%s = %zu\n", key, (size_t)offsetof(type, member))
#define SIZE(key, type) printf("%s = %zu\n", key, sizeof(type))

/* Position of the lowest set bit of a bit-field, found by setting it to all ones in an
 * otherwise zeroed object and looking at which bits of the containing word changed. */
static unsigned lowest_bit(const unsigned char *bytes, size_t offset, size_t len)
{
    unsigned long long word = 0;
    memcpy(&word, bytes + offset, len < sizeof word ? len : sizeof word);
    unsigned bit = 0;
    while (word && !(word & 1ULL)) {
        word >>= 1;
        bit++;
    }
    return bit;
}

/* Stops the probe when a header no longer matches what framescope assumes. */
static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "probe: CPython %s: %s\n", PY_VERSION, what);
        exit(1);
    }
}

#if PY_VERSION_HEX >= 0x030B0000
/* An object of a fake heap type with a managed dict (and inline values where the version
 * has them), so that CPython's own accessors can be asked where they look. */
static PyTypeObject fake_type;
static union {
    PyObject *align;
    unsigned char bytes[512];
} fake_memory;

static PyObject *fake_instance(void)
{
    fake_type.tp_flags = Py_TPFLAGS_MANAGED_DICT;
#ifdef Py_TPFLAGS_INLINE_VALUES
    fake_type.tp_flags |= Py_TPFLAGS_INLINE_VALUES;
#endif
    fake_type.tp_basicsize = sizeof(PyObject);
    PyObject *obj = (PyObject *)(fake_memory.bytes + 128);
    obj->ob_type = &fake_type;
    return obj;
}

/* Where instance attributes live outside an instance dict (3.11+). */
static void instance_attributes(void)
{
    PyObject *obj = fake_instance();
    char *base = (char *)obj;
    printf("managed_dict_flag = %lu\n", (unsigned long)Py_TPFLAGS_MANAGED_DICT);
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13+: values inline after tp_basicsize; a materialised dict behind the object. */
    printf("inline_values_flag = %lu\n", (unsigned long)Py_TPFLAGS_INLINE_VALUES);
    require((char *)_PyObject_InlineValues(obj) == base + fake_type.tp_basicsize,
            "inline values are not at tp_basicsize");
    printf("managed_dict_offset = %td\n", (char *)_PyObject_ManagedDictPointer(obj) - base);
#elif PY_VERSION_HEX >= 0x030C0000
    /* 3.12: one word behind the object holds a dict pointer, or a values pointer
     * displaced by a tag that makes it odd. */
    PyDictOrValues *dorv = _PyObject_DictOrValuesPointer(obj);
    printf("managed_dict_offset = %td\n", (char *)dorv - base);
    PyDictValues *values = (PyDictValues *)(fake_memory.bytes + 256);
    _PyDictOrValues_SetValues(dorv, values);
    require(_PyDictOrValues_IsValues(*dorv) && ((uintptr_t)dorv->values & 1),
            "tagged values pointer is not told apart by its low bit");
    require(_PyDictOrValues_GetValues(*dorv) == values, "tagged values pointer does not round-trip");
    printf("dict_or_values_tag = %td\n", dorv->values - (char *)values);
#else
    /* 3.11: a values pointer and a dict pointer behind the object. */
    printf("managed_dict_offset = %td\n", (char *)_PyObject_ManagedDictPointer(obj) - base);
    printf("managed_values_offset = %td\n", (char *)_PyObject_ValuesPointer(obj) - base);
#endif
}
#endif

static void unicode_state_bits(void)
{
    PyASCIIObject probe;
    size_t state = offsetof(PyASCIIObject, state);
    unsigned char *bytes = (unsigned char *)&probe;

    memset(&probe, 0, sizeof probe);
    probe.state.kind = 7;
    printf("state_kind_shift = %u\n", lowest_bit(bytes, state, 4));
    memset(&probe, 0, sizeof probe);
    probe.state.compact = 1;
    printf("state_compact_shift = %u\n", lowest_bit(bytes, state, 4));
    memset(&probe, 0, sizeof probe);
    probe.state.ascii = 1;
    printf("state_ascii_shift = %u\n", lowest_bit(bytes, state, 4));
}

/* What `dump --locals` reads: where a frame keeps its locals, how a code object names
 * them and which are arguments, and the few object types it shows by value. */
static void locals_section(void)
{
    SECTION("locals");
#if PY_VERSION_HEX >= 0x030B0000
    FIELD("frame_localsplus", _PyInterpreterFrame, localsplus);
    FIELD("code_nlocalsplus", PyCodeObject, co_nlocalsplus);
    FIELD("code_localsplusnames", PyCodeObject, co_localsplusnames);
    FIELD("code_localspluskinds", PyCodeObject, co_localspluskinds);
    printf("kind_cell = %d\n", (int)CO_FAST_CELL);
    printf("kind_free = %d\n", (int)CO_FAST_FREE);
#else
    FIELD("frame_localsplus", PyFrameObject, f_localsplus);
    FIELD("code_nlocals", PyCodeObject, co_nlocals);
    FIELD("code_varnames", PyCodeObject, co_varnames);
    FIELD("code_cellvars", PyCodeObject, co_cellvars);
    FIELD("code_freevars", PyCodeObject, co_freevars);
#endif
    FIELD("code_argcount", PyCodeObject, co_argcount);
    FIELD("code_kwonlyargcount", PyCodeObject, co_kwonlyargcount);
    FIELD("code_flags", PyCodeObject, co_flags);
    printf("flag_varargs = %d\n", (int)CO_VARARGS);
    printf("flag_varkeywords = %d\n", (int)CO_VARKEYWORDS);
#if PY_VERSION_HEX >= 0x030E0000 && !defined(Py_GIL_DISABLED)
    /* 3.14+: localsplus holds _PyStackRefs: a pointer with tag bits, a tagged small
     * int, or the null reference. */
    printf("stackref_tag_bits = %d\n", (int)Py_TAG_BITS);
    printf("stackref_null = %llu\n", (unsigned long long)PyStackRef_NULL.bits);
    printf("stackref_int_tag = %d\n", (int)Py_INT_TAG);
    require(PyStackRef_TagInt(-5).bits == (((uintptr_t)-5 << 2) | Py_INT_TAG),
            "a tagged int is not its value shifted by 2 plus the int tag");
    printf("stackref_int_shift = 2\n");
#endif
    FIELD("float_value", PyFloatObject, ob_fval);
    FIELD("list_size", PyListObject, ob_base.ob_size);
    FIELD("list_items", PyListObject, ob_item);
    FIELD("cell_ref", PyCellObject, ob_ref);
    FIELD("dict_used", PyDictObject, ma_used);
    printf("heaptype_flag = %lu\n", (unsigned long)Py_TPFLAGS_HEAPTYPE);
}

#ifdef FRAMESCOPE_DEBUG_OFFSETS
/* The shape of _Py_DebugOffsets (3.13+): its field names in order after the cookie, as
 * generate/debug_offsets.py read them from this version's preprocessed headers. The
 * compiler confirms the list: each field is a uint64_t at 8 + 8 * its index, and the
 * struct ends after the last one, so no field was missed or misread. */
static void debug_offsets_section(void)
{
    static const struct {
        const char *name;
        size_t offset, size;
    } fields[] = {
#define DEBUG_OFFSETS_FIELD(name, member) \
    {name, offsetof(_Py_DebugOffsets, member), sizeof(((_Py_DebugOffsets *)0)->member)},
#include FRAMESCOPE_DEBUG_OFFSETS
    };
    size_t count = sizeof fields / sizeof fields[0];

    SECTION("debug_offsets");
    printf("# The fields of _Py_DebugOffsets in order after its cookie.\n");
    printf("fields = [\n");
    for (size_t i = 0; i < count; i++) {
        require(fields[i].offset == 8 + 8 * i && fields[i].size == 8,
                "a _Py_DebugOffsets field is not the uint64_t its place says");
        printf("    \"%s\",\n", fields[i].name);
    }
    printf("]\n");
    require(sizeof(_Py_DebugOffsets) == 8 + 8 * count, "_Py_DebugOffsets has fields the list lacks");
}
#endif

int main(void)
{
    printf("# generated by python-offsets/generate/generate from the headers of CPython %s\n",
           PY_VERSION);
    printf("version = \"%s\"\n", PY_VERSION);
#ifdef Py_DEBUG
    printf("debug_build = true\n");
#else
    printf("debug_build = false\n");
#endif

    SECTION("runtime");
    FIELD("interpreters_head", _PyRuntimeState, interpreters.head);
#if PY_VERSION_HEX < 0x030C0000
    /* Up to 3.11 there is one GIL, inside the runtime state. */
    FIELD("gil_last_holder", _PyRuntimeState, ceval.gil.last_holder);
    FIELD("gil_locked", _PyRuntimeState, ceval.gil.locked);
#endif

    SECTION("interpreter");
    FIELD("next", PyInterpreterState, next);
#if PY_VERSION_HEX >= 0x030B0000
    FIELD("threads_head", PyInterpreterState, threads.head);
#else
    FIELD("threads_head", PyInterpreterState, tstate_head);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    FIELD("modules", PyInterpreterState, imports.modules);
    /* From 3.12 each interpreter points at its GIL. */
    FIELD("gil_pointer", PyInterpreterState, ceval.gil);
#else
    FIELD("modules", PyInterpreterState, modules);
#endif

#if PY_VERSION_HEX >= 0x030C0000
    SECTION("gil");
    FIELD("last_holder", struct _gil_runtime_state, last_holder);
    FIELD("locked", struct _gil_runtime_state, locked);
#endif

    SECTION("thread");
    FIELD("next", PyThreadState, next);
    FIELD("interp", PyThreadState, interp);
#if PY_VERSION_HEX >= 0x030D0000
    FIELD("current_frame", PyThreadState, current_frame);
#elif PY_VERSION_HEX >= 0x030B0000
    FIELD("cframe", PyThreadState, cframe);
#else
    FIELD("frame", PyThreadState, frame);
#endif
    FIELD("thread_id", PyThreadState, thread_id);
#if PY_VERSION_HEX >= 0x030B0000
    FIELD("native_thread_id", PyThreadState, native_thread_id);
    FIELD("datastack_chunk", PyThreadState, datastack_chunk);
    FIELD("datastack_top", PyThreadState, datastack_top);
#endif

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
    SECTION("cframe");
    FIELD("current_frame", _PyCFrame, current_frame);
#endif

#if PY_VERSION_HEX >= 0x030B0000
    SECTION("interpreter_frame");
    FIELD("previous", _PyInterpreterFrame, previous);
#if PY_VERSION_HEX >= 0x030D0000
    FIELD("executable", _PyInterpreterFrame, f_executable);
    FIELD("instr_ptr", _PyInterpreterFrame, instr_ptr);
#else
    FIELD("executable", _PyInterpreterFrame, f_code);
    FIELD("instr_ptr", _PyInterpreterFrame, prev_instr);
#endif
    FIELD("owner", _PyInterpreterFrame, owner);
#if PY_VERSION_HEX < 0x030C0000
    /* 3.11: set on a frame the interpreter was entered with from C (3.12+ put a shim
     * frame under it instead). */
    FIELD("is_entry", _PyInterpreterFrame, is_entry);
#endif
    /* A generator's frame is never "incomplete" (see first_traceable in [code]). */
    printf("generator_owner = %d\n", (int)FRAME_OWNED_BY_GENERATOR);
#if PY_VERSION_HEX >= 0x030E0000
    /* Owners from this value up are not Python functions: the interpreter's own entry
     * frames and C-stack shims. */
    printf("first_shim_owner = %d\n", (int)FRAME_OWNED_BY_INTERPRETER);
#elif PY_VERSION_HEX >= 0x030C0000
    printf("first_shim_owner = %d\n", (int)FRAME_OWNED_BY_CSTACK);
#endif
#ifdef Py_TAG_BITS
    /* f_executable is a tagged _PyStackRef: these low bits are not part of the pointer. */
    printf("executable_tag_bits = %d\n", (int)Py_TAG_BITS);
#endif

    SECTION("stack_chunk");
    FIELD("previous", _PyStackChunk, previous);
    FIELD("size", _PyStackChunk, size);
#else
    SECTION("frame_object");
    FIELD("back", PyFrameObject, f_back);
    FIELD("code", PyFrameObject, f_code);
    FIELD("lasti", PyFrameObject, f_lasti);
#endif

    SECTION("code");
    FIELD("filename", PyCodeObject, co_filename);
    FIELD("name", PyCodeObject, co_name);
#if PY_VERSION_HEX >= 0x030B0000
    FIELD("qualname", PyCodeObject, co_qualname);
    FIELD("code_adaptive", PyCodeObject, co_code_adaptive);
    /* A frame (not a generator's) whose instruction pointer is before this code unit has
     * not started running its function yet: CPython leaves it out of tracebacks and
     * f_back chains (the 3.13+ shim under a specialized __init__ call is one). */
    FIELD("first_traceable", PyCodeObject, _co_firsttraceable);
#endif
    FIELD("firstlineno", PyCodeObject, co_firstlineno);
#if PY_VERSION_HEX >= 0x030A0000
    FIELD("linetable", PyCodeObject, co_linetable);
#else
    FIELD("linetable", PyCodeObject, co_lnotab);
#endif

    SECTION("object");
    FIELD("ob_type", PyObject, ob_type);
    FIELD("var_size", PyVarObject, ob_size);

    SECTION("type");
    /* tp_name: read by dump --locals. */
    FIELD("name", PyTypeObject, tp_name);
    FIELD("flags", PyTypeObject, tp_flags);
    FIELD("dictoffset", PyTypeObject, tp_dictoffset);
    FIELD("basicsize", PyTypeObject, tp_basicsize);

    SECTION("unicode");
    SIZE("ascii_size", PyASCIIObject);
    SIZE("compact_size", PyCompactUnicodeObject);
    FIELD("length", PyASCIIObject, length);
    FIELD("state", PyASCIIObject, state);
    unicode_state_bits();

    SECTION("bytes");
    FIELD("size", PyBytesObject, ob_base.ob_size);
    FIELD("data", PyBytesObject, ob_sval);

    SECTION("tuple");
    FIELD("size", PyTupleObject, ob_base.ob_size);
    FIELD("items", PyTupleObject, ob_item);

    SECTION("long");
#if PY_VERSION_HEX >= 0x030C0000
    FIELD("tag", PyLongObject, long_value.lv_tag);
    FIELD("digits", PyLongObject, long_value.ob_digit);
#else
    FIELD("size", PyLongObject, ob_base.ob_size);
    FIELD("digits", PyLongObject, ob_digit);
#endif

    printf("digit_bits = %d\n", (int)PyLong_SHIFT);
    SIZE("digit_size", digit);
#if PY_VERSION_HEX >= 0x030C0000
    /* lv_tag = digit count << tag_size_shift | sign bits. */
    printf("tag_size_shift = %d\n", (int)_PyLong_NON_SIZE_BITS);
    printf("tag_sign_mask = %d\n", (int)_PyLong_SIGN_MASK);
    printf("tag_negative = %d\n", (int)SIGN_NEGATIVE);
    printf("tag_zero = %d\n", (int)SIGN_ZERO);
    require((uint64_t)TAG_FROM_SIGN_AND_SIZE(-1, 5) == ((5u << _PyLong_NON_SIZE_BITS) | SIGN_NEGATIVE),
            "lv_tag is not digit count and sign bits");
#endif

    SECTION("dict");
    FIELD("keys", PyDictObject, ma_keys);
    FIELD("values", PyDictObject, ma_values);

    SECTION("dict_keys");
#if PY_VERSION_HEX >= 0x030B0000
    FIELD("log2_size", PyDictKeysObject, dk_log2_size);
    FIELD("log2_index_bytes", PyDictKeysObject, dk_log2_index_bytes);
    FIELD("kind", PyDictKeysObject, dk_kind);
    printf("kind_general = %d\n", (int)DICT_KEYS_GENERAL);
    printf("kind_unicode = %d\n", (int)DICT_KEYS_UNICODE);
    printf("kind_split = %d\n", (int)DICT_KEYS_SPLIT);
#else
    FIELD("size", framescope_dict_keys, dk_size);
#endif
    FIELD("nentries", framescope_dict_keys, dk_nentries);
    FIELD("indices", framescope_dict_keys, dk_indices);
    SIZE("entry_size", PyDictKeyEntry);
    FIELD("entry_key", PyDictKeyEntry, me_key);
    FIELD("entry_value", PyDictKeyEntry, me_value);
#if PY_VERSION_HEX >= 0x030B0000
    /* Tables of str keys only (and shared keys) keep no hash: smaller entries. */
    SIZE("unicode_entry_size", PyDictUnicodeEntry);
    FIELD("unicode_entry_key", PyDictUnicodeEntry, me_key);
    FIELD("unicode_entry_value", PyDictUnicodeEntry, me_value);
#endif

    SECTION("dict_values");
#if PY_VERSION_HEX >= 0x030B0000
    FIELD("items", PyDictValues, values);
#else
    /* ma_values is the array of values itself. */
    printf("items = 0\n");
#endif
#if PY_VERSION_HEX >= 0x030D0000
    FIELD("capacity", PyDictValues, capacity);
    FIELD("valid", PyDictValues, valid);
#endif

    SECTION("module");
    FIELD("dict", PyModuleObject, md_dict);

    SECTION("heap_type");
    FIELD("cached_keys", PyHeapTypeObject, ht_cached_keys);

#if PY_VERSION_HEX >= 0x030B0000
    SECTION("instance");
    instance_attributes();
#endif
    locals_section();
#ifdef FRAMESCOPE_DEBUG_OFFSETS
    debug_offsets_section();
#endif
    return 0;
}
