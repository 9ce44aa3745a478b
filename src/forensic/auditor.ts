/**
 * The reducing end of a forensic audit: fed one verified line at a time (scan.ts), it
 * applies the events with fresh code and compares, at each point where something on disk
 * recorded the outcome, recorded vs derived — every checkpoint (log root, state root,
 * invariants) and every snapshot at its size — recording findings instead of stopping.
 *
 * Invariants:
 * - The machine only moves forward, by `apply`, one event at a time, exactly as a replay.
 * - An event the modules cannot apply stops the reduction (a state with an event skipped is
 *   no derivation at all), not the scan: the chain, the checkpoints' log roots and the
 *   snapshots' head hashes and log roots are still checked to the end of the log.
 * - A snapshot is read when the replay reaches its size and dropped after the comparison,
 *   so memory stays O(state) plus one snapshot.
 * - No SteleError escapes `line`: the scan would take it for damage to the log.
 *
 * Pure but for `readSnapshot`, which the shell passes in (audit.ts).
 */
import { isSteleError } from '../errors.js';
import { toHex, zeroHash64 } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import type { CheckedLine } from '../log/chain.js';
import type { LogTreeFrontier } from '../merkle/log-tree.js';
import { emptyRoot } from '../merkle/log-tree.js';
import { checkpointType } from '../runtime/replay-sink.js';
import type { StateMachine } from '../runtime/machine.js';
import type { ParsedSnapshot } from '../snapshot/format.js';
import type { CheckpointData, DerivedState, LogAt } from './compare.js';
import { applyFinding, chainFinding, compareCheckpoint, compareSnapshot, snapshotUnusable } from './compare.js';
import type { FindingList } from './finding.js';
import type { TrustedBase } from './base.js';

/** What an audit looked at (the report's `checked`). */
export interface ForensicChecked {
  /** Lines of the log verified (chain, canonical form, schema). */
  events: number;
  /** Events applied to the state machine. */
  eventsReduced: number;
  /** Checkpoints in the log. */
  checkpoints: number;
  /** Checkpoints whose log root was compared. */
  checkpointLogRoots: number;
  /** Checkpoints whose state root and the invariants were compared (those the derived state reached). */
  checkpointStateRoots: number;
  /** Snapshot files on disk. */
  snapshots: number;
  /** Snapshots compared with the state derived at their size. */
  snapshotsCompared: number;
  /** Snapshots not compared: before the base, the base itself, beyond where the derivation stopped. */
  snapshotsSkipped: number;
  /** Bundle records of the derived state checked against their vault file. */
  bundles: number;
  /** Files found in the vault. */
  vaultFiles: number;
}

export function emptyChecked(): ForensicChecked {
  return { events: 0, eventsReduced: 0, checkpoints: 0, checkpointLogRoots: 0, checkpointStateRoots: 0, snapshots: 0, snapshotsCompared: 0, snapshotsSkipped: 0, bundles: 0, vaultFiles: 0 };
}

/** A snapshot to compare: its label (`snapshots/<name>`), its size, and the absolute file. */
export interface PendingSnapshot {
  file: string;
  label: string;
  size: number;
}

export class ForensicAuditor {
  readonly checked: ForensicChecked;
  /** False once an event could not be applied: the state is not derived past it. */
  reducing = true;
  readonly #machine: StateMachine;
  readonly #base: TrustedBase | undefined;
  readonly #pending: PendingSnapshot[];
  #next = 0;
  readonly #read: (snapshot: PendingSnapshot) => ParsedSnapshot;
  readonly #findings: FindingList;
  readonly #modules: [string, number][];

  constructor(
    machine: StateMachine,
    base: TrustedBase | undefined,
    /** Snapshots to compare, sizes ascending, all above the base's size (or ≥ 0 from genesis). */
    pending: PendingSnapshot[],
    read: (snapshot: PendingSnapshot) => ParsedSnapshot,
    findings: FindingList,
    checked: ForensicChecked,
  ) {
    this.#machine = machine;
    this.#base = base;
    this.#pending = pending;
    this.#read = read;
    this.#findings = findings;
    this.checked = checked;
    this.#modules = machine.modules.map((m) => [m.name, m.version]);
  }

