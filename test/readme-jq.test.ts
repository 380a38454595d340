import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The jq examples of README.md and docs/logs.md, run as written on what `journalctl -o cat` and
// `docker logs` give: hayate's JSON lines mixed with lines systemd and Node write themselves. Each
// must give the same output as the same filter on hayate's lines alone — and not stop at the
// first line that is not JSON, as a plain `jq '…'` does.

const repo = fileURLToPath(new URL('..', import.meta.url));

const hayateLines = [
  { level: 30, time: '2026-11-29T19:00:00.000Z', name: 'hayate', msg: 'listening', address: 'http://127.0.0.1:34000' },
  { level: 30, time: '2026-11-29T19:00:03.000Z', name: 'hayate', msg: 'flushed', queue: 'users', rows: 12, ms: 4 },
  {
    level: 40,
    time: '2026-11-29T19:00:04.000Z',
    name: 'hayate',
    msg: 'flush: deadlock, retrying',
    queue: 'torrents',
    errno: 1213,
    attempt: 1,
    pauseMs: 1000,
  },
  {
    level: 50,
    time: '2026-11-29T19:00:05.000Z',
    name: 'hayate',
    msg: 'reload failed; keeping the previous data',
    source: 'users',
    err: 'connect ECONNREFUSED',
  },
  { level: 30, time: '2026-11-29T19:00:06.000Z', name: 'hayate', msg: 'flushed', queue: 'transfer_history', rows: 30, ms: 9 },
].map((line) => JSON.stringify(line));

/** What the journal (-o cat) holds besides hayate's lines: systemd's own, and Node's stderr. */
const otherLines = [
  'Started hayate.service - hayate BitTorrent tracker.',
  '(node:1234) Warning: something Node prints on stderr',
  'Stopping hayate.service - hayate BitTorrent tracker...',
  'hayate.service: Deactivated successfully.',
];

const journal =
  [otherLines[0], hayateLines[0], hayateLines[1], otherLines[1], ...hayateLines.slice(2), otherLines[2], otherLines[3]].join('\n') + '\n';
const onlyJson = hayateLines.join('\n') + '\n';

/** Every `journalctl … | jq …` / `docker logs … | jq …` line of a document: [source, jq part]. */
function jqExamples(document: string): Array<[string, string]> {
  const text = readFileSync(`${repo}${document}`, 'utf8');
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    const match = /^(journalctl -u hayate -o cat|docker logs hayate 2>&1) \| (jq .*)$/.exec(line.trim());
    if (match) out.push([match[1]!, match[2]!.replace(/\s+#.*$/, '').trim()]);
  }
  return out;
}

function runShell(command: string, input: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('sh', ['-c', command], { input, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the README jq examples', () => {
  it('jq is installed (scripts/test.sh installs it)', () => {
    expect(() => execFileSync('jq', ['--version'])).not.toThrow();
  });

  it("a plain jq filter stops at the journal's first non-JSON line (what the examples must avoid)", () => {
    const plain = runShell("jq -c 'select(.level >= 40)'", journal);
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/parse error/);
  });

  for (const document of ['README.md', 'docs/logs.md']) {
    it(`${document}: each example gives, on a journal with systemd's lines, what it gives on hayate's lines alone`, () => {
      const examples = jqExamples(document);
      expect(examples.length, `${document} has jq examples`).toBeGreaterThanOrEqual(3);
      for (const [source, filter] of examples) {
        const mixed = runShell(filter, journal);
        expect(mixed.stderr, `${source} | ${filter}`).toBe('');
        expect(mixed.status, `${source} | ${filter}`).toBe(0);
        const pure = runShell(filter, onlyJson);
        expect(mixed.stdout, `${source} | ${filter}`).toBe(pure.stdout);
        expect(mixed.stdout.trim(), `${source} | ${filter} selects something from the sample`).not.toBe('');
        for (const other of otherLines) expect(mixed.stdout).not.toContain(other);
      }
    });
  }
});
