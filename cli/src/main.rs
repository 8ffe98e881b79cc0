//! `dealflow`: the command line for dealflow policies.
//!
//! Verbs: `lint`, `fmt`, `graph`, `eval`, `test`, `demo`, `explain`, `completions`,
//! `lsp`. Every verb returns an
//! [`ExitStatus`]; `main` is the only place that turns it into a process exit code,
//! and the CLI is the only part of dealflow that reads the clock or the file system.

/// mimalloc instead of the system allocator: imports and reports build and drop
/// millions of small JSON values, where glibc's malloc spent half the time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod completions;
mod crm;
mod demo;
mod diag;
mod eval;
mod explain;
mod files;
mod fmt_cmd;
mod graph;
mod inputs;
mod lint;
mod lsp;
mod program;
mod serve;
mod term;
mod test_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// How a run ended. The numeric values are the documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// 0: the command ran and the answer is positive.
    Success,
    /// 1: the command ran and the answer is negative (findings, changes, failures).
    Failure,
    /// 2: the command could not run (usage, I/O or bad input).
    Error,
}

impl ExitStatus {
    /// The worse of two statuses (`Error` > `Failure` > `Success`).
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max(other)
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Success => ExitCode::from(0),
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

const MAIN_AFTER_HELP: &str = "\
Exit codes:
  0  success: the command ran and found nothing wrong
  1  the command ran but the answer is negative: errors found, warnings with
     --deny-warnings, files that would change, failing test cases
  2  the command could not run: bad usage, unreadable file, invalid input

Docs: README.md and docs/ in the dealflow repository.";

const LINT_AFTER_HELP: &str = "\
Directories are searched recursively for `*.policy` files (sorted, hidden entries
skipped); files named explicitly are linted whatever their extension.

Output formats:
  human  rendered diagnostics with source excerpts, then `N files, N errors, N warnings`
  json   {\"diagnostics\":[{file,line,column,end_line,end_column,severity,code,message,help}],
          \"files\":N,\"errors\":N,\"warnings\":N} (1-based lines and columns, end exclusive)
  sarif  SARIF 2.1.0 for GitHub code scanning and other SARIF viewers
  github GitHub Actions workflow commands: one `::error` or `::warning` annotation per
         diagnostic (file, line, col, endLine, endColumn, title=CODE), then the summary

Exit codes:
  0  no errors (and no warnings with --deny-warnings)
  1  errors found, or warnings found with --deny-warnings
  2  a path does not exist or a file cannot be read";

const FMT_AFTER_HELP: &str = "\
Files are rewritten in place only when their content changes (atomically: a temporary
file in the same directory, then a rename). `-` formats standard input to standard
output. A file with syntax errors is never formatted: its diagnostics are shown instead.

Exit codes:
  0  every file is formatted (with --check: no file would change)
  1  with --check: some files would change (they are listed); or a file has syntax errors
  2  a path does not exist, a file cannot be read or written, or the formatter failed
     its own safety check (output must parse back to the same policy)";

const GRAPH_AFTER_HELP: &str = "\
Draws the stage flow of a checked policy: one node per stage with its display label and
win probability; won and lost stages are terminal (double circle in dot, circle in
mermaid) and coloured green and red. Guards are edge labels. `any -> X` rules are drawn
as one dashed edge from a single `any open stage` node rather than one edge per stage.

Exit codes:
  0  the graph was printed
  1  the policy has errors (they are shown on stderr)
  2  the file cannot be read";

const EVAL_AFTER_HELP: &str = "\
Records and contexts are JSON (`.json`) or YAML (`.yaml`, `.yml`) in the format of
docs/records.md; the decision is described in docs/decisions.md. `route_lead` needs no
--record: it routes the context's `lead` to the context's `partners`. Without --now the
current time is used; pass --now for a reproducible decision. --as partner:ID shows the
decision as that partner sees it: its own deal and entry only, never another partner's
identity, deals, tier or territories.

