/**
 * The ledger's derived views.
 * - `totals`: the private aggregates, O(1); bigints as decimal strings.
 * - `accounts`: every account as `[id, value]`, sorted by id (UTF-16 order). It lists the
 *   entries (O(n log n), module.ts `StateReader.list`) and returns them all: fine for small
 *   ledgers and the dashboard; a large one should be paged by the caller through
 *   `account:<id>` reads instead.
 */
import type { JsonObject, JsonValue } from '../../canonical/json.js';
import type { ModuleView, StateReader } from '../module.js';
import type { LedgerState } from './state.js';
import { accountPrefix } from './state.js';

export function totalsView(state: LedgerState): JsonObject {
  return {
    accounts: state.accounts,
    openAccounts: state.openAccounts,
    deposited: state.deposited.toString(),
    withdrawn: state.withdrawn.toString(),
    balanceSum: state.balanceSum.toString(),
    transferred: state.transferred.toString(),
    deposits: state.deposits,
    withdrawals: state.withdrawals,
    transfers: state.transfers,
    batches: state.batches,
    batchTransfers: state.batchTransfers,
  };
}

export function accountsView(_state: LedgerState, entries: StateReader): JsonValue {
  return entries.list(accountPrefix).map(([key, value]): JsonValue => [key.slice(accountPrefix.length), value]);
}

export const ledgerViews: Readonly<Record<string, ModuleView<LedgerState>>> = {
  totals: totalsView,
  accounts: accountsView,
};
