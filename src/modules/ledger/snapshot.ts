/**
 * The snapshot codec of the ledger's private state (module.ts `SnapshotCodec`): one JSON
 * object, bigints as canonical decimal strings, counts as integers. `decode` is strict —
 * unknown or missing fields, non-canonical numbers, and totals that break conservation are
 * STELE_E_SNAPSHOT_INVALID — so it accepts exactly what `encode` writes for a reachable state.
 *
 * Format (ledger module version 1):
 * `{accounts, balanceSum, batchTransfers, batches, deposited, deposits, openAccounts,
 *   transferred, transfers, withdrawals, withdrawn}`.
 */
import { z } from 'zod';
import type { JsonObject, JsonValue } from '../../canonical/json.js';
import { snapshotInvalid } from '../errors.js';
import type { SnapshotCodec } from '../module.js';
import type { LedgerState } from './state.js';

/** Totals: a sum of at most 2^53 amounts below 2^128 has at most 55 digits; 64 leaves room and caps the parse. */
const totalDigitsMax = 64;
const unsignedTotal = z.string().max(totalDigitsMax).regex(/^(?:0|[1-9][0-9]*)$/, 'must be a canonical non-negative integer string');
const signedTotal = z.string().max(totalDigitsMax + 1).regex(/^(?:0|-?[1-9][0-9]*)$/, 'must be a canonical integer string');
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const snapshotSchema = z
  .object({
    deposited: unsignedTotal,
    withdrawn: unsignedTotal,
    balanceSum: signedTotal,
    transferred: unsignedTotal,
    accounts: count,
    openAccounts: count,
    deposits: count,
    withdrawals: count,
    transfers: count,
    batches: count,
    batchTransfers: count,
  })
  .strict();

export function encodeLedgerState(state: LedgerState): JsonObject {
  return {
    deposited: state.deposited.toString(),
    withdrawn: state.withdrawn.toString(),
    balanceSum: state.balanceSum.toString(),
    transferred: state.transferred.toString(),
    accounts: state.accounts,
    openAccounts: state.openAccounts,
    deposits: state.deposits,
    withdrawals: state.withdrawals,
    transfers: state.transfers,
    batches: state.batches,
    batchTransfers: state.batchTransfers,
  };
}

export function decodeLedgerState(json: JsonValue): LedgerState {
  const parsed = snapshotSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.map(String).join('.')}`;
    throw snapshotInvalid('ledger', `${issue?.message ?? 'invalid'}${where}`);
  }
  const p = parsed.data;
  const state: LedgerState = {
    deposited: BigInt(p.deposited),
    withdrawn: BigInt(p.withdrawn),
    balanceSum: BigInt(p.balanceSum),
    transferred: BigInt(p.transferred),
    accounts: p.accounts,
    openAccounts: p.openAccounts,
    deposits: p.deposits,
    withdrawals: p.withdrawals,
    transfers: p.transfers,
    batches: p.batches,
    batchTransfers: p.batchTransfers,
  };
  if (state.balanceSum !== state.deposited - state.withdrawn) {
    throw snapshotInvalid('ledger', `balanceSum ${state.balanceSum} is not deposited − withdrawn = ${state.deposited - state.withdrawn} (conservation)`);
  }
  if (state.openAccounts > state.accounts) throw snapshotInvalid('ledger', `openAccounts ${state.openAccounts} exceeds accounts ${state.accounts}`);
  return state;
}

export const ledgerSnapshotCodec: SnapshotCodec<LedgerState> = { encode: encodeLedgerState, decode: decodeLedgerState };
