import { connect } from 'node:net';

export interface RawAnswer {
  /** The status code of the first response, or undefined when the server closed without one. */
  status: number | undefined;
  /** Everything the server sent. */
  bytes: Buffer;
}

/**
 * Writes `payload` on a fresh TCP connection exactly as given, half-closes it,
 * and collects what the server sends until it closes (or `timeoutMs` passes,
 * which is an error: a server must not hold a finished client for ever).
 */
export function rawExchange(port: number, payload: Buffer | string, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server kept the connection open for ${timeoutMs} ms after: ${String(payload).slice(0, 120)}`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    // A reset after the server answered (it closes while we still send) is fine: keep what came.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const bytes = Buffer.concat(chunks);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(bytes.toString('latin1', 0, 16));
      resolve({ status: match ? Number(match[1]) : undefined, bytes });
    });
    socket.on('connect', () => {
      socket.end(typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload);
    });
  });
}

/** The body of a (non-chunked) HTTP/1.1 response. */
export function bodyOf(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  return end === -1 ? Buffer.alloc(0) : bytes.subarray(end + 4);
}
