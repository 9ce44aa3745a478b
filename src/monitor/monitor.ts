/**
 * The monitor's shell (`stele monitor`, issue #5): one look at a source, decided by
 * src/monitor/verdict.ts, remembered in the state file; and the polling loop.
 *
 * Invariants:
 * - The state file advances only on an ok verdict (first, unchanged, advanced). An alarm
 *   leaves it as it was, so the same alarm is raised at every look until a human acts.
 * - It is written atomically and durably (temp file, fsync, rename, directory fsync): a crash
 *   leaves the old or the new state, never a mix.
 * - It is read again at every look: moving it away (to accept a new history) takes effect
 *   at the next look without a restart.
 * - A source that does not answer is `unreachable` (a warning, retried), never an alarm; a
 *   source whose bytes are damaged is `damaged` (an error, like an alarm).
 * - Before a `rewritten` alarm computed from a data directory's tree file, the proofs are
 *   computed again from the log itself: the alarm is about the log, not a derived file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { PublicKey } from '../crypto/keys.js';
import { ed25519VerifyNode } from '../crypto/keys.js';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError, SteleErrorJson } from '../errors.js';
import { fromHex, toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import { writeFileDurable } from '../store/data-dir.js';
import type { MonitorSource } from './source.js';
import { observe } from './source.js';
import type { MonitorState } from './state.js';
import { formatMonitorState, monitorStateFormat, parseMonitorState } from './state.js';
import type { AlarmVerdict, Decision, Latest, MonitorCrypto, MonitoredCheckpoint, Proofs, Remembered, SignaturePolicy, TreeHead } from './verdict.js';
import { decide } from './verdict.js';

/** Default `--interval`, in seconds. */
export const monitorIntervalSecondsDefault = 30;

export interface MonitorOptions {
  source: MonitorSource;
  /** For a data directory: the same directory with proofs from the log itself (asked before a `rewritten` alarm). */
  recheckSource?: () => MonitorSource;
  stateFile: string;
  /** `--pubkey` keys: when any, the only trusted keys, and signatures are required. */
  pinnedKeys: readonly PublicKey[];
  requireSigned: boolean;
  logger: Logger;
  /** The clock, for `checked.at` and `trusted.at` only (never part of a decision). */
  now?: () => Date;
}

export type PollOutcome = 'ok' | 'alarm' | 'damaged' | 'unreachable';

interface CheckpointSummary {
  seq: number;
  size: number;
  logRoot: string;
  stateRoot: string;
  keyId?: string;
}

/** What one look found and concluded: printed by the CLI (`--json`: this object, one line per look). */
export interface PollReport {
  verdict: 'first' | 'unchanged' | 'advanced' | 'no-checkpoint' | AlarmVerdict | 'damaged' | 'unreachable';
  outcome: PollOutcome;
  at: string;
  source: string;
  stateFile: string;
  /** Whether the state file was written by this look. */
  recorded: boolean;
  remembered: { checkpoint: CheckpointSummary; head: TreeHead; trusted: { at: string; seq: number } } | null;
  found: { checkpoint: CheckpointSummary | null; head: TreeHead } | null;
  signature?: { status: string; keyId?: string };
  notes: string[];
  error?: SteleErrorJson;
}

const crypto: MonitorCrypto = { sha: sha256, verify: ed25519VerifyNode };

function summary(cp: MonitoredCheckpoint): CheckpointSummary {
  return { seq: cp.seq, size: cp.data.size, logRoot: cp.data.logRoot, stateRoot: cp.data.stateRoot, ...(cp.data.keyId === undefined ? {} : { keyId: cp.data.keyId }) };
}

/** The state file, or undefined when it does not exist yet (first use). */
export function readMonitorState(file: string): MonitorState | undefined {
  let bytes: Buffer;
  try {
    const size = fs.statSync(file).size;
    // Over the cap: only enough bytes for the parser to refuse it by size.
    bytes = size > limits.monitorStateBytesMax ? Buffer.alloc(size) : fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw steleError('STELE_E_USAGE', `cannot read the monitor state file ${file}: ${(err as Error).message}`, { where: { file }, fix: 'give --state a file this user can read and write', cause: err });
  }
  return parseMonitorState(sha256, bytes, file);
}

