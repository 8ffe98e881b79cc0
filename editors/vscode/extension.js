// The dealflow VS Code extension: starts `dealflow lsp` (the language server of the
// dealflow CLI) over stdio for `.policy` files. Highlighting comes from the TextMate
// grammar in syntaxes/; everything else (diagnostics, hover, completion, go to
// definition, references, rename, formatting, code actions) from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("dealflow");
  const command = config.get("server.path") || "dealflow";
  const args = ["lsp", ...(config.get("server.extraArgs") || [])];
  const run = { command, args, transport: TransportKind.stdio };
  return { run, debug: run };
}

async function start(context) {
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "dealflow" }, { scheme: "untitled", language: "dealflow" }],
    synchronize: {
      configurationSection: "dealflow",
    },
    outputChannelName: "dealflow language server",
  };
  client = new LanguageClient("dealflow", "dealflow language server", serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const path = vscode.workspace.getConfiguration("dealflow").get("server.path") || "dealflow";
    vscode.window.showErrorMessage(
      `dealflow: could not start \`${path} lsp\` (${err && err.message ? err.message : err}). ` +
        "Install the dealflow CLI or set `dealflow.server.path`."
    );
  }
}

async function stop() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("dealflow.restartServer", async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("dealflow.server")) {
        await stop();
        await start(context);
      }
    })
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
