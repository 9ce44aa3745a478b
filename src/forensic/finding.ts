/**
 * Findings of a forensic audit: one recorded-vs-derived difference each (a checkpoint, a
 * snapshot, a bundle, the chain or an invariant), and the bounded, position-ordered list
 * the report is built from.
 *
 * Invariants:
 * - A finding's position is `size`: the number of events derived when the comparison was
 *   made (a checkpoint at seq s compares the state after s events, a snapshot of size N the
 *   state after N events, a bundle recorded at seq r appears after r + 1 events). Findings
 *   without a log position (an orphan vault file) sort last.
 * - The list keeps the `limits.forensicFindingsMax` earliest findings (ties in discovery
 *   order) and counts the rest; the first divergence is tracked apart, so it is exact even
 *   when it was discovered after the list filled up (bundles are checked last).
 * - Values are shown as canonical JSON cut at `limits.forensicValueCharsMax` characters.
 *
 * Pure: no I/O.
 */
import type { JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import type { ErrorCode, ErrorWhere } from '../errors.js';
import { limits } from '../limits.js';

export const findingKinds = ['checkpoint', 'snapshot', 'bundle', 'chain', 'invariant'] as const;
/** What diverged: a checkpoint, a snapshot, a vault bundle, the log itself (chain, canonical form, schema) or a module invariant. */
export type FindingKind = (typeof findingKinds)[number];

/** A divergence fails the audit; a warning (an orphan vault file, a snapshot of other module versions) is reported only. */
export type FindingSeverity = 'divergence' | 'warning';

export interface Finding {
  kind: FindingKind;
  severity: FindingSeverity;
  message: string;
  /** Events derived when the comparison was made; absent when the finding has no log position. */
  size?: number;
  /** The file and line of the recorded value (the log, a snapshot, a vault file) and the log seq. */
  where: ErrorWhere;
  /** The state key, when one is concerned (`account:alice`, `bundle:<sha256>`). */
  key?: string;
  /** The field compared: `data.stateRoot` (checkpoint), `header.logRoot` (snapshot), the path of the first difference inside a value. */
  field?: string;
  /** What the file says (canonical JSON or a hash). */
  recorded?: string;
  /** What re-deriving from the log gives. */
  derived?: string;
  /** The underlying error code (a chain fault, an unreadable snapshot). */
  code?: ErrorCode;
  detail?: Record<string, JsonValue>;
}

/** Shows a value for a finding: canonical JSON, cut at `limits.forensicValueCharsMax`; `(absent)` for none. */
export function showValue(value: JsonValue | undefined): string {
  if (value === undefined) return '(absent)';
  return cut(canonicalize(value));
}

/** Cuts a text at `limits.forensicValueCharsMax` characters, saying how long it was. */
export function cut(text: string): string {
  const max = limits.forensicValueCharsMax;
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** The first place two JSON values differ: its path (`balance`, `transfers[2].amount`, '' for the whole value) and both sides there. */
export interface JsonDifference {
  path: string;
  recorded: JsonValue | undefined;
  derived: JsonValue | undefined;
}

/**
 * The first difference between two JSON values, depth first, object keys in sorted order;
 * undefined when they are equal. Pure and iterative over a value's depth, which the
 * canonical parser bounds by `limits.jsonDepthMax`.
 */
export function firstDifference(recorded: JsonValue | undefined, derived: JsonValue | undefined, path = ''): JsonDifference | undefined {
  if (recorded === derived) return undefined;
  if (isObject(recorded) && isObject(derived)) {
    const keys = [...new Set([...Object.keys(recorded), ...Object.keys(derived)])].sort();
    for (const k of keys) {
      const d = firstDifference(recorded[k], derived[k], path === '' ? k : `${path}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (Array.isArray(recorded) && Array.isArray(derived)) {
    const n = Math.max(recorded.length, derived.length);
    for (let i = 0; i < n; i++) {
      const d = firstDifference(recorded[i], derived[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return { path, recorded, derived };
}

function isObject(v: JsonValue | undefined): v is { [k: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Kept {
  finding: Finding;
  order: number;
}

/** Position order: by `size` (none last), then discovery order. */
function before(a: Kept, b: Kept): number {
  const sa = a.finding.size ?? Number.POSITIVE_INFINITY;
  const sb = b.finding.size ?? Number.POSITIVE_INFINITY;
  return sa !== sb ? sa - sb : a.order - b.order;
}

/** The findings of one audit, bounded (see the file header). */
export class FindingList {
  readonly #max: number;
  #kept: Kept[] = [];
  #order = 0;
  #first: Kept | undefined;
  divergences = 0;
  warnings = 0;

  constructor(max: number = limits.forensicFindingsMax) {
    this.#max = max;
  }

  get total(): number {
    return this.divergences + this.warnings;
  }

  add(finding: Finding): void {
    const kept: Kept = { finding, order: this.#order++ };
    if (finding.severity === 'divergence') {
      this.divergences++;
      if (this.#first === undefined || before(kept, this.#first) < 0) this.#first = kept;
    } else {
      this.warnings++;
    }
    this.#kept.push(kept);
    // Amortised: trim only when twice the limit is held.
    if (this.#kept.length >= 2 * this.#max) this.#trim();
  }

  /** The earliest divergence, or undefined when nothing diverged. */
  get first(): Finding | undefined {
    return this.#first?.finding;
  }

  /** The kept findings in position order, and how many were left out. */
  list(): { findings: Finding[]; omitted: number } {
    this.#trim();
    return { findings: this.#kept.map((k) => k.finding), omitted: this.total - this.#kept.length };
  }

  #trim(): void {
    this.#kept.sort(before);
    if (this.#kept.length > this.#max) this.#kept.length = this.#max;
  }
}
