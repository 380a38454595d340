#!/usr/bin/env bash
# Runs the test suite: npm ci when needed, what the end-to-end tests drive (scripts/ensure-test-tools.sh),
# the build (some tests run dist/), then vitest.
# Arguments go to vitest (e.g. `bash scripts/test.sh test/config.test.ts`).
# The last line printed is a plain summary: "N passed, N failed".
# Exits non-zero when anything failed or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "test: $*" >&2; }

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
bash scripts/ensure-test-tools.sh
say "building (npm run build)"
npm run --silent build

results="$(mktemp -t hayate-vitest-XXXXXX.json)"
trap 'rm -f "$results"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?

summary="$(node -e '
const fs = require("node:fs");
let r = {};
try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
const suites = r.testResults ?? [];
// A file that fails to load (syntax error, failing hook) has no failed test but is a failure.
const brokenFiles = suites.filter((s) => s.status === "failed" && !(s.assertionResults ?? []).some((a) => a.status === "failed")).length;
console.log(`${r.numPassedTests ?? 0} ${(r.numFailedTests ?? 0) + brokenFiles}`);
' "$results")"
read -r passed failed <<<"$summary"
if [[ "$status" != 0 && "$failed" == 0 ]]; then
  echo "vitest exited $status with no failed test: see its errors above (e.g. a global teardown)"
fi
echo "$passed passed, $failed failed"
if [[ "$status" != 0 || "$failed" != 0 || "$passed" == 0 ]]; then
  exit 1
fi
