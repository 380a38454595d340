import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { RequestStats } from '../metrics/metrics.js';
import { decimalLength, writeDecimal } from '../decimal.js';
import type { AnswerGate } from './answer-gate.js';
import type { UpdateConnections } from './update-connections.js';
import { emptyHead, readRequestHead, Route, type AnnounceHead, type HeadLimits } from './request-head.js';

/** Answers one announce: the bencoded body (never throws). */
export type AnswerAnnounce = (
  passkey: string,
  target: string,
  proxyValue: string | undefined,
  forwardedFor: string | undefined,
  socketAddress: string | undefined,
) => Buffer;

/** Answers one scrape: the bencoded body (never throws). */
export type AnswerScrape = (passkey: string, target: string) => Buffer;

export interface AnnounceConnectionOptions extends HeadLimits {
  /** A new connection that sends no request within this is closed (Node's headersTimeout). */
  readMs: number;
  /** A connection with no traffic for this long after an answer is closed (keep-alive idle). */
  idleMs: number;
  /** An answer the client does not read within this is abandoned with its connection. */
  writeMs: number;
  /** The server is shutting down: each answer closes its connection. */
  closing: () => boolean;
  /** A connection's peer address as the address rules take it (its remoteAddress, or UNIX_SOCKET_PEER). */
  peerAddress: (socket: Socket) => string | undefined;
  /**
   * Update API requests this reader declines (no Host header, past the head limit, split
   * across reads), read beside it (update-connections.ts); absent when the API is off.
   */
  updates?: Pick<UpdateConnections, 'claims' | 'adopt'>;
  /** When set, a read's answers are held until the crash journal holds their records (answer-gate.ts). */
  gate?: AnswerGate | undefined;
}

type ConnectionListener = (this: Server, socket: Socket | Duplex) => void;

/** Bytes waiting behind a request Node is answering before reading stops (a client pipelining far ahead). */
const PENDING_LIMIT = 64 * 1024;

/** A connection this path reads: its socket, and Node's side of it once Node has answered on it. */
interface Owned {
  socket: Socket;
  /** The peer's address (options.peerAddress), read once (Node's getter walks _getpeername on every read). */
  remoteAddress: string | undefined;
  listeners: Record<string, Parameters<Socket['removeListener']>[1]>;
  /** Has answered a request: from then on the keep-alive idle timeout applies. */
  answered: boolean;
  /** Node's HTTP server's view of this connection, made at the first request handed to it. */
  node: NodeSide | undefined;
  /** Node is answering a request handed to it; bytes after it wait in `pending`. */
  nodeBusy: boolean;
  pending: Buffer | undefined;
  /** The client half-closed while Node was answering: end once what is pending is answered. */
  ended: boolean;
  /** Node reads every byte from now on (a request this path could not frame came after Node's side was made). */
  forGood: boolean;
  /** Reads so far: a timeout checks it did not come while the event loop was held up (onTimeout). */
  reads: number;
  /** answered(this connection), made once: what follows a read's answers once the gate lets them out. */
  afterAnswers: () => void;
}

/** What is left to do after a read's answers are written. */
const enum Left {
  /** answered(): idle timing and the write watch. */
  answered,
  /** end the connection (Connection: close, or shutting down). */
  end,
  /** The rest went to Node or the update API (the gate was let go first). */
  handedOver,
}

/**
 * The tracker's own HTTP/1.1 connection reader, below Node's HTTP server. Each new
 * connection starts here: plain announces and scrapes (see request-head.ts) are
 * read from the socket's bytes and answered with a pre-built response head, with
 * no IncomingMessage, ServerResponse or header objects.
 *
 * Any other request whose end is certain (a head without a body: /alive, /metrics,
 * a 404, HEAD, an escaped passkey) is handed to Node's HTTP server alone, through
 * a Duplex standing in for the socket (NodeSide; Node's documented way to inject a
 * connection); bytes after it wait until Node's answer is written, and then this
 * path reads the connection again. A request this path cannot frame (a body, a
 * head split across reads, HTTP/1.0, anything odd) hands the connection to Node
 * for good from that byte on — the socket itself when Node has not yet seen it —
 * so unusual input gets exactly Node's answer.
 */
export class AnnounceConnections {
  private readonly nodeListeners: ConnectionListener[];
  private readonly owned = new Set<Owned>();
  /** Connections with an answer still being written (one write timer each). */
  private readonly writing = new Set<Socket>();
  private readonly head: AnnounceHead = emptyHead();
  private dateSecond = -1;
  private date = '';
  /** The answer heads up to `Content-Length: ` as bytes, remade once a second (the Date header). */
  private keepAliveHead: Buffer = Buffer.alloc(0);
  private closeHead: Buffer = Buffer.alloc(0);

