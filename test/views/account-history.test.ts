/**
 * AccountHistory against the real ledger: generated workloads (src/workload, plus accounts
 * emptied and closed along the way) run through a real StateMachine; every event is fed to
 * the history as the lead does. Checked against a reference built from the machine's own
 * state, sharing no code with the history: after every event, for each account the event
 * names (read naively from its payload), the stored balance before and after. Then:
 * every page of every account's history, followed by its cursors, equals that reference
 * newest first, and the final balances equal the authenticated `account:<id>` balances.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/canonical/json.js';
import { canonicalize } from '../../src/canonical/json.js';
import { limits } from '../../src/limits.js';
import type { DomainEvent } from '../../src/modules/module.js';
import type { CommandInput } from '../../src/runtime/machine.js';
import { StateMachine } from '../../src/runtime/machine.js';
import type { AccountHistoryEntry } from '../../src/views/account-history.js';
import { AccountHistory } from '../../src/views/account-history.js';
import type { IndexedEvent } from '../../src/views/log-index.js';
import { takeCommands } from '../../src/workload/generate.js';
import { errorCodeOf } from '../helpers.js';

const ts = '2026-11-22T10:00:00.000Z';
/** More batches than the default mix, so most runs hold some. */
const mix = { batch: 8 };

/** Decides one command and applies its events as the engine does; calls `each` around every apply. */
function runOne(machine: StateMachine, input: CommandInput, each: (e: DomainEvent, apply: () => void) => void): void {
  const outcome = machine.decide(machine.validate(input));
  for (const e of outcome.events) {
    const v = e.v ?? machine.registry.latestVersion(e.type)!;
    const data = JSON.parse(canonicalize(machine.registry.validate(e.type, v, e.data))) as JsonObject;
    const event: DomainEvent = { seq: machine.size, ts, type: e.type, v, data };
    each(event, () => machine.apply(event));
  }
}

function indexed(e: DomainEvent): IndexedEvent {
  // Offsets are not read by the history; a plausible line is enough.
  return { seq: e.seq, offset: e.seq * 100, bytes: 99, ts: e.ts, type: e.type, v: e.v, data: e.data };
}

function storedBalance(machine: StateMachine, id: string): bigint {
  const value = machine.entries.get(`account:${id}`) as { balance: string } | undefined;
  return value === undefined ? 0n : BigInt(value.balance);
}

/** The accounts an event names, read naively from its payload (the reference's own reading). */
function namedAccounts(e: DomainEvent): string[] {
  const d = e.data as Record<string, unknown>;
  if (e.type === 'ledger.batch_transferred') return [...new Set((d['transfers'] as { from: string; to: string }[]).flatMap((t) => [t.from, t.to]))];
  if (e.type === 'ledger.transferred') return [d['from'] as string, d['to'] as string];
  return [d['account'] as string];
}

function referenceKind(e: DomainEvent, account: string): string {
  switch (e.type) {
    case 'ledger.account_opened':
      return 'opened';
    case 'ledger.account_closed':
      return 'closed';
    case 'ledger.deposited':
      return 'deposit';
    case 'ledger.withdrawn':
      return 'withdrawal';
    case 'ledger.transferred':
      return e.data['from'] === account ? 'transfer_out' : 'transfer_in';
    default:
      return 'batch';
  }
}

interface Run {
  machine: StateMachine;
  history: AccountHistory;
  /** Per account, its entries oldest first, from the machine's state. */
  reference: Map<string, AccountHistoryEntry[]>;
  events: number;
}

/**
 * Runs commands, and every `closeEvery` commands empties an open account and closes it (the
 * workload never closes one), at most `closes` times: a ledger with every account closed
 * refuses everything and would test little.
 */