Human output: the outcome, the key effects (deadlines and other instants in the
policy's time zone, with UTC), then why (each rule with its policy location), why a
registration in review was not auto-approved, what would make a denial pass (or that
no change the partner can make will), and flags. Control characters and bidi
overrides in the inputs are shown escaped (`\\u{1b}`).
JSON output: the full decision document.

Exit codes:
  0  a decision was made (whatever its outcome: approved, denied, review...)
  2  bad input: unreadable file, policy with errors, invalid record or context (each
     problem listed with its field path), unknown action, stage (with a did-you-mean)
     or audience, missing --record, bad --now, or an action the inputs cannot decide
     (NOT DECIDED: no such policy section, no lead in the context, another partner's
     deal seen as a partner)";

const TEST_AFTER_HELP: &str = "\
Runs every case of the test files (format: policies/*.tests.yaml; `record_file` and
`context_file` are relative to the cases file) and prints `PASS name` or `FAIL name`
with the expected and actual values, then the rules never exercised by any case, then
`N passed, N failed`.

Output formats:
  human  the report above
  junit  JUnit XML: one <testsuite> per cases file, one <testcase> per case; a failing
         case has a <failure> with the expected/actual diff, a case that could not run
         (invalid record, bad action) an <error>; rule coverage as <properties>
  json   {\"policy\",\"cases\":[{file,name,status,mismatches,failing_rules,problems}],
          \"passed\":N,\"failed\":N,\"errors\":N,\"coverage\":{rules,exercised:[ids],
          not_exercised:[{id,section,location,only_skipped}]}}; status is pass, fail
          (the decision differs) or error (the case could not run), and `failed` and
          `errors` count those (the human `N failed` is their sum)

Exit codes:
  0  every case passed
  1  at least one case failed (or could not be run, e.g. an invalid record)
  2  the policy has errors or a test file cannot be read or parsed";

const EXPLAIN_AFTER_HELP: &str = "\
Prints the section of docs/lints.md for one diagnostic code (embedded in the binary):
what it catches, why it matters, an example and the fix. CODE is a code (`E101`, any
case) or its name (`unknown-field`).

Exit codes:
  0  the documentation was printed
  2  no such code (the closest code is suggested)";

const COMPLETIONS_AFTER_HELP: &str = "\
Prints a completion script for the shell on standard output. Install it with e.g.
  dealflow completions bash > ~/.local/share/bash-completion/completions/dealflow
  dealflow completions zsh > ~/.zfunc/_dealflow      # with fpath+=(~/.zfunc) before compinit
  dealflow completions fish > ~/.config/fish/completions/dealflow.fish

Exit codes:
  0  the script was printed
  2  bad usage (an unsupported shell), or standard output could not be written";

const DEMO_AFTER_HELP: &str = "\
Plays a seeded channel program through the store (dealflow-store), day by day from
2026-06-01 to 2026-11-30 (the pipeline builds up over the summer; the quarter under
review starts 2026-09-01). The embedded Standard Channel Program policy is published
as the first command, partners and accounts are loaded, then partners open deals,
record evidence and activities, register (duplicates, channel conflicts and
direct-owned accounts included), advance (some denied for missing evidence, fixed and
retried), log co-sell contacts and close won or lost; channel ops reviews the queue
(most within a few business hours, some late) and submits leads that the offered
partners accept, decline or let time out; and the clock ticks every business hour
(09:00-17:00 America/New_York, Mon-Fri), firing escalations, SLA breaches, protection
expiries and lead timeouts. The summary: commands and decisions, pipeline, registrations
by final status, review SLA (median and p90 business hours), co-sell utilization,
commission per partner, lead routing and the decision log's verification.

The same seed always submits the same commands and prints the same report (stdout);
the elapsed time goes to stderr.

--db PATH keeps the store in a SQLite file (created if missing) instead of memory; a
file that already holds commands is refused, never appended to. --emit-commands FILE
writes every submitted command as JSON Lines, each with its key and `at`: submitting
the lines in order to an empty store rebuilds the same store.

Exit codes:
  0  the demo ran
  2  the store could not be opened or already holds commands, a file could not be
     written, or the embedded policy or the generated data was rejected (a dealflow bug)";

const LSP_AFTER_HELP: &str = "\
Speaks the Language Server Protocol on stdin/stdout for an editor to start: diagnostics
on open and change, hover, go to definition, references, completion, document symbols,
formatting, rename and quick fixes. Setup for VS Code, Neovim and Helix: docs/editors.md.

Exit codes:
  0  the client sent `shutdown` then `exit`
  1  the client sent `exit` without `shutdown`, or closed the connection
  2  the connection failed (not an LSP client, broken pipe)";

