/**
 * The observer's live follower on real files: appended lines arrive once, in order, with their
 * offsets; a partial line is held until its `\n`; the tail never writes; and a log that shrank,
 * was replaced, removed or changed in place raises exactly one integrity alarm, after which
 * nothing more is delivered.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { steleError } from '../../src/errors.js';
import type { SteleError } from '../../src/errors.js';
import { limits } from '../../src/limits.js';
import { integrityAlarmFix, LogTail, safetyPollMs } from '../../src/observer/tail.js';
import type { TailLine, TailOptions } from '../../src/observer/tail.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stele-tail-'));
  cleanups.push(() => {
    // A test may have made the directory read-only; give it back its bits to remove it.
    fs.chmodSync(dir, 0o755);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function eventLine(n: number): string {
  return `{"data":{"key":"k${n}","value":${n * 7}},"seq":${n},"type":"kv.put@1"}`;
}

/** Polls `condition` until it holds; fails (never hangs) after a generous bound. */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Harness {
  dir: string;
  file: string;
  tail: LogTail;
  lines: TailLine[];
  alarms: SteleError[];
}

/**
 * A log with `initial` lines already consumed by a (pretend) replay, and a tail following it.
 * The last initial line is the witness unless `witness: false`.
 */
function makeTail(initial: string[], options: Partial<TailOptions> & { witness?: boolean; dir?: string } = {}): Harness {
  const dir = options.dir ?? tempDir();
  const file = path.join(dir, 'events.ndjson');
  if (!fs.existsSync(file)) fs.writeFileSync(file, initial.map((l) => `${l}\n`).join(''));
  const startOffset = initial.reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0);
  const lastText = initial[initial.length - 1];
  const lines: TailLine[] = [];
  const alarms: SteleError[] = [];
  const tail = new LogTail({
    path: file,
    startOffset,
    ...(lastText !== undefined && options.witness !== false
      ? { lastLine: { offset: startOffset - Buffer.byteLength(lastText) - 1, bytes: Buffer.from(lastText) } }
      : {}),
    onLines: (batch) => lines.push(...batch),
    onAlarm: (err) => alarms.push(err),
    ...options,
  });
  cleanups.push(() => tail.close());
  return { dir, file, tail, lines, alarms };
}

function texts(lines: TailLine[]): string[] {
  return lines.map((l) => l.bytes.toString('utf8'));
}

function expectAlarm(h: Harness, kind: string): SteleError {
  expect(h.alarms).toHaveLength(1);
  const err = h.alarms[0]!;
  expect(err.code).toBe('STELE_E_INTEGRITY_ALARM');
  expect(err.detail?.['kind']).toBe(kind);
  expect(err.where.file).toBe(h.file);
  expect(typeof err.where.offset).toBe('number');
  expect(err.fix).toBe(integrityAlarmFix);
  return err;
}

/** After an alarm the tail is finished: further appends and reads deliver nothing. */
async function expectStopped(h: Harness): Promise<void> {
  const delivered = h.lines.length;
  fs.appendFileSync(h.file, `${eventLine(9999)}\n`);
  await h.tail.readNow();
  expect(h.lines).toHaveLength(delivered);
  expect(h.alarms).toHaveLength(1);
}

