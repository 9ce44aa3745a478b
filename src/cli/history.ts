/**
 * Time travel on the command line (issue #5): `stele replay [--at|--at-time]`, the `--at` /
 * `--at-time` options of the read commands, and `stele diff A B`.
 */
import type { Logger } from 'pino';
import type { JsonValue } from '../canonical/json.js';
import { steleError } from '../errors.js';
import type { AtSpec, StateAt } from '../history/at.js';
import { stateAt } from '../history/at.js';
import { diffStates } from '../history/diff.js';
import { LogSeeker } from '../log/seek.js';
import { checkDataDir } from '../store/data-dir.js';
import type { StateMachine } from '../runtime/machine.js';
import type { EngineFlags } from './engine.js';
import { pinnedKeys, readState } from './engine.js';
import { exitCodes, printJson, progressBar } from './output.js';

/** `--at SEQ` / `--at-time ISO` of a command, at most one. */
export interface AtFlags {
  at?: number;
  atTime?: string;
}

export function atSpecOf(opts: AtFlags): AtSpec | undefined {
  if (opts.at !== undefined && opts.atTime !== undefined) throw steleError('STELE_E_USAGE', 'give either --at or --at-time, not both', { fix: 'see stele --help' });
  if (opts.at !== undefined) return { seq: opts.at };
  if (opts.atTime !== undefined) return { time: opts.atTime };
  return undefined;
}

/** What a read command needs: the machine as of now (replay) or as of `at` (time travel). */
export interface ReadMachine {
  machine: StateMachine;
  /** The log is damaged (reads of now show the state before the fault; exit 1). */
  damaged: boolean;
  /** Set when the read is a time travel. */
  at: StateAt | undefined;
}

export async function readMachine(dir: string, logger: Logger, flags: EngineFlags, at: AtSpec | undefined, quiet = false): Promise<ReadMachine> {
  if (at === undefined) {
    const r = await readState(dir, logger, flags, quiet);
    return { machine: r.machine, damaged: r.damaged, at: undefined };
  }
  const travelled = travel(dir, logger, flags, at, quiet);
  return { machine: travelled.machine, damaged: false, at: travelled };
}

function travel(dir: string, logger: Logger, flags: EngineFlags, at: AtSpec, quiet: boolean): StateAt {
  const bar = progressBar('replay', !quiet);
  try {
    const publicKeys = pinnedKeys(flags);
    return stateAt(dir, at, { logger, snapshot: flags.snapshot, onProgress: bar.update, ...(publicKeys === undefined ? {} : { publicKeys }) });
  } finally {
    bar.stop();
  }
}

/** The summary of a time travel, as `stele replay --at` prints it. */
export function atSummary(r: StateAt): Record<string, JsonValue> {
  return {
    size: r.size,
    seq: r.seq,
    ts: r.ts,
    logRoot: r.logRoot,
    stateRoot: r.stateRoot,
    headHash: r.headHash,
    entries: r.machine.entries.size,
    base: r.base,
    skippedSnapshots: r.skippedSnapshots as unknown as JsonValue,
    replayed: r.replayed,
    frontier: r.frontier,
    checkpoints: { logRootsChecked: r.checkpoints.logRootsChecked, stateRootsChecked: r.checkpoints.stateRootsChecked },
    ms: r.ms.total,
  };
}

/** `stele replay [--at SEQ | --at-time ISO]`: re-derive the state and roots, now or as of a position. */
export function replayCommand(dir: string, logger: Logger, flags: EngineFlags, opts: AtFlags & { json?: boolean }): number {
  const json = opts.json === true;
  // Without a position: the whole log (a damaged line is thrown as the fault, exit 1).
  const at = atSpecOf(opts) ?? { size: logSize(dir) };
  const r = travel(dir, logger, flags, at, json);
  const out = atSummary(r);
  if (json) printJson(out);
  else {
    const lines = [
      `size       ${r.size}${r.seq === null ? ' (the empty state)' : ` (after event ${r.seq}, ${r.ts})`}`,
      `logRoot    ${r.logRoot}`,
      `stateRoot  ${r.stateRoot}`,
      `headHash   ${r.headHash}`,
      `entries    ${r.machine.entries.size}`,
      `derived    ${r.base === null ? 'from genesis' : `from ${r.base.file}`}, ${r.replayed} events verified and reduced, ${r.checkpoints.stateRootsChecked} checkpoints compared, in ${r.ms.total} ms`,
    ];
    for (const s of r.skippedSnapshots) lines.push(`skipped    ${s.file}: ${s.reason}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return exitCodes.ok;
}

/** The number of complete events in the log, found by bisection. */
function logSize(dir: string): number {
  const seeker = new LogSeeker(checkDataDir(dir, false).log);
  try {
    return seeker.count();
  } finally {
    seeker.close();
  }
}

/** `stele diff A B`: every state key added, changed or removed between two positions. */
export function diffCommand(dir: string, logger: Logger, flags: EngineFlags, a: AtSpec, b: AtSpec, opts: { prefix?: string; json?: boolean }): number {
  const json = opts.json === true;
  const bar = progressBar('replay', !json);
  let diff;
  try {
    const publicKeys = pinnedKeys(flags);
    diff = diffStates(dir, a, b, { logger, snapshot: flags.snapshot, onProgress: bar.update, ...(publicKeys === undefined ? {} : { publicKeys }), ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }) });
  } finally {
    bar.stop();
  }
  if (json) {
    printJson({ from: diff.from, to: diff.to, counts: diff.counts });
    for (const c of diff.changes) printJson(c);
    return exitCodes.ok;
  }
  const out: string[] = [
    `from size ${diff.from.size} (stateRoot ${diff.from.stateRoot}) to size ${diff.to.size} (stateRoot ${diff.to.stateRoot}): ${diff.counts.added} added, ${diff.counts.changed} changed, ${diff.counts.removed} removed`,
  ];
  for (const c of diff.changes) {
    if (c.change === 'added') out.push(`+ ${c.key}\t${JSON.stringify(c.after)}`);
    else if (c.change === 'removed') out.push(`- ${c.key}\t${JSON.stringify(c.before)}`);
    else out.push(`~ ${c.key}\t${JSON.stringify(c.before)} -> ${JSON.stringify(c.after)}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return exitCodes.ok;
}
