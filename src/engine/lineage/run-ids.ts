import { createHash, randomBytes } from 'node:crypto';

/**
 * OpenLineage run IDs: UUIDv7 (RFC 9562), as the OpenLineage clients make them: 48 bits of milliseconds since the
 * epoch, then 76 bits that are random, or for {@link staticRunId} taken from a hash, so that anyone who knows the
 * same instant and data computes the same ID.
 */

/** A new run ID for the given instant. */
export function newRunId(instant: Date = new Date()): string {
  return buildUuidv7(instant.getTime(), randomBytes(10).toString('hex'));
}

/**
 * The run ID openlineage-python's `generate_static_uuid(instant, data)` returns: the first 76 bits of the SHA-1 of
 * the instant in Python's `isoformat()` (UTC) followed by the data. A Python component of the same Step Functions
 * execution computes the execution's run ID with it from the execution's start time and ARN.
 */
export function staticRunId(instant: Date, data: string): string {
  return buildUuidv7(instant.getTime(), createHash('sha1').update(pythonIsoFormat(instant)).update(data, 'utf8').digest('hex'));
}

/** `datetime.isoformat()` of a UTC instant in Python: microseconds only when there are any. */
function pythonIsoFormat(instant: Date): string {
  const seconds = instant.toISOString().slice(0, 19);
  const ms = instant.getUTCMilliseconds();
  return ms === 0 ? `${seconds}+00:00` : `${seconds}.${String(ms).padStart(3, '0')}000+00:00`;
}

/**
 * 48 bits of milliseconds, the version (7), then the first 76 bits of `bits` (hex) with the variant (`10`) in place
 * of the two bits that follow the next 12.
 */
function buildUuidv7(timestampMs: number, bits: string): string {
  const node = bits.slice(0, 19);
  const variant = ((parseInt(node[3], 16) % 4) + 8).toString(16);
  const hex = `${timestampMs.toString(16).padStart(12, '0').slice(-12)}7${node.slice(0, 3)}${variant}${node.slice(4)}`;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
