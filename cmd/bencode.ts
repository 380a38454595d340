#!/usr/bin/env node
/**
 * bencode decode: bencode on stdin -> indented JSON on stdout.
 * bencode encode: JSON on stdin -> bencode on stdout.
 * Exit codes: 0 done, 1 bad input (one line on stderr), 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { BencodeError, decodeBencode, encodeBencode } from '../src/bencode/codec.js';
import { bencodeToJsonText, JsonMappingError, jsonToBencode } from '../src/bencode/json.js';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function writeStdout(data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}

class InputError extends Error {}

const program = new Command('bencode')
  .description('convert between bencode and JSON (stdin to stdout); see README "Tools" for the JSON form')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });

program
  .command('decode')
  .description('read bencode on stdin, write indented JSON on stdout')
  .action(async () => {
    const input = await readStdin();
    let value;
    try {
      value = decodeBencode(input);
    } catch (err) {
      if (err instanceof BencodeError) throw new InputError(`invalid bencode: ${err.message}`);
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
      throw new InputError(`invalid JSON: ${(err as Error).message}`);
    }
    try {
      await writeStdout(encodeBencode(jsonToBencode(json)));
    } catch (err) {
      if (err instanceof JsonMappingError) throw new InputError(`cannot encode: ${err.message}`);
      throw err;
    }
  });

try {
  if (process.argv.length <= 2) {
    program.outputHelp({ error: true });
    process.exitCode = 2;
  } else {
    await program.parseAsync(process.argv);
  }
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof InputError) {
    process.stderr.write(`bencode: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`bencode: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
