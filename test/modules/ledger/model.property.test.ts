/**
 * Random command sequences against the ledger, checked by an independent reference model
 * (CONVENTIONS.md §9, TigerBeetle's auditor): a naive ledger written here from the rules
 * alone, sharing no code with src/, that predicts every decision, and a naive reducer that
 * re-derives every balance from the applied events alone. Seeded, so a failure reproduces.
 *
 * After every command: the decision matches the model (accepted with the same result, a
 * no-op, or refused with the same reason), the module's O(1) invariants hold. At the end:
 * conservation (the balances in the entries sum to deposited − withdrawn, computed from the
 * events), no overdraft, every balance re-derived from the events agrees, replaying the
 * events gives identical entries and private state, and a snapshot taken mid-sequence then
 * continued gives the same run as without.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../../../src/canonical/json.js';
import { canonicalize, parseJson } from '../../../src/canonical/json.js';
import { ledgerModule } from '../../../src/modules/ledger/index.js';
import type { LedgerState } from '../../../src/modules/ledger/index.js';
import type { DomainEvent } from '../../../src/modules/module.js';
import type { WhenOutcome } from '../spec.js';
import { Spec } from '../spec.js';

const MAX = 2n ** 128n - 1n;
const accountNames = ['a', 'b', 'c', 'n', 'ghost'];
const idNames = Array.from({ length: 24 }, (_, i) => `i${i}`);

// ---------------------------------------------------------------------------------------
// Command generators

type Command = { name: string; data: JsonObject } | { repeat: number };

const amount = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0n) },
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 200n }) },
  { weight: 2, arbitrary: fc.constantFrom(MAX, MAX - 1n, 2n ** 127n, MAX / 3n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: MAX }) },
).map(String);
const account = fc.constantFrom(...accountNames);
const id = fc.constantFrom(...idNames);
const memo = fc.option(fc.constantFrom('', 'rent', 'x'), { nil: undefined });

const transfer = fc.record({ id, from: account, to: account, amount, memo }).map((t) => {
  const out: JsonObject = { id: t.id, from: t.from, to: t.to, amount: t.amount };
  if (t.memo !== undefined) out['memo'] = t.memo;
  return out;
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ account, allowNegative: fc.boolean() }).map(({ account, allowNegative }): Command => ({ name: 'ledger.open', data: allowNegative ? { account, allowNegative } : { account } })) },
  { weight: 5, arbitrary: fc.record({ id, account, amount }).map((data) => ({ name: 'ledger.deposit', data })) },
  { weight: 3, arbitrary: fc.record({ id, account, amount }).map((data) => ({ name: 'ledger.withdraw', data })) },
  { weight: 5, arbitrary: transfer.map((data) => ({ name: 'ledger.transfer', data })) },
  { weight: 3, arbitrary: fc.record({ id, transfers: fc.array(transfer, { minLength: 1, maxLength: 4 }) }).map((data): Command => ({ name: 'ledger.batch', data })) },
  { weight: 1, arbitrary: account.map((account) => ({ name: 'ledger.close', data: { account } })) },
  { weight: 3, arbitrary: fc.nat().map((repeat) => ({ repeat })) },
);

/** Most sequences start with accounts to move money between (`n` may go negative); `ghost` is opened only by chance. */
const prelude: { name: string; data: JsonObject }[] = [
  { name: 'ledger.open', data: { account: 'a' } },
  { name: 'ledger.open', data: { account: 'b' } },
  { name: 'ledger.open', data: { account: 'c' } },
  { name: 'ledger.open', data: { account: 'n', allowNegative: true } },
];