  constructor(
    private readonly server: Server,
    private readonly answer: AnswerAnnounce,
    private readonly answerScrape: AnswerScrape,
    private readonly options: AnnounceConnectionOptions,
    private readonly stats: Pick<RequestStats, 'connections' | 'connectionsHandedOver' | 'requestsHandedOver'>,
  ) {
    // Node's HTTP server wires a connection up in its 'connection' listener; it runs only on hand-over.
    this.nodeListeners = server.listeners('connection') as ConnectionListener[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => this.own(socket));
    // The end of Node's answer on a connection of ours: this path reads it again.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      const side = req.socket;
      if (side instanceof NodeSide) res.once('finish', () => this.nodeAnswered(side.connection));
    });
  }

  /**
   * Shutting down (with options.closing() now true, so what still comes is answered
   * with Connection: close and its connection closed): idle connections close now.
   * One whose request Node is answering closes after that answer (nodeAnswered);
   * one Node reads for good is Node's to close.
   */
  closeIdle(): void {
    for (const connection of this.owned) {
      if (connection.nodeBusy || connection.forGood) continue;
      const { socket } = connection;
      if (socket.writableLength === 0) socket.destroy();
      else socket.end();
    }
  }

  private own(socket: Socket): void {
    this.stats.connections++;
    socket.setTimeout(this.options.readMs);
    const connection: Owned = {
      socket,
      remoteAddress: this.options.peerAddress(socket),
      listeners: {},
      answered: false,
      node: undefined,
      nodeBusy: false,
      pending: undefined,
      ended: false,
      forGood: false,
      reads: 0,
      afterAnswers: () => this.answered(connection),
    };
    this.owned.add(connection);
    const listeners = {
      data: (chunk: Buffer) => this.onData(connection, chunk),
      timeout: () => this.onTimeout(connection),
      end: () => this.onEnd(connection),
      error: () => socket.destroy(),
      close: () => {
        this.owned.delete(connection);
        this.writing.delete(socket);
        connection.node?.destroy();
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
    connection.reads++;
    if (connection.forGood) {
      if (!connection.node!.push(chunk)) connection.socket.pause();
      return;
    }
    if (connection.nodeBusy) {
      this.hold(connection, chunk);
      return;
    }
    this.serve(connection, chunk);
  }

  /** Answers the requests in `chunk` in order, until one goes to Node. */
  private serve(connection: Owned, chunk: Buffer): void {
    const gate = this.options.gate;
    if (gate === undefined) {
      const left = this.serveRead(connection, chunk);
      if (left === Left.answered) this.answered(connection);
      else if (left === Left.end) connection.socket.end();
      return;
    }
    // The crash journal: this read's answers stay corked until the records of their announces are written.
    gate.hold(connection.socket);
    const left = this.serveRead(connection, chunk);
    if (left !== Left.handedOver) gate.release(connection.socket, left === Left.answered ? connection.afterAnswers : endSocket);
  }

  /**
   * Before Node (or the update API) may write to, end or destroy the socket: the answers
   * already written go out now, after their journal records (written synchronously).
   */
  private letGo(socket: Socket): void {
    const gate = this.options.gate;
    if (gate === undefined) return;
    gate.writeNow();
    socket.uncork();
  }

  private serveRead(connection: Owned, chunk: Buffer): Left {
    const { socket } = connection;
    const head = this.head;
    let at = 0;
    while (at < chunk.length) {
      const next = readRequestHead(chunk, at, this.options, head);
      if (next === -1) {
        const rest = at === 0 ? chunk : chunk.subarray(at);
        const updates = this.options.updates;
        // Only while Node has never seen the connection: once it has, it keeps its state.
        this.letGo(socket);
        if (updates !== undefined && connection.node === undefined && updates.claims(rest)) {
          this.release(connection);
          updates.adopt(socket, rest);
        } else {
          this.handOver(connection, rest);
        }
        return Left.handedOver;
      }
      if (head.route === Route.Other) {
        this.letGo(socket);
        this.handRequest(connection, chunk.subarray(at, next), next < chunk.length ? chunk.subarray(next) : undefined);
        return Left.handedOver;
      }
      at = next;
      const scrape = head.route === Route.Scrape;
      const body = scrape
        ? this.answerScrape(head.passkey, head.target)
        : this.answer(head.passkey, head.target, head.proxyValue, head.forwardedFor, connection.remoteAddress);
      const close = head.close || this.options.closing();
      socket.write(scrape ? this.scrapeResponse(body, close) : this.response(body, close));
      // Whatever else the client sent is not read (as Node does after Connection: close).
      if (close) return Left.end;
    }
    return Left.answered;
  }

  /** After answers written on the socket: keep-alive idle timing, and the write watch. */
  private answered(connection: Owned): void {
    const { socket } = connection;
    if (!connection.answered) {
      connection.answered = true;
      socket.setTimeout(this.options.idleMs);
    }
    if (socket.writableLength > 0 && !this.writing.has(socket)) this.watchWrite(connection);
  }

  /** Bytes that came while Node answers: kept in order, reading paused once there are many. */
  private hold(connection: Owned, chunk: Buffer): void {
    connection.pending = connection.pending === undefined ? chunk : Buffer.concat([connection.pending, chunk]);
    if (connection.pending.length >= PENDING_LIMIT) connection.socket.pause();
  }

  /** Node answers this one request (`request`: its head, no body); `rest` waits for the answer. */
  private handRequest(connection: Owned, request: Buffer, rest: Buffer | undefined): void {
    const { socket } = connection;
    this.stats.requestsHandedOver++;
    connection.nodeBusy = true;
    connection.pending = undefined;
    if (rest !== undefined) this.hold(connection, rest);
    // Node's own request timeouts apply while it has the request (its connections check).
    socket.setTimeout(0);
    if (connection.node === undefined) {
      connection.node = new NodeSide(connection);
      for (const listener of this.nodeListeners) listener.call(this.server, connection.node);
    }
    connection.node.push(request);
  }

  /** Node's answer to the request handed to it is written: read the connection again. */
  private nodeAnswered(connection: Owned): void {
    if (connection.forGood) return;
    connection.nodeBusy = false;
    const { socket, node } = connection;
    // Node closes the connection (Connection: close, HTTP/1.0, a parse error): it ends the socket.
    if (socket.destroyed || node === undefined || node.writableEnded || node.destroyed) {
      connection.pending = undefined;
      return;
    }
    const pending = connection.pending;
    connection.pending = undefined;
    connection.answered = true;
    socket.setTimeout(this.options.idleMs);
    if (socket.writableLength > 0 && !this.writing.has(socket)) this.watchWrite(connection);
    if (socket.isPaused() && !this.writing.has(socket)) socket.resume();
    if (pending !== undefined) this.serve(connection, pending);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- serve() may have handed the connection to Node, ended or destroyed it
    if (connection.nodeBusy || connection.forGood || socket.destroyed || socket.writableEnded) return;
    if (!connection.ended && !this.options.closing()) return;
    // Answers the gate still holds go out (after their journal records) before the end.
    this.letGo(socket);
    if (connection.ended || socket.writableLength > 0) socket.end();
    else socket.destroy();
  }

  /**
   * The read or keep-alive idle timeout. After the event loop was held up (a long
   * collection, a starved process) timers run before the loop reads the sockets, so a
   * client whose request arrived in time would be cut: the verdict waits until after
   * this turn's reads (setImmediate runs after the poll phase).
   */
  private onTimeout(connection: Owned): void {
    if (connection.forGood) {
      connection.node!.emit('timeout');
      return;
    }
    const reads = connection.reads;
    setImmediate(() => {
      const { socket } = connection;
      if (connection.reads === reads && !connection.nodeBusy && !socket.destroyed) socket.destroy();
    });
  }

  /** The client half-closed: what it sent is answered, then the connection ends (Node's httpAllowHalfOpen = false). */
  private onEnd(connection: Owned): void {
    if (connection.forGood) connection.node!.push(null);
    else if (connection.nodeBusy) connection.ended = true;
    else {
      this.letGo(connection.socket);
      connection.socket.end();
    }
  }

  /** A client that pipelines without reading: stop reading until it does, and give up after writeMs. */
  private watchWrite(connection: Owned): void {
    const { socket } = connection;
    this.writing.add(socket);
    const timer = setTimeout(() => {
      if (socket.writableLength > 0) socket.destroy();
    }, this.options.writeMs);
    timer.unref();
    if (socket.writableLength >= socket.writableHighWaterMark) socket.pause();
    socket.once('drain', () => {
      clearTimeout(timer);
      this.writing.delete(socket);
      if (this.owned.has(connection) && !connection.forGood && !this.holding(connection)) socket.resume();
    });
  }

  /** Reading is paused because many bytes wait behind Node's answer. */
  private holding(connection: Owned): boolean {
    return connection.nodeBusy && (connection.pending?.length ?? 0) >= PENDING_LIMIT;
  }

  /** From `rest` on, the connection is Node's (see the class comment). */
  private handOver(connection: Owned, rest: Buffer): void {
    const { socket } = connection;
    this.stats.connectionsHandedOver++;
    if (connection.node !== undefined) {
      // Node already holds this connection's state in its side: feed it every byte from here.
      connection.forGood = true;
      socket.setTimeout(0);
      if (!connection.node.push(rest)) socket.pause();
      return;
    }
    this.owned.delete(connection);
    for (const [event, listener] of Object.entries(connection.listeners)) socket.removeListener(event, listener);
    socket.setTimeout(0);
    // With no 'data' listener the bytes wait in the stream's buffer; Node's listener
    // resumes the stream and its parser reads them before anything newer.
    socket.unshift(rest);
    for (const listener of this.nodeListeners) listener.call(this.server, socket);
  }

  /** This path lets go of a connection Node has never seen (the update reader takes it). */
  private release(connection: Owned): void {
    const { socket } = connection;
    this.owned.delete(connection);
    for (const [event, listener] of Object.entries(connection.listeners)) socket.removeListener(event, listener);
    socket.setTimeout(0);
  }

  private refreshDate(): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.date = new Date(second * 1000).toUTCString();
      const start = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${this.date}\r\n`;
      this.keepAliveHead = Buffer.from(
        `${start}Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.options.idleMs / 1000)}\r\nContent-Length: `,
        'latin1',
      );
      this.closeHead = Buffer.from(`${start}Connection: close\r\nContent-Length: `, 'latin1');
    }
  }

  /**
   * Status line and headers as Node would send them, then the body, in one buffer: copied as
   * bytes with the length's digits written in place (a string head made per answer was a rope
   * flattened again for every answer).
   */
  private response(body: Buffer, close: boolean): Buffer {
    this.refreshDate();
    const head = close ? this.closeHead : this.keepAliveHead;
    const length = body.length;
    const out = Buffer.allocUnsafe(head.length + decimalLength(length) + 4 + length);
    out.set(head, 0);
    let at = writeDecimal(out, head.length, length);
    out[at++] = 13; // \r\n\r\n
    out[at++] = 10;
    out[at++] = 13;
    out[at++] = 10;
    out.set(body, at);
    return out;
  }

  /** A scrape's answer, byte for byte as fastify's route sends it (its header names and order). */
  private scrapeResponse(body: Buffer, close: boolean): Buffer {
    this.refreshDate();
    const connection = close
      ? 'Connection: close'
      : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.options.idleMs / 1000)}`;
    return withHead(
      `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nDate: ${this.date}\r\n${connection}\r\n\r\n`,
      body,
    );
  }
}

