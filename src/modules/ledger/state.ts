/**
 * The ledger's two kinds of state (module.ts): its authenticated entries and its private
 * aggregates.
 *
 * Authenticated entries (committed to by the state root, DESIGN.md §3), enough on their own
 * to check balances, idempotency and audits without the log:
 * - `account:<id>` → `AccountValue`: the balance as a canonical signed integer string
 *   (negative only when `allowNegative`), whether it is open, its metadata, and the seqs of
 *   the events that opened and closed it.
 * - `transfer:<id>` → `MovementRecord`: every id ever used by a deposit, withdrawal,
 *   transfer, batch or inner transfer of a batch (one namespace), with its kind, the body a
 *   retry is compared with, and the seq of the event that carried it. A batch lists its
 *   inner ids; each inner id points back to its batch and index. The first result of any
 *   movement, `{id, seq}`, is re-derived from the record, so a retry returns it exactly.
 *
 * Private state (`LedgerState`, in snapshots, not in the root): running totals as bigints
 * and counts, so the `totals` view and the O(1) invariants never scan the entries.
 */
import type { JsonObject } from '../../canonical/json.js';
import type { StateReader } from '../module.js';

/** The authenticated key of an account. */
export function accountStateKey(account: string): string {
  return `account:${account}`;
}

/** The authenticated key of a movement id (deposit, withdrawal, transfer, batch or inner transfer: one namespace). */
export function transferStateKey(id: string): string {
  return `transfer:${id}`;
}

export const accountPrefix = 'account:';
export const transferPrefix = 'transfer:';

/** `account:<id>` → this. */
export type AccountValue = {
  /** Canonical signed integer string (amount.ts `balancePattern`). */
  balance: string;
  allowNegative: boolean;
  open: boolean;
  /** Seq of the `ledger.account_opened` event. */
  openedSeq: number;
  /** Seq of the `ledger.account_closed` event, once closed. */
  closedSeq?: number;
  /** The caller's metadata from `ledger.open`, as given. */
  meta?: JsonObject;
};

/** The kinds of movement an id can name. */
export type MovementKind = 'deposit' | 'withdrawal' | 'transfer' | 'batch' | 'batch_transfer';

/** `transfer:<id>` → one of these, by `kind`. `seq` is the seq of the event that carried the movement. */
export type MovementRecord =
  | { kind: 'deposit' | 'withdrawal'; account: string; amount: string; seq: number }
  | { kind: 'transfer'; from: string; to: string; amount: string; memo?: string; seq: number }
  | { kind: 'batch'; transfers: string[]; seq: number }
  | { kind: 'batch_transfer'; batch: string; index: number; from: string; to: string; amount: string; memo?: string; seq: number };

/** The account at `id`, or undefined. The value is the stored one: never mutate it. */
export function readAccount(entries: StateReader, id: string): AccountValue | undefined {
  return entries.get(accountStateKey(id)) as AccountValue | undefined;
}

/** The record of movement id `id`, or undefined when the id is unused. Never mutate it. */
export function readMovement(entries: StateReader, id: string): MovementRecord | undefined {
  return entries.get(transferStateKey(id)) as MovementRecord | undefined;
}

/**
 * The private state. Totals are bigints: `deposited` and `withdrawn` grow without bound
 * (money can cycle in and out forever), `balanceSum` may be negative through allowNegative
 * accounts. Invariant (conservation): `balanceSum === deposited − withdrawn`, where
 * `balanceSum` is maintained from the balances evolve actually writes (old vs new).
 */
export interface LedgerState {
  /** Sum of every deposited amount. */
  deposited: bigint;
  /** Sum of every withdrawn amount. */
  withdrawn: bigint;
  /** Sum of every account's balance, updated from each written balance change. */
  balanceSum: bigint;
  /** Sum of the amounts moved by transfers, standalone or in batches. */
  transferred: bigint;
  /** Accounts ever opened (closed ones stay: `account:` entries are never deleted). */
  accounts: number;
  /** Accounts open now. */
  openAccounts: number;
  deposits: number;
  withdrawals: number;
  /** Standalone `ledger.transfer`s. */
  transfers: number;
  batches: number;
  /** Transfers inside batches. */
  batchTransfers: number;
}

export function initialLedgerState(): LedgerState {
  return {
    deposited: 0n,
    withdrawn: 0n,
    balanceSum: 0n,
    transferred: 0n,
    accounts: 0,
    openAccounts: 0,
    deposits: 0,
    withdrawals: 0,
    transfers: 0,
    batches: 0,
    batchTransfers: 0,
  };
}

/** How many `transfer:` entries the counts imply: one per id of any kind. */
export function movementIdCount(state: LedgerState): number {
  return state.deposits + state.withdrawals + state.transfers + state.batches + state.batchTransfers;
}
