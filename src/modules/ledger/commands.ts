/**
 * The ledger's commands: their schemas and their deciders (`decide(command, state) →
 * events | rejection`), pure functions of the authenticated entries.
 *
 * Order of the checks of a money movement, the same for every command and for every
 * transfer of a batch (so a given command always gets the same reason):
 * 1. the id: unused → go on; used by the same kind with the same body → a no-op that
 *    returns the first result `{id, seq}` exactly; otherwise LEDGER_ID_CONFLICT. The
 *    idempotency check comes first, so a retry succeeds even after the accounts changed.
 * 2. the amount: > 0 (LEDGER_AMOUNT_NOT_POSITIVE); for a transfer, from ≠ to
 *    (LEDGER_SAME_ACCOUNT);
 * 3. the accounts: exist (LEDGER_ACCOUNT_NOT_FOUND) and are open (LEDGER_ACCOUNT_CLOSED),
 *    the debited one first;
 * 4. the balances: the debit keeps a non-allowNegative account ≥ 0
 *    (LEDGER_INSUFFICIENT_FUNDS) and any account ≥ −(2^128−1); the credit keeps it
 *    ≤ 2^128−1 (LEDGER_OVERFLOW).
 *
 * A batch is one event or nothing: its transfers are decided in order against balances
 * updated transfer by transfer (a later transfer may spend what an earlier one brought),
 * and the first refused transfer refuses the batch, with `path` `data.transfers.<i>.<field>`.
 * Inner ids share the one namespace: each must be new, distinct within the batch and
 * different from the batch id. A standalone transfer whose id is an inner id of a batch is
 * a conflict even with the same from/to/amount: its first result was the batch's.
 */
import { z } from 'zod';
import type { JsonObject } from '../../canonical/json.js';
import { limits } from '../../limits.js';
import type { AnyCommandDef, Decision, DecideContext, NewEvent, StateReader } from '../module.js';
import { defineCommand } from '../module.js';
import { amountSchema, u128Max } from './amount.js';
import type { Refusal } from './rejections.js';
import {
  accountClosed,
  accountExists,
  accountNotFound,
  amountNotPositive,
  balanceNotZero,
  idConflict,
  idConflictInBatch,
  insufficientFunds,
  overflow,
  sameAccount,
} from './rejections.js';
import { ledgerIdSchema, memoSchema, metaSchema } from './schemas.js';
import type { AccountValue, LedgerState, MovementRecord } from './state.js';
import { readAccount, readMovement } from './state.js';

export const openData = z
  .object({ account: ledgerIdSchema, allowNegative: z.boolean().optional(), meta: metaSchema.optional() })
  .strict();
export const closeData = z.object({ account: ledgerIdSchema }).strict();
export const depositData = z.object({ id: ledgerIdSchema, account: ledgerIdSchema, amount: amountSchema }).strict();
export const withdrawData = depositData;
export const transferData = z
  .object({ id: ledgerIdSchema, from: ledgerIdSchema, to: ledgerIdSchema, amount: amountSchema, memo: memoSchema.optional() })
  .strict();
export const batchData = z
  .object({
    id: ledgerIdSchema,
    transfers: z
      .array(transferData)
      .min(1, 'a batch needs at least one transfer')
      .max(limits.ledgerBatchTransfersMax, `a batch holds at most ${limits.ledgerBatchTransfersMax} transfers`),
  })
  .strict();

export type OpenCommand = z.infer<typeof openData>;
export type CloseCommand = z.infer<typeof closeData>;
export type MovementCommand = z.infer<typeof depositData>;
export type TransferCommand = z.infer<typeof transferData>;
export type BatchCommand = z.infer<typeof batchData>;

type Context = DecideContext<LedgerState>;

/** The result of every money movement, and of its retries. */
function movementResult(id: string, seq: number): { id: string; seq: number } {
  return { id, seq };
}

function accepted(event: NewEvent, result: JsonObject): Decision {
  return { ok: true, events: [event], result };
}

// ---------------------------------------------------------------------------------------
// Idempotency

/** True when `record` is the record a command of `kind` with this body would have left. */
function sameMovement(record: MovementRecord, kind: 'deposit' | 'withdrawal', data: MovementCommand): boolean {
  return record.kind === kind && record.account === data.account && record.amount === data.amount;
}

function sameTransfer(record: { from: string; to: string; amount: string; memo?: string }, data: TransferCommand): boolean {
  // Amounts are canonical, so equal strings are equal values and vice versa.
  return record.from === data.from && record.to === data.to && record.amount === data.amount && record.memo === data.memo;
}

