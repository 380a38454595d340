import type { Socket } from 'node:net';
import type { UpdateAnswer } from '../update/api.js';

/** The update API as this reader needs it (src/update/api.ts). */
export interface UpdateHandler {
  authenticate(password: string, remoteAddress: string | undefined): UpdateAnswer | undefined;
  handle(target: string, remoteAddress: string | undefined): Promise<UpdateAnswer>;
}

export interface UpdateConnectionOptions {
  /** The largest head read before the caller is known (Node's limit for every other route). */
  maxHeadBytes: number;
  /** The largest head read from the site, once its password and address are checked. */
  maxSiteHeadBytes: number;
  /** Time to receive the whole head, in ms. */
  readMs: number;
  /** A connection's peer address (its remoteAddress, or UNIX_SOCKET_PEER over the Unix socket). */
  peerAddress: (socket: Socket) => string | undefined;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const GET_SLASH = Buffer.from('GET /');
const UPDATE = Buffer.from('/update');
/** After answering, unread bytes are drained this long before the socket is destroyed. */
const LINGER_MS = 2_000;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/**
 * Update API requests (`GET /<password>/update?…`, see src/update/) read from the
 * socket's bytes, beside the announce path. Node's HTTP server would refuse two
 * things Gazelle sites send: a request without a Host header (Gazelle's tracker
 * class writes `GET /… HTTP/1.1\r\nConnection: Close\r\n\r\n`), and a request
 * target past its header limit (a bulk action with thousands of passkeys is
 * 100+ KB). So these requests are read here: the password and the source address
 * are checked as soon as the first path segment has arrived, a refused caller is
 * answered at once, and only the site's request may grow to maxSiteHeadBytes.
 * Headers are not interpreted (no body is read); each answer closes its
 * connection, as Gazelle expects (it reads to the end of the stream).
 */
export class UpdateConnections {
  constructor(
    private readonly api: UpdateHandler,
    private readonly options: UpdateConnectionOptions,
  ) {}

  /** Is `b` (a connection's next bytes) the start of a `GET /<segment>/update` request? */
  claims(b: Buffer): boolean {
    if (b.length < GET_SLASH.length || b.compare(GET_SLASH, 0, GET_SLASH.length, 0, GET_SLASH.length) !== 0) return false;
    const slash = segmentEnd(b);
    if (slash === -1 || slash === GET_SLASH.length) return false;
    const after = slash + UPDATE.length;
    if (after >= b.length || b.compare(UPDATE, 0, UPDATE.length, slash, after) !== 0) return false;
    const c = b[after];
    return c === 63 /* ? */ || c === 32 /* space */ || c === 35; /* # */
  }

  /** Takes a connection whose next bytes (`first`, claimed) are an update request; it is closed after the answer. */
  adopt(socket: Socket, first: Buffer): void {
    socket.on('error', () => socket.destroy());
    const remoteAddress = this.options.peerAddress(socket);
    const password = first.toString('latin1', GET_SLASH.length, segmentEnd(first));
    const refusal = this.api.authenticate(password, remoteAddress);
    if (refusal !== undefined) {
      this.answer(socket, refusal);
      return;
    }
    const limit = this.options.maxSiteHeadBytes;
    let head = first;
    let done = false;
    const onData = (chunk: Buffer): void => {
      const searchFrom = Math.max(0, head.length - 3);
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      this.tryAnswer(socket, head, searchFrom, limit, remoteAddress, finish);
    };
    const finish = (): void => {
      done = true;
      socket.removeListener('data', onData);
      socket.setTimeout(0);
    };
    socket.setTimeout(this.options.readMs, () => {
      if (!done) socket.destroy();
    });
    socket.on('data', onData);
    this.tryAnswer(socket, head, 0, limit, remoteAddress, finish);
  }

  private tryAnswer(
    socket: Socket,
    head: Buffer,
    searchFrom: number,
    limit: number,
    remoteAddress: string | undefined,
    finish: () => void,
  ): void {
    const end = head.indexOf(CRLFCRLF, searchFrom);
    if (end === -1) {
      if (head.length > limit) {
        finish();
        this.answer(socket, { status: 431, type: 'text/plain', body: `update request over ${limit} bytes\n` });
      }
      return;
    }
    finish();
    if (end + 4 > limit) {
      this.answer(socket, { status: 431, type: 'text/plain', body: `update request over ${limit} bytes\n` });
      return;
    }
    const target = requestTarget(head, end);
    if (target === undefined) {
      this.answer(socket, { status: 400, type: 'text/plain', body: 'malformed request line\n' });
      return;
    }
    this.api.handle(target, remoteAddress).then(
      (answer) => this.answer(socket, answer),
      () => this.answer(socket, { status: 503, type: 'text/plain', body: 'internal error; try again\n' }),
    );
  }

  /** Writes the answer with Connection: close and ends the connection. */
  private answer(socket: Socket, answer: UpdateAnswer): void {
    if (socket.destroyed) return;
    const body = Buffer.from(answer.body, 'latin1');
    const head =
      `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? 'Error'}\r\n` +
      `Content-Type: ${answer.type}\r\nDate: ${new Date().toUTCString()}\r\n` +
      `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    // Read and drop what the client still sends (a refused long request): closing with
    // unread bytes would reset the connection and could lose the answer on its way.
    socket.on('data', () => undefined);
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }
}

/** The offset of the '/' ending the first path segment of `GET /…`, or -1 (not in `b`, or a space first). */
function segmentEnd(b: Buffer): number {
  for (let i = GET_SLASH.length; i < b.length; i++) {
    const c = b[i]!;
    if (c === 47) return i;
    if (c === 32 || c === 63 || c < 0x21 || c > 0x7e) return -1;
  }
  return -1;
}

const HTTP1 = Buffer.from(' HTTP/1.');

/** The target of `GET <target> HTTP/1.x\r\n` at the start of head[0, end), printable ASCII; undefined otherwise. */
function requestTarget(head: Buffer, end: number): string | undefined {
  let lineEnd = head.indexOf('\r\n');
  if (lineEnd === -1 || lineEnd > end) lineEnd = end;
  const targetEnd = lineEnd - HTTP1.length - 1; // ' HTTP/1.' and one digit
  if (targetEnd < 5 || head.compare(HTTP1, 0, HTTP1.length, targetEnd, targetEnd + HTTP1.length) !== 0) return undefined;
  const minor = head[lineEnd - 1];
  if (minor !== 48 && minor !== 49) return undefined;
  for (let i = 4; i < targetEnd; i++) {
    const c = head[i]!;
    if (c < 0x21 || c > 0x7e) return undefined;
  }
  return head.toString('latin1', 4, targetEnd);
}
