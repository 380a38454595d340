import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, listenAddress, loadConfig, parseConfig } from '../src/config/config.js';
import { parseDsn, redact } from '../src/config/dsn.js';

const dir = mkdtempSync(join(tmpdir(), 'hayate-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Every key SPEC §10 names, with chihaya's default. */
const specDefaults = {
  database: { dsn: 'chihaya:@tcp(127.0.0.1:3306)/chihaya', deadlock_pause: 1, deadlock_retries: 5 },
  channels: { torrents: 5000, users: 5000, transfer_history: 5000, transfer_ips: 5000, snatches: 25 },
  intervals: {
    announce: 1800,
    min_announce: 900,
    announce_drift: 300,
    peer_inactivity: 4200,
    scrape: 900,
    database_reload: 45,
    database_serialize: 68,
    purge_inactive_peers: 120,
    flush: 3,
  },
  http: {
    addr: ':34000',
    socket_mode: '0660',
    proxy_header: '',
    trusted_proxies: ['127.0.0.0/8', '::1'],
    timeout: { read: 300, write: 300, idle: 300 },
  },
  announce: { strict_port: false, numwant: 25, max_numwant: 50, ipv6: false },
  journal: { enabled: true, fdatasync: false, segment_bytes: 67_108_864, accounting_thread: true },
  record_announces: false,
  enable_scrape: true,
  enable_metrics: false,
  log_flushes: true,
  site_password: '',
  site_addresses: [],
};

/** A production chihaya config.json, as an operator would have it (Go DSN form). */
const chihayaConfig = `{
  "database": {
    "dsn": "chihaya:s3cret@tcp(10.0.0.5:3306)/gazelle",
    "deadlock_pause": 2,
    "deadlock_retries": 10
  },
  "channels": {
    "torrents": 10000,
    "users": 10000,
    "transfer_history": 20000,
    "transfer_ips": 20000,
    "snatches": 100
  },
  "intervals": {
    "announce": 2400,
    "min_announce": 1200,
    "announce_drift": 600,
    "peer_inactivity": 6000,
    "scrape": 1200,
    "database_reload": 60,
    "database_serialize": 120,
    "purge_inactive_peers": 180,
    "flush": 5
  },
  "http": {
    "addr": "127.0.0.1:34000",
    "proxy_header": "X-Real-Ip",
    "timeout": { "read": 500, "write": 500, "idle": 60 }
  },
  "announce": { "strict_port": true, "numwant": 30, "max_numwant": 80 },
  "record_announces": true,
  "enable_scrape": false,
  "enable_metrics": true,
  "log_flushes": false
}
`;

describe('defaults', () => {
  it('fills in every key of SPEC §10 from an empty object', () => {
    expect(parseConfig({}, {})).toEqual(specDefaults);
    expect(defaultConfig()).toEqual(specDefaults);
  });

  it('fills in the keys a partial section leaves out', () => {
    const config = parseConfig({ intervals: { announce: 60 }, http: { timeout: { idle: 5 } } }, {});
    expect(config.intervals).toEqual({ ...specDefaults.intervals, announce: 60 });
    expect(config.http).toEqual({ ...specDefaults.http, timeout: { read: 300, write: 300, idle: 5 } });
    expect(config.database).toEqual(specDefaults.database);
  });

  it('does not modify the object it was given', () => {
    const raw = { intervals: { announce: 60 } };
    parseConfig(raw, {});
    expect(raw).toEqual({ intervals: { announce: 60 } });
  });

  it('a missing file means defaults, and says so', () => {
    const path = join(dir, 'does-not-exist.json');
    const loaded = loadConfig(path, {});
    expect(loaded.config).toEqual(specDefaults);
    expect(loaded.source).toContain('defaults');
    expect(loaded.source).toContain(path);
  });
});

describe("chihaya's config.json", () => {
  it('is accepted unchanged, every value kept (Go DSN form)', () => {
    const path = writeConfig('chihaya.json', chihayaConfig);
    const loaded = loadConfig(path, {});
    expect(loaded.source).toBe(path);
    expect(loaded.unknownKeys).toEqual([]);
    // Every chihaya value kept; hayate's own keys get their defaults (the update API: off).
    const chihaya = JSON.parse(chihayaConfig);
    expect(loaded.config).toEqual({
      ...chihaya,
      http: { ...chihaya.http, socket_mode: '0660', trusted_proxies: ['127.0.0.0/8', '::1'] },
      announce: { ...chihaya.announce, ipv6: false },
      site_password: '',
      site_addresses: [],
      journal: { enabled: true, fdatasync: false, segment_bytes: 67_108_864, accounting_thread: true },
    });
    expect(parseDsn(loaded.config.database.dsn)).toEqual({
      host: '10.0.0.5',
      port: 3306,
      user: 'chihaya',
      password: 's3cret',
      database: 'gazelle',
    });
  });

  it('is accepted with a mysql:// URL as the DSN', () => {
    const raw = JSON.parse(chihayaConfig) as { database: { dsn: string } };
    raw.database.dsn = 'mysql://chihaya:s3cret@10.0.0.5:3307/gazelle';
    const loaded = loadConfig(writeConfig('chihaya-url.json', JSON.stringify(raw)), {});
    expect(loaded.config.database.dsn).toBe('mysql://chihaya:s3cret@10.0.0.5:3307/gazelle');
    expect(parseDsn(loaded.config.database.dsn)).toEqual({
      host: '10.0.0.5',
      port: 3307,
      user: 'chihaya',
      password: 's3cret',
      database: 'gazelle',
    });
  });

  it('reports keys hayate does not know (typos) without rejecting them', () => {
    const loaded = loadConfig(writeConfig('typo.json', '{"intervals": {"anounce": 5}, "enable_metric": true}'), {});
    expect(loaded.unknownKeys.sort()).toEqual(['enable_metric', 'intervals.anounce']);
    expect(loaded.config.intervals.announce).toBe(1800);
  });
});

describe('DB_DSN', () => {
  it('wins over the file', () => {
    const path = writeConfig('dsn.json', chihayaConfig);
    const loaded = loadConfig(path, { DB_DSN: 'mysql://root:@127.0.0.1:3306/override' });
    expect(loaded.config.database.dsn).toBe('mysql://root:@127.0.0.1:3306/override');
  });

  it('wins over the default', () => {
    expect(parseConfig({}, { DB_DSN: 'u:p@tcp(db:3306)/site' }).database.dsn).toBe('u:p@tcp(db:3306)/site');
  });

  it('is ignored when empty', () => {
    expect(parseConfig({}, { DB_DSN: '' }).database.dsn).toBe(specDefaults.database.dsn);
  });
});

describe('invalid values', () => {
  const cases: Array<[string, unknown, string]> = [
    ['intervals.announce', { intervals: { announce: 'soon' } }, 'must be integer'],
    ['http.addr', { http: { addr: 5 } }, 'must be string'],
    ['announce.numwant', { announce: { numwant: -1 } }, 'must be >= 0'],
    ['http.timeout.read', { http: { timeout: { read: 0 } } }, 'must be >= 1'],
    ['enable_scrape', { enable_scrape: 'yes' }, 'must be boolean'],
    ['database.dsn', { database: { dsn: '' } }, 'must NOT have fewer than 1 characters'],
    ['intervals', { intervals: 45 }, 'must be object'],
    [
      'http.addr',
      { http: { addr: 'localhost' } },
      'must be host:port, [IPv6 address]:port, :port (every interface) or unix:/absolute/path (got "localhost")',
    ],
    ['http.socket_mode', { http: { socket_mode: 'rw-rw----' } }, 'must be octal permissions such as 0660'],
    ['intervals.flush', { intervals: { flush: 1.5 } }, 'must be integer'],
    ['site_password', { site_password: 'short' }, 'must be empty (the update API off) or at least 16 characters'],
    ['site_password', { site_password: 'has/a/slash/in/it/0123' }, 'at least 16 characters of A-Z a-z 0-9 _ . ~ - (got 22 characters)'],
    ['site_addresses', { site_addresses: ['10.0.0.300'] }, 'is not an address or CIDR'],
    ['site_addresses', { site_addresses: ['10.0.0.0/33'] }, 'prefix length must be 0..32'],
  ];

  it.each(cases)('%s: a ConfigError naming the key and the problem', (key, raw, problem) => {
    let error: unknown;
    try {
      parseConfig(raw, {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(`${key}: `);
    expect(message).toContain(problem);
  });

  it('names every bad key at once, with the offending value', () => {
    expect(() => parseConfig({ intervals: { announce: 'soon' }, announce: { numwant: -1 } }, {})).toThrow(
      /intervals\.announce: must be integer \(got "soon"\).*announce\.numwant: must be >= 0 \(got -1\)/,
    );
  });

  it('rejects a port out of range in http.addr', () => {
    expect(() => parseConfig({ http: { addr: ':99999' } }, {})).toThrow(ConfigError);
    expect(() => parseConfig({ http: { addr: ':99999' } }, {})).toThrow(/http\.addr/);
  });

  it('rejects a config that is not an object', () => {
    expect(() => parseConfig([], {})).toThrow(ConfigError);
    expect(() => parseConfig('x', {})).toThrow(ConfigError);
    expect(() => parseConfig(null, {})).toThrow(ConfigError);
  });

  it('invalid JSON in the file is a clear error naming the file', () => {
    const path = writeConfig('broken.json', '{"intervals": {"announce": 1800,}}');
    expect(() => loadConfig(path, {})).toThrow(ConfigError);
    expect(() => loadConfig(path, {})).toThrow(`${path} is not valid JSON`);
  });

  it('an unreadable path (a directory) is a clear error', () => {
    expect(() => loadConfig(dir, {})).toThrow(ConfigError);
    expect(() => loadConfig(dir, {})).toThrow(`cannot read ${dir}`);
  });
});

describe('numwant', () => {
  it('is capped at max_numwant', () => {
    expect(parseConfig({ announce: { numwant: 80, max_numwant: 50 } }, {}).announce).toEqual({
      strict_port: false,
      numwant: 50,
      max_numwant: 50,
      ipv6: false,
    });
  });
});

describe('listenAddress', () => {
  it.each([
    [':34000', { host: '0.0.0.0', port: 34000 }],
    ['127.0.0.1:34000', { host: '127.0.0.1', port: 34000 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
    ['unix:/run/hayate/hayate.sock', { path: '/run/hayate/hayate.sock' }],
  ])('%s', (addr, expected) => {
    expect(listenAddress(addr)).toEqual(expected);
  });

  it('takes a Unix socket path and its mode, and refuses what listen() could not use', () => {
    const config = parseConfig({ http: { addr: 'unix:/run/hayate/hayate.sock', socket_mode: '0666' } }, {});
    expect(config.http.addr).toBe('unix:/run/hayate/hayate.sock');
    expect(config.http.socket_mode).toBe('0666');
    expect(parseConfig({}, {}).http.socket_mode).toBe('0660');
    expect(() => parseConfig({ http: { addr: 'unix:relative.sock' } }, {})).toThrow(/http\.addr/);
    expect(() => parseConfig({ http: { addr: `unix:/${'a'.repeat(107)}` } }, {})).toThrow(
      'invalid configuration: http.addr: a Unix socket path is at most 107 bytes (got 108)',
    );
    expect(() => parseConfig({ http: { addr: `unix:/${'a'.repeat(106)}` } }, {})).not.toThrow();
    expect(() => parseConfig({ http: { socket_mode: '0999' } }, {})).toThrow(/http\.socket_mode/);
  });
});

describe('parseDsn', () => {
  it("chihaya's default", () => {
    expect(parseDsn('chihaya:@tcp(127.0.0.1:3306)/chihaya')).toEqual({
      host: '127.0.0.1',
      port: 3306,
      user: 'chihaya',
      password: '',
      database: 'chihaya',
    });
  });

  it('Go form with options, a host name and no port', () => {
    expect(parseDsn('site:pw@tcp(db.internal)/gazelle?parseTime=true&charset=utf8mb4')).toEqual({
      host: 'db.internal',
      port: 3306,
      user: 'site',
      password: 'pw',
      database: 'gazelle',
    });
  });

  it('Go form with a password holding @ and :', () => {
    expect(parseDsn('u:p@ss:w@rd@tcp(10.1.2.3:3310)/db')).toMatchObject({ user: 'u', password: 'p@ss:w@rd', host: '10.1.2.3', port: 3310 });
  });

  it('Go form without an address (default host and port)', () => {
    expect(parseDsn('root@/chihaya')).toEqual({ host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'chihaya' });
  });

  it('Go form with an IPv6 address', () => {
    expect(parseDsn('u:p@tcp([::1]:3306)/db')).toMatchObject({ host: '::1', port: 3306 });
  });

  it('unix socket (Go form)', () => {
    expect(parseDsn('chihaya:pw@unix(/run/mysqld/mysqld.sock)/chihaya')).toEqual({
      socketPath: '/run/mysqld/mysqld.sock',
      user: 'chihaya',
      password: 'pw',
      database: 'chihaya',
    });
  });

  it('mysql:// URL with escapes, default port, and mariadb:// scheme', () => {
    expect(parseDsn('mysql://site%40x:p%2Fw@db.internal/gaz%5Felle')).toEqual({
      host: 'db.internal',
      port: 3306,
      user: 'site@x',
      password: 'p/w',
      database: 'gaz_elle',
    });
    expect(parseDsn('mariadb://root@127.0.0.1:3407/t')).toMatchObject({ host: '127.0.0.1', port: 3407, database: 't' });
  });

  it('mysql:// URL with an IPv6 host', () => {
    expect(parseDsn('mysql://root@[::1]:3306/db')).toMatchObject({ host: '::1', port: 3306 });
  });

  it.each([
    ['u:p@tcp(127.0.0.1:abc)/db', /bad port/],
    ['u:p@tcp(127.0.0.1:0)/db', /bad port/],
    ['u:p@tcp(127.0.0.1:70000)/db', /bad port/],
    ['u:p@tcp(127.0.0.1:)/db', /bad port/],
    ['mysql://u:p@127.0.0.1:70000/db', /not a valid URL/],
    ['mysql://u:p@127.0.0.1:3306', /no database name/],
    ['mysql://u:p@127.0.0.1:3306/', /no database name/],
    ['u:p@tcp(127.0.0.1:3306)/', /no database name/],
    ['just some words', /expected user:pass@tcp\(host:port\)\/dbname/],
    ['u:p@udp(127.0.0.1:3306)/db', /expected/],
  ])('%s is a ConfigError', (dsn, message) => {
    expect(() => parseDsn(dsn)).toThrow(ConfigError);
    expect(() => parseDsn(dsn)).toThrow(message);
  });

  it('never puts the password in its messages', () => {
    for (const dsn of [
      'u:hunter2@tcp(127.0.0.1:abc)/db',
      'mysql://u:hunter2@127.0.0.1:70000/db',
      'mysql://u:hunter2@127.0.0.1/',
      // Malformed chihaya forms (no tcp(…)): the kind that ends up quoted in the message.
      'u:hunter2@127.0.0.1/db?x',
      'u:hunter2@127.0.0.1:3306',
      'u:hun@ter2@tcp(h:1)',
    ]) {
      expect(() => parseDsn(dsn)).toThrow(/database\.dsn/);
      try {
        parseDsn(dsn);
      } catch (err) {
        expect((err as Error).message).not.toContain('hunter2');
      }
    }
    expect(redact('u:hunter2@tcp(h:1)/d')).toBe('u:***@tcp(h:1)/d');
    expect(redact('mysql://u:hunter2@h/d')).toBe('mysql://u:***@h/d');
    expect(redact('u:hunter2@127.0.0.1/x')).toBe('u:***@127.0.0.1/x');
    expect(redact('u:p@ss@tcp(h:1)/d')).toBe('u:***@tcp(h:1)/d');
    expect(redact('u@tcp(h:1)/d')).toBe('u@tcp(h:1)/d');
    expect(redact('tcp(h:1)/d')).toBe('tcp(h:1)/d');
  });
});

describe('config.schema.json', () => {
  it('has a description and a default for every leaf key', () => {
    const schema = JSON.parse(readFileSync(new URL('../config.schema.json', import.meta.url), 'utf8')) as SchemaNode;
    const leaves: string[] = [];
    const walk = (node: SchemaNode, prefix: string): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        if (child.type === 'object') walk(child, `${prefix}${key}.`);
        else {
          leaves.push(prefix + key);
          expect(child.description, `${prefix}${key}`).toBeTruthy();
          expect(child.default, `${prefix}${key}`).not.toBeUndefined();
        }
      }
    };
    walk(schema, '');
    expect(leaves.length).toBe(38);
  });
});

interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
}
