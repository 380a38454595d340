/**
 * The ceiling for this machine: a bare fastify route that answers every
 * announce with a fixed bencoded body (a compact answer of 50 peers), every scrape
 * with a fixed one-torrent answer, keep-alive.
 *   node dist/bench/bare.js <port> [threads]   (prints "listening <port>")
 *
 * threads 0 (the default): the route on the main thread. threads N ≥ 1: N worker
 * threads, each with its own fastify, accepting on one listening socket (the first
 * worker's; the others listen on its file descriptor, which Node 20 allows without
 * SO_REUSEPORT): what more threads buy an HTTP server on this machine.
 */
import Fastify from 'fastify';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const peers = Buffer.alloc(50 * 6, 7);
const head = Buffer.from('d8:completei30e10:downloadedi12e10:incompletei70e8:intervali1800e12:min intervali900e5:peers300:', 'latin1');
const ANSWER = Buffer.concat([head, peers, Buffer.from('e')]);
const SCRAPE = Buffer.from(
  `d5:filesd20:${'x'.repeat(20)}d8:completei30e10:downloadedi12e10:incompletei70eee5:flagsd20:min_request_intervali900eee`,
  'latin1',
);

type Reply = { type(t: string): { send(b: Buffer): unknown } };

async function bareRoute(listen: { port: number } | { fd: number }): Promise<{ port: number; fd: number; close(): Promise<void> }> {
  const app = Fastify({ logger: false, keepAliveTimeout: 120_000 });
  const answer = (_request: unknown, reply: Reply): unknown => reply.type('text/plain').send(ANSWER);
  const answerScrape = (_request: unknown, reply: Reply): unknown => reply.type('text/plain').send(SCRAPE);
  app.get('/:passkey/announce', answer);
  app.get('/announce', answer);
  app.get('/:passkey/scrape', answerScrape);
  app.get('/scrape', answerScrape);
  if ('port' in listen) await app.listen({ host: '127.0.0.1', port: listen.port });
  else {
    await app.ready();
    await new Promise<void>((resolve) => app.server.listen({ fd: listen.fd }, resolve));
  }
  const address = app.server.address();
  const handle = (app.server as unknown as { _handle?: { fd?: number } })._handle;
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    fd: handle?.fd ?? -1,
    close: () => app.close(),
  };
}

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 0);
  const threads = Number(process.argv[3] ?? 0);
  if (threads === 0) {
    const route = await bareRoute({ port });
    process.stdout.write(`listening ${route.port}\n`);
    process.on('SIGTERM', () => void route.close().then(() => process.exit(0)));
    return;
  }
  const first = new Worker(new URL(import.meta.url), { workerData: { port } });
  const listening = await new Promise<{ port: number; fd: number }>((resolve) => first.once('message', resolve));
  for (let i = 1; i < threads; i++) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { fd: listening.fd } });
    await new Promise((resolve) => worker.once('message', resolve));
  }
  process.stdout.write(`listening ${listening.port}\n`);
  process.on('SIGTERM', () => process.exit(0));
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
} else {
  const data = workerData as { port: number } | { fd: number };
  bareRoute(data).then(
    (route) => parentPort!.postMessage({ port: route.port, fd: route.fd }),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
