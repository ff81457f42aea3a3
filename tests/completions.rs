//! `framescope completions SHELL` and `--version`, as a user's shell and terminal see them.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_framescope");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("framescope runs")
}

#[test]
fn version_prints_the_version_and_the_cpython_range() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "framescope {} (CPython 3.8–3.15)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn bash_sources_the_script_and_completes_subcommands_and_options() {
    // What a user does, then what bash does on TAB: `framescope rec<TAB>` and
    // `framescope record --pyro<TAB>`.
    let script = format!(
        r#"source <("{BIN}" completions bash) || exit 1
complete -p framescope || exit 1
COMP_WORDS=(framescope rec); COMP_CWORD=1; COMP_LINE="framescope rec"; COMP_POINT=${{#COMP_LINE}}
_framescope framescope rec framescope
echo "subcommands: ${{COMPREPLY[*]}}"
COMP_WORDS=(framescope report --for); COMP_CWORD=2; COMP_LINE="framescope report --for"; COMP_POINT=${{#COMP_LINE}}
_framescope framescope --for report
echo "options: ${{COMPREPLY[*]}}""#
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("complete ") && lines[0].ends_with(" framescope"),
        "{stdout}"
    );
    assert_eq!(lines[1], "subcommands: record", "{stdout}");
    assert_eq!(lines[2], "options: --format", "{stdout}");
}

#[test]
fn zsh_and_fish_scripts_name_the_subcommands() {
    let zsh = run(&["completions", "zsh"]);
    assert!(zsh.status.success());
    let zsh = String::from_utf8_lossy(&zsh.stdout);
    assert!(zsh.starts_with("#compdef framescope"), "{zsh}");
    let fish = run(&["completions", "fish"]);
    assert!(fish.status.success());
    let fish = String::from_utf8_lossy(&fish.stdout);
    for sub in ["dump", "record", "report", "diff", "compare", "completions"] {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh lacks {sub}");
        assert!(fish.contains(&format!("-a \"{sub}\"")), "fish lacks {sub}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_shells() {
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bash") && stderr.contains("fish"),
        "{stderr}"
    );
}