function runWorkload(commands: readonly CommandInput[], closeEvery: number, closePick: number, closes: number): Run {
  const machine = new StateMachine();
  const history = new AccountHistory();
  const reference = new Map<string, AccountHistoryEntry[]>();
  let events = 0;
  const each = (e: DomainEvent, apply: () => void): void => {
    const ledger = e.type.startsWith('ledger.');
    const accounts = ledger ? namedAccounts(e) : [];
    const before = accounts.map((id) => storedBalance(machine, id));
    apply();
    history.add(indexed(e));
    events++;
    accounts.forEach((id, i) => {
      const after = storedBalance(machine, id);
      let list = reference.get(id);
      if (list === undefined) reference.set(id, (list = []));
      list.push({ seq: e.seq, type: e.type, kind: referenceKind(e, id) as AccountHistoryEntry['kind'], delta: (after - before[i]!).toString(), balance: after.toString() });
    });
  };
  let closed = 0;
  commands.forEach((input, n) => {
    runOne(machine, input, each);
    if (n % closeEvery !== closeEvery - 1 || closed >= closes) return;
    closed++;
    const opened = machine.entries.list('account:').filter(([, v]) => (v as { open: boolean }).open);
    if (opened.length === 0) return;
    const [key] = opened[(closePick + n) % opened.length]!;
    const id = key.slice('account:'.length);
    const balance = storedBalance(machine, id);
    if (balance > 0n) runOne(machine, { cmd: 'ledger.withdraw', data: { id: `empty-${n}`, account: id, amount: balance.toString() } }, each);
    if (balance < 0n) runOne(machine, { cmd: 'ledger.deposit', data: { id: `empty-${n}`, account: id, amount: (-balance).toString() } }, each);
    runOne(machine, { cmd: 'ledger.close', data: { account: id } }, each);
  });
  return { machine, history, reference, events };
}

/** Every page of `id`'s history with page size `limit`, following `next`. */
function allPages(history: AccountHistory, id: string, limit: number): { entries: AccountHistoryEntry[]; pages: number } {
  const entries: AccountHistoryEntry[] = [];
  let before: number | undefined;
  let pages = 0;
  for (;;) {
    const page = history.history(id, before === undefined ? { limit } : { before, limit })!;
    pages++;
    expect(page.entries.length).toBeLessThanOrEqual(limit);
    entries.push(...page.entries);
    if (page.next === null) return { entries, pages };
    expect(page.entries.length).toBe(limit);
    expect(page.next).toBe(page.entries.at(-1)!.seq);
    before = page.next;
  }
}


