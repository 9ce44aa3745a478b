/**
 * The observer in-process: it follows appends by another writer, verifies them like a
 * replay, and its rolling audit finds a byte changed in place in an earlier line, naming
 * the line, also when the log is larger than one audit slice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ObserverSource, auditBytesPerRun } from '../../src/observer/observer.js';
import { Engine } from '../../src/runtime/engine.js';
import { newDataDir } from '../helpers.js';

async function fill(dir: string, count: number, valueChars = 10): Promise<void> {
  const engine = await Engine.open(dir);
  try {
    const value = 'v'.repeat(valueChars);
    for (let i = 0; i < count; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => engine.run({ cmd: 'kv.put', data: { key: `k${i + j}`, value } })));
    }
  } finally {
    await engine.close();
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Changes one byte inside the value of line `seq + 1`, in place (same size). */
function alterLine(dir: string, seq: number): void {
  const file = path.join(dir, 'events.ndjson');
  const text = fs.readFileSync(file, 'latin1');
  let start = 0;
  for (let i = 0; i < seq; i++) start = text.indexOf('\n', start) + 1;
  const at = text.indexOf('"value":"v', start) + '"value":"'.length;
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from('w'), 0, 1, at);
  fs.closeSync(fd);
}

describe('the observer', () => {
  it('follows appends and stays equal to the writer', async () => {
    const dir = newDataDir();
    await fill(dir, 20);
    const observer = await ObserverSource.open(dir, { auditIntervalMs: 0 });
    try {
      await fill(dir, 30);
      // 20 + 30 events and each writer session's shutdown checkpoint.
      await until(() => observer.status().size === 20 + 1 + 30 + 1, 'the observer to follow');
      const engine = await Engine.open(dir);
      const writer = engine.status();
      await engine.close();
      const seen = observer.status();
      expect(seen.size).toBe(writer.size);
      expect(seen.logRoot).toBe(writer.logRoot);
      expect(seen.integrity.status).toBe('ok');
      expect(seen.stateRoot).toBe(writer.stateRoot);
    } finally {
      await observer.close();
    }
  });

  it('the rolling audit names a line changed in place, in a log larger than one audit slice', async () => {
    const dir = newDataDir();
    // ~1 KiB lines: 10,000 of them make a log over one 8 MiB slice.
    await fill(dir, 10_000, 900);
    expect(fs.statSync(path.join(dir, 'events.ndjson')).size).toBeGreaterThan(auditBytesPerRun);
    const observer = await ObserverSource.open(dir, { auditIntervalMs: 50 });
    try {
      // Let the audit roll past the start, then change an early line behind it.
      await new Promise((r) => setTimeout(r, 200));
      alterLine(dir, 3);
      await until(() => observer.status().integrity.status === 'alarm', 'the alarm');
      const fault = observer.status().integrity.fault!;
      expect(JSON.stringify(fault)).toContain('"seq":3');
      expect(() => observer.checkServable()).toThrow(/changed under this observer/);
    } finally {
      await observer.close();
    }
  });
});
