/**
 * A strict reader of HTTP/1.1 request heads read straight from the socket's bytes:
 *
 *   <METHOD> <target> HTTP/1.1\r\n
 *   Host: …\r\n  (other headers)\r\n
 *   \r\n
 *
 * It tells three kinds apart: a plain `GET /<passkey>/announce?…` and
 * `GET /<passkey>/scrape?…` (answered on the socket path), and any other request
 * whose end it is certain of: a head with no body (no Content-Length but 0, no
 * Transfer-Encoding, no Upgrade, no Expect), which Node's HTTP server answers
 * alone before the connection comes back. Anything it is not certain of (HTTP/1.0,
 * a body, an odd byte, a head split across reads, a header it would have to
 * interpret) is declined, and Node's HTTP parser takes the connection from that
 * byte on, so unusual input gets exactly Node's answer.
 */

import { trackerPath, TrackerPath, type PathMatch } from '../protocol/path.js';

/** What the head asked for. */
export enum Route {
  Announce = 1,
  Scrape = 2,
  /** Any other request without a body: Node's to answer (another route, HEAD, an escaped passkey, …). */
  Other = 3,
}

/** What a read of one request head found; reused between requests (no allocation per request). */
export interface AnnounceHead {
  route: Route;
  /** The passkey (the segment before `announce`/`scrape`, decoded; announce and scrape only). */
  passkey: string;
  /** The request target as sent (latin1: one char per byte), e.g. "/pk/announce?info_hash=…". */
  target: string;
  /** The first value of the configured proxy header, OWS trimmed; undefined when absent. */
  proxyValue: string | undefined;
  /** The value of the list header (X-Forwarded-For), OWS trimmed; undefined when absent. */
  forwardedFor: string | undefined;
  /** The client asked to close the connection after this answer. */
  close: boolean;
}

export function emptyHead(): AnnounceHead {
  return { route: Route.Other, passkey: '', target: '', proxyValue: undefined, forwardedFor: undefined, close: false };
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const HTTP11 = Buffer.from(' HTTP/1.1\r\n');
const CONNECT = Buffer.from('CONNECT');
/** The passkey of the path being read (reused: heads are read one at a time). */
const pathMatch: PathMatch = { passkey: '' };

/** RFC 9110 token characters (header names). */
const TOKEN_BYTE = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TOKEN_BYTE[c.charCodeAt(0)] = 1;
}

/** Lower-cases an ASCII letter. */
const lower = (c: number): number => (c >= 65 && c <= 90 ? c | 0x20 : c);

/** Does b[start, end) equal `name` (lower-case ASCII) ignoring case? */
function nameIs(b: Buffer, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(b[start + i]!) !== name[i]) return false;
  return true;
}

const HOST = Buffer.from('host');
const CONNECTION = Buffer.from('connection');
const CONTENT_LENGTH = Buffer.from('content-length');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding');
const UPGRADE = Buffer.from('upgrade');
const EXPECT = Buffer.from('expect');
const KEEP_ALIVE = Buffer.from('keep-alive');
const CLOSE = Buffer.from('close');

export interface HeadLimits {
  /** The proxy header's name in lower case as bytes; empty when none is configured. */
  proxyHeader: Uint8Array;
  /** The list header's name (x-forwarded-for) in lower case as bytes; empty when not read. */
  listHeader?: Uint8Array;
  /** The largest head accepted (Node's maxHeaderSize); a larger one is declined. */
  maxHeadBytes: number;
  /** The most header lines accepted; more are declined. */
  maxHeaders: number;
  /**
   * Whether scrapes are answered now (enable_scrape, which SIGHUP may change: so asked per
   * scrape, not copied at start); when false a scrape is an Other request.
   */
  scrape: () => boolean;
}

/**
 * Reads one request head from b[start, …). Returns the offset just past it (and
 * fills `out`: the route, and for announce and scrape what answering needs), or
 * -1 to decline: the bytes are not a complete head this reader is certain of.
 */
