/**
 * Storing a bundle: its bytes into the vault (content-addressed, fsynced, renamed), then its
 * record into the log through the `vault.put` command. One function for the CLI
 * (`stele bundle put`), the HTTP upload route and the demo, so all three store bundles the
 * same way: bytes first, so a record in the log always names bytes that are on disk.
 */
import type { JsonObject } from '../canonical/json.js';
import { VaultStore } from '../store/vault-store.js';
import type { VaultPutResult } from '../store/vault-store.js';
import type { CommandResult, Engine, RunOptions } from './engine.js';

export interface BundlePut extends VaultPutResult {
  command: CommandResult;
}

export async function putBundle(engine: Engine, bytes: Uint8Array, mediaType: string, meta?: JsonObject, options: RunOptions = {}): Promise<BundlePut> {
  const vault = new VaultStore(engine.log.paths.dir, { readOnly: false });
  const stored = await vault.put(bytes);
  const data: JsonObject = { sha256: stored.sha256, size: stored.size, mediaType };
  if (meta !== undefined) data.meta = meta;
  const command = await engine.run({ cmd: 'vault.put', data }, options);
  return { ...stored, command };
}
