import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { torrents, users } from '../fixtures/site.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(`${repo}README.md`, 'utf8');
const deployment = readFileSync(`${repo}docs/deployment.md`, 'utf8');
const script = `${repo}scripts/config-reference.mjs`;

function between(text: string, start: string, end: string, document = 'README.md'): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end, from);
  expect(from, `${document} has ${start}`).toBeGreaterThan(-1);
  expect(to, `${document} has ${end}`).toBeGreaterThan(from);
  return text.slice(from + start.length, to).trim();
}

describe('README.md', () => {
  it('has the configuration reference generated from config.schema.json (run node scripts/config-reference.mjs)', async () => {
    const { stdout } = await run('node', [script, '--print']);
    expect(between(readme, '<!-- config-reference:start -->', '<!-- config-reference:end -->')).toBe(stdout.trim());
  });

  it('lists every configuration key with its default', () => {
    const table = between(readme, '<!-- config-reference:start -->', '<!-- config-reference:end -->');
    const schema = JSON.parse(readFileSync(`${repo}config.schema.json`, 'utf8')) as SchemaNode;
    const leaves: Array<[string, unknown]> = [];
    const walk = (node: SchemaNode, prefix: string): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        if (child.type === 'object') walk(child, `${prefix}${key}.`);
        else leaves.push([prefix + key, child.default]);
      }
    };
    walk(schema, '');
    expect(leaves.length).toBeGreaterThan(0);
    for (const [key, def] of leaves) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`${key}\` | `));
      expect(row, key).toBeDefined();
      expect(row, key).toContain(`| \`${JSON.stringify(def)}\` |`);
    }
  });

  it('shows the deployment files as they are in docs/deployment.md (run node scripts/config-reference.mjs)', () => {
    for (const path of ['deploy/nginx/hayate.conf', 'deploy/systemd/hayate.service']) {
      const shown = between(deployment, `<!-- include:${path} -->`, '<!-- include:end -->', 'docs/deployment.md');
      const body = shown.replace(/^```[a-z]*\n/, '').replace(/\n```$/, '');
      expect(body, path).toBe(readFileSync(`${repo}${path}`, 'utf8').trimEnd());
    }
  });

  it('is what the generator would write, README.md and docs/deployment.md (--check)', async () => {
    await expect(run('node', [script, '--check'])).resolves.toBeDefined();
  });

  it('names the fixture passkeys and info hashes of fixtures/site.ts', () => {
    for (const user of Object.values(users)) expect(readme).toContain(`| ${user.id} | \`${nameOf(users, user)}\` | \`${user.passkey}\` |`);
    for (const torrent of Object.values(torrents)) {
      expect(readme).toContain(`| ${torrent.id} | \`${nameOf(torrents, torrent)}\` | \`${torrent.infoHashHex}\` |`);
    }
  });

  it('gives the two quick-start commands', () => {
    const quickStart = between(readme, '## Quick start', '\n## ');
    expect(quickStart).toContain('bash scripts/dev.sh');
    expect(quickStart).toContain('bash scripts/test.sh');
  });
});

function nameOf<T>(record: Record<string, T>, value: T): string {
  return Object.entries(record).find(([, v]) => v === value)![0];
}

interface SchemaNode {
  type?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
}