function withHead(head: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  return out;
}

/**
 * Node's HTTP server's side of a connection this path reads: a Duplex it parses
 * requests from and writes answers to, standing in for the socket. It is fed one
 * request head at a time (AnnounceConnections.handRequest), or every byte once
 * Node has the connection for good; what Node writes goes to the socket in order.
 */
class NodeSide extends Duplex {
  constructor(readonly connection: Owned) {
    super({ allowHalfOpen: true });
  }

  get remoteAddress(): string | undefined {
    return this.connection.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.connection.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.connection.socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.connection.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.connection.socket.localPort;
  }

  /** Node's keep-alive and server timeouts: the socket's own once Node reads it for good; until then this path times it. */
  setTimeout(ms: number): this {
    if (this.connection.forGood) this.connection.socket.setTimeout(ms);
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }

  override _read(): void {
    const { socket, forGood } = this.connection;
    if (forGood && socket.isPaused()) socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const { socket } = this.connection;
    if (socket.destroyed) {
      callback(new Error('socket closed'));
      return;
    }
    socket.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.connection.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const { connection } = this;
    // Node gives up on the connection (a parse error, a timeout, shutdown) while it has it; when it
    // only sees it idle between requests this path reads (closeIdleConnections), the socket is this path's.
    if (connection.nodeBusy || connection.forGood) connection.socket.destroy();
    if (connection.node === this) connection.node = undefined;
    callback(error);
  }
}

const endSocket = (socket: Socket): void => {
  socket.end();
};