/// dealflow: lint, format, visualise, evaluate and test channel-partner policies.
#[derive(Debug, Parser)]
#[command(name = "dealflow", version, after_help = MAIN_AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policies for errors and lint warnings (human, JSON, SARIF or GitHub output).
    #[command(after_help = LINT_AFTER_HELP)]
    Lint(LintArgs),
    /// Format policies in the canonical layout, or check that they are formatted.
    #[command(after_help = FMT_AFTER_HELP)]
    Fmt(FmtArgs),
    /// Print a policy's stage flow as a Graphviz dot or Mermaid diagram.
    #[command(after_help = GRAPH_AFTER_HELP)]
    Graph(GraphArgs),
    /// Decide an action on an opportunity record and explain the decision.
    #[command(after_help = EVAL_AFTER_HELP)]
    Eval(EvalArgs),
    /// Run a policy's decision test cases and report rule coverage (human, JUnit or JSON).
    #[command(after_help = TEST_AFTER_HELP)]
    Test(TestArgs),
    /// Run a seeded channel-program simulation and print a summary.
    #[command(after_help = DEMO_AFTER_HELP)]
    Demo(DemoArgs),
    /// Print the documentation of a diagnostic code (e.g. `dealflow explain E101`).
    #[command(after_help = EXPLAIN_AFTER_HELP)]
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh or fish).
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
    /// Run the language server (LSP over stdin/stdout) for editors.
    #[command(after_help = LSP_AFTER_HELP)]
    Lsp,
    /// Create a program store (SQLite) and publish its first policy version.
    #[command(after_help = STORE_AFTER_HELP)]
    Init(InitArgs),
    /// Run the decision service (HTTP API, docs/service.md) on a store.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Import CRM exports (CSV) into a store through a mapping file.
    #[command(after_help = crm::IMPORT_AFTER_HELP)]
    Import(crm::ImportArgs),
    /// Write a store back as CSV files in a mapping's shape.
    #[command(after_help = crm::EXPORT_AFTER_HELP)]
    Export(crm::ExportArgs),
    /// Pipeline analytics from a store's history (text, JSON or a self-contained HTML page).
    #[command(after_help = crm::REPORT_AFTER_HELP)]
    Report(crm::ReportArgs),
    /// Create, revoke and list the service's API tokens.
    #[command(after_help = STORE_AFTER_HELP)]
    Token(serve::TokenArgs),
    /// Apply commands (JSON Lines, docs/commands.md) to a store; one answer line per command.
    #[command(after_help = SUBMIT_AFTER_HELP)]
    Submit(SubmitArgs),
    /// Let time pass: fire every due timer (escalations, SLA breaches, expiries, lead timeouts).
    #[command(after_help = STORE_AFTER_HELP)]
    Tick(TickArgs),
    /// Show an opportunity: state, registrations, history and decisions.
    #[command(after_help = STORE_AFTER_HELP)]
    Show(ShowArgs),
    /// The registration review queue with SLA deadlines and escalation state.
    #[command(after_help = STORE_AFTER_HELP)]
    Queue(QueueArgs),
    /// Approved registrations whose protection ends within N days.
    #[command(after_help = STORE_AFTER_HELP)]
    Expiring(ExpiringArgs),
    /// The decision log: `dealflow log verify --db PATH` checks its hash chain.
    #[command(after_help = LOG_AFTER_HELP)]
    Log(LogArgs),
    /// Replay the command log: byte-identical decisions, or what a candidate policy would change.
    #[command(after_help = REPLAY_AFTER_HELP)]
    Replay(ReplayArgs),
    /// Payout statement per partner from booked commission and rebates.
    #[command(after_help = STORE_AFTER_HELP)]
    Commission(CommissionArgs),
    /// Publish a new policy version to a store (`dealflow policy publish`).
    #[command(after_help = STORE_AFTER_HELP)]
    Policy(PolicyArgs),
}

const SERVE_AFTER_HELP: &str = "\
Serves the HTTP API of docs/service.md on the store: commands, reads, the review queue,
policies, replay and stateless decisions, with bearer tokens from `dealflow token
create`. Timers are ticked on start-up and every minute. SIGTERM or SIGINT stops it:
no new connections, requests in flight finish (10 s at most), the store is closed.

Exit codes:
  0  stopped cleanly
  2  could not start: no store at the path, address in use, bad arguments";

const STORE_AFTER_HELP: &str = "\
The store is a SQLite file created by `dealflow init`. Reads take `--as vendor` (the
default, everything) or `--as partner:ID` (only that partner's opportunities,
registrations, leads and the partner view of decisions about them). Instants are
RFC 3339; without --now the system clock is used.

