import { describe, expect, it } from 'vitest';
import { kvModule } from '../../../src/modules/kv/index.js';
import { Spec } from '../spec.js';

describe('kv module', () => {
  it('kv.put emits kv.put and stores the value under kv:<key>', () => {
    const spec = new Spec(kvModule);
    expect(spec.when('kv.put', { key: 'a', value: { n: 1 } })).toEqual({ ok: true, events: [{ type: 'kv.put', data: { key: 'a', value: { n: 1 } } }], result: { key: 'a' } });
    expect(spec.entries.get('kv:a')).toEqual({ n: 1 });
    expect(spec.view('count')).toEqual({ keys: 1 });
  });

  it('kv.delete of a present key emits kv.delete; of an absent key is a no-op', () => {
    const spec = new Spec(kvModule).given({ type: 'kv.put', data: { key: 'a', value: 1 } });
    expect(spec.when('kv.delete', { key: 'a' })).toEqual({ ok: true, events: [{ type: 'kv.delete', data: { key: 'a' } }], result: { key: 'a', deleted: true } });
    expect(spec.entries.get('kv:a')).toBeUndefined();
    expect(spec.when('kv.delete', { key: 'a' })).toEqual({ ok: true, events: [], result: { key: 'a', deleted: false } });
  });

  it('rejects malformed commands by schema: empty key, unknown field, missing value', () => {
    const spec = new Spec(kvModule);
    expect(spec.when('kv.put', { key: '', value: 1 })).toHaveProperty('schemaError');
    expect(spec.when('kv.put', { key: 'a', value: 1, extra: true })).toHaveProperty('schemaError');
    expect(spec.when('kv.delete', {})).toHaveProperty('schemaError');
    expect(spec.when('kv.put', { key: 'x'.repeat(513), value: 1 })).toHaveProperty('schemaError');
  });

  it('snapshot codec: null round trip, anything else is refused', () => {
    expect(kvModule.snapshot.decode(kvModule.snapshot.encode(null))).toBeNull();
    expect(() => kvModule.snapshot.decode({})).toThrow(/STELE_E_SNAPSHOT_INVALID|no private state/);
  });
});
