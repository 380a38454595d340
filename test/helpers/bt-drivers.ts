/**
 * The BitTorrent clients private-tracker users run, each driven the way its users drive it
 * (issue 14): qBittorrent through its Web API, Deluge through deluge-console, rTorrent
 * through XML-RPC over SCGI, libtorrent-rasterbar through its Python binding. Each is a
 * real process from Debian's packages with a folder of its own, the tracker as its only
 * peer source (no DHT, LSD, PEX, UPnP or NAT-PMP), and one torrent.
 *
 * A driver gives the same few verbs for each: progress, pause and resume (a user's pause:
 * the client announces event=stopped, then event=started), quit (a graceful exit: it
 * announces event=stopped first) and start again on the same folders (a restart).
 */
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClientProcess, freePort } from './bt-clients.js';
import { eventually } from './tracker.js';

export type ClientFamily = 'qbittorrent' | 'deluge' | 'rtorrent' | 'libtorrent';

/** Binaries each family needs, with the Debian package that has them (scripts/test.sh installs them). */
export const FAMILY_BINARIES: Record<ClientFamily, Record<string, string>> = {
  qbittorrent: { 'qbittorrent-nox': 'qbittorrent-nox' },
  deluge: { deluged: 'deluged', 'deluge-console': 'deluge-console' },
  rtorrent: { rtorrent: 'rtorrent' },
  // /usr/bin/python3 with the binding: checked when the client starts.
  libtorrent: {},
};

export interface ClientOptions {
  /** For logs and messages: "qbittorrent leecher". */
  name: string;
  /** The client's own folder (configuration, session state, logs). */
  home: string;
  /** Where the payload is (seeder) or goes (leecher). */
  saveDir: string;
  /** The .torrent, with this user's announce URL. */
  torrentFile: string;
  /** Hex info hash of the torrent. */
  infoHash: string;
  /** Upload limit in KiB/s (0: none). A throttled seeder keeps a download going long enough to pause it. */
  uploadLimitKiB: number;
}

export interface RunningClient {
  readonly name: string;
  /** The running process (a restart makes a new one). */
  process(): ClientProcess;
  /** Fraction of the payload the client has verified, 0..1. */
  progress(): Promise<number>;
  /** A user's pause: the torrent stops (event=stopped). */
  pause(): Promise<void>;
  /** A user's resume (event=started). */
  resume(): Promise<void>;
  /** A graceful exit: event=stopped, then the process ends with status 0. */
  quit(): Promise<void>;
  /** Starts the client again on the same folders; it picks the torrent up where it was. */
  restart(): Promise<void>;
  /** Cleanup after a failed test. */
  kill(): Promise<void>;
}

export async function startClient(family: ClientFamily, options: ClientOptions): Promise<RunningClient> {
  mkdirSync(options.home, { recursive: true });
  switch (family) {
    case 'qbittorrent':
      return QBittorrent.start(options);
    case 'deluge':
      return Deluge.start(options);
    case 'rtorrent':
      return RTorrent.start(options);
    case 'libtorrent':
      return Libtorrent.start(options);
  }
}

/** The base of the four: one process at a time, restarted by `launch`. */
abstract class Driver implements RunningClient {
  protected current!: ClientProcess;
  private launches = 0;

  constructor(readonly options: ClientOptions) {}

  get name(): string {
    return this.options.name;
  }

  process(): ClientProcess {
    return this.current;
  }

  /** Starts the process and waits until it takes commands; adds the torrent on the first launch. */
  protected abstract launch(first: boolean): Promise<void>;
  abstract progress(): Promise<number>;
  abstract pause(): Promise<void>;
  abstract resume(): Promise<void>;
  protected abstract requestExit(): Promise<void>;

  protected spawn(command: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ClientProcess {
    this.launches++;
    const log = join(this.options.home, `out-${this.launches}.log`);
    this.current = new ClientProcess(this.name, command, args, log, this.options.home, stdin);
    return this.current;
  }

  async quit(): Promise<void> {
    await this.requestExit();
    const status = await this.current.waitForExit(30_000);
    if (status !== 0) throw new Error(`${this.name} exited with ${status}; its log:\n${this.current.log().slice(-3000)}`);
  }

  async restart(): Promise<void> {
    if (this.current.running) throw new Error(`${this.name}: restart while running`);
    await this.launch(false);
  }

  async kill(): Promise<void> {
    await this.current?.kill();
  }
}

// --- qBittorrent (libtorrent-rasterbar underneath), Web API v2 on 127.0.0.1 -------------

class QBittorrent extends Driver {
  private webPort = 0;

