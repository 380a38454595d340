/**
 * Announce/scrape query parsing straight from the raw request target.
 *
 * info_hash and peer_id are arbitrary bytes, percent-encoded: they are decoded
 * byte-wise into latin1 strings (one char per byte). A UTF-8 decode would
 * corrupt them. Names match case-insensitively. A raw '+' is a space, as in every
 * form-encoded query (application/x-www-form-urlencoded; chihaya's fasthttp and Go's
 * url.QueryUnescape read it so): clients percent-encode a real '+' (%2B), and a client
 * built on a form encoder (PHP's urlencode, Python's urlencode) sends a 0x20 byte as '+'.
 */

/** A numeric parameter: undefined when absent, NaN when present but not a non-negative safe integer. */
export type NumericParam = number | undefined;

/**
 * An unsigned 64-bit counter as announced (BEP 3: uploaded, downloaded, left): a number
 * when at most 2^53 − 1 (every real value), a bigint from 2^53 to 2^64 − 1 (a magnet's
 * left = 2^63 − 1 or 2^64 − 1, a broken client's wrapped counter), so it stays exact.
 */
export type U64 = number | bigint;

/** A U64 parameter: undefined when absent, NaN when present but not a decimal in 0..2^64 − 1. */
export type U64Param = U64 | undefined;

/** The largest value a U64 parameter takes. */
export const U64_MAX = 18446744073709551615n;

export interface TrackerQuery {
  /** Every info_hash value, decoded (any length). */
  infoHashes: string[];
  peerId: string | undefined;
  port: NumericParam;
  uploaded: U64Param;
  downloaded: U64Param;
  left: U64Param;
  numwant: NumericParam;
  event: string;
  /** compact absent or anything but "0": compact. */
  compact: boolean;
  noPeerId: boolean;
  /** The client's `ip` parameter, decoded. */
  ip: string | undefined;
  /** BEP 7 `ipv4=` / `ipv6=` parameters, decoded (read with `announce.ipv6` on only). */
  ipv4: string | undefined;
  ipv6: string | undefined;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87; // a-f
  return -1;
}

/** The byte of the escape `%XX` at s[i] (ending before `end`), or -1 when it is not one (kept literally). */
function escapedByte(s: string, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const hi = hexValue(s.charCodeAt(i + 1));
  const lo = hi !== -1 ? hexValue(s.charCodeAt(i + 2)) : -1;
  return lo === -1 ? -1 : (hi << 4) | lo;
}

/** Scratch bytes for decoding: a decoded value is never longer than its encoding. */
let scratch = Buffer.allocUnsafe(256);

/**
 * Percent-decodes a path segment s[start, end) to a latin1 string; a '+' stays a '+' (RFC 3986:
 * only a query's form encoding makes it a space). A malformed escape is kept literally.
 */
export function decodeComponent(s: string, start: number, end: number): string {
  return decode(s, start, end, false);
}

/** Percent-decodes a query name or value s[start, end): as decodeComponent, and a raw '+' is a space (0x20). */
export function decodeQueryComponent(s: string, start: number, end: number): string {
  return decode(s, start, end, true);
}

/**
 * Decodes byte by byte into a scratch buffer and makes one flat string of it: building the
 * string by concatenation would leave a rope that every Map lookup must flatten first.
 */
function decode(s: string, start: number, end: number, plusIsSpace: boolean): string {
  // Most values (event, compact, a plain peer_id) have nothing to decode; look only within them
  // (an indexOf would scan on to the end of the target).
  let first = start;
  while (first < end) {
    const c = s.charCodeAt(first);
    if (c === 37 /* % */ || (c === 43 /* + */ && plusIsSpace)) break;
    first++;
  }
  if (first === end) return s.slice(start, end);
  if (scratch.length < end - start) scratch = Buffer.allocUnsafe(end - start);
  const out = scratch;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const escaped = c === 37 /* % */ ? escapedByte(s, i, end) : -1;
    if (escaped !== -1) {
      out[n++] = escaped;
      i += 2;
      continue;
    }
    if (c === 43 /* + */ && plusIsSpace) {
      out[n++] = 32;
      continue;
    }
    if (c > 0xff) return decodeByConcatenation(s, start, end, plusIsSpace); // not from a raw request target (one char per byte)
    out[n++] = c;
  }
  return out.toString('latin1', 0, n);
}

/** decode() for text with chars above 0xff (never a raw request target), which stay as they are. */
function decodeByConcatenation(s: string, start: number, end: number, plusIsSpace: boolean): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const escaped = c === 37 /* % */ ? escapedByte(s, i, end) : -1;
    if (escaped !== -1) {
      out += String.fromCharCode(escaped);
      i += 2;
      continue;
    }
    out += c === 43 && plusIsSpace ? ' ' : String.fromCharCode(c);
  }
  return out;
}

