/**
 * The ledger's guard failures: stable reason codes (API, like error codes: never renamed,
 * never reused for another meaning) and one factory per code, so every rejection of the
 * same kind carries the same detail fields.
 *
 * `path` points at the refused value in the command, `data.<field>`, or inside a batch
 * `data.transfers.<index>.<field>`; `detail` carries the values a caller needs to act
 * (amounts and balances as strings, like everywhere else).
 */
import type { JsonObject } from '../../canonical/json.js';
import type { Rejection } from '../module.js';
import type { MovementKind } from './state.js';

export const ledgerReasons = {
  /** `ledger.open` of an id that exists (open or closed: account ids are never reused). */
  LEDGER_ACCOUNT_EXISTS: 'LEDGER_ACCOUNT_EXISTS',
  /** The account was never opened. */
  LEDGER_ACCOUNT_NOT_FOUND: 'LEDGER_ACCOUNT_NOT_FOUND',
  /** The account is closed. */
  LEDGER_ACCOUNT_CLOSED: 'LEDGER_ACCOUNT_CLOSED',
  /** The debit would take an account without allowNegative below zero. */
  LEDGER_INSUFFICIENT_FUNDS: 'LEDGER_INSUFFICIENT_FUNDS',
  /** The credit would take a balance above 2^128−1, or the debit a negative balance below −(2^128−1). */
  LEDGER_OVERFLOW: 'LEDGER_OVERFLOW',
  /** The amount is 0. */
  LEDGER_AMOUNT_NOT_POSITIVE: 'LEDGER_AMOUNT_NOT_POSITIVE',
  /** A transfer from an account to itself. */
  LEDGER_SAME_ACCOUNT: 'LEDGER_SAME_ACCOUNT',
  /** The movement id was already used with a different body (or, for a batch's inner id, at all). */
  LEDGER_ID_CONFLICT: 'LEDGER_ID_CONFLICT',
  /** `ledger.close` of an account whose balance is not 0. */
  LEDGER_BALANCE_NOT_ZERO: 'LEDGER_BALANCE_NOT_ZERO',
} as const;

export type LedgerReason = keyof typeof ledgerReasons;

function reject(reason: LedgerReason, message: string, path: string, detail: JsonObject): { ok: false; rejection: Rejection } {
  return { ok: false, rejection: { reason, message, path, detail } };
}

export type Refusal = ReturnType<typeof reject>;

export function accountExists(account: string, open: boolean, path: string): Refusal {
  return reject('LEDGER_ACCOUNT_EXISTS', `account ${account} already exists${open ? '' : ' (closed; account ids are never reused)'}`, path, { account, open });
}

export function accountNotFound(account: string, path: string): Refusal {
  return reject('LEDGER_ACCOUNT_NOT_FOUND', `account ${account} does not exist: open it first with ledger.open`, path, { account });
}

export function accountClosed(account: string, path: string): Refusal {
  return reject('LEDGER_ACCOUNT_CLOSED', `account ${account} is closed`, path, { account });
}

export function insufficientFunds(account: string, balance: bigint, amount: bigint, path: string): Refusal {
  return reject('LEDGER_INSUFFICIENT_FUNDS', `account ${account} has balance ${balance}, less than the amount ${amount}, and does not allow a negative balance`, path, {
    account,
    balance: balance.toString(),
    amount: amount.toString(),
  });
}

export function overflow(account: string, balance: bigint, amount: bigint, credit: boolean, path: string): Refusal {
  const message = credit
    ? `crediting ${amount} to account ${account} (balance ${balance}) would exceed 2^128−1`
    : `debiting ${amount} from account ${account} (balance ${balance}) would go below −(2^128−1)`;
  return reject('LEDGER_OVERFLOW', message, path, { account, balance: balance.toString(), amount: amount.toString(), direction: credit ? 'credit' : 'debit' });
}

export function amountNotPositive(path: string): Refusal {
  return reject('LEDGER_AMOUNT_NOT_POSITIVE', 'amount must be greater than 0', path, { amount: '0' });
}

export function sameAccount(account: string, path: string): Refusal {
  return reject('LEDGER_SAME_ACCOUNT', `a transfer needs two different accounts; from and to are both ${account}`, path, { account });
}

/**
 * The id is already in the movement namespace. `differentBody` for a retry of a top-level
 * movement whose body differs from the first; false for an inner id of a batch, which may
 * never name anything already recorded.
 */
export function idConflict(id: string, path: string, existing: { kind: MovementKind; seq: number }, differentBody: boolean): Refusal {
  const what = existing.kind === 'batch_transfer' ? 'an inner transfer of a batch' : `a ${existing.kind}`;
  const message = differentBody
    ? `id ${id} was already used by ${what} at seq ${existing.seq} with a different body; a retry must repeat the first body exactly, anything else needs a new id`
    : `id ${id} is already used by ${what} at seq ${existing.seq}; every transfer of a batch needs a new id`;
  return reject('LEDGER_ID_CONFLICT', message, path, { id, kind: existing.kind, seq: existing.seq });
}

/** An inner id of a batch repeats an earlier one of the same batch (`firstIndex`), or the batch's own id (`firstIndex` −1). */
export function idConflictInBatch(id: string, path: string, firstIndex: number): Refusal {
  const message = firstIndex < 0 ? `id ${id} is the batch's own id; every transfer of a batch needs its own id` : `id ${id} appears twice in this batch (first at transfers.${firstIndex})`;
  return reject('LEDGER_ID_CONFLICT', message, path, { id, firstIndex });
}

export function balanceNotZero(account: string, balance: string, path: string): Refusal {
  return reject('LEDGER_BALANCE_NOT_ZERO', `account ${account} has balance ${balance}: only an account with balance 0 can be closed`, path, { account, balance });
}
