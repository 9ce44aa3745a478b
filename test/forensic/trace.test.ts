/**
 * traceKey against an independent replay: over generated histories (seeded fast-check), the
 * value after each traced event equals the key's value in a plain replay at that seq, every
 * seq that changed the key is listed, and a listed seq that did not change it is one whose
 * event names the key (a rewrite of the same value, a delete of an absent key). `from`/`to`
 * give exactly the slice of the full trace, starting from a snapshot when one fits.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { traceKey } from '../../src/forensic/trace.js';
import type { TraceEntry } from '../../src/forensic/trace.js';
import { replayDir } from '../../src/runtime/replay.js';
import { caughtSteleError } from '../helpers.js';
import type { LogLine } from './fixtures.js';
import { makeHistory, readLog } from './fixtures.js';

const accountsMax = 5;
const keysMax = 4;

/** The key's value (canonical, undefined when absent) after every seq, from a plain replay from genesis. */
async function valuesBySeq(data: string, keys: readonly string[]): Promise<Map<string, (string | undefined)[]>> {
  const out = new Map(keys.map((k) => [k, [] as (string | undefined)[]]));
  const replayed = await replayDir(data, {
    snapshot: false,
    afterLine: (checked, machine) => {
      for (const k of keys) {
        const v = machine.entries.get(k);
        out.get(k)![checked.event.seq] = v === undefined ? undefined : canonicalize(v);
      }
    },
  });
  expect(replayed.fault).toBeUndefined();
  return out;
}

/** Whether an event names the key in its payload (independent of any reducer). */
function names(event: LogLine, key: string): boolean {
  const [prefix, id] = [key.slice(0, key.indexOf(':') + 1), key.slice(key.indexOf(':') + 1)];
  if (prefix === 'kv:') return event.type.startsWith('kv.') && event.data['key'] === id;
  return event.type.startsWith('ledger.') && JSON.stringify(event.data).includes(JSON.stringify(id));
}

function shown(entry: TraceEntry): string | undefined {
  return entry.deleted === true ? undefined : canonicalize(entry.value);
}

describe('traceKey', () => {
  it('lists exactly the events that touched a key, with the value after each (property, generated histories)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 0x7fff_ffff }), fc.integer({ min: 0, max: accountsMax - 1 }), fc.integer({ min: 0, max: keysMax - 1 }), async (seed, a, k) => {
        const history = await makeHistory({ seed, commands: 90, chunk: 45, snapshotAfter: [0], bundles: 0, checkpointEvery: 16, workload: { accounts: accountsMax, keys: keysMax } });
        const log = readLog(history.data);
        const keys = [`account:acct-${String(a).padStart(6, '0')}`, `kv:key-${String(k).padStart(6, '0')}`];
        const replayed = await valuesBySeq(history.data, keys);
        for (const key of keys) {
          const values = replayed.get(key)!;
          const trace = await traceKey(history.data, key);
          expect(trace.fault).toBeUndefined();
          expect(trace.count).toBe(trace.entries.length);
          expect(trace.count).toBeGreaterThan(0);
          const seqs = trace.entries.map((e) => e.seq);
          expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
          expect(new Set(seqs).size).toBe(seqs.length);
          for (const entry of trace.entries) {
            const event = log[entry.seq]!;
            expect({ ts: entry.ts, type: entry.type }).toEqual({ ts: event.ts, type: event.type });
            expect(shown(entry)).toBe(values[entry.seq]);
            const changed = values[entry.seq] !== (entry.seq === 0 ? undefined : values[entry.seq - 1]);
            expect(changed || names(event, key), `seq ${entry.seq} (${event.type}) is listed for ${key} but neither changed nor names it`).toBe(true);
          }
          const listed = new Set(seqs);
          values.forEach((v, seq) => {
            const before = seq === 0 ? undefined : values[seq - 1];
            if (v !== before) expect(listed.has(seq), `seq ${seq} changed ${key} but is not listed`).toBe(true);
          });
          // A range is exactly the slice of the full trace, from the snapshot when one fits.
          const from = history.snapshots[0]!.size + 3;
          const to = from + 30;
          const ranged = await traceKey(history.data, key, { from, to });
          expect(ranged.entries).toEqual(trace.entries.filter((e) => e.seq >= from && e.seq <= to));
          expect(ranged.base).toEqual({ from: 'snapshot', file: path.join('snapshots', path.basename(history.snapshots[0]!.file)), size: history.snapshots[0]!.size });
        }
      }),
      { seed: 20261122, numRuns: 5 },
    );
  });

  it('streams entries to onEntry and reports a delete as deleted', async () => {
    const history = await makeHistory({ seed: 3, commands: 120, chunk: 60, snapshotAfter: [], bundles: 0, workload: { accounts: 3, keys: 2, mix: { kvPut: 5, kvDelete: 5 } } });
    const streamed: TraceEntry[] = [];
    const result = await traceKey(history.data, 'kv:key-000000', { onEntry: (e) => streamed.push(e) });
    expect(result.entries).toEqual([]);
    expect(result.count).toBe(streamed.length);
    expect(streamed.some((e) => e.deleted === true && e.type === 'kv.delete' && !('value' in e))).toBe(true);
    expect(streamed.some((e) => e.value !== undefined && e.type === 'kv.put')).toBe(true);
  });

  it('refuses a key no module owns and a range that ends before it starts', async () => {
    const history = await makeHistory({ commands: 30, chunk: 30, snapshotAfter: [], bundles: 0 });
    expect(await caughtSteleError(traceKey(history.data, 'acct-000001'))).toMatchObject({ code: 'STELE_E_USAGE', expected: expect.stringContaining('account:') });
    expect((await caughtSteleError(traceKey(history.data, 'kv:a', { from: 5, to: 4 }))).code).toBe('STELE_E_USAGE');
    // An owned key nothing touched: an empty answer, not an error.
    expect((await traceKey(history.data, 'kv:never')).entries).toEqual([]);
  });

  it('on a damaged log, lists what comes before the damage and reports it', async () => {
    const history = await makeHistory({ seed: 5, commands: 90, chunk: 90, snapshotAfter: [], bundles: 0, workload: { accounts: 2, keys: 2 } });
    const key = 'account:acct-000000';
    const full = await traceKey(history.data, key);
    const cutAt = full.entries[Math.floor(full.entries.length / 2)]!.seq;
    const file = path.join(history.data, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[cutAt] = lines[cutAt]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'f'.repeat(64)}"`);
    fs.writeFileSync(file, lines.join('\n'));
    const damaged = await traceKey(history.data, key);
    expect(damaged.fault).toMatchObject({ code: 'STELE_E_CHAIN_BROKEN', where: { seq: cutAt } });
    expect(damaged.entries).toEqual(full.entries.filter((e) => e.seq < cutAt));
  });
});
