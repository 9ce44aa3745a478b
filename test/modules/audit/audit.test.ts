/** Given/when/then specifications of the audit module's commands, guards and events. */
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../src/canonical/json.js';
import type { JsonObject } from '../../../src/canonical/json.js';
import { SteleError } from '../../../src/errors.js';
import { sha256Hex } from '../../../src/hash/sha256.js';
import { limits } from '../../../src/limits.js';
import { auditModule, rejectionEvent } from '../../../src/modules/audit/index.js';
import { Spec } from '../spec.js';

const root1 = '1'.repeat(64);
const root2 = '2'.repeat(64);
const bundle = 'b'.repeat(64);
const cap = limits.attackSnippetBytesMax;

const execution: JsonObject = {
  txId: 'tx-1',
  bundle,
  intent: 'transfer 10 from alice to bob',
  status: 'succeeded',
  elapsedMs: 12.5,
  layers: [
    { layer: 'schema', status: 'succeeded', elapsedMs: 0.25 },
    { layer: 'sandbox', status: 'succeeded', detail: 'no syscalls' },
  ],
  stateRootBefore: root1,
  stateRootAfter: root2,
};

const invariant = expect.objectContaining({ code: 'STELE_E_INVARIANT' }) as SteleError;

describe('audit.execution', () => {
  it('records a new execution: emits execution_recorded, stores execution:<txId> with its seq', () => {
    const spec = new Spec(auditModule).given({ type: 'audit.telemetry_sampled', data: { metric: 'm', value: 1 } });
    expect(spec.when('audit.execution', execution)).toEqual({
      ok: true,
      events: [{ type: 'audit.execution_recorded', data: execution }],
      result: { txId: 'tx-1', seq: 1 },
    });
    expect(spec.entries.get('execution:tx-1')).toEqual({ ...execution, seq: 1 });
    expect(auditModule.checkInvariants?.(spec.state, spec.entries)).toBeUndefined();
  });

  it('the minimal record has no optional field spelled out', () => {
    const spec = new Spec(auditModule);
    const minimal = { txId: 't', intent: 'x', status: 'timeout', elapsedMs: 0 };
    expect(spec.when('audit.execution', minimal)).toEqual({ ok: true, events: [{ type: 'audit.execution_recorded', data: minimal }], result: { txId: 't', seq: 0 } });
  });

  it('is idempotent by txId: the same body again is a no-op returning the first result', () => {
    const spec = new Spec(auditModule);
    const first = spec.when('audit.execution', execution);
    spec.given({ type: 'audit.attack_blocked', data: { type: 'sqli', layer: 'waf', severity: 0.5 } });
    // Same body, members in another order.
    const reordered = Object.fromEntries(Object.entries(execution).reverse());
    const again = spec.when('audit.execution', reordered);
    expect(again).toEqual({ ok: true, events: [], result: { txId: 'tx-1', seq: 0 } });
    expect(again).toEqual('ok' in first && first.ok ? { ...first, events: [] } : undefined);
    expect(spec.view('stats')).toMatchObject({ executions: { total: 1 } });
  });

  it('the same txId with another body is refused with AUDIT_TX_CONFLICT', () => {
    const spec = new Spec(auditModule).given({ type: 'audit.execution_recorded', data: execution });
    for (const changed of [{ status: 'failed' }, { elapsedMs: 13 }, { layers: [] }, { bundle: undefined }]) {
      const data = { ...execution, ...changed };
      expect(spec.when('audit.execution', data), JSON.stringify(changed)).toEqual({
        ok: false,
        rejection: {
          reason: 'AUDIT_TX_CONFLICT',
          message: 'execution tx-1 was already recorded at seq 0 with a different body',
          path: 'data.txId',
          detail: { txId: 'tx-1', seq: 0 },
        },
      });
    }
  });

  it('the schema refuses malformed executions', () => {
    const spec = new Spec(auditModule);
    const layer = { layer: 'l', status: 'succeeded' };
    const bad: Record<string, unknown>[] = [
      { ...execution, status: 'ok' },
      { ...execution, status: 'SUCCEEDED' },
      { ...execution, elapsedMs: -1 },
      { ...execution, elapsedMs: Infinity },
      { ...execution, elapsedMs: NaN },
      { ...execution, elapsedMs: '12' },
      { ...execution, bundle: 'B'.repeat(64) },
      { ...execution, stateRootBefore: '../x' },
      { ...execution, txId: '' },
      { ...execution, txId: 'x'.repeat(limits.idBytesMax + 1) },
      { ...execution, intent: '' },
      { ...execution, intent: 'é'.repeat(limits.memoBytesMax / 2 + 1) },
      { ...execution, layers: Array.from({ length: limits.auditTagsMax + 1 }, () => layer) },
      { ...execution, layers: [{ ...layer, status: 'passed' }] },
      { ...execution, layers: [{ ...layer, extra: 1 }] },
      { ...execution, extra: true },
      { txId: 't', intent: 'x', status: 'failed' },
    ];
    for (const data of bad) expect(spec.when('audit.execution', data), JSON.stringify(data).slice(0, 200)).toHaveProperty('schemaError');
    expect(spec.when('audit.execution', { ...execution, txId: 'x'.repeat(limits.idBytesMax), layers: Array.from({ length: limits.auditTagsMax }, () => layer) })).toHaveProperty('ok', true);
  });

  it('evolve refuses a second execution_recorded of the same txId (possible only in a hand-made log)', () => {
    const spec = new Spec(auditModule).given({ type: 'audit.execution_recorded', data: execution });
    expect(() => spec.apply({ type: 'audit.execution_recorded', data: execution })).toThrow(invariant);
  });
});

