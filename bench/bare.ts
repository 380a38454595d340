/**
 * The ceiling for this machine: a bare fastify route that answers every
 * announce with a fixed bencoded body (a compact answer of 50 peers), every scrape
 * with a fixed one-torrent answer, keep-alive.
 *   node dist/bench/bare.js <port>   (prints "listening <port>")
 */
import Fastify from 'fastify';

const peers = Buffer.alloc(50 * 6, 7);
const head = Buffer.from('d8:completei30e10:downloadedi12e10:incompletei70e8:intervali1800e12:min intervali900e5:peers300:', 'latin1');
const ANSWER = Buffer.concat([head, peers, Buffer.from('e')]);

const app = Fastify({ logger: false, keepAliveTimeout: 120_000 });
const answer = (_request: unknown, reply: { type(t: string): { send(b: Buffer): unknown } }): unknown =>
  reply.type('text/plain').send(ANSWER);
app.get('/:passkey/announce', answer);
app.get('/announce', answer);
const SCRAPE = Buffer.from(
  `d5:filesd20:${'x'.repeat(20)}d8:completei30e10:downloadedi12e10:incompletei70eee5:flagsd20:min_request_intervali900eee`,
  'latin1',
);
const answerScrape = (_request: unknown, reply: { type(t: string): { send(b: Buffer): unknown } }): unknown =>
  reply.type('text/plain').send(SCRAPE);
app.get('/:passkey/scrape', answerScrape);
app.get('/scrape', answerScrape);

const port = Number(process.argv[2] ?? 0);
app.listen({ host: '127.0.0.1', port }).then(
  () => {
    const address = app.server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : port}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
