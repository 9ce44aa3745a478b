/**
 * `stele verify` (full, from genesis, with state and checkpoints; or `--log-only`, the
 * parallel chain check of issue #2) and `stele start`.
 */
import type { Logger } from 'pino';
import type { PublicKey } from '../crypto/keys.js';
import type { ErrorCode } from '../errors.js';
import { steleError } from '../errors.js';
import { verifyLog } from '../log/read.js';
import type { VerifyReport } from '../log/read.js';
import { Engine } from '../runtime/engine.js';
import type { CheckpointSummary } from '../runtime/replay-sink.js';
import { verifyDir } from '../runtime/verify.js';
import { initDataDir } from '../store/data-dir.js';
import type { EngineFlags } from './engine.js';
import { engineOptions } from './engine.js';
import { exitCodes, humanError, printJson, progressBar } from './output.js';

/**
 * `stele verify`. With `--log-only` the checkpoints are not read (neither their roots nor
 * their signatures): that is the full verification's job.
 */
export async function verifyCommand(dir: string, logger: Logger, opts: { json?: boolean; logOnly?: boolean; threads?: number; publicKeys?: PublicKey[] | undefined }): Promise<number> {
  const bar = progressBar('verify', opts.json !== true);
  const started = process.hrtime.bigint();
  let report: VerifyReport & { stateRoot?: string; checkpoints?: CheckpointSummary };
  try {
    report =
      opts.logOnly === true
        ? await verifyLog(dir, { onProgress: bar.update, ...(opts.threads === undefined ? {} : { threads: Math.max(1, opts.threads) }) })
        : await verifyDir(dir, { logger, onProgress: bar.update, ...(opts.publicKeys === undefined ? {} : { publicKeys: opts.publicKeys }) });
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
    if (report.checkpoints !== undefined) lines.push(`checkpoints ${report.checkpoints.stateRootsChecked} recomputed and equal`, `signatures ${signatureLine(report.checkpoints)}`);
    process.stdout.write(lines.join('\n') + '\n');
    if (report.checkpoints !== undefined) for (const w of signatureWarnings(report.checkpoints)) process.stdout.write(`warning: ${w}\n`);
    if (report.tornTail !== undefined) process.stdout.write(`warning: torn last line of ${report.tornTail.bytes} bytes at byte ${report.tornTail.offset} (never acknowledged; the writer quarantines it on open)\n`);
    if (report.treeFile !== 'ok') process.stdout.write(`note: the derived tree file is ${report.treeFile}; the writer rebuilds it on open\n`);
  } else {
    const f = report.fault!;
    process.stdout.write(`FAILED after ${report.size} good events\n`);
    process.stderr.write(
      humanError(
        steleError(f.code as ErrorCode, f.message, {
          where: { file: 'events.ndjson', ...(f.line === undefined ? {} : { line: f.line }), ...(f.seq === undefined ? {} : { seq: f.seq }), ...(f.offset === undefined ? {} : { offset: f.offset }), ...(f.path === undefined ? {} : { path: f.path }) },
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
  const engine = await Engine.open(paths.dir, { ...engineOptions(logger, flags), onProgress: bar.update }).finally(() => bar.stop());
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

/** One line on the signatures of a replay's checkpoints (issue #5), for `verify` and `status`. */
export function signatureLine(c: CheckpointSummary): string {
  if (c.signed === 0) return 'none of the checkpoints is signed';
  const parts = [`${c.signed} checkpoint${c.signed === 1 ? '' : 's'} signed`, `${c.signaturesVerified} verified`];
  if (c.pinned !== null) parts.push(`${c.pinned.verified} by a pinned key`);
  return parts.join(', ');
}

/** What the signature counts warn about: unknown keys, and with pinned keys any other signer. Never a failure (docs/decisions.md). */
export function signatureWarnings(c: CheckpointSummary): string[] {
  const out: string[] = [];
  const unknown = c.signed - c.signaturesVerified;
  if (unknown > 0) out.push(`${unknown} checkpoint signature${unknown === 1 ? '' : 's'} not checked: signed by keys neither in <data>/keys nor given with --pubkey (${c.unknownKeyIds.join(', ')})`);
  if (c.pinned !== null && c.pinned.otherSigned > 0) out.push(`${c.pinned.otherSigned} checkpoint${c.pinned.otherSigned === 1 ? ' is' : 's are'} signed by keys not pinned with --pubkey (${c.pinned.otherKeyIds.join(', ')})`);
  return out;
}
