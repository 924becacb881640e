import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tlsOptions, trustedCertificateAuthorities } from '../../../src/engine/tls';

const subjects = (cas: string[]) =>
  cas.flatMap((pem) => pem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((part) => part.includes('BEGIN CERTIFICATE')))
    .map((pem) => new X509Certificate(pem).subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3));

/**
 * verify-full gives `pg` an explicit CA list, which replaces Node's default store: the list must still hold the roots
 * RDS Proxy certificates chain to.
 */
describe('the certificate authorities verify-full trusts', () => {
  test.each([
    'Amazon Root CA 1',
    'Amazon Root CA 2',
    'Amazon Root CA 3',
    'Amazon Root CA 4',
    'Starfield Services Root Certificate Authority - G2',
  ])('include the Amazon Trust Services root %s', (name) => {
    expect(subjects(trustedCertificateAuthorities())).toContain(name);
  });

  test('add the file NODE_EXTRA_CA_CERTS names, as Node does for its own store', () => {
    const file = join(__dirname, '..', '..', 'engine', 'fixtures', 'proxy-root-ca.crt');
    expect(subjects(trustedCertificateAuthorities())).not.toContain('proxy Root CA');
    expect(subjects(trustedCertificateAuthorities({ NODE_EXTRA_CA_CERTS: file }))).toContain('proxy Root CA');
    expect(trustedCertificateAuthorities({ NODE_EXTRA_CA_CERTS: file })).toContain(readFileSync(file, 'utf8'));
  });

  test('are used with certificate verification on in verify-full only', () => {
    expect(tlsOptions('verify-full')).toEqual({ rejectUnauthorized: true, ca: trustedCertificateAuthorities() });
    expect(tlsOptions('require')).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions('disable')).toBe(false);
  });
});
