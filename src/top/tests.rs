//! Unit tests of `top` without a terminal: the live windowed model against `report` on
//! the same ticks, windows, pause, filters, table limits, the keys, the plain-text view's
//! escaping and the drawn screen (ratatui's test backend).

use std::collections::HashMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::ingest::{Ingest, Limits};
use super::keys::{Action, Screen};
use super::model::{Scope, Session, SortColumn, Table, View};
use super::view::{self, Status, Target};
use crate::python::stack::ThreadStack;
use crate::recording::testutil::{record, Rng, Synth};
use crate::recording::{Recording, StackId, TickTime};
use crate::report::profile::{tally_functions, Clock, Functions, Profile, ViewOptions};

const PERIOD_NS: u64 = 10_000_000; // the synthetic recordings' 100 Hz

/// Feeds `ticks` through the live side and applies every window to a session.
fn live(synth: &Synth, ticks: &[(u64, Vec<ThreadStack>)], limits: Limits) -> (Session, usize) {
    let mut ingest = Ingest::new(4242, 100.0, limits);
    let mut session = Session::new();
    let mut windows = 0;
    for (time, threads) in ticks {
        let t = TickTime {
            elapsed_ns: *time,
            interval_ns: PERIOD_NS,
        };
        if let Some(update) = ingest.push(t, threads, &synth.codes) {
            session.apply(update);
            windows += 1;
        }
    }
    let end = ticks.last().map_or(0, |t| t.0 + PERIOD_NS);
    session.apply(ingest.finish(end));
    (session, windows + 1)
}

/// `report`'s own and total seconds per function label, for `view`.
fn reported(rec: &Recording, view: &ViewOptions) -> HashMap<String, (f64, f64)> {
    let profile = Profile::build(rec, view);
    let functions = Functions::new(rec, false);
    let chain = |leaf: StackId| {
        let mut out = Vec::new();
        let mut at = Some(leaf);
        while let Some(id) = at {
            let node = &rec.stacks[id.0 as usize];
            out.push(functions.of(node.frame));
            at = node.parent;
        }
        out
    };
    let stacks: Vec<_> = profile
        .groups
        .iter()
        .flat_map(|g| g.stacks.iter())
        .map(|s| (chain(s.stack), s.samples, s.seconds))
        .collect();
    tally_functions(functions.keys.len(), stacks)
        .iter()
        .enumerate()
        .filter(|(_, t)| t.total_samples > 0)
        .map(|(f, t)| (functions.label(rec, f), (t.own_seconds, t.total_seconds)))
        .collect()
}

fn by_label(table: &Table) -> HashMap<String, (f64, f64)> {
    table
        .rows
        .iter()
        .map(|r| (r.label.clone(), (r.own_seconds, r.total_seconds)))
        .collect()
}

/// A worker splitting its time 3:1 between hot_a and hot_b (mostly holding the GIL, its
/// CPU time arriving in the kernel's lumps), an idle thread, and a few unreadable stacks.
fn workload(synth: &mut Synth, seconds: u64) -> Vec<(u64, Vec<ThreadStack>)> {
    let mut rng = Rng::seeded(7);
    let ticks = seconds * 1_000_000_000 / PERIOD_NS;
    (0..ticks)
        .map(|i| {
            let spec = if rng.below(4) == 0 {
                "work:3;hot_b:7"
            } else {
                "work:3;hot_a:5"
            };
            let mut worker = synth.thread(1, "worker", spec);
            worker.holds_gil = rng.below(10) != 0;
            worker.cpu_ns = Some(if i % 4 == 3 { 40_000_000 } else { 0 });
            if rng.below(50) == 0 {
                worker.error = Some(crate::python::ThreadError::KeptChanging { reads: 3 });
            }
            let mut idle = synth.thread(2, "idle", "main:1;wait:9");
            idle.holds_gil = false;
            idle.cpu_ns = Some(if rng.below(30) == 0 { 1_000_000 } else { 0 });
            (i * PERIOD_NS, vec![worker, idle])
        })
        .collect()
}