/** A batch is the same when every inner record still says: this batch, this index, this body. */
function sameBatch(record: MovementRecord, data: BatchCommand, entries: StateReader): boolean {
  if (record.kind !== 'batch' || record.transfers.length !== data.transfers.length) return false;
  for (let i = 0; i < data.transfers.length; i++) {
    const t = data.transfers[i] as TransferCommand;
    if (record.transfers[i] !== t.id) return false;
    const inner = readMovement(entries, t.id);
    if (inner?.kind !== 'batch_transfer' || inner.batch !== data.id || inner.index !== i || !sameTransfer(inner, t)) return false;
  }
  return true;
}

/**
 * The outcome for an id that is already recorded: the first result again (no events) when
 * `same`, LEDGER_ID_CONFLICT otherwise.
 */
function retry(id: string, record: MovementRecord, same: boolean): Decision {
  if (same) return { ok: true, events: [], result: movementResult(id, record.seq) };
  return idConflict(id, 'data.id', record, true);
}

// ---------------------------------------------------------------------------------------
// Balances

/** An account as a movement sees it: its stored value and its balance so far. */
interface Slot {
  id: string;
  account: AccountValue;
  balance: bigint;
}

/** Loads accounts once per decision, so a batch sees its own earlier transfers. */
class Slots {
  readonly #loaded = new Map<string, Slot | null>();
  constructor(readonly entries: StateReader) {}

  get(id: string): Slot | undefined {
    let slot = this.#loaded.get(id);
    if (slot === undefined) {
      const account = readAccount(this.entries, id);
      slot = account === undefined ? null : { id, account, balance: BigInt(account.balance) };
      this.#loaded.set(id, slot);
    }
    return slot ?? undefined;
  }
}

/** The open account `id`, or the refusal naming `path`. */
function openAccount(slots: Slots, id: string, path: string): Slot | Refusal {
  const slot = slots.get(id);
  if (slot === undefined) return accountNotFound(id, path);
  if (!slot.account.open) return accountClosed(id, path);
  return slot;
}

/** The balance after debiting `amount`, or the refusal (insufficient funds, or below −(2^128−1)). */
function debit(slot: Slot, amount: bigint, path: string): bigint | Refusal {
  const next = slot.balance - amount;
  if (next < 0n && !slot.account.allowNegative) return insufficientFunds(slot.id, slot.balance, amount, path);
  if (next < -u128Max) return overflow(slot.id, slot.balance, amount, false, path);
  return next;
}

/** The balance after crediting `amount`, or the refusal (above 2^128−1). */
function credit(slot: Slot, amount: bigint, path: string): bigint | Refusal {
  const next = slot.balance + amount;
  if (next > u128Max) return overflow(slot.id, slot.balance, amount, true, path);
  return next;
}

function isRefusal<T>(value: T | Refusal): value is Refusal {
  return typeof value === 'object' && value !== null && 'rejection' in value;
}

/**
 * Guards one transfer (steps 2–4 of the file comment; the id is the caller's) and, when it
 * passes, moves the money in `slots`. `path` is `data` or `data.transfers.<i>`.
 */
function guardTransfer(t: TransferCommand, slots: Slots, path: string): Refusal | undefined {
  const amount = BigInt(t.amount);
  if (amount === 0n) return amountNotPositive(`${path}.amount`);
  if (t.from === t.to) return sameAccount(t.from, `${path}.to`);
  const from = openAccount(slots, t.from, `${path}.from`);
  if (isRefusal(from)) return from;
  const to = openAccount(slots, t.to, `${path}.to`);
  if (isRefusal(to)) return to;
  const fromBalance = debit(from, amount, `${path}.amount`);
  if (isRefusal(fromBalance)) return fromBalance;
  const toBalance = credit(to, amount, `${path}.amount`);
  if (isRefusal(toBalance)) return toBalance;
  from.balance = fromBalance;
  to.balance = toBalance;
  return undefined;
}

/** The event payload of a transfer: the body as given, `memo` only when present. */
function transferBody(t: TransferCommand): JsonObject {
  const body: JsonObject = { id: t.id, from: t.from, to: t.to, amount: t.amount };
  if (t.memo !== undefined) body['memo'] = t.memo;
  return body;
}

// ---------------------------------------------------------------------------------------
// Deciders

export function decideOpen(data: OpenCommand, { entries }: Context): Decision {
  const existing = readAccount(entries, data.account);
  if (existing !== undefined) return accountExists(data.account, existing.open, 'data.account');
  const event: JsonObject = { account: data.account, allowNegative: data.allowNegative ?? false };
  if (data.meta !== undefined) event['meta'] = data.meta as JsonObject;
  return accepted({ type: 'ledger.account_opened', data: event }, { account: data.account });
}

