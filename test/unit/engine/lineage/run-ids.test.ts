import { newRunId, staticRunId } from '../../../../src/engine/lineage/run-ids';

const EXECUTION_ARN = 'arn:aws:states:eu-west-1:111122223333:execution:warehouse-orchestrator:7f3c2a9e';
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('run IDs', () => {
  // Computed in CPython 3 with the body of openlineage-python's generate_static_uuid(instant, data.encode()).
  test.each([
    ['2026-12-07T06:00:00.123Z', '01a24f16-6f7b-7697-8616-335e65c6342c'],
    ['2026-12-07T06:00:00.000Z', '01a24f16-6f00-7dca-ae22-5470b8f01940'],
  ])('the execution started at %s has the run ID openlineage-python computes', (startTime, expected) => {
    expect(staticRunId(new Date(startTime), EXECUTION_ARN)).toBe(expected);
  });

  test('a static run ID changes with the data and the instant', () => {
    const instant = new Date('2026-12-07T06:00:00.123Z');
    expect(staticRunId(instant, `${EXECUTION_ARN}x`)).not.toBe(staticRunId(instant, EXECUTION_ARN));
    expect(staticRunId(new Date('2026-12-07T06:00:00.124Z'), EXECUTION_ARN)).not.toBe(staticRunId(instant, EXECUTION_ARN));
  });

  test('new run IDs are UUIDv7, distinct, and start with the instant in milliseconds', () => {
    const instant = new Date('2026-12-07T06:00:00.123Z');
    const ids = Array.from({ length: 200 }, () => newRunId(instant));
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      expect(id.replace(/-/g, '').slice(0, 12)).toBe(instant.getTime().toString(16).padStart(12, '0'));
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
