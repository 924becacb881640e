import { existsSync, readFileSync } from 'node:fs';
import { ConnectionOptions, rootCertificates } from 'node:tls';
import type { TlsMode } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/** The Lambda Node.js runtime's CA bundle; it includes the Amazon RDS certificate authorities. */
export const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

type Env = Record<string, string | undefined>;

/**
 * `pg` TLS options for local mode's PGSSLMODE, as libpq reads it: `disable` and `allow` connect without TLS,
 * `no-verify` and `require` encrypt without verifying, `verify-ca` and `verify-full` require a verified
 * certificate, and `prefer` (also when PGSSLMODE is unset, libpq's default) encrypts without verifying when the
 * server offers TLS and connects without it otherwise ({@link LocalTls.fallBackToPlain}).
 */
export function localTls(sslMode: string | undefined): LocalTls {
  switch (sslMode) {
    case undefined:
    case '':
    case 'prefer':
      return { ssl: { rejectUnauthorized: false }, fallBackToPlain: true };
    case 'disable':
    case 'allow': // libpq tries without TLS first; pg never upgrades
      return { ssl: false, fallBackToPlain: false };
    case 'no-verify':
    case 'require':
      return { ssl: { rejectUnauthorized: false }, fallBackToPlain: false };
    case 'verify-ca':
    case 'verify-full':
      return { ssl: true, fallBackToPlain: false };
    default:
      throw new RefreshError('INVALID_REQUEST', `Invalid environment variable PGSSLMODE=${JSON.stringify(sslMode)}: expected disable, allow, no-verify, require, prefer, verify-ca or verify-full`);
  }
}

/** How local mode connects for a PGSSLMODE. */
export interface LocalTls {
  readonly ssl: ConnectionOptions | boolean;
  /** Whether a server that offers no TLS is connected to without it, as libpq's `prefer` does. */
  readonly fallBackToPlain: boolean;
}

/** pg's error when it asked for TLS and the server answered that it offers none. */
export const SERVER_WITHOUT_TLS = /server does not support SSL connections/i;

const trustedCas = new Map<string, string[]>();

/**
 * `pg` TLS options for a {@link TlsMode}. `verify-full` checks the host name against the certificate and the chain
 * against {@link trustedCertificateAuthorities}.
 */
export function tlsOptions(mode: TlsMode, env: Env = {}): ConnectionOptions | false {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      return { rejectUnauthorized: true, ca: trustedCertificateAuthorities(env) };
  }
}

/**
 * The certificate authorities a `verify-full` connection trusts:
 * - Node's root store, which holds the Amazon Trust Services roots (Amazon Root CA 1 to 4, Starfield Services Root
 *   Certificate Authority - G2) that RDS Proxy's certificates chain to;
 * - the Lambda runtime's CA bundle, which holds the Amazon RDS certificate authorities of every region that DB
 *   instance and cluster certificates are signed by;
 * - the file named by NODE_EXTRA_CA_CERTS, as Node would trust it, for a private CA.
 * A custom `ca` list replaces Node's store instead of adding to it, hence the root store is listed too.
 */
export function trustedCertificateAuthorities(env: Env = {}): string[] {
  const extra = env.NODE_EXTRA_CA_CERTS || undefined;
  const key = extra ?? '';
  let cas = trustedCas.get(key);
  if (!cas) {
    cas = [...rootCertificates];
    for (const file of [LAMBDA_CA_BUNDLE, extra]) {
      if (file && existsSync(file)) cas.push(readFileSync(file, 'utf8'));
    }
    trustedCas.set(key, cas);
  }
  return cas;
}
