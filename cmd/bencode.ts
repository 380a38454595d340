#!/usr/bin/env node
/**
 * bencode decode: bencode on stdin -> indented JSON on stdout.
 * bencode encode: JSON on stdin -> bencode on stdout.
 * Exit codes: 0 done, 1 bad input (one line on stderr), 2 usage.
 */
import { Command } from 'commander';
import { BencodeError, decodeBencode, encodeBencode } from '../src/bencode/codec.js';
import { runCli } from '../src/cli.js';
import { packageVersion } from '../src/version.js';
import { bencodeToJsonText, JsonMappingError, jsonToBencode } from '../src/bencode/json.js';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function writeStdout(data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}

const program = new Command('bencode')
  .description('convert between bencode and JSON (stdin to stdout); see README "Tools" for the JSON form')
  .version(packageVersion(), '-V, --version')
  .exitOverride()
  // Commander's `error: …` as the tool's other one-line errors: `bencode: …`.
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'bencode: ')) });

program
  .command('decode')
  .description('read bencode on stdin, write indented JSON on stdout')
  .action(async () => {
    const input = await readStdin();
    let value;
    try {
      value = decodeBencode(input);
    } catch (err) {
      if (err instanceof BencodeError) throw new Error(`invalid bencode: ${err.message}`, { cause: err });
      throw err;
    }
    await writeStdout(`${bencodeToJsonText(value)}\n`);
  });

program
  .command('encode')
  .description('read JSON on stdin, write bencode on stdout')
  .action(async () => {
    const input = (await readStdin()).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(input);
    } catch (err) {
      throw new Error(`invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    try {
      await writeStdout(encodeBencode(jsonToBencode(json)));
    } catch (err) {
      if (err instanceof JsonMappingError) throw new Error(`cannot encode: ${err.message}`, { cause: err });
      throw err;
    }
  });

await runCli('bencode', program);
