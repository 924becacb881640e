import type { PostgresServer } from '../../../local/postgres';

export default async function globalTeardown(): Promise<void> {
  const server = (globalThis as { __ITC_POSTGRES__?: PostgresServer }).__ITC_POSTGRES__;
  await server?.stop();
}