#[test]
fn the_live_model_agrees_with_report_on_the_same_ticks() {
    let mut synth = Synth::default();
    let ticks = workload(&mut synth, 4);
    let rec = record(&synth, &ticks);
    let (session, windows) = live(&synth, &ticks, Limits::default());
    assert_eq!(
        windows, 4,
        "three windows closed by ticks, the last one at the end"
    );
    for (clock, idle) in [
        (Clock::Cpu, false),
        (Clock::Wall, false),
        (Clock::Wall, true),
        (Clock::Cpu, true),
    ] {
        let view = View {
            scope: Scope::Session,
            clock,
            idle,
            ..View::default()
        };
        let ours = by_label(&session.table(&view));
        let theirs = reported(
            &rec,
            &ViewOptions {
                clock,
                idle,
                ..ViewOptions::default()
            },
        );
        let mut names: Vec<_> = ours.keys().collect();
        names.sort();
        let mut expected: Vec<_> = theirs.keys().collect();
        expected.sort();
        assert_eq!(names, expected, "{clock:?} idle {idle}");
        for (name, (own, total)) in &ours {
            let (o, t) = theirs[name];
            assert!(
                (own - o).abs() < 1e-9 && (total - t).abs() < 1e-9,
                "{clock:?} idle {idle} {name}: top {own}/{total}, report {o}/{t}"
            );
        }
    }
    // And the split is the workload's: hot_a about three times hot_b.
    let rows = by_label(&session.table(&View {
        scope: Scope::Session,
        ..View::default()
    }));
    let a = rows
        .iter()
        .find(|(k, _)| k.starts_with("hot_a"))
        .map(|r| r.1 .0);
    let b = rows
        .iter()
        .find(|(k, _)| k.starts_with("hot_b"))
        .map(|r| r.1 .0);
    let ratio = a.unwrap_or(0.0) / b.unwrap_or(1.0);
    assert!((2.3..3.9).contains(&ratio), "hot_a/hot_b = {ratio}");
    assert!(!rows.keys().any(|k| k.starts_with("wait")), "idle hidden");
}

#[test]
fn the_last_window_is_the_last_second_and_the_session_all_of_them() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..250u64)
        .map(|i| {
            let spec = if i < 100 {
                "main:1;early:2"
            } else {
                "main:1;late:3"
            };
            (i * PERIOD_NS, vec![synth.thread(1, "MainThread", spec)])
        })
        .collect();
    let mut ingest = Ingest::new(1, 100.0, Limits::default());
    let mut session = Session::new();
    let labels = |s: &Session, scope| {
        let mut v: Vec<String> = s
            .table(&View {
                scope,
                clock: Clock::Wall,
                sort: SortColumn::Function,
                ..View::default()
            })
            .rows
            .into_iter()
            .map(|r| r.label.split(' ').next().unwrap_or("").to_string())
            .collect();
        v.sort();
        v
    };
    let mut updates = Vec::new();
    for (time, threads) in &ticks {
        let t = TickTime {
            elapsed_ns: *time,
            interval_ns: PERIOD_NS,
        };
        if let Some(u) = ingest.push(t, threads, &synth.codes) {
            updates.push(u);
        }
    }
    assert_eq!(updates.len(), 2, "windows closed at 1 s and 2 s");
    assert_eq!(updates[0].window.ticks, 100);
    assert_eq!(
        (updates[0].window.start_ns, updates[0].window.end_ns),
        (0, 1_000_000_000)
    );
    assert!((updates[0].window.rate() - 100.0).abs() < 1e-9);
    session.apply(updates.remove(0));
    assert_eq!(labels(&session, Scope::LastWindow), ["early", "main"]);
    session.apply(updates.remove(0));
    assert_eq!(labels(&session, Scope::LastWindow), ["late", "main"]);
    assert_eq!(labels(&session, Scope::Session), ["early", "late", "main"]);
    assert_eq!(session.whole().ticks, 200);
    // Wall time: every sample one period.
    let whole = session.table(&View {
        scope: Scope::Session,
        clock: Clock::Wall,
        ..View::default()
    });
    assert!((whole.seconds - 2.0).abs() < 1e-9, "{}", whole.seconds);
}

