import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestStats } from '../metrics/metrics.js';
import { emptyHead, readAnnounceHead, type AnnounceHead, type HeadLimits } from './request-head.js';

/** Answers one announce: the bencoded body (never throws). */
export type AnswerAnnounce = (
  passkey: string,
  target: string,
  proxyValue: string | undefined,
  forwardedFor: string | undefined,
  socketAddress: string | undefined,
) => Buffer;

export interface AnnounceConnectionOptions extends HeadLimits {
  /** A new connection that sends no request within this is closed (Node's headersTimeout). */
  readMs: number;
  /** A connection with no traffic for this long after an answer is closed (keep-alive idle). */
  idleMs: number;
  /** An answer the client does not read within this is abandoned with its connection. */
  writeMs: number;
  /** The server is shutting down: each answer closes its connection. */
  closing: () => boolean;
}

type ConnectionListener = (this: Server, socket: Socket) => void;
/** A connection this path owns: its socket and the listeners removed on hand-over. */
interface Owned {
  socket: Socket;
  listeners: Record<string, (...args: any[]) => void>;
  /** Has answered a request: from then on the keep-alive idle timeout applies. */
  answered: boolean;
}

/**
 * The announce path below Node's HTTP server. Each new connection starts here:
 * plain announce requests (see request-head.ts) are read from the socket's bytes
 * and answered with a pre-built response head, with no IncomingMessage,
 * ServerResponse or header objects. The first request this reader declines
 * hands the connection, from that byte on, to Node's HTTP server (and fastify),
 * which keeps it; so every other route, and every odd or hostile input, gets
 * exactly the answer it got before.
 */
export class AnnounceConnections {
  private readonly nodeListeners: ConnectionListener[];
  private readonly owned = new Set<Socket>();
  /** Connections with an answer still being written (one write timer each). */
  private readonly writing = new Set<Socket>();
  private readonly head: AnnounceHead = emptyHead();
  private dateSecond = -1;
  private keepAliveHead = '';
  private closeHead = '';

  constructor(
    private readonly server: Server,
    private readonly answer: AnswerAnnounce,
    private readonly options: AnnounceConnectionOptions,
    private readonly stats: Pick<RequestStats, 'connections' | 'connectionsHandedOver'>,
  ) {
    // Node's HTTP server wires a connection up in its 'connection' listener; it runs only on hand-over.
    this.nodeListeners = server.listeners('connection') as ConnectionListener[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => this.own(socket));
  }

  /**
   * Shutting down (with options.closing() now true, so what still comes is answered
   * with Connection: close and its connection closed): idle connections close now.
   */
  closeIdle(): void {
    for (const socket of this.owned) {
      if (socket.writableLength === 0) socket.destroy();
      else socket.end();
    }
  }

  private own(socket: Socket): void {
    this.stats.connections++;
    this.owned.add(socket);
    socket.setTimeout(this.options.readMs);
    const connection: Owned = { socket, listeners: {}, answered: false };
    const listeners = {
      data: (chunk: Buffer) => this.onData(connection, chunk),
      timeout: () => socket.destroy(),
      end: () => socket.end(),
      error: () => socket.destroy(),
      close: () => {
        this.owned.delete(socket);
        this.writing.delete(socket);
      },
    };
    connection.listeners = listeners;
    socket.on('data', listeners.data);
    socket.on('timeout', listeners.timeout);
    socket.on('end', listeners.end);
    socket.on('error', listeners.error);
    socket.on('close', listeners.close);
  }

  private onData(connection: Owned, chunk: Buffer): void {
    const { socket } = connection;
    const head = this.head;
    let at = 0;
    while (at < chunk.length) {
      const next = readAnnounceHead(chunk, at, this.options, head);
      if (next === -1) {
        this.handOver(connection, at === 0 ? chunk : chunk.subarray(at));
        return;
      }
      at = next;
      const body = this.answer(head.passkey, head.target, head.proxyValue, head.forwardedFor, socket.remoteAddress);
      const close = head.close || this.options.closing();
      socket.write(this.response(body, close));
      if (close) {
        // Whatever else the client sent is not read (as Node does after Connection: close).
        socket.end();
        return;
      }
    }
    if (!connection.answered) {
      connection.answered = true;
      socket.setTimeout(this.options.idleMs);
    }
    if (socket.writableLength > 0 && !this.writing.has(socket)) this.watchWrite(socket);
  }

  /** A client that pipelines without reading: stop reading until it does, and give up after writeMs. */
  private watchWrite(socket: Socket): void {
    this.writing.add(socket);
    const timer = setTimeout(() => {
      if (socket.writableLength > 0) socket.destroy();
    }, this.options.writeMs);
    timer.unref();
    if (socket.writableLength >= socket.writableHighWaterMark) socket.pause();
    socket.once('drain', () => {
      clearTimeout(timer);
      this.writing.delete(socket);
      if (this.owned.has(socket)) socket.resume();
    });
  }

  /** From `rest` on, the connection is Node's (see the class comment). */
  private handOver(connection: Owned, rest: Buffer): void {
    const { socket } = connection;
    this.stats.connectionsHandedOver++;
    this.owned.delete(socket);
    for (const [event, listener] of Object.entries(connection.listeners)) socket.removeListener(event, listener);
    socket.setTimeout(0);
    // With no 'data' listener the bytes wait in the stream's buffer; Node's listener
    // resumes the stream and its parser reads them before anything newer.
    socket.unshift(rest);
    for (const listener of this.nodeListeners) listener.call(this.server, socket);
  }

  /** Status line and headers as Node would send them, then the body, in one buffer. */
  private response(body: Buffer, close: boolean): Buffer {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      const date = new Date(second * 1000).toUTCString();
      const start = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\n`;
      this.keepAliveHead = `${start}Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.options.idleMs / 1000)}\r\nContent-Length: `;
      this.closeHead = `${start}Connection: close\r\nContent-Length: `;
    }
    const head = `${close ? this.closeHead : this.keepAliveHead}${body.length}\r\n\r\n`;
    const out = Buffer.allocUnsafe(head.length + body.length);
    out.write(head, 0, 'latin1');
    body.copy(out, head.length);
    return out;
  }
}
