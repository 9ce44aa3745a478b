import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { createRegistry } from '../../src/events/builtin.js';
import { envelopeSchema, formatEventLine, isEnvelope } from '../../src/events/envelope.js';
import { EventRegistry } from '../../src/events/registry.js';
import { z } from 'zod';

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const ts = fc.date({ min: new Date('2000-01-01T00:00:00.000Z'), max: new Date('2999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((d) => d.toISOString());
const type = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,2}$/);
const object = fc.dictionary(fc.string(), fc.jsonValue()).map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);

describe('event line format', () => {
  it('formatEventLine writes exactly the RFC 8785 canonical JSON of the envelope', () => {
    fc.assert(
      fc.property(fc.nat(), ts, type, fc.integer({ min: 1, max: 1000 }), object, fc.option(object, { nil: undefined }), hex64, (seq, t, ty, v, data, meta, prev) => {
        const line = formatEventLine(seq, t, ty, v, canonicalize(data), meta === undefined ? undefined : canonicalize(meta), prev);
        const envelope = { seq, ts: t, type: ty, v, data, prev, ...(meta === undefined ? {} : { meta }) };
        expect(line).toBe(canonicalize(envelope));
        expect(envelopeSchema.safeParse(JSON.parse(line)).success).toBe(true);
      }),
      { seed: 8785, numRuns: 300 },
    );
  });

  it('the envelope schema rejects what the writer never writes', () => {
    const good = { seq: 0, ts: '2026-11-22T10:00:00.000Z', type: 'kv.put', v: 1, data: {}, prev: '0'.repeat(64) };
    expect(envelopeSchema.safeParse(good).success).toBe(true);
    for (const bad of [
      { ...good, extra: 1 },
      { ...good, seq: -1 },
      { ...good, seq: 1.5 },
      { ...good, ts: '2026-11-22T10:00:00Z' },
      { ...good, ts: '2026-11-22T10:00:00.000+01:00' },
      { ...good, type: 'KV.put' },
      { ...good, type: 'kvput' },
      { ...good, v: 0 },
      { ...good, prev: 'A'.repeat(64) },
      { ...good, data: [] },
      { ...good, meta: 'x' },
    ]) {
      expect(envelopeSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('event registry', () => {
  it('upcasts old payloads to the latest version', () => {
    const registry = new EventRegistry();
    registry.register({ type: 'shop.ordered', v: 1, description: 'v1', schema: z.object({ item: z.string() }) });
    registry.register({
      type: 'shop.ordered',
      v: 2,
      description: 'v2: items became a list',
      schema: z.object({ items: z.array(z.string()) }),
      upcastFrom: (d) => ({ items: [d.item as string] }),
    });
    expect(registry.upcast('shop.ordered', 1, { item: 'tea' })).toEqual({ v: 2, data: { items: ['tea'] } });
    expect(registry.upcast('shop.ordered', 2, { items: ['a'] })).toEqual({ v: 2, data: { items: ['a'] } });
    expect(() => registry.upcast('shop.ordered', 3, {})).toThrow(/unknown version/);
    expect(() => registry.register({ type: 'shop.ordered', v: 4, description: '', schema: z.object({}) })).toThrow(/register v3 before v4/);
    expect(() => registry.register({ type: 'stele.mine', v: 1, description: '', schema: z.object({}) })).toThrow(/reserved/);
  });

  it('kv keys are non-empty and at most 512 UTF-8 bytes', () => {
    const registry = createRegistry();
    expect(() => registry.validate('kv.put', 1, { key: 'é'.repeat(256), value: 1 })).not.toThrow();
    expect(() => registry.validate('kv.put', 1, { key: 'é'.repeat(257), value: 1 })).toThrow(/512/);
    expect(() => registry.validate('kv.put', 1, { key: '', value: 1 })).toThrow(/empty/);
    expect(() => registry.validate('kv.delete', 1, { key: 'a', value: 1 })).toThrow();
  });
});

describe('isEnvelope (the fast path of envelopeSchema)', () => {
  const good = { seq: 3, ts: '2026-11-22T10:00:00.000Z', type: 'kv.put', v: 1, data: { key: 'a' }, prev: 'ab'.repeat(32) };
  const field = fc.constantFrom('seq', 'ts', 'type', 'v', 'data', 'meta', 'prev', 'extra');
  const anyValue = fc.oneof(
    fc.jsonValue(),
    fc.constantFrom(-1, 0.5, 2 ** 53, 1e6 + 1, '', 'KV.put', 'a.b', 'x'.repeat(129) + '.y', '2026-11-22T10:00:00Z', '0'.repeat(64), 'G'.repeat(64), [], {}, null),
  );
  it('agrees with the zod schema on random mutations of a valid envelope', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(field, fc.option(anyValue, { nil: undefined })), { maxLength: 3 }), (edits) => {
        const candidate: Record<string, unknown> = { ...good };
        for (const [k, v] of edits) {
          if (v === undefined) delete candidate[k];
          else candidate[k] = v;
        }
        const value = JSON.parse(JSON.stringify(candidate));
        expect(isEnvelope(value)).toBe(envelopeSchema.safeParse(value).success);
      }),
      { seed: 2026, numRuns: 2000 },
    );
  });
});
