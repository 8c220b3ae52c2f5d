#!/usr/bin/env node
// SemVer order by node-semver (npm's own), for the differential test of aigis-deps's npm
// order: tests/data/deps/semver.json.
//
//   npm install --prefix DIR semver
//   node scripts/make_semver_vectors.mjs DIR           # write the file
//   node scripts/make_semver_vectors.mjs DIR --check   # compute again; exit 1 if it differs
//
// The corpus is SemVer 2.0's precedence examples, build metadata, the prefixes npm
// accepts, and strings SemVer refuses.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: make_semver_vectors.mjs DIR [--check] (DIR holds node_modules/semver)");
  process.exit(2);
}
const require = createRequire(join(resolve(dir), "noop.js"));
const semver = require("semver");
const { version: semverVersion } = require("semver/package.json");
const out = join(dirname(fileURLToPath(import.meta.url)), "..", "tests/data/deps/semver.json");

const CORPUS = [
  // SemVer 2.0's precedence example, and more pre-release identifiers
  "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
  "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.0-0", "1.0.0-00a", "1.0.0-alpha.10",
  "1.0.0-alpha.9", "1.0.0-alpha.a", "1.0.0-A", "1.0.0-a", "1.0.0--", "1.0.0-x.7.z.92",
  "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-1a",
  // build metadata (ignored by precedence)
  "1.0.0+build", "1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
  "1.0.0+build.2", "1.0.0-rc.1+build.1",
  // main versions
  "0.0.0", "0.0.1", "0.1.0", "0.10.0", "0.9.0", "1.2.3", "1.10.0", "2.0.0", "10.0.0",
  "9007199254740991.0.0", "1.9007199254740991.0",
  // prefixes npm accepts
  "v1.2.3", "=1.2.3", " 1.2.3 ", "v2.0.0-rc.1",
  // refused
  "", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3-a..b",
  "1.2.3-00", "1.2.3-01", "1.2.3+", "1.2.3+a..b", "a.b.c", "1.2.3-ä", "9007199254740992.0.0",
  "99999999999999999999.0.0", "=v1.2.3", "v 1.2.3", "1.2.3 beta", "^1.2.3", ">=1.2.3",
];

const valid = [];
const invalid = [];
for (const v of CORPUS) {
  if (semver.valid(v) === null) invalid.push(v);
  else valid.push(v);
}
valid.sort((a, b) => semver.compare(a, b));
const groups = [];
for (const v of valid) {
  const last = groups[groups.length - 1];
  if (last && semver.compare(last[0], v) === 0) last.push(v);
  else groups.push([v]);
}
const result = { reference: `node-semver ${semverVersion}`, ascending: groups, invalid };
if (process.argv.includes("--check")) {
  const have = JSON.parse(readFileSync(out, "utf8"));
  if (JSON.stringify(have.ascending) !== JSON.stringify(groups) || JSON.stringify(have.invalid) !== JSON.stringify(invalid)) {
    console.error(`${out} differs from what ${result.reference} computes now`);
    process.exit(1);
  }
  console.log(`semver.json: ${result.reference} agrees (${valid.length} versions, ${invalid.length} refused)`);
} else {
  writeFileSync(out, JSON.stringify(result, null, 1) + "\n");
  console.log(`wrote ${out}`);
}
