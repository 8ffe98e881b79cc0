//! `dealflow demo`: a seeded channel program played through the store, day by day.
//!
//! The embedded reference policy is published as the first command; partners and
//! accounts are loaded; then, in simulated time, partners open and work deals
//! (evidence, activities, registrations, stage advances, co-sell contacts, closes),
//! channel ops reviews the queue and submits leads, partners answer the leads offered
//! to them, and the clock ticks every business hour so that escalations, SLA
//! breaches, protection expiries and lead timeouts fire. Every command goes through
//! [`dealflow_store::Store::submit`] with its own instant and a deterministic
//! idempotency key; what the actors do next is read from the decisions.
//!
//! Same seed, same commands, same store, same report: the generator is ChaCha seeded
//! from `--seed`, all state is kept in ordered maps, and no wall clock is read
//! (except for the elapsed time, printed on stderr).

mod clock;
mod report;
mod sim;
mod world;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

use dealflow_dsl::SourceFile;
use dealflow_engine::Policy;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::Store;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::files::report_error;
use crate::{DemoArgs, ExitStatus};

/// The reference policy, embedded at build time.
const POLICY_TEXT: &str = include_str!("../../../policies/channel-standard.policy");
const POLICY_NAME: &str = "channel-standard.policy";

/// The size of a run.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub seed: u64,
    pub partners: usize,
    pub accounts: usize,
    pub opportunities: usize,
}

/// What a run leaves: the summary text, and how many commands the store refused
/// (none, unless the simulation has a bug).
pub struct Outcome {
    pub summary: String,
    pub refused: u64,
}

fn count_in(s: &str, lo: usize, hi: usize) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {lo} to {hi}")),
    }
}

/// `--opportunities`: 1 to 5000.
pub fn parse_opportunities(s: &str) -> Result<usize, String> {
    count_in(s, 1, 5000)
}

/// `--partners`: 4 to 500.
pub fn parse_partners(s: &str) -> Result<usize, String> {
    count_in(s, 4, 500)
}

/// `--accounts`: 4 to 2000.
pub fn parse_accounts(s: &str) -> Result<usize, String> {
    count_in(s, 4, 2000)
}

/// Runs `dealflow demo`.
pub fn run(args: &DemoArgs) -> ExitStatus {
    let started = Instant::now();
    let store = match &args.db {
        None => SqliteStore::open_in_memory(),
        // The store as every other command opens it (WAL, a durable commit per
        // command): slower than memory, by the disk's sync time.
        Some(path) => SqliteStore::open(path),
    };
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            report_error(format!("cannot open the store: {e}"));
            return ExitStatus::Error;
        }
    };
    if let Some(path) = &args.db {
        match store.commands() {
            Ok(c) if c.is_empty() => {}
            Ok(c) => {
                report_error(format!(
                    "`{}` already holds a store with {} commands; the demo writes a new program into an empty store only (remove the file or pick another path)",
                    path.display(),
                    c.len()
                ));
                return ExitStatus::Error;
            }
            Err(e) => {
                report_error(format!("cannot read the store: {e}"));
                return ExitStatus::Error;
            }
        }
    }
    let mut emit = match &args.emit_commands {
        None => None,
        Some(path) => match File::create(path) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => {
                report_error(format!("cannot create `{}`: {e}", path.display()));
                return ExitStatus::Error;
            }
        },
    };
    let size = Size {
        seed: args.seed,
        partners: args.partners,
        accounts: args.accounts,
        opportunities: args.opportunities,
    };
    let store_name = match &args.db {
        None => "in memory (pass --db PATH to keep it)".to_string(),
        Some(p) => format!("{}", p.display()),
    };
    let result = simulate(
        &store,
        size,
        emit.as_mut().map(|w| w as &mut dyn Write),
        store_name,
    );
    if let (Some(w), Some(path)) = (emit.as_mut(), &args.emit_commands) {
        if let Err(e) = w.flush() {
            report_error(format!("cannot write `{}`: {e}", path.display()));
            return ExitStatus::Error;
        }
    }
    match result {
        Ok(out) => {
            print!("{}", out.summary);
            eprintln!(
                "demo finished in {:.2} s{}",
                started.elapsed().as_secs_f64(),
                if out.refused > 0 {
                    " (some commands were refused: a demo bug)"
                } else {
                    ""
                }
            );
            ExitStatus::Success
        }
        Err(message) => {
            report_error(message);
            ExitStatus::Error
        }
    }
}

