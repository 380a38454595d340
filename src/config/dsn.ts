import { ConfigError } from './config.js';

export interface DatabaseAddress {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password: string;
  database: string;
}

/**
 * Parses chihaya's Go-style DSN (user:pass@tcp(host:port)/db?opts, or
 * user:pass@unix(/path)/db) or a mysql:// URL. Throws ConfigError naming `source`
 * (where the value came from: the config key, or the DB_DSN variable that overrides it).
 */
export function parseDsn(dsn: string, source = 'database.dsn'): DatabaseAddress {
  if (/^(mysql|mariadb):\/\//i.test(dsn)) {
    let url: URL;
    try {
      url = new URL(dsn);
    } catch {
      throw new ConfigError(`${source}: not a valid URL (${redact(dsn)})`);
    }
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (!database) throw new ConfigError(`${source}: no database name in ${redact(dsn)}`);
    return {
      host: unbracket(url.hostname) || '127.0.0.1',
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database,
    };
  }
  const match = /^(?:([^:@]*)(?::(.*))?@)?(?:(tcp|unix)\(([^)]*)\))?\/([^?]*)(?:\?.*)?$/.exec(dsn);
  if (match === null) {
    throw new ConfigError(`${source}: expected user:pass@tcp(host:port)/dbname or mysql://… (got ${redact(dsn)})`);
  }
  const [, user = '', password = '', protocol = 'tcp', address = '', database = ''] = match;
  if (!database) throw new ConfigError(`${source}: no database name in ${redact(dsn)}`);
  if (protocol === 'unix') return { socketPath: address, user, password, database };
  const idx = address.lastIndexOf(':');
  const host = idx === -1 ? address : address.slice(0, idx);
  const port = idx === -1 ? 3306 : Number(address.slice(idx + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`${source}: bad port in ${redact(dsn)}`);
  }
  return { host: unbracket(host) || '127.0.0.1', port, user, password, database };
}

/** "[::1]" → "::1": URLs and Go DSNs bracket IPv6 hosts, the socket layer wants them bare. */
function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * The DSN with its password hidden, for messages: whatever lies between the user's ':' and the
 * last '@' is `***`, in any form (a URL, chihaya's `user:pass@tcp(…)/db`, or a malformed one such as
 * `user:pass@host/db`, which is exactly the kind that ends up in an error message).
 */
export function redact(dsn: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(dsn)?.[0] ?? '';
  const rest = dsn.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at === -1 || colon === -1 || colon > at) return dsn;
  return `${scheme}${rest.slice(0, colon + 1)}***${rest.slice(at)}`;
}