describe('audit.attack', () => {
  const attack = { type: 'sqli', layer: 'waf', severity: 0.75 };

  it('records a blocked attack; without a snippet there is no snippetBytes or truncated', () => {
    const spec = new Spec(auditModule);
    expect(spec.when('audit.attack', { ...attack, txId: 'tx-9' })).toEqual({
      ok: true,
      events: [{ type: 'audit.attack_blocked', data: { ...attack, txId: 'tx-9' } }],
      result: { seq: 0, truncated: false },
    });
    expect(spec.entries.map.size).toBe(0);
  });

  it('keeps a snippet of exactly the cap whole, and truncates one byte more', () => {
    const spec = new Spec(auditModule);
    const exact = 'x'.repeat(cap);
    expect(spec.when('audit.attack', { ...attack, snippet: exact })).toEqual({
      ok: true,
      events: [{ type: 'audit.attack_blocked', data: { ...attack, snippet: exact, snippetBytes: cap, truncated: false } }],
      result: { seq: 0, truncated: false },
    });
    expect(spec.when('audit.attack', { ...attack, snippet: `${exact}y` })).toEqual({
      ok: true,
      events: [{ type: 'audit.attack_blocked', data: { ...attack, snippet: exact, snippetBytes: cap + 1, truncated: true } }],
      result: { seq: 1, truncated: true },
    });
  });

  it('truncates at a character boundary with multibyte characters', () => {
    const spec = new Spec(auditModule);
    const snippetOf = (snippet: string) => {
      const outcome = spec.when('audit.attack', { ...attack, snippet });
      if (!('ok' in outcome) || !outcome.ok) throw new Error(JSON.stringify(outcome));
      return outcome.events[0]!.data;
    };
    // 'é' is 2 bytes: 1 + 2·512 = 1025 bytes; the cap falls inside the last 'é'.
    expect(snippetOf(`a${'é'.repeat(512)}`)).toMatchObject({ snippet: `a${'é'.repeat(511)}`, snippetBytes: 1025, truncated: true });
    // '€' is 3 bytes: 3·342 = 1026; 341 fit (1023 bytes).
    expect(snippetOf('€'.repeat(342))).toMatchObject({ snippet: '€'.repeat(341), snippetBytes: 1026, truncated: true });
    // '𝄞' is 4 bytes (a surrogate pair): 256 fit exactly; with 2 bytes before, 255 fit and the pair is never split.
    expect(snippetOf('𝄞'.repeat(300))).toMatchObject({ snippet: '𝄞'.repeat(256), snippetBytes: 1200, truncated: true });
    expect(snippetOf(`ab${'𝄞'.repeat(300)}`)).toMatchObject({ snippet: `ab${'𝄞'.repeat(255)}`, snippetBytes: 1202, truncated: true });
    // A lone surrogate cannot be written to a line: it becomes U+FFFD (3 bytes).
    expect(snippetOf('x\ud800y')).toEqual({ ...attack, snippet: 'x\ufffdy', snippetBytes: 5, truncated: false });
    // A huge payload.
    const huge = snippetOf('<script>'.repeat(1_000_000));
    expect(huge['snippetBytes']).toBe(8_000_000);
    expect((huge['snippet'] as string).length).toBe(cap);
  });

  it('the schema refuses severities outside 0…1 and bad names', () => {
    const spec = new Spec(auditModule);
    for (const data of [{ ...attack, severity: 1.01 }, { ...attack, severity: -0.1 }, { ...attack, severity: '1' }, { ...attack, type: '' }, { ...attack, layer: undefined }, { ...attack, snippet: 5 }, { ...attack, truncated: true }]) {
      expect(spec.when('audit.attack', data), JSON.stringify(data)).toHaveProperty('schemaError');
    }
    expect(spec.when('audit.attack', { ...attack, severity: 0 })).toHaveProperty('ok', true);
    expect(spec.when('audit.attack', { ...attack, severity: 1 })).toHaveProperty('ok', true);
  });

  it('the event schema refuses snippets inconsistent with snippetBytes and truncated (hand-made events)', () => {
    const schema = auditModule.events.find((e) => e.type === 'audit.attack_blocked')!.schema;
    const ok = (data: object) => schema.safeParse({ ...attack, ...data }).success;
    expect(ok({ snippet: 'abc', snippetBytes: 3, truncated: false })).toBe(true);
    expect(ok({ snippet: 'x'.repeat(cap), snippetBytes: 5000, truncated: true })).toBe(true);
    expect(ok({ snippet: 'abc' })).toBe(false);
    expect(ok({ snippetBytes: 3, truncated: false })).toBe(false);
    expect(ok({ snippet: 'abc', snippetBytes: 4, truncated: false })).toBe(false);
    expect(ok({ snippet: 'abc', snippetBytes: 5000, truncated: true })).toBe(false);
    expect(ok({ snippet: 'x'.repeat(cap + 1), snippetBytes: cap + 1, truncated: false })).toBe(false);
    expect(ok({ snippet: 'x'.repeat(cap), snippetBytes: cap, truncated: true })).toBe(false);
  });
});

