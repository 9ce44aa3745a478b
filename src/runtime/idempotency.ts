/**
 * Idempotency keys (DESIGN.md §9): a retried request gets the first response, also after a
 * restart, because the key is in the log.
 *
 * A command run with an idempotency key writes into the `meta` of each of its events:
 * `idempotencyKey` (the key), `requestHash` (SHA-256 hex of the JCS of `{cmd, data}`, so a
 * key reused with another request is told apart) and, on the first event of a successful
 * command, `result` (the module's result, so the first response can be rebuilt from the log
 * alone). `meta` never changes state (DESIGN.md §2): these fields are read only by this
 * index.
 *
 * The index is derived: rebuilt from every line of the log that carries a key (the startup
 * replay hands those lines over even when it starts from a snapshot), then fed live by the
 * writer's durable hook. Memory is O(keys).
 *
 * Invariants: a key maps to exactly one request (hash); its events are contiguous in the log
 * (a command's events are stamped together); a rejected command's record
 * (`audit.command_rejected`) carries the key, so a retry gets the same rejection.
 */
import type { JsonObject, JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import { steleError } from '../errors.js';
import { sha256HexUtf8 } from '../hash/sha256.js';
import { limits } from '../limits.js';

/** Fields of `meta` that stele writes for idempotent commands; a caller may not set them. */
export const idempotencyMetaFields = ['idempotencyKey', 'requestHash', 'result'] as const;

/** Printable ASCII without spaces: survives HTTP headers, logs and shells unchanged. */
const keyPattern = /^[\x21-\x7e]+$/;

/** What the first request of a key got, rebuilt from its events. */
export interface IdempotencyRecord {
  requestHash: string;
  acks: { seq: number; hash: string }[];
  result: JsonValue | undefined;
  /** Set when the command was rejected by a guard: the decision record's fields. */
  rejection: { reason: string; message: string; cmd: string; path?: string } | undefined;
}

/** Checks a key at the edge; throws STELE_E_USAGE for an empty, overlong or non-printable key. */
export function checkIdempotencyKey(key: string): string {
  if (key.length === 0 || key.length > limits.idempotencyKeyBytesMax || !keyPattern.test(key)) {
    throw steleError('STELE_E_USAGE', `an idempotency key is 1 to ${limits.idempotencyKeyBytesMax} printable ASCII characters without spaces`, {
      found: key.length > 40 ? `${key.slice(0, 40)}… (${key.length} characters)` : key,
      fix: 'use a UUID or ULID per logical request, and the same one on every retry',
    });
  }
  return key;
}

/** The hash that binds a key to one request: SHA-256 of the JCS of `{cmd, data}`. */
export function requestHashOf(cmd: string, data: unknown): string {
  return sha256HexUtf8(canonicalize({ cmd, data }));
}

/** Refuses caller meta that sets the fields stele reserves for idempotency. */
export function checkCallerMeta(meta: JsonObject | undefined): void {
  if (meta === undefined) return;
  for (const field of idempotencyMetaFields) {
    if (Object.hasOwn(meta, field)) {
      throw steleError('STELE_E_SCHEMA', `meta.${field} is reserved for idempotency keys`, {
        where: { path: `meta.${field}` },
        fix: 'send the key in the Idempotency-Key header (HTTP) or the idempotencyKey option, not in meta',
      });
    }
  }
}

const rejectedType = 'audit.command_rejected';

export class IdempotencyIndex {
  readonly #records = new Map<string, IdempotencyRecord>();

  get size(): number {
    return this.#records.size;
  }

  get(key: string): IdempotencyRecord | undefined {
    return this.#records.get(key);
  }

  /**
   * Consumes one event of the log, in order (every event may be passed; those without a key
   * are ignored cheaply). The first event of a key creates its record; the following events
   * of the same request add their acks.
   */
  observe(seq: number, hash: string, type: string, data: JsonObject, meta: JsonObject | undefined): void {
    if (meta === undefined) return;
    const key = meta['idempotencyKey'];
    const requestHash = meta['requestHash'];
    if (typeof key !== 'string' || typeof requestHash !== 'string') return;
    let record = this.#records.get(key);
    if (record === undefined) {
      record = { requestHash, acks: [], result: meta['result'], rejection: undefined };
      this.#records.set(key, record);
    } else if (record.requestHash !== requestHash) {
      // Only a hand-written log can reuse a key for another request (the engine refuses it):
      // the first request keeps the key.
      return;
    }
    record.acks.push({ seq, hash });
    if (type === rejectedType) {
      // The record passed the audit.command_rejected schema: these are strings.
      const rejection: IdempotencyRecord['rejection'] = { reason: data['reason'] as string, message: data['message'] as string, cmd: data['cmd'] as string };
      if (typeof data['path'] === 'string') rejection.path = data['path'];
      record.rejection = rejection;
    }
  }
}
