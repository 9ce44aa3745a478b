/**
 * The zod schemas of the HTTP API: queries and bodies are validated with them at the edge
 * (a violation is a 400 carrying the zod issues), and the OpenAPI document
 * (`GET /v1/openapi.json`, src/service/openapi.ts) is generated from them, so the document
 * cannot describe a different API than the one served.
 */
import { z } from 'zod';
import { limits } from '../limits.js';
import { atQueryFields } from './time-travel.js';

const hash64 = z.string().regex(/^[0-9a-f]{64}$/).describe('64 lowercase hex characters');
const seq = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const isoTs = z.string().datetime({ offset: false, precision: 3 }).describe('RFC 3339 UTC with milliseconds');

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('stable error code, e.g. STELE_E_REJECTED'),
      message: z.string(),
      where: z.record(z.string(), z.unknown()).optional(),
      fix: z.string().optional(),
      expected: z.string().optional(),
      found: z.string().optional(),
      detail: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });

export const commandSchema = z
  .object({
    cmd: z.string().describe('command name, <module>.<verb>, e.g. ledger.transfer'),
    data: z.unknown().describe("the command's payload, validated by its module"),
    meta: z.record(z.string(), z.unknown()).optional().describe('actor, request id… written into the events, never changes state'),
    expectedSeq: z.number().int().min(0).optional().describe('refuse with 409 unless the first event would get this seq'),
  })
  .meta({ id: 'Command' });

export const ndjsonCommandSchema = commandSchema.extend({
  idempotencyKey: z.string().max(limits.idempotencyKeyBytesMax).optional().describe('per-line idempotency key (NDJSON batches)'),
});

export const ackSchema = z.object({ seq: z.number().int(), hash: hash64, size: z.number().int(), logRoot: hash64 }).meta({ id: 'Ack' });

export const commandResultSchema = z
  .object({ ok: z.literal(true), cmd: z.string(), result: z.unknown(), acks: z.array(ackSchema), replayed: z.boolean().optional() })
  .meta({ id: 'CommandResult' });

export const ndjsonResultSchema = z.union([
  commandResultSchema.extend({ line: z.number().int() }),
  z.object({ line: z.number().int(), ok: z.literal(false), status: z.number().int(), error: errorSchema.shape.error }),
]);

export const bundleResultSchema = z
  .object({ ok: z.literal(true), sha256: hash64, size: z.number().int(), stored: z.boolean(), result: z.unknown(), acks: z.array(ackSchema), replayed: z.boolean().optional() })
  .meta({ id: 'BundleResult' });

export const statusSchema = z
  .object({
    role: z.enum(['writer', 'observer']),
    size: z.number().int(),
    logRoot: hash64,
    stateRoot: hash64,
    headHash: hash64,
    lastTs: z.string(),
    entries: z.number().int(),
    integrity: z.object({ status: z.enum(['ok', 'panic', 'alarm']), fault: z.record(z.string(), z.unknown()).optional() }),
    lag: z.object({ bytes: z.number().int(), pendingBytes: z.number().int() }),
    indexed: z.object({ size: z.number().int() }),
    checkpoints: z.object({ last: z.object({ seq: z.number().int() }).nullable(), every: z.number().int().nullable() }),
    signing: z.object({ keyId: hash64 }).optional().describe('the key the writer signs its checkpoints with (stele --signing-key); absent when it does not sign'),
  })
  .meta({ id: 'Status' });

export const eventSchema = z
  .object({
    seq: z.number().int(),
    ts: z.string(),
    type: z.string(),
    v: z.number().int(),
    data: z.record(z.string(), z.unknown()),
    meta: z.record(z.string(), z.unknown()).optional(),
    prev: hash64,
    hash: hash64.describe('SHA-256 of the line (derived, not stored)'),
  })
  .meta({ id: 'Event' });

export const eventsQuerySchema = z
  .object({
    after: seq.optional().describe('cursor: events with seq > after (order=asc)'),
    before: seq.optional().describe('cursor: events with seq < before (order=desc)'),
    limit: z.coerce.number().int().min(1).max(limits.pageItemsMax).default(100),
    type: z.string().max(limits.typeNameBytesMax * 8).optional().describe('event type, or several separated by commas'),
    fromSeq: seq.optional(),
    toSeq: seq.optional().describe('inclusive'),
    fromTs: isoTs.optional(),
    toTs: isoTs.optional().describe('inclusive'),
    order: z.enum(['asc', 'desc']).default('asc'),
  })
  .strict();