  static async start(options: ClientOptions): Promise<QBittorrent> {
    const client = new QBittorrent(options);
    client.webPort = await freePort();
    const configDir = join(options.home, 'profile', 'qBittorrent', 'config');
    mkdirSync(configDir, { recursive: true });
    // SSRFMitigation: libtorrent refuses a tracker on a local address whose path is not
    // /announce, and a private tracker's path is /<passkey>/announce.
    writeFileSync(
      join(configDir, 'qBittorrent.conf'),
      [
        '[LegalNotice]',
        'Accepted=true',
        '[Preferences]',
        `WebUI\\Port=${client.webPort}`,
        'WebUI\\Address=127.0.0.1',
        'WebUI\\LocalHostAuth=false',
        'WebUI\\CSRFProtection=false',
        'WebUI\\HostHeaderValidation=false',
        '[BitTorrent]',
        'Session\\DHTEnabled=false',
        'Session\\PeXEnabled=false',
        'Session\\LSDEnabled=false',
        'Session\\QueueingSystemEnabled=false',
        `Session\\Port=${await freePort()}`,
        'Session\\SSRFMitigation=false',
        `Session\\GlobalUPSpeedLimit=${options.uploadLimitKiB}`,
        '[Network]',
        'PortForwardingEnabled=false',
        '',
      ].join('\n'),
    );
    await client.launch(true);
    return client;
  }

