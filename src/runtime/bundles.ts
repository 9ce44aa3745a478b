/**
 * Storing a bundle: its bytes into the vault (content-addressed, fsynced, renamed), then its
 * record into the log through the `vault.put` command. One function for the CLI
 * (`stele bundle put`), the HTTP upload route and the demo, so all three store bundles the
 * same way: bytes first, so a record in the log always names bytes that are on disk.
 */
import type { JsonObject } from '../canonical/json.js';
import { zeroHash64 } from '../hash/hex.js';
import { VaultStore } from '../store/vault-store.js';
import type { VaultPutResult } from '../store/vault-store.js';
import type { CommandResult, Engine, RunOptions } from './engine.js';

export interface BundlePut extends VaultPutResult {
  command: CommandResult;
}

export async function putBundle(engine: Engine, bytes: Uint8Array, mediaType: string, meta?: JsonObject, options: RunOptions = {}): Promise<BundlePut> {
  const record = (sha256: string): JsonObject => ({ sha256, size: bytes.length, mediaType, ...(meta === undefined ? {} : { meta }) });
  // The record is checked before the bytes are stored: a media type, meta or idempotency key
  // the command would refuse must leave no orphan file in the vault. The hash is not known
  // yet (the vault computes it once, while storing); any well-formed one checks the same.
  engine.check({ cmd: 'vault.put', data: record(zeroHash64) }, options);
  const vault = new VaultStore(engine.log.paths.dir, { readOnly: false });
  const stored = await vault.put(bytes);
  const command = await engine.run({ cmd: 'vault.put', data: record(stored.sha256) }, options);
  return { ...stored, command };
}
