/**
 * The ledger's invariants over its private state and entries, checked after every written
 * batch and at every checkpoint of a replay (module.ts), so O(1): two bigint operations and
 * two prefix counts.
 *
 * - Conservation: the sum of all balances equals everything deposited minus everything
 *   withdrawn. `balanceSum` follows the balances evolve writes, the totals follow the
 *   events' amounts: a reducer that credits a transfer differently from its debit, or that
 *   drops a write, makes them differ.
 * - Counts: one `account:` entry per account ever opened, at most that many open, and one
 *   `transfer:` entry per movement id of any kind.
 *
 * The per-account rules (no balance below zero without allowNegative, |balance| ≤ 2^128−1)
 * are enforced on every write by evolve; checking them here would cost O(accounts).
 */
import type { StateReader } from '../module.js';
import type { LedgerState } from './state.js';
import { accountPrefix, movementIdCount, transferPrefix } from './state.js';

export function checkLedgerInvariants(state: LedgerState, entries: StateReader): string | undefined {
  if (state.balanceSum !== state.deposited - state.withdrawn) {
    return `conservation broken: the balances sum to ${state.balanceSum}, but deposited − withdrawn is ${state.deposited} − ${state.withdrawn} = ${state.deposited - state.withdrawn}`;
  }
  const accountEntries = entries.count(accountPrefix);
  if (state.accounts !== accountEntries) return `${state.accounts} accounts were opened, but the state holds ${accountEntries} account: entries`;
  if (state.openAccounts < 0 || state.openAccounts > state.accounts) return `${state.openAccounts} open accounts out of ${state.accounts}`;
  const ids = movementIdCount(state);
  const idEntries = entries.count(transferPrefix);
  if (ids !== idEntries) return `${ids} movement ids were recorded, but the state holds ${idEntries} transfer: entries`;
  return undefined;
}
