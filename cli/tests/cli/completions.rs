//! `dealflow completions bash|zsh|fish`: the scripts load in their shell and complete
//! verbs and option values.

use std::process::Command;

use super::{run, scratch_dir, tool_available};

/// The script for `shell`, checked to be non-empty and to name every verb.
fn script(shell: &str) -> String {
    let r = run(&["completions", shell]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    for verb in super::VERBS {
        assert!(r.stdout.contains(verb), "{shell} script lacks `{verb}`");
    }
    r.stdout
}

/// Runs `shell -c command` and returns stdout, failing on a non-zero exit.
fn shell_output(shell: &str, command: &str) -> String {
    let out = Command::new(shell)
        .arg("-c")
        .arg(command)
        .output()
        .expect("run shell");
    assert!(
        out.status.success(),
        "{shell} -c {command}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_completes_verbs_and_format_values() {
    let text = script("bash");
    if !tool_available(
        "bash",
        "the bash completion script is only checked for content",
    ) {
        return;
    }
    let dir = scratch_dir("completions-bash");
    let path = dir.join("dealflow.bash");
    std::fs::write(&path, text).expect("write script");
    // Simulate the completion of `dealflow li<TAB>` and `dealflow lint --format <TAB>`.
    let complete = |words: &[&str]| {
        let cmd = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _dealflow dealflow '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display(),
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            words.len() - 1,
            words.last().copied().unwrap_or(""),
            words.get(words.len().saturating_sub(2)).copied().unwrap_or(""),
        );
        let out = shell_output("bash", &cmd);
        let mut words: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        words.sort();
        words
    };
    assert_eq!(complete(&["dealflow", "li"]), ["lint"]);
    assert_eq!(complete(&["dealflow", "expl"]), ["explain"]);
    assert_eq!(
        complete(&["dealflow", "ex"]),
        ["expiring", "explain", "export"]
    );
    assert_eq!(
        complete(&["dealflow", "lint", "--format", ""]),
        ["github", "human", "json", "sarif"]
    );
    assert_eq!(
        complete(&["dealflow", "test", "--format", ""]),
        ["human", "json", "junit"]
    );
    let shells: Vec<String> = complete(&["dealflow", "completions", ""])
        .into_iter()
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert_eq!(shells, ["bash", "fish", "zsh"]);
}

#[test]
fn zsh_script_parses() {
    let text = script("zsh");
    assert!(text.starts_with("#compdef dealflow"), "{text}");
    if !tool_available(
        "zsh",
        "the zsh completion script is only checked for content",
    ) {
        return;
    }
    let dir = scratch_dir("completions-zsh");
    let path = dir.join("_dealflow");
    std::fs::write(&path, text).expect("write script");
    shell_output("zsh", &format!("zsh -n '{}'", path.display()));
}

#[test]
fn fish_script_parses_and_completes_verbs() {
    let text = script("fish");
    if !tool_available(
        "fish",
        "the fish completion script is only checked for content",
    ) {
        return;
    }
    let dir = scratch_dir("completions-fish");
    let path = dir.join("dealflow.fish");
    std::fs::write(&path, text).expect("write script");
    let out = shell_output(
        "fish",
        &format!(
            "source '{}'; complete --do-complete 'dealflow ex'; complete --do-complete 'dealflow lint --format '",
            path.display()
        ),
    );
    let firsts: Vec<&str> = out.lines().filter_map(|l| l.split('\t').next()).collect();
    for expected in ["explain", "github", "sarif"] {
        assert!(firsts.contains(&expected), "{expected} not in {out}");
    }
}

#[test]
fn an_unsupported_shell_is_a_usage_error() {
    let r = run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("tcsh"), "{}", r.stderr);
}