/** Parses a non-negative decimal integer in s[start, end); NaN if it is not one or exceeds 2^53-1. */
function parseUnsigned(s: string, start: number, end: number): number {
  if (start === end) return Number.NaN;
  // Leading zeros are allowed (strconv.ParseUint allows them: chihaya's rule), and do not count towards the length.
  while (end - start > 1 && s.charCodeAt(start) === 48 /* 0 */) start++;
  if (end - start > 16) return Number.NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n <= Number.MAX_SAFE_INTEGER ? n : Number.NaN;
}

/**
 * Parses a decimal in s[start, end) as a U64: a number up to 2^53 − 1, a bigint up to
 * 2^64 − 1; NaN if it is not a decimal (sign, space, empty) or exceeds 2^64 − 1.
 * Leading zeros are allowed (as strconv.ParseUint allows them: chihaya's rule).
 */
function parseU64(s: string, start: number, end: number): U64 {
  while (end - start > 1 && s.charCodeAt(start) === 48 /* 0 */) start++;
  if (end - start <= 15) return parseUnsigned(s, start, end);
  if (end - start > 20) return Number.NaN;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
  }
  const n = BigInt(s.slice(start, end));
  if (n > U64_MAX) return Number.NaN;
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** A numeric value may itself be percent-encoded (rare); decode only when needed. */
function numeric(s: string, start: number, end: number): number {
  if (s.indexOf('%', start) !== -1 && s.indexOf('%', start) < end) {
    const decoded = decodeQueryComponent(s, start, end);
    return parseUnsigned(decoded, 0, decoded.length);
  }
  return parseUnsigned(s, start, end);
}

/** numeric() for the U64 counters. */
function u64(s: string, start: number, end: number): U64 {
  if (s.indexOf('%', start) !== -1 && s.indexOf('%', start) < end) {
    const decoded = decodeQueryComponent(s, start, end);
    return parseU64(decoded, 0, decoded.length);
  }
  return parseU64(s, start, end);
}

/** Lower-cased, decoded parameter name (names are ASCII; decoding handles %-encoded names). */
function nameOf(s: string, start: number, end: number): string {
  const raw = s.indexOf('%', start) !== -1 && s.indexOf('%', start) < end ? decodeQueryComponent(s, start, end) : s.slice(start, end);
  return raw.toLowerCase();
}

/**
 * Parses the query part of a request target (everything after the first '?').
 * `target` is the raw URL as received (req.url), whose chars are the bytes sent.
 */
export function parseTrackerQuery(target: string): TrackerQuery {
  const query: TrackerQuery = {
    infoHashes: [],
    peerId: undefined,
    port: undefined,
    uploaded: undefined,
    downloaded: undefined,
    left: undefined,
    numwant: undefined,
    event: '',
    compact: true,
    noPeerId: false,
    ip: undefined,
    ipv4: undefined,
    ipv6: undefined,
  };
  const q = target.indexOf('?');
  if (q === -1) return query;
  // A '#' starts the fragment, which is not part of the query (nor, before the '?', is the query).
  const hash = target.indexOf('#');
  if (hash !== -1 && hash < q) return query;
  const len = hash === -1 ? target.length : hash;
  let start = q + 1;
  while (start <= len) {
    let end = target.indexOf('&', start);
    if (end === -1 || end > len) end = len;
    if (end > start) {
      let eq = target.indexOf('=', start);
      if (eq === -1 || eq > end) eq = end;
      const vs = eq < end ? eq + 1 : end;
      switch (nameOf(target, start, eq)) {
        case 'info_hash':
          query.infoHashes.push(decodeQueryComponent(target, vs, end));
          break;
        case 'peer_id':
          query.peerId = decodeQueryComponent(target, vs, end);
          break;
        case 'port':
          query.port = numeric(target, vs, end);
          break;
        case 'uploaded':
          query.uploaded = u64(target, vs, end);
          break;
        case 'downloaded':
          query.downloaded = u64(target, vs, end);
          break;
        case 'left':
          query.left = u64(target, vs, end);
          break;
        case 'numwant':
          query.numwant = numeric(target, vs, end);
          break;
        case 'event':
          query.event = decodeQueryComponent(target, vs, end);
          break;
        case 'compact':
          query.compact = decodeQueryComponent(target, vs, end) !== '0';
          break;
        case 'no_peer_id':
          query.noPeerId = decodeQueryComponent(target, vs, end) === '1';
          break;
        case 'ip':
          query.ip = decodeQueryComponent(target, vs, end);
          break;
        case 'ipv4':
          query.ipv4 = decodeQueryComponent(target, vs, end);
          break;
        case 'ipv6':
          query.ipv6 = decodeQueryComponent(target, vs, end);
          break;
        default:
          break;
      }
    }
    start = end + 1;
  }
  return query;
}

/** The path part of a request target, without the query. */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}
