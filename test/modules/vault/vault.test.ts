import { describe, expect, it } from 'vitest';
import { SteleError } from '../../../src/errors.js';
import { vaultModule } from '../../../src/modules/vault/index.js';
import { Spec } from '../spec.js';

const hashA = 'a'.repeat(64);
const hashB = '0123456789abcdef'.repeat(4);

describe('vault module', () => {
  it('vault.put of a new hash emits vault.bundle_stored and records bundle:<sha256>', () => {
    const spec = new Spec(vaultModule).given({ type: 'vault.bundle_stored', data: { sha256: hashB, size: 1, mediaType: 'text/plain' } });
    const outcome = spec.when('vault.put', { sha256: hashA, size: 10, mediaType: 'application/json', meta: { name: 'x.json' } });
    expect(outcome).toEqual({
      ok: true,
      events: [{ type: 'vault.bundle_stored', data: { sha256: hashA, size: 10, mediaType: 'application/json', meta: { name: 'x.json' } } }],
      result: { sha256: hashA, size: 10, mediaType: 'application/json', meta: { name: 'x.json' }, seq: 1 },
    });
    expect(spec.entries.get(`bundle:${hashA}`)).toEqual({ size: 10, mediaType: 'application/json', meta: { name: 'x.json' }, seq: 1 });
    expect(spec.view('totals')).toEqual({ bundles: 2, bytes: 11 });
    expect(vaultModule.checkInvariants?.(spec.state, spec.entries)).toBeUndefined();
  });

  it('a duplicate put is a no-op returning exactly the first result, whatever its media type and meta', () => {
    const spec = new Spec(vaultModule);
    const first = spec.when('vault.put', { sha256: hashA, size: 10, mediaType: 'application/json' });
    expect(first).toMatchObject({ ok: true, result: { sha256: hashA, size: 10, mediaType: 'application/json', seq: 0 } });
    spec.given({ type: 'vault.bundle_stored', data: { sha256: hashB, size: 5, mediaType: 'text/plain' } });
    const again = spec.when('vault.put', { sha256: hashA, size: 10, mediaType: 'application/json' });
    expect(again).toEqual({ ok: true, events: [], result: (first as { result: unknown }).result });
    const otherMeta = spec.when('vault.put', { sha256: hashA, size: 10, mediaType: 'text/plain', meta: { a: 1 } });
    expect(otherMeta).toEqual({ ok: true, events: [], result: (first as { result: unknown }).result });
    expect(spec.view('totals')).toEqual({ bundles: 2, bytes: 15 });
  });

  it('the same hash with another size is refused with VAULT_SIZE_CONFLICT', () => {
    const spec = new Spec(vaultModule).given({ type: 'vault.bundle_stored', data: { sha256: hashA, size: 10, mediaType: 'text/plain' } });
    expect(spec.when('vault.put', { sha256: hashA, size: 11, mediaType: 'text/plain' })).toMatchObject({
      ok: false,
      rejection: { reason: 'VAULT_SIZE_CONFLICT', path: 'data.size', detail: { sha256: hashA, size: 10 } },
    });
  });

  it('the schema rejects uppercase hex, paths, short hashes, oversized and fractional sizes, bad media types, unknown fields', () => {
    const spec = new Spec(vaultModule);
    const ok = { sha256: hashA, size: 1, mediaType: 'text/plain' };
    expect(spec.when('vault.put', ok)).toHaveProperty('ok', true);
    const bad: Record<string, unknown>[] = [
      { ...ok, sha256: 'A'.repeat(64) },
      { ...ok, sha256: '../x' },
      { ...ok, sha256: `../${'a'.repeat(61)}` },
      { ...ok, sha256: `${'a'.repeat(62)}/x` },
      { ...ok, sha256: 'a'.repeat(63) },
      { ...ok, sha256: 'a'.repeat(65) },
      { ...ok, size: 64 * 1024 * 1024 + 1 },
      { ...ok, size: -1 },
      { ...ok, size: 1.5 },
      { ...ok, mediaType: 'text' },
      { ...ok, mediaType: 'text/plain; charset=utf-8' },
      { ...ok, mediaType: '/plain' },
      { ...ok, mediaType: `a/${'b'.repeat(128)}` },
      { ...ok, meta: JSON.parse('{"__proto__": {"polluted": true}}') },
      { sha256: hashA, size: 1 },
      { ...ok, extra: true },
    ];
    for (const data of bad) expect(spec.when('vault.put', data), JSON.stringify(data)).toHaveProperty('schemaError');
    expect(spec.when('vault.put', { ...ok, sha256: hashB, size: 64 * 1024 * 1024, mediaType: 'application/vnd.api+json' })).toHaveProperty('ok', true);
  });

  it('evolve refuses a second bundle_stored of the same hash (STELE_E_INVARIANT)', () => {
    const spec = new Spec(vaultModule).given({ type: 'vault.bundle_stored', data: { sha256: hashA, size: 1, mediaType: 'text/plain' } });
    expect(() => spec.apply({ type: 'vault.bundle_stored', data: { sha256: hashA, size: 1, mediaType: 'text/plain' } })).toThrow(
      expect.objectContaining({ code: 'STELE_E_INVARIANT' }) as SteleError,
    );
  });

  it('bundle_stored is written only by the command (not direct)', () => {
    expect(vaultModule.events.map((e) => [e.type, e.v, e.direct ?? false])).toEqual([['vault.bundle_stored', 1, false]]);
  });

  it('snapshot codec: exact round trip, strict decode', () => {
    const spec = new Spec(vaultModule).given(
      { type: 'vault.bundle_stored', data: { sha256: hashA, size: 7, mediaType: 'text/plain' } },
      { type: 'vault.bundle_stored', data: { sha256: hashB, size: 9, mediaType: 'text/plain' } },
    );
    const encoded = vaultModule.snapshot.encode(spec.state);
    expect(encoded).toEqual({ bundles: 2, bytes: 16 });
    expect(vaultModule.snapshot.decode(encoded)).toEqual(spec.state);
    for (const bad of [null, [], { bundles: 1 }, { bundles: 1, bytes: 1, x: 0 }, { bundles: -1, bytes: 0 }, { bundles: 1.5, bytes: 0 }, { bundles: 0, bytes: 1 }, { bundles: '1', bytes: 0 }]) {
      expect(() => vaultModule.snapshot.decode(bad as never), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'STELE_E_SNAPSHOT_INVALID' }) as SteleError);
    }
  });
});
