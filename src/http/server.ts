import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { announce } from '../tracker/announce.js';
import type { TrackerContext } from '../tracker/context.js';
import { Failure } from '../tracker/failures.js';
import { scrape } from '../tracker/scrape.js';
import { AnnounceConnections } from './announce-connections.js';
import { clientErrorAnswer } from './client-error.js';
import type { AnswerGate } from './answer-gate.js';
import { UNIX_SOCKET_PEER } from '../protocol/address.js';
import { trackerPath, TrackerPath, type PathMatch } from '../protocol/path.js';
import { parseTrackerQuery } from '../protocol/query.js';
import { UpdateConnections, type UpdateHandler } from './update-connections.js';

export interface HttpDeps {
  ctx: TrackerContext;
  config: Config;
  metrics: Metrics;
  logger: Logger;
  /** Unix milliseconds; injectable for tests. */
  clock?: () => number;
  /** The crash journal: announce answers go out only once it holds their records. */
  gate?: AnswerGate | undefined;
  /** GET /health's status and JSON body (load balancers, monitoring); without it /health is a 404. */
  health?: () => { status: number; body: unknown };
  /** The update API (src/update/); absent or not enabled: /<x>/update is a 404. */
  updates?: UpdateHandler & { enabled: boolean };
  /**
   * False while the start waits for the database before replaying the crash journal
   * (src/app.ts): every announce and scrape is answered `Tracker is starting up` (interval
   * 30) without reading or changing anything. Absent: always true.
   */
  ready?: () => boolean;
}

const TEXT = 'text/plain';
const NOT_FOUND = Buffer.from('404 page not found\n');
/** The passkey of the path being routed (reused: requests are routed one at a time). */
const pathMatch: PathMatch = { passkey: '' };
/** The longest update request head read from the site (a bulk action of ~30,000 passkeys). */
const MAX_UPDATE_HEAD_BYTES = 1024 * 1024;
/** Time the site has to send one update request head, in ms (at least http.timeout.read). */
const UPDATE_READ_MS = 10_000;

/**
 * The HTTP surface (SPEC §4): GET /<passkey>/announce, /<passkey>/scrape,
 * /alive, /metrics; everything else 404. Tracker answers are always 200
 * text/plain (clients only read a failure reason from a 200).
 */
