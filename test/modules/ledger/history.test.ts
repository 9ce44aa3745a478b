/**
 * `ledgerChanges` on the events real ledger commands produce (decided and applied by a real
 * StateMachine, as the writer does): every ledger event type, the per-account deltas, the
 * netting of a batch, and a cross-check that the deltas of every event, summed per
 * account, give the balances the state machine stored. Then the programmer errors: a type
 * or version the ledger does not define fails an assertion.
 */
import { AssertionError } from 'node:assert';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../../src/canonical/json.js';
import { canonicalize } from '../../../src/canonical/json.js';
import { ledgerChanges } from '../../../src/modules/ledger/history.js';
import type { LedgerChange } from '../../../src/modules/ledger/history.js';
import type { DomainEvent } from '../../../src/modules/module.js';
import type { CommandInput } from '../../../src/runtime/machine.js';
import { StateMachine } from '../../../src/runtime/machine.js';

const ts = '2026-11-22T10:00:00.000Z';

/** Decides and applies each command as the engine does; returns the events of each command. */
function run(machine: StateMachine, commands: readonly CommandInput[]): DomainEvent[][] {
  return commands.map((input) => {
    const outcome = machine.decide(machine.validate(input));
    return outcome.events.map((e) => {
      const v = e.v ?? machine.registry.latestVersion(e.type)!;
      const data = JSON.parse(canonicalize(machine.registry.validate(e.type, v, e.data))) as JsonObject;
      const event: DomainEvent = { seq: machine.size, ts, type: e.type, v, data };
      machine.apply(event);
      return event;
    });
  });
}

const max = (1n << 128n) - 1n;

