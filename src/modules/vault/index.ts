/**
 * The vault module: the log's record of content-addressed bundles (DESIGN.md §7). The bytes
 * live outside the log, in `<data>/vault/ab/<sha256>` (src/store/vault-store.ts); the log
 * holds what makes them verifiable: the hash, the size and how to serve them.
 *
 * Order of work: the shell (writer service, CLI) stores the bytes first, computing their
 * SHA-256 and size itself, and only then runs `vault.put`; so every bundle the log names has
 * its bytes on disk (a crash in between leaves an unnamed file, harmless; `put` again
 * deduplicates it). This module is pure and never sees the bytes.
 *
 * Event: `vault.bundle_stored@1 {sha256, size, mediaType, meta?}`, written only by the
 * command (not direct: a hand-appended descriptor could name bytes that were never stored).
 * Command: `vault.put {sha256, size, mediaType, meta?}`: a new hash emits the event and
 * returns `{sha256, size, mediaType, seq}`; a hash already stored is a deduplicated no-op
 * that returns exactly the first result (the first media type and meta win: the content is
 * the same, and the log keeps one description per content). The same hash with another size
 * is refused with VAULT_SIZE_CONFLICT: one of the two descriptors is false, since a SHA-256
 * fixes the size of its content.
 * State: `bundle:<sha256>` → `{size, mediaType, meta?, seq}`.
 * Private state: `{bundles, bytes}` totals; view `totals`.
 * `mediaType` is required here: the default `application/octet-stream` is the shell's to
 * fill in, so the log always says what it means.
 */
import { z } from 'zod';
import type { JsonObject, JsonValue } from '../../canonical/json.js';
import { anyJson, hash64Pattern } from '../../events/envelope.js';
import type { EventTypeDef } from '../../events/registry.js';
import { limits } from '../../limits.js';
import { invariantBroken, snapshotInvalid } from '../errors.js';
import { defineCommand, defineModule } from '../module.js';
import { refuseProtoKey } from '../records.js';
import type { Decision, DomainEvent, Evolution, StateReader } from '../module.js';

/** Rejection reasons of the vault module's guards (stable API, like error codes). */
export const vaultReasons = {
  /** A bundle with this hash is already stored with another size. */
  sizeConflict: 'VAULT_SIZE_CONFLICT',
} as const;

/** The media type the shell fills in when a caller names none. */
export const defaultMediaType = 'application/octet-stream';

/** The authenticated key of a bundle. */
export function bundleStateKey(sha256: string): string {
  return `bundle:${sha256}`;
}

/**
 * A SHA-256 as 64 lowercase hex characters. It is also the file name in the vault, so it can
 * never be a path: no `/`, no `.`, nothing but `[0-9a-f]`.
 */
export const bundleHashSchema = z.string().regex(hash64Pattern, 'must be a SHA-256: 64 lowercase hex characters');

/**
 * RFC 6838 §4.2 `type-name "/" subtype-name`, each a restricted-name of 1…127 characters
 * (letter or digit first, then letters, digits and ! # $ & - ^ _ . +). No parameters
 * (`; charset=…`): a bundle is bytes, and its media type names their format.
 */
const restrictedName = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}";
export const mediaTypeSchema = z
  .string()
  .max(limits.mediaTypeBytesMax, `must be at most ${limits.mediaTypeBytesMax} characters`)
  .regex(new RegExp(`^${restrictedName}/${restrictedName}$`), 'must be an RFC 6838 media type, type/subtype (e.g. application/json)');

/** Caller metadata: a JSON object (without a top-level `__proto__` key, see records.ts). */
const metaSchema = refuseProtoKey(z.record(z.string(), anyJson));

const bundleData = z
  .object({
    sha256: bundleHashSchema,
    size: z.number().int().min(0).max(limits.bundleBytesMax, `a bundle is at most ${limits.bundleBytesMax} bytes`),
    mediaType: mediaTypeSchema,
    meta: metaSchema.optional(),
  })
  .strict();
type BundleData = z.infer<typeof bundleData>;

export const vaultBundleStoredV1: EventTypeDef = {
  type: 'vault.bundle_stored',
  v: 1,
  description: 'A bundle of bytes was stored in the vault under its SHA-256 (<data>/vault/ab/<sha256>).',
  schema: bundleData,
};

