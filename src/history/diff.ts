/**
 * `stele diff A B` (issue #5): every state key added, changed or removed between two
 * positions of the log, with its value before and after. One derivation: the state at the
 * earlier position is derived (src/history/at.ts), its entries kept, then the same
 * derivation moves on to the later position; the two sorted entry lists are merged.
 * Values are immutable once written (reducers return new values), so keeping the earlier
 * entries costs one array of references, not a copy of the state.
 */
import type { JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import type { AtSpec, StateAtOptions } from './at.js';
import { Derivation, resolveAt } from './at.js';

export type StateChange =
  | { change: 'added'; key: string; after: JsonValue }
  | { change: 'removed'; key: string; before: JsonValue }
  | { change: 'changed'; key: string; before: JsonValue; after: JsonValue };

export interface DiffEnd {
  size: number;
  seq: number | null;
  logRoot: string;
  stateRoot: string;
}

export interface StateDiff {
  from: DiffEnd;
  to: DiffEnd;
  counts: { added: number; changed: number; removed: number };
  /** Sorted by key. */
  changes: StateChange[];
}

/** The changes from the state at `a` to the state at `b` (b may be before a: the changes are then reversed). */
export function diffStates(dir: string, a: AtSpec, b: AtSpec, options: StateAtOptions & { prefix?: string } = {}): StateDiff {
  const sizeA = resolveAt(dir, a);
  const sizeB = resolveAt(dir, b);
  const lo = Math.min(sizeA, sizeB);
  const hi = Math.max(sizeA, sizeB);
  const derivation = Derivation.open(dir, lo, options);
  derivation.advance(lo);
  const atLo = derivation.result();
  const endLo: DiffEnd = { size: atLo.size, seq: atLo.seq, logRoot: atLo.logRoot, stateRoot: atLo.stateRoot };
  const before = filter(derivation.machine.entries.entries(), options.prefix);
  derivation.advance(hi);
  const atHi = derivation.result();
  const endHi: DiffEnd = { size: atHi.size, seq: atHi.seq, logRoot: atHi.logRoot, stateRoot: atHi.stateRoot };
  const after = filter(derivation.machine.entries.entries(), options.prefix);
  const forward = sizeA <= sizeB;
  const changes = forward ? mergeChanges(before, after) : mergeChanges(after, before);
  const counts = { added: 0, changed: 0, removed: 0 };
  for (const c of changes) counts[c.change]++;
  return { from: forward ? endLo : endHi, to: forward ? endHi : endLo, counts, changes };
}

function filter(entries: [string, JsonValue][], prefix: string | undefined): [string, JsonValue][] {
  return prefix === undefined ? entries : entries.filter(([k]) => k.startsWith(prefix));
}

/** Merges two key-sorted entry lists into the changes from `x` to `y`. Pure. */
export function mergeChanges(x: readonly [string, JsonValue][], y: readonly [string, JsonValue][]): StateChange[] {
  const out: StateChange[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    const kx = i < x.length ? x[i]![0] : undefined;
    const ky = j < y.length ? y[j]![0] : undefined;
    if (ky === undefined || (kx !== undefined && kx < ky)) {
      out.push({ change: 'removed', key: kx!, before: x[i]![1] });
      i++;
    } else if (kx === undefined || ky < kx) {
      out.push({ change: 'added', key: ky, after: y[j]![1] });
      j++;
    } else {
      const vx = x[i]![1];
      const vy = y[j]![1];
      if (vx !== vy && canonicalize(vx) !== canonicalize(vy)) out.push({ change: 'changed', key: kx, before: vx, after: vy });
      i++;
      j++;
    }
  }
  return out;
}
