/**
 * The event envelope of DESIGN.md §2 and its one line format.
 *
 * An event line is the RFC 8785 canonical JSON of `{data, meta?, prev, seq, ts, type, v}`,
 * terminated by `\n`. Its hash (SHA-256 of the line without `\n`) is never stored in the
 * line; it is the next line's `prev`.
 *
 * Invariants:
 * - `formatEventLine` writes exactly what `canonicalize` would write for the envelope: the
 *   keys above are already in UTF-16 order, so the envelope is assembled by concatenation
 *   around the canonical `data` and `meta` (the writer's hot path; a test checks equality
 *   with `canonicalize` on random events).
 * - `envelopeSchema` accepts exactly the envelopes the writer can produce (strict: unknown
 *   keys are rejected), so the verifier rejects what the formatter would never write.
 */
import { z } from 'zod';
import { limits } from '../limits.js';

/** RFC 3339 UTC with exactly three fractional digits, the only `ts` form the writer writes. */
export const tsPattern = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
/** `module.name`: lowercase segments separated by dots, at least two segments. */
export const typePattern = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
/** 64 lowercase hex characters. */
export const hash64Pattern = /^[0-9a-f]{64}$/;

const jsonObject = z.record(z.string(), z.json());

export const eventTypeSchema = z
  .string()
  .max(limits.typeNameBytesMax)
  .regex(typePattern, 'type must be `module.name`: lowercase letters, digits and _, segments joined by dots');

export const eventVersionSchema = z.number().int().min(1).max(limits.versionMax);

/** The envelope of one event line (DESIGN.md §2). Payload validation is per `(type, v)`. */
export const envelopeSchema = z
  .object({
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    ts: z.string().regex(tsPattern, 'ts must be RFC 3339 UTC with milliseconds, e.g. 2026-11-22T10:00:00.000Z'),
    type: eventTypeSchema,
    v: eventVersionSchema,
    data: jsonObject,
    meta: jsonObject.optional(),
    prev: z.string().regex(hash64Pattern, 'prev must be 64 lowercase hex characters'),
  })
  .strict();

export type JsonObjectValue = z.infer<typeof jsonObject>;

/** One event as it sits in the log. */
export interface EventEnvelope {
  seq: number;
  ts: string;
  type: string;
  v: number;
  data: JsonObjectValue;
  meta?: JsonObjectValue;
  prev: string;
}

/** An event with its derived hash, as APIs show it. */
export interface HashedEvent extends EventEnvelope {
  hash: string;
}

/**
 * The canonical line of an event whose `data` and `meta` are already canonical JSON text.
 * `type` must match `typePattern` (no characters needing escapes) and `ts` `tsPattern`;
 * both are checked before an event reaches the writer, so no escaping is needed here.
 */
export function formatEventLine(
  seq: number,
  ts: string,
  type: string,
  v: number,
  dataJson: string,
  metaJson: string | undefined,
  prev: string,
): string {
  // Keys in UTF-16 order: data, meta, prev, seq, ts, type, v (RFC 8785 §3.2.3).
  const meta = metaJson === undefined ? '' : `,"meta":${metaJson}`;
  return `{"data":${dataJson}${meta},"prev":"${prev}","seq":${seq},"ts":"${ts}","type":"${type}","v":${v}}`;
}