/// Compiles the embedded policy (for its calendar and co-sell pools; the store
/// compiles its own published copy).
fn policy() -> Result<Policy, String> {
    let source = SourceFile::new(POLICY_NAME, POLICY_TEXT);
    Policy::compile(&source).map_err(|e| {
        format!("the embedded reference policy does not compile ({e}); this is a dealflow bug")
    })
}

/// Plays the program into `store` (which must be empty), writing every command
/// submitted to `emit` as one JSON line, and returns the summary.
pub fn simulate(
    store: &SqliteStore,
    size: Size,
    emit: Option<&mut dyn Write>,
    store_name: String,
) -> Result<Outcome, String> {
    let policy = policy()?;
    let Some(cal) = policy.calendar() else {
        return Err("the embedded policy has no business calendar; this is a dealflow bug".into());
    };
    let clock = clock::Clock::new(cal);
    let mut rng = ChaCha8Rng::seed_from_u64(size.seed);
    let world = world::World::generate(
        &mut rng,
        &clock,
        size.partners,
        size.accounts,
        size.opportunities,
    );
    let mut sim = sim::Sim::new(store, &clock, rng, world, emit);
    sim.run()?;
    let summary = report::summary(&report::Inputs {
        store,
        policy: &policy,
        clock: &clock,
        world: &sim.world,
        tally: &sim.tally,
        seed: size.seed,
        store_name,
    })?;
    Ok(Outcome {
        summary,
        refused: sim.tally.refused,
    })
}

/// Replays a command stream (JSON Lines) into `store`, line by line.
#[cfg(test)]
fn replay(store: &SqliteStore, stream: &str) -> Result<usize, String> {
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let mut n = 0;
    for line in stream.lines().filter(|l| !l.trim().is_empty()) {
        store.submit(line, now).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;

    fn small(seed: u64) -> Size {
        Size {
            seed,
            partners: 10,
            accounts: 20,
            opportunities: 40,
        }
    }

    #[test]
    fn the_emitted_stream_rebuilds_the_same_store() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut stream: Vec<u8> = Vec::new();
        let out = simulate(&store, small(3), Some(&mut stream), "memory".into()).unwrap();
        assert_eq!(out.refused, 0, "{}", out.summary);
        let stream = String::from_utf8(stream).unwrap();
        let fresh = SqliteStore::open_in_memory().unwrap();
        let n = replay(&fresh, &stream).unwrap();
        assert!(n > 1000, "only {n} commands");
        let (a, b) = (store.dump().unwrap(), fresh.dump().unwrap());
        assert!(
            a.len() > 1000,
            "the store is nearly empty: {} rows",
            a.len()
        );
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y);
        }
        // Every line is one command with its own instant and a unique key.
        let mut keys = std::collections::BTreeSet::new();
        for line in stream.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["at"].as_str().is_some_and(|s| s.ends_with('Z')), "{line}");
            assert!(
                keys.insert(v["key"].as_str().unwrap().to_string()),
                "{line}"
            );
        }
        assert!(stream
            .lines()
            .next()
            .unwrap()
            .contains("\"publish_policy\""));
    }

    #[test]
    fn the_same_seed_submits_the_same_commands() {
        let run = |seed| {
            let store = SqliteStore::open_in_memory().unwrap();
            let mut stream: Vec<u8> = Vec::new();
            let out = simulate(&store, small(seed), Some(&mut stream), "memory".into()).unwrap();
            (stream, out.summary)
        };
        let (a, sa) = run(5);
        let (b, sb) = run(5);
        assert!(a == b, "same seed, different command streams");
        assert_eq!(sa, sb);
        let (c, _) = run(6);
        assert!(a != c, "another seed, the same command stream");
    }
}
