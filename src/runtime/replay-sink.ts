/**
 * The reducing end of a replay (DESIGN.md §6 step 4), fed one verified line at a time by
 * whichever scan reads the log (the writer's startup scan, `stele verify`, read commands):
 * applies the events after the snapshot to the state machine, recomputes and compares
 * every checkpoint (DESIGN.md §4), checks module invariants at each checkpoint, and checks
 * that the log agrees with the snapshot it started from.
 *
 * A fault is thrown as a SteleError carrying the event's line and seq; scans stop at the
 * first one, so it is the first divergence. Pure: no I/O.
 */
import { isSteleError, steleError } from '../errors.js';
import { toHex } from '../hash/hex.js';
import type { CheckedLine } from '../log/chain.js';
import type { LogTreeFrontier } from '../merkle/log-tree.js';
import type { SnapshotHeader } from '../snapshot/format.js';
import { snapshotFault } from '../snapshot/format.js';
import type { StateMachine } from './machine.js';

export const checkpointType = 'stele.checkpoint';

/** Where the replay started from, when a snapshot was loaded. */
export interface SnapshotBase {
  file: string;
  header: SnapshotHeader;
}

export interface CheckpointSummary {
  /** Checkpoints whose log root was compared (all of them). */
  logRootsChecked: number;
  /** Checkpoints whose state root was compared (those after the snapshot). */
  stateRootsChecked: number;
  /** The last checkpoint seen (it covers the `seq` events before it). */
  last: { seq: number } | undefined;
}

export class ReplaySink {
  readonly checkpoints: CheckpointSummary = { logRootsChecked: 0, stateRootsChecked: 0, last: undefined };
  /** Events reduced (after the snapshot). */
  reduced = 0;
  readonly #file: string;

  constructor(
    readonly machine: StateMachine,
    /** The verifier's tree frontier: after line `seq` it holds `seq + 1` leaves. */
    private readonly frontier: LogTreeFrontier,
    private readonly base: SnapshotBase | undefined,
    file = 'events.ndjson',
  ) {
    this.#file = file;
  }

  /** Consumes the next verified line. Throws the first divergence. */
  line(checked: CheckedLine): void {
    const event = checked.event;
    const seq = event.seq;
    if (event.type === checkpointType) this.#checkpoint(checked);
    if (seq >= this.machine.size) {
      try {
        this.machine.apply(event);
      } catch (err) {
        throw isSteleError(err) ? err.at({ file: this.#file, line: seq + 1, seq }) : err;
      }
      this.reduced++;
    }
    const base = this.base;
    if (base !== undefined && seq === base.header.size - 1) {
      if (checked.hash !== base.header.headHash) {
        throw snapshotFault(base.file, `its head hash does not match the hash of event ${seq} in the log`, undefined, checked.hash, base.header.headHash);
      }
      const root = toHex(this.frontier.root());
      if (root !== base.header.logRoot) throw snapshotFault(base.file, `its log root does not match the log at size ${base.header.size}`, undefined, root, base.header.logRoot);
    }
  }

  #checkpoint(checked: CheckedLine): void {
    const event = checked.event;
    const seq = event.seq;
    const where = { file: this.#file, line: seq + 1, seq, path: 'data' };
    const data = event.data as { size: number; logRoot: string; stateRoot: string };
    if (data.size !== seq) {
      throw steleError('STELE_E_CHECKPOINT_MISMATCH', `the checkpoint at seq ${seq} states size ${data.size}; a checkpoint covers the events before it`, {
        where: { ...where, path: 'data.size' },
        expected: String(seq),
        found: String(data.size),
        fix: 'the checkpoint line was altered or written by a faulty writer; restore the log from a backup',
      });
    }
    if (checked.logRootBefore !== undefined) {
      const logRoot = toHex(checked.logRootBefore);
      if (logRoot !== data.logRoot) {
        throw steleError('STELE_E_CHECKPOINT_MISMATCH', `the checkpoint at seq ${seq} states a log root that differs from the log's`, {
          where: { ...where, path: 'data.logRoot' },
          expected: logRoot,
          found: data.logRoot,
          fix: 'events before this checkpoint differ from those it committed to: the log was rewritten. Restore it from a backup',
        });
      }
      this.checkpoints.logRootsChecked++;
    }
    if (this.machine.size === seq) {
      const stateRoot = this.machine.stateRoot();
      if (stateRoot !== data.stateRoot) {
        throw steleError('STELE_E_CHECKPOINT_MISMATCH', `the state derived from the first ${seq} events differs from the state root the checkpoint at seq ${seq} committed to`, {
          where: { ...where, path: 'data.stateRoot' },
          expected: stateRoot,
          found: data.stateRoot,
          fix: 'derivation diverged before this point: a module changed its reducer without a new version, or the log was altered. Run stele verify on a backup, compare module versions',
        });
      }
      const broken = this.machine.checkInvariants();
      if (broken !== undefined) {
        throw steleError('STELE_E_INVARIANT', `an invariant is broken at the checkpoint at seq ${seq}: ${broken}`, {
          where,
          fix: 'the log holds events the modules could never have decided; restore it from a backup',
        });
      }
      this.checkpoints.stateRootsChecked++;
    }
    this.checkpoints.last = { seq };
  }

  /** After the scan: the log must reach the snapshot it started from. */
  finish(logSize: number): void {
    const base = this.base;
    if (base !== undefined && logSize < base.header.size) {
      throw snapshotFault(base.file, `it covers ${base.header.size} events but the log has only ${logSize}: the log lost events, or the snapshot belongs to another log`);
    }
  }
}
