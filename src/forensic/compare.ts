/**
 * The comparisons of a forensic audit, recorded vs derived, each turning differences into
 * findings (finding.ts): a checkpoint against the replayed roots and invariants
 * (DESIGN.md §4), a snapshot against the state derived at its size (DESIGN.md §5), the
 * vault's files against the derived `bundle:` records (DESIGN.md §7), and the faults that
 * end a replay.
 *
 * Pure: the caller reads the files and replays the log; these functions only compare.
 */
import type { JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import type { SteleError } from '../errors.js';
import type { ModulePart } from '../runtime/machine.js';
import type { ParsedSnapshot } from '../snapshot/format.js';
import type { Finding } from './finding.js';
import { cut, firstDifference, showValue } from './finding.js';

/** The log file as findings name it. */
export const logFileLabel = 'events.ndjson';

/** Differing keys named in a snapshot-entries finding besides the first (the rest are counted). */
export const differingKeysListedMax = 16;

/** Where the event `seq` is: its log line. */
export function logWhere(seq: number): Finding['where'] {
  return { file: logFileLabel, line: seq + 1, seq };
}

/** A `stele.checkpoint` payload (DESIGN.md §4); `sig`/`keyId` are not compared here. */
export interface CheckpointData {
  size: number;
  logRoot: string;
  stateRoot: string;
}

/**
 * Compares the checkpoint at `seq` with the log root over the events before it and, when
 * the state after exactly `seq` events was derived, with its state root and the module
 * invariants there (`invariant`: the first broken one, as StateMachine.checkInvariants says).
 */
export function compareCheckpoint(seq: number, data: CheckpointData, derived: { logRoot: string | undefined; stateRoot: string | undefined; invariant: string | undefined }): Finding[] {
  const out: Finding[] = [];
  const where = logWhere(seq);
  const at = (field: string, recorded: string, value: string, message: string): Finding => ({ kind: 'checkpoint', severity: 'divergence', message, size: seq, where: { ...where, path: field }, field, recorded, derived: value });
  if (data.size !== seq) out.push(at('data.size', String(data.size), String(seq), `the checkpoint at seq ${seq} states size ${data.size}; a checkpoint covers the ${seq} events before it`));
  if (derived.logRoot !== undefined && derived.logRoot !== data.logRoot) {
    out.push(at('data.logRoot', data.logRoot, derived.logRoot, `the checkpoint at seq ${seq} states a log root that differs from the log's: events before it were changed after it was written`));
  }
  if (derived.stateRoot !== undefined && derived.stateRoot !== data.stateRoot) {
    out.push(at('data.stateRoot', data.stateRoot, derived.stateRoot, `the state derived from the first ${seq} events differs from the state root the checkpoint at seq ${seq} committed to`));
  }
  if (derived.invariant !== undefined) {
    const colon = derived.invariant.indexOf(':');
    out.push({
      kind: 'invariant',
      severity: 'divergence',
      message: `an invariant is broken in the state derived at the checkpoint at seq ${seq}: ${derived.invariant}`,
      size: seq,
      where,
      ...(colon > 0 ? { field: derived.invariant.slice(0, colon) } : {}),
    });
  }
  return out;
}

/** The log as it stands at a snapshot's size: the hash and ts of event size−1, the log root over the first size events. */
export interface LogAt {
  size: number;
  headHash: string;
  headTs: string;
  logRoot: string;
}

/** The state derived at a snapshot's size, in the shapes a snapshot holds. */
export interface DerivedState {
  stateRoot: string;
  modules: [string, number][];
  parts: readonly ModulePart[];
  /** Sorted by key (StateStore.entries order, the snapshot's order). */
  entries: readonly (readonly [string, JsonValue])[];
}

/**
 * Compares a parsed (self-consistent) snapshot with the log at its size and, when the state
 * was derived that far (`derived`), with that state: header fields, module versions (other
 * versions: a warning, and the contents are not compared, as other code wrote them), the
 * entries (the first differing key with both values, and how many keys differ; the header's
 * state root only when the entries agree) and every module's private state (the path of
 * the first difference).
 */
export function compareSnapshot(label: string, parsed: ParsedSnapshot, log: LogAt, derived: DerivedState | undefined): Finding[] {
  const out: Finding[] = [];
  const header = parsed.header;
  const size = log.size;
  const seq = size > 0 ? { seq: size - 1 } : {};
  const headerAt = (field: keyof typeof header, recorded: string, value: string, message: string): Finding => ({
    kind: 'snapshot',
    severity: 'divergence',
    message: `snapshot ${label}: ${message}`,
    size,
    where: { file: label, line: 1, ...seq },
    field: `header.${field}`,
    recorded,
    derived: value,
  });
  if (header.headHash !== log.headHash) out.push(headerAt('headHash', header.headHash, log.headHash, `its head hash differs from the hash of the log's event ${size - 1}`));
  if (header.headTs !== log.headTs) out.push(headerAt('headTs', header.headTs, log.headTs, `its head ts differs from the ts of the log's event ${size - 1}`));
  if (header.logRoot !== log.logRoot) out.push(headerAt('logRoot', header.logRoot, log.logRoot, `its log root differs from the log's at size ${size}`));
  if (derived === undefined) return out;
  const recordedModules = canonicalize(header.modules);
  const derivedModules = canonicalize(derived.modules);
  if (recordedModules !== derivedModules) {
    out.push({ ...headerAt('modules', recordedModules, derivedModules, 'it was made by other module versions: its state is not compared (other code derived it)'), severity: 'warning' });
    return out;
  }
  // The entries first: a differing entry names the key, and explains a differing state root
  // (a header recomputed over altered entries), which is then not reported on its own.
  const entries = compareEntries(parsed.entries, derived.entries);
  if (entries !== undefined) {
    const { index, key, recorded, derivedValue, differing, keys } = entries;
    const inner = recorded !== undefined && derivedValue !== undefined ? firstDifference(recorded, derivedValue) : undefined;
    out.push({
      kind: 'snapshot',
      severity: 'divergence',
      message: `snapshot ${label}: entry ${key} ${recorded === undefined ? 'is absent from the snapshot but present in' : derivedValue === undefined ? 'is in the snapshot but absent from' : 'differs from'} the state derived from the first ${size} events${differing > 1 ? ` (${differing} keys differ)` : ''}`,
      size,
      where: { file: label, line: 2 + parsed.parts.length + index, ...seq },
      key,
      ...(inner === undefined || inner.path === '' ? {} : { field: inner.path }),
      recorded: showValue(recorded),
      derived: showValue(derivedValue),
      detail: { keysDiffering: differing, keys, headerStateRoot: header.stateRoot, derivedStateRoot: derived.stateRoot },
    });
  } else if (header.stateRoot !== derived.stateRoot) {
    out.push(headerAt('stateRoot', header.stateRoot, derived.stateRoot, `its entries equal the derived state, but its header states another state root`));
  }
  parsed.parts.forEach((part, i) => {
    const mine = derived.parts.find((p) => p.module === part.module);
    const d = firstDifference(part.state, mine?.state);
    if (d === undefined) return;
    const field = d.path === '' ? `parts.${part.module}` : `parts.${part.module}.${d.path}`;
    out.push({
      kind: 'snapshot',
      severity: 'divergence',
      message: `snapshot ${label}: the ${part.module} module's state differs from the one derived from the first ${size} events, first at ${field}`,
      size,
      where: { file: label, line: 2 + i, ...seq },
      field,
      recorded: showValue(d.recorded),
      derived: showValue(d.derived),
    });
  });
  return out;
}

interface EntriesDifference {
  /** Index in the snapshot's entries of the first differing key, or where it would be. */
  index: number;
  key: string;
  recorded: JsonValue | undefined;
  derivedValue: JsonValue | undefined;
  differing: number;
  /** The first `differingKeysListedMax` differing keys. */
  keys: string[];
}

/** Merge-walks two key-sorted entry lists; undefined when they are equal. */
function compareEntries(recorded: readonly (readonly [string, JsonValue])[], derived: readonly (readonly [string, JsonValue])[]): EntriesDifference | undefined {
  let i = 0;
  let j = 0;
  let first: EntriesDifference | undefined;
  const note = (index: number, key: string, r: JsonValue | undefined, d: JsonValue | undefined): void => {
    if (first === undefined) first = { index, key, recorded: r, derivedValue: d, differing: 0, keys: [] };
    first.differing++;
    if (first.keys.length < differingKeysListedMax) first.keys.push(key);
  };
  while (i < recorded.length || j < derived.length) {
    const r = recorded[i];
    const d = derived[j];
    if (r !== undefined && (d === undefined || r[0] < d[0])) {
      note(i, r[0], r[1], undefined);
      i++;
    } else if (d !== undefined && (r === undefined || d[0] < r[0])) {
      note(i, d[0], undefined, d[1]);
      j++;
    } else if (r !== undefined && d !== undefined) {
      if (canonicalize(r[1]) !== canonicalize(d[1])) note(i, r[0], r[1], d[1]);
      i++;
      j++;
    }
  }
  return first;
}

/** A snapshot file that cannot be read or does not verify on its own (trailer, header, lines, own state root). */
export function snapshotUnusable(label: string, size: number, err: SteleError): Finding {
  return {
    kind: 'snapshot',
    severity: 'divergence',
    message: err.message,
    size,
    where: { ...err.where, file: label, ...(size > 0 ? { seq: size - 1 } : {}) },
    code: err.code,
    ...(err.found === undefined ? {} : { recorded: cut(err.found) }),
    ...(err.expected === undefined ? {} : { derived: cut(err.expected) }),
  };
}

/** A fault that ends the replay (chain, canonical form, schema, seq, ts): the log itself is damaged at `where`. */
export function chainFinding(fault: SteleError, size: number): Finding {
  return {
    kind: 'chain',
    severity: 'divergence',
    message: `${fault.message}: the replay ends here`,
    size: fault.where.seq ?? size,
    where: fault.where,
    code: fault.code,
    ...(fault.found === undefined ? {} : { recorded: cut(fault.found) }),
    ...(fault.expected === undefined ? {} : { derived: cut(fault.expected) }),
  };
}

/** An event the modules cannot apply: the state is not derived past it (the chain is still verified to the end). */
export function applyFinding(seq: number, err: SteleError): Finding {
  return {
    kind: 'invariant',
    severity: 'divergence',
    message: `event ${seq} cannot be applied (${err.message}): the state is not derived past it`,
    size: seq,
    where: logWhere(seq),
    code: err.code,
  };
}

/** A vault file as the audit read it: its size and SHA-256 (undefined when too large to be a bundle, so not hashed). */
export interface BundleFile {
  /** Relative to the data directory, e.g. `vault/ab/ab12…`. */
  file: string;
  size: number;
  sha256: string | undefined;
}

/** A `bundle:<sha256>` record of the derived state (vault module, DESIGN.md §7). */
export interface BundleRecord {
  sha256: string;
  size: number;
  seq: number;
}

/**
 * Compares a derived bundle record with its vault file (undefined: missing): the file must
 * exist, hash to its name and have the recorded size.
 */
export function compareBundle(record: BundleRecord, file: BundleFile | undefined, label: string): Finding[] {
  const key = `bundle:${record.sha256}`;
  const base = { kind: 'bundle' as const, severity: 'divergence' as const, size: record.seq + 1, key, where: { file: label, seq: record.seq } };
  if (file === undefined) {
    return [{ ...base, message: `bundle ${record.sha256}, recorded at seq ${record.seq}, has no file in the vault`, field: 'file', recorded: '(absent)', derived: `${record.size} bytes` }];
  }
  const out: Finding[] = [];
  if (file.sha256 !== record.sha256) {
    out.push({
      ...base,
      message: `bundle ${record.sha256}, recorded at seq ${record.seq}: its file's bytes ${file.sha256 === undefined ? `are ${file.size} bytes, more than any bundle (not hashed)` : `hash to ${file.sha256}`}`,
      field: 'sha256',
      recorded: file.sha256 ?? `(${file.size} bytes, not hashed)`,
      derived: record.sha256,
    });
  }
  if (file.size !== record.size) {
    out.push({ ...base, message: `bundle ${record.sha256}, recorded at seq ${record.seq} with ${record.size} bytes: its file has ${file.size}`, field: 'size', recorded: String(file.size), derived: String(record.size) });
  }
  return out;
}

/** A file in the vault that no derived record names (or that is not a bundle file at all). */
export function strayVaultFile(file: string, sha256: string | undefined, why: string): Finding {
  return {
    kind: 'bundle',
    severity: 'warning',
    message: `${file}: ${why}`,
    where: { file },
    ...(sha256 === undefined ? {} : { key: `bundle:${sha256}` }),
  };
}
