//! Record, context and test-cases files are read with a size cap (`--max-input-size`).

use super::{run, tests_dir};

const POLICY: &str = "../../policies/channel-standard.policy";
const RECORD: &str = "fixtures/eval/register-gold.yaml";

fn eval(extra: &[&str]) -> super::Run {
    let mut args = vec![
        "eval",
        "--policy",
        POLICY,
        "--action",
        "register",
        "--now",
        "2026-11-02T15:00:00Z",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[cfg(unix)]
#[test]
fn an_endless_record_stream_is_refused_at_the_default_cap() {
    let dir = std::env::temp_dir().join(format!("dealflow-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for name in ["zero.yaml", "zero.json"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink to /dev/zero");
        let record = link.to_string_lossy().to_string();
        let r = eval(&["--record", &record]);
        assert_eq!(r.code, 2, "{}", r.snapshot());
        assert!(
            r.stderr.contains(
                "is larger than the input size limit of 16 MiB; raise it with `--max-input-size`"
            ),
            "{}",
            r.stderr
        );
        // The context is read the same way.
        let r = eval(&["--record", RECORD, "--context", &record]);
        assert_eq!(r.code, 2, "{}", r.snapshot());
        assert!(r.stderr.contains("input size limit"), "{}", r.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cap_is_configurable_and_exact() {
    let size = std::fs::metadata(tests_dir().join(RECORD))
        .expect("fixture")
        .len();
    let below = (size - 1).to_string();
    let exact = size.to_string();
    let r = eval(&["--record", RECORD, "--max-input-size", &below]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(
        r.stderr
            .contains(&format!("input size limit of {below} bytes")),
        "{}",
        r.stderr
    );
    let r = eval(&["--record", RECORD, "--max-input-size", &exact]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let r = eval(&["--record", RECORD, "--max-input-size", "1KiB"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
}

#[test]
fn bad_sizes_are_usage_errors() {
    for bad in ["lots", "5 parsecs", "1.5MiB"] {
        let r = eval(&["--record", RECORD, "--max-input-size", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.snapshot());
        assert!(r.stderr.contains("--max-input-size"), "{}", r.stderr);
    }
}

#[test]
fn test_cases_files_and_their_record_files_are_capped() {
    let r = run(&[
        "test",
        POLICY,
        "fixtures/test/passing.yaml",
        "--max-input-size",
        "100",
    ]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(
        r.stderr
            .contains("`fixtures/test/passing.yaml` is larger than"),
        "{}",
        r.stderr
    );
    // The cases file fits, its 915-byte record file does not.
    let r = run(&[
        "test",
        POLICY,
        "fixtures/test/passing.yaml",
        "--max-input-size",
        "500",
    ]);
    assert_ne!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.contains("larger than the input size limit")
            || r.stderr.contains("larger than the input size limit"),
        "{}",
        r.snapshot()
    );
    let r = run(&[
        "test",
        POLICY,
        "fixtures/test/passing.yaml",
        "--max-input-size",
        "1KiB",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
}
