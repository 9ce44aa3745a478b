/**
 * The monitor's state file (src/monitor/state.ts): canonical one-line JSON, parsed strictly —
 * what `formatMonitorState` never writes is refused with STELE_E_USAGE naming the file.
 */
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { toHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import { limits } from '../../src/limits.js';
import type { MonitorState } from '../../src/monitor/state.js';
import { formatMonitorState, parseMonitorState } from '../../src/monitor/state.js';
import { testKey } from './model.js';

const key = testKey();
const state: MonitorState = {
  format: 'stele.monitor.state',
  v: 1,
  source: 'http://127.0.0.1:8640',
  trusted: { at: '2026-01-01T00:00:00.000Z', seq: 5 },
  checkpoint: { seq: 11, ts: '2026-01-01T00:00:01.000Z', hash: 'c'.repeat(64), data: { size: 11, logRoot: 'a'.repeat(64), stateRoot: 'b'.repeat(64), sig: 'd'.repeat(128), keyId: key.keyId } },
  head: { size: 14, logRoot: 'e'.repeat(64) },
  keys: [{ keyId: key.keyId, publicKey: toHex(key.publicKey) }],
  checked: { at: '2026-01-01T00:00:02.000Z', verdict: 'advanced', signature: 'valid', keyId: key.keyId },
};

const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (text: string) => parseMonitorState(sha256, bytes(text), 'state.json');

describe('the monitor state file', () => {
  it('is one line of canonical JSON that parses back to the same state', () => {
    const text = formatMonitorState(state);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.slice(0, -1)).toBe(canonicalize(state));
    expect(text.slice(0, -1)).not.toContain('\n');
    expect(parse(text)).toEqual(state);
  });

  it('refuses anything the formatter would never write, naming the file', () => {
    const obj = JSON.parse(formatMonitorState(state)) as Record<string, unknown>;
    const variants: [string, string][] = [
      ['no newline', canonicalize(obj)],
      ['not canonical', `${JSON.stringify(obj, null, 1)}\n`],
      ['unknown field', `${canonicalize({ ...obj, extra: 1 })}\n`],
      ['other format', `${canonicalize({ ...obj, format: 'x' })}\n`],
      ['other version', `${canonicalize({ ...obj, v: 2 })}\n`],
      ['seq differs from size', `${canonicalize({ ...obj, checkpoint: { ...state.checkpoint, seq: 10 } })}\n`],
      ['head does not contain the checkpoint', `${canonicalize({ ...obj, head: { size: 11, logRoot: 'e'.repeat(64) } })}\n`],
      ['trusted after the checkpoint', `${canonicalize({ ...obj, trusted: { at: 'x', seq: 12 } })}\n`],
      ['a key under another keyId', `${canonicalize({ ...obj, keys: [{ keyId: 'f'.repeat(64), publicKey: toHex(key.publicKey) }] })}\n`],
      ['uppercase hex', `${canonicalize({ ...obj, head: { size: 14, logRoot: 'E'.repeat(64) } })}\n`],
      ['an alarm verdict', `${canonicalize({ ...obj, checked: { ...state.checked, verdict: 'rewritten' } })}\n`],
      ['empty', ''],
      ['not JSON', 'hello\n'],
    ];
    for (const [why, text] of variants) {
      expect(() => parse(text), why).toThrow(expect.objectContaining({ code: 'STELE_E_USAGE', where: { file: 'state.json' } }));
    }
  });

  it('checks the size before parsing', () => {
    const big = new Uint8Array(limits.monitorStateBytesMax + 1).fill(0x20);
    expect(() => parseMonitorState(sha256, big, 'state.json')).toThrow(/over the 65536 of a state file/);
  });
});
