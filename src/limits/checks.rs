//! The checks that keep a report or diff of an input file (a recording, collapsed stacks)
//! within the limits in [`super`]: plain arithmetic over an already-read [`Recording`],
//! so that what a hostile or huge file costs is bounded by those numbers rather than by
//! what the file holds. Reading files is [`crate::input_file`]'s job.

use std::path::Path;

use crate::error::{Error, Result};
use crate::recording::{FrameId, Recording, StackFrames, StackId};
use crate::report::ViewOptions;

use super::{MAX_EXPANDED_BYTES, MAX_EXPANDED_FRAMES, MAX_SAMPLED_FRAMES, MAX_STACK_DEPTH};

/// Bytes a label costs beyond its function and file names: ` (`, `:`, a line number, `)`
/// and the `;` before it.
const LABEL_OVERHEAD: u64 = 16;

/// The frames of a stack that reports keep: innermost first, at most [`MAX_STACK_DEPTH`].
pub fn stack_frames(rec: &Recording, id: StackId) -> std::iter::Take<StackFrames<'_>> {
    rec.stack_frames(id).take(MAX_STACK_DEPTH)
}

/// What [`check_expansion`] found in a recording it accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Distinct sampled stacks deeper than [`MAX_STACK_DEPTH`].
    pub deep_stacks: u64,
}

impl Expansion {
    /// The warning to print about stacks cut to [`MAX_STACK_DEPTH`], if any were.
    pub fn warning(&self, file: &Path) -> Option<String> {
        (self.deep_stacks > 0).then(|| {
            format!(
                "{}: {} distinct stack{} deeper than {MAX_STACK_DEPTH} frames; only the innermost {MAX_STACK_DEPTH} frames of each are shown",
                file.display(),
                self.deep_stacks,
                if self.deep_stacks == 1 { " is" } else { "s are" }
            )
        })
    }
}

/// Checks a recording read from `path` before a report or diff: the error (a bad file)
/// when `spell_out` (the format writes whole stacks) and [`check_expansion`] refuses it;
/// otherwise the warning to print, if any, about stacks cut to [`MAX_STACK_DEPTH`].
pub fn check(rec: &Recording, spell_out: bool, path: &Path) -> Result<Option<String>> {
    let expansion = if spell_out {
        check_expansion(rec).map_err(|why| Error::bad_file(path, why))?
    } else {
        Expansion {
            deep_stacks: distinct_sampled_stacks(rec)
                .filter(|&s| rec.stack(s).depth as usize > MAX_STACK_DEPTH)
                .count() as u64,
        }
    };
    Ok(expansion.warning(path))
}

/// Checks that writing the stack of every sample `view` keeps, as speedscope does (a run
/// of samples of one thread at one stack written once), stays within
/// [`MAX_SAMPLED_FRAMES`]: the error (a bad file) when it does not.
pub fn check_samples(rec: &Recording, view: &ViewOptions, path: &Path) -> Result<()> {
    let mut frames: u64 = 0;
    let mut last: Vec<Option<StackId>> = vec![None; rec.threads.len()];
    for sample in &rec.samples {
        let kept = view.keeps(rec, sample);
        let Some(last) = last.get_mut(sample.thread.0 as usize) else {
            continue;
        };
        let Some(stack) = kept else {
            *last = None;
            continue;
        };
        if last.replace(stack) == Some(stack) {
            continue;
        }
        frames += u64::from(rec.stack(stack).depth).min(MAX_STACK_DEPTH as u64);
        if frames > MAX_SAMPLED_FRAMES {
            return Err(Error::bad_file(
                path,
                format!(
                    "its samples' stacks hold more than {MAX_SAMPLED_FRAMES} frames in all \
                     (counting at most {MAX_STACK_DEPTH} per stack), more than framescope \
                     writes to a speedscope file; other formats still work"
                ),
            ));
        }
    }
    Ok(())
}

/// Each stack some sample of `rec` names, once.
fn distinct_sampled_stacks(rec: &Recording) -> impl Iterator<Item = StackId> + '_ {
    let mut seen = vec![false; rec.stacks.len()];
    rec.samples.iter().filter_map(|s| s.stack).filter(move |s| {
        seen.get_mut(s.0 as usize)
            .is_some_and(|slot| !std::mem::replace(slot, true))
    })
}

/// Checks that spelling out every distinct stack the samples of `rec` name stays within
/// [`MAX_EXPANDED_FRAMES`] and [`MAX_EXPANDED_BYTES`]; the error says which limit a
/// recording passes. Takes time in proportion to those limits at most.
pub fn check_expansion(rec: &Recording) -> Result<Expansion, String> {
    let mut expansion = Expansion::default();
    let mut frames: u64 = 0;
    let mut bytes: u64 = 0;
    for stack in distinct_sampled_stacks(rec) {
        if rec.stack(stack).depth as usize > MAX_STACK_DEPTH {
            expansion.deep_stacks += 1;
        }
        for frame in stack_frames(rec, stack) {
            frames += 1;
            bytes += label_bytes(rec, frame);
        }
        if frames > MAX_EXPANDED_FRAMES {
            return Err(format!(
                "its distinct stacks hold more than {MAX_EXPANDED_FRAMES} frames in all \
                 (counting at most {MAX_STACK_DEPTH} per stack), more than framescope spells out \
                 for this format; a table (`--format table`) still works"
            ));
        }
        if bytes > MAX_EXPANDED_BYTES {
            return Err(format!(
                "the names in its distinct stacks add up to more than {} MiB, more than \
                 framescope spells out for this format; a table (`--format table`) still works",
                MAX_EXPANDED_BYTES >> 20
            ));
        }
    }
    Ok(expansion)
}

