/**
 * The kv module: a key-value map inside the authenticated state. The smallest built-in
 * module, and the model the others follow.
 *
 * Events: `kv.put@1 {key, value}` and `kv.delete@1 {key}` (released in issue #2, so they
 * keep their names). Both may be appended directly (`stele append kv.put …`): any valid
 * payload is a legal transition. State: `kv:<key>` → the value.
 * Commands: `kv.put {key, value}`; `kv.delete {key}`, which is a no-op with
 * `{deleted: false}` when the key is absent, so a retried delete succeeds.
 * Private state: none (`null`); views: `count`.
 */
import { z } from 'zod';
import type { JsonObject, JsonValue } from '../../canonical/json.js';
import { utf8ByteLength } from '../../canonical/utf8.js';
import { anyJson } from '../../events/envelope.js';
import type { EventTypeDef } from '../../events/registry.js';
import { limits } from '../../limits.js';
import { defineCommand, defineModule } from '../module.js';
import type { DomainEvent, Evolution, StateReader } from '../module.js';
import { invariantBroken, snapshotInvalid } from '../errors.js';

/** The authenticated key of a kv key. */
export function kvStateKey(key: string): string {
  return `kv:${key}`;
}

/** A kv key: a non-empty UTF-8 string of at most `limits.kvKeyBytesMax` bytes. */
export const kvKeySchema = z
  .string()
  .min(1, 'key must not be empty')
  .refine((k) => utf8ByteLength(k) <= limits.kvKeyBytesMax, `key must be at most ${limits.kvKeyBytesMax} UTF-8 bytes`);

const putData = z.object({ key: kvKeySchema, value: anyJson }).strict();
const deleteData = z.object({ key: kvKeySchema }).strict();

export const kvPutV1: EventTypeDef = {
  type: 'kv.put',
  v: 1,
  direct: true,
  description: 'A value was stored under a key (any JSON value).',
  schema: putData,
};

export const kvDeleteV1: EventTypeDef = {
  type: 'kv.delete',
  v: 1,
  direct: true,
  description: 'A key was deleted.',
  schema: deleteData,
};

/** kv keeps no private state: everything is in the authenticated entries. */
type KvState = null;

function evolve(state: KvState, event: DomainEvent): Evolution<KvState> {
  const key = event.data.key as string;
  switch (event.type) {
    case 'kv.put':
      return { state, writes: [{ key: kvStateKey(key), value: event.data.value }] };
    case 'kv.delete':
      return { state, writes: [{ key: kvStateKey(key), value: undefined }] };
    default:
      throw invariantBroken(event, `the kv module has no event type ${event.type}`);
  }
}

export const kvModule = defineModule<KvState>({
  name: 'kv',
  version: 1,
  description: 'A key-value map in the authenticated state: kv:<key> → any JSON value.',
  events: [kvPutV1, kvDeleteV1],
  keyPrefixes: ['kv:'],
  commands: [
    defineCommand<KvState, z.infer<typeof putData>>({
      name: 'kv.put',
      description: 'Store a JSON value under a key, replacing any previous value.',
      schema: putData,
      decide: (data) => ({ ok: true, events: [{ type: 'kv.put', data: { key: data.key, value: data.value as JsonValue } }], result: { key: data.key } }),
    }),
    defineCommand<KvState, z.infer<typeof deleteData>>({
      name: 'kv.delete',
      description: 'Delete a key; deleting an absent key is a no-op that reports deleted: false.',
      schema: deleteData,
      decide: (data, { entries }) =>
        entries.get(kvStateKey(data.key)) === undefined
          ? { ok: true, events: [], result: { key: data.key, deleted: false } }
          : { ok: true, events: [{ type: 'kv.delete', data: { key: data.key } }], result: { key: data.key, deleted: true } },
    }),
  ],
  initialState: () => null,
  evolve,
  snapshot: {
    encode: () => null,
    decode: (json) => {
      if (json !== null) throw snapshotInvalid('kv', 'the kv module keeps no private state: expected null');
      return null;
    },
  },
  views: {
    count: (_state: KvState, entries: StateReader): JsonObject => ({ keys: entries.count('kv:') }),
  },
});