describe('audit.telemetry', () => {
  it('records a sample with its tags', () => {
    const spec = new Spec(auditModule);
    const data = { metric: 'latency_ms', value: -3.5, tags: { host: 'a', region: 'eu' } };
    expect(spec.when('audit.telemetry', data)).toEqual({ ok: true, events: [{ type: 'audit.telemetry_sampled', data }], result: { seq: 0 } });
  });

  it('the schema refuses non-finite values, too many tags, non-string tags and a __proto__ tag', () => {
    const spec = new Spec(auditModule);
    const tags = Object.fromEntries(Array.from({ length: limits.auditTagsMax }, (_, i) => [`t${i}`, 'v']));
    expect(spec.when('audit.telemetry', { metric: 'm', value: 1, tags })).toHaveProperty('ok', true);
    for (const data of [
      { metric: 'm', value: Infinity },
      { metric: 'm', value: NaN },
      { metric: 'm', value: '1' },
      { metric: '', value: 1 },
      { metric: 'm', value: 1, tags: { ...tags, extra: 'v' } },
      { metric: 'm', value: 1, tags: { a: 1 } },
      { metric: 'm', value: 1, tags: { '': 'v' } },
      { metric: 'm', value: 1, tags: JSON.parse('{"__proto__": "v"}') },
    ]) {
      expect(spec.when('audit.telemetry', data), JSON.stringify(data)).toHaveProperty('schemaError');
    }
  });
});