/** Bundle totals; `bytes` is exact while below 2^53 (134 million maximal bundles). */
export interface VaultState {
  bundles: number;
  bytes: number;
}

/** The result of a `vault.put`, rebuilt from the state for a deduplicated put. */
function putResult(sha256: string, record: JsonObject): JsonObject {
  const result: JsonObject = { sha256, size: record['size'] as number, mediaType: record['mediaType'] as string };
  if (record['meta'] !== undefined) result['meta'] = record['meta'];
  result['seq'] = record['seq'] as number;
  return result;
}

function decidePut(data: BundleData, entries: StateReader, seq: number): Decision {
  const existing = entries.get(bundleStateKey(data.sha256)) as JsonObject | undefined;
  if (existing !== undefined) {
    const firstSize = existing['size'] as number;
    if (firstSize !== data.size) {
      return {
        ok: false,
        rejection: {
          reason: vaultReasons.sizeConflict,
          message: `bundle ${data.sha256} is stored with size ${firstSize}, not ${data.size}`,
          path: 'data.size',
          detail: { sha256: data.sha256, size: firstSize },
        },
      };
    }
    return { ok: true, events: [], result: putResult(data.sha256, existing) };
  }
  const payload: JsonObject = { sha256: data.sha256, size: data.size, mediaType: data.mediaType };
  if (data.meta !== undefined) payload['meta'] = { ...(data.meta as JsonObject) };
  return { ok: true, events: [{ type: vaultBundleStoredV1.type, data: payload }], result: putResult(data.sha256, { ...payload, seq }) };
}

function evolve(state: VaultState, event: DomainEvent, entries: StateReader): Evolution<VaultState> {
  switch (event.type) {
    case 'vault.bundle_stored': {
      const data = event.data;
      const key = bundleStateKey(data['sha256'] as string);
      if (entries.get(key) !== undefined) throw invariantBroken(event, `bundle ${data['sha256'] as string} is already stored`);
      const size = data['size'] as number;
      const record: JsonObject = { size, mediaType: data['mediaType'] as string };
      if (data['meta'] !== undefined) record['meta'] = data['meta'];
      record['seq'] = event.seq;
      state.bundles++;
      state.bytes += size;
      return { state, writes: [{ key, value: record }] };
    }
    default:
      throw invariantBroken(event, `the vault module has no event type ${event.type}`);
  }
}

function decodeState(json: JsonValue): VaultState {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw snapshotInvalid('vault', 'expected an object {bundles, bytes}');
  const keys = Object.keys(json).sort().join(',');
  if (keys !== 'bundles,bytes') throw snapshotInvalid('vault', `expected exactly the keys bundles,bytes, found ${keys}`);
  const { bundles, bytes } = json;
  if (typeof bundles !== 'number' || !Number.isSafeInteger(bundles) || bundles < 0) throw snapshotInvalid('vault', 'bundles must be a non-negative integer');
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0) throw snapshotInvalid('vault', 'bytes must be a non-negative integer');
  if (bytes > bundles * limits.bundleBytesMax) throw snapshotInvalid('vault', `${bytes} bytes cannot fit in ${bundles} bundles`);
  return { bundles, bytes };
}

export const vaultModule = defineModule<VaultState>({
  name: 'vault',
  version: 1,
  description: 'Content-addressed bundles: bundle:<sha256> → {size, mediaType, meta?, seq}; the bytes are in <data>/vault/ab/<sha256>.',
  events: [vaultBundleStoredV1],
  keyPrefixes: ['bundle:'],
  commands: [
    defineCommand<VaultState, BundleData>({
      name: 'vault.put',
      description: 'Record a bundle whose bytes the shell has stored; a hash already recorded is a deduplicated no-op returning the first result.',
      schema: bundleData,
      decide: (data, { entries, seq }) => decidePut(data, entries, seq),
    }),
  ],
  initialState: () => ({ bundles: 0, bytes: 0 }),
  evolve,
  checkInvariants: (state, entries) => {
    const records = entries.count('bundle:');
    return records === state.bundles ? undefined : `${records} bundle records in the state, ${state.bundles} bundles counted`;
  },
  snapshot: {
    encode: (state): JsonObject => ({ bundles: state.bundles, bytes: state.bytes }),
    decode: decodeState,
  },
  views: {
    totals: (state): JsonObject => ({ bundles: state.bundles, bytes: state.bytes }),
  },
});
