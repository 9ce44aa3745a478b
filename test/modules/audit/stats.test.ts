/**
 * The audit statistics: the `stats` view after a known sequence (expectations computed by
 * hand), the cap on distinct names, and the snapshot codec (a snapshot taken anywhere and
 * continued gives exactly the state of a straight run).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize, parseJson } from '../../../src/canonical/json.js';
import type { JsonObject } from '../../../src/canonical/json.js';
import { SteleError } from '../../../src/errors.js';
import { limits } from '../../../src/limits.js';
import { auditModule, rejectionEvent } from '../../../src/modules/audit/index.js';
import type { NewEvent } from '../../../src/modules/module.js';
import { Spec } from '../spec.js';

const seed = Number(process.env.STELE_SEED ?? 7);
const dataHash = 'd'.repeat(64);

const exec = (txId: string, status: string, elapsedMs: number): NewEvent => ({ type: 'audit.execution_recorded', data: { txId, intent: 'run', status, elapsedMs } });
const attack = (type: string, layer: string, severity: number): NewEvent => ({ type: 'audit.attack_blocked', data: { type, layer, severity } });
const sample = (metric: string, value: number): NewEvent => ({ type: 'audit.telemetry_sampled', data: { metric, value } });
const rejected = (reason: string): NewEvent => rejectionEvent('ledger.transfer', { reason, message: 'refused' }, dataHash);

describe('the stats view', () => {
  it('is empty at first', () => {
    expect(new Spec(auditModule).view('stats')).toEqual({
      executions: {
        total: 0,
        byStatus: { succeeded: 0, failed: 0, blocked: 0, timeout: 0 },
        successRate: 0,
        elapsedMs: { count: 0, min: null, max: null, mean: null, p50: null, p90: null, p99: null },
      },
      attacks: { total: 0, byType: [], byLayer: [], severity: { count: 0, min: null, max: null, mean: null, p50: null, p90: null, p99: null } },
      telemetry: { samples: 0, metrics: [] },
      rejections: { total: 0, byReason: [] },
    });
  });

  it('shows what a known sequence implies (hand-computed)', () => {
    const spec = new Spec(auditModule).given(
      exec('t1', 'succeeded', 10),
      exec('t2', 'succeeded', 20),
      exec('t3', 'failed', 30),
      exec('t4', 'succeeded', 40),
      exec('t5', 'blocked', 1000),
      attack('sqli', 'waf', 0.5),
      attack('xss', 'sandbox', 0.25),
      attack('sqli', 'waf', 1),
      sample('cpu', 1),
      sample('cpu', 2),
      sample('cpu', 3),
      sample('cpu', 4),
      sample('mem', -5),
      rejected('LEDGER_INSUFFICIENT_FUNDS'),
      rejected('AUDIT_TX_CONFLICT'),
      rejected('LEDGER_INSUFFICIENT_FUNDS'),
    );
    // Percentiles are nearest-rank: rank ceil(n·p/100); the estimate is the midpoint of the
    // sample's bucket, 2^E·(1 + (2k+1)/128) with k the top 6 mantissa bits, clamped to [min, max].
    expect(spec.view('stats')).toEqual({
      executions: {
        total: 5,
        byStatus: { succeeded: 3, failed: 1, blocked: 1, timeout: 0 },
        successRate: 0.6,
        // sum 1100 / 5 = 220. p50: rank 3 → 30 = 16·1.875, k = 56 → 16·(1 + 113/128) = 30.125.
        // p90, p99: rank 5 → 1000, bucket midpoint 1004 clamped to the maximum 1000.
        elapsedMs: { count: 5, min: 10, max: 1000, mean: 220, p50: 30.125, p90: 1000, p99: 1000 },
      },
      attacks: {
        total: 3,
        byType: [
          { name: 'sqli', count: 2 },
          { name: 'xss', count: 1 },
        ],
        byLayer: [
          { name: 'waf', count: 2 },
          { name: 'sandbox', count: 1 },
        ],
        // mean 1.75 / 3. p50: rank 2 → 0.5 = 2^-1·1.0, k = 0 → 0.5·(1 + 1/128). p90: rank 3 → 1.
        severity: { count: 3, min: 0.25, max: 1, mean: 1.75 / 3, p50: 0.50390625, p90: 1, p99: 1 },
      },
      telemetry: {
        samples: 5,
        metrics: [
          // p50: rank 2 → 2 = 2^1·1.0 → 2·(1 + 1/128) = 2.015625; p90: rank 4 → 4 (clamped midpoint).
          { metric: 'cpu', count: 4, min: 1, max: 4, mean: 2.5, p50: 2.015625, p90: 4, p99: 4 },
          // One sample: every estimate is clamped to it.
          { metric: 'mem', count: 1, min: -5, max: -5, mean: -5, p50: -5, p90: -5, p99: -5 },
        ],
      },
      rejections: {
        total: 3,
        byReason: [
          { name: 'LEDGER_INSUFFICIENT_FUNDS', count: 2 },
          { name: 'AUDIT_TX_CONFLICT', count: 1 },
        ],
      },
    });
    const elapsed = (spec.view('stats') as { executions: { elapsedMs: { p50: number } } }).executions.elapsedMs;
    expect(Math.abs(elapsed.p50 - 30) / 30).toBeLessThanOrEqual(1 / 128);
  });

  it(`tracks at most limits.auditDistinctNamesMax (${limits.auditDistinctNamesMax}) names per map; the rest count as other`, () => {
    const spec = new Spec(auditModule);
    const cap = limits.auditDistinctNamesMax;
    for (let i = 0; i < cap + 5; i++) spec.given(attack(`type-${String(i).padStart(4, '0')}`, 'waf', 0.5), sample(`metric-${i}`, i));
    // A known name keeps counting under its own name; the name `other` itself is the overflow bucket.
    spec.given(attack('type-0000', 'waf', 0.5), attack('other', 'waf', 0.5), sample('metric-0', 1));
    const stats = spec.view('stats') as { attacks: { byType: { name: string; count: number }[] }; telemetry: { metrics: { metric: string; count: number }[] } };
    expect(stats.attacks.byType).toHaveLength(cap + 1);
    expect(stats.attacks.byType.slice(0, 2)).toEqual([
      { name: 'other', count: 6 },
      { name: 'type-0000', count: 2 },
    ]);
    expect(stats.attacks.byType.some((e) => e.name === `type-${cap}`)).toBe(false);
    expect(stats.telemetry.metrics).toHaveLength(cap + 1);
    expect(stats.telemetry.metrics.find((m) => m.metric === 'other')).toMatchObject({ count: 5, min: cap, max: cap + 4 });
    expect(stats.telemetry.metrics.find((m) => m.metric === 'metric-0')).toMatchObject({ count: 2 });
    // The cap survives the snapshot codec: a new name after decode still goes to other.
    const decoded = auditModule.snapshot.decode(parseJson(canonicalize(auditModule.snapshot.encode(spec.state))));
    const continued = new Spec(auditModule);
    continued.state = decoded;
    continued.given(attack('type-new', 'waf', 0.5));
    spec.given(attack('type-new', 'waf', 0.5));
    expect(continued.view('stats')).toEqual(spec.view('stats'));
  });
});

// ---------------------------------------------------------------------------------------
// Snapshot round trip over random event sequences.

const names = fc.constantFrom('a', 'b', 'c', 'other', 'δ', '__proto__');
const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(0, -0, 1e-300, 1e300, Number.MAX_VALUE));
const status = fc.constantFrom('succeeded', 'failed', 'blocked', 'timeout');

/** Event generators; execution txIds are made unique when the sequence is built. */
const eventArb: fc.Arbitrary<NewEvent> = fc.oneof(
  fc.record({ status, elapsedMs: fc.oneof(fc.double({ min: 0, max: 1e7, noNaN: true }), fc.constantFrom(0, 1e-9)) }).map(({ status, elapsedMs }) => exec('t', status, elapsedMs)),
  fc.record({ type: names, layer: names, severity: fc.double({ min: 0, max: 1, noNaN: true }) }).map(({ type, layer, severity }) => attack(type, layer, severity)),
  fc.record({ metric: names, value }).map(({ metric, value }) => sample(metric, value)),
  fc.constantFrom('LEDGER_X', 'KV_Y', 'AUDIT_TX_CONFLICT').map(rejected),
);

