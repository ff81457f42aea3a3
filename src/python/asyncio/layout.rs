//! The offsets of the `_asyncio` C module's `TaskObj` and `FutureObj`, of `PyGenObject`
//! (coroutines), and of the module's state, for CPython 3.11-3.13. These structs are
//! private to `Modules/_asynciomodule.c`, so the header probe of `python-offsets/generate`
//! cannot see them: `scripts/asyncio-offsets` reads them from DWARF with gdb into
//! `python-offsets/asyncio-3.X.toml`, compiled in here. Versions differ only in numbers.

use serde::Deserialize;

/// The tables compiled in: minor version → TOML text.
const TABLES: &[(u32, &str)] = &[
    (
        11,
        include_str!("../../../python-offsets/asyncio-3.11.toml"),
    ),
    (
        12,
        include_str!("../../../python-offsets/asyncio-3.12.toml"),
    ),
    (
        13,
        include_str!("../../../python-offsets/asyncio-3.13.toml"),
    ),
];

/// `TaskObj` (a `FutureObj` with more fields after).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TaskLayout {
    /// `fut_state`: 0 pending, 1 cancelled, 2 finished.
    pub state: u64,
    /// The future the task waits on (NULL while it runs or is ready to).
    pub fut_waiter: u64,
    pub coro: u64,
    pub name: u64,
    pub callback0: u64,
    pub callbacks: u64,
}

/// `FutureObj`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FutureLayout {
    pub state: u64,
    /// The first done-callback (kept apart from the list), and the list of the others.
    pub callback0: u64,
    pub callbacks: u64,
}

/// `PyGenObject` (coroutines share it).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CoroutineLayout {
    pub name: u64,
    pub qualname: u64,
    /// `gi_frame_state` (one signed byte).
    pub frame_state: u64,
    /// The embedded `_PyInterpreterFrame`.
    pub iframe: u64,
}

/// `_PyInterpreterFrame`: where a suspended coroutine's value stack ends, whose top is
/// what it awaits.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FrameLayout {
    /// `stacktop` (an int): the value stack's depth, in slots after `localsplus`.
    pub stacktop: u64,
    pub localsplus: u64,
}

/// 3.12+: the `_asyncio` module's state (`asyncio_state`, behind `md_state`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ModuleStateLayout {
    /// `dict`: event loop → the task it runs now.
    pub current_tasks: u64,
    /// A `WeakSet` of the tasks not eagerly started.
    pub scheduled_tasks: u64,
    /// A `set` of the eager tasks (3.12+).
    pub eager_tasks: u64,
}

/// One version's asyncio layouts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AsyncioLayout {
    #[serde(skip)]
    pub minor: u32,
    #[serde(rename = "version")]
    _version: Option<String>,
    pub task: TaskLayout,
    pub future: FutureLayout,
    pub coroutine: CoroutineLayout,
    pub frame: FrameLayout,
    /// 3.12+ (3.11 keeps its current tasks in a static variable).
    pub module_state: Option<ModuleStateLayout>,
}

impl AsyncioLayout {
    /// The layout of CPython 3.`minor`; `None` where no table exists (before 3.11, where
    /// framescope does not read tasks, and 3.14+, which publish their own offsets).
    pub fn for_minor(minor: u32) -> Option<AsyncioLayout> {
        let text = TABLES.iter().find(|(m, _)| *m == minor)?.1;
        let mut layout: AsyncioLayout = toml::from_str(text).ok()?;
        layout.minor = minor;
        Some(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_loads_and_says_its_version() {
        for (minor, text) in TABLES {
            let layout = AsyncioLayout::for_minor(*minor)
                .unwrap_or_else(|| panic!("asyncio-3.{minor}.toml does not load"));
            assert!(text.contains(&format!("version = \"3.{minor}\"")));
            // A task is a future: the shared head is at the same place.
            assert_eq!(layout.task.callback0, layout.future.callback0);
            assert_eq!(layout.task.state, layout.future.state);
            assert_eq!(layout.module_state.is_some(), *minor >= 12);
        }
        assert!(AsyncioLayout::for_minor(10).is_none());
        assert!(AsyncioLayout::for_minor(14).is_none());
    }

    #[test]
    fn the_tables_hold_the_dwarf_numbers() {
        // Spot checks against `ptype /o TaskObj` of the matrix's modules.
        let l11 = AsyncioLayout::for_minor(11).unwrap();
        assert_eq!((l11.task.coro, l11.task.name), (136, 144));
        assert_eq!(l11.coroutine.iframe, 80);
        assert_eq!((l11.frame.stacktop, l11.frame.localsplus), (64, 72));
        let l13 = AsyncioLayout::for_minor(13).unwrap();
        assert_eq!(
            (l13.task.fut_waiter, l13.task.coro, l13.task.name),
            (112, 120, 128)
        );
        assert_eq!(l13.module_state.unwrap().current_tasks, 48);
    }
}
