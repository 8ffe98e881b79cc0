//! Reads and validates one record file without deciding: for measuring the record
//! reader's time and peak memory (`/usr/bin/time -v`).
//!
//! `cargo run --release -p dealflow-engine --example parse_record -- POLICY RECORD`

use std::process::ExitCode;

use dealflow_dsl::SourceFile;
use dealflow_engine::Policy;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(policy_path), Some(record_path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: parse_record POLICY RECORD");
        return ExitCode::from(2);
    };
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let (policy_text, record_text) = match (read(policy_path), read(record_path)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Ok(policy) = Policy::compile(&SourceFile::new(policy_path.clone(), policy_text)) else {
        eprintln!("the policy has errors");
        return ExitCode::from(2);
    };
    let parsed = if record_path.ends_with(".json") {
        policy.parse_record_json(&record_text)
    } else {
        policy.parse_record_yaml(&record_text)
    };
    drop(record_text);
    match parsed {
        Ok(r) => {
            println!(
                "{} line items, {} events",
                r.line_items.len(),
                r.history.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
