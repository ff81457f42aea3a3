//! Every bound framescope keeps to when it reads what it cannot trust: a target's memory
//! (which a torn read or a hostile process can fill with anything), recordings and other
//! files, and /proc. Each number is here, once, grouped by what it bounds, with why it is
//! that number; the code that enforces a bound names it from here. The README's
//! "Reliability" section quotes the ones a user can meet. The checks a report or diff
//! makes against the input-file limits are in [`checks`].

mod checks;

pub use checks::{check, check_samples, stack_frames};

// --- Stacks: one number for a live stack and for a recorded one --------------------------

/// Python frames kept of one stack, innermost first: a deeper live stack keeps these and is
/// marked truncated, and reports and diffs keep as many of a recorded one (with a warning).
/// Far deeper than real programs go (recursion stops at 1000 by default), small enough
/// that a runaway recursion costs a bounded walk.
pub const MAX_STACK_DEPTH: usize = 4096;

// --- Target memory: what one read of the target may claim ---------------------------------

/// Frame pointers followed in one walk: 3.12+ adds a C-entry shim frame per call from C,
/// so a stack of [`MAX_STACK_DEPTH`] Python frames can take up to twice as many.
pub const MAX_FRAME_POINTERS: usize = 2 * MAX_STACK_DEPTH + 2;

/// Bytes of one 3.11+ data-stack chunk read in one go (CPython's chunks start at 16 KiB
/// and only grow for a single huge frame).
pub const MAX_DATA_CHUNK_READ: u64 = 1 << 20;

/// Code points kept of a function, qualified or file name (a str read on its own): a
/// longer one (a generated name, say) keeps this many and a marker saying how many more.
pub const MAX_CODE_STR_CHARS: u64 = 1 << 16;

/// Code points kept of a str read among many in one gathered read (thread names): the read
/// takes each str's head in one syscall, so this bounds what many of them cost.
pub const MAX_BATCHED_STR_CHARS: u64 = 4096;

/// Length a str header may claim before it is taken for garbage: no real string is four
/// billion code points long, but a torn read can claim anything.
pub const MAX_CLAIMED_STR_CHARS: u64 = 1 << 32;

/// Bytes of a bytes object read (line tables and code are far shorter).
pub const MAX_BYTES_OBJECT_LEN: u64 = 1 << 22;

/// Instance size of a type believed when finding its `__dict__`: anything bigger is a
/// misread type.
pub const MAX_TYPE_BASICSIZE: u64 = 1 << 16;

/// Code units of one code object scanned for call sites; a larger one is not checked
/// (real functions have a few hundred).
pub const MAX_CODE_UNITS: usize = 1 << 16;

/// Code units before a function's first traceable instruction (its `RESUME`) believed:
/// one per cell or free variable plus a few. A larger value is not that field.
pub const MAX_FIRST_TRACEABLE: i64 = 4096;

/// Size of one `_Py_DebugOffsets` structure believed: every real one is a few hundred
/// bytes, so a larger one means the shape assumed is not the target's.
pub const MAX_DEBUG_OFFSETS_STRUCT: u64 = 16 << 20;

/// Entries a dict keys object may have before it is called garbage (the `sys.modules` of
/// a large application holds a few thousand).
pub const MAX_DICT_ENTRIES: u64 = 1 << 16;

/// Slots of a dict's hash table accepted.
pub const MAX_DICT_TABLE_SLOTS: u64 = 1 << 20;

/// Distinct keys compared in one dict lookup.
pub const MAX_DICT_KEYS_COMPARED: usize = 1 << 16;

/// Interpreters followed down the runtime's list (for stacks and for thread names) before
/// the list is called garbage: subinterpreters are rare, and a loop in a torn list must end.
pub const MAX_INTERPRETERS: usize = 256;

/// Threads of one interpreter followed before the list is called garbage.
pub const MAX_THREADS: usize = 4096;

/// Entries of `threading._active` used for thread names: as many as threads followed.
pub const MAX_NAMED_THREADS: usize = MAX_THREADS;

// --- asyncio: tasks and loops read from the target ---------------------------------------

/// Tasks read; a process with more is read in part (and says so).
pub const MAX_ASYNC_TASKS: usize = 100_000;

/// Coroutines followed down one task's `await` chain.
pub const MAX_AWAIT_CHAIN: usize = 64;

/// Children of one `gather` looked at.
pub const MAX_GATHER_CHILDREN: usize = 10_000;

/// Nested `gather`s followed.
pub const MAX_GATHER_DEPTH: usize = 8;

/// Entries of a set table read (the set of all tasks).
pub const MAX_SET_SLOTS: u64 = 1 << 20;

/// Size of a structure the asyncio module publishes believed.
pub const MAX_ASYNC_STRUCT: u64 = 1 << 20;

/// Running loops looked at (one per thread at most).
pub const MAX_RUNNING_LOOPS: usize = 1024;

/// Bytes of `_current_tasks`' keys object read at once.
pub const MAX_CURRENT_TASKS_KEYS_READ: usize = 64 * 1024;

/// Tasks and loops remembered between samples before the caches start over.
pub const MAX_ASYNC_REMEMBERED: usize = 4096;

/// Deepest task-tree nesting printed (a deeper tree is cut, saying so).
pub const MAX_TASK_TREE_DEPTH: usize = 64;

// --- Locals: what `--locals` reads and shows of one frame --------------------------------

