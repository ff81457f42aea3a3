//! pstats files (`.prof`), as `cProfile` writes them, for `pstats.Stats`, `python -m
//! pstats`, snakeviz and every other cProfile viewer: a marshalled dict
//! `{(file, line, name): (cc, nc, tt, ct, callers)}` whose `callers` are
//! `{(file, line, name): (nc, cc, tt, ct)}` (the layout of CPython's `cProfile.Profile
//! .snapshot_stats`; its `Lib/pstats.py` reads it).
//!
//! A sampler sees time, not calls, so:
//! - `tt` (tottime) is the time of the samples with the function innermost, `ct`
//!   (cumtime) of those with it anywhere on the stack, counted once however deep it
//!   recurses; seconds on the view's clock;
//! - call counts (`nc`, `cc`) are the number of samples with the function on the stack
//!   (once a sample), and both are the same: no call is "recursive";
//! - a caller entry is the same for one edge `caller → function`: the samples and time with
//!   that edge on the stack (once a sample), `tt` the part with the function innermost;
//! - the name is the function's qualified name (`Class.method`, where cProfile writes
//!   `method`), the line its `def` line (the current line in `--lines` views);
//! - threads are merged, as one cProfile profile of the whole program would be.

use std::io::Write;

use super::marshal::Marshal;
use super::profile::{tally_functions, Functions, Profile, ViewOptions};
use super::{write_error, RenderOptions};
use crate::error::{Error, Result};
use crate::escape::visible;
use crate::limits;
use crate::recording::Recording;
use rustc_hash::FxHashMap;

/// Samples and time of one edge `caller → callee`.
#[derive(Clone, Copy, Default)]
struct Edge {
    samples: u64,
    /// Time with the callee innermost.
    own_seconds: f64,
    total_seconds: f64,
}

/// Writes the pstats file of `rec`. An empty view is an error: `pstats.Stats` refuses a
/// file without functions.
pub fn render(
    rec: &Recording,
    view: &ViewOptions,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let view = ViewOptions {
        per_thread: false,
        ..view.clone()
    };
    let profile = Profile::build(rec, &view);
    if profile.samples == 0 {
        return Err(Error::Usage(
            "no samples in this view, and a pstats file cannot be empty (pstats refuses one); \
             try --idle, or another --thread"
                .into(),
        ));
    }
    out.write_all(&bytes(rec, &profile, options.lines))
        .map_err(write_error)
}

/// The marshalled stats of `profile`.
fn bytes(rec: &Recording, profile: &Profile, lines: bool) -> Vec<u8> {
    let functions = Functions::new(rec, lines);
    // Each distinct stack as its functions, innermost first.
    let stacks: Vec<(Vec<usize>, u64, f64)> = profile
        .groups
        .iter()
        .flat_map(|g| &g.stacks)
        .map(|t| {
            let path = limits::stack_frames(rec, t.stack)
                .map(|f| functions.of(f))
                .collect();
            (path, t.samples, t.seconds)
        })
        .collect();
    let tallies = tally_functions(
        functions.keys.len(),
        stacks.iter().map(|(p, n, s)| (p.iter().copied(), *n, *s)),
    );
    // (callee, caller) → edge, each counted once a stack.
    let mut edges: FxHashMap<(usize, usize), Edge> = FxHashMap::default();
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for (path, samples, seconds) in &stacks {
        seen.clear();
        for (depth, pair) in path.windows(2).enumerate() {
            let key = (pair[0], pair[1]);
            let edge = edges.entry(key).or_default();
            if depth == 0 {
                edge.own_seconds += seconds;
            }
            if !seen.contains(&key) {
                seen.push(key);
                edge.samples += samples;
                edge.total_seconds += seconds;
            }
        }
    }
    // Per callee, its callers in function order.
    let mut callers: Vec<Vec<(usize, Edge)>> = vec![Vec::new(); functions.keys.len()];
    for ((callee, caller), edge) in edges {
        callers[callee].push((caller, edge));
    }
    let labels: Vec<(String, u32, String)> = functions
        .keys
        .iter()
        .map(|k| {
            (
                visible(rec.string(k.filename)).into_owned(),
                k.shown_line(),
                visible(rec.string(k.qualname)).into_owned(),
            )
        })
        .collect();
    let key = |m: &mut Marshal, function: usize| {
        let (file, line, name) = &labels[function];
        m.tuple(3);
        m.str(file);
        m.int(u64::from(*line));
        m.str(name);
    };

    let mut m = Marshal::default();
    m.dict_start();
    for (function, tally) in tallies.iter().enumerate() {
        if tally.total_samples == 0 {
            continue;
        }
        key(&mut m, function);
        m.tuple(5);
        m.int(tally.total_samples);
        m.int(tally.total_samples);
        m.float(tally.own_seconds);
        m.float(tally.total_seconds);
        let mine = &mut callers[function];
        mine.sort_unstable_by_key(|(caller, _)| *caller);
        m.dict_start();
        for (caller, edge) in mine.iter() {
            key(&mut m, *caller);
            m.tuple(4);
            m.int(edge.samples);
            m.int(edge.samples);
            m.float(edge.own_seconds);
            m.float(edge.total_seconds);
        }
        m.dict_end();
    }
    m.dict_end();
    m.bytes
}
