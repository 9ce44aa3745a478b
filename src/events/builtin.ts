/**
 * The event types registered by stele itself in issue #2: `kv.put@1`, `kv.delete@1`, and
 * the reserved system types `stele.recovered@1` and `stele.checkpoint@1`.
 */
import { z } from 'zod';
import { limits } from '../limits.js';
import type { EventTypeDef } from './registry.js';
import { EventRegistry } from './registry.js';
import { anyJson, hash64Pattern } from './envelope.js';
import { utf8ByteLength } from '../canonical/utf8.js';

/** A kv key: a non-empty UTF-8 string of at most `limits.kvKeyBytesMax` bytes. */
export const kvKeySchema = z
  .string()
  .min(1, 'key must not be empty')
  .refine((k) => utf8ByteLength(k) <= limits.kvKeyBytesMax, `key must be at most ${limits.kvKeyBytesMax} UTF-8 bytes`);

const hex64 = z.string().regex(hash64Pattern, 'must be 64 lowercase hex characters');

export const kvPutV1: EventTypeDef = {
  type: 'kv.put',
  v: 1,
  description: 'A value was stored under a key (any JSON value).',
  schema: z.object({ key: kvKeySchema, value: anyJson }).strict(),
};

export const kvDeleteV1: EventTypeDef = {
  type: 'kv.delete',
  v: 1,
  description: 'A key was deleted.',
  schema: z.object({ key: kvKeySchema }).strict(),
};

export const steleRecoveredV1: EventTypeDef = {
  type: 'stele.recovered',
  v: 1,
  reserved: true,
  description: 'The writer found a torn last line (never acknowledged) and moved its bytes to quarantine.',
  schema: z
    .object({
      /** Byte count of the torn tail that was removed. */
      bytes: z.number().int().min(1),
      /** SHA-256 of the torn bytes, as hex. */
      sha256: hex64,
      /** Byte offset in events.ndjson where the torn tail started. */
      offset: z.number().int().min(0),
      /** The quarantine file, relative to the data directory. */
      file: z.string().min(1),
    })
    .strict(),
};

export const steleCheckpointV1: EventTypeDef = {
  type: 'stele.checkpoint',
  v: 1,
  reserved: true,
  description: 'A commitment to the log root over the `size` events before it and the state root after them (DESIGN.md §4).',
  schema: z
    .object({
      size: z.number().int().min(0),
      logRoot: hex64,
      stateRoot: hex64,
      sig: z.string().regex(/^[0-9a-f]{128}$/, 'sig must be 128 lowercase hex characters').optional(),
      keyId: z.string().min(1).max(128).optional(),
    })
    .strict(),
};

export const builtinEventTypes: readonly EventTypeDef[] = [kvPutV1, kvDeleteV1, steleRecoveredV1, steleCheckpointV1];

/** A registry holding the built-in types; applications register theirs on top. */
export function createRegistry(extra: readonly EventTypeDef[] = []): EventRegistry {
  const registry = new EventRegistry();
  for (const def of builtinEventTypes) registry.register(def);
  for (const def of extra) registry.register(def);
  return registry;
}