/// Bytes one frame's locals may read, names and values together.
pub const MAX_LOCALS_FRAME_BYTES: usize = 256 * 1024;

/// Variables shown of one frame.
pub const MAX_LOCALS: usize = 256;

/// Slots a code object may claim before it is taken for garbage.
pub const MAX_LOCALS_SLOTS: u64 = 1 << 16;

/// Code points of a variable's name kept.
pub const MAX_LOCAL_NAME_CHARS: u64 = 200;

/// Items shown of a tuple, list or dict; the rest is `...`.
pub const MAX_REPR_ITEMS: usize = 10;

/// Code points of a str (bytes of a bytes) shown at the top level of a repr.
pub const MAX_REPR_TEXT: u64 = 200;

/// Code points (bytes) shown of a str (bytes) inside a container.
pub const MAX_REPR_NESTED_TEXT: u64 = 40;

/// Digits (30-bit, or 15-bit) of an int decoded; a bigger int is shown by its size.
pub const MAX_REPR_INT_DIGITS: u64 = 256;

/// Bytes of a type's name read.
pub const MAX_REPR_TYPE_NAME: usize = 100;

/// Length a container may claim before it is taken for garbage.
pub const MAX_CLAIMED_CONTAINER_LEN: i64 = 1 << 40;

/// Dict entries looked at for the first [`MAX_REPR_ITEMS`] live ones (deleted entries
/// leave holes).
pub const MAX_REPR_DICT_ENTRIES_SCANNED: u64 = 64;

// --- Processes: /proc and process trees ---------------------------------------------------

/// Processes one scan of /proc looks at (a machine has far fewer; this bounds a hostile
/// /proc).
pub const MAX_SCANNED_PROCESSES: usize = 1 << 20;

/// Members of a process tree tracked by `--subprocesses` (a fork bomb under the target is
/// not ours to follow).
pub const MAX_TREE_MEMBERS: usize = 4096;

/// Processes `top` keeps named; beyond, the oldest ended one is forgotten.
pub const MAX_TOP_PROCESSES: usize = 4096;

// --- Files read in place of a live target -------------------------------------------------

/// Bytes of a core file's notes read (a process with a million mappings has a few tens of
/// MB of them).
pub const MAX_CORE_NOTES_BYTES: u64 = 64 << 20;

/// Program headers of a core file read.
pub const MAX_CORE_SEGMENTS: usize = 1 << 20;

/// Bytes of a memory snapshot read (the checked-in ones are well under a megabyte). Only
/// the tests read snapshots.
#[cfg(test)]
pub const MAX_SNAPSHOT_BYTES: usize = 16 << 20;

// --- Recordings and other input files of `report` and `diff` -----------------------------

/// The largest input file read: recordings and collapsed-stack files over this size are
/// refused before they are read.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Frames that the formats writing whole stacks (collapsed, flamegraph, speedscope, diff)
/// may expand over all the distinct stacks of a recording, each counted up to
/// [`MAX_STACK_DEPTH`]. A recording over it is refused: each of its stack records is a few
/// bytes, but spelt out they would take gigabytes.
pub const MAX_EXPANDED_FRAMES: u64 = 1 << 23;

/// Bytes of frame labels (function and file names) over the same expansion: bounds the
/// collapsed text when names are long.
pub const MAX_EXPANDED_BYTES: u64 = 256 << 20;

/// Frames a speedscope file may spell out over its samples (it writes each sample's whole
/// stack, each counted up to [`MAX_STACK_DEPTH`]): about 700 MB of JSON at most.
pub const MAX_SAMPLED_FRAMES: u64 = 1 << 27;

/// Distinct functions one input of a diff may name. A diff keeps several records per
/// function (its identity across runs, its measures, its row); this bounds them.
pub const MAX_DIFF_FUNCTIONS: usize = 200_000;

/// A recording chunk longer than this is taken for damage, not data. The writer stays far
/// below it.
pub const MAX_CHUNK_LEN: usize = 64 << 20;

/// Definitions one recording may make, so that what reading one costs is bounded by these
/// numbers and not by what the file claims: far more than framescope writes (its writer
/// forgets and redefines past [`MAX_WRITER_REMEMBERED`] frames or stack nodes, and a
/// recording of hours holds a few million), far less than a hostile file of tiny records
/// could ask for (a 60 MB file of empty strings is 30 million of them).
pub const MAX_RECORDING_STRINGS: usize = 4 << 20;
/// Frames one recording may define (see [`MAX_RECORDING_STRINGS`]).
pub const MAX_RECORDING_FRAMES: usize = 8 << 20;
/// Stack nodes one recording may define (see [`MAX_RECORDING_STRINGS`]).
pub const MAX_RECORDING_STACK_NODES: usize = 16 << 20;
/// Threads one recording may define (see [`MAX_RECORDING_STRINGS`]).
pub const MAX_RECORDING_THREADS: usize = 1 << 20;

/// Frames, and as many stack nodes, the recording writer remembers having defined, so that
/// its memory stays bounded on a target that makes new stacks forever. Past that it
/// forgets them (a stack seen again is then defined again, under a new id: the format
/// allows two ids of the same content), and memory starts over.
pub const MAX_WRITER_REMEMBERED: usize = 1 << 18;

/// Distinct tasks one recording defines; later ones are recorded without their task (the
/// reader refuses more than [`MAX_RECORDING_THREADS`]).
pub const MAX_RECORDED_TASKS: usize = 1 << 19;