/** Writes the state file atomically and durably (temp file, fsync, rename, directory fsync). */
export function writeMonitorState(file: string, state: MonitorState): void {
  try {
    writeFileDurable(file, formatMonitorState(state), 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw steleError(code === 'ENOENT' || code === 'EACCES' || code === 'EROFS' ? 'STELE_E_USAGE' : 'STELE_E_IO', `cannot write the monitor state file ${file}: ${(err as Error).message}`, {
      where: { file },
      fix: 'give --state a file in an existing directory this user can write',
      cause: err,
    });
  }
}

/** A failure of the source that is evidence about the log (kind integrity, or a log the reader calls damaged). */
function isDamage(err: SteleError): boolean {
  return err.kind === 'integrity' || err.code === 'STELE_E_PANIC';
}

/**
 * Decides one look. From a data directory's tree file, a `rewritten` verdict or damage is
 * checked again with the proofs computed from the log itself (the tree file is derived, and
 * a damaged one must not raise an alarm about the log); the second answer stands.
 */
async function look(options: MonitorOptions, remembered: Remembered | undefined, policy: SignaturePolicy): Promise<{ latest: Latest; decision: Decision }> {
  const attempt = async (source: MonitorSource) => {
    const { latest, proofs }: { latest: Latest; proofs: Proofs } = await observe(source, remembered);
    return { latest, decision: decide(remembered, latest, proofs, policy, crypto) };
  };
  const recheck = options.source.proofsFrom === 'tree-file' ? options.recheckSource : undefined;
  if (recheck === undefined) return attempt(options.source);
  let first: { latest: Latest; decision: Decision };
  try {
    first = await attempt(options.source);
  } catch (err) {
    if (!isSteleError(err) || !isDamage(err)) throw err;
    options.logger.warn({ source: options.source.location, code: err.code, reason: err.message }, 'reading with index/tree.hashes failed: computing everything again from the log itself');
    return attempt(recheck());
  }
  if (first.decision.ok || first.decision.verdict !== 'rewritten') return first;
  options.logger.warn({ source: options.source.location }, 'the proofs from index/tree.hashes do not verify: computing them again from the log itself before raising the alarm');
  const second = await attempt(recheck());
  if (second.decision.ok) {
    options.logger.warn({ source: options.source.location }, 'index/tree.hashes disagrees with the log, whose own bytes verify: no alarm. The tree file is damaged (stele verify names where); the writer rebuilds it');
  }
  return second;
}

/**
 * One look: read the state, observe, decide, log, and on an ok verdict record. Returns the
 * report; throws only for usage errors (a state file that is not valid, one that cannot be
 * written) and bugs.
 */
export async function pollOnce(options: MonitorOptions): Promise<PollReport> {
  const { source, stateFile, logger } = options;
  const at = (options.now?.() ?? new Date()).toISOString();
  const state = readMonitorState(stateFile);
  if (state !== undefined && state.source !== source.location) {
    logger.warn({ stateFile, recorded: state.source, source: source.location }, 'the state file was recorded against another source: if it is not the same log, expect an alarm (use one state file per log)');
  }
  const remembered: Remembered | undefined = state === undefined ? undefined : { checkpoint: state.checkpoint, head: state.head };
  const policy: SignaturePolicy = {
    pinnedKeys: options.pinnedKeys.map((k) => k.publicKey),
    learnedKeys: (state?.keys ?? []).map((k) => fromHex(k.publicKey)!),
    requireSigned: options.requireSigned,
  };
  const report: PollReport = {
    verdict: 'unreachable',
    outcome: 'unreachable',
    at,
    source: source.location,
    stateFile,
    recorded: false,
    remembered: state === undefined ? null : { checkpoint: summary(state.checkpoint), head: state.head, trusted: state.trusted },
    found: null,
    notes: [],
  };

  let latest: Latest;
  let decision: Decision;
  try {
    ({ latest, decision } = await look(options, remembered, policy));
  } catch (err) {
    if (!isSteleError(err)) throw err;
    return sourceFailed(report, err, logger);
  }
  report.found = { checkpoint: latest.checkpoint === undefined ? null : summary(latest.checkpoint), head: latest.head };

  if (!decision.ok) {
    report.verdict = decision.verdict;
    report.outcome = 'alarm';
    report.error = decision.error.toJSON();
    const signature = decision.error.detail?.['signature'] as { status: string; keyId?: string } | undefined;
    if (signature !== undefined) report.signature = signature;
    logger.error(
      { code: decision.error.code, verdict: decision.verdict, source: source.location, stateFile, remembered: report.remembered, latest: report.found, expected: decision.error.expected, found: decision.error.found, fix: decision.error.fix },
      `ALARM ${decision.verdict}: ${decision.error.message}; the state file is not advanced`,
    );
    return report;
  }
  report.verdict = decision.verdict;
  report.outcome = 'ok';
  if (decision.verdict === 'no-checkpoint') {
    report.notes.push('the log has no checkpoint yet: nothing to verify or remember');
    logger.info({ source: source.location, head: latest.head }, 'no checkpoint in the log yet; nothing recorded');
    return report;
  }
  report.notes.push(...decision.notes);
  const sig = decision.signature;
  if (sig.status === 'invalid') throw new Error('stele bug: an ok verdict with an invalid signature');
  report.signature = sig.status === 'unsigned' ? { status: sig.status } : { status: sig.status, keyId: sig.keyId };
  const keys = [...(state?.keys ?? [])];
  if (decision.learnedKey !== undefined) {
    const learned = decision.learnedKey;
    const keyId = toHex(sha256(learned));
    if (!keys.some((k) => k.keyId === keyId)) keys.push({ keyId, publicKey: toHex(learned) });
  }
  const next: MonitorState = {
    format: monitorStateFormat,
    v: 1,
    source: source.location,
    trusted: state?.trusted ?? { at, seq: decision.checkpoint.seq },
    checkpoint: decision.checkpoint,
    head: decision.head,
    keys,
    checked: { at, verdict: decision.verdict, signature: sig.status, ...(sig.status === 'unsigned' ? {} : { keyId: sig.keyId }) },
  };
  if (decision.verdict === 'first') {
    report.notes.unshift(`trusting checkpoint seq ${decision.checkpoint.seq} on first use (nothing remembered in ${stateFile}): later looks prove the log only ever extends it`);
  }
  writeMonitorState(stateFile, next);
  report.recorded = true;
  for (const note of report.notes) logger.info({ source: source.location }, note);
  logger.info({ verdict: decision.verdict, source: source.location, checkpoint: report.found.checkpoint, head: decision.head, signature: report.signature }, `${decision.verdict}: checkpoint seq ${decision.checkpoint.seq}, log size ${decision.head.size}`);
  return report;
}

function sourceFailed(report: PollReport, err: SteleError, logger: Logger): PollReport {
  // A damaged log (or one the source refuses to serve as damaged) is evidence; a silent source is not.
  const damaged = isDamage(err);
  report.verdict = damaged ? 'damaged' : 'unreachable';
  report.outcome = damaged ? 'damaged' : 'unreachable';
  report.error = err.toJSON();
  if (damaged) logger.error({ code: err.code, source: report.source, stateFile: report.stateFile, where: err.where, fix: err.fix }, `the source is damaged: ${err.message}; the state file is not advanced`);
  else logger.warn({ code: err.code, source: report.source, detail: err.detail }, `source unreachable (not an alarm; looked at again at the next poll): ${err.message}`);
  return report;
}

/**
 * Looks every `intervalMs` until `signal` aborts (between looks; a look in progress
 * finishes), handing each report to `onReport`. Returns the last report.
 */
export async function runMonitor(options: MonitorOptions, loop: { intervalMs: number; signal: AbortSignal; onReport: (report: PollReport) => void }): Promise<PollReport> {
  for (;;) {
    const report = await pollOnce(options);
    loop.onReport(report);
    if (loop.signal.aborted) return report;
    try {
      await sleep(loop.intervalMs, undefined, { signal: loop.signal });
    } catch {
      return report;
    }
  }
}

/** The directory of a state file must exist: the monitor creates the file, never directories. */
export function checkStateFileDir(file: string): void {
  const dir = path.dirname(path.resolve(file));
  let ok: boolean;
  try {
    ok = fs.statSync(dir).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw steleError('STELE_E_USAGE', `the directory of --state ${file} does not exist`, { where: { file: dir }, fix: 'create the directory, or give --state a path in an existing one' });
}