export function decideClose(data: CloseCommand, { entries }: Context): Decision {
  const account = readAccount(entries, data.account);
  if (account === undefined) return accountNotFound(data.account, 'data.account');
  if (!account.open) return accountClosed(data.account, 'data.account');
  if (account.balance !== '0') return balanceNotZero(data.account, account.balance, 'data.account');
  return accepted({ type: 'ledger.account_closed', data: { account: data.account } }, { account: data.account });
}

function decideMovement(kind: 'deposit' | 'withdrawal', data: MovementCommand, { entries, seq }: Context): Decision {
  const record = readMovement(entries, data.id);
  if (record !== undefined) return retry(data.id, record, sameMovement(record, kind, data));
  const amount = BigInt(data.amount);
  if (amount === 0n) return amountNotPositive('data.amount');
  const slot = openAccount(new Slots(entries), data.account, 'data.account');
  if (isRefusal(slot)) return slot;
  const next = kind === 'deposit' ? credit(slot, amount, 'data.amount') : debit(slot, amount, 'data.amount');
  if (isRefusal(next)) return next;
  const type = kind === 'deposit' ? 'ledger.deposited' : 'ledger.withdrawn';
  return accepted({ type, data: { id: data.id, account: data.account, amount: data.amount } }, movementResult(data.id, seq));
}

export function decideDeposit(data: MovementCommand, context: Context): Decision {
  return decideMovement('deposit', data, context);
}

export function decideWithdraw(data: MovementCommand, context: Context): Decision {
  return decideMovement('withdrawal', data, context);
}

export function decideTransfer(data: TransferCommand, { entries, seq }: Context): Decision {
  const record = readMovement(entries, data.id);
  if (record !== undefined) return retry(data.id, record, record.kind === 'transfer' && sameTransfer(record, data));
  const refusal = guardTransfer(data, new Slots(entries), 'data');
  if (refusal !== undefined) return refusal;
  return accepted({ type: 'ledger.transferred', data: transferBody(data) }, movementResult(data.id, seq));
}

export function decideBatch(data: BatchCommand, { entries, seq }: Context): Decision {
  const record = readMovement(entries, data.id);
  if (record !== undefined) return retry(data.id, record, sameBatch(record, data, entries));
  const slots = new Slots(entries);
  const firstIndex = new Map<string, number>();
  for (let i = 0; i < data.transfers.length; i++) {
    const t = data.transfers[i] as TransferCommand;
    const path = `data.transfers.${i}`;
    if (t.id === data.id) return idConflictInBatch(t.id, `${path}.id`, -1);
    const earlier = firstIndex.get(t.id);
    if (earlier !== undefined) return idConflictInBatch(t.id, `${path}.id`, earlier);
    firstIndex.set(t.id, i);
    const used = readMovement(entries, t.id);
    if (used !== undefined) return idConflict(t.id, `${path}.id`, used, false);
    const refusal = guardTransfer(t, slots, path);
    if (refusal !== undefined) return refusal;
  }
  return accepted({ type: 'ledger.batch_transferred', data: { id: data.id, transfers: data.transfers.map(transferBody) } }, movementResult(data.id, seq));
}

export const ledgerCommands: readonly AnyCommandDef<LedgerState>[] = [
  defineCommand<LedgerState, OpenCommand>({
    name: 'ledger.open',
    description: 'Open an account with balance 0 (allowNegative: may its balance go below zero; meta: any JSON object). Result {account}.',
    schema: openData,
    decide: decideOpen,
  }),
  defineCommand<LedgerState, MovementCommand>({
    name: 'ledger.deposit',
    description: 'Credit amount (u128 string, minor units) to an open account under a new movement id; retrying the same body is a no-op. Result {id, seq}.',
    schema: depositData,
    decide: decideDeposit,
  }),
  defineCommand<LedgerState, MovementCommand>({
    name: 'ledger.withdraw',
    description: 'Debit amount from an open account (no overdraft unless allowNegative) under a new movement id; idempotent like deposit. Result {id, seq}.',
    schema: withdrawData,
    decide: decideWithdraw,
  }),
  defineCommand<LedgerState, TransferCommand>({
    name: 'ledger.transfer',
    description: 'Move amount from one open account to another under a new movement id, with an optional memo; idempotent. Result {id, seq}.',
    schema: transferData,
    decide: decideTransfer,
  }),
  defineCommand<LedgerState, BatchCommand>({
    name: 'ledger.batch',
    description: `Apply 1…${limits.ledgerBatchTransfersMax} transfers atomically and in order (all or none), each with its own new id; idempotent by batch id. Result {id, seq}.`,
    schema: batchData,
    decide: decideBatch,
  }),
  defineCommand<LedgerState, CloseCommand>({
    name: 'ledger.close',
    description: 'Close an open account whose balance is 0; its id is never reused. Result {account}.',
    schema: closeData,
    decide: decideClose,
  }),
];
