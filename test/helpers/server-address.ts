/**
 * mysql2 connection options for the MariaDB server a root URL (mysql://root:@host:port, what
 * global-setup provides as dbRootUrl) names; no vitest import, so the global setup can use it too.
 */
export function serverAddress(rootUrl: string): { host: string; port: number; user: string; password: string } {
  const root = new URL(rootUrl);
  return {
    host: root.hostname,
    port: Number(root.port || 3306),
    user: decodeURIComponent(root.username),
    password: decodeURIComponent(root.password),
  };
}
