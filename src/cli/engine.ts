/**
 * How CLI commands open a data directory: for writing (an Engine: lock, replay, checkpoint
 * on close) or read-only (a replay without the lock), with a progress bar on a terminal and
 * the global flags `--no-snapshot`, `--checkpoint-every`, `--snapshot-every`, and for signed
 * checkpoints (issue #5) `--signing-key` (writers sign) and `--pubkey` (pinned keys).
 */
import type { Logger } from 'pino';
import { loadPublicKey, loadSigningKey } from '../crypto/keys.js';
import type { PublicKey } from '../crypto/keys.js';
import { formatWhere } from '../errors.js';
import { Engine } from '../runtime/engine.js';
import type { EngineOptions } from '../runtime/engine.js';
import type { Replayed } from '../runtime/replay.js';
import { replayDir } from '../runtime/replay.js';
import { progressBar } from './output.js';

export interface EngineFlags {
  snapshot: boolean;
  checkpointEvery?: number;
  snapshotEvery?: number;
  /** `--signing-key FILE` (else STELE_SIGNING_KEY_FILE): the secret key writers sign checkpoints with. */
  signingKeyFile?: string;
  /** `--pubkey KEY`, repeatable: public key files or 64-hex keys pinned for signature checks. */
  pubkeys?: string[];
}

/** The engine options of the global flags (a writer: it signs when given a key). */
export function engineOptions(logger: Logger, flags: EngineFlags): EngineOptions {
  const publicKeys = pinnedKeys(flags);
  return {
    logger,
    snapshot: flags.snapshot,
    ...(flags.checkpointEvery === undefined ? {} : { checkpointEvery: flags.checkpointEvery }),
    ...(flags.snapshotEvery === undefined ? {} : { snapshotEvery: flags.snapshotEvery }),
    ...(flags.signingKeyFile === undefined ? {} : { signingKey: loadSigningKey(flags.signingKeyFile) }),
    ...(publicKeys === undefined ? {} : { publicKeys }),
  };
}

/** The keys pinned with `--pubkey`, loaded (STELE_E_KEY_INVALID naming a bad one); undefined when none. */
export function pinnedKeys(flags: EngineFlags): PublicKey[] | undefined {
  if (flags.pubkeys === undefined || flags.pubkeys.length === 0) return undefined;
  return flags.pubkeys.map((k) => loadPublicKey(k));
}

export async function withEngine<T>(dir: string, logger: Logger, flags: EngineFlags, body: (engine: Engine) => Promise<T>): Promise<T> {
  const bar = progressBar('replay', true);
  const engine = await Engine.open(dir, { ...engineOptions(logger, flags), onProgress: bar.update }).finally(() => bar.stop());
  try {
    return await body(engine);
  } finally {
    await engine.close();
  }
}

/**
 * Replays read-only for a read command. A damaged log does not stop reads (panic mode):
 * the state derived from the events before the first fault is shown, with a warning on
 * stderr, and the command exits 1 (`damaged`).
 */
export async function readState(dir: string, logger: Logger, flags: EngineFlags, quiet = false): Promise<Replayed & { damaged: boolean }> {
  const bar = progressBar('replay', !quiet);
  const publicKeys = pinnedKeys(flags);
  const replayed = await replayDir(dir, { logger, snapshot: flags.snapshot, onProgress: bar.update, ...(publicKeys === undefined ? {} : { publicKeys }) }).finally(() => bar.stop());
  if (replayed.fault !== undefined) {
    const f = replayed.fault;
    process.stderr.write(
      `stele: warning: the log is damaged (${f.code}: ${f.message}${formatWhere(f.where) === '' ? '' : ` at ${formatWhere(f.where)}`}); showing the state derived from the ${replayed.machine.size} events before it. Run stele verify.\n`,
    );
  }
  return { ...replayed, damaged: replayed.fault !== undefined };
}
