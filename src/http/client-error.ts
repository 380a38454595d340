import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { failureBody } from '../tracker/bencode.js';

/** The error Node's HTTP server reports with 'clientError' (fastify's ConnectionError). */
interface ClientError extends Error {
  code?: string;
}

/**
 * The answer to a request Node's HTTP parser rejects before any route sees it: a head larger than
 * `maxHeadBytes` (431), a head not read within http.timeout.read (408), anything else it cannot
 * parse (400: a malformed request line or header, a bad Content-Length, Transfer-Encoding with
 * Content-Length). The statuses are Node's, which are Go's net/http's (chihaya's); the body is a
 * bencoded failure (SPEC §4's shape, text/plain), not fastify's JSON, so a client that shows
 * the reason shows one it can read. The connection is closed: Node cannot tell where the next
 * request would begin.
 *
 * @param maxHeadBytes the head limit the server was given (bytes), named in the 431's reason
 * @returns a 'clientError' listener (fastify's clientErrorHandler option)
 */
export function clientErrorAnswer(maxHeadBytes: number): (err: ClientError, socket: Socket) => void {
  const answers = {
    tooLarge: answer(431, `Malformed request - request line and headers over ${maxHeadBytes} bytes`),
    timeout: answer(408, 'Request timeout - request line and headers not received in time'),
    malformed: answer(400, 'Malformed request - not a valid HTTP/1.1 request'),
  };
  return (err, socket) => {
    // A reset connection, or one already closed: nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const bytes =
      err.code === 'HPE_HEADER_OVERFLOW' ? answers.tooLarge : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? answers.timeout : answers.malformed;
    // Node's own rule: no answer over one whose head is already out (an answer cannot be cut in).
    const inFlight = (socket as Socket & { _httpMessage?: { _headerSent?: boolean } | null })._httpMessage;
    // end(), not destroy(): the answer gets out before the FIN (a reset could discard it); a peer
    // that never reads is cut off by Node's request-timeout check (http.timeout.read).
    if (socket.writable && inFlight?._headerSent !== true) socket.end(bytes);
    else socket.destroy();
  };
}

function answer(status: number, reason: string): Buffer {
  const body = failureBody(reason, 0);
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
    'Connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