export const eventsPageSchema = z
  .object({ events: z.array(eventSchema), next: z.number().int().nullable().describe('cursor for the next page (after= or before=), null at the end') })
  .meta({ id: 'EventsPage' });

export const inclusionProofSchema = z
  .object({ type: z.literal('inclusion'), seq: z.number().int(), size: z.number().int(), eventHash: hash64, logRoot: hash64, path: z.array(hash64) })
  .meta({ id: 'InclusionProof' });

export const consistencyProofSchema = z
  .object({ type: z.literal('consistency'), size1: z.number().int(), size2: z.number().int(), root1: hash64, root2: hash64, path: z.array(hash64) })
  .meta({ id: 'ConsistencyProof' });

export const seqParamsSchema = z.object({ seq }).strict();
export const sizeQuerySchema = z.object({ size: seq.optional() }).strict();
export const consistencyQuerySchema = z.object({ from: seq, to: seq.optional() }).strict();

export const eventWithProofSchema = z
  .object({ event: eventSchema, hash: hash64, line: z.string().describe('the exact line (without \\n): SHA-256 of its UTF-8 bytes is hash'), proof: inclusionProofSchema })
  .meta({ id: 'EventWithProof' });

export const accountQuerySchema = z
  .object({ before: seq.optional(), limit: z.coerce.number().int().min(1).max(limits.pageItemsMax).default(50), ...atQueryFields })
  .strict();

/** `?at=` / `?atTime=` alone (issue #5: time-travel reads). */
export const atQuerySchema = z.object(atQueryFields).strict();

/** Where a time-travel answer was derived: the position, its roots, and the snapshot it started from. */
export const atInfoSchema = z
  .object({
    size: z.number().int(),
    seq: z.number().int().nullable(),
    ts: z.string().nullable(),
    logRoot: hash64,
    stateRoot: hash64,
    headHash: hash64,
    base: z.object({ file: z.string(), size: z.number().int() }).nullable(),
    replayed: z.number().int().describe('events verified and reduced after the base'),
  })
  .meta({ id: 'AtInfo' });

export const accountAtSchema = z
  .object({ id: z.string(), balance: z.string(), allowNegative: z.boolean(), open: z.boolean(), state: z.record(z.string(), z.unknown()), at: atInfoSchema })
  .describe('an account as of a past position (?at=): its state then, without the history')
  .meta({ id: 'AccountAt' });

export const accountSchema = z
  .object({
    id: z.string(),
    balance: z.string().describe('integer string, minor units'),
    allowNegative: z.boolean(),
    open: z.boolean(),
    state: z.record(z.string(), z.unknown()).describe('the account:<id> state entry'),
    history: z.array(z.object({ seq: z.number().int(), ts: z.string(), type: z.string(), kind: z.string(), delta: z.string(), balance: z.string() })),
    next: z.number().int().nullable(),
    historyMatchesState: z.boolean().describe('the balance re-derived from the history equals the authenticated state'),
  })
  .meta({ id: 'Account' });

export const stateProofSchema = z
  .object({ type: z.literal('state'), v: z.number().int(), key: z.string(), keyHash: hash64, stateRoot: hash64, siblings: z.array(z.string()) })
  .passthrough()
  .meta({ id: 'StateProof' });

export const stateResponseSchema = z
  .object({ key: z.string(), found: z.boolean(), value: z.unknown().optional(), size: z.number().int(), proof: stateProofSchema, at: atInfoSchema.optional().describe('with ?at=: where the answer was derived') })
  .meta({ id: 'StateEntry' });

export const bundleParamsSchema = z.object({ sha256: hash64 }).strict();
export const bundleSchema = z
  .object({ sha256: hash64, size: z.number().int(), mediaType: z.string(), meta: z.unknown().optional(), seq: z.number().int() })
  .meta({ id: 'Bundle' });

export const seriesQuerySchema = z.object({ minutes: z.coerce.number().int().min(1).max(limits.seriesMinutesMax).default(60) }).strict();
export const seriesSchema = z
  .object({ minutes: z.array(z.object({ minute: z.string(), counts: z.record(z.string(), z.number().int()) })) })
  .meta({ id: 'Series' });

export const statsSchema = z.record(z.string(), z.unknown()).describe('the audit statistics (src/modules/audit/stats.ts), ledger totals and event counts by type').meta({ id: 'Stats' });

export const streamQuerySchema = z.object({ lastEventId: z.string().optional() }).strict();
