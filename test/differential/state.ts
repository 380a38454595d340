/**
 * What the two trackers leave behind, compared: the database tables they write, the
 * hourly events CSVs and the cache files. Times are compared with a tolerance of
 * TIME_TOLERANCE seconds: every request goes to chihaya and then at once to hayate, so
 * the two read their clocks for the same step a few milliseconds apart; a second
 * boundary between the two readings makes 1 s, and a sum of time deltas (activetime,
 * seedtime) telescopes to last − first announce, so it can differ by 1 at each end.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import { loadTorrentRecords, loadUserRecords } from '../../src/cache/tool.js';
import type { PeerRecord, TorrentRecord, UserRecord } from '../../src/cache/format.js';
import { ipToString } from '../../src/store/peer.js';

export const TIME_TOLERANCE = 2;

type Row = Record<string, unknown>;

const TABLES: Record<string, { key: string[]; times: string[] }> = {
  users_main: { key: ['ID'], times: [] },
  torrents: { key: ['ID'], times: ['last_action'] },
  transfer_history: { key: ['uid', 'fid'], times: ['seedtime', 'activetime', 'starttime', 'last_announce', 'snatched_time'] },
  transfer_ips: { key: ['uid', 'fid', 'ip', 'client_id'], times: ['last_announce', 'starttime'] },
};

export type Tables = Record<string, Map<string, Row>>;

export async function readTables(conn: Connection): Promise<Tables> {
  const out: Tables = {};
  for (const [table, { key }] of Object.entries(TABLES)) {
    const [rows] = await conn.query(`SELECT * FROM ${table} ORDER BY ${key.join(', ')}`);
    const map = new Map<string, Row>();
    for (const row of rows as Row[]) {
      const plain: Row = {};
      for (const [k, v] of Object.entries(row))
        plain[k] = Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'number' || typeof v === 'bigint' ? String(v) : v;
      map.set(key.map((k) => String(plain[k])).join('/'), plain);
    }
    out[table] = map;
  }
  return out;
}

/** Durations (sums of seconds) within the tolerance. */
function near(a: unknown, b: unknown): boolean {
  return Math.abs(Number(a) - Number(b)) <= TIME_TOLERANCE;
}

/** Timestamps within the tolerance, and 0 ("never") only where the other is 0 too. */
function nearTime(a: unknown, b: unknown): boolean {
  return near(a, b) && (Number(a) === 0) === (Number(b) === 0);
}

const DURATIONS = new Set(['seedtime', 'activetime']);

/** Every difference between the two sides' tables, one line each ("table key: column chihaya=… hayate=…"). */
export function diffTables(chihaya: Tables, hayate: Tables): string[] {
  const out: string[] = [];
  for (const [table, { times }] of Object.entries(TABLES)) {
    const c = chihaya[table]!;
    const h = hayate[table]!;
    for (const key of new Set([...c.keys(), ...h.keys()])) {
      const a = c.get(key);
      const b = h.get(key);
      if (a === undefined || b === undefined) {
        out.push(`${table} ${key}: only in ${a ? 'chihaya' : 'hayate'} ${JSON.stringify(a ?? b)}`);
        continue;
      }
      for (const column of Object.keys(a)) {
        const same = !times.includes(column)
          ? a[column] === b[column]
          : DURATIONS.has(column)
            ? near(a[column], b[column])
            : nearTime(a[column], b[column]);
        if (!same) out.push(`${table} ${key}: ${column} chihaya=${String(a[column])} hayate=${String(b[column])}`);
      }
    }
  }
  return out;
}

/** The data rows of every events CSV in `dir/events`, in file then line order, and the headers seen. */
export async function readEvents(dir: string): Promise<{ headers: string[]; rows: string[] }> {
  const files = (await readdir(join(dir, 'events')).catch(() => [] as string[])).filter((f) => f.endsWith('.csv')).sort();
  const headers: string[] = [];
  const rows: string[] = [];
  for (const f of files) {
    const lines = (await readFile(join(dir, 'events', f), 'utf8')).split('\n').filter((l) => l !== '');
    headers.push(lines[0] ?? '');
    rows.push(...lines.slice(1));
  }
  return { headers, rows };
}

const peerFields = (p: PeerRecord) => ({
  addr: `${ipToString(p.ip)}:${p.port}`,
  uploaded: String(p.uploaded),
  downloaded: String(p.downloaded),
  left: String(p.left),
  torrentId: p.torrentId,
  userId: p.userId,
  clientId: p.clientId,
  seeding: p.seeding,
  peerId: Buffer.from(p.peerId, 'latin1').toString('hex'),
});

/** Differences between two cache folders' records (order-free; times within TIME_TOLERANCE). */
export async function diffCaches(chihayaDir: string, hayateDir: string): Promise<string[]> {
  const out: string[] = [];
  const [ct, ht] = [await loadTorrentRecords(chihayaDir), await loadTorrentRecords(hayateDir)];
  const byHash = (ts: TorrentRecord[]) => new Map(ts.map((t) => [Buffer.from(t.infoHash, 'latin1').toString('hex'), t]));
  const [cm, hm] = [byHash(ct), byHash(ht)];
  for (const hash of new Set([...cm.keys(), ...hm.keys()])) {
    const a = cm.get(hash);
    const b = hm.get(hash);
    if (!a || !b) {
      out.push(`torrent-cache ${hash}: only in ${a ? 'chihaya' : 'hayate'}`);
      continue;
    }
    for (const f of ['id', 'type', 'groupId', 'snatched', 'status', 'upMultiplier', 'downMultiplier'] as const) {
      if (!Object.is(a[f], b[f])) out.push(`torrent-cache ${hash}: ${f} chihaya=${String(a[f])} hayate=${String(b[f])}`);
    }
    if (!nearTime(a.lastAction, b.lastAction)) out.push(`torrent-cache ${hash}: lastAction chihaya=${a.lastAction} hayate=${b.lastAction}`);
    for (const swarm of ['seeders', 'leechers'] as const) {
      const pa = new Map(a[swarm].map((e) => [Buffer.from(e.key, 'latin1').toString('hex'), e.peer]));
      const pb = new Map(b[swarm].map((e) => [Buffer.from(e.key, 'latin1').toString('hex'), e.peer]));
      for (const key of new Set([...pa.keys(), ...pb.keys()])) {
        const x = pa.get(key);
        const y = pb.get(key);
        if (!x || !y) {
          out.push(`torrent-cache ${hash} ${swarm} ${key}: only in ${x ? 'chihaya' : 'hayate'}`);
          continue;
        }
        if (JSON.stringify(peerFields(x)) !== JSON.stringify(peerFields(y))) {
          out.push(
            `torrent-cache ${hash} ${swarm} ${key}: chihaya=${JSON.stringify(peerFields(x))} hayate=${JSON.stringify(peerFields(y))}`,
          );
        }
        if (!nearTime(x.startTime, y.startTime) || !nearTime(x.lastAnnounce, y.lastAnnounce))
          out.push(`torrent-cache ${hash} ${swarm} ${key}: times differ`);
      }
    }
  }
  const byPasskey = (us: UserRecord[]) => new Map(us.map((u) => [u.passkey, u]));
  const [cu, hu] = [byPasskey(await loadUserRecords(chihayaDir)), byPasskey(await loadUserRecords(hayateDir))];
  for (const pk of new Set([...cu.keys(), ...hu.keys()])) {
    const a = cu.get(pk);
    const b = hu.get(pk);
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`user-cache ${pk}: chihaya=${JSON.stringify(a)} hayate=${JSON.stringify(b)}`);
  }
  return out;
}