describe('LogTail: following appends', () => {
  it('start() delivers the lines appended between the replay and start, with their offsets', async () => {
    const initial = [eventLine(0), eventLine(1)];
    const h = makeTail(initial);
    const start = fs.statSync(h.file).size;
    fs.appendFileSync(h.file, `${eventLine(2)}\n${eventLine(3)}\n`);
    await h.tail.start();
    expect(texts(h.lines)).toEqual([eventLine(2), eventLine(3)]);
    expect(h.lines[0]!.offset).toBe(start);
    expect(h.lines[1]!.offset).toBe(start + Buffer.byteLength(eventLine(2)) + 1);
    expect(h.tail.offset).toBe(fs.statSync(h.file).size);
    expect(h.alarms).toEqual([]);
  });

  it('follows live appends through the watcher (no explicit reads)', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    expect(h.lines).toEqual([]);
    fs.appendFileSync(h.file, `${eventLine(1)}\n`);
    await waitFor(() => h.lines.length === 1, 'the appended line');
    expect(texts(h.lines)).toEqual([eventLine(1)]);
    expect(h.lines[0]!.offset).toBe(Buffer.byteLength(eventLine(0)) + 1);
  });

  it('holds a partial last line until its newline arrives, then delivers it once at its offset', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    const line = eventLine(1);
    const half = Math.floor(line.length / 2);
    const offset = fs.statSync(h.file).size;
    fs.appendFileSync(h.file, line.slice(0, half));
    await h.tail.readNow();
    expect(h.lines).toEqual([]);
    expect(h.tail.pendingBytes).toBe(half);
    expect(h.tail.offset).toBe(offset);

    fs.appendFileSync(h.file, `${line.slice(half)}\n${eventLine(2).slice(0, 5)}`);
    await waitFor(() => h.lines.length === 1, 'the completed line');
    expect(texts(h.lines)).toEqual([line]);
    expect(h.lines[0]!.offset).toBe(offset);
    expect(h.tail.offset).toBe(offset + line.length + 1);
    expect(h.tail.pendingBytes).toBe(5);
    expect(h.alarms).toEqual([]);
  });

  it('delivers 2,000 rapid appends in order, exactly once, with consecutive offsets, from watcher events alone', async () => {
    // The safety poll is neutralised, so every line must be found through watcher events (a
    // burst whose last events chokidar throttles away would hang here until the bound).
    const realSetInterval = globalThis.setInterval;
    vi.spyOn(globalThis, 'setInterval').mockImplementation(((callback: () => void, ms: number) =>
      realSetInterval(ms === safetyPollMs ? () => undefined : callback, ms)) as typeof setInterval);
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    const count = 2000;
    for (let n = 1; n <= count; n++) {
      fs.appendFileSync(h.file, `${eventLine(n)}\n`);
      if (n % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => h.lines.length >= count, `${count} lines`);
    await h.tail.readNow();
    expect(h.lines).toHaveLength(count);
    expect(texts(h.lines)).toEqual(Array.from({ length: count }, (_, i) => eventLine(i + 1)));
    let expected = Buffer.byteLength(eventLine(0)) + 1;
    for (const line of h.lines) {
      expect(line.offset).toBe(expected);
      expected = line.offset + line.bytes.length + 1;
    }
    expect(h.tail.offset).toBe(fs.statSync(h.file).size);
  });

  it('catches up a backlog larger than one read chunk, lines spanning chunk ends intact', async () => {
    const initial = [eventLine(0)];
    const h = makeTail(initial);
    const many = Array.from({ length: 20_000 }, (_, i) => eventLine(i + 1));
    fs.appendFileSync(h.file, many.map((l) => `${l}\n`).join(''));
    await h.tail.start();
    expect(texts(h.lines)).toEqual(many);
  });

  it('follows with chokidar polling (bind mounts, network file systems)', async () => {
    const h = makeTail([eventLine(0)], { usePolling: true, pollIntervalMs: 20 });
    await h.tail.start();
    fs.appendFileSync(h.file, `${eventLine(1)}\n`);
    await waitFor(() => h.lines.length === 1, 'the appended line (polling)');
    expect(texts(h.lines)).toEqual([eventLine(1)]);
  });

  it('reads a log in a read-only directory, opening it only for reading and creating nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'events.ndjson');
    fs.writeFileSync(file, `${eventLine(0)}\n`);
    fs.chmodSync(file, 0o444);
    fs.chmodSync(dir, 0o555);
    const opens = vi.spyOn(fs.promises, 'open');
    const h = makeTail([eventLine(0)], { dir });
    const before = fs.readdirSync(dir);
    await h.tail.start();
    // Tests may run as root, where mode bits stop nothing: so also check how the file was opened.
    expect(opens).toHaveBeenCalledTimes(1);
    expect(opens.mock.calls[0]).toEqual([file, 'r']);

    // The writer (another process, or root here) appends; the tail follows.
    fs.chmodSync(file, 0o644);
    fs.appendFileSync(file, `${eventLine(1)}\n`);
    fs.chmodSync(file, 0o444);
    await waitFor(() => h.lines.length === 1, 'the appended line');
    expect(texts(h.lines)).toEqual([eventLine(1)]);
    await h.tail.close();
    expect(fs.readdirSync(dir)).toEqual(before);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${eventLine(0)}\n${eventLine(1)}\n`);
    expect(opens).toHaveBeenCalledTimes(1);
    expect(h.alarms).toEqual([]);
  });

  it('close() leaves no watcher, timer or open file behind, and stops delivering', async () => {
    const kinds = () => process.getActiveResourcesInfo().filter((k) => k !== 'TTYWrap');
    const count = (list: string[], kind: string) => list.filter((k) => k === kind).length;
    const before = kinds();
    const h = makeTail([eventLine(0)], { audit: () => undefined, auditIntervalMs: 50 });
    await h.tail.start();
    fs.appendFileSync(h.file, `${eventLine(1)}\n`);
    await waitFor(() => h.lines.length === 1, 'the appended line');
    const during = kinds();
    expect(count(during, 'FSEventWrap') + count(during, 'StatWatcher')).toBeGreaterThan(0);
    await h.tail.close();
    // Handles are released asynchronously after close resolves; poll until they are gone.
    await waitFor(() => {
      const after = kinds();
      return ['FSEventWrap', 'StatWatcher', 'Timeout', 'FileHandle'].every((k) => count(after, k) <= count(before, k));
    }, 'watchers, timers and the file handle to be released');
    fs.appendFileSync(h.file, `${eventLine(2)}\n`);
    await h.tail.readNow();
    expect(h.lines).toHaveLength(1);
    await h.tail.close(); // idempotent
  });
});

describe('LogTail: integrity alarms', () => {
  it('raises "shrank" when the log is cut below what was already read, logs it, then stops', async () => {
    const logged: { level: number; msg: string; err?: { code: string } }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const h = makeTail([eventLine(0), eventLine(1), eventLine(2)], { logger });
    await h.tail.start();
    const cut = Buffer.byteLength(eventLine(0)) + 1;
    fs.truncateSync(h.file, cut);
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    const err = expectAlarm(h, 'shrank');
    expect(err.where.offset).toBe(cut);
    const errors = logged.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.err?.code).toBe('STELE_E_INTEGRITY_ALARM');
    await expectStopped(h);
  });

  it('does not alarm when only the held partial line is cut (a restarted writer quarantines a torn line)', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    const offset = fs.statSync(h.file).size;
    const torn = eventLine(1).slice(0, 30);
    fs.appendFileSync(h.file, torn);
    await h.tail.readNow();
    expect(h.tail.pendingBytes).toBe(30);
    fs.truncateSync(h.file, offset);
    await h.tail.readNow();
    expect(h.tail.pendingBytes).toBe(0);
    fs.appendFileSync(h.file, `${eventLine(7)}\n`);
    await waitFor(() => h.lines.length === 1, 'the line written after the cut');
    expect(texts(h.lines)).toEqual([eventLine(7)]);
    expect(h.lines[0]!.offset).toBe(offset);
    expect(h.alarms).toEqual([]);
  });

  it('reads a held partial line again when it was cut and rewritten between two reads', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    const offset = fs.statSync(h.file).size;
    fs.appendFileSync(h.file, eventLine(1).slice(0, 30));
    await h.tail.readNow();
    expect(h.tail.pendingBytes).toBe(30);
    // Cut and rewritten before the tail looks again: the held bytes no longer match the file.
    fs.truncateSync(h.file, offset);
    fs.appendFileSync(h.file, `${eventLine(7)}\n`);
    await h.tail.readNow();
    expect(texts(h.lines)).toEqual([eventLine(7)]);
    expect(h.lines[0]!.offset).toBe(offset);
    expect(h.alarms).toEqual([]);
  });

  it('raises "replaced" when another file is renamed over the log, even with the same bytes', async () => {
    const h = makeTail([eventLine(0), eventLine(1)]);
    await h.tail.start();
    const other = path.join(h.dir, 'events.ndjson.new');
    fs.writeFileSync(other, fs.readFileSync(h.file));
    fs.renameSync(other, h.file);
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    const err = expectAlarm(h, 'replaced');
    expect(err.expected).toMatch(/inode/);
    await expectStopped(h);
  });

  it('raises "replaced" when the log is deleted and re-created', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    const bytes = fs.readFileSync(h.file);
    fs.unlinkSync(h.file);
    fs.writeFileSync(h.file, bytes);
    await h.tail.readNow();
    expectAlarm(h, 'replaced');
    await expectStopped(h);
  });

  it('raises "removed" when the log is deleted', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    fs.unlinkSync(h.file);
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    expectAlarm(h, 'removed');
    await h.tail.readNow();
    expect(h.alarms).toHaveLength(1);
  });

  it('raises "removed" from start() when the log vanished after the replay', async () => {
    const h = makeTail([eventLine(0)]);
    fs.unlinkSync(h.file);
    await h.tail.start();
    expectAlarm(h, 'removed');
  });

  it('raises "changed" without any audit when the last read line is rewritten in place', async () => {
    const h = makeTail([eventLine(0), eventLine(1)]);
    await h.tail.start();
    fs.appendFileSync(h.file, `${eventLine(2)}\n`);
    await waitFor(() => h.lines.length === 1, 'the appended line');
    // Same size, one digit changed inside the witness (the last consumed line).
    const at = h.lines[0]!.offset + eventLine(2).indexOf('"k2"') + 2;
    const fd = fs.openSync(h.file, 'r+');
    fs.writeSync(fd, Buffer.from('9'), 0, 1, at);
    fs.closeSync(fd);
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    const err = expectAlarm(h, 'changed');
    expect(err.where.offset).toBe(at);
    expect(err.expected).toBe(`byte 0x${'2'.charCodeAt(0).toString(16)}`);
    expect(err.found).toBe(`byte 0x${'9'.charCodeAt(0).toString(16)}`);
    await expectStopped(h);
  });

  it('raises "changed" at start() when the witness changed between the replay and start', async () => {
    const h = makeTail([eventLine(0), eventLine(1)]);
    const text = fs.readFileSync(h.file, 'utf8');
    fs.writeFileSync(h.file, text.replace('"k1"', '"kX"'));
    await h.tail.start();
    expectAlarm(h, 'changed');
    expect(h.lines).toEqual([]);
  });

  it('audits on a same-size rewrite of an earlier line and raises the audit fault as "changed"', async () => {
    // The observer's audit: re-hash every consumed line and compare with the hashes it kept.
    const initial = [eventLine(0), eventLine(1), eventLine(2)];
    const hashes = new Map<number, string>();
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    let offset = 0;
    for (const l of initial) {
      hashes.set(offset, sha(Buffer.from(l)));
      offset += Buffer.byteLength(l) + 1;
    }
    let file = '';
    let audits = 0;
    const audit = (): SteleError | undefined => {
      audits++;
      const bytes = fs.readFileSync(file);
      for (const [at, hash] of hashes) {
        const end = bytes.indexOf(10, at);
        if (sha(bytes.subarray(at, end)) !== hash) {
          return steleError('STELE_E_TREE_MISMATCH', 'a consumed line no longer hashes to its leaf', { where: { offset: at } });
        }
      }
      return undefined;
    };
    const h = makeTail(initial, {
      audit,
      auditIntervalMs: 0,
      onLines: (batch) => {
        for (const l of batch) hashes.set(l.offset, sha(l.bytes));
      },
    });
    file = h.file;
    await h.tail.start();
    fs.appendFileSync(h.file, `${eventLine(3)}\n`);
    await h.tail.readNow();
    expect(hashes.size).toBe(4);
    // Appends alone never trigger the (costly) audit.
    expect(audits).toBe(0);

    // Rewrite a byte in the middle of line 1 (not the witness), keeping the size. Timestamps
    // are coarse (a few ms), so the tamper's new mtime is set explicitly to make it "new".
    const lineOffset = Buffer.byteLength(eventLine(0)) + 1;
    const fd = fs.openSync(h.file, 'r+');
    fs.writeSync(fd, Buffer.from('8'), 0, 1, lineOffset + eventLine(1).indexOf('"k1"') + 2);
    fs.futimesSync(fd, new Date(), new Date(Date.now() + 60_000));
    fs.closeSync(fd);
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    expect(audits).toBeGreaterThan(0);
    const err = expectAlarm(h, 'changed');
    expect(err.where.offset).toBe(lineOffset);
    expect((err.detail?.['fault'] as { code: string }).code).toBe('STELE_E_TREE_MISMATCH');
    await expectStopped(h);
  });

  it('runs the audit periodically and alarms once it finds a fault', async () => {
    let tampered = false;
    let audits = 0;
    const h = makeTail([eventLine(0)], {
      auditIntervalMs: 20,
      audit: () => {
        audits++;
        return tampered ? steleError('STELE_E_CHAIN_BROKEN', 'prev does not link', { where: { offset: 0, seq: 0 } }) : undefined;
      },
    });
    await h.tail.start();
    await waitFor(() => audits >= 2, 'two periodic audits');
    expect(h.alarms).toEqual([]);
    tampered = true;
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    const err = expectAlarm(h, 'changed');
    expect((err.detail?.['fault'] as { code: string }).code).toBe('STELE_E_CHAIN_BROKEN');
    const settled = audits;
    await h.tail.readNow();
    expect(audits).toBe(settled);
  });

  it('raises "invalid" carrying the fault when onLines refuses a new line, and delivers nothing after', async () => {
    const batches: TailLine[][] = [];
    const alarms: SteleError[] = [];
    const h = makeTail([eventLine(0)], {
      onLines: (batch) => {
        batches.push(batch);
        if (batch.some((l) => l.bytes.includes('"bad"'))) {
          throw steleError('STELE_E_CHAIN_BROKEN', 'prev does not match the previous line', { where: { seq: 2 } });
        }
      },
      onAlarm: (err) => alarms.push(err),
    });
    await h.tail.start();
    fs.appendFileSync(h.file, `${eventLine(1)}\n`);
    await waitFor(() => batches.length === 1, 'the good line');
    fs.appendFileSync(h.file, `{"bad":true}\n`);
    await waitFor(() => alarms.length > 0, 'the alarm');
    expect(alarms).toHaveLength(1);
    const err = alarms[0]!;
    expect(err.code).toBe('STELE_E_INTEGRITY_ALARM');
    expect(err.detail?.['kind']).toBe('invalid');
    expect(err.detail?.['seq']).toBe(2);
    expect((err.detail?.['fault'] as { code: string }).code).toBe('STELE_E_CHAIN_BROKEN');
    expect(err.where.offset).toBe(fs.statSync(h.file).size - `{"bad":true}\n`.length);
    expect(h.tail.offset).toBe(err.where.offset);
    const seen = batches.length;
    fs.appendFileSync(h.file, `${eventLine(3)}\n`);
    await h.tail.readNow();
    expect(batches).toHaveLength(seen);
    expect(alarms).toHaveLength(1);
  });

  it('raises an alarm for a partial line already longer than the line limit, before its newline', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    const offset = fs.statSync(h.file).size;
    fs.appendFileSync(h.file, 'x'.repeat(limits.lineBytesMax + 1));
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    const err = expectAlarm(h, 'invalid');
    expect(err.where.offset).toBe(offset);
    expect((err.detail?.['fault'] as { code: string }).code).toBe('STELE_E_LINE_TOO_LARGE');
    expect(h.lines).toEqual([]);
  });

  it('accepts a line of exactly the limit and alarms on a complete line one byte over', async () => {
    const h = makeTail([eventLine(0)]);
    await h.tail.start();
    fs.appendFileSync(h.file, `${'a'.repeat(limits.lineBytesMax)}\n${'b'.repeat(limits.lineBytesMax + 1)}\n`);
    await waitFor(() => h.alarms.length > 0, 'the alarm');
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]!.bytes.length).toBe(limits.lineBytesMax);
    const err = expectAlarm(h, 'invalid');
    expect(err.where.offset).toBe(h.lines[0]!.offset + limits.lineBytesMax + 1);
  });
});
