import type { PostgresServer } from '../../../local/postgres';
import { endRunTempFolder } from '../../setup/temp-folder';

export default async function globalTeardown(): Promise<void> {
  const server = (globalThis as { __ITC_POSTGRES__?: PostgresServer }).__ITC_POSTGRES__;
  try {
    await server?.stop();
  } finally {
    endRunTempFolder();
  }
}
