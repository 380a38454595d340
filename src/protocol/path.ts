/**
 * Which tracker request a path names (SPEC §4 "Paths"), the one rule for the socket path,
 * Node's request handler and the fastify routes.
 *
 * chihaya (fasthttp) normalises the path — percent escapes decoded, repeated slashes
 * collapsed, `.` and `..` segments resolved — then serves any path whose last segment is
 * `announce` or `scrape`, the segment before it being the passkey. So sites may proxy
 * `/tracker/<passkey>/announce`, and clients that join the announce URL with an extra
 * slash (`//<passkey>/announce`, `/<passkey>//announce`) work. The path ends at the first
 * `?` or `#` (a fragment is never part of the query).
 */

import { decodeComponent } from './query.js';

/** What a path names. */
export const enum TrackerPath {
  None = 0,
  Announce = 1,
  Scrape = 2,
}

/** Where the passkey of a matched path is written (reused: no allocation per request). */
export interface PathMatch {
  passkey: string;
}

/** The end of the path part of a request target: the first '?' or '#', or its length. */
export function pathEnd(target: string): number {
  const q = target.indexOf('?');
  const hash = target.indexOf('#');
  if (hash !== -1 && (q === -1 || hash < q)) return hash;
  return q === -1 ? target.length : q;
}

/** What a (decoded) last segment names. */
function routeOfSegment(segment: string): TrackerPath {
  if (segment === 'announce') return TrackerPath.Announce;
  if (segment === 'scrape') return TrackerPath.Scrape;
  return TrackerPath.None;
}

/**
 * The tracker request the raw request target names (announce, scrape or none); on a match
 * `out.passkey` is the segment before the last, percent-decoded (latin1: one char per byte).
 * The last segment is compared after decoding, case-sensitively (chihaya's rule); a path
 * ending in '/' names nothing.
 */
export function trackerPath(target: string, out: PathMatch): TrackerPath {
  if (target.charCodeAt(0) !== 47 /* / */) return TrackerPath.None;
  // One pass over the path (never the query): where it ends, and whether it is the common
  // form, /<passkey>/announce — no escapes, no empty or dot segments.
  let end = target.length;
  let plain = true;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) end = i;
    else if (c === 37 /* % */) plain = false;
    else if (c === 47 /* / */) {
      const next = target.charCodeAt(i + 1);
      if (next === 47 || next === 46 /* . */) plain = false;
    }
  }
  if (!plain) return normalisedPath(target, end, out);
  const last = target.lastIndexOf('/', end - 1);
  const length = end - last - 1;
  const route =
    length === 8 && target.startsWith('announce', last + 1)
      ? TrackerPath.Announce
      : length === 6 && target.startsWith('scrape', last + 1)
        ? TrackerPath.Scrape
        : TrackerPath.None;
  if (route === TrackerPath.None || last === 0) return TrackerPath.None;
  out.passkey = target.slice(target.lastIndexOf('/', last - 1) + 1, last);
  return route;
}

/** trackerPath for paths with escapes, repeated slashes or dot segments. */
function normalisedPath(target: string, end: number, out: PathMatch): TrackerPath {
  const raw = target.slice(1, end).split('/');
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const segment = decodeComponent(raw[i]!, 0, raw[i]!.length);
    const final = i === raw.length - 1;
    if (segment === '..') segments.pop();
    else if (segment !== '.' && (segment !== '' || final)) segments.push(segment);
    else if (final) segments.push(''); // a trailing "/." or "/": the path names a folder
  }
  if (segments.length < 2) return TrackerPath.None;
  const route = routeOfSegment(segments[segments.length - 1]!);
  if (route !== TrackerPath.None) out.passkey = segments[segments.length - 2]!;
  return route;
}