describe('rejectionEvent', () => {
  const dataHash = sha256Hex(Buffer.from(canonicalize({ from: 'alice', amount: '10' })));

  it('builds audit.command_rejected@1 {cmd, reason, message, path?, dataHash}, valid under its schema', () => {
    const event = rejectionEvent('ledger.transfer', { reason: 'LEDGER_INSUFFICIENT_FUNDS', message: 'alice has 5, needs 10', path: 'data.amount', detail: { balance: '5' } }, dataHash);
    expect(event).toEqual({
      type: 'audit.command_rejected',
      v: 1,
      data: { cmd: 'ledger.transfer', reason: 'LEDGER_INSUFFICIENT_FUNDS', message: 'alice has 5, needs 10', path: 'data.amount', dataHash },
    });
    const noPath = rejectionEvent('kv.put', { reason: 'KV_X', message: 'm' }, dataHash);
    expect(noPath.data).toEqual({ cmd: 'kv.put', reason: 'KV_X', message: 'm', dataHash });
    const spec = new Spec(auditModule).given(event, noPath, event);
    expect(spec.view('stats')).toMatchObject({ rejections: { total: 3, byReason: [{ name: 'LEDGER_INSUFFICIENT_FUNDS', count: 2 }, { name: 'KV_X', count: 1 }] } });
  });

  it('cuts a long message at a character boundary, and asserts on a malformed hash, reason or command', () => {
    const event = rejectionEvent('ledger.transfer', { reason: 'LEDGER_X', message: 'é'.repeat(1000) }, dataHash);
    expect(event.data['message']).toBe('é'.repeat(limits.memoBytesMax / 2));
    new Spec(auditModule).given(event);
    expect(() => rejectionEvent('ledger.transfer', { reason: 'LEDGER_X', message: 'm' }, 'A'.repeat(64))).toThrow(/dataHash/);
    expect(() => rejectionEvent('ledger.transfer', { reason: 'not snake', message: 'm' }, dataHash)).toThrow(/reason/);
    expect(() => rejectionEvent('Transfer', { reason: 'X', message: 'm' }, dataHash)).toThrow(/command name/);
  });

  it('is not a command, and no audit event can be appended directly', () => {
    expect(auditModule.commands.map((c) => c.name)).toEqual(['audit.execution', 'audit.attack', 'audit.telemetry']);
    expect(auditModule.events.map((e) => [e.type, e.v, e.direct ?? false])).toEqual([
      ['audit.execution_recorded', 1, false],
      ['audit.attack_blocked', 1, false],
      ['audit.telemetry_sampled', 1, false],
      ['audit.command_rejected', 1, false],
    ]);
  });
});

describe('audit evolve', () => {
  it('refuses event types of other modules', () => {
    const state = auditModule.initialState();
    expect(() => auditModule.evolve(state, { seq: 0, ts: '2026-11-22T10:00:00.000Z', type: 'kv.put', v: 1, data: {} }, new Spec(auditModule).entries)).toThrow(invariant);
  });

  it('checkInvariants notices execution records missing from the statistics', () => {
    const spec = new Spec(auditModule).given({ type: 'audit.execution_recorded', data: execution });
    expect(auditModule.checkInvariants?.(spec.state, spec.entries)).toBeUndefined();
    spec.entries.map.set('execution:ghost', { ...execution, txId: 'ghost', seq: 9 });
    expect(auditModule.checkInvariants?.(spec.state, spec.entries)).toMatch(/2 execution records/);
  });
});
