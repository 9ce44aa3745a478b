/**
 * The ledger module (DESIGN.md §7): accounts holding u128 amounts in minor units, with
 * deposits, withdrawals, transfers and atomic batches of transfers, guarded so that no
 * account is overdrawn unless it allows a negative balance, no balance leaves
 * ±(2^128−1), the total is conserved, and every movement id is idempotent.
 *
 * - Commands (commands.ts): `ledger.open {account, allowNegative?, meta?}` → `{account}`;
 *   `ledger.deposit` / `ledger.withdraw {id, account, amount}`, `ledger.transfer {id, from,
 *   to, amount, memo?}`, `ledger.batch {id, transfers: [...]}` → `{id, seq}`;
 *   `ledger.close {account}` → `{account}`. Refusals carry a LEDGER_* reason
 *   (rejections.ts) and the path of the refused value.
 * - Events (events.ts): `ledger.account_opened`, `ledger.account_closed`,
 *   `ledger.deposited`, `ledger.withdrawn`, `ledger.transferred`, `ledger.batch_transferred`,
 *   all v1, none direct.
 * - Authenticated state (state.ts): `account:<id>` and `transfer:<id>`.
 * - Private state: totals and counts (state.ts), snapshot codec (snapshot.ts), O(1)
 *   invariants (invariants.ts), views `totals` and `accounts` (views.ts).
 *
 * Helpers for the CLI and applications are re-exported here: the state keys and the
 * amount codec.
 */
import { defineModule } from '../module.js';
import { ledgerCommands } from './commands.js';
import { ledgerEvents } from './events.js';
import { evolveLedger } from './evolve.js';
import { checkLedgerInvariants } from './invariants.js';
import { ledgerSnapshotCodec } from './snapshot.js';
import type { LedgerState } from './state.js';
import { accountPrefix, initialLedgerState, transferPrefix } from './state.js';
import { ledgerViews } from './views.js';

export { amountPattern, balancePattern, formatAmount, formatBalance, isAmount, parseAmount, parseBalance, positiveAmountPattern, u128Max } from './amount.js';
export { ledgerReasons } from './rejections.js';
export type { LedgerReason } from './rejections.js';
export { accountStateKey, transferStateKey } from './state.js';
export type { AccountValue, LedgerState, MovementKind, MovementRecord } from './state.js';

export const ledgerModule = defineModule<LedgerState>({
  name: 'ledger',
  version: 1,
  description: 'Accounts with u128 balances in minor units: deposits, withdrawals, transfers and atomic batches, with idempotent movement ids.',
  events: ledgerEvents,
  commands: ledgerCommands,
  keyPrefixes: [accountPrefix, transferPrefix],
  initialState: initialLedgerState,
  evolve: evolveLedger,
  checkInvariants: checkLedgerInvariants,
  snapshot: ledgerSnapshotCodec,
  views: ledgerViews,
});
