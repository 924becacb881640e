import type { Context } from 'aws-lambda';
import type { RefreshEvent, RefreshReport } from './refresh-contract';

export async function handler(_event: RefreshEvent, _context: Context): Promise<RefreshReport> {
  throw new Error('not implemented');
}
