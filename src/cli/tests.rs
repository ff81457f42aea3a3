//! Parse tests of the command line: every typed option, good values and bad, and the
//! exact text of a refusal.

use clap::{CommandFactory, Parser};

use super::*;
use crate::report::profile::{Clock, TasksBy};

#[test]
fn the_command_line_definition_is_consistent() {
    Cli::command().debug_assert();
}

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("framescope").chain(args.iter().copied()))
}

#[test]
fn typed_options_parse_and_refuse() {
    let Ok(Cli {
        command: Command::Report(report),
    }) = parse(&["report", "x.fsr", "--sort", "cumulative"])
    else {
        panic!("report did not parse");
    };
    assert_eq!(report.view.sort, Sort::CumTime);
    assert!(parse(&["report", "x.fsr", "--sort", "bogus"]).is_err());

    let Ok(Cli {
        command: Command::Diff(diff),
    }) = parse(&[
        "diff",
        "a.fsr",
        "b.fsr",
        "--fail-on-regression",
        "5%",
        "--threshold",
        " 2.5 % ",
        "--sort",
        "own",
        "--format",
        "json",
        "--color",
        "never",
    ])
    else {
        panic!("diff did not parse");
    };
    assert_eq!(diff.options.fail_on_regression, Some(5.0));
    assert_eq!(diff.options.threshold, Some(2.5));
    assert_eq!(diff.options.min_share, 0.5);
    assert_eq!(diff.options.sort, SortBy::Own);
    assert_eq!(diff.options.format, Some(DiffFormat::Json));
    assert_eq!(diff.options.color, ColorChoice::Never);
    for bad in [
        ["--fail-on-regression", "-1"],
        ["--threshold", "five"],
        ["--min-share", "150"],
        ["--alpha", "0"],
        ["--alpha", "1"],
        ["--collapsed-rate", "0"],
        ["--collapsed-rate", "NaN"],
        ["--resamples", "98"],
        ["--resamples", "100001"],
    ] {
        let mut args = vec!["diff", "a.fsr", "b.fsr"];
        args.extend(bad);
        assert!(parse(&args).is_err(), "{bad:?} was accepted");
    }

    for (duration, ok) in [("2.5", true), ("0", false), ("-1", false), ("inf", false)] {
        let args = ["record", "--duration", duration, "--", "python"];
        assert_eq!(parse(&args).is_ok(), ok, "{duration}");
    }
    for (rate, ok) in [("1000", true), ("0", false), ("-5", false), ("1e6", false)] {
        assert_eq!(
            parse(&["record", "--rate", rate, "--", "python"]).is_ok(),
            ok,
            "{rate}"
        );
    }
}

/// The subcommand `args` parse into, or clap's error text.
fn command(args: &[&str]) -> Result<Command, String> {
    parse(args)
        .map(|cli| cli.command)
        .map_err(|e| e.to_string())
}

