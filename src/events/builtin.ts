/**
 * The reserved system event types, written by stele itself: `stele.recovered@1` and
 * `stele.checkpoint@1`; and the registry of every built-in type (system + built-in modules).
 */
import { z } from 'zod';
import type { EventTypeDef } from './registry.js';
import { EventRegistry } from './registry.js';
import { hash64Pattern } from './envelope.js';
import { builtinModules } from '../modules/builtin.js';

const hex64 = z.string().regex(hash64Pattern, 'must be 64 lowercase hex characters');

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

export const systemEventTypes: readonly EventTypeDef[] = [steleRecoveredV1, steleCheckpointV1];

/** Every built-in event type: the system types and those of the built-in modules. */
export const builtinEventTypes: readonly EventTypeDef[] = [...systemEventTypes, ...builtinModules.flatMap((m) => m.events)];

/** A registry holding the built-in types; applications register theirs (or their modules' events) on top. */
export function createRegistry(extra: readonly EventTypeDef[] = []): EventRegistry {
  const registry = new EventRegistry();
  for (const def of builtinEventTypes) registry.register(def);
  for (const def of extra) registry.register(def);
  return registry;
}
