/**
 * The state machine over all built-in modules, driven by random command sequences: the
 * incremental state root equals a full rebuild from the entries, replay is deterministic,
 * and a snapshot of the machine plus the tail equals the straight run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import type { JsonObject } from '../../src/canonical/json.js';
import { isSteleError } from '../../src/errors.js';
import type { DomainEvent } from '../../src/modules/module.js';
import { StateMachine } from '../../src/runtime/machine.js';
import { takeCommands } from '../../src/workload/generate.js';
import { createHash } from 'node:crypto';
import type { JsonValue } from '../../src/canonical/json.js';
import { sha256 } from '../../src/hash/sha256.js';
import { referenceRoot } from '../state/reference.js';

/** The state root recomputed from a dump of the entries by the reference recursion (test/state/reference.ts). */
function referenceStateRoot(entries: readonly (readonly [string, JsonValue])[]): string {
  const h = (text: string) => new Uint8Array(createHash('sha256').update(text, 'utf8').digest());
  const leaves = entries.map(([k, v]) => [h(k), h(canonicalize(v))] as const);
  return Buffer.from(referenceRoot(sha256, leaves)).toString('hex');
}

const ts = '2026-11-22T10:00:00.000Z';

/** Decides and applies commands as the engine does; returns the events in log order. */
function run(machine: StateMachine, commands: readonly unknown[]): { events: DomainEvent[]; rejected: number } {
  const events: DomainEvent[] = [];
  let rejected = 0;
  for (const input of commands) {
    const command = machine.validate(input);
    const outcome = machine.decide(command);
    if (!outcome.ok) rejected++;
    for (const e of outcome.events) {
      const v = e.v ?? machine.registry.latestVersion(e.type)!;
      const data = JSON.parse(canonicalize(machine.registry.validate(e.type, v, e.data))) as JsonObject;
      const event: DomainEvent = { seq: machine.size, ts, type: e.type, v, data };
      machine.apply(event);
      events.push(event);
    }
  }
  return { events, rejected };
}

function fingerprint(machine: StateMachine): string {
  return canonicalize({ root: machine.stateRoot(), size: machine.size, parts: machine.moduleParts(), stats: machine.view('audit', 'stats'), totals: machine.view('ledger', 'totals') });
}

describe('StateMachine', () => {
  it('rejections are recorded as audit.command_rejected and change nothing else', () => {
    const machine = new StateMachine();
    const { events } = run(machine, [
      { cmd: 'ledger.open', data: { account: 'a' } },
      { cmd: 'ledger.open', data: { account: 'b' } },
      { cmd: 'ledger.transfer', data: { id: 't1', from: 'a', to: 'b', amount: '5' } },
    ]);
    expect(events.map((e) => e.type)).toEqual(['ledger.account_opened', 'ledger.account_opened', 'audit.command_rejected']);
    expect(events[2]!.data).toMatchObject({ cmd: 'ledger.transfer', reason: 'LEDGER_INSUFFICIENT_FUNDS' });
    // The record names the command by the hash of its canonical data, never the data itself.
    const canonicalData = '{"amount":"5","from":"a","id":"t1","to":"b"}';
    expect(events[2]!.data.dataHash).toBe(createHash('sha256').update(canonicalData).digest('hex'));
    expect(machine.entries.get('account:a')).toMatchObject({ balance: '0' });
  });

  it('malformed commands are refused by validate with typed errors', () => {
    const machine = new StateMachine();
    const codes = [
      { cmd: 'nope.cmd', data: {} },
      { cmd: 'ledger.deposit', data: { id: 'x', account: 'a', amount: '-1' } },
      { cmd: 'kv.put', data: { key: 'a', value: 1 }, extra: 1 },
      { cmd: 'kv.put', data: { key: 'a', value: 1 }, meta: [] },
      'kv.put',
      null,
    ].map((input) => {
      try {
        machine.validate(input);
        return 'accepted';
      } catch (err) {
        return isSteleError(err) ? err.code : 'untyped';
      }
    });
    expect(codes).toEqual(['STELE_E_UNKNOWN_COMMAND', 'STELE_E_SCHEMA', 'STELE_E_SCHEMA', 'STELE_E_SCHEMA', 'STELE_E_SCHEMA', 'STELE_E_SCHEMA']);
  });

  it('property: incremental state root = full rebuild; replay twice = identical; snapshot + tail = straight run', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 100 }), (seed, count, cutPercent) => {
        const commands = takeCommands(count, { seed, accounts: 12, keys: 10 });
        const machine = new StateMachine();
        const { events } = run(machine, commands);
        // Incremental root = reference recursion over the dumped entries.
        expect(machine.stateRoot()).toBe(referenceStateRoot(machine.entries.entries()));
        // Replay of the same events into a fresh machine: identical.
        const again = new StateMachine();
        for (const e of events) again.apply(e);
        expect(fingerprint(again)).toBe(fingerprint(machine));
        // Snapshot at a cut (module parts + entries through JSON), then the tail.
        const cut = Math.floor((events.length * cutPercent) / 100);
        const head = new StateMachine();
        for (const e of events.slice(0, cut)) head.apply(e);
        const parts = JSON.parse(canonicalize(head.moduleParts())) as ReturnType<StateMachine['moduleParts']>;
        const entries = JSON.parse(canonicalize(head.entries.entries())) as [string, never][];
        const restored = StateMachine.restore({}, cut, parts, entries);
        for (const e of events.slice(cut)) restored.apply(e);
        expect(fingerprint(restored)).toBe(fingerprint(machine));
        expect(machine.checkInvariants()).toBeUndefined();
      }),
      { seed: 20261123, numRuns: 60 },
    );
  });
});
