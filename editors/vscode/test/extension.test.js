// Tests of the extension manifest and of extension.js, run with node's test runner.
// extension.js is loaded with stand-ins for the `vscode` API and the language client
// (neither can run outside VS Code), to check which server it starts and when.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const Module = require("module");

const root = path.join(__dirname, "..");
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

test("the manifest's language, grammar and configuration files agree", () => {
  const [language] = manifest.contributes.languages;
  const [grammar] = manifest.contributes.grammars;
  assert.equal(language.id, "dealflow");
  assert.deepEqual(language.extensions, [".policy"]);
  assert.equal(grammar.language, language.id);
  const tm = JSON.parse(fs.readFileSync(path.join(root, grammar.path), "utf8"));
  assert.equal(tm.scopeName, grammar.scopeName);
  const config = JSON.parse(fs.readFileSync(path.join(root, language.configuration), "utf8"));
  assert.equal(config.comments.lineComment, "//");
  for (const pair of ["{}", "[]", "()"]) {
    assert.ok(config.brackets.some(([o, c]) => o + c === pair), pair);
    assert.ok(config.autoClosingPairs.some((p) => p.open + p.close === pair), pair);
  }
  assert.ok(manifest.activationEvents.includes(`onLanguage:${language.id}`));
  assert.ok(fs.existsSync(path.join(root, manifest.main)));
  assert.equal(manifest.contributes.configuration.properties["dealflow.server.path"].default, "dealflow");
});

/** Loads extension.js with fake `vscode` and client modules; returns what it did. */
function loadExtension(settings, { failStart = false } = {}) {
  const seen = { clients: [], errors: [], commands: {}, configListeners: [] };
  class FakeClient {
    constructor(id, name, serverOptions, clientOptions) {
      this.serverOptions = serverOptions;
      this.clientOptions = clientOptions;
      this.started = false;
      this.stopped = false;
      seen.clients.push(this);
    }
    async start() {
      if (failStart) throw new Error("spawn dealflow ENOENT");
      this.started = true;
    }
    async stop() {
      this.stopped = true;
    }
  }
  const vscode = {
    workspace: {
      getConfiguration: (section) => ({
        get: (key) => settings[`${section}.${key}`],
      }),
      onDidChangeConfiguration: (listener) => {
        seen.configListeners.push(listener);
        return { dispose() {} };
      },
    },
    window: { showErrorMessage: (m) => seen.errors.push(m) },
    commands: {
      registerCommand: (id, fn) => {
        seen.commands[id] = fn;
        return { dispose() {} };
      },
    },
  };
  const fakes = {
    vscode,
    "vscode-languageclient/node": { LanguageClient: FakeClient, TransportKind: { stdio: 0 } },
  };
  const originalLoad = Module._load;
  Module._load = function (request, ...rest) {
    if (request in fakes) return fakes[request];
    return originalLoad.call(this, request, ...rest);
  };
  const file = path.join(root, "extension.js");
  delete require.cache[require.resolve(file)];
  try {
    return { extension: require(file), seen };
  } finally {
    Module._load = originalLoad;
  }
}

test("activation starts `dealflow lsp` over stdio for dealflow documents", async () => {
  const { extension, seen } = loadExtension({});
  await extension.activate({ subscriptions: [] });
  assert.equal(seen.clients.length, 1);
  const client = seen.clients[0];
  assert.ok(client.started);
  assert.deepEqual(client.serverOptions.run, { command: "dealflow", args: ["lsp"], transport: 0 });
  assert.ok(client.clientOptions.documentSelector.every((s) => s.language === "dealflow"));
  await extension.deactivate();
  assert.ok(client.stopped);
});

test("the server path and extra arguments come from the settings", async () => {
  const { extension, seen } = loadExtension({
    "dealflow.server.path": "/opt/dealflow/bin/dealflow",
    "dealflow.server.extraArgs": ["--log", "debug"],
  });
  await extension.activate({ subscriptions: [] });
  const run = seen.clients[0].serverOptions.run;
  assert.equal(run.command, "/opt/dealflow/bin/dealflow");
  assert.deepEqual(run.args, ["lsp", "--log", "debug"]);
});

test("changing the server settings or the restart command restarts the server", async () => {
  const { extension, seen } = loadExtension({});
  await extension.activate({ subscriptions: [] });
  await seen.configListeners[0]({ affectsConfiguration: (s) => s === "dealflow.server" });
  assert.equal(seen.clients.length, 2);
  assert.ok(seen.clients[0].stopped && seen.clients[1].started);
  await seen.configListeners[0]({ affectsConfiguration: () => false });
  assert.equal(seen.clients.length, 2, "unrelated settings do not restart");
  await seen.commands["dealflow.restartServer"]();
  assert.equal(seen.clients.length, 3);
  assert.ok(seen.clients[1].stopped && seen.clients[2].started);
});

test("a server that cannot start is reported, not thrown", async () => {
  const { extension, seen } = loadExtension({ "dealflow.server.path": "nope" }, { failStart: true });
  await extension.activate({ subscriptions: [] });
  assert.equal(seen.errors.length, 1);
  assert.match(seen.errors[0], /could not start `nope lsp`/);
  assert.match(seen.errors[0], /dealflow\.server\.path/);
});