/** Resolves `repeat` commands (an exact retry of an earlier command) into concrete ones. */
function resolve(commands: Command[], withPrelude: boolean): { name: string; data: JsonObject }[] {
  const out: { name: string; data: JsonObject }[] = withPrelude ? structuredClone(prelude) : [];
  for (const c of commands) {
    if ('repeat' in c) {
      if (out.length > 0) out.push(structuredClone(out[c.repeat % out.length]!));
    } else out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The reference model: a naive ledger from the rules of the issue, no shared code.

interface ModelAccount {
  balance: bigint;
  allowNegative: boolean;
  open: boolean;
}

type Prediction = { ok: true; result: JsonValue; emits: boolean } | { ok: false; reason: string };

class ModelLedger {
  accounts = new Map<string, ModelAccount>();
  /** id → what the first use was: the command name and body text, or an inner transfer. */
  ids = new Map<string, { signature: string; result: JsonValue }>();
  seq = 0;

  decide(name: string, data: JsonObject): Prediction {
    switch (name) {
      case 'ledger.open': {
        const acc = data['account'] as string;
        if (this.accounts.has(acc)) return { ok: false, reason: 'LEDGER_ACCOUNT_EXISTS' };
        this.accounts.set(acc, { balance: 0n, allowNegative: data['allowNegative'] === true, open: true });
        return this.emitted({ account: acc });
      }
      case 'ledger.close': {
        const a = this.accounts.get(data['account'] as string);
        if (a === undefined) return { ok: false, reason: 'LEDGER_ACCOUNT_NOT_FOUND' };
        if (!a.open) return { ok: false, reason: 'LEDGER_ACCOUNT_CLOSED' };
        if (a.balance !== 0n) return { ok: false, reason: 'LEDGER_BALANCE_NOT_ZERO' };
        a.open = false;
        return this.emitted({ account: data['account'] as string });
      }
      case 'ledger.deposit':
      case 'ledger.withdraw':
      case 'ledger.transfer':
      case 'ledger.batch': {
        const movementId = data['id'] as string;
        const signature = `${name} ${canonicalize({ ...data, id: null })}`;
        const first = this.ids.get(movementId);
        if (first !== undefined) return first.signature === signature ? { ok: true, result: first.result, emits: false } : { ok: false, reason: 'LEDGER_ID_CONFLICT' };
        // Work on a copy of the balances: a refused command changes nothing.
        const balances = new Map([...this.accounts].map(([k, v]) => [k, v.balance]));
        let reason: string | undefined;
        if (name === 'ledger.deposit') reason = this.move(balances, undefined, data['account'] as string, BigInt(data['amount'] as string));
        else if (name === 'ledger.withdraw') reason = this.move(balances, data['account'] as string, undefined, BigInt(data['amount'] as string));
        else if (name === 'ledger.transfer') reason = this.transfer(balances, data);
        else {
          const seen = new Set([movementId]);
          for (const t of data['transfers'] as JsonObject[]) {
            const innerId = t['id'] as string;
            if (seen.has(innerId) || this.ids.has(innerId)) {
              reason = 'LEDGER_ID_CONFLICT';
              break;
            }
            seen.add(innerId);
            reason = this.transfer(balances, t);
            if (reason !== undefined) break;
          }
        }
        if (reason !== undefined) return { ok: false, reason };
        for (const [k, v] of balances) this.accounts.get(k)!.balance = v;
        const result = { id: movementId, seq: this.seq };
        this.ids.set(movementId, { signature, result });
        if (name === 'ledger.batch') for (const t of data['transfers'] as JsonObject[]) this.ids.set(t['id'] as string, { signature: 'inner', result: null });
        return this.emitted(result);
      }
      default:
        throw new Error(name);
    }
  }

  private emitted(result: JsonValue): Prediction {
    this.seq++;
    return { ok: true, result, emits: true };
  }

  private transfer(balances: Map<string, bigint>, t: JsonObject): string | undefined {
    if (BigInt(t['amount'] as string) !== 0n && t['from'] === t['to']) return 'LEDGER_SAME_ACCOUNT';
    return this.move(balances, t['from'] as string, t['to'] as string, BigInt(t['amount'] as string));
  }

  /** Debits `from` (if any) and credits `to` (if any) in `balances`, or says why not. */
  private move(balances: Map<string, bigint>, from: string | undefined, to: string | undefined, amount: bigint): string | undefined {
    if (amount === 0n) return 'LEDGER_AMOUNT_NOT_POSITIVE';
    for (const name of [from, to]) {
      if (name === undefined) continue;
      const a = this.accounts.get(name);
      if (a === undefined) return 'LEDGER_ACCOUNT_NOT_FOUND';
      if (!a.open) return 'LEDGER_ACCOUNT_CLOSED';
    }
    if (from !== undefined) {
      const next = balances.get(from)! - amount;
      if (next < 0n && !this.accounts.get(from)!.allowNegative) return 'LEDGER_INSUFFICIENT_FUNDS';
      if (next < -MAX) return 'LEDGER_OVERFLOW';
      balances.set(from, next);
    }
    if (to !== undefined) {
      const next = balances.get(to)! + amount;
      if (next > MAX) return 'LEDGER_OVERFLOW';
      balances.set(to, next);
    }
    return undefined;
  }
}

/** The naive reducer: balances and totals from the events alone. */
function rederive(events: readonly DomainEvent[]): { balances: Map<string, bigint>; deposited: bigint; withdrawn: bigint } {
  const balances = new Map<string, bigint>();
  let deposited = 0n;
  let withdrawn = 0n;
  const add = (k: string, d: bigint) => balances.set(k, balances.get(k)! + d);
  for (const e of events) {
    const d = e.data as { account: string; amount: string; transfers: { from: string; to: string; amount: string }[] } & { from: string; to: string };
    if (e.type === 'ledger.account_opened') balances.set(d.account, 0n);
    else if (e.type === 'ledger.deposited') {
      add(d.account, BigInt(d.amount));
      deposited += BigInt(d.amount);
    } else if (e.type === 'ledger.withdrawn') {
      add(d.account, -BigInt(d.amount));
      withdrawn += BigInt(d.amount);
    } else if (e.type === 'ledger.transferred' || e.type === 'ledger.batch_transferred') {
      for (const t of e.type === 'ledger.transferred' ? [d] : d.transfers) {
        add(t.from, -BigInt(t.amount));
        add(t.to, BigInt(t.amount));
      }
    }
  }
  return { balances, deposited, withdrawn };
}

// ---------------------------------------------------------------------------------------
// Runs

function run(spec: Spec, commands: { name: string; data: JsonObject }[], model?: ModelLedger): WhenOutcome[] {
  const outcomes: WhenOutcome[] = [];
  for (const c of commands) {
    const seqBefore = spec.seq;
    const outcome = spec.when(c.name, c.data);
    outcomes.push(outcome);
    expect(outcome).not.toHaveProperty('schemaError');
    if (model !== undefined) {
      const predicted = model.decide(c.name, c.data);
      const context = `${c.name} ${canonicalize(c.data)}`;
      if (predicted.ok) {
        expect(outcome, context).toMatchObject({ ok: true, result: predicted.result });
        expect((outcome as { events: unknown[] }).events.length, context).toBe(predicted.emits ? 1 : 0);
      } else {
        expect(outcome, context).toMatchObject({ ok: false, rejection: { reason: predicted.reason } });
        expect(spec.seq).toBe(seqBefore);
      }
    }
    expect(ledgerModule.checkInvariants!(spec.state, spec.entries)).toBeUndefined();
  }
  return outcomes;
}

function sortedEntries(spec: Spec): [string, JsonValue][] {
  return [...spec.entries.map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('ledger against a reference model (fast-check, seed 7)', () => {
  it('random command sequences: model agreement, conservation, no overdraft, replay, snapshots', () => {
    let accepted = 0;
    let rejected = 0;
    let noops = 0;
    const reasons = new Map<string, number>();
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 80, size: 'max' }), fc.boolean(), fc.nat(), (raw, withPrelude, cut) => {
        const commands = resolve(raw, withPrelude || raw.length % 5 !== 0);
        const spec = new Spec(ledgerModule);
        const model = new ModelLedger();
        const outcomes = run(spec, commands, model);
        for (const o of outcomes) {
          if ('ok' in o && o.ok) {
            if (o.events.length === 0) noops++;
            else accepted++;
          } else {
            rejected++;
            const reason = 'rejection' in o ? o.rejection.reason : 'schema';
            reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
          }
        }
        const s = spec.state as LedgerState;

        // Conservation, from the entries and, independently, from the applied events.
        const derived = rederive(spec.applied);
        let sum = 0n;
        for (const [key, value] of spec.entries.map) {
          if (!key.startsWith('account:')) continue;
          const v = value as { balance: string; allowNegative: boolean };
          const b = BigInt(v.balance);
          sum += b;
          // No overdraft without allowNegative; no balance beyond ±(2^128−1).
          if (!v.allowNegative) expect(b >= 0n, key).toBe(true);
          expect(b <= MAX && b >= -MAX, key).toBe(true);
          // The naive reducer and the model agree with every stored balance.
          expect(derived.balances.get(key.slice('account:'.length)), key).toBe(b);
          expect(model.accounts.get(key.slice('account:'.length))?.balance, key).toBe(b);
        }
        expect(derived.balances.size).toBe(spec.entries.count('account:'));
        expect(sum).toBe(derived.deposited - derived.withdrawn);
        expect(s.balanceSum).toBe(sum);
        expect([s.deposited, s.withdrawn]).toEqual([derived.deposited, derived.withdrawn]);
        expect(spec.entries.count('transfer:')).toBe(model.ids.size);

        // Replaying the applied events into a fresh Spec gives identical entries and state.
        const replay = new Spec(ledgerModule).given(...spec.applied.map((e) => ({ type: e.type, v: e.v, data: e.data })));
        expect(sortedEntries(replay)).toEqual(sortedEntries(spec));
        expect(replay.state).toEqual(spec.state);

        // A snapshot taken after `k` commands, then continued, gives the same run.
        const k = cut % (commands.length + 1);
        const first = new Spec(ledgerModule);
        const before = run(first, commands.slice(0, k));
        const text = canonicalize(ledgerModule.snapshot.encode(first.state));
        const restored = new Spec(ledgerModule);
        restored.state = ledgerModule.snapshot.decode(parseJson(text));
        for (const [key, value] of first.entries.map) restored.entries.map.set(key, parseJson(canonicalize(value)));
        restored.seq = first.seq;
        const after = run(restored, commands.slice(k));
        expect([...before, ...after]).toEqual(outcomes);
        expect(sortedEntries(restored)).toEqual(sortedEntries(spec));
        expect(restored.state).toEqual(spec.state);
        expect(canonicalize(ledgerModule.snapshot.encode(restored.state))).toBe(canonicalize(ledgerModule.snapshot.encode(spec.state)));
      }),
      { seed: 7, numRuns: 300 },
    );
    // The generators reach every branch often enough to mean something.
    expect(accepted).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(1000);
    expect(noops).toBeGreaterThan(50);
    // Every reason code is reached.
    expect([...reasons.keys()].sort()).toEqual([
      'LEDGER_ACCOUNT_CLOSED',
      'LEDGER_ACCOUNT_EXISTS',
      'LEDGER_ACCOUNT_NOT_FOUND',
      'LEDGER_AMOUNT_NOT_POSITIVE',
      'LEDGER_BALANCE_NOT_ZERO',
      'LEDGER_ID_CONFLICT',
      'LEDGER_INSUFFICIENT_FUNDS',
      'LEDGER_OVERFLOW',
      'LEDGER_SAME_ACCOUNT',
    ]);
  });
});
