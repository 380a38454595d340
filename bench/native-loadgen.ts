/**
 * The native load generator (bench/loadgen.c): built with the machine's C compiler (CC, else `cc`)
 * into dist/bench/loadgen-native when missing or older than its source, fed loadgen.ts's virtual
 * peers through a file, its result read in loadgen.ts's LoadResult shape.
 *
 * The throughput runs use it where a compiler is found (`--generator native`, the default), and
 * loadgen.ts otherwise: it generates the same load for about 8–11 CPU-µs a request instead of 13–16,
 * so less of the two cores the servers share with it goes to the tool that measures them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChildJson } from './child-json.js';
import { makePeers, prng, TAIL_SCRAPE, type LoadOptions, type LoadResult } from './loadgen.js';

const here = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/, or bench/ when run from source (tests)
const root = basename(dirname(here)) === 'dist' ? join(here, '..', '..') : join(here, '..');
const source = join(root, 'bench', 'loadgen.c');
const binary = join(root, 'dist', 'bench', 'loadgen-native');

/**
 * Builds the native generator if needed. Returns its path, or why it cannot be had (no source beside
 * dist/, no compiler, a failed build: the compiler's first line of complaint).
 */
export function nativeLoadgen(): { path: string } | { reason: string } {
  if (!existsSync(source)) return { reason: `${source} is missing` };
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return { path: binary };
  const cc = process.env['CC'] ?? 'cc';
  mkdirSync(dirname(binary), { recursive: true });
  const built = spawnSync(cc, ['-O2', '-Wall', '-o', binary, source, '-lm'], { encoding: 'utf8' });
  if (built.error) return { reason: `no C compiler (${cc}: ${built.error.message})` };
  if (built.status !== 0) return { reason: `${cc} failed: ${(built.stderr || built.stdout).trim().split('\n')[0] ?? ''}` };
  return { path: binary };
}

/**
 * Runs `path` (from nativeLoadgen) with options `o` as loadgen.ts's runLoad would (the same peers for
 * the same seed; the per-request choices from the seed's next value), resolving its LoadResult.
 * Rejects when it exits non-zero or prints no JSON.
 */
export async function runNativeLoad(path: string, o: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-loadgen-'));
  try {
    const peersFile = join(dir, 'peers.tsv');
    const lines = makePeers(o, prng(o.seed)).map((p) => {
      const scrapeLine = p.scrape.toString('latin1', 0, p.scrape.length - TAIL_SCRAPE.length);
      return `${p.prefix.toString('latin1')}\t${scrapeLine}\t${p.size}\t${p.left}\n`;
    });
    writeFileSync(peersFile, lines.join(''), 'latin1');
    const args = [o.host, o.port, o.connections, o.warmup, o.duration, o.scrapeShare, o.rate, (o.seed + 1) >>> 0, peersFile].map(String);
    if (o.header !== undefined) args.push(o.header);
    return await runChildJson<LoadResult>(path, args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
