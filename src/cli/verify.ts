/**
 * `stele verify` (full, from genesis, with state and checkpoints; or `--log-only`, the
 * parallel chain check of issue #2) and `stele start`.
 */
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';
import { steleError } from '../errors.js';
import { verifyLog } from '../log/read.js';
import type { VerifyReport } from '../log/read.js';
import { Engine } from '../runtime/engine.js';
import { verifyDir } from '../runtime/verify.js';
import { initDataDir } from '../store/data-dir.js';
import type { EngineFlags } from './engine.js';
import { exitCodes, humanError, printJson, progressBar } from './output.js';

export async function verifyCommand(dir: string, logger: Logger, opts: { json?: boolean; logOnly?: boolean; threads?: number }): Promise<number> {
  const bar = progressBar('verify', opts.json !== true);
  const started = process.hrtime.bigint();
  let report: VerifyReport & { stateRoot?: string; checkpoints?: { logRootsChecked: number; stateRootsChecked: number } };
  try {
    report =
      opts.logOnly === true
        ? await verifyLog(dir, { onProgress: bar.update, ...(opts.threads === undefined ? {} : { threads: Math.max(1, opts.threads) }) })
        : await verifyDir(dir, { logger, onProgress: bar.update });
  } finally {
    bar.stop();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (opts.json === true) printJson(report);
  else if (report.ok) {
    const rate = Math.round(report.size / Math.max(seconds, 1e-9));
    const lines = [`ok: ${report.size} events verified in ${seconds.toFixed(2)} s (${rate} events/s, ${report.threads} thread${report.threads === 1 ? '' : 's'})`, `logRoot    ${report.logRoot}`];
    if (report.stateRoot !== undefined) lines.push(`stateRoot  ${report.stateRoot}`);
    lines.push(`headHash   ${report.headHash}`);
    if (report.checkpoints !== undefined) lines.push(`checkpoints ${report.checkpoints.stateRootsChecked} recomputed and equal`);
    process.stdout.write(lines.join('\n') + '\n');
    if (report.tornTail !== undefined) process.stdout.write(`warning: torn last line of ${report.tornTail.bytes} bytes at byte ${report.tornTail.offset} (never acknowledged; the writer quarantines it on open)\n`);
    if (report.treeFile !== 'ok') process.stdout.write(`note: the derived tree file is ${report.treeFile}; the writer rebuilds it on open\n`);
  } else {
    const f = report.fault!;
    process.stdout.write(`FAILED after ${report.size} good events\n`);
    process.stderr.write(
      humanError(
        steleError(f.code as ErrorCode, f.message, {
          where: { file: 'events.ndjson', ...(f.line === undefined ? {} : { line: f.line }), ...(f.seq === undefined ? {} : { seq: f.seq }), ...(f.offset === undefined ? {} : { offset: f.offset }) },
          ...(f.expected === undefined ? {} : { expected: f.expected }),
          ...(f.found === undefined ? {} : { found: f.found }),
          ...(f.fix === undefined ? {} : { fix: f.fix }),
        }),
      ),
    );
  }
  return report.ok ? exitCodes.ok : exitCodes.verifyFailed;
}

export async function startCommand(dir: string, logger: Logger, flags: EngineFlags, json: boolean): Promise<number> {
  const { paths, created } = initDataDir(dir);
  if (created) logger.info({ dir: paths.dir }, 'initialised data directory');
  const bar = progressBar('replay', !json);
  const engine = await Engine.open(paths.dir, { logger, snapshot: flags.snapshot, onProgress: bar.update }).finally(() => bar.stop());
  const recovered = engine.log.recovered.length;
  await engine.close();
  const status = engine.status();
  if (json) printJson({ dir: paths.dir, ...status, recovered, replay: engine.replay });
  else {
    process.stdout.write(`stele data directory ${paths.dir}\nsize       ${status.size}\nlogRoot    ${status.logRoot}\nstateRoot  ${status.stateRoot}\nheadHash   ${status.headHash}\n`);
    process.stdout.write(
      `\nTry:\n  npx stele cmd kv.put '{"key":"greeting","value":"hello"}'\n  npx stele cmd ledger.open '{"account":"alice"}'\n  npx stele status\n  npx stele verify\n`,
    );
  }
  return exitCodes.ok;
}