Exit codes:
  0  success
  1  a negative answer: no such opportunity for the audience, a refused command
  2  could not run: no store at the path, unreadable file, bad arguments";

const SUBMIT_AFTER_HELP: &str = "\
Reads JSON Lines (docs/commands.md), one command per line; FILE `-` is standard input.
A command without `at` is decided at --now (default: the system clock). Prints one JSON
line per command, each only after the commit that holds it:
  {\"line\":N,\"key\":K,\"outcome\":O,\"repeated\":B,\"refused\":B,\"decisions\":[...]}
Lines that arrive together are committed together (up to --batch per commit), each
command atomic on its own. A repeated command (same key and payload) prints its first
decisions again with \"repeated\":true and changes nothing.

Exit codes:
  0  every command was applied
  1  at least one command was refused (its line says why)
  2  the store could not be opened or a commit failed (nothing after the last printed
     line was applied)";

const LOG_AFTER_HELP: &str = "\
Every decision is logged with its sequence number and
hash = sha256(previous hash || canonical decision JSON).

Exit codes:
  0  the chain holds
  1  the chain is broken; the first broken sequence number is named
  2  the store could not be opened";

const REPLAY_AFTER_HELP: &str = "\
Replays the store's command log into a fresh in-memory store. Without --policy every
decision must come out byte for byte as logged (exit 1 naming the first difference).
With --policy, the candidate replaces the most recently published version wherever that
version is in force, and the report shows what would change: decisions whose outcome
changes (by action and rule), review SLA breaches, escalations, expiries, co-sell
assignments per pool, commission and rebate per partner, and the weighted and
hygiene-adjusted forecast, before and after.

Exit codes:
  0  replay identical, or the what-if report was printed
  1  a replayed decision differs from the log
  2  the store or the candidate could not be read, or the candidate has errors";

/// Output formats of the store verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[value(alias = "text")]
    Human,
    Json,
}

/// Arguments of `dealflow init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The store file to create.
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The first policy version (refused when it has errors); without it the store is
    /// created empty, for a command stream that publishes its own policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// When the version takes effect, RFC 3339 (default: from the beginning of time).
    #[arg(long, value_name = "RFC3339")]
    pub effective: Option<String>,
}

/// Arguments of `dealflow submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The instant for commands without `at`, RFC 3339 (default: the system clock).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Most commands per commit.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// JSON Lines file, or `-` for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: PathBuf,
}

/// Arguments of `dealflow tick`.
#[derive(Debug, clap::Args)]
pub struct TickArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `dealflow show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The opportunity id.
    #[arg(value_name = "OPP-ID")]
    pub opportunity: String,
    /// `vendor` or `partner:<id>`.
    #[arg(long = "as", value_name = "AUDIENCE", default_value = "vendor")]
    pub as_: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `dealflow queue`.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    #[arg(long = "as", value_name = "AUDIENCE", default_value = "vendor")]
    pub as_: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `dealflow expiring`.
#[derive(Debug, clap::Args)]
pub struct ExpiringArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// Days ahead.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub days: u32,
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    #[arg(long = "as", value_name = "AUDIENCE", default_value = "vendor")]
    pub as_: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `dealflow log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    #[command(subcommand)]
    pub command: LogCommand,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Recompute the hash chain; exit 1 naming the first broken sequence number.
    Verify {
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
}

/// Arguments of `dealflow replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// A candidate policy to compare with.
    #[arg(long, value_name = "CANDIDATE")]
    pub policy: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `dealflow commission`.
#[derive(Debug, clap::Args)]
pub struct CommissionArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// First day (YYYY-MM-DD, UTC) or instant, inclusive.
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// Last bound (YYYY-MM-DD, UTC) or instant, exclusive.
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// Only this partner's statement.
    #[arg(long, value_name = "ID")]
    pub partner: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `dealflow policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Publish a policy version (refused when it has lint errors).
    Publish {
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// When it takes effect, RFC 3339.
        #[arg(long, value_name = "RFC3339")]
        effective: String,
        /// Idempotency key (default: derived from the policy hash and the instant).
        #[arg(long)]
        key: Option<String>,
        /// The instant of the publish command, RFC 3339 (default: the system clock).
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
}

/// Arguments of `dealflow explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A diagnostic code (`E101`) or name (`unknown-field`).
    #[arg(value_name = "CODE")]
    pub code: String,
}

/// Arguments of `dealflow completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionShell,
}

