/**
 * What the read API reads from: the writer service (`WriterSource`, riding on the engine)
 * and the observer (`ObserverSource`, following the files read-only) both provide it, so
 * one set of routes serves both and they cannot drift apart.
 */
import type { SteleError } from '../errors.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import type { StateMachine } from '../runtime/machine.js';
import type { VaultStore } from '../store/vault-store.js';
import type { LogViews } from '../views/live.js';
import type { StreamHub } from './stream.js';

export type Role = 'writer' | 'observer';

export interface Integrity {
  /** ok: everything verified; panic: the log is damaged (writes refused); alarm: an observer saw the log change under it. */
  status: 'ok' | 'panic' | 'alarm';
  fault?: ReturnType<SteleError['toJSON']>;
}

export interface StatusView {
  role: Role;
  size: number;
  logRoot: string;
  stateRoot: string;
  headHash: string;
  lastTs: string;
  entries: number;
  integrity: Integrity;
  /** How far the served views are behind the log file (observer; 0 for the writer). */
  lag: { bytes: number; pendingBytes: number };
  indexed: { size: number };
  checkpoints: { last: { seq: number } | null; every: number | null };
  /** The writer's signing key (issue #5), when it signs its checkpoints. */
  signing?: { keyId: string };
}

export interface ReadSource {
  readonly role: Role;
  readonly dataDir: string;
  readonly views: LogViews;
  readonly hub: StreamHub;
  readonly vault: VaultStore;
  status(): StatusView;
  /** The state machine the views were reduced into (read only!). */
  machine(): StateMachine;
  /** Lines `fromSeq` … `toSeq - 1` of the log, without `\n`. */
  lines(fromSeq: number, toSeq: number): Buffer[];
  proveInclusion(seq: number, size: number): InclusionProof;
  proveConsistency(size1: number, size2: number): ConsistencyProof;
  close(): Promise<void>;
  /** Throws (503) when the data routes must not answer (an observer's integrity alarm). */
  checkServable?(): void;
}

/** The API form of an event: its line's fields plus the derived `hash` (DESIGN.md §2). */
export function eventJson(line: string, hash: string): string {
  // The line is a canonical JSON object: splice the hash in before its closing brace
  // instead of parsing and re-serialising (the stream and the events page send many).
  return `${line.slice(0, -1)},"hash":"${hash}"}`;
}
