/**
 * The audit module's private state: the dashboard statistics, derived from the audit events
 * only, deterministic (no clock, no Math.log: see histogram.ts) and bounded in memory.
 *
 * Bounds: every map keyed by a caller's name (attack types, layers, metrics, rejection
 * reasons) tracks at most `limits.auditDistinctNamesMax` distinct names; once full, samples
 * of further names are counted under the name `other`. `other` is that overflow bucket in
 * every such map: a caller's own name `other` shares it, and it never uses up a slot. Each
 * histogram holds at most 4,096 buckets (histogram.ts). Which names get a slot depends on the
 * order of first appearance, which the log fixes.
 *
 * The `stats` view (what the dashboard shows), all counts integers:
 *
 *   {
 *     executions: {
 *       total,
 *       byStatus: {succeeded, failed, blocked, timeout},
 *       successRate,          // byStatus.succeeded / total (blocked and timeout are not
 *                             // successes); 0 when total is 0; a double in 0…1
 *       elapsedMs: Summary,   // of the executions' elapsedMs
 *     },
 *     attacks: {
 *       total,
 *       byType:  [{name, count}],   // count descending, then name ascending (UTF-16 order)
 *       byLayer: [{name, count}],
 *       severity: Summary,          // of the severities, 0…1
 *     },
 *     telemetry: {
 *       samples,                    // all telemetry samples
 *       metrics: [{metric, count, min, max, mean, p50, p90, p99}],   // by metric name
 *     },
 *     rejections: {total, byReason: [{name, count}]},
 *   }
 *   Summary = {count, min, max, mean, p50, p90, p99}: all but count null when count is 0;
 *   mean is sum/count with the sum taken in log order (null if it overflowed); percentiles
 *   are nearest-rank estimates within 0.78 % of the exact sample (histogram.ts).
 *
 * The snapshot form (`encodeAuditState`) is a JSON object of integers, doubles and sorted
 * lists, a function of the content only; `decodeAuditState` is strict and exact, so a state
 * decoded from a snapshot gives the same views and the same future evolution.
 */
import type { JsonObject, JsonValue } from '../../canonical/json.js';
import { limits } from '../../limits.js';
import type { Evolution } from '../module.js';
import { Histogram, HistogramFormatError } from './histogram.js';
import type { Summary } from './histogram.js';
import { executionStatuses } from './schemas.js';
import type { ExecutionStatus } from './schemas.js';

/** The overflow name of every capped map. */
export const otherName = 'other';

/** The map key a name is counted under: itself while there is room (or it is known), else `other`. */
export function cappedName(map: Map<string, unknown>, name: string): string {
  if (name === otherName || map.has(name)) return name;
  const used = map.size - (map.has(otherName) ? 1 : 0);
  return used < limits.auditDistinctNamesMax ? name : otherName;
}

function countName(map: Map<string, number>, name: string): void {
  const key = cappedName(map, name);
  map.set(key, (map.get(key) ?? 0) + 1);
}

const statusIndex: Readonly<Record<ExecutionStatus, number>> = { succeeded: 0, failed: 1, blocked: 2, timeout: 3 };

const noWrites: readonly never[] = Object.freeze([]);

export class AuditState {
  executionsTotal = 0;
  /** Counts by status, in the order of `executionStatuses`. */
  readonly executionsByStatus = [0, 0, 0, 0];
  executionElapsedMs = new Histogram();
  attacksTotal = 0;
  readonly attacksByType = new Map<string, number>();
  readonly attacksByLayer = new Map<string, number>();
  attackSeverity = new Histogram();
  telemetrySamples = 0;
  readonly telemetry = new Map<string, Histogram>();
  rejectionsTotal = 0;
  readonly rejectionsByReason = new Map<string, number>();
  /**
   * The evolution of an event that writes no entry, made once: the replay hot path returns
   * it instead of allocating one per event (the state is updated in place).
   */
  readonly unchanged: Evolution<AuditState> = { state: this, writes: noWrites };

  recordExecution(status: ExecutionStatus, elapsedMs: number): void {
    this.executionsTotal++;
    const i = statusIndex[status];
    this.executionsByStatus[i] = (this.executionsByStatus[i] as number) + 1;
    this.executionElapsedMs.add(elapsedMs);
  }

