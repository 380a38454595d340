#!/usr/bin/env node
// Generates the README's configuration reference from config.schema.json, and copies the
// deployment files the documents show (<!-- include:PATH --> … <!-- include:end -->) into
// README.md and the docs/ files listed in DOCUMENTS.
//   node scripts/config-reference.mjs          rewrite them between the markers
//   node scripts/config-reference.mjs --check  exit 1 when one of them is out of date
//   node scripts/config-reference.mjs --print  print the table
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const START = '<!-- config-reference:start -->';
export const END = '<!-- config-reference:end -->';

const repo = fileURLToPath(new URL('..', import.meta.url));
/** The documents this script keeps up to date; the configuration reference is in README.md. */
export const DOCUMENTS = ['README.md', 'docs/deployment.md'];

/** One row per leaf key, in schema order: [dotted key, type, default, description]. */
export function referenceRows(schema) {
  const rows = [];
  const walk = (node, prefix) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (child.type === 'object' && child.properties) walk(child, `${prefix}${key}.`);
      else rows.push([prefix + key, child.type ?? '', JSON.stringify(child.default), child.description ?? '']);
    }
  };
  walk(schema, '');
  return rows;
}

const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ');

export function referenceTable(schema) {
  const lines = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  for (const [key, type, def, description] of referenceRows(schema)) {
    lines.push(`| \`${cell(key)}\` | ${cell(type)} | \`${cell(def)}\` | ${cell(description)} |`);
  }
  return lines.join('\n');
}

/** The README with the section between the markers replaced by the table. */
export function withReference(readme, table) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1 || end < start) throw new Error(`README.md lacks the markers ${START} … ${END}`);
  return `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
}

const fenceLanguage = { conf: 'nginx', service: 'ini' };

/** The document with every include section holding the named file in a fenced block. */
export function withIncludes(readme, read) {
  return readme.replace(/(<!-- include:(?!end)([^ >]+) -->)[\s\S]*?(<!-- include:end -->)/g, (_, open, path, close) => {
    const language = fenceLanguage[path.split('.').pop()] ?? '';
    return `${open}\n\`\`\`${language}\n${read(path).trimEnd()}\n\`\`\`\n${close}`;
  });
}

function main(args) {
  const schema = JSON.parse(readFileSync(`${repo}config.schema.json`, 'utf8'));
  const table = referenceTable(schema);
  if (args.includes('--print')) {
    process.stdout.write(`${table}\n`);
    return 0;
  }
  const stale = [];
  for (const document of DOCUMENTS) {
    const text = readFileSync(`${repo}${document}`, 'utf8');
    const withTable = document === 'README.md' ? withReference(text, table) : text;
    const updated = withIncludes(withTable, (path) => readFileSync(`${repo}${path}`, 'utf8'));
    if (updated === text) continue;
    stale.push(document);
    if (!args.includes('--check')) writeFileSync(`${repo}${document}`, updated);
  }
  if (args.includes('--check')) {
    if (stale.length === 0) return 0;
    console.error(`${stale.join(', ')} out of date (configuration reference or included files): run node scripts/config-reference.mjs`);
    return 1;
  }
  console.error(stale.length === 0 ? 'documents already up to date' : `updated ${stale.join(', ')}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
