/**
 * The ledger's event types, all `v: 1`, past tense, and none `direct`: a ledger event is a
 * legal transition only in the state its command's guards checked it against, so callers
 * cannot append them by hand (`stele append` refuses with STELE_E_NOT_DIRECT). A hand-made
 * log that holds one anyway is caught on replay by `evolve` (STELE_E_INVARIANT).
 *
 * Payloads repeat the command bodies: they are what a retry is compared with, and what an
 * independent re-derivation needs (balances follow from the events alone; results are not
 * stored in events, the writer's seq is). Amounts in events are always > 0.
 */
import { z } from 'zod';
import type { EventTypeDef } from '../../events/registry.js';
import { limits } from '../../limits.js';
import { positiveAmountSchema } from './amount.js';
import { ledgerIdSchema, memoSchema, metaSchema } from './schemas.js';

const accountOpenedData = z
  .object({ account: ledgerIdSchema, allowNegative: z.boolean(), meta: metaSchema.optional() })
  .strict();
const accountClosedData = z.object({ account: ledgerIdSchema }).strict();
const depositedData = z.object({ id: ledgerIdSchema, account: ledgerIdSchema, amount: positiveAmountSchema }).strict();
const withdrawnData = depositedData;
const transferredData = z
  .object({ id: ledgerIdSchema, from: ledgerIdSchema, to: ledgerIdSchema, amount: positiveAmountSchema, memo: memoSchema.optional() })
  .strict();
const batchTransferredData = z
  .object({ id: ledgerIdSchema, transfers: z.array(transferredData).min(1).max(limits.ledgerBatchTransfersMax) })
  .strict();

export type AccountOpenedData = z.infer<typeof accountOpenedData>;
export type TransferredData = z.infer<typeof transferredData>;
export type BatchTransferredData = z.infer<typeof batchTransferredData>;

export const accountOpenedV1: EventTypeDef = {
  type: 'ledger.account_opened',
  v: 1,
  description: 'An account was opened with balance 0; allowNegative says whether its balance may go below zero.',
  schema: accountOpenedData,
};

export const accountClosedV1: EventTypeDef = {
  type: 'ledger.account_closed',
  v: 1,
  description: 'An account with balance 0 was closed: it can no longer send or receive money, and its id is never reused.',
  schema: accountClosedData,
};

export const depositedV1: EventTypeDef = {
  type: 'ledger.deposited',
  v: 1,
  description: 'Money entered the ledger: amount (minor units) was credited to an open account under movement id `id`.',
  schema: depositedData,
};

export const withdrawnV1: EventTypeDef = {
  type: 'ledger.withdrawn',
  v: 1,
  description: 'Money left the ledger: amount (minor units) was debited from an open account under movement id `id`.',
  schema: withdrawnData,
};

export const transferredV1: EventTypeDef = {
  type: 'ledger.transferred',
  v: 1,
  description: 'amount (minor units) moved from one open account to another under movement id `id`.',
  schema: transferredData,
};

export const batchTransferredV1: EventTypeDef = {
  type: 'ledger.batch_transferred',
  v: 1,
  description: 'A batch of transfers was applied atomically, in order, under batch id `id`; each inner transfer has its own movement id.',
  schema: batchTransferredData,
};

export const ledgerEvents: readonly EventTypeDef[] = [accountOpenedV1, accountClosedV1, depositedV1, withdrawnV1, transferredV1, batchTransferredV1];