  private api(path: string, body?: FormData | URLSearchParams): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.webPort}/api/v2/${path}`, body === undefined ? {} : { method: 'POST', body });
  }

  protected async launch(first: boolean): Promise<void> {
    this.spawn('qbittorrent-nox', [`--profile=${join(this.options.home, 'profile')}`]);
    await eventually(
      async () =>
        (await this.api('app/version').then(
          (r) => r.ok,
          () => false,
        )) || undefined,
      30_000,
      `${this.name}: Web API up`,
    );
    if (!first) return;
    const form = new FormData();
    form.append('torrents', new Blob([readFileSync(this.options.torrentFile)]), 'file.torrent');
    form.append('savepath', this.options.saveDir);
    const added = await this.api('torrents/add', form);
    if (!added.ok) throw new Error(`${this.name}: torrents/add answered ${added.status} ${await added.text()}`);
  }

  async progress(): Promise<number> {
    const info = (await (await this.api(`torrents/info?hashes=${this.options.infoHash}`)).json()) as { progress: number }[];
    return info[0]?.progress ?? 0;
  }

  async pause(): Promise<void> {
    await this.api('torrents/pause', new URLSearchParams({ hashes: this.options.infoHash }));
  }

  async resume(): Promise<void> {
    await this.api('torrents/resume', new URLSearchParams({ hashes: this.options.infoHash }));
  }

  protected async requestExit(): Promise<void> {
    await this.api('app/shutdown', new URLSearchParams());
  }
}

// --- Deluge 2 (libtorrent-rasterbar underneath): deluged, commands through deluge-console --

class Deluge extends Driver {
  private rpcPort = 0;

  static async start(options: ClientOptions): Promise<Deluge> {
    const client = new Deluge(options);
    client.rpcPort = await freePort();
    const listen = await freePort();
    writeFileSync(join(options.home, 'auth'), 'localclient:hayate-test:10\n');
    // core.conf is two JSON objects: the file's version, then the settings (deluged fills
    // in defaults for the rest).
    const settings = {
      listen_ports: [listen, listen],
      random_port: false,
      dht: false,
      lsd: false,
      upnp: false,
      natpmp: false,
      utpex: false,
      new_release_check: false,
      queue_new_to_top: false,
      max_active_limit: -1,
      max_active_downloading: -1,
      max_active_seeding: -1,
      max_upload_speed: options.uploadLimitKiB > 0 ? options.uploadLimitKiB : -1,
      download_location: options.saveDir,
      enabled_plugins: [],
    };
    writeFileSync(join(options.home, 'core.conf'), `{"file": 1, "format": 1}${JSON.stringify(settings, null, 2)}`);
    await client.launch(true);
    return client;
  }

  /**
   * Runs deluge-console commands against this daemon; resolves with what they printed.
   * Asynchronous: the tracker and the other swarms of the test run in this process.
   */
  private console(commands: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'deluge-console',
        ['-c', this.options.home, '-L', 'none', `connect 127.0.0.1:${this.rpcPort} localclient hayate-test; ${commands}`],
        { encoding: 'utf8', timeout: 60_000 },
        (error, stdout, stderr) => {
          if (error !== null) reject(new Error(`${this.name}: deluge-console "${commands}" failed: ${error.message} ${stderr}${stdout}`));
          else resolve(stdout);
        },
      );
    });
  }

  protected async launch(first: boolean): Promise<void> {
    // -L none: Deluge 2.0.3's logging wrapper breaks on Python 3.11 (a TypeError per log line).
    this.spawn('deluged', ['-c', this.options.home, '-p', String(this.rpcPort), '-d', '-L', 'none']);
    await eventually(() => portOpen(this.rpcPort), 30_000, `${this.name}: RPC port open`);
    if (first) await this.console(`add -p ${this.options.saveDir} ${this.options.torrentFile}`);
  }

  async progress(): Promise<number> {
    const out = await this.console(`info -v ${this.options.infoHash}`);
    const match = /Progress: ([\d.]+)%/.exec(out);
    if (match !== null) return Number(match[1]) / 100;
    // A complete torrent shows no progress bar: it is seeding.
    return /State: Seeding/.test(out) ? 1 : 0;
  }

  async pause(): Promise<void> {
    await this.console(`pause ${this.options.infoHash}`);
  }

  async resume(): Promise<void> {
    await this.console(`resume ${this.options.infoHash}`);
  }

  protected async requestExit(): Promise<void> {
    // SIGTERM: deluged saves its state and pauses the session, which announces event=stopped.
    this.current.child.kill('SIGTERM');
  }
}

// --- rTorrent 0.9.8 (rakshasa's libtorrent), a daemon driven over XML-RPC/SCGI ----------

class RTorrent extends Driver {
  private scgiPort = 0;

  static async start(options: ClientOptions): Promise<RTorrent> {
    const client = new RTorrent(options);
    client.scgiPort = await freePort();
    const listen = await freePort();
    mkdirSync(join(options.home, 'session'), { recursive: true });
    writeFileSync(
      join(options.home, 'rtorrent.rc'),
      [
        'system.daemon.set = true',
        `session.path.set = ${join(options.home, 'session')}`,
        `directory.default.set = ${options.saveDir}`,
        `network.port_range.set = ${listen}-${listen}`,
        'network.port_random.set = no',
        'dht.mode.set = disable',
        'protocol.pex.set = no',
        'trackers.use_udp.set = no',
        `throttle.global_up.max_rate.set_kb = ${options.uploadLimitKiB}`,
        `network.scgi.open_port = 127.0.0.1:${client.scgiPort}`,
        // What it did and when (kept with HAYATE_E2E_KEEP=1): connections, each tracker request
        // and answer, and the torrent's own steps (opened, checked, started, paused, closed).
        `log.open_file = lt, ${join(options.home, 'rtorrent.log')}`,
        'log.add_output = info, lt',
        'log.add_output = tracker_debug, lt',
        'log.add_output = peer_list_events, lt',
        'log.add_output = torrent_info, lt',
        'log.add_output = storage_info, lt',
        '',
      ].join('\n'),
    );
    await client.launch(true);
    return client;
  }

  protected async launch(first: boolean): Promise<void> {
    this.spawn('rtorrent', ['-n', '-o', `import=${join(this.options.home, 'rtorrent.rc')}`]);
    await eventually(() => portOpen(this.scgiPort), 30_000, `${this.name}: SCGI port open`);
    if (first) await this.call('load.start_verbose', '', this.options.torrentFile);
  }

  /** One XML-RPC call over SCGI; returns the response body. */
  private async call(method: string, ...params: string[]): Promise<string> {
    const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params
      .map((p) => `<param><value><string>${escape(p)}</string></value></param>`)
      .join('')}</params></methodCall>`;
    const headers = `CONTENT_LENGTH\0${Buffer.byteLength(body)}\0SCGI\x001\0REQUEST_METHOD\0POST\0`;
    const socket = connect(this.scgiPort, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.end(`${Buffer.byteLength(headers)}:${headers},${body}`);
    await once(socket, 'close');
    const response = Buffer.concat(chunks).toString('utf8');
    if (response.includes('<fault>')) throw new Error(`${this.name}: ${method} failed: ${response}`);
    return response;
  }

  private async integer(method: string): Promise<number> {
    const match = /<(?:i8|i4|int)>(-?\d+)</.exec(await this.call(method, this.options.infoHash.toUpperCase()));
    return match === null ? 0 : Number(match[1]);
  }

