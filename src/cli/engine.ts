/**
 * How CLI commands open a data directory: for writing (an Engine: lock, replay, checkpoint
 * on close) or read-only (a replay without the lock), with a progress bar on a terminal and
 * the global flags `--no-snapshot`, `--checkpoint-every`, `--snapshot-every`.
 */
import type { Logger } from 'pino';
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
}

/** The engine options of the global flags. */
export function engineOptions(logger: Logger, flags: EngineFlags): EngineOptions {
  return {
    logger,
    snapshot: flags.snapshot,
    ...(flags.checkpointEvery === undefined ? {} : { checkpointEvery: flags.checkpointEvery }),
    ...(flags.snapshotEvery === undefined ? {} : { snapshotEvery: flags.snapshotEvery }),
  };
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
  const replayed = await replayDir(dir, { logger, snapshot: flags.snapshot, onProgress: bar.update }).finally(() => bar.stop());
  if (replayed.fault !== undefined) {
    const f = replayed.fault;
    process.stderr.write(
      `stele: warning: the log is damaged (${f.code}: ${f.message}${formatWhere(f.where) === '' ? '' : ` at ${formatWhere(f.where)}`}); showing the state derived from the ${replayed.machine.size} events before it. Run stele verify.\n`,
    );
  }
  return { ...replayed, damaged: replayed.fault !== undefined };
}