function uniqueTxIds(events: NewEvent[]): NewEvent[] {
  return events.map((e, i) => (e.type === 'audit.execution_recorded' ? { ...e, data: { ...e.data, txId: `t${i}` } } : e));
}

function snapshotText(spec: Spec): string {
  return canonicalize(auditModule.snapshot.encode(spec.state));
}

describe('the audit snapshot codec', () => {
  it('snapshot mid-way and continue == straight: same snapshot bytes, same view, at every later step', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 120 }), fc.nat(), (raw, cut) => {
        const events = uniqueTxIds(raw);
        const at = events.length === 0 ? 0 : cut % (events.length + 1);
        const straight = new Spec(auditModule).given(...events);

        const first = new Spec(auditModule).given(...events.slice(0, at));
        const text = snapshotText(first);
        const resumed = new Spec(auditModule);
        resumed.state = auditModule.snapshot.decode(parseJson(text));
        for (const [k, v] of first.entries.map) resumed.entries.map.set(k, v);
        resumed.seq = first.seq;
        expect(snapshotText(resumed)).toBe(text);
        expect(canonicalize(resumed.view('stats'))).toBe(canonicalize(first.view('stats')));
        resumed.given(...events.slice(at));

        expect(snapshotText(resumed)).toBe(snapshotText(straight));
        expect(canonicalize(resumed.view('stats'))).toBe(canonicalize(straight.view('stats')));
        expect(auditModule.checkInvariants?.(resumed.state, resumed.entries)).toBeUndefined();
      }),
      { seed, numRuns: 300 },
    );
  });

  it('encode is a function of the content: the same events in another order of first appearance encode alike when only counts differ in order', () => {
    const a = new Spec(auditModule).given(attack('x', 'l1', 0.5), attack('y', 'l2', 0.5), rejected('B_R'), rejected('A_R'));
    const b = new Spec(auditModule).given(rejected('A_R'), attack('y', 'l2', 0.5), rejected('B_R'), attack('x', 'l1', 0.5));
    expect(snapshotText(a)).toBe(snapshotText(b));
  });

  it('decode is strict: refuses what encode never writes (STELE_E_SNAPSHOT_INVALID)', () => {
    const spec = new Spec(auditModule).given(exec('t1', 'failed', 5), attack('sqli', 'waf', 0.5), sample('m', 1), rejected('LEDGER_X'));
    const good = auditModule.snapshot.encode(spec.state) as JsonObject;
    expect(canonicalize(auditModule.snapshot.encode(auditModule.snapshot.decode(good)))).toBe(canonicalize(good));
    const executions = good['executions'] as JsonObject;
    const attacks = good['attacks'] as JsonObject;
    const bad: unknown[] = [
      null,
      {},
      { ...good, extra: 1 },
      { ...good, executions: { ...executions, byStatus: [0, 1, 0] } },
      { ...good, executions: { ...executions, byStatus: [1, 1, 0, 0] } },
      { ...good, attacks: { ...attacks, byType: [['sqli', 2]] } },
      { ...good, attacks: { ...attacks, byType: [['sqli', 0]] } },
      { ...good, attacks: { ...attacks, byType: [['b', 1], ['a', 0]] } },
      { ...good, telemetry: [['m', { count: 0, sum: 0, min: null, max: null, emax: 0, zero: 0, buckets: [] }]] },
      { ...good, telemetry: [['m', 1]] },
      { ...good, rejections: { byReason: [['LEDGER_X', -1]] } },
      { ...good, rejections: { byReason: [['LEDGER_X', 1]], total: 1 } },
    ];
    for (const json of bad) {
      expect(() => auditModule.snapshot.decode(json as never), JSON.stringify(json)).toThrow(expect.objectContaining({ code: 'STELE_E_SNAPSHOT_INVALID' }) as SteleError);
    }
  });
});