#[test]
fn a_paused_display_keeps_what_it_showed_while_windows_still_count() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..310u64)
        .map(|i| {
            let spec = if i < 150 {
                "main:1;early:2"
            } else {
                "main:1;late:3"
            };
            (i * PERIOD_NS, vec![synth.thread(1, "MainThread", spec)])
        })
        .collect();
    let mut ingest = Ingest::new(1, 100.0, Limits::default());
    let mut session = Session::new();
    let view = View {
        clock: Clock::Wall,
        ..View::default()
    };
    let mut shown = Vec::new();
    let mut applied = 0;
    for (time, threads) in &ticks {
        let t = TickTime {
            elapsed_ns: *time,
            interval_ns: PERIOD_NS,
        };
        if let Some(u) = ingest.push(t, threads, &synth.codes) {
            session.apply(u);
            applied += 1;
            if applied == 1 {
                session.set_frozen(true);
            }
            shown.push(session.table(&view));
        }
    }
    assert_eq!(shown.len(), 3);
    assert_eq!(shown[0], shown[2], "frozen");
    assert_eq!(session.whole().ticks, 300, "windows kept arriving");
    assert!(session.is_frozen());
    session.set_frozen(false);
    let now = session.table(&view);
    assert!(now.rows.iter().any(|r| r.label.starts_with("late")));
    assert!(!now.rows.iter().any(|r| r.label.starts_with("early")));
}

#[test]
fn threads_apart_filtered_and_idle_ones_on_request() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..120u64)
        .map(|i| {
            let busy = synth.thread(1, "busy", "main:1;spin:2");
            let mut idle = synth.thread(2, "idle\u{1b}[2J", "main:1;wait:3");
            idle.holds_gil = false;
            idle.on_cpu = Some(false);
            (i * PERIOD_NS, vec![busy, idle])
        })
        .collect();
    let (session, _) = live(&synth, &ticks, Limits::default());
    let rows = |view: View| {
        let mut v: Vec<(Option<u64>, String)> = session
            .table(&view)
            .rows
            .into_iter()
            .map(|r| {
                let tid = r
                    .thread
                    .map(|t| u64::from(session.threads[t as usize].os_tid.unwrap_or(0)));
                (tid, r.label.split(' ').next().unwrap_or("").to_string())
            })
            .collect();
        v.sort();
        v
    };
    let base = View {
        scope: Scope::Session,
        clock: Clock::Wall,
        ..View::default()
    };
    // No CPU times: the sampler's own flags decide, as in `report`.
    assert_eq!(
        rows(base.clone()),
        [(None, "main".into()), (None, "spin".into())]
    );
    assert_eq!(
        rows(View {
            idle: true,
            per_thread: true,
            ..base.clone()
        }),
        [
            (Some(1), "main".into()),
            (Some(1), "spin".into()),
            (Some(2), "main".into()),
            (Some(2), "wait".into())
        ]
    );
    assert_eq!(
        rows(View {
            idle: true,
            thread: Some(2),
            ..base.clone()
        }),
        [(None, "main".into()), (None, "wait".into())]
    );
    // The Python thread id names it too; a filter for no thread keeps nothing.
    assert_eq!(
        rows(View {
            idle: true,
            thread: Some(32),
            ..base.clone()
        })
        .len(),
        2
    );
    assert!(rows(View {
        thread: Some(99),
        ..base.clone()
    })
    .is_empty());
    // The process filter hook: one process.
    assert_eq!(session.processes(), [4242]);
    assert!(rows(View {
        process: Some(1),
        ..base
    })
    .is_empty());
}

