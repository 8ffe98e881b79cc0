#!/usr/bin/env bash
# Tests of the VS Code extension's grammar:
#  1. scope assertions in test/*.test.policy (vscode-tmgrammar-test), covering every
#     token class of the grammar;
#  2. test/tokenize-policies.js: every policies/*.policy tokenizes with no character
#     left unmatched (only the root scope) and no `invalid.*` scope.
# Installs the pinned dev dependencies (package-lock.json) first. Without node/npm it
# skips with a reason, unless DEALFLOW_REQUIRE_ALL_TESTS=1, when it fails.
# Run by `cargo test -p dealflow-cli --test cli editors` and directly.
set -euo pipefail
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "${DEALFLOW_REQUIRE_ALL_TESTS:-}" = "1" ]; then
    echo "error: node and npm are required for the VS Code grammar tests (DEALFLOW_REQUIRE_ALL_TESTS=1)" >&2
    exit 1
  fi
  echo "SKIPPED: node and npm are not installed; the VS Code grammar tests need them"
  exit 0
fi

# npm ci only when the installed tree is missing or older than the lock file.
if [ ! -d node_modules/vscode-tmgrammar-test ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm test --silent
