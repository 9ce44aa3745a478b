/**
 * Error factories shared by modules: an event that breaks a module's invariants (possible
 * only in a hand-made or damaged log), and a malformed snapshot part.
 */
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import type { DomainEvent } from './module.js';

/** An event the module cannot apply without breaking its invariants. */
export function invariantBroken(event: Pick<DomainEvent, 'seq' | 'type'>, message: string): SteleError {
  return steleError('STELE_E_INVARIANT', `${event.type} at seq ${event.seq}: ${message}`, {
    where: { seq: event.seq, line: event.seq + 1 },
    fix: 'the log holds an event its module could never have decided: it was written by hand or by a faulty writer. Inspect it with stele log --from SEQ; restore from a backup',
  });
}

/** A module's part of a snapshot is malformed. */
export function snapshotInvalid(module: string, message: string): SteleError {
  return steleError('STELE_E_SNAPSHOT_INVALID', `snapshot part of module ${module}: ${message}`, {
    fix: 'delete the snapshot file (snapshots are only speed-ups) or start with --no-snapshot',
  });
}
