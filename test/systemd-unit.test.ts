import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { spawnHayate } from './helpers/process.js';
import { get } from './helpers/tracker.js';

/**
 * deploy/systemd/hayate.service, checked without a live systemd: its own
 * SystemCallFilter= lines are expanded with systemd's own group lists
 * (`systemd-analyze syscall-filter`) and applied with libseccomp by a small C
 * helper (test/seccomp/seccomp-exec.c: allow-list, anything else SIGSYS, as
 * systemd does), and the built tracker is run under it. scripts/test.sh installs gcc,
 * libseccomp-dev and systemd (for systemd-analyze); without them this fails.
 */
const UNIT = join(process.cwd(), 'deploy/systemd/hayate.service');

/** Every group systemd knows, from `systemd-analyze syscall-filter`: name → members (system calls and @groups). */
function systemdGroups(): Map<string, string[]> {
  const text = execFileSync('systemd-analyze', ['syscall-filter'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('@')) groups.set(raw.trim(), (current = []));
    else if (current !== undefined && raw.trim() !== '' && !raw.trim().startsWith('#')) current.push(raw.trim());
  }
  return groups;
}

function expand(item: string, groups: Map<string, string[]>, out = new Set<string>()): Set<string> {
  if (!item.startsWith('@')) return out.add(item);
  const members = groups.get(item);
  if (members === undefined) throw new Error(`systemd knows no group ${item}`);
  for (const member of members) expand(member, groups, out);
  return out;
}

/**
 * The allow-list a unit's SystemCallFilter= lines make (systemd.exec(5)): lines add up; a
 * line starting with ~ removes its calls; an empty assignment resets. An allow-list always
 * includes @default (systemd adds it).
 */
function allowList(filterLines: string[], groups: Map<string, string[]>): Set<string> {
  let allowed: Set<string> | undefined;
  for (const line of filterLines) {
    if (line.trim() === '') {
      allowed = undefined;
      continue;
    }
    const deny = line.startsWith('~');
    const items = (deny ? line.slice(1) : line).trim().split(/\s+/);
    const calls = new Set<string>();
    for (const item of items) expand(item, groups, calls);
    if (deny) {
      if (allowed === undefined) throw new Error('a deny-list unit is not what this test models');
      for (const call of calls) allowed.delete(call);
    } else {
      allowed ??= expand('@default', groups);
      for (const call of calls) allowed.add(call);
    }
  }
  if (allowed === undefined) throw new Error('no SystemCallFilter= in the unit');
  return allowed;
}

function unitFilterLines(unitText: string): string[] {
  return unitText
    .split('\n')
    .filter((l) => l.startsWith('SystemCallFilter='))
    .map((l) => l.slice('SystemCallFilter='.length));
}

describe('systemd unit', () => {
  let work: string;
  let helper: string;
  let groups: Map<string, string[]>;
  let db: TestDatabase;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'hayate-unit-'));
    helper = join(work, 'seccomp-exec');
    execFileSync('gcc', ['-O2', '-o', helper, join(process.cwd(), 'test/seccomp/seccomp-exec.c'), '-lseccomp']);
    groups = systemdGroups();
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(async () => {
    await db.drop();
    rmSync(work, { recursive: true, force: true });
  });

  function filterFile(name: string, calls: Set<string>): string {
    const path = join(work, name);
    writeFileSync(path, [...calls].sort().join('\n') + '\n');
    return path;
  }

  it('the filter the unit had (@system-service alone) kills node with SIGSYS before any JavaScript runs', () => {
    const old = filterFile('old.txt', allowList(['@system-service'], groups));
    const r = spawnSync(helper, [old, '--', process.execPath, '-e', 'console.log("ran")'], { encoding: 'utf8' });
    expect(r.signal).toBe('SIGSYS');
    expect(r.stdout).not.toContain('ran');
  });

  it("hayate runs under the unit's own SystemCallFilter: starts, answers, reloads on SIGHUP, stops cleanly", async () => {
    const lines = unitFilterLines(readFileSync(UNIT, 'utf8'));
    expect(lines[0]).toBe('@system-service');
    const list = filterFile('unit.txt', allowList(lines, groups));
    const dir = join(work, 'state');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const port = await freePort();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `127.0.0.1:${port}` }, record_announces: true }),
    );
    const p = spawnHayate(dir, ['-c', join(dir, 'config.json')], { NODE_ENV: 'production' }, [helper, list, '--']);
    try {
      await p.waitForLog('listening');
      const peerId = peerIdOf('-TR3000-', 1);
      const infoHash = infoHashBytes(torrents.live);
      await get(port, `/${users.normal.passkey}/announce${announceQuery({ infoHash, peerId, left: 100, ip: '8.8.8.8' })}`);
      const res = await get(
        port,
        `/${users.normal.passkey}/announce${announceQuery({ infoHash, peerId, left: 50, uploaded: 10, downloaded: 50, ip: '8.8.8.8' })}`,
      );
      expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
      p.child.kill('SIGHUP');
      await p.waitForLog('database reload done');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.lines().at(-1)?.msg).toBe('shutdown complete');
      expect(existsSync(join(dir, 'torrent-cache.bin'))).toBe(true);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('systemd-analyze verify reports nothing and the security exposure stays at 1.9 or better', () => {
    const verify = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(verify.status).toBe(0);
    expect(verify.stdout + verify.stderr).toBe('');
    const security = spawnSync('systemd-analyze', ['security', '--offline=true', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for hayate\.service: ([\d.]+)/.exec(security.stdout);
    expect(m, security.stdout + security.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(1.9);
  });
});
