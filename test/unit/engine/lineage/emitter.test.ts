import { LineageEmitter, MAX_IN_FLIGHT } from '../../../../src/engine/lineage/emitter';
import type { RunEvent } from '../../../../src/engine/lineage/events';
import type { LineageTransport } from '../../../../src/engine/lineage/transports';

const event = (runId: string, eventType: RunEvent['eventType']): RunEvent => ({
  eventType, eventTime: '', producer: '', schemaURL: '', run: { runId }, job: { namespace: 'n', name: runId },
});

/** A transport that takes `delayMs(event)` per event and records when each send began and ended. */
function slowTransport(delayMs: (sent: RunEvent) => number) {
  const log: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const transport: LineageTransport = {
    ready: Promise.resolve(),
    requestTimeoutMs: 10_000,
    async send(sent) {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, delayMs(sent)));
      inFlight--;
      log.push(`${sent.run.runId} ${sent.eventType}`);
    },
  };
  return { transport, log, mostInFlight: () => mostInFlight };
}

describe('the lineage emitter', () => {
  test('a run\'s end is sent only after its START, however long the START takes; other runs go meanwhile', async () => {
    const { transport, log } = slowTransport((sent) => (sent.run.runId === 'a' && sent.eventType === 'START' ? 150 : 5));
    const emitter = new LineageEmitter(transport);
    emitter.emit('a', () => event('a', 'START'));
    emitter.emit('b', () => event('b', 'START'));
    emitter.emit('a', () => event('a', 'COMPLETE'));
    emitter.emit('b', () => event('b', 'FAIL'));
    expect(await emitter.drain(5_000)).toEqual({ sent: 4, failed: 0, dropped: 0 });
    expect(log).toEqual(['b START', 'b FAIL', 'a START', 'a COMPLETE']);
  });

  test(`at most ${MAX_IN_FLIGHT} events are on their way at once`, async () => {
    const slow = slowTransport(() => 20);
    const emitter = new LineageEmitter(slow.transport);
    for (let run = 0; run < 20; run++) emitter.emit(`r${run}`, () => event(`r${run}`, 'START'));
    expect(await emitter.drain(5_000)).toEqual({ sent: 20, failed: 0, dropped: 0 });
    expect(slow.mostInFlight()).toBe(MAX_IN_FLIGHT);
  });

  test('the drain gives up when its budget is spent: what is not sent is dropped, and emit queues nothing more', async () => {
    const { transport } = slowTransport(() => 60_000);
    const emitter = new LineageEmitter(transport);
    for (let run = 0; run < 6; run++) emitter.emit(`r${run}`, () => event(`r${run}`, 'START'));
    const started = Date.now();
    expect(await emitter.drain(200)).toEqual({ sent: 0, failed: 0, dropped: 6, reason: 'the time budget of 200 ms ran out' });
    expect(Date.now() - started).toBeLessThan(400);
    emitter.emit('late', () => event('late', 'START'));
    expect(await emitter.drain(0)).toMatchObject({ dropped: 6 });
  });
});
