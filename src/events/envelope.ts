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

/**
 * Any JSON value. Not `z.json()`: its recursive union costs more than the rest of event
 * validation together (profiled in issue #2), and every value that reaches a line has been
 * through the canonical codec, which already accepts nothing but JSON.
 */
export const anyJson = z.unknown().meta({ description: 'any JSON value (RFC 8259)' });

const jsonObject = z.record(z.string(), anyJson);

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

export type JsonObjectValue = Record<string, unknown>;

const envelopeKeys = new Set(['data', 'meta', 'prev', 'seq', 'ts', 'type', 'v']);

/**
 * The fast path of `envelopeSchema` for replay and verify. `expectedPrev`, when given, must
 * be 64 lowercase hex characters.: the same checks written out by
 * hand (zod costs ~3× more per event here). On `false`, callers run `envelopeSchema` for the
 * error message; a property test keeps the two in agreement.
 */
export function isEnvelope(value: unknown, expectedPrev?: string): value is EventEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  let keys = 0;
  for (const k in o) {
    if (!envelopeKeys.has(k)) return false;
    keys++;
  }
  const { seq, ts, type, v, data, meta, prev } = o;
  if (keys !== (meta === undefined ? 6 : 7)) return false;
  return (
    typeof seq === 'number' &&
    Number.isSafeInteger(seq) &&
    seq >= 0 &&
    typeof ts === 'string' &&
    validTs(ts) &&
    typeof type === 'string' &&
    validType(type) &&
    typeof v === 'number' &&
    Number.isSafeInteger(v) &&
    v >= 1 &&
    v <= limits.versionMax &&
    isPlainObject(data) &&
    (meta === undefined || isPlainObject(meta)) &&
    typeof prev === 'string' &&
    prev.length === 64 &&
    // Fast case: the expected prev is known-good hex, so equality makes the regex redundant.
    (prev === expectedPrev || hash64Pattern.test(prev))
  );
}

// Fast case: consecutive events mostly share their ts (one per batch) and a handful of types,
// so the last valid ts and a small set of valid types skip the regular expressions.
let lastValidTs = '';
const validTypes = new Set<string>();
const validTypesMax = 1024;

function validTs(ts: string): boolean {
  if (ts === lastValidTs) return true;
  if (!tsPattern.test(ts)) return false;
  lastValidTs = ts;
  return true;
}

function validType(type: string): boolean {
  if (validTypes.has(type)) return true;
  if (type.length > limits.typeNameBytesMax || !typePattern.test(type)) return false;
  if (validTypes.size >= validTypesMax) validTypes.clear();
  validTypes.add(type);
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

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
