/**
 * The ledger's reducer: `evolve(state, event, entries) → {state, writes}`.
 *
 * On the replay hot path (DESIGN.md §6; the whole replay targets 500k events/s): per
 * movement it reads each account once, parses each balance once (BigInt), allocates one new
 * value per written key and one writes array, and updates the private totals in place
 * (module.ts allows it). No maps or sets except inside a batch.
 *
 * Every event is re-checked against the guards its command passed (commands.ts), because
 * a hand-made or damaged log can hold an event no decider would have emitted: an unknown
 * or reused id, a missing or closed account, an overdraft, a balance beyond ±(2^128−1), a
 * transfer to the same account, a close with a non-zero balance. Those throw
 * STELE_E_INVARIANT naming the event's seq — before any change to `state`, so a refused
 * event leaves the reducer as it was.
 *
 * `balanceSum` is maintained from the balances actually written (new − old, per account),
 * never from the event's amount, so a reducer bug that credits a different amount than it
 * debits breaks conservation (`balanceSum === deposited − withdrawn`), which
 * `checkInvariants` reports.
 */
import type { JsonObject } from '../../canonical/json.js';
import { invariantBroken } from '../errors.js';
import type { DomainEvent, Evolution, StateReader, StateWrite } from '../module.js';
import { u128Max } from './amount.js';
import type { TransferredData } from './events.js';
import type { AccountValue, LedgerState, MovementRecord } from './state.js';
import { accountStateKey, readAccount, transferStateKey } from './state.js';

/** The account `id`, which must exist and be open. */
function openAccount(event: DomainEvent, entries: StateReader, id: string): AccountValue {
  const account = readAccount(entries, id);
  if (account === undefined) throw invariantBroken(event, `account ${id} does not exist`);
  if (!account.open) throw invariantBroken(event, `account ${id} is closed`);
  return account;
}

/** Throws unless movement id `id` is unused. */
function requireUnusedId(event: DomainEvent, entries: StateReader, id: string): void {
  if (entries.get(transferStateKey(id)) !== undefined) throw invariantBroken(event, `movement id ${id} is already used`);
}

/** The amount of a movement: the event schema already makes it canonical 1 … 2^128−1; this guards a reducer fed without it. */
function amountOf(event: DomainEvent, text: string): bigint {
  const amount = BigInt(text);
  if (amount <= 0n || amount > u128Max) throw invariantBroken(event, `amount ${text} is outside 1 … 2^128−1`);
  return amount;
}

function debited(event: DomainEvent, id: string, account: AccountValue, balance: bigint, amount: bigint): bigint {
  const next = balance - amount;
  if (next < 0n && !account.allowNegative) throw invariantBroken(event, `debiting ${amount} from account ${id} (balance ${balance}) overdraws it, and it does not allow a negative balance`);
  if (next < -u128Max) throw invariantBroken(event, `debiting ${amount} from account ${id} (balance ${balance}) goes below −(2^128−1)`);
  return next;
}

function credited(event: DomainEvent, id: string, balance: bigint, amount: bigint): bigint {
  const next = balance + amount;
  if (next > u128Max) throw invariantBroken(event, `crediting ${amount} to account ${id} (balance ${balance}) exceeds 2^128−1`);
  return next;
}

/** The write of `account` with its new balance; adds the written change to `balanceSum`. */
function balanceWrite(state: LedgerState, id: string, account: AccountValue, before: bigint, after: bigint): StateWrite {
  state.balanceSum += after - before;
  const value: AccountValue = { ...account, balance: after.toString() };
  return { key: accountStateKey(id), value: value };
}

function opened(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  const id = event.data['account'] as string;
  if (readAccount(entries, id) !== undefined) throw invariantBroken(event, `account ${id} already exists`);
  const value: AccountValue = { balance: '0', allowNegative: event.data['allowNegative'] === true, open: true, openedSeq: event.seq };
  const meta = event.data['meta'];
  // A copy: the reducer must not keep references into the event (module.ts).
  if (meta !== undefined) value.meta = structuredClone(meta) as JsonObject;
  state.accounts++;
  state.openAccounts++;
  return { state, writes: [{ key: accountStateKey(id), value: value }] };
}

function closed(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  const id = event.data['account'] as string;
  const account = openAccount(event, entries, id);
  if (account.balance !== '0') throw invariantBroken(event, `account ${id} has balance ${account.balance}; only a zero balance can be closed`);
  state.openAccounts--;
  const value: AccountValue = { ...account, open: false, closedSeq: event.seq };
  return { state, writes: [{ key: accountStateKey(id), value: value }] };
}

function deposited(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  const { id, account: accountId, amount: text } = event.data as { id: string; account: string; amount: string };
  requireUnusedId(event, entries, id);
  const amount = amountOf(event, text);
  const account = openAccount(event, entries, accountId);
  const before = BigInt(account.balance);
  const after = credited(event, accountId, before, amount);
  state.deposited += amount;
  state.deposits++;
  const record: MovementRecord = { kind: 'deposit', account: accountId, amount: text, seq: event.seq };
  return { state, writes: [balanceWrite(state, accountId, account, before, after), { key: transferStateKey(id), value: record }] };
}

