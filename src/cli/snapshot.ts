/** `stele snapshot create|list|verify`. */
import path from 'node:path';
import type { Logger } from 'pino';
import { createSnapshot, listSnapshotInfo, verifySnapshots } from '../runtime/snapshots.js';
import type { PublicKey } from '../crypto/keys.js';
import type { EngineFlags } from './engine.js';
import { pinnedKeys } from './engine.js';
import { exitCodes, printJson, progressBar } from './output.js';

export async function snapshotCreateCommand(dir: string, logger: Logger, flags: EngineFlags, json: boolean): Promise<number> {
  const bar = progressBar('replay', !json);
  const publicKeys = pinnedKeys(flags);
  const created = await createSnapshot(dir, { logger, snapshot: flags.snapshot, onProgress: bar.update, ...(publicKeys === undefined ? {} : { publicKeys }) }).finally(() => bar.stop());
  if (json) printJson(created);
  else process.stdout.write(`wrote ${path.relative(process.cwd(), created.file)}: ${created.size} events, ${created.entries} entries, ${created.bytes} bytes\nstateRoot  ${created.stateRoot}\nlogRoot    ${created.logRoot}\n`);
  return exitCodes.ok;
}

export function snapshotListCommand(dir: string, json: boolean): number {
  const infos = listSnapshotInfo(dir);
  for (const info of infos) {
    if (json) printJson(info);
    else process.stdout.write(`${info.file}\t${info.size} events\t${info.bytes} bytes\t${info.header === undefined ? `UNUSABLE ${info.error?.code ?? ''}` : `stateRoot ${info.header.stateRoot}`}\n`);
  }
  if (!json && infos.length === 0) process.stdout.write('no snapshots\n');
  return infos.some((i) => i.error !== undefined) ? exitCodes.verifyFailed : exitCodes.ok;
}

export async function snapshotVerifyCommand(dir: string, logger: Logger, files: string[], json: boolean, publicKeys?: PublicKey[]): Promise<number> {
  const bar = progressBar('verify', !json);
  const verdicts = await verifySnapshots(dir, { logger, files, onProgress: bar.update, ...(publicKeys === undefined ? {} : { publicKeys }) }).finally(() => bar.stop());
  for (const v of verdicts) {
    if (json) printJson(v);
    else process.stdout.write(v.ok ? `ok      ${v.file} (${v.size} events): equals a full replay\n` : `FAILED  ${v.file}: ${v.error?.message ?? ''} [${v.error?.code ?? ''}]\n`);
  }
  if (!json && verdicts.length === 0) process.stdout.write('no snapshots\n');
  return verdicts.every((v) => v.ok) ? exitCodes.ok : exitCodes.verifyFailed;
}
