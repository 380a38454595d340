/**
 * Where the real chihaya's binaries are (../shared/reference/chihaya/ beside the repo,
 * or CHIHAYA_BIN), for tests that compare hayate with it. They are test tools: a
 * machine without them skips those tests (with a message naming both), never fails.
 */
import { accessSync, constants } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '../..');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The chihaya tracker binary: CHIHAYA_BIN, else ../shared/reference/chihaya/chihaya from the repo. */
export const CHIHAYA_BIN = resolve(repoRoot, process.env['CHIHAYA_BIN'] ?? '../shared/reference/chihaya/chihaya');
/** chihaya's cc tool: CHIHAYA_CC, else `cc` beside the tracker binary. */
export const CHIHAYA_CC = resolve(repoRoot, process.env['CHIHAYA_CC'] ?? join(dirname(CHIHAYA_BIN), 'cc'));

export const haveChihaya = executable(CHIHAYA_BIN);
export const haveChihayaCc = executable(CHIHAYA_CC);

/** Why a chihaya test is skipped (printed once by the test file). */
export function missingMessage(what: string, path: string): string {
  return (
    `skipped: the real chihaya's ${what} is not at ${path} (set CHIHAYA_BIN to the chihaya binary, ` +
    `or place the reference builds in ../shared/reference/chihaya/ beside the repo)`
  );
}