function withdrawn(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  const { id, account: accountId, amount: text } = event.data as { id: string; account: string; amount: string };
  requireUnusedId(event, entries, id);
  const amount = amountOf(event, text);
  const account = openAccount(event, entries, accountId);
  const before = BigInt(account.balance);
  const after = debited(event, accountId, account, before, amount);
  state.withdrawn += amount;
  state.withdrawals++;
  const record: MovementRecord = { kind: 'withdrawal', account: accountId, amount: text, seq: event.seq };
  return { state, writes: [balanceWrite(state, accountId, account, before, after), { key: transferStateKey(id), value: record }] };
}

function transferred(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  const t = event.data as TransferredData;
  requireUnusedId(event, entries, t.id);
  const amount = amountOf(event, t.amount);
  if (t.from === t.to) throw invariantBroken(event, `transfer ${t.id} moves money from account ${t.from} to itself`);
  const from = openAccount(event, entries, t.from);
  const to = openAccount(event, entries, t.to);
  const fromBefore = BigInt(from.balance);
  const toBefore = BigInt(to.balance);
  const fromAfter = debited(event, t.from, from, fromBefore, amount);
  const toAfter = credited(event, t.to, toBefore, amount);
  state.transferred += amount;
  state.transfers++;
  const record: MovementRecord =
    t.memo === undefined
      ? { kind: 'transfer', from: t.from, to: t.to, amount: t.amount, seq: event.seq }
      : { kind: 'transfer', from: t.from, to: t.to, amount: t.amount, memo: t.memo, seq: event.seq };
  return {
    state,
    writes: [balanceWrite(state, t.from, from, fromBefore, fromAfter), balanceWrite(state, t.to, to, toBefore, toAfter), { key: transferStateKey(t.id), value: record }],
  };
}

/** An account touched by a batch: its stored value, its balance before the batch and now. */
interface BatchSlot {
  account: AccountValue;
  before: bigint;
  balance: bigint;
}

function batchTransferred(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  const batchId = event.data['id'] as string;
  const transfers = event.data['transfers'] as TransferredData[];
  requireUnusedId(event, entries, batchId);
  if (transfers.length === 0) throw invariantBroken(event, `batch ${batchId} has no transfers`);
  // First pass: check every transfer against the balances so far; nothing is changed yet.
  const slots = new Map<string, BatchSlot>();
  const ids = new Set<string>([batchId]);
  let moved = 0n;
  const slot = (id: string): BatchSlot => {
    let s = slots.get(id);
    if (s === undefined) {
      const account = openAccount(event, entries, id);
      const before = BigInt(account.balance);
      s = { account, before, balance: before };
      slots.set(id, s);
    }
    return s;
  };
  for (let i = 0; i < transfers.length; i++) {
    const t = transfers[i] as TransferredData;
    if (ids.has(t.id)) throw invariantBroken(event, `transfers.${i}: id ${t.id} is repeated in batch ${batchId}`);
    ids.add(t.id);
    requireUnusedId(event, entries, t.id);
    const amount = amountOf(event, t.amount);
    if (t.from === t.to) throw invariantBroken(event, `transfers.${i}: transfer ${t.id} moves money from account ${t.from} to itself`);
    const from = slot(t.from);
    const to = slot(t.to);
    from.balance = debited(event, t.from, from.account, from.balance, amount);
    to.balance = credited(event, t.to, to.balance, amount);
    moved += amount;
  }
  // Second pass: commit. One write per touched account (its final balance), one per id.
  const writes: StateWrite[] = [];
  for (const [id, s] of slots) writes.push(balanceWrite(state, id, s.account, s.before, s.balance));
  const innerIds: string[] = [];
  for (let i = 0; i < transfers.length; i++) {
    const t = transfers[i] as TransferredData;
    innerIds.push(t.id);
    const record: MovementRecord =
      t.memo === undefined
        ? { kind: 'batch_transfer', batch: batchId, index: i, from: t.from, to: t.to, amount: t.amount, seq: event.seq }
        : { kind: 'batch_transfer', batch: batchId, index: i, from: t.from, to: t.to, amount: t.amount, memo: t.memo, seq: event.seq };
    writes.push({ key: transferStateKey(t.id), value: record });
  }
  const batch: MovementRecord = { kind: 'batch', transfers: innerIds, seq: event.seq };
  writes.push({ key: transferStateKey(batchId), value: batch });
  state.transferred += moved;
  state.batches++;
  state.batchTransfers += transfers.length;
  return { state, writes };
}

/** Applies one ledger event; throws STELE_E_INVARIANT for an event no decider could have emitted. */
export function evolveLedger(state: LedgerState, event: DomainEvent, entries: StateReader): Evolution<LedgerState> {
  switch (event.type) {
    case 'ledger.transferred':
      return transferred(state, event, entries);
    case 'ledger.deposited':
      return deposited(state, event, entries);
    case 'ledger.withdrawn':
      return withdrawn(state, event, entries);
    case 'ledger.batch_transferred':
      return batchTransferred(state, event, entries);
    case 'ledger.account_opened':
      return opened(state, event, entries);
    case 'ledger.account_closed':
      return closed(state, event, entries);
    default:
      throw invariantBroken(event, `the ledger module has no event type ${event.type}`);
  }
}