  recordAttack(type: string, layer: string, severity: number): void {
    this.attacksTotal++;
    countName(this.attacksByType, type);
    countName(this.attacksByLayer, layer);
    this.attackSeverity.add(severity);
  }

  recordTelemetry(metric: string, value: number): void {
    this.telemetrySamples++;
    const key = cappedName(this.telemetry, metric);
    let histogram = this.telemetry.get(key);
    if (histogram === undefined) {
      histogram = new Histogram();
      this.telemetry.set(key, histogram);
    }
    histogram.add(value);
  }

  recordRejection(reason: string): void {
    this.rejectionsTotal++;
    countName(this.rejectionsByReason, reason);
  }
}

function byUtf16(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `[{name, count}]`, the most frequent first, ties by name. */
function countList(map: Map<string, number>): JsonObject[] {
  return [...map]
    .sort(([an, ac], [bn, bc]) => bc - ac || byUtf16(an, bn))
    .map(([name, count]) => ({ name, count }));
}

/** The `stats` view; its shape is in the file header. */
export function statsView(state: AuditState): JsonObject {
  const byStatus: JsonObject = {};
  executionStatuses.forEach((status, i) => (byStatus[status] = state.executionsByStatus[i] as number));
  const succeeded = state.executionsByStatus[0] as number;
  const metrics: JsonObject[] = [...state.telemetry]
    .sort(([a], [b]) => byUtf16(a, b))
    .map(([metric, histogram]): JsonObject => ({ metric, ...histogram.summary() }));
  return {
    executions: {
      total: state.executionsTotal,
      byStatus,
      successRate: state.executionsTotal === 0 ? 0 : succeeded / state.executionsTotal,
      elapsedMs: state.executionElapsedMs.summary() satisfies Summary,
    },
    attacks: {
      total: state.attacksTotal,
      byType: countList(state.attacksByType),
      byLayer: countList(state.attacksByLayer),
      severity: state.attackSeverity.summary(),
    },
    telemetry: { samples: state.telemetrySamples, metrics },
    rejections: { total: state.rejectionsTotal, byReason: countList(state.rejectionsByReason) },
  };
}

// ---------------------------------------------------------------------------------------
// Snapshot codec

/** Thrown by `decodeAuditState`; the module turns it into STELE_E_SNAPSHOT_INVALID. */
export class AuditStateFormatError extends Error {}

function sortedCounts(map: Map<string, number>): JsonValue[] {
  return [...map].sort(([a], [b]) => byUtf16(a, b)).map(([name, count]) => [name, count]);
}

/**
 * The state as JSON:
 * `{executions: {byStatus: [4 counts], elapsedMs: H}, attacks: {byType, byLayer, severity: H},
 *   telemetry: [[metric, H]…], rejections: {byReason}}`, every name list `[[name, count]…]`
 * sorted by name (UTF-16 order), H a histogram (histogram.ts). Totals are not stored: they are
 * the sums of the parts, recomputed on decode.
 */
export function encodeAuditState(state: AuditState): JsonObject {
  return {
    executions: { byStatus: [...state.executionsByStatus], elapsedMs: state.executionElapsedMs.encode() },
    attacks: { byType: sortedCounts(state.attacksByType), byLayer: sortedCounts(state.attacksByLayer), severity: state.attackSeverity.encode() },
    telemetry: [...state.telemetry].sort(([a], [b]) => byUtf16(a, b)).map(([metric, h]) => [metric, h.encode()]),
    rejections: { byReason: sortedCounts(state.rejectionsByReason) },
  };
}

function objectWithKeys(json: JsonValue | undefined, keys: string, what: string): JsonObject {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new AuditStateFormatError(`${what} must be an object`);
  const found = Object.keys(json).sort().join(',');
  if (found !== keys) throw new AuditStateFormatError(`${what} must have exactly the keys ${keys}, found ${found}`);
  return json;
}

function arrayOf(json: JsonValue | undefined, what: string): JsonValue[] {
  if (!Array.isArray(json)) throw new AuditStateFormatError(`${what} must be an array`);
  return json;
}

function countOf(json: JsonValue | undefined, what: string): number {
  if (typeof json !== 'number' || !Number.isSafeInteger(json) || json < 0) throw new AuditStateFormatError(`${what} must be a non-negative integer`);
  return json;
}

/** A `[name, x]` list sorted strictly by name, at most the cap of names plus `other`. */
function namedEntries(json: JsonValue | undefined, what: string): [string, JsonValue][] {
  const out: [string, JsonValue][] = [];
  let previous: string | undefined;
  let named = 0;
  for (const entry of arrayOf(json, what)) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || entry[0] === '') throw new AuditStateFormatError(`${what}: an entry must be [name, value]`);
    const name = entry[0];
    if (previous !== undefined && byUtf16(previous, name) >= 0) throw new AuditStateFormatError(`${what}: names must be sorted and unique`);
    previous = name;
    if (name !== otherName && ++named > limits.auditDistinctNamesMax) throw new AuditStateFormatError(`${what}: more than ${limits.auditDistinctNamesMax} names`);
    out.push([name, entry[1] as JsonValue]);
  }
  return out;
}