/// The shells `dealflow completions` supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Arguments of `dealflow eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The policy file.
    #[arg(long, value_name = "POLICY")]
    pub policy: PathBuf,
    /// The opportunity record (.json, .yaml or .yml); required for every action but `route_lead`.
    #[arg(long, value_name = "RECORD")]
    pub record: Option<PathBuf>,
    /// The decision context (.json, .yaml or .yml): other registrations, direct accounts, partners, lead.
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<PathBuf>,
    /// The action: `advance <Stage>`, `register`, `evaluate`, `close_won`, `close_lost`, `route_lead`.
    #[arg(long, default_value = "evaluate")]
    pub action: String,
    /// The decision time, RFC 3339 (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Who the explanation is for: `vendor` or `partner:<id>`.
    #[arg(long = "as", value_name = "AUDIENCE", default_value = "vendor")]
    pub audience: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EvalFormat::Human)]
    pub format: EvalFormat,
    /// Largest record or context file read, e.g. `64MiB`.
    #[arg(long, value_name = "SIZE", value_parser = inputs::parse_size, default_value = "16MiB")]
    pub max_input_size: u64,
}

/// Output formats of `dealflow eval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    Human,
    Json,
}

/// Arguments of `dealflow test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The policy file.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// Test-case files (YAML).
    #[arg(required = true, value_name = "CASES")]
    pub cases: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Largest cases, record or context file read, e.g. `64MiB`.
    #[arg(long, value_name = "SIZE", value_parser = inputs::parse_size, default_value = "16MiB")]
    pub max_input_size: u64,
}

/// Output formats of `dealflow test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    Human,
    Junit,
    Json,
}

/// Arguments of `dealflow demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Random seed; the same seed submits the same commands and prints the same report.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of opportunities partners open (converted leads come on top).
    #[arg(long, default_value_t = 300, value_parser = demo::parse_opportunities)]
    pub opportunities: usize,
    /// Number of partners.
    #[arg(long, default_value_t = 24, value_parser = demo::parse_partners)]
    pub partners: usize,
    /// Number of customer accounts (a few CRM duplicates come on top).
    #[arg(long, default_value_t = 60, value_parser = demo::parse_accounts)]
    pub accounts: usize,
    /// Keep the store in this SQLite file (must be new or empty) instead of in memory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Write every submitted command to FILE as JSON Lines (replayable into an empty store).
    #[arg(long, value_name = "FILE")]
    pub emit_commands: Option<PathBuf>,
}

/// Arguments of `dealflow lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Policy files or directories to lint.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,
    /// Exit with 1 when there are warnings, not only errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also check the policies against this store's recorded history (W401: stage
    /// probabilities against observed conversion).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// With --db: the history up to the end of this day, YYYY-MM-DD (default: today).
    #[arg(long, value_name = "DATE", requires = "db")]
    pub as_of: Option<String>,
}

/// Output formats of `dealflow lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Human,
    Json,
    Sarif,
    Github,
}

/// Arguments of `dealflow fmt`.
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Policy files or directories to format; `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `dealflow graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The policy file.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Output formats of `dealflow graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

fn main() -> ExitCode {
    // A closed pipe (`dealflow lint --format github | head`) ends the process quietly,
    // as for other Unix filters, instead of panicking in `println!`.
    sigpipe::reset();
    let cli = Cli::parse();
    match &cli.command {
        Command::Eval(a) => inputs::set_max_input_size(a.max_input_size),
        Command::Test(a) => inputs::set_max_input_size(a.max_input_size),
        _ => {}
    }
    let status = match cli.command {
        Command::Lint(args) => lint::run(&args),
        Command::Fmt(args) => fmt_cmd::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Test(args) => test_cmd::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Lsp => lsp::run(),
        Command::Init(a) => program::init(&a),
        Command::Serve(a) => serve::serve(&a),
        Command::Token(a) => serve::token(&a),
        Command::Import(a) => crm::import(&a),
        Command::Report(a) => crm::report(&a),
        Command::Export(a) => crm::export(&a),
        Command::Submit(a) => program::submit(&a),
        Command::Tick(a) => program::tick(&a),
        Command::Show(a) => program::show(&a),
        Command::Queue(a) => program::queue(&a),
        Command::Expiring(a) => program::expiring(&a),
        Command::Log(a) => program::log(&a),
        Command::Replay(a) => program::replay(&a),
        Command::Commission(a) => program::commission(&a),
        Command::Policy(a) => program::policy(&a),
    };
    status.into()
}