  /** Before the scan: snapshots of size 0 compare with the empty log and the initial state. */
  start(): void {
    if (this.#machine.size === 0) this.#snapshotsAt({ size: 0, headHash: zeroHash64, headTs: '', logRoot: toHex(emptyRoot(sha256)) });
  }

  line(checked: CheckedLine, frontier: LogTreeFrontier): void {
    const event = checked.event;
    const seq = event.seq;
    const machine = this.#machine;
    if (event.type === checkpointType) this.#checkpoint(checked);
    if (this.reducing && seq >= machine.size) {
      try {
        machine.apply(event);
        this.checked.eventsReduced++;
      } catch (err) {
        if (!isSteleError(err)) throw err;
        this.#findings.add(applyFinding(seq, err));
        this.reducing = false;
      }
    }
    const base = this.#base;
    if (base !== undefined && seq === base.header.size - 1) this.#checkBase(base, checked, frontier);
    const next = this.#pending[this.#next];
    if (next !== undefined && next.size === seq + 1) this.#snapshotsAt({ size: seq + 1, headHash: checked.hash, headTs: event.ts, logRoot: toHex(frontier.root()) });
  }

  /** After the scan: its fault (damage to the log) and the snapshots it never reached. */
  finish(fault: Parameters<typeof chainFinding>[0] | undefined, logSize: number): void {
    if (fault !== undefined) this.#findings.add(chainFinding(fault, logSize));
    for (; this.#next < this.#pending.length; this.#next++) {
      const p = this.#pending[this.#next]!;
      if (fault !== undefined) {
        this.checked.snapshotsSkipped++;
        continue;
      }
      this.#findings.add({
        kind: 'snapshot',
        severity: 'divergence',
        message: `snapshot ${p.label} covers ${p.size} events but the log has only ${logSize}: the log lost events, or the snapshot belongs to another log`,
        size: logSize,
        where: { file: p.label },
        field: 'header.size',
        recorded: String(p.size),
        derived: String(logSize),
      });
    }
  }

  #checkpoint(checked: CheckedLine): void {
    const seq = checked.event.seq;
    const data = checked.event.data as unknown as CheckpointData;
    const machine = this.#machine;
    const logRoot = checked.logRootBefore === undefined ? undefined : toHex(checked.logRootBefore);
    const stateReached = this.reducing && machine.size === seq;
    this.checked.checkpoints++;
    if (logRoot !== undefined) this.checked.checkpointLogRoots++;
    if (stateReached) this.checked.checkpointStateRoots++;
    for (const f of compareCheckpoint(seq, data, { logRoot, stateRoot: stateReached ? machine.stateRoot() : undefined, invariant: stateReached ? machine.checkInvariants() : undefined })) this.#findings.add(f);
  }

  /** The log must agree with the base it started from (chooseBase checked its head hash already). */
  #checkBase(base: TrustedBase, checked: CheckedLine, frontier: LogTreeFrontier): void {
    const logRoot = toHex(frontier.root());
    const where = { file: base.file, line: 1, seq: checked.event.seq };
    const size = base.header.size;
    if (checked.hash !== base.header.headHash) {
      this.#findings.add({ kind: 'snapshot', severity: 'divergence', message: `base snapshot ${base.file}: its head hash differs from the log's event ${size - 1} (the log changed during the audit?)`, size, where, field: 'header.headHash', recorded: base.header.headHash, derived: checked.hash });
    }
    if (logRoot !== base.header.logRoot) {
      this.#findings.add({ kind: 'snapshot', severity: 'divergence', message: `base snapshot ${base.file}: its log root differs from the log's at size ${size}`, size, where, field: 'header.logRoot', recorded: base.header.logRoot, derived: logRoot });
    }
  }

  #snapshotsAt(log: LogAt): void {
    for (let p = this.#pending[this.#next]; p !== undefined && p.size === log.size; p = this.#pending[++this.#next]) {
      let parsed: ParsedSnapshot;
      try {
        parsed = this.#read(p);
      } catch (err) {
        if (!isSteleError(err)) throw err;
        this.#findings.add(snapshotUnusable(p.label, p.size, err));
        continue;
      }
      const machine = this.#machine;
      const derived: DerivedState | undefined =
        this.reducing && machine.size === log.size
          ? { stateRoot: machine.stateRoot(), modules: this.#modules, parts: machine.moduleParts(), entries: machine.entries.entries() }
          : undefined;
      if (derived === undefined) this.checked.snapshotsSkipped++;
      else this.checked.snapshotsCompared++;
      for (const f of compareSnapshot(p.label, parsed, log, derived)) this.#findings.add(f);
    }
  }
}
