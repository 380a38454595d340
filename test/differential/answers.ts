/**
 * Tracker answers reduced to what must be equal between chihaya and hayate: the parts
 * chihaya randomises (the interval's drift, the order of peers) become rules checked
 * on each side, and what remains is compared as plain data.
 */
import { decodeBencode, isDict, type BValue } from '../../src/bencode/codec.js';
import { bodyOf, type RawAnswer } from '../helpers/raw-http.js';

export interface PeerSeen {
  ip: string;
  port: number;
  /** peer_id in hex, when the answer carries one (compact=0). */
  peerId?: string;
}

/** What a step's answer is compared by. */
export interface Normalised {
  status: number | undefined;
  /** The body when it is not bencode (chihaya's 500s are empty). */
  raw?: string;
  failure?: string;
  /** Interval of a failure (fixed, so compared). */
  failureInterval?: number;
  complete?: number;
  incomplete?: number;
  downloaded?: number;
  minInterval?: number;
  /** Peers sorted by address (the order is random by design). */
  peers?: PeerSeen[];
  /** 'compact' or 'dict' */
  peersForm?: 'compact' | 'dict' | 'absent';
  /** Scrape: per info hash (hex). */
  files?: Record<string, { complete: number; downloaded: number; incomplete: number }>;
  scrapeInterval?: number;
  /** Rule violations found on this side (interval outside [announce, announce + drift), …). */
  broken?: string[];
}

/** Dicts as objects with latin1 keys, integers as numbers (answers hold small ones). */
function plain(v: BValue): unknown {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (isDict(v)) return Object.fromEntries(v.entries.map(([k, x]) => [Buffer.from(k).toString('latin1'), plain(x)]));
  return v;
}

const text = (v: unknown): string => Buffer.from(v as Uint8Array).toString('latin1');

function peersOf(value: unknown): { peers: PeerSeen[]; form: 'compact' | 'dict' } {
  if (value instanceof Uint8Array) {
    const buf = Buffer.from(value);
    const peers: PeerSeen[] = [];
    for (let i = 0; i + 6 <= buf.length; i += 6) {
      peers.push({ ip: `${buf[i]}.${buf[i + 1]}.${buf[i + 2]}.${buf[i + 3]}`, port: buf.readUInt16BE(i + 4) });
    }
    return { peers, form: 'compact' };
  }
  const peers = (value as Record<string, unknown>[]).map((d) => {
    const p: PeerSeen = { ip: text(d['ip']), port: Number(d['port']) };
    if (d['peer id'] !== undefined) p.peerId = Buffer.from(d['peer id'] as Uint8Array).toString('hex');
    return p;
  });
  return { peers, form: 'dict' };
}

const byAddress = (a: PeerSeen, b: PeerSeen) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1);

export interface Intervals {
  announce: number;
  drift: number;
  minAnnounce: number;
}

export function normalise(answer: RawAnswer, intervals: Intervals): Normalised {
  const out: Normalised = { status: answer.status };
  const body = bodyOf(answer.bytes);
  let doc: Record<string, unknown>;
  try {
    doc = plain(decodeBencode(body)) as Record<string, unknown>;
  } catch {
    out.raw = body.toString('latin1');
    return out;
  }
  const broken: string[] = [];
  if (doc['failure reason'] !== undefined) {
    out.failure = text(doc['failure reason']);
    if (doc['interval'] !== undefined) out.failureInterval = Number(doc['interval']);
    return out;
  }
  if (doc['files'] !== undefined) {
    out.files = {};
    for (const [key, v] of Object.entries(doc['files'] as Record<string, Record<string, unknown>>)) {
      out.files[Buffer.from(key, 'latin1').toString('hex')] = {
        complete: Number(v['complete']),
        downloaded: Number(v['downloaded']),
        incomplete: Number(v['incomplete']),
      };
    }
    const flags = doc['flags'] as Record<string, unknown> | undefined;
    if (flags !== undefined) out.scrapeInterval = Number(flags['min_request_interval']);
    return out;
  }
  out.complete = Number(doc['complete']);
  out.incomplete = Number(doc['incomplete']);
  out.downloaded = Number(doc['downloaded']);
  out.minInterval = Number(doc['min interval']);
  const interval = Number(doc['interval']);
  if (!(interval >= intervals.announce && interval < intervals.announce + intervals.drift)) {
    broken.push(`interval ${interval} outside [${intervals.announce}, ${intervals.announce + intervals.drift})`);
  }
  if (doc['peers'] === undefined) out.peersForm = 'absent';
  else {
    const { peers, form } = peersOf(doc['peers']);
    out.peers = peers.sort(byAddress);
    out.peersForm = form;
  }
  if (broken.length > 0) out.broken = broken;
  return out;
}
