//! `framescope dump`: which process (a pid, its tree, or a core file) and what to show,
//! checked; then [`crate::dump`] reads the stacks and this writes them as text or JSON.

use crate::cli::DumpArgs;
use crate::dump::{self, DumpExtras};
use crate::error::{Error, Result};
use crate::output::CommandOutput;

/// Prints every thread's stack, or writes it to `-o`.
pub fn run(args: &DumpArgs) -> Result<i32> {
    // The output is checked before the target is touched.
    let output = CommandOutput::resolve(args.output.as_deref())?;
    if args.python_binary.is_some() && args.core.is_none() {
        return Err(Error::Usage(
            "--python-binary goes with --core FILE (a live process's files are found in /proc)"
                .into(),
        ));
    }
    let text = if args.subprocesses {
        dump_tree(args)?
    } else {
        dump_one(args)?
    };
    output.write(text.as_bytes())?;
    Ok(super::SUCCESS)
}

/// `dump --subprocesses`: every Python process of a live tree.
fn dump_tree(args: &DumpArgs) -> Result<String> {
    let pid = match (args.pid, &args.core, args.locals || args.asyncio) {
        (Some(pid), None, false) => pid,
        (_, Some(_), _) => {
            return Err(Error::Usage(
                "--subprocesses follows live processes; a core file holds one".into(),
            ))
        }
        (_, _, true) => {
            return Err(Error::Usage(
                "--locals and --async read one process; leave out --subprocesses".into(),
            ))
        }
        (None, None, _) => return Err(Error::Usage("dump --subprocesses needs --pid PID".into())),
    };
    let tree = dump::take_tree(pid, !args.nonblocking)?;
    if args.json {
        json(&tree)
    } else {
        Ok(dump::render_tree_text(&tree))
    }
}

/// `dump` of one process, live or from a core file.
fn dump_one(args: &DumpArgs) -> Result<String> {
    let report = match (&args.core, args.pid) {
        (Some(core), _) => dump::take_core(core, args.python_binary.as_deref(), args.locals)?,
        (None, Some(pid)) => {
            let extras = DumpExtras {
                locals: args.locals,
                tasks: args.asyncio,
            };
            dump::take_with(pid, !args.nonblocking, extras)?
        }
        (None, None) => return Err(Error::Usage("dump needs --pid PID or --core FILE".into())),
    };
    if args.json {
        json(&report)
    } else {
        Ok(dump::render_text(&report))
    }
}

/// Pretty JSON with a final newline.
fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| Error::Read(e.to_string()))
}