#[test]
fn tables_are_bounded_and_say_what_they_left_out() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..50u64)
        .map(|i| {
            let spec = format!("main:1;f{}:2", i % 10);
            (i * PERIOD_NS, vec![synth.thread(1, "MainThread", &spec)])
        })
        .collect();
    let limits = Limits {
        frames: 100,
        stacks: 3,
        threads: 10,
    };
    let (session, _) = live(&synth, &ticks, limits);
    let table = session.table(&View {
        scope: Scope::Session,
        clock: Clock::Wall,
        ..View::default()
    });
    let labels: Vec<&str> = table.rows.iter().map(|r| r.label.as_str()).collect();
    let more = table
        .rows
        .iter()
        .find(|r| r.label.starts_with("(more stacks than top keeps)"))
        .unwrap_or_else(|| panic!("no catch-all row in {labels:?}"));
    // Three stacks kept (f0, f1, f2), the other seven functions' samples under one row.
    assert!((more.own_pct - 70.0).abs() < 1e-6, "{labels:?} {more:?}");
    assert_eq!(table.rows.len(), 5, "{labels:?}");
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn keys_sort_switch_pause_filter_help_and_quit() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..120u64)
        .map(|i| {
            (
                i * PERIOD_NS,
                vec![
                    synth.thread(1, "a", "main:1;x:2"),
                    synth.thread(2, "b", "main:1;y:2"),
                ],
            )
        })
        .collect();
    let (mut session, _) = live(&synth, &ticks, Limits::default());
    let mut screen = Screen::default();
    assert_eq!(screen.view.sort, SortColumn::TotalPct);
    assert_eq!(screen.on_key(key('1'), &mut session), Action::Redraw);
    assert_eq!(
        (screen.view.sort, screen.view.reversed),
        (SortColumn::OwnPct, false)
    );
    screen.on_key(key('1'), &mut session);
    assert_eq!(
        (screen.view.sort, screen.view.reversed),
        (SortColumn::OwnPct, true)
    );
    screen.on_key(key('5'), &mut session);
    assert_eq!(
        (screen.view.sort, screen.view.reversed),
        (SortColumn::Function, false)
    );
    screen.on_key(key('w'), &mut session);
    assert_eq!(screen.view.scope, Scope::Session);
    for (c, get) in [
        ('i', (|s: &Screen| s.view.idle) as fn(&Screen) -> bool),
        ('t', |s| s.view.per_thread),
        ('l', |s| s.view.lines),
    ] {
        screen.on_key(key(c), &mut session);
        assert!(get(&screen), "{c}");
    }
    screen.on_key(key('c'), &mut session);
    assert_eq!(screen.view.clock, Clock::Wall);
    // f: each thread in turn, then all again.
    let mut seen = Vec::new();
    for _ in 0..3 {
        screen.on_key(key('f'), &mut session);
        seen.push(screen.view.thread);
    }
    assert_eq!(seen, [Some(1), Some(2), None]);
    screen.on_key(key('p'), &mut session);
    assert!(screen.paused && session.is_frozen());
    screen.on_key(key(' '), &mut session);
    assert!(!screen.paused && !session.is_frozen());
    screen.on_key(key('h'), &mut session);
    assert!(screen.help);
    assert_eq!(screen.on_key(key('x'), &mut session), Action::Redraw);
    assert!(!screen.help, "any key closes the help");
    assert_eq!(screen.on_key(key('x'), &mut session), Action::Nothing);
    assert_eq!(screen.on_key(key('q'), &mut session), Action::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(screen.on_key(ctrl_c, &mut session), Action::Quit);
}

#[test]
fn the_screen_names_the_target_and_escapes_its_names() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..150u64)
        .map(|i| {
            (
                i * PERIOD_NS,
                vec![synth.thread(1, "t\u{1b}]0;x\u{7}", "main:1;evil\u{1b}[31m:2")],
            )
        })
        .collect();
    let (session, _) = live(&synth, &ticks, Limits::default());
    let target = Target {
        pid: 4242,
        python_version: "3.12.3".into(),
        command: vec!["python3".into(), "app.py\u{1b}[2J".into()],
        rate_hz: 100.0,
        subprocesses: false,
    };
    let screen = Screen {
        view: View {
            clock: Clock::Wall,
            per_thread: true,
            ..View::default()
        },
        ..Screen::default()
    };
    let text = view::plain(&target, &session, &screen, &Status::Sampling, 10);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    assert!(text.contains("evil\\x1b[31m"), "{text}");
    assert!(text.contains("app.py\\x1b[2J"), "{text}");
    assert!(text.contains("t\\x1b]0;x\\x07"), "{text}");
    let first = text.lines().next().unwrap_or("");
    assert_eq!(
        first,
        "framescope top · pid 4242 · CPython 3.12.3 · python3 app.py\\x1b[2J"
    );
    let second = text.lines().nth(1).unwrap_or("");
    assert!(
        second.starts_with("rate 100/s (asked 100) · samples 150 · errors 0 · missed 0"),
        "{second}"
    );

    // The terminal view draws the same header, and the help over it.
    let backend = ratatui::backend::TestBackend::new(120, 30);
    let mut term = ratatui::Terminal::new(backend).expect("test terminal");
    let mut screen = Screen {
        help: true,
        ..screen
    };
    term.draw(|f| view::draw(f, &target, &session, &mut screen, &Status::Sampling))
        .expect("draws");
    let buffer = term.backend().buffer().clone();
    let lines: Vec<String> = (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect()
        })
        .collect();
    let all = lines.join("\n");
    assert!(
        lines[0].starts_with("framescope top · pid 4242 · CPython 3.12.3"),
        "{all}"
    );
    assert!(lines[1].contains("samples 150"), "{all}");
    assert!(all.contains("evil\\x1b[31m"), "{all}");
    assert!(all.contains(" keys "), "{all}");
    assert!(all.contains("quit (the target keeps running)"), "{all}");
}

