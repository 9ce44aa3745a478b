/**
 * `explainAccount(dir, id)`: an account's balance derived event by event from zero with
 * `ledgerChanges` (src/modules/ledger/history.ts, the one description of what each ledger
 * event does to balances), compared with the balance the state holds at the end — the state
 * a read command serves (from the newest usable snapshot unless `snapshot: false`, plus the
 * events after it, reduced by the modules given).
 *
 * The two sides are independent: one sums the events' own amounts, the other is whatever
 * the reducer (and a snapshot, if one was loaded) made of them. They differ when the
 * reducer changed, a snapshot was altered, or the log holds what the reducer refuses.
 */
import type { Logger } from 'pino';
import type { JsonObject } from '../canonical/json.js';
import type { SteleError } from '../errors.js';
import { isSteleError, steleError } from '../errors.js';
import { formatBalance } from '../modules/ledger/amount.js';
import type { LedgerChangeKind } from '../modules/ledger/history.js';
import { ledgerChanges } from '../modules/ledger/history.js';
import { isBuiltin, loadSnapshot } from '../runtime/replay.js';
import { snapshotFault } from '../snapshot/format.js';
import type { MachineOptions } from '../runtime/machine.js';
import { StateMachine } from '../runtime/machine.js';
import { checkDataDir } from '../store/data-dir.js';
import { applyFinding } from './compare.js';
import { scanForensic } from './scan.js';

/** A canonical line's type field of a ledger event: `"type":"ledger.` (keys sorted, no spaces). */
const ledgerTypeMarker = Buffer.from('"type":"ledger.');

/** One change of the account's balance. */
export interface ExplainChange {
  seq: number;
  ts: string;
  type: string;
  kind: LedgerChangeKind;
  /** Signed change, integer string. */
  delta: string;
  /** The derived balance after it, integer string. */
  balance: string;
}

export interface ExplainOptions extends MachineOptions {
  /** Take the state from the newest usable snapshot plus the events after it (default true), or derive it from genesis. */
  snapshot?: boolean;
  /** Each change as it is found; when given, `changes` of the result stays empty. */
  onChange?: (change: ExplainChange) => void;
  logger?: Logger;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  threads?: number;
  parallelBytesMin?: number;
}

export interface ExplainResult {
  account: string;
  /** In log order (empty when `onChange` was given). */
  changes: ExplainChange[];
  count: number;
  /** The balance summed from the changes. */
  derivedBalance: string;
  /** The balance in the state (`account:<id>`), or null when the state has no such account. */
  stateBalance: string | null;
  /** True when both balances are equal and the log is undamaged. */
  ok: boolean;
  /** STELE_E_DIVERGENCE when the balances differ. */
  error: SteleError | undefined;
  /** Damage to the log, or an event the modules cannot apply: both sides stop there. */
  fault: SteleError | undefined;
  /** Events of the log verified, and the state's size and root. */
  size: number;
  stateRoot: string;
  /** The snapshot the state started from, if any. */
  snapshot: { file: string; size: number } | null;
}

/**
 * Explains account `id` (see the file header). Throws STELE_E_NOT_FOUND when neither the log
 * nor the state knows the account, STELE_E_USAGE without a ledger module.
 */
export async function explainAccount(dir: string, id: string, options: ExplainOptions = {}): Promise<ExplainResult> {
  const paths = checkDataDir(dir, false);
  const probe = new StateMachine(options);
  if (!probe.modules.some((m) => m.name === 'ledger')) throw steleError('STELE_E_USAGE', 'explain account needs the ledger module', { fix: 'register the ledger module' });
  const loaded = options.snapshot === false ? undefined : loadSnapshot(paths.dir, options);
  const machine = loaded?.machine ?? probe;
  let balance = 0n;
  let count = 0;
  const changes: ExplainChange[] = [];
  let fault: SteleError | undefined;
  const scan = await scanForensic(paths, {
    registry: machine.registry,
    builtin: isBuiltin(options),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    // Every ledger event is needed for the changes (also before the snapshot); the rest only after it.
    wants: (seq, bytes) => seq >= machine.size || bytes.includes(ledgerTypeMarker),
    onLine: (checked) => {
      const event = checked.event;
      const seq = event.seq;
      if (fault !== undefined) return;
      const base = loaded?.base.header;
      if (base !== undefined && seq === base.size - 1 && checked.hash !== base.headHash) {
        fault = snapshotFault(loaded!.base.file, `its head hash does not match the hash of event ${seq} in the log`, undefined, checked.hash, base.headHash);
        return;
      }
      if (seq >= machine.size) {
        try {
          machine.apply(event);
        } catch (err) {
          if (!isSteleError(err)) throw err;
          const f = applyFinding(seq, err);
          fault = steleError(err.code, f.message, { where: f.where, fix: 'the log holds an event the modules cannot apply: run stele forensic' });
          return;
        }
      }
      if (!event.type.startsWith('ledger.')) return;
      for (const c of ledgerChanges(event.type, event.v, event.data as JsonObject)) {
        if (c.account !== id) continue;
        balance += c.delta;
        count++;
        const change: ExplainChange = { seq, ts: event.ts, type: event.type, kind: c.kind, delta: c.delta.toString(), balance: formatBalance(balance) };
        if (options.onChange !== undefined) options.onChange(change);
        else changes.push(change);
      }
    },
  });
  fault ??= scan.fault;
  if (fault === undefined && loaded !== undefined && scan.verifier.head.size < loaded.base.header.size) {
    fault = snapshotFault(loaded.base.file, `it covers ${loaded.base.header.size} events but the log has only ${scan.verifier.head.size}`);
  }
  const value = machine.entries.get(`account:${id}`) as { balance?: unknown } | undefined;
  const stateBalance = typeof value?.balance === 'string' ? value.balance : null;
  if (count === 0 && stateBalance === null && fault === undefined) {
    throw steleError('STELE_E_NOT_FOUND', `no account ${id}: no ledger event names it and the state has no account:${id}`, {
      where: { path: id },
      fix: 'list accounts with stele ledger accounts',
    });
  }
  const derivedBalance = formatBalance(balance);
  const error =
    stateBalance === derivedBalance
      ? undefined
      : steleError('STELE_E_DIVERGENCE', `account ${id}: the balance derived event by event from the log is ${derivedBalance}, the state holds ${stateBalance ?? 'no such account'}`, {
          where: { path: `account:${id}` },
          expected: derivedBalance,
          found: stateBalance ?? '(absent)',
          fix: loaded === undefined ? 'the reducer does not do what the events say: compare the module versions, run stele forensic' : `the state came from ${loaded.base.file} plus the log: run stele forensic (it compares every snapshot), or retry with --no-snapshot`,
          detail: { account: id, changes: count },
        });
  return {
    account: id,
    changes,
    count,
    derivedBalance,
    stateBalance,
    ok: error === undefined && fault === undefined,
    error,
    fault,
    size: scan.verifier.head.size,
    stateRoot: machine.stateRoot(),
    snapshot: loaded === undefined ? null : { file: loaded.base.file, size: loaded.base.header.size },
  };
}
