//! The machinery behind the one table of layout fields in `layout.rs`: the
//! [`layout_fields!`] macro that turns it into the `Layout` struct, the serde shape of a
//! `python-offsets/X.Y.toml` (one struct per `[section]`, unknown keys refused), the copy
//! from a table into a `Layout`, and the list of `_Py_DebugOffsets` names that `apply`
//! writes and `check` bounds-checks — so a field is written once, in that table.

/// Whether a `_Py_DebugOffsets` field must be in every shape framescope knows, or is used
/// only where the version's shape has it (it was added in a later version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Always,
    IfPresent,
}

/// One `Layout` field that the target's `_Py_DebugOffsets` overrides.
#[derive(Debug, Clone, Copy)]
pub struct FromDebugOffsets {
    /// Its name in `_Py_DebugOffsets`: `section.member`.
    pub name: &'static str,
    pub need: Need,
}

/// A table value becoming a `Layout` field: the same type, or the value of a field of a
/// section only some versions have (0 or `None` when absent).
pub trait Fill<S> {
    fn fill(source: S) -> Self;
}

impl<T> Fill<T> for T {
    fn fill(source: T) -> T {
        source
    }
}
impl Fill<Option<u64>> for u64 {
    fn fill(source: Option<u64>) -> u64 {
        source.unwrap_or(0)
    }
}
impl Fill<Option<Option<u64>>> for u64 {
    fn fill(source: Option<Option<u64>>) -> u64 {
        source.flatten().unwrap_or(0)
    }
}
impl<T> Fill<Option<Option<T>>> for Option<T> {
    fn fill(source: Option<Option<T>>) -> Option<T> {
        source.flatten()
    }
}

/// A `Layout` field the debug offsets can set: a plain offset or an optional one.
pub trait Settable {
    /// Sets `value`, returning the old value as text when it differed.
    fn set(&mut self, value: u64) -> Option<String>;
}

impl Settable for u64 {
    fn set(&mut self, value: u64) -> Option<String> {
        let old = std::mem::replace(self, value);
        (old != value).then(|| old.to_string())
    }
}
impl Settable for Option<u64> {
    fn set(&mut self, value: u64) -> Option<String> {
        let old = self.replace(value);
        (old != Some(value)).then(|| format!("{old:?}"))
    }
}

/// The type of a section in the table: present in every version, or only in some.
macro_rules! section_type {
    (required, $t:ty) => { $t };
    (optional, $t:ty) => { Option<$t> };
}

/// The value of `key` in `section`, `Option`al when the section is.
macro_rules! section_value {
    (required, $s:expr, $key:ident) => {
        $s.$key
    };
    (optional, $s:expr, $key:ident) => {
        $s.as_ref().map(|s| s.$key)
    };
}

/// Declares every layout field once. Per `[section] SectionStruct required|optional`:
/// `fields { toml_key: TomlType => layout_field: LayoutType [, Need "debug.name"]; }`
/// for keys copied into `Layout`, and `raw { toml_key: TomlType; }` for keys that
/// `Layout::from_table` combines into a derived field. `derived { field: Type [, Need
/// "debug.name"]; }` lists the `Layout` fields computed by hand.
macro_rules! layout_fields {
    (
        $(#[$lmeta:meta])*
        pub struct $Layout:ident;
        $(#[$tmeta:meta])*
        pub struct $Table:ident { $($(#[$xmeta:meta])* $extra:ident : $extra_ty:ty,)* }
        $(
            [$section:ident $(as $rename:literal)?] $Section:ident $presence:ident
            fields {
                $(
                    $(#[$fmeta:meta])*
                    $key:ident : $kty:ty => $field:ident : $fty:ty $(, $need:ident $debug:literal)?;
                )*
            }
            raw {
                $( $(#[$rmeta:meta])* $rkey:ident : $rty:ty; )*
            }
        )*
        derived {
            $(
                $(#[$dmeta:meta])*
                $dfield:ident : $dty:ty $(, $dneed:ident $ddebug:literal)?;
            )*
        }
    ) => {
        $(#[$lmeta])*
        pub struct $Layout {
            $( $( $(#[$fmeta])* pub $field: $fty, )* )*
            $( $(#[$dmeta])* pub $dfield: $dty, )*
        }

        $(#[$tmeta])*
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $Table {
            $( $(#[$xmeta])* pub $extra: $extra_ty, )*
            $(
                $(#[serde(rename = $rename)])?
                $section: $crate::python::layout_fields::section_type!($presence, $Section),
            )*
        }

        $(
            #[derive(Debug, serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct $Section {
                $( $key: $kty, )*
                $( $(#[$rmeta])* $rkey: $rty, )*
            }
        )*

        /// The `Layout` fields computed from several table keys (see `from_table`).
        struct Derived {
            $( $dfield: $dty, )*
        }

        impl $Layout {
            /// Copies every field the table holds as is, and takes the rest from `d`.
            fn assemble(t: &$Table, d: Derived) -> $Layout {
                use $crate::python::layout_fields::Fill;
                $Layout {
                    $( $( $field: Fill::fill($crate::python::layout_fields::section_value!($presence, t.$section, $key)), )* )*
                    $( $dfield: d.$dfield, )*
                }
            }

            /// Sets every field `_Py_DebugOffsets` covers from `get`, returning one line
            /// per field that differed.
            fn apply_each(&mut self, get: impl Fn(&str) -> Option<u64>) -> Vec<String> {
                use $crate::python::layout_fields::Settable;
                let mut differences = Vec::new();
                let mut set = |target: &mut dyn Settable, name: &str| {
                    if let Some(v) = get(name) {
                        if let Some(old) = target.set(v) {
                            differences.push(format!("{name}: table {old} / target {v}"));
                        }
                    }
                };
                $( $( $( set(&mut self.$field, $debug); )? )* )*
                $( $( set(&mut self.$dfield, $ddebug); )? )*
                differences
            }
        }

        /// Every `Layout` field that `_Py_DebugOffsets` overrides, with its name there.
        pub const FROM_DEBUG_OFFSETS: &[$crate::python::layout_fields::FromDebugOffsets] = &[
            $( $( $(
                $crate::python::layout_fields::FromDebugOffsets {
                    name: $debug,
                    need: $crate::python::layout_fields::Need::$need,
                },
            )? )* )*
            $( $(
                $crate::python::layout_fields::FromDebugOffsets {
                    name: $ddebug,
                    need: $crate::python::layout_fields::Need::$dneed,
                },
            )? )*
        ];
    };
}

pub(crate) use {layout_fields, section_type, section_value};
