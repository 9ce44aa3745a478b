/**
 * `stele backup DEST` and `stele restore SRC --data DIR [--at SEQ | --at-time ISO] [--force]`
 * (issue #6): the thin shell over src/backup/copy.ts — progress bars on a terminal, the
 * summary for people or as JSON.
 */
import type { Logger } from 'pino';
import type { CopyPhase, CopySummary, RestoreSummary } from '../backup/copy.js';
import { backupDir, restoreDir } from '../backup/copy.js';
import type { EngineFlags } from './engine.js';
import { pinnedKeys } from './engine.js';
import type { AtFlags } from './history.js';
import { atSpecOf } from './history.js';
import { exitCodes, printJson, progressBar } from './output.js';

/** One bar per phase (the copy of the log, then the verifying replay), each shown only on a terminal for long work. */
function phaseBars(enabled: boolean) {
  const bars = { copy: progressBar('copy  ', enabled), verify: progressBar('verify', enabled) };
  return {
    update: (phase: CopyPhase, done: number, total: number) => {
      if (phase === 'verify') bars.copy.stop();
      bars[phase].update(done, total);
    },
    stop: () => {
      bars.copy.stop();
      bars.verify.stop();
    },
  };
}

export async function backupCommand(src: string, dest: string, logger: Logger, flags: EngineFlags, json: boolean): Promise<number> {
  const bars = phaseBars(!json);
  const publicKeys = pinnedKeys(flags);
  const summary = await backupDir(src, dest, { logger, onProgress: bars.update, ...(publicKeys === undefined ? {} : { publicKeys }) }).finally(() => bars.stop());
  if (json) printJson(summary);
  else process.stdout.write(describe('backup', summary));
  return exitCodes.ok;
}

export async function restoreCommand(src: string, dir: string, logger: Logger, flags: EngineFlags, opts: AtFlags & { force?: boolean; json?: boolean }): Promise<number> {
  const json = opts.json === true;
  const at = atSpecOf(opts);
  const bars = phaseBars(!json);
  const publicKeys = pinnedKeys(flags);
  const summary = await restoreDir(src, dir, {
    logger,
    onProgress: bars.update,
    force: opts.force === true,
    ...(at === undefined ? {} : { at }),
    ...(publicKeys === undefined ? {} : { publicKeys }),
  }).finally(() => bars.stop());
  if (json) printJson(summary);
  else process.stdout.write(describe('restore', summary));
  return exitCodes.ok;
}

function describe(what: 'backup' | 'restore', s: CopySummary | RestoreSummary): string {
  const ends = s.checkpoint === null ? (s.size === 0 ? 'the empty log' : 'no checkpoint at its end') : `ends with the checkpoint at seq ${s.checkpoint.seq}`;
  const lines = [
    what === 'backup' ? `backup of ${s.source} written to ${s.target}` : `restored ${s.source} into ${s.target}`,
    `size       ${s.size} events (${mib(s.logBytes)} of log), ${ends}`,
    `logRoot    ${s.logRoot}`,
    `stateRoot  ${s.stateRoot}`,
    `headHash   ${s.headHash}`,
    `copied     ${mib(s.bytesCopied)}: the log, ${count(s.files.snapshots, 'snapshot')}, ${count(s.files.bundles, 'bundle')}, ${count(s.files.keys, 'public key')}, ${count(s.files.quarantine, 'quarantine file')} in ${seconds(s.ms.copy)}`,
    `verified   ${s.size} events from genesis, ${count(s.checkpoints.stateRootsChecked, 'checkpoint')} (roots recomputed and equal, ${s.checkpoints.signaturesVerified} signatures verified), every snapshot and bundle, in ${seconds(s.ms.verify)}`,
  ];
  if ('replaced' in s && s.replaced !== null) lines.push(`replaced   the previous contents were moved to ${s.replaced}`);
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${bytes} bytes` : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