describe('ledgerChanges', () => {
  const commands: CommandInput[] = [
    { cmd: 'ledger.open', data: { account: 'a' } },
    { cmd: 'ledger.open', data: { account: 'b', allowNegative: true, meta: { owner: 'treasury' } } },
    { cmd: 'ledger.open', data: { account: 'c' } },
    { cmd: 'ledger.deposit', data: { id: 'd1', account: 'a', amount: '100' } },
    { cmd: 'ledger.withdraw', data: { id: 'w1', account: 'a', amount: '30' } },
    { cmd: 'ledger.transfer', data: { id: 't1', from: 'a', to: 'b', amount: '20', memo: 'rent' } },
    // b may go negative; c receives twice, a gives and takes back (net −3).
    { cmd: 'ledger.batch', data: { id: 'bt1', transfers: [{ id: 'bt1.0', from: 'a', to: 'c', amount: '5' }, { id: 'bt1.1', from: 'b', to: 'c', amount: '70' }, { id: 'bt1.2', from: 'c', to: 'a', amount: '2' }] } },
    // a and b each give and get 10: both take part with a net of zero.
    { cmd: 'ledger.batch', data: { id: 'bt2', transfers: [{ id: 'bt2.0', from: 'a', to: 'b', amount: '10' }, { id: 'bt2.1', from: 'b', to: 'a', amount: '10' }] } },
    { cmd: 'ledger.withdraw', data: { id: 'w2', account: 'c', amount: '73' } },
    { cmd: 'ledger.close', data: { account: 'c' } },
    // The largest amount: deltas are exact bigints, not doubles.
    { cmd: 'ledger.open', data: { account: 'big' } },
    { cmd: 'ledger.deposit', data: { id: 'd2', account: 'big', amount: max.toString() } },
  ];
  const machine = new StateMachine();
  const events = run(machine, commands);
  const changes = events.map((es) => es.map((e) => ledgerChanges(e.type, e.v, e.data)));

  it('the commands produced one event each, of every ledger event type', () => {
    expect(events.map((es) => es.length)).toEqual(commands.map(() => 1));
    expect(new Set(events.flat().map((e) => e.type))).toEqual(
      new Set(['ledger.account_opened', 'ledger.account_closed', 'ledger.deposited', 'ledger.withdrawn', 'ledger.transferred', 'ledger.batch_transferred']),
    );
  });

  it('describes each event as the changes of the accounts it touches', () => {
    const expected: LedgerChange[][] = [
      [{ account: 'a', delta: 0n, kind: 'opened' }],
      [{ account: 'b', delta: 0n, kind: 'opened' }],
      [{ account: 'c', delta: 0n, kind: 'opened' }],
      [{ account: 'a', delta: 100n, kind: 'deposit' }],
      [{ account: 'a', delta: -30n, kind: 'withdrawal' }],
      [
        { account: 'a', delta: -20n, kind: 'transfer_out' },
        { account: 'b', delta: 20n, kind: 'transfer_in' },
      ],
      [
        { account: 'a', delta: -3n, kind: 'batch' },
        { account: 'c', delta: 73n, kind: 'batch' },
        { account: 'b', delta: -70n, kind: 'batch' },
      ],
      [
        { account: 'a', delta: 0n, kind: 'batch' },
        { account: 'b', delta: 0n, kind: 'batch' },
      ],
      [{ account: 'c', delta: -73n, kind: 'withdrawal' }],
      [{ account: 'c', delta: 0n, kind: 'closed' }],
      [{ account: 'big', delta: 0n, kind: 'opened' }],
      [{ account: 'big', delta: max, kind: 'deposit' }],
    ];
    expect(changes.map((c) => c[0])).toEqual(expected);
  });

  it('summed per account, the deltas give the balances the state machine stored', () => {
    const sums = new Map<string, bigint>();
    for (const c of changes.flat(2)) sums.set(c.account, (sums.get(c.account) ?? 0n) + c.delta);
    const stored = machine.entries.list('account:').map(([key, value]) => [key.slice('account:'.length), BigInt((value as { balance: string }).balance)]);
    expect([...sums].sort()).toEqual(stored.sort());
    expect(sums.get('b')).toBe(-50n);
  });

  it('conserves money: an event’s deltas sum to its deposit, minus its withdrawal, or zero', () => {
    events.flat().forEach((e, i) => {
      const total = changes.flat()[i]!.reduce((s, c) => s + c.delta, 0n);
      const amount = BigInt((e.data['amount'] as string | undefined) ?? '0');
      expect(total).toBe(e.type === 'ledger.deposited' ? amount : e.type === 'ledger.withdrawn' ? -amount : 0n);
    });
  });

  it('does not change the event payload', () => {
    const batch = events[6]![0]!;
    const before = canonicalize(batch.data);
    ledgerChanges(batch.type, batch.v, Object.freeze(batch.data));
    expect(canonicalize(batch.data)).toBe(before);
  });

  it('fails an assertion for a type or version the ledger does not define (the registry validated every event)', () => {
    expect(() => ledgerChanges('ledger.refunded', 1, { id: 'r', account: 'a', amount: '1' })).toThrow(AssertionError);
    expect(() => ledgerChanges('kv.put', 1, { key: 'a', value: 1 })).toThrow(AssertionError);
    expect(() => ledgerChanges('ledger.deposited', 2, { id: 'd', account: 'a', amount: '1' })).toThrow(AssertionError);
    // Payloads the event schema refuses: a zero or non-canonical amount, a missing account.
    expect(() => ledgerChanges('ledger.deposited', 1, { id: 'd', account: 'a', amount: '0' })).toThrow(AssertionError);
    expect(() => ledgerChanges('ledger.withdrawn', 1, { id: 'd', account: 'a', amount: '01' })).toThrow(AssertionError);
    expect(() => ledgerChanges('ledger.account_opened', 1, { allowNegative: false })).toThrow(AssertionError);
    expect(() => ledgerChanges('ledger.transferred', 1, { id: 't', from: 'a', to: 'a', amount: '1' })).toThrow(AssertionError);
  });
});