/// The bytes one frame adds to a collapsed line.
fn label_bytes(rec: &Recording, frame: FrameId) -> u64 {
    let frame = rec.frame(frame);
    (rec.string(frame.qualname).len() + rec.string(frame.filename).len()) as u64 + LABEL_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Frame, Sample, StackNode, StringId, Thread, ThreadIndex};

    /// One thread sampled once at each of `depths`, every stack a node of one chain of
    /// calls of `f`: stack `d - 1` is `d` frames deep.
    fn chain(depths: &[usize]) -> Recording {
        let longest = depths.iter().copied().max().unwrap_or(0);
        let mut rec = Recording {
            strings: vec!["f".into(), "chain.py".into()],
            frames: vec![Frame {
                qualname: StringId(0),
                name: StringId(0),
                filename: StringId(1),
                first_line: 1,
                line: 2,
            }],
            threads: vec![Thread {
                os_tid: Some(1),
                python_thread_id: 16,
                name: None,
                process: None,
            }],
            ..Recording::default()
        };
        rec.stacks = (0..longest)
            .map(|i| StackNode {
                parent: i.checked_sub(1).map(|p| StackId(p as u32)),
                frame: FrameId(0),
                depth: i as u32 + 1,
            })
            .collect();
        rec.samples = depths
            .iter()
            .enumerate()
            .map(|(i, &depth)| Sample {
                time_ns: i as u64,
                thread: ThreadIndex(0),
                stack: Some(StackId(depth as u32 - 1)),
                holds_gil: true,
                on_cpu: Some(true),
                error: false,
                interval_ns: 1_000_000,
                cpu_ns: Some(1_000_000),
                truncated: false,
                task: None,
            })
            .collect();
        rec
    }

    #[test]
    fn stacks_are_cut_to_their_innermost_frames() {
        let rec = chain(&[MAX_STACK_DEPTH + 10, 3]);
        let deep = StackId(MAX_STACK_DEPTH as u32 + 9);
        assert_eq!(stack_frames(&rec, deep).count(), MAX_STACK_DEPTH);
        let kept: Vec<StackId> = std::iter::successors(Some(deep), |&s| rec.stack(s).parent)
            .take(2)
            .collect();
        assert_eq!(kept, [deep, StackId(deep.0 - 1)], "innermost first");
        let expansion = check_expansion(&rec).unwrap();
        assert_eq!(expansion.deep_stacks, 1);
        let warning = expansion.warning(std::path::Path::new("x.fsr"));
        assert_eq!(
            warning.as_deref(),
            Some(
                "x.fsr: 1 distinct stack is deeper than 4096 frames; only the innermost 4096 \
                 frames of each are shown"
            )
        );
        let shallow = check_expansion(&chain(&[3, 3, 4096])).unwrap();
        assert_eq!(shallow.warning(std::path::Path::new("x")), None);
    }

    #[test]
    fn the_expansion_of_distinct_stacks_is_bounded() {
        // 4,000 distinct stacks, the i-th i frames deep: 8 million frames, within.
        let depths: Vec<usize> = (1..=4000).collect();
        assert_eq!(check_expansion(&chain(&depths)), Ok(Expansion::default()));
        // Sampled twice, a stack counts once.
        let twice: Vec<usize> = depths.iter().chain(&depths).copied().collect();
        assert!(check_expansion(&chain(&twice)).is_ok());
        // 2,100 stacks of 4,096 frames or more: 8.6 million frames counted.
        let deep: Vec<usize> = (MAX_STACK_DEPTH..MAX_STACK_DEPTH + 2100).collect();
        let err = check_expansion(&chain(&deep)).unwrap_err();
        assert!(
            err.contains("hold more than 8388608 frames in all"),
            "{err}"
        );
    }

    #[test]
    fn the_frames_of_every_sample_are_bounded_for_speedscope() {
        let (path, view) = (Path::new("x.fsr"), ViewOptions::default());
        // 33,000 samples alternating between two stacks 4,096 and 4,097 deep: 135 million
        // frames written.
        let depths: Vec<usize> = (0..33_000).map(|i| MAX_STACK_DEPTH + i % 2).collect();
        let mut rec = chain(&depths);
        let err = check_samples(&rec, &view, path).unwrap_err().to_string();
        assert!(
            err.starts_with("x.fsr: its samples' stacks hold more than 134217728 frames"),
            "{err}"
        );
        // Two distinct stacks, so spelling out the distinct stacks is cheap.
        assert!(check_expansion(&rec).is_ok());
        rec.samples.truncate(32_000);
        assert!(check_samples(&rec, &view, path).is_ok());
        // A run of samples at one stack is written once.
        let same = chain(&[MAX_STACK_DEPTH; 33_000]);
        assert!(check_samples(&same, &view, path).is_ok());
    }

    #[test]
    fn long_names_count_by_their_bytes() {
        let mut rec = chain(&(1..=300).collect::<Vec<_>>());
        // 45,150 frames of a 10 KB name: 450 MB of labels.
        rec.strings[0] = "n".repeat(10_000);
        let err = check_expansion(&rec).unwrap_err();
        assert!(err.contains("add up to more than 256 MiB"), "{err}");
    }
}
