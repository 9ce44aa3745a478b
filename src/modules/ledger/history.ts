/**
 * How each ledger event changes account balances, as a list of per-account changes: the
 * one description of a ledger event's money movements that derived views (the account
 * history of src/views/account-history.ts) read, so they never re-implement the reducer.
 *
 * Invariants:
 * - Exhaustive over the ledger's event types (events.ts): every `(type, v)` the module
 *   defines has a case, checked at load against `ledgerEvents`, so adding a type or a
 *   version there without a case here fails at startup, not in a query. An unknown
 *   `ledger.*` type or version reaching `ledgerChanges` is a programmer error (the registry
 *   validated every event before it got here) and fails an assertion.
 * - Versions: the runtime upcasts a stored payload to its type's latest version before
 *   `evolve` sees it (runtime/machine.ts). Every ledger type has only `v: 1` today, so the
 *   stored payload is the latest; when a `v: 2` appears, the load check below fails until a
 *   case for it is written here (or callers upcast with `EventRegistry.upcast` first).
 * - At most one change per account per event, in order of first appearance in the event:
 *   a batch is netted per account (evolve writes one balance per touched account too), so
 *   a history keyed by seq never holds two entries of one account at the same seq. An
 *   account a batch touches with a net of zero still gets its change (delta 0): it took
 *   part in the event.
 * - Opening and closing are changes with delta 0, so they appear in an account's history.
 * - The sum of all deltas of an event equals its deposit (+amount), withdrawal (−amount),
 *   or 0 (transfers, batches, openings, closings): conservation, as evolve keeps it.
 *
 * Pure: no I/O, no clock. Amounts are parsed with the module's own codec (amount.ts).
 */
import assert from 'node:assert/strict';
import type { JsonObject } from '../../canonical/json.js';
import { parseAmount } from './amount.js';
import { ledgerEvents } from './events.js';

/** What a change did to the account, in the account's own terms (a transfer is `transfer_out` for its sender). */
export const ledgerChangeKinds = ['opened', 'closed', 'deposit', 'withdrawal', 'transfer_out', 'transfer_in', 'batch'] as const;
export type LedgerChangeKind = (typeof ledgerChangeKinds)[number];

/** The event type each kind of change comes from. */
export const ledgerChangeType: Readonly<Record<LedgerChangeKind, LedgerEventType>> = {
  opened: 'ledger.account_opened',
  closed: 'ledger.account_closed',
  deposit: 'ledger.deposited',
  withdrawal: 'ledger.withdrawn',
  transfer_out: 'ledger.transferred',
  transfer_in: 'ledger.transferred',
  batch: 'ledger.batch_transferred',
};

/** One account's balance change in one event. `delta` is signed, in minor units. */
export interface LedgerChange {
  account: string;
  delta: bigint;
  kind: LedgerChangeKind;
}

/** The ledger event types with their one version this file describes. */
const handled = {
  'ledger.account_opened': 1,
  'ledger.account_closed': 1,
  'ledger.deposited': 1,
  'ledger.withdrawn': 1,
  'ledger.transferred': 1,
  'ledger.batch_transferred': 1,
} as const;
type LedgerEventType = keyof typeof handled;

// The load check of the header: the module's event definitions and this file's cases agree.
assert.deepEqual(
  ledgerEvents.map((d) => `${d.type}@${d.v}`).sort(),
  Object.entries(handled)
    .map(([type, v]) => `${type}@${v}`)
    .sort(),
  'ledger/history.ts must describe every ledger event type and version of ledger/events.ts',
);

function isLedgerEventType(type: string): type is LedgerEventType {
  return Object.hasOwn(handled, type);
}

// The checks below build their messages only when they fail: this runs once per ledger
// event of a replay, where a template string per check would cost more than the work.

function text(data: JsonObject, field: string, type: string): string {
  const value = data[field];
  if (typeof value !== 'string') assert.fail(`${type}: data.${field} is a string (the registry validated the event)`);
  return value;
}

/** A movement's amount: the event schema makes it canonical and 1 … 2^128−1. */
function amount(data: JsonObject, type: string): bigint {
  const raw = text(data, 'amount', type);
  const value = parseAmount(raw);
  if (value === undefined || value <= 0n) assert.fail(`${type}: amount ${raw} is a canonical positive amount (the registry validated the event)`);
  return value;
}

/**
 * The balance changes of one ledger event `(type, v, data)`, as stored in the log (the
 * payload is not changed and no reference into it is kept but the account id strings).
 * Fails an assertion for a type or version the ledger does not define: callers pass only
 * registry-validated `ledger.*` events.
 */
export function ledgerChanges(type: string, v: number, data: JsonObject): LedgerChange[] {
  if (!isLedgerEventType(type)) return assert.fail(`the ledger module has no event type ${type}`);
  if (v !== handled[type]) assert.fail(`${type}@${v} is not a version ledger/history.ts describes`);
  switch (type) {
    case 'ledger.account_opened':
      return [{ account: text(data, 'account', type), delta: 0n, kind: 'opened' }];
    case 'ledger.account_closed':
      return [{ account: text(data, 'account', type), delta: 0n, kind: 'closed' }];
    case 'ledger.deposited':
      return [{ account: text(data, 'account', type), delta: amount(data, type), kind: 'deposit' }];
    case 'ledger.withdrawn':
      return [{ account: text(data, 'account', type), delta: -amount(data, type), kind: 'withdrawal' }];
    case 'ledger.transferred': {
      const moved = amount(data, type);
      const from = text(data, 'from', type);
      const to = text(data, 'to', type);
      if (from === to) assert.fail(`${type}: a transfer never moves money from an account to itself (evolve refuses it)`);
      return [
        { account: from, delta: -moved, kind: 'transfer_out' },
        { account: to, delta: moved, kind: 'transfer_in' },
      ];
    }
    case 'ledger.batch_transferred': {
      const transfers = data['transfers'];
      if (!Array.isArray(transfers) || transfers.length === 0) assert.fail(`${type}: data.transfers is a non-empty array (the registry validated the event)`);
      // Netted per account in order of first appearance (Map keeps insertion order).
      const net = new Map<string, bigint>();
      for (const t of transfers) {
        if (typeof t !== 'object' || t === null || Array.isArray(t)) assert.fail(`${type}: each transfer is an object`);
        const moved = amount(t, type);
        const from = text(t, 'from', type);
        const to = text(t, 'to', type);
        net.set(from, (net.get(from) ?? 0n) - moved);
        net.set(to, (net.get(to) ?? 0n) + moved);
      }
      const out: LedgerChange[] = [];
      for (const [account, delta] of net) out.push({ account, delta, kind: 'batch' });
      return out;
    }
    default: {
      const never: never = type;
      return assert.fail(`the ledger module has no event type ${String(never)}`);
    }
  }
}