describe('AccountHistory', () => {
  it('property: histories and balances equal the state machine’s, page by page', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 3, max: 60 }),
        fc.nat(),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 7 }),
        (seed, count, closeEvery, closePick, closes, limit) => {
          const { machine, history, reference } = runWorkload(takeCommands(count, { seed, accounts: 8, keys: 5, mix }), closeEvery, closePick, closes);
          const state = machine.entries.list('account:').map(([key, value]) => [key.slice('account:'.length), (value as { balance: string }).balance]);
          expect([...history.balances()].sort()).toEqual(state.sort());
          expect(history.accounts).toBe(state.length);
          for (const [id, expected] of reference) {
            expect(history.balance(id)).toBe(expected.at(-1)!.balance);
            const { entries, pages } = allPages(history, id, limit);
            expect(entries).toEqual([...expected].reverse());
            expect(pages).toBe(Math.max(1, Math.ceil(expected.length / limit)));
            // A cursor from the middle: exactly the entries older than it.
            const middle = expected[Math.floor(expected.length / 2)]!.seq;
            const page = history.history(id, { before: middle, limit: limits.pageItemsMax })!;
            expect(page.entries).toEqual(expected.filter((x) => x.seq < middle).reverse());
            expect(page.next).toBeNull();
          }
          expect(history.changes).toBe([...reference.values()].reduce((n, list) => n + list.length, 0));
        },
      ),
      { seed: 42, numRuns: 60 },
    );
  });

  it('the workloads exercise every kind of change and negative balances', () => {
    // Guards the property above against testing less than it claims.
    const { reference } = runWorkload(takeCommands(300, { seed: 7, accounts: 8, keys: 5, mix }), 25, 3, 3);
    const all = [...reference.values()].flat();
    const kinds = new Set(all.map((x) => x.kind));
    expect(kinds).toEqual(new Set(['opened', 'closed', 'deposit', 'withdrawal', 'transfer_out', 'transfer_in', 'batch']));
    expect(all.some((x) => x.balance.startsWith('-'))).toBe(true);
  });

  it('keeps balances beyond 2^53 exact; a batch leg netting to zero is still an entry', () => {
    const machine = new StateMachine();
    const history = new AccountHistory();
    const big = 2n ** 100n + 12345n;
    const commands: CommandInput[] = [
      { cmd: 'ledger.open', data: { account: 'a' } },
      { cmd: 'ledger.open', data: { account: 'n', allowNegative: true } },
      { cmd: 'ledger.deposit', data: { id: 'd', account: 'a', amount: big.toString() } },
      { cmd: 'ledger.transfer', data: { id: 't', from: 'a', to: 'n', amount: '1' } },
      { cmd: 'ledger.transfer', data: { id: 't2', from: 'n', to: 'a', amount: (big - 7n).toString() } },
      { cmd: 'ledger.batch', data: { id: 'b', transfers: [{ id: 'b.0', from: 'a', to: 'n', amount: '10' }, { id: 'b.1', from: 'n', to: 'a', amount: '10' }] } },
    ];
    for (const c of commands) runOne(machine, c, (e, apply) => (apply(), history.add(indexed(e))));
    expect(history.history('a', { limit: 10 })!.entries.map((x) => [x.seq, x.kind, x.delta, x.balance])).toEqual([
      [5, 'batch', '0', (2n * big - 8n).toString()],
      [4, 'transfer_in', (big - 7n).toString(), (2n * big - 8n).toString()],
      [3, 'transfer_out', '-1', (big - 1n).toString()],
      [2, 'deposit', big.toString(), big.toString()],
      [0, 'opened', '0', '0'],
    ]);
    expect(history.balance('n')).toBe((8n - big).toString());
    expect(history.balance('n')).toBe((machine.entries.get('account:n') as { balance: string }).balance);
  });

  it('pages newest first with a seq cursor; an unknown account is undefined', () => {
    const history = new AccountHistory();
    const events: IndexedEvent[] = [
      { seq: 0, offset: 0, bytes: 9, ts, type: 'ledger.account_opened', v: 1, data: { account: 'a', allowNegative: false } },
      { seq: 1, offset: 10, bytes: 9, ts, type: 'kv.put', v: 1, data: { key: 'k', value: 1 } },
      { seq: 2, offset: 20, bytes: 9, ts, type: 'ledger.deposited', v: 1, data: { id: 'd1', account: 'a', amount: '10' } },
      { seq: 3, offset: 30, bytes: 9, ts, type: 'ledger.deposited', v: 1, data: { id: 'd2', account: 'a', amount: '5' } },
      { seq: 4, offset: 40, bytes: 9, ts, type: 'audit.telemetry', v: 1, data: { metric: 'm', value: 1 } },
      { seq: 5, offset: 50, bytes: 9, ts, type: 'ledger.withdrawn', v: 1, data: { id: 'w1', account: 'a', amount: '12' } },
    ];
    for (const e of events) history.add(e);
    expect(history.accounts).toBe(1);
    expect(history.changes).toBe(4);
    const first = history.history('a', { limit: 2 })!;
    expect(first).toEqual({
      entries: [
        { seq: 5, type: 'ledger.withdrawn', kind: 'withdrawal', delta: '-12', balance: '3' },
        { seq: 3, type: 'ledger.deposited', kind: 'deposit', delta: '5', balance: '15' },
      ],
      next: 3,
    });
    expect(history.history('a', { before: 3, limit: 2 })).toEqual({
      entries: [
        { seq: 2, type: 'ledger.deposited', kind: 'deposit', delta: '10', balance: '10' },
        { seq: 0, type: 'ledger.account_opened', kind: 'opened', delta: '0', balance: '0' },
      ],
      next: null,
    });
    // A cursor that is no entry's seq (4 is a telemetry event) and one past the end.
    expect(history.history('a', { before: 4, limit: 1 })!.entries.map((x) => x.seq)).toEqual([3]);
    expect(history.history('a', { before: 1000, limit: 1 })!.entries.map((x) => x.seq)).toEqual([5]);
    expect(history.history('a', { before: 0, limit: 5 })).toEqual({ entries: [], next: null });
    expect(history.history('b', { limit: 5 })).toBeUndefined();
    expect(history.balance('b')).toBeUndefined();
    expect(history.balance('a')).toBe('3');
  });

  it('refuses a bad page size or cursor with STELE_E_USAGE', () => {
    const history = new AccountHistory();
    history.add({ seq: 0, offset: 0, bytes: 9, ts, type: 'ledger.account_opened', v: 1, data: { account: 'a', allowNegative: false } });
    expect(errorCodeOf(() => history.history('a', { limit: 0 }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => history.history('a', { limit: limits.pageItemsMax + 1 }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => history.history('a', { limit: 1.5 }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => history.history('a', { limit: 1, before: -1 }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => history.history('a', { limit: 1, before: 0.5 }))).toBe('STELE_E_USAGE');
    // Also for an unknown account: the query is checked before the lookup.
    expect(errorCodeOf(() => history.history('zz', { limit: 0 }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => history.history('a', { limit: limits.pageItemsMax }))).toBe('ok');
  });

  it('asserts log order', () => {
    const history = new AccountHistory();
    history.add({ seq: 3, offset: 0, bytes: 9, ts, type: 'ledger.account_opened', v: 1, data: { account: 'a', allowNegative: false } });
    expect(() => history.add({ seq: 3, offset: 0, bytes: 9, ts, type: 'ledger.account_opened', v: 1, data: { account: 'b', allowNegative: false } })).toThrow(/log order/);
  });
});
