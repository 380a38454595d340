#!/usr/bin/env node
/**
 * cc: inspect and convert hayate's (and chihaya's) cache files.
 * Exit codes: 0 done, 1 bad input (missing, corrupt or unknown-version file; bad
 * dump JSON) with one line on stderr, 2 usage.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { runCli, UsageError } from '../src/cli.js';
import { packageVersion } from '../src/version.js';
import {
  anonymizeCache,
  dumpCache,
  restoreCache,
  summarizeCache,
  TORRENT_ANON_FILE,
  TORRENT_DUMP_FILE,
  USER_ANON_FILE,
  USER_DUMP_FILE,
  type Progress,
} from '../src/cache/tool.js';

/** Progress lines on stderr, for files big enough to take a while. */
function progressReporter(quiet: boolean): Progress | undefined {
  if (quiet) return undefined;
  const lastShown = new Map<string, number>();
  return (file, done, total) => {
    if (total < 16 << 20) return;
    const percent = Math.floor((done / total) * 100);
    const step = Math.floor(percent / 10);
    if (lastShown.get(file) === step) return;
    lastShown.set(file, step);
    process.stderr.write(`cc: reading ${file}: ${percent}%\n`);
  };
}

const program = new Command('cc')
  .description('cache utility for hayate: torrent-cache.bin and user-cache.bin (chihaya format)')
  .version(packageVersion(), '-V, --version')
  .option('-d, --dir <dir>', 'directory holding the cache files', '.')
  .option('-q, --quiet', 'no progress on stderr')
  .exitOverride()
  .showHelpAfterError()
  // Commander's `error: …` as the tool's other one-line errors: `cc: …`.
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'cc: ')) });

const dirOf = () => resolve(program.opts<{ dir: string }>().dir);
const progress = () => progressReporter(program.opts<{ quiet?: boolean }>().quiet === true);

program
  .command('dump')
  .description(`write ${TORRENT_DUMP_FILE} and ${USER_DUMP_FILE} from the .bin files (chihaya's cc layout)`)
  .action(async () => {
    const r = await dumpCache(dirOf(), progress());
    console.log(`dumped ${r.torrents} torrents with ${r.peers} peers, ${r.users} users`);
  });

program
  .command('restore')
  .description(`write the .bin files back from ${TORRENT_DUMP_FILE} and ${USER_DUMP_FILE}`)
  .action(async () => {
    const r = await restoreCache(dirOf());
    console.log(`restored ${r.torrents} torrents with ${r.peers} peers, ${r.users} users`);
  });

program
  .command('anonymize')
  .description(`write ${TORRENT_ANON_FILE} and ${USER_ANON_FILE}: users renumbered, new passkeys, random addresses`)
  .action(async () => {
    const r = await anonymizeCache(dirOf(), progress());
    console.log(`anonymized ${r.torrents} torrents with ${r.peers} peers, ${r.users} users`);
  });

program
  .command('summary')
  .description('counts of torrents, seeders, leechers, users, and the biggest swarms')
  .option('-n, --top <n>', 'how many of the biggest swarms to list', '10')
  .option('--json', 'print the summary as JSON')
  .action(async (opts: { top: string; json?: boolean }) => {
    const top = Number(opts.top);
    if (!Number.isInteger(top) || top < 0) throw new UsageError(`--top must be a whole number, got "${opts.top}"`);
    const s = await summarizeCache(dirOf(), top, progress());
    if (opts.json) {
      console.log(JSON.stringify(s, null, 2));
      return;
    }
    console.log(`torrents  ${s.torrents}`);
    console.log(`seeders   ${s.seeders}`);
    console.log(`leechers  ${s.leechers}`);
    console.log(`users     ${s.users}`);
    if (s.biggestSwarms.length > 0) {
      console.log('biggest swarms (info_hash, torrent ID, seeders, leechers):');
      for (const t of s.biggestSwarms) console.log(`  ${t.infoHash}  ${t.id}  ${t.seeders}  ${t.leechers}`);
    }
  });

await runCli('cc', program);
