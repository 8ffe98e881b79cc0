//! `dealflow completions SHELL`: print a shell completion script generated from the
//! command-line definition itself (`clap_complete`), so it never drifts from `--help`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::files::report_error;
use crate::{Cli, CompletionShell, CompletionsArgs, ExitStatus};

/// Runs `dealflow completions`.
pub fn run(args: &CompletionsArgs) -> ExitStatus {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dealflow", &mut script);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&script).and_then(|()| stdout.flush()) {
        Ok(()) => ExitStatus::Success,
        Err(err) => {
            report_error(format_args!("cannot write the completion script: {err}"));
            ExitStatus::Error
        }
    }
}
