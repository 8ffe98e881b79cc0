//! Build script: link the `dealflow` binary as a position-dependent executable on
//! Linux (glibc).
//!
//! The binary carries chrono-tz's time-zone tables: about 30 000 pointers to zone
//! abbreviations in about 1 MB of read-only data. In a position-independent executable
//! the dynamic loader rewrites every one of them at each start, faulting in every page
//! of that data before `main` runs: about 1 ms of a `dealflow lint` run. Linked with
//! `-no-pie` the pointers are resolved at link time and the pages are only read when
//! used. The cost is that the executable itself loads at a fixed address (shared
//! libraries stay randomised). Applies to the binary only, not to tests or libraries.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