#[test]
fn report_formats_clocks_and_sorts_are_typed() {
    use clap::ValueEnum;
    let names: Vec<&str> = Format::value_variants().iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        Format::NAMES,
        "--format takes the names the errors list"
    );
    for name in Format::NAMES {
        let Ok(Command::Report(report)) = command(&["report", "x.fsr", "--format", name]) else {
            panic!("--format {name} was refused");
        };
        assert_eq!(report.view.format.map(Format::name), Some(name));
    }
    let Ok(Command::Report(report)) = command(&["report", "x.fsr"]) else {
        panic!("a bare report was refused");
    };
    assert_eq!(
        report.view.format, None,
        "chosen later from -o, else a table"
    );
    assert_eq!(
        report.view.clock, None,
        "settled later against the recording"
    );
    assert_eq!(report.view.sort, Sort::CumTime);
    let Ok(Command::Report(report)) = command(&[
        "report",
        "x.fsr",
        "--clock",
        "wall",
        "--sort",
        "tottime",
        "--async",
        "--tasks-by",
        "coroutine",
    ]) else {
        panic!("report options were refused");
    };
    assert_eq!(report.view.clock, Some(Clock::Wall));
    assert_eq!(report.view.sort, Sort::TotTime);
    assert_eq!(report.view.tasks_by, Some(TasksBy::Coroutine));

    // One bad value, the whole message: the value, the option and every choice.
    assert_eq!(
        command(&["report", "x.fsr", "--format", "svg"])
            .err()
            .as_deref(),
        Some(
            "error: invalid value 'svg' for '--format <FORMAT>'\n  \
             [possible values: table, flamegraph, speedscope, collapsed, pprof, pstats]\n\n\
             For more information, try '--help'.\n"
        )
    );
    for bad in [
        ["--clock", "monotonic"],
        ["--sort", "bogus"],
        ["--tasks-by", "task"],
    ] {
        let mut args = vec!["report", "x.fsr"];
        args.extend(bad);
        let err = command(&args).err().unwrap_or_default();
        assert!(
            err.contains(&format!("invalid value '{}'", bad[1])),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn record_and_top_share_the_sampling_options() {
    let Ok(Command::Record(record)) = command(&[
        "record",
        "--pid",
        "42",
        "-r",
        "250",
        "-d",
        "1.5",
        "--blocking",
        "--no-jitter",
        "--normal-priority",
    ]) else {
        panic!("record was refused");
    };
    let Ok(Command::Top(top)) = command(&[
        "top",
        "-p",
        "42",
        "--rate",
        "250",
        "--duration",
        "1.5",
        "--blocking",
        "--no-jitter",
        "--normal-priority",
    ]) else {
        panic!("top was refused");
    };
    for sampling in [&record.sampling, &top.sampling] {
        assert_eq!(sampling.pid, Some(42));
        assert_eq!(sampling.rate, 250.0);
        assert_eq!(
            sampling.duration,
            Some(std::time::Duration::from_millis(1500))
        );
        assert!(sampling.blocking && sampling.no_jitter && sampling.normal_priority);
        assert!(!sampling.nonblocking);
    }
    assert!(record.command.is_empty() && top.command.is_empty());
    assert_eq!(record.push_every, std::time::Duration::from_secs(10));
    let push_every = |every: &str| match command(&["record", "--push-every", every, "--", "py"]) {
        Ok(Command::Record(record)) => Ok(record.push_every),
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(e),
    };
    let Ok(Command::Record(record)) = command(&[
        "record",
        "--pyroscope",
        "http://h",
        "--app-name",
        "a",
        "--tag",
        "region=eu",
        "--tag",
        "env=prod",
        "--",
        "py",
    ]) else {
        panic!("--tag was refused");
    };
    assert_eq!(
        record.tags,
        [
            ("region".into(), "eu".into()),
            ("env".into(), "prod".into())
        ]
    );
    let err = command(&[
        "record",
        "--pyroscope",
        "h",
        "--app-name",
        "a",
        "--tag",
        "k=a,b",
    ]);
    assert!(
        err.as_ref()
            .is_err_and(|e| e.contains("invalid value 'k=a,b' for '--tag <KEY=VALUE>'")),
        "{err:?}"
    );
    assert_eq!(
        push_every("1500ms"),
        Ok(std::time::Duration::from_millis(1500))
    );
    assert!(push_every("2h").is_err_and(|e| e.contains(
        "invalid value '2h' for '--push-every <DURATION>': a duration from 1s to 1h, \
         like 10s, 1500ms or 2m, was expected, not `2h`"
    )));

    let Ok(Command::Record(record)) = command(&["record", "--", "python", "app.py"]) else {
        panic!("record of a command was refused");
    };
    assert_eq!(record.sampling.rate, 1000.0);
    assert_eq!(record.sampling.duration, None);
    assert_eq!(record.command, ["python", "app.py"]);

    for sub in ["record", "top"] {
        let both = command(&[sub, "--pid", "42", "--", "python"]).err();
        assert!(
            both.as_deref()
                .unwrap_or_default()
                .contains("cannot be used with"),
            "{sub}: {both:?}"
        );
        let err = command(&[sub, "--blocking", "--nonblocking", "--", "python"]).err();
        assert!(err.is_some(), "{sub} took --blocking with --nonblocking");
        let err = command(&[sub, "--rate", "fast", "--", "python"]).err();
        assert!(
            err.as_deref().unwrap_or_default().contains(
                "invalid value 'fast' for '--rate <RATE>': between 0 and 100000 samples per \
                 second was expected, not `fast`"
            ),
            "{sub}: {err:?}"
        );
    }
}

#[test]
fn top_sort_takes_the_four_columns() {
    let sort_of = |args: &[&str]| match command(args) {
        Ok(Command::Top(top)) => Ok(top.sort),
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(e),
    };
    assert_eq!(sort_of(&["top", "--", "python"]), Ok(TopSort::Total));
    for (name, sort) in [
        ("own", TopSort::Own),
        ("total", TopSort::Total),
        ("name", TopSort::Name),
        ("thread", TopSort::Thread),
    ] {
        assert_eq!(sort_of(&["top", "--sort", name, "--", "python"]), Ok(sort));
    }
    let err = sort_of(&["top", "--sort", "cum", "--", "python"]).unwrap_err();
    assert!(
        err.contains("invalid value 'cum' for '--sort <SORT>'")
            && err.contains("[possible values: own, total, name, thread]"),
        "{err}"
    );
}

#[test]
fn diff_and_compare_share_the_comparison_options() {
    let Ok(Command::Compare(compare)) = command(&[
        "compare", "main", "HEAD", "--format", "markdown", "--clock", "wall", "--sort", "cum",
        "--", "python", "bench.py",
    ]) else {
        panic!("compare was refused");
    };
    assert_eq!(compare.options.format, Some(DiffFormat::Markdown));
    assert_eq!(compare.options.clock, Some(Clock::Wall));
    assert_eq!(compare.options.sort, SortBy::Cumulative);
    assert_eq!(compare.options.color, ColorChoice::Auto);
    let err = command(&["diff", "a.fsr", "b.fsr", "--format", "svg"]).unwrap_err();
    assert!(
        err.contains("[possible values: table, markdown, json]"),
        "{err}"
    );
    let Ok(Command::Diff(diff)) = command(&[
        "diff",
        "a.fsr",
        "b.fsr",
        "--alpha",
        "0.01",
        "--collapsed-rate",
        "250",
        "--resamples",
        "99",
    ]) else {
        panic!("diff's statistical options were refused");
    };
    assert_eq!(diff.options.alpha, 0.01);
    assert_eq!(diff.options.collapsed_rate, 250.0);
    assert_eq!(diff.options.resamples, 99);
    let err = command(&["diff", "a.fsr", "b.fsr", "--alpha", "0.5%"]).unwrap_err();
    assert!(
        err.contains(
            "invalid value '0.5%' for '--alpha <Q>': a false discovery rate between 0 and 1 \
             (such as 0.05) was expected, not `0.5%`"
        ),
        "{err}"
    );
    let err = command(&["diff", "a.fsr", "b.fsr", "--min-share", "150"]).unwrap_err();
    assert!(
        err.contains("a share of the profile is at most 100%, not 150%"),
        "{err}"
    );
}

#[test]
fn version_names_the_cpython_range_framescope_reads() {
    let oldest = crate::python::interpreter::OLDEST_MINOR;
    let newest = crate::python::layout::NEWEST_TABLE_MINOR;
    let range = format!("(CPython 3.{oldest}–3.{newest})");
    assert!(VERSION.ends_with(&range), "{VERSION}");
    assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
}
