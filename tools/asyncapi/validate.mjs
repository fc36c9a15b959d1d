// Validate AsyncAPI documents with the official parser; exit 1 on any error-severity diagnostic.
//
//   node tools/asyncapi/validate.mjs [FILE...]    (default: every contracts/asyncapi/*.yaml)
//
// Relative $refs between the files (a consumer's channel pointing at the producer's file) are
// resolved from disk: the parser gets each file's absolute path as its source. The contracts
// hold no http(s) $refs (tests/contracts asserts it), so validation never needs the network.
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const severityName = ["error", "warning", "info", "hint"];

async function defaultFiles() {
  const dir = path.join(repo, "contracts", "asyncapi");
  const names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  return names.map((n) => path.join(dir, n));
}

function where(diagnostic) {
  const at = diagnostic.path && diagnostic.path.length ? diagnostic.path.join(".") : "(root)";
  const line = diagnostic.range ? `:${diagnostic.range.start.line + 1}` : "";
  return `${line} ${at}`;
}

async function validate(parser, file) {
  const text = await readFile(file, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  const rel = path.relative(repo, file);
  for (const d of diagnostics) {
    const level = severityName[d.severity] ?? String(d.severity);
    if (d.severity <= DiagnosticSeverity.Warning || process.env.ASYNCAPI_VERBOSE) {
      console.log(`${rel}${where(d)} ${level} [${d.code}] ${d.message}`);
    }
  }
  if (!document || errors.length) {
    console.log(`FAIL ${rel}: ${errors.length} error(s)`);
    return false;
  }
  const channels = document.channels().length;
  const messages = document.allMessages().length;
  const operations = document.operations().length;
  console.log(
    `ok   ${rel}: AsyncAPI ${document.version()}, ${channels} channels, ` +
      `${operations} operations, ${messages} messages`,
  );
  return true;
}

async function main() {
  const args = process.argv.slice(2);
  const files = args.length ? args.map((f) => path.resolve(f)) : await defaultFiles();
  if (!files.length) {
    console.error("no AsyncAPI files found");
    process.exit(2);
  }
  const parser = new Parser();
  let ok = true;
  for (const file of files) {
    ok = (await validate(parser, file)) && ok;
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
