// Tokenizes every reference policy (../../policies/*.policy) and every valid corpus
// fixture (../../tests/corpus/ok/*.policy) with the grammar, as VS Code does, and
// fails when any non-blank character is left unmatched (only the root scope) or gets
// an `invalid.*` scope. Extra files or directories may be given as arguments.
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const here = __dirname;
const grammarPath = path.join(here, "..", "syntaxes", "dealflow.tmLanguage.json");
const root = path.join(here, "..", "..", "..");
const defaults = [path.join(root, "policies"), path.join(root, "tests", "corpus", "ok")];

function policyFiles(target) {
  const stat = fs.statSync(target);
  if (stat.isFile()) return [target];
  return fs
    .readdirSync(target)
    .filter((name) => name.endsWith(".policy"))
    .sort()
    .map((name) => path.join(target, name));
}

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.dealflow") return null;
      return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath);
    },
  });
  return registry.loadGrammar("source.dealflow");
}

/** Problems of one file: `file:line:col: text (scopes)` for each bad token. */
function check(grammar, file) {
  const problems = [];
  const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
  let state = vsctm.INITIAL;
  let tokens = 0;
  lines.forEach((line, i) => {
    const result = grammar.tokenizeLine(line, state);
    for (const token of result.tokens) {
      tokens += 1;
      const text = line.slice(token.startIndex, token.endIndex);
      if (text.trim() === "") continue;
      const unmatched = token.scopes.length === 1;
      const invalid = token.scopes.some((s) => s.startsWith("invalid"));
      if (unmatched || invalid) {
        const why = unmatched ? "unmatched" : "invalid";
        problems.push(
          `${path.relative(root, file)}:${i + 1}:${token.startIndex + 1}: ${why} \`${text}\` (${token.scopes.join(" ")})`
        );
      }
    }
    state = result.ruleStack;
  });
  return { problems, tokens };
}

async function main() {
  const targets = process.argv.length > 2 ? process.argv.slice(2) : defaults;
  const files = targets.flatMap((t) => policyFiles(path.resolve(t)));
  if (files.length === 0) {
    console.error("no .policy files found in " + targets.join(", "));
    process.exit(1);
  }
  const grammar = await loadGrammar();
  let problems = [];
  let tokens = 0;
  for (const file of files) {
    const r = check(grammar, file);
    problems = problems.concat(r.problems);
    tokens += r.tokens;
  }
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`${problems.length} unmatched or invalid spans in ${files.length} files`);
    process.exit(1);
  }
  const references = files.filter((f) => path.dirname(f) === path.join(root, "policies")).length;
  console.log(
    `${files.length} policies tokenized (${references} reference policies tokenized), ${tokens} tokens, no unmatched or invalid spans`
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