function decodeCounts(json: JsonValue | undefined, what: string): { map: Map<string, number>; total: number } {
  const map = new Map<string, number>();
  let total = 0;
  for (const [name, value] of namedEntries(json, what)) {
    const n = countOf(value, `${what} ${name}`);
    if (n === 0) throw new AuditStateFormatError(`${what}: zero counts are never written`);
    map.set(name, n);
    total += n;
  }
  return { map, total };
}

function decodeHistogram(json: JsonValue | undefined, what: string): Histogram {
  try {
    return Histogram.decode(json);
  } catch (err) {
    if (err instanceof HistogramFormatError) throw new AuditStateFormatError(`${what}: ${err.message}`);
    throw err;
  }
}

function fill(target: Map<string, number>, source: Map<string, number>): void {
  for (const [k, v] of source) target.set(k, v);
}

/** The inverse of `encodeAuditState`; throws AuditStateFormatError on anything it would not write. */
export function decodeAuditState(json: JsonValue): AuditState {
  const root = objectWithKeys(json, 'attacks,executions,rejections,telemetry', 'the audit state');
  const state = new AuditState();

  const executions = objectWithKeys(root['executions'], 'byStatus,elapsedMs', 'executions');
  const byStatus = arrayOf(executions['byStatus'], 'executions.byStatus');
  if (byStatus.length !== executionStatuses.length) throw new AuditStateFormatError(`executions.byStatus must hold ${executionStatuses.length} counts`);
  byStatus.forEach((n, i) => (state.executionsByStatus[i] = countOf(n, `executions.byStatus[${i}]`)));
  state.executionsTotal = state.executionsByStatus.reduce((a, b) => a + b, 0);
  const elapsed = decodeHistogram(executions['elapsedMs'], 'executions.elapsedMs');
  if (elapsed.count !== state.executionsTotal) throw new AuditStateFormatError('executions.elapsedMs must count every execution');
  state.executionElapsedMs = elapsed;

  const attacks = objectWithKeys(root['attacks'], 'byLayer,byType,severity', 'attacks');
  const byType = decodeCounts(attacks['byType'], 'attacks.byType');
  const byLayer = decodeCounts(attacks['byLayer'], 'attacks.byLayer');
  const severity = decodeHistogram(attacks['severity'], 'attacks.severity');
  if (byType.total !== byLayer.total || byType.total !== severity.count) throw new AuditStateFormatError('attacks.byType, attacks.byLayer and attacks.severity must count the same attacks');
  if (severity.count > 0 && (severity.min < 0 || severity.max > 1)) throw new AuditStateFormatError('attack severities are in 0…1');
  state.attacksTotal = byType.total;
  fill(state.attacksByType, byType.map);
  fill(state.attacksByLayer, byLayer.map);
  state.attackSeverity = severity;

  for (const [metric, value] of namedEntries(root['telemetry'], 'telemetry')) {
    const histogram = decodeHistogram(value, `telemetry ${metric}`);
    if (histogram.count === 0) throw new AuditStateFormatError(`telemetry ${metric}: empty metrics are never written`);
    state.telemetry.set(metric, histogram);
    state.telemetrySamples += histogram.count;
  }

  const rejections = objectWithKeys(root['rejections'], 'byReason', 'rejections');
  const byReason = decodeCounts(rejections['byReason'], 'rejections.byReason');
  state.rejectionsTotal = byReason.total;
  fill(state.rejectionsByReason, byReason.map);
  return state;
}
