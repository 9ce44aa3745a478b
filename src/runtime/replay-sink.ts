/**
 * The reducing end of a replay (DESIGN.md §6 step 4), fed one verified line at a time by
 * whichever scan reads the log (the writer's startup scan, `stele verify`, read commands):
 * applies the events after the snapshot to the state machine, recomputes and compares
 * every checkpoint (DESIGN.md §4) and checks its signature when it carries one (issue #5),
 * checks module invariants at each checkpoint, and checks that the log agrees with the
 * snapshot it started from.
 *
 * A fault is thrown as a SteleError carrying the event's line and seq; scans stop at the
 * first one, so it is the first divergence. Pure: no I/O.
 */
import { checkpointSignatureChecker } from '../crypto/checkpoint-sig.js';
import type { CheckpointData, CheckpointSignatureChecker } from '../crypto/checkpoint-sig.js';
import { isSteleError, steleError } from '../errors.js';
import { toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
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
  /** Checkpoints carrying a signature that verified or whose key is unknown (an invalid one stops the replay). */
  signed: number;
  /** Signatures verified under a known key: the data directory's keyring, a pinned key, or the writer's own. */
  signaturesVerified: number;
  /**
   * Distinct keyIds of signatures no known key has (`signed − signaturesVerified` of them),
   * at most `limits.keyIdsListedMax` listed. Not a fault: whoever checks may hold the key.
   */
  unknownKeyIds: string[];
  /**
   * Only with pinned keys (`--pubkey`): checkpoints whose signature verified under a pinned
   * key, and those signed by any other key (reported as a warning) with their distinct
   * keyIds (at most `limits.keyIdsListedMax` listed). Null when no key is pinned.
   */
  pinned: { verified: number; otherSigned: number; otherKeyIds: string[] } | null;
}

/** How checkpoint signatures are checked: built by `./signatures.ts` from the keyring and the caller's keys. */
export interface SignaturePolicy {
  check: CheckpointSignatureChecker;
  /** keyIds the caller pinned; undefined when none is. */
  pinned: ReadonlySet<string> | undefined;
}

/** No keys: a signed checkpoint is counted as signed by an unknown key; a malformed one is still a fault. */
export const noKeysPolicy: SignaturePolicy = { check: checkpointSignatureChecker(() => false, sha256, []), pinned: undefined };

export class ReplaySink {
  readonly checkpoints: CheckpointSummary;
  /** Events reduced (after the snapshot). */
  reduced = 0;
  readonly #file: string;
  readonly #signatures: SignaturePolicy;

  constructor(
    readonly machine: StateMachine,
    /** The verifier's tree frontier: after line `seq` it holds `seq + 1` leaves. */
    private readonly frontier: LogTreeFrontier,
    private readonly base: SnapshotBase | undefined,
    file = 'events.ndjson',
    signatures: SignaturePolicy = noKeysPolicy,
  ) {
    this.#file = file;
    this.#signatures = signatures;
    this.checkpoints = {
      logRootsChecked: 0,
      stateRootsChecked: 0,
      last: undefined,
      signed: 0,
      signaturesVerified: 0,
      unknownKeyIds: [],
      pinned: signatures.pinned === undefined ? null : { verified: 0, otherSigned: 0, otherKeyIds: [] },
    };
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
    const data = event.data as unknown as CheckpointData;
    // The signature first: when it fails, the checkpoint line itself was altered, which says
    // more than the root comparisons below would (those then mean the events were).
    this.#signature(data, where);
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

  #signature(data: CheckpointData, where: { file: string; line: number; seq: number }): void {
    const check = this.#signatures.check(data);
    if (check.status === 'unsigned') return;
    if (check.status === 'invalid') {
      throw steleError('STELE_E_SIGNATURE_INVALID', `the checkpoint at seq ${where.seq} carries an invalid signature: ${check.reason}`, {
        where: { ...where, path: 'data.sig' },
        ...(check.keyId === undefined ? {} : { detail: { keyId: check.keyId } }),
        fix: 'the checkpoint line was altered after it was signed, or written by a faulty writer: restore the log from a backup and compare this line. Check the key with stele verify --pubkey <the signer\'s public key>',
      });
    }
    const c = this.checkpoints;
    c.signed++;
    if (check.status === 'valid') c.signaturesVerified++;
    else listKeyId(c.unknownKeyIds, check.keyId);
    if (c.pinned !== null) {
      if (check.status === 'valid' && this.#signatures.pinned?.has(check.keyId) === true) c.pinned.verified++;
      else {
        c.pinned.otherSigned++;
        listKeyId(c.pinned.otherKeyIds, check.keyId);
      }
    }
  }

  /** After the scan: the log must reach the snapshot it started from. */
  finish(logSize: number): void {
    const base = this.base;
    if (base !== undefined && logSize < base.header.size) {
      throw snapshotFault(base.file, `it covers ${base.header.size} events but the log has only ${logSize}: the log lost events, or the snapshot belongs to another log`);
    }
  }
}

/** Adds a keyId to a bounded list of distinct ones. */
function listKeyId(list: string[], keyId: string): void {
  if (list.length < limits.keyIdsListedMax && !list.includes(keyId)) list.push(keyId);
}