/// `top --subprocesses`: two processes whose code tables give the same ids to different
/// functions, and the same thread id.
#[test]
fn processes_of_a_tree_merge_by_function_and_filter_apart() {
    use super::ingest::Part;
    use super::model::{ProcessChange, ProcessInfo};
    let (mut one, mut two) = (Synth::default(), Synth::default());
    // Code id 0 is `main` in one and `other` in two; `hot` is id 1 in one, 2 in two.
    let stack_one = one.thread(7, "w", "main:1;hot:2");
    let stack_two = two.thread(7, "w", "other:1;main:2;hot:3");
    let mut ingest = Ingest::new(100, 100.0, Limits::default());
    let mut session = Session::new();
    for (key, pid) in [(1, 100), (2, 200)] {
        ingest.process_joined(ProcessInfo {
            key,
            pid,
            command: vec!["python".into(), format!("w{key}.py")],
            python_version: "3.12.1".into(),
            running: true,
        });
    }
    for i in 0..150u64 {
        let (a, b) = (
            std::slice::from_ref(&stack_one),
            std::slice::from_ref(&stack_two),
        );
        let mut parts = vec![Part {
            key: 1,
            pid: 100,
            threads: a,
            codes: &one.codes,
        }];
        if i % 3 == 0 {
            parts.push(Part {
                key: 2,
                pid: 200,
                threads: b,
                codes: &two.codes,
            });
        }
        let t = TickTime {
            elapsed_ns: i * PERIOD_NS,
            interval_ns: PERIOD_NS,
        };
        if let Some(u) = ingest.push_parts(t, &parts) {
            session.apply(u);
        }
    }
    session.apply(ingest.finish(150 * PERIOD_NS));
    let samples = |view: &View, name: &str| -> f64 {
        let table = session.table(view);
        table
            .rows
            .iter()
            .find(|r| r.label.starts_with(&format!("{name} (")))
            .map_or(0.0, |r| r.total_seconds)
    };
    let whole = View {
        scope: Scope::Session,
        clock: Clock::Wall,
        ..View::default()
    };
    // Merged: `hot` of both processes is one row (150 + 50 samples of 10 ms).
    assert!((samples(&whole, "hot") - 2.0).abs() < 1e-9);
    assert!((samples(&whole, "other") - 0.5).abs() < 1e-9);
    assert!((samples(&whole, "main") - 2.0).abs() < 1e-9);
    // The same thread id in two processes is two threads.
    let pids: Vec<u32> = session.threads.iter().map(|t| t.pid).collect();
    assert_eq!(pids, [100, 200]);
    assert_eq!(session.processes(), [100, 200]);
    // One process.
    let only = View {
        process: Some(100),
        ..whole.clone()
    };
    assert!((samples(&only, "hot") - 1.5).abs() < 1e-9);
    assert_eq!(samples(&only, "other"), 0.0);
    assert_eq!(session.process_count(), (2, 2));

    // A pid that execs a new program counts once; it ends when its last program does.
    let mut u = super::model::Update {
        processes: vec![
            ProcessChange::Joined(ProcessInfo {
                key: 3,
                pid: 200,
                running: true,
                ..ProcessInfo::default()
            }),
            ProcessChange::Ended { key: 2 },
        ],
        ..super::model::Update::default()
    };
    session.apply(u.clone());
    assert_eq!(session.process_count(), (2, 2));
    u.processes = vec![ProcessChange::Ended { key: 3 }];
    session.apply(u);
    assert_eq!(session.process_count(), (2, 1));
}
