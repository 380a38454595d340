import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBencode, encodeBencode } from '../src/bencode/codec.js';
import { bencodeToJsonText, jsonToBencode } from '../src/bencode/json.js';

const root = resolve(import.meta.dirname, '..');
const TOOL = join(root, 'dist/cmd/bencode.js');

// The tool as built (scripts/test.sh builds first). Rebuilding dist/ here raced other test
// files starting the tracker from it: a file caught mid-write failed their start.
beforeAll(() => {
  if (!existsSync(TOOL)) throw new Error(`${TOOL} is missing: run \`npm run build\` first (scripts/test.sh does)`);
});

function tool(args: string[], input: Buffer | string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn('node', [TOOL, ...args]);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

/** A .torrent built by hand: binary pieces and a size beyond 2^53 (no tool makes one that big). */
function realTorrent(): Buffer {
  const s = (text: string | Buffer) => {
    const b = typeof text === 'string' ? Buffer.from(text) : text;
    return Buffer.concat([Buffer.from(`${b.length}:`), b]);
  };
  const pieces = randomBytes(20 * 64);
  const info = Buffer.concat([
    Buffer.from('d'),
    s('files'),
    Buffer.from('l'),
    Buffer.from('d'),
    s('length'),
    Buffer.from('i9007199254740993e'),
    s('path'),
    Buffer.from('l'),
    s('Disc 1'),
    s('01 トラック.flac'),
    Buffer.from('e'),
    Buffer.from('e'),
    Buffer.from('d'),
    s('length'),
    Buffer.from('i1234e'),
    s('path'),
    Buffer.from('l'),
    s('cover.jpg'),
    Buffer.from('e'),
    Buffer.from('e'),
    Buffer.from('e'),
    s('name'),
    s('Album (2024) [FLAC]'),
    s('piece length'),
    Buffer.from('i262144e'),
    s('pieces'),
    s(pieces),
    s('private'),
    Buffer.from('i1e'),
    Buffer.from('e'),
  ]);
  return Buffer.concat([
    Buffer.from('d'),
    s('announce'),
    s('https://tracker.example/0123456789abcdef0123456789abcdef/announce'),
    s('created by'),
    s('hayate test'),
    s('creation date'),
    Buffer.from('i1700000000e'),
    s('info'),
    info,
    Buffer.from('e'),
  ]);
}

describe('bencode tool', () => {
  it('decode | encode reproduces a real .torrent byte for byte', async () => {
    const torrent = realTorrent();
    const decoded = await tool(['decode'], torrent);
    expect(decoded.code).toBe(0);
    const json = JSON.parse(decoded.stdout.toString());
    expect(json.info.files[0].length).toEqual({ $int: '9007199254740993' });
    expect(json.info.files[0].path).toEqual(['Disc 1', '01 トラック.flac']);
    expect(json.info['piece length']).toBe(262144);
    expect(json.info.pieces.$hex).toMatch(/^[0-9a-f]{2560}$/);
    const encoded = await tool(['encode'], decoded.stdout);
    expect(encoded.code).toBe(0);
    expect(createHash('sha1').update(encoded.stdout).digest('hex')).toBe(createHash('sha1').update(torrent).digest('hex'));
    expect(encoded.stdout.equals(torrent)).toBe(true);
  });

  it('`bencode decode | bencode encode` reproduces a .torrent made by transmission-create, byte for byte', async () => {
    // A real tool's output (Debian transmission-cli; scripts/test.sh installs it): private, multi-file, binary pieces.
    const dir = await mkdtemp(join(tmpdir(), 'hayate-torrent-'));
    try {
      await mkdir(join(dir, 'Album'));
      await writeFile(join(dir, 'Album', '01 トラック.flac'), randomBytes(300_000));
      await writeFile(join(dir, 'Album', 'cover.jpg'), randomBytes(12_345));
      await promisify(execFile)('transmission-create', [
        '-p',
        '-o',
        join(dir, 'real.torrent'),
        '-t',
        'https://tracker.example/0123456789abcdef0123456789abcdef/announce',
        join(dir, 'Album'),
      ]).catch((err: unknown) => {
        throw new Error(
          `transmission-create failed (apt-get install transmission-cli; scripts/test.sh installs it): ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      });
      const piped = await promisify(execFile)('sh', ['-c', `node ${TOOL} decode < real.torrent | node ${TOOL} encode > again.torrent`], {
        cwd: dir,
      });
      expect(piped.stderr).toBe('');
      const [original, again] = await Promise.all([readFile(join(dir, 'real.torrent')), readFile(join(dir, 'again.torrent'))]);
      expect(original.length).toBeGreaterThan(100);
      expect(again.equals(original)).toBe(true);
      const json = JSON.parse((await tool(['decode'], original)).stdout.toString());
      expect(json.info.private).toBe(1);
      expect(json.info.pieces.$hex).toMatch(/^([0-9a-f]{40})+$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps unsorted dicts, non-UTF-8 keys and look-alike dicts exact', () => {
    for (const raw of [
      'd1:bi1e1:ai2ee', // unsorted
      'd2:\xff\xfei1ee', // binary key
      'd4:$hex2:abe', // would read as {"$hex"}
      'd4:$inti-12345678901234567890123ee',
      'li-9007199254740993ei9007199254740991ee',
      'le',
      'de',
      '0:',
    ]) {
      const bytes = Buffer.from(raw, 'latin1');
      const json = JSON.parse(bencodeToJsonText(decodeBencode(bytes)));
      expect(encodeBencode(jsonToBencode(json)).equals(bytes), raw).toBe(true);
    }
  });

  it('encode sorts keys of a hand-written JSON object by bytes', async () => {
    const r = await tool(['encode'], '{"b": 1, "a": "x", "10": [], "9": {"$int": "18446744073709551616"}}');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.toString()).toBe('d2:10le1:9i18446744073709551616e1:a1:x1:bi1ee');
  });

  it('bad input exits 1 with one line; bad usage exits 2', async () => {
    for (const [args, input, message] of [
      [['decode'], 'i12', /^bencode: invalid bencode: truncated integer at byte 3\n$/],
      [['decode'], 'i03e', /^bencode: invalid bencode: leading zero in integer at byte 1\n$/],
      [['decode'], '5:abc', /^bencode: invalid bencode: truncated string/],
      [['decode'], 'i1ei2e', /trailing bytes/],
      [['decode'], 'l'.repeat(5000), /nesting deeper than 1000/],
      [['encode'], '{"a": 1.5}', /^bencode: cannot encode: \$\.a: 1\.5 is not an integer/],
      [['encode'], '{"a": 9007199254740993}', /\$int/],
      [['encode'], '[null]', /^bencode: cannot encode: \$\[0\]: null has no bencode form\n$/],
      [['encode'], '{"a": ', /^bencode: invalid JSON/],
    ] as const) {
      const r = await tool([...args], input);
      expect(r.code, input).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
    expect((await tool([], '')).code).toBe(2);
    expect((await tool(['frob'], '')).code).toBe(2);
    const unknown = await tool(['--frob'], '');
    expect(unknown).toMatchObject({ code: 2, stderr: "bencode: unknown option '--frob'\n" });
  });
});
