//! End-to-end tests for dealflow live in `tests/`; this library is empty.
