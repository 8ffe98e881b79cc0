//! End-to-end tests for dealflow live in `tests/`; this library holds what every test
//! harness of the workspace shares about its environment.
//!
//! Tests must pass on a bare clone with nothing beside it. A test that needs something a
//! bare clone lacks (the `../shared` data directory, a Debian package, an npm tool) calls
//! [`skip`] with the reason and returns; `.ci/run` sets `DEALFLOW_REQUIRE_ALL_TESTS=1`,
//! which turns every such skip into a failure, so CI always runs them.

use std::path::{Path, PathBuf};

/// The variable that turns skips into failures.
pub const REQUIRE_ALL_VAR: &str = "DEALFLOW_REQUIRE_ALL_TESTS";

/// Whether skips are failures in this run (`DEALFLOW_REQUIRE_ALL_TESTS=1`).
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_VAR).is_ok_and(|v| v == "1")
}

/// Reports a test as skipped with `reason`, or fails it when skips are not allowed.
///
/// # Panics
/// When `DEALFLOW_REQUIRE_ALL_TESTS=1`: a skipped test is then a failure.
#[allow(
    clippy::panic,
    reason = "failing the test is the point when skips are not allowed"
)]
pub fn skip(test: &str, reason: &str) {
    if require_all() {
        panic!("{test}: cannot run ({reason}) and {REQUIRE_ALL_VAR}=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason} (set {REQUIRE_ALL_VAR}=1 to make this a failure)");
}

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// `../shared/<rel>` beside the repository, when it exists. A bare clone has none.
pub fn shared_path(rel: &str) -> Option<PathBuf> {
    let path = repo_root().join("..").join("shared").join(rel);
    path.exists().then_some(path)
}