export function readRequestHead(b: Buffer, start: number, limits: HeadLimits, out: AnnounceHead): number {
  if (b.length - start < 16) return -1;
  // The method: upper-case letters, then one space; only GET may be a tracker route.
  let m = start;
  while (m < start + 8 && b[m]! >= 65 && b[m]! <= 90) m++;
  if (m === start || b[m] !== 32 || b[m + 1] !== 47 /* / */) return -1;
  // CONNECT turns the connection into a tunnel: Node's to read.
  if (m - start === CONNECT.length && b.compare(CONNECT, 0, CONNECT.length, start, m) === 0) return -1;
  const isGet = m === start + 3 && b[start] === 71 && b[start + 1] === 69 && b[start + 2] === 84;
  const headEnd = b.indexOf(CRLFCRLF, start);
  if (headEnd === -1 || headEnd + 4 - start > limits.maxHeadBytes) return -1;

  // The target: printable ASCII up to the first space.
  const targetStart = m + 1;
  let i = targetStart + 1;
  while (i < headEnd) {
    const c = b[i]!;
    if (c === 32) break;
    if (c < 0x21 || c > 0x7e) return -1;
    i++;
  }
  const targetEnd = i;
  // " HTTP/1.1\r\n" (ending at the latest where the head ends)
  if (targetEnd + HTTP11.length > headEnd + 2) return -1;
  if (b.compare(HTTP11, 0, HTTP11.length, targetEnd, targetEnd + HTTP11.length) !== 0) return -1;

  // GET of a path naming an announce or a scrape (src/protocol/path.ts: the one rule for every path).
  const target = b.toString('latin1', targetStart, targetEnd);
  const path = isGet ? trackerPath(target, pathMatch) : TrackerPath.None;
  const route =
    path === TrackerPath.Announce ? Route.Announce : path === TrackerPath.Scrape && limits.scrape() ? Route.Scrape : Route.Other;
  // Header lines: token ":" OWS value OWS CRLF, values of visible ASCII, space and tab.
  let hasHost = false;
  let close = false;
  let proxyValue: string | undefined;
  let forwardedFor: string | undefined;
  const list = limits.listHeader;
  let count = 0;
  let line = targetEnd + HTTP11.length;
  const proxy = limits.proxyHeader;
  while (line < headEnd + 2) {
    if (++count > limits.maxHeaders) return -1;
    let c = line;
    while (TOKEN_BYTE[b[c]!] === 1) c++;
    if (c === line || b[c] !== 58 /* : */) return -1;
    const nameEnd = c;
    let v = c + 1;
    while (b[v] === 32 || b[v] === 9) v++;
    let e = v;
    let valueEnd = v;
    for (;;) {
      const x = b[e]!;
      if (x === 13) break;
      if ((x < 0x20 && x !== 9) || x > 0x7e) return -1;
      e++;
      if (x !== 32 && x !== 9) valueEnd = e;
    }
    if (b[e + 1] !== 10) return -1; // a bare CR
    const nameLength = nameEnd - line;
    if (nameLength === 4 && nameIs(b, line, nameEnd, HOST)) {
      hasHost = true;
    } else if (nameLength === 10 && nameIs(b, line, nameEnd, CONNECTION)) {
      if (nameIs(b, v, valueEnd, CLOSE)) close = true;
      else if (!nameIs(b, v, valueEnd, KEEP_ALIVE)) return -1; // upgrade, lists: Node's to read
    } else if (nameLength === 14 && nameIs(b, line, nameEnd, CONTENT_LENGTH)) {
      if (valueEnd - v !== 1 || b[v] !== 48 /* 0 */) return -1; // a body: Node's to read
    } else if (
      (nameLength === 17 && nameIs(b, line, nameEnd, TRANSFER_ENCODING)) ||
      (nameLength === 7 && nameIs(b, line, nameEnd, UPGRADE)) ||
      (nameLength === 6 && nameIs(b, line, nameEnd, EXPECT))
    ) {
      return -1; // framing or a protocol change: Node's to read
    }
    if (proxy.length !== 0 && proxyValue === undefined && nameLength === proxy.length && nameIs(b, line, nameEnd, proxy)) {
      proxyValue = b.toString('latin1', v, valueEnd);
    }
    if (list !== undefined && list.length !== 0 && nameLength === list.length && nameIs(b, line, nameEnd, list)) {
      if (forwardedFor !== undefined) return -1; // repeated: Node joins the lines
      forwardedFor = b.toString('latin1', v, valueEnd);
    }
    line = e + 2;
  }
  // Node answers an HTTP/1.1 request without Host with 400.
  if (!hasHost) return -1;

  out.route = route;
  out.passkey = route === Route.Other ? '' : pathMatch.passkey;
  out.target = target;
  out.proxyValue = proxyValue;
  out.forwardedFor = forwardedFor;
  out.close = close;
  return headEnd + 4;
}