export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const { ctx, config, metrics, logger } = deps;
  const clock = deps.clock ?? Date.now;
  const ready = deps.ready ?? (() => true);
  const stats = metrics.requests;
  const { primaryHeader, listHeader } = ctx.addresses;
  const timeouts = config.http.timeout;
  const maxHeaderSize = 8 * 1024;
  let connections: AnnounceConnections | undefined;
  const updates = deps.updates?.enabled ? deps.updates : undefined;
  /** Set by preClose: answers close their connections from then on (every path). */
  let closing = false;
  /** Listening on a Unix socket (http.addr unix:/path): its connections have no remote address. */
  let unixSocket = false;
  /** A connection's peer address as the address rules take it (UNIX_SOCKET_PEER over the Unix socket). */
  const peerAddressOf = (socket: Socket | null | undefined): string | undefined =>
    socket?.remoteAddress ?? (unixSocket ? UNIX_SOCKET_PEER : undefined);
  /** The peer's address. Node's docs allow request.socket to be "internally nulled", which its type does not say. */
  const remoteAddressOf = (req: IncomingMessage): string | undefined => peerAddressOf(req.socket);

  // The instance's type follows its logger's: as fastify's base logger, the app is a plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    // No per-request log lines: at thousands of announces a second they would be the main cost.
    logController: new LogController({ disableRequestLogging: true }),
    // We parse the raw query ourselves (binary-safe); skip fastify's parser.
    routerOptions: { querystringParser: () => ({}) },
    // Keep-alive behind nginx; idle connections close after http.timeout.idle.
    keepAliveTimeout: timeouts.idle * 1000,
    requestTimeout: timeouts.read,
    return503OnClosing: false,
    // What Node's parser rejects (a head over maxHeaderSize, a malformed request) gets a bencoded failure.
    clientErrorHandler: clientErrorAnswer(maxHeaderSize),
    forceCloseConnections: 'idle',
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
      const server = createServer(
        {
          requestTimeout: timeouts.read,
          headersTimeout: timeouts.read,
          keepAliveTimeout: timeouts.idle * 1000,
          // Node checks request timeouts on this period (default 30 s, far too coarse for 300 ms).
          connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(timeouts.read / 2))),
          maxHeaderSize,
        },
        // The hot path: a plain GET /<passkey>/announce is answered here, before fastify
        // builds its request and reply objects; everything else goes through fastify.
        (req, res) => {
          if (!answerAnnounce(req, res)) handler(req, res);
        },
      );
      server.maxRequestsPerSocket = 0;
      server.on('listening', () => {
        unixSocket = typeof server.address() === 'string';
      });
      // Below that, plain announces are read from the socket's bytes (announce-connections.ts).
      connections = new AnnounceConnections(
        server,
        answerAnnounceSafely,
        answerScrapeSafely,
        {
          proxyHeader: Buffer.from(primaryHeader, 'latin1'),
          listHeader: Buffer.from(listHeader, 'latin1'),
          maxHeadBytes: maxHeaderSize,
          maxHeaders: 100,
          // With scrapes off, a scrape is fastify's 404. Read per scrape: SIGHUP may change it.
          scrape: () => config.enable_scrape,
          readMs: timeouts.read,
          idleMs: timeouts.idle * 1000,
          writeMs: timeouts.write,
          closing: () => closing,
          peerAddress: peerAddressOf,
          gate: deps.gate,
          updates:
            updates === undefined
              ? undefined
              : new UpdateConnections(updates, {
                  maxHeadBytes: maxHeaderSize,
                  maxSiteHeadBytes: MAX_UPDATE_HEAD_BYTES,
                  readMs: Math.max(timeouts.read, UPDATE_READ_MS),
                  peerAddress: peerAddressOf,
                }),
        },
        stats,
      );
      return server;
    },
  });

  // A response the client does not read within http.timeout.write is abandoned.
  const watchWrite = (socket: Socket | null): void => {
    if (socket && socket.writableLength > 0) {
      const timer = setTimeout(() => {
        if (socket.writableLength > 0) socket.destroy();
      }, timeouts.write);
      timer.unref();
      socket.once('drain', () => clearTimeout(timer));
    }
  };
  app.addHook('onResponse', (request, _reply, done) => {
    watchWrite(request.raw.socket);
    done();
  });

  app.addHook('preClose', (done) => {
    closing = true;
    connections?.closeIdle();
    done();
  });

  /** One announce, counted; the same for every path. */
  function announceBody(
    passkey: string,
    target: string,
    proxyAddress: string | undefined,
    forwardedFor: string | undefined,
    socketAddress: string | undefined,
  ): Buffer {
    stats.announces++;
    if (!ready()) return notReady();
    const result = announce(
      ctx,
      { passkey, query: parseTrackerQuery(target), proxyAddress, forwardedFor, socketAddress },
      Math.floor(clock() / 1000),
    );
    if (result.failed) stats.failures++;
    return result.body;
  }

  /** An announce whose unexpected error stays confined to it (no fastify error handler on these paths). */
  function answerAnnounceSafely(
    passkey: string,
    target: string,
    proxyAddress: string | undefined,
    forwardedFor: string | undefined,
    socketAddress: string | undefined,
  ): Buffer {
    try {
      return announceBody(passkey, target, proxyAddress, forwardedFor, socketAddress);
    } catch (err) {
      return internalError(err, target);
    }
  }

  /** One scrape, counted; the same for the socket path and fastify's route. */
  function scrapeBody(passkey: string, target: string): Buffer {
    stats.scrapes++;
    if (!ready()) return notReady();
    const result = scrape(ctx, passkey, parseTrackerQuery(target));
    if (result.failed) stats.failures++;
    return result.body;
  }

  /** A scrape whose unexpected error stays confined to it (as answerAnnounceSafely). */
  function answerScrapeSafely(passkey: string, target: string): Buffer {
    try {
      return scrapeBody(passkey, target);
    } catch (err) {
      return internalError(err, target);
    }
  }

  /** The address headers ctx.addresses reads (Node joins repeated list headers with ', '). */
  const proxyValueOf = (req: IncomingMessage): string | undefined => headerValue(req.headers[primaryHeader]);
  const forwardedForOf = (req: IncomingMessage): string | undefined => (listHeader ? headerValue(req.headers[listHeader]) : undefined);

  /** An announce or scrape before the tracker is ready (deps.ready): the retryable failure, nothing read. */
  function notReady(): Buffer {
    stats.failures++;
    return ctx.failures.get(...Failure.notReady);
  }

  /** An unexpected error in a tracker request: logged, counted, answered as a tracker failure. */
  function internalError(err: unknown, url: string | undefined): Buffer {
    stats.errors++;
    stats.failures++;
    logger.error({ err, url: url?.slice(0, 200) }, 'request failed');
    return ctx.failures.get(...Failure.internalError);
  }

  /**
   * Answers a GET announce (any path trackerPath calls one) on the raw request; returns
   * false (fastify takes the request) for anything else.
   */
  function answerAnnounce(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || trackerPath(url, pathMatch) !== TrackerPath.Announce) return false;
    const body = answerAnnounceSafely(pathMatch.passkey, url, proxyValueOf(req), forwardedForOf(req), remoteAddressOf(req));
    deps.gate?.writeNow(); // Node's response cannot be held like the socket path's: the record is written first
    // While shutting down, close each connection after its answer (as fastify does), so
    // keep-alive clients cannot hold the server open.
    res.writeHead(
      200,
      closing
        ? ['Content-Type', TEXT, 'Content-Length', String(body.length), 'Connection', 'close']
        : ['Content-Type', TEXT, 'Content-Length', String(body.length)],
    );
    res.end(body);
    watchWrite(res.socket);
    return true;
  }

  // Announces and scrapes through fastify, for what the fast paths leave to it (HEAD, a
  // scrape on a connection Node holds): every path not routed otherwise is matched by
  // trackerPath (/<prefix>/<passkey>/announce, repeated slashes, escapes), as on the socket path.
  app.get('*', (request, reply) => {
    const url = request.raw.url ?? '';
    const path = trackerPath(url, pathMatch);
    if (path === TrackerPath.Announce) {
      const passkey = pathMatch.passkey;
      const body = announceBody(passkey, url, proxyValueOf(request.raw), forwardedForOf(request.raw), remoteAddressOf(request.raw));
      deps.gate?.writeNow();
      return reply.type(TEXT).send(body);
    }
    if (path === TrackerPath.Scrape && config.enable_scrape) return reply.type(TEXT).send(scrapeBody(pathMatch.passkey, url));
    stats.other++;
    return reply.code(404).type(TEXT).send(NOT_FOUND);
  });

  // Update requests on a connection Node already holds (the socket path reads the others,
  // update-connections.ts): the same handler, within Node's header limit and Host rule.
  if (updates !== undefined) {
    app.get('/:password/update', async (request, reply) => {
      const answer = await updates.handle(request.raw.url ?? '', remoteAddressOf(request.raw));
      return reply.code(answer.status).type(answer.type).send(answer.body);
    });
  }

  const started = clock();
  app.get('/alive', (_request, reply) => {
    stats.other++;
    const now = clock();
    return reply.type('application/json').send(JSON.stringify({ now, uptime: now - started }));
  });

  // For load balancers and monitoring (docs/operations.md): 200 once the data is loaded, 503 before and while stopping.
  app.get('/health', (_request, reply) => {
    stats.other++;
    if (deps.health === undefined) return reply.code(404).type(TEXT).send(NOT_FOUND);
    const { status, body } = deps.health();
    return reply.code(status).type('application/json').send(JSON.stringify(body));
  });

  app.get('/metrics', async (_request, reply) => {
    stats.other++;
    if (!config.enable_metrics) return reply.code(404).type(TEXT).send(NOT_FOUND);
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });

  app.setNotFoundHandler((_request, reply) => {
    stats.other++;
    return reply.code(404).type(TEXT).send(NOT_FOUND);
  });

  // An unexpected error on a tracker route is answered as a tracker failure (never a 500).
  app.setErrorHandler((error: Error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).type(TEXT).send(`${status} ${error.message}\n`);
    }
    return reply.code(200).type(TEXT).send(internalError(error, request.raw.url));
  });

  return app;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
