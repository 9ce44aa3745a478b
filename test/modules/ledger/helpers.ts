/** Event builders and expectations shared by the ledger's specifications. */
import { expect } from 'vitest';
import type { JsonObject } from '../../../src/canonical/json.js';
import { ledgerModule } from '../../../src/modules/ledger/index.js';
import type { LedgerState } from '../../../src/modules/ledger/index.js';
import type { NewEvent } from '../../../src/modules/module.js';
import type { WhenOutcome } from '../spec.js';
import { Spec } from '../spec.js';

export const max = (1n << 128n) - 1n;

export function ledger(...given: NewEvent[]): Spec {
  return new Spec(ledgerModule).given(...given);
}

export function opened(account: string, allowNegative = false, meta?: JsonObject): NewEvent {
  return { type: 'ledger.account_opened', data: meta === undefined ? { account, allowNegative } : { account, allowNegative, meta } };
}

export function closed(account: string): NewEvent {
  return { type: 'ledger.account_closed', data: { account } };
}

export function deposited(id: string, account: string, amount: string | bigint | number): NewEvent {
  return { type: 'ledger.deposited', data: { id, account, amount: String(amount) } };
}

export function withdrawn(id: string, account: string, amount: string | bigint | number): NewEvent {
  return { type: 'ledger.withdrawn', data: { id, account, amount: String(amount) } };
}

export interface T {
  id: string;
  from: string;
  to: string;
  amount: string;
  memo?: string;
}

export function t(id: string, from: string, to: string, amount: string | bigint | number, memo?: string): T {
  const out: T = { id, from, to, amount: String(amount) };
  if (memo !== undefined) out.memo = memo;
  return out;
}

export function transferred(transfer: T): NewEvent {
  return { type: 'ledger.transferred', data: { ...transfer } };
}

export function batchTransferred(id: string, transfers: T[]): NewEvent {
  return { type: 'ledger.batch_transferred', data: { id, transfers: transfers.map((x) => ({ ...x })) } };
}

/** The balance string stored for `account`. */
export function balance(spec: Spec, account: string): string {
  return (spec.entries.get(`account:${account}`) as { balance: string }).balance;
}

export function state(spec: Spec): LedgerState {
  return spec.state as LedgerState;
}

/** Asserts a rejection with this reason and path, and returns it for further checks. */
export function expectRejected(outcome: WhenOutcome, reason: string, path: string) {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: false, rejection: { reason, path } });
  if (!('ok' in outcome) || outcome.ok) throw new Error('unreachable');
  expect(outcome.rejection.message.length).toBeGreaterThan(0);
  return outcome.rejection;
}

export function expectSchemaError(outcome: WhenOutcome): void {
  expect(outcome, JSON.stringify(outcome)).toHaveProperty('schemaError');
}

/** Everything a rejected command must leave untouched. */
export function frozen(spec: Spec): unknown {
  return { entries: [...spec.entries.map].sort(), state: ledgerModule.snapshot.encode(spec.state), seq: spec.seq, applied: spec.applied.length };
}
