import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireWriterLock, readOwner } from '../../src/store/lock.js';
import { repoRoot, tempDir } from '../helpers.js';

/** A pid that is certainly dead: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

function fakeLock(dir: string, owner: { pid: number; host: string }) {
  const lockDir = path.join(dir, 'writer.lock');
  fs.mkdirSync(lockDir);
  fs.writeFileSync(path.join(lockDir, 'owner.json'), JSON.stringify({ ...owner, startedAt: '2026-11-22T10:00:00.000Z', nonce: 'abc' }));
}

describe('writer lock', () => {
  it('refuses a second holder with LOCKED naming the first one, and frees on release', async () => {
    const dir = tempDir();
    const first = await acquireWriterLock(dir);
    expect(readOwner(path.join(dir, 'writer.lock'))).toMatchObject({ pid: process.pid, host: os.hostname() });
    await expect(acquireWriterLock(dir)).rejects.toMatchObject({ code: 'STELE_E_LOCKED', detail: { pid: process.pid } });
    await first.release();
    expect(fs.existsSync(path.join(dir, 'writer.lock'))).toBe(false);
    const second = await acquireWriterLock(dir);
    await second.release();
  });

  it('takes over at once a fresh lock whose holder process is dead', async () => {
    const dir = tempDir();
    fakeLock(dir, { pid: await deadPid(), host: os.hostname() });
    const lock = await acquireWriterLock(dir);
    expect(lock.owner.pid).toBe(process.pid);
    await lock.release();
  });

  it('does not take over a fresh lock of a live process, nor of another host', async () => {
    const dir = tempDir();
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      fakeLock(dir, { pid: live.pid!, host: os.hostname() });
      await expect(acquireWriterLock(dir)).rejects.toMatchObject({ code: 'STELE_E_LOCKED', detail: { pid: live.pid } });
    } finally {
      live.kill();
    }
    const other = tempDir();
    fakeLock(other, { pid: await deadPid(), host: 'some-other-host' });
    await expect(acquireWriterLock(other)).rejects.toMatchObject({ code: 'STELE_E_LOCKED' });
  });

  it('of two processes contending for a dead holder’s lock, exactly one wins', async () => {
    const dir = tempDir();
    fakeLock(dir, { pid: await deadPid(), host: os.hostname() });
    const script = `
      const { acquireWriterLock } = await import(${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'store', 'lock.js'))});
      try { const l = await acquireWriterLock(process.argv[1]); console.log('won'); await new Promise((r) => setTimeout(r, 1500)); await l.release(); }
      catch (e) { console.log(e.code); }`;
    const run = () =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir]);
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.on('exit', () => resolve(out.trim()));
      });
    const outcomes = await Promise.all([run(), run()]);
    expect(outcomes.sort()).toEqual(['STELE_E_LOCKED', 'won']);
  });
});

describe('a held lock', () => {
  it('stays valid across refreshes (writing owner.json must not look like a foreign change)', async () => {
    const dir = tempDir();
    let compromised: Error | undefined;
    const lock = await acquireWriterLock(dir, (err) => (compromised = err));
    // Two refreshes of proper-lockfile (every lockUpdateMs = 2 s).
    await new Promise((r) => setTimeout(r, 4_500));
    expect(compromised).toBeUndefined();
    expect(lock.compromised).toBeUndefined();
    await lock.release();
    expect(fs.existsSync(path.join(dir, 'writer.lock'))).toBe(false);
  }, 10_000);
});