  async progress(): Promise<number> {
    const size = await this.integer('d.size_bytes');
    return size === 0 ? 0 : (await this.integer('d.completed_bytes')) / size;
  }

  /**
   * rTorrent's stop (^S): closes the torrent and announces event=stopped; d.pause would not announce.
   * It is sent once rTorrent is running the torrent with no finish pending (`stoppable`): a stop
   * that lands while rTorrent checks a just-finished download again is not announced at all.
   */
  async pause(): Promise<void> {
    await eventually(
      async () => ((await this.stoppable()) ? true : undefined),
      60_000,
      `${this.name}: torrent running, its finish (if any) confirmed, before the stop`,
    );
    await this.call('d.stop', this.options.infoHash.toUpperCase());
  }

  /**
   * Whether a stop now would be announced. rTorrent (libtorrent 0.13.8) sends event=stopped only
   * for a torrent it is running (d.is_active); a d.stop on a closed one just sets it stopped.
   * And a download is closed for a while when it finishes: once its last piece is verified (so
   * its progress already reads 1) rTorrent closes it without a tracker request, checks the whole
   * payload again (pieces.hash.on_completion, on by default), and only then marks it complete
   * (d.complete = 1) and starts it again. A d.stop in between cancels that check and announces
   * nothing, then or later (the torrent stays closed), or hangs rTorrent: the d.stop is never
   * answered (every time here with a 64 MiB payload; with this test's, a try that ran past its
   * timeout, once after "found bad chunks"). So: running, not being checked, and either not
   * finished or its finish confirmed. One d.multicall2 reads all of it at one instant.
   */
  private async stoppable(): Promise<boolean> {
    const response = await this.call(
      'd.multicall2',
      '',
      'main',
      'd.is_active=',
      'd.hashing=',
      'd.complete=',
      'd.completed_bytes=',
      'd.size_bytes=',
    );
    // One torrent per client: its five integers, in the order asked.
    const values = [...response.matchAll(/<(?:i8|i4|int)>(-?\d+)</g)].map((m) => Number(m[1]));
    if (values.length !== 5) throw new Error(`${this.name}: d.multicall2 answered ${response}`);
    const [active, hashing, complete, completedBytes, sizeBytes] = values as [number, number, number, number, number];
    return active === 1 && hashing === 0 && (complete === 1 || completedBytes < sizeBytes);
  }

  async resume(): Promise<void> {
    await this.call('d.start', this.options.infoHash.toUpperCase());
  }

  protected async requestExit(): Promise<void> {
    // A normal shutdown stops every torrent (event=stopped) and waits for the announces.
    await this.call('system.shutdown.normal');
  }
}

// --- libtorrent-rasterbar 2.0 through its Python binding (lt_client.py) -----------------

const LT_CLIENT = fileURLToPath(new URL('./lt_client.py', import.meta.url));

class Libtorrent extends Driver {
  private lastStatus = { progress: 0 };
  private listenPort = 0;

  static async start(options: ClientOptions): Promise<Libtorrent> {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import libtorrent'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(
        `libtorrent's Python binding is missing (${probe.error?.message ?? probe.stderr.trim()}). ` +
          'Install it (as root: apt-get install -y python3-libtorrent); scripts/test.sh does this on a fresh machine.',
      );
    }
    const client = new Libtorrent(options);
    client.listenPort = await freePort();
    await client.launch(true);
    return client;
  }

  protected async launch(_first: boolean): Promise<void> {
    // Debian's python3 (the binding is a Debian package, not a pip one).
    const child = this.spawn(
      '/usr/bin/python3',
      [LT_CLIENT, this.options.torrentFile, this.options.saveDir, String(this.listenPort), String(this.options.uploadLimitKiB * 1024)],
      'pipe',
    );
    child.child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.startsWith('{"progress"')) continue;
        try {
          this.lastStatus = JSON.parse(line) as { progress: number };
        } catch {
          // a line split across chunks: the next report comes within a second
        }
      }
    });
    child.child.stdin?.on('error', () => undefined);
  }

  private send(command: string): void {
    this.current.child.stdin!.write(`${command}\n`);
  }

  async progress(): Promise<number> {
    return this.lastStatus.progress;
  }

  async pause(): Promise<void> {
    this.send('pause');
  }

  async resume(): Promise<void> {
    this.send('resume');
  }

  protected async requestExit(): Promise<void> {
    this.send('quit');
  }
}

function portOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}
