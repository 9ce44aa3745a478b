/**
 * Where a monitor looks: a stele service over HTTP (`--url`, src/monitor/http-source.ts) or a
 * data directory read-only (`--data`, src/monitor/data-source.ts). A source answers with its
 * newest checkpoint and head and computes proofs; it is trusted for nothing: the checkpoint
 * line is parsed and hashed by the monitor, and every proof is checked by
 * src/monitor/verdict.ts against roots the monitor holds.
 *
 * A source reports a failure to answer as a SteleError: kind `unavailable` (unreachable,
 * refused, timed out), or kind `integrity` when what it read is damaged.
 */
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import type { Latest, Proofs, Remembered } from './verdict.js';
import { proofsNeeded } from './verdict.js';

export interface MonitorSource {
  /** `url` or `data`, and the URL or absolute directory (recorded in the state file). */
  readonly kind: 'url' | 'data';
  readonly location: string;
  /** How proofs were computed, when it matters for an alarm (a data directory's tree file, or the log itself). */
  readonly proofsFrom?: 'tree-file' | 'log';
  latest(): Promise<Latest>;
  /** RFC 9162 consistency proof between the log of size1 and of size2. */
  consistency(size1: number, size2: number): Promise<ConsistencyProof>;
  /** RFC 9162 inclusion proof of event `seq` in the log of `size`. */
  inclusion(seq: number, size: number): Promise<InclusionProof>;
}

/** One look: the newest checkpoint and head, then the proofs the decision needs for them. */
export async function observe(source: MonitorSource, remembered: Remembered | undefined): Promise<{ latest: Latest; proofs: Proofs }> {
  const latest = await source.latest();
  const needed = proofsNeeded(remembered, latest);
  const proofs: Proofs = {};
  if (needed.since !== undefined) proofs.since = await source.consistency(needed.since.size1, needed.since.size2);
  if (needed.checkpoint !== undefined) proofs.checkpoint = await source.consistency(needed.checkpoint.size1, needed.checkpoint.size2);
  if (needed.inclusion !== undefined) proofs.inclusion = await source.inclusion(needed.inclusion.seq, needed.inclusion.size);
  return { latest, proofs };
}
