/**
 * `stele backup` and `stele restore` end to end (issue #6): backups taken by the built CLI
 * while `stele serve` keeps acknowledging commands and bundle uploads over HTTP, each one
 * verified and compared with the source at its size; restores of them (whole and `--at`)
 * compared with the source's own time travel; the CLI's refusals and their exit codes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, cliPath, tempDir } from '../helpers.js';
import { command, fingerprint, readLog, request, startCli, stopAll } from './service.js';

const run = promisify(execFile);
const root = tempDir('stele-e2e-backup-');

afterAll(async () => {
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Runs the built CLI without blocking this process's event loop (the HTTP load keeps going meanwhile). */
async function cliAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [cliPath, ...args], { env: { ...process.env, STELE_LOG_LEVEL: 'warn' }, maxBuffer: 64 * 1024 * 1024 });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Summary {
  size: number;
  logRoot: string;
  stateRoot: string;
  logBytes: number;
  checkpoint: { seq: number; stateRoot: string } | null;
  files: { bundles: number; snapshots: number };
}

interface Replay {
  size: number;
  logRoot: string;
  stateRoot: string;
}

function replayAt(dir: string, seq?: number): Replay {
  const r = cli(['--data', dir, 'replay', ...(seq === undefined ? [] : ['--at', String(seq)]), '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Replay;
}

const pick = (r: Replay | Summary) => ({ size: r.size, logRoot: r.logRoot, stateRoot: r.stateRoot });

describe('stele backup beside a running stele serve', () => {
  const data = path.join(root, 'data');
  const backups: { dir: string; summary: Summary }[] = [];
  let uploads = 0;

  it('takes backups under HTTP load; each verifies and has the source\'s roots at its checkpoint, with every bundle its log records', async () => {
    const writer = await startCli(['--data', data, '--checkpoint-every', '40', '--snapshot-every', '300', 'serve', '--port', '0']);
    let stop = false;
    let acked = 0;
    let writesDuring = 0;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        if (i % 25 === 0) {
          const r = await request(writer.url, '/v1/bundles', { method: 'PUT', body: Buffer.from(`bundle ${i} ${'x'.repeat(i)}`), headers: { 'content-type': 'text/plain' }, auth: true });
          expect(r.status, r.text).toBe(200);
          uploads++;
        } else {
          const r = await command(writer.url, { cmd: 'kv.put', data: { key: `k${i % 97}`, value: { i } } });
          expect(r.status, r.text).toBe(200);
        }
        acked++;
      }
    })();
    try {
      for (let b = 0; b < 4; b++) {
        const seen = acked;
        // Let the load move on between backups (no timing: wait for more acknowledged writes).
        while (acked < seen + 150) await new Promise((resolve) => setImmediate(resolve));
        const dir = path.join(root, `backup-${b}`);
        const ackedBefore = acked;
        const r = await cliAsync(['--data', data, 'backup', dir, '--json']);
        writesDuring += acked - ackedBefore;
        expect(r.status, r.stderr + r.stdout).toBe(0);
        backups.push({ dir, summary: JSON.parse(r.stdout) as Summary });
      }
    } finally {
      stop = true;
      await load;
      await writer.stop();
    }
    expect(uploads).toBeGreaterThan(4);
    // The writer kept acknowledging while the backups ran (they took no lock and blocked nothing).
    expect(writesDuring).toBeGreaterThan(0);
    const source = fs.readFileSync(path.join(data, 'events.ndjson'));
    let previous = 0;
    for (const { dir, summary } of backups) {
      expect(summary.checkpoint).not.toBeNull();
      expect(summary.size).toBe(summary.checkpoint!.seq + 1);
      expect(summary.size).toBeGreaterThan(previous);
      previous = summary.size;
      expect(summary.stateRoot).toBe(summary.checkpoint!.stateRoot);
      // The backup is a byte prefix of the source's log, with the source's roots at that size.
      const copied = fs.readFileSync(path.join(dir, 'events.ndjson'));
      expect(copied.length).toBe(summary.logBytes);
      expect(copied.equals(source.subarray(0, copied.length))).toBe(true);
      expect(pick(replayAt(data, summary.size - 1))).toEqual(pick(summary));
      const v = cli(['--data', dir, 'verify', '--json']);
      expect(v.status, v.stdout).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, size: summary.size, logRoot: summary.logRoot, stateRoot: summary.stateRoot });
      // Every bundle its log records is in it, and verifies.
      const recorded = readLog(dir).filter((e) => e.type === 'vault.bundle_stored').map((e) => e.data['sha256'] as string);
      expect(recorded.length).toBe(summary.files.bundles);
      for (const sha of recorded) expect(fs.existsSync(path.join(dir, 'vault', sha.slice(0, 2), sha)), sha).toBe(true);
      expect(cli(['--data', dir, 'bundle', 'verify', '--all', '--json']).status).toBe(0);
    }
    expect(backups.at(-1)!.summary.files.bundles).toBeGreaterThan(0);
  }, 180_000);

  it('stele restore installs a backup that replays to the same roots; --at SEQ gives the roots of replay --at SEQ', () => {
    const { dir, summary } = backups.at(-1)!;
    const restored = path.join(root, 'restored');
    const r = cli(['--data', restored, 'restore', dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(pick(replayAt(restored))).toEqual(pick(summary));
    expect(cli(['--data', restored, 'verify']).status).toBe(0);

    const seq = Math.floor(summary.size / 2);
    const at = path.join(root, 'restored-at');
    const a = cli(['--data', at, 'restore', dir, '--at', String(seq), '--json']);
    expect(a.status, a.stderr).toBe(0);
    expect(pick(JSON.parse(a.stdout) as Summary)).toEqual(pick(replayAt(data, seq)));
    expect(pick(replayAt(at))).toEqual(pick(replayAt(data, seq)));
    // The restored prefix is a log a writer opens and continues.
    const w = cli(['--data', at, 'cmd', 'kv.put', '{"key":"after-restore","value":1}']);
    expect(w.status, w.stderr).toBe(0);
    expect(cli(['--data', at, 'verify']).status).toBe(0);
  });

  it('refuses a DEST that is not empty (exit 3, JSON error with --json) and an --at beyond the log (exit 2), changing nothing', () => {
    const { dir } = backups[0]!;
    const before = fingerprint(dir);
    const r = cli(['--data', data, 'backup', dir, '--json']);
    expect(r.status).toBe(3);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('STELE_E_DATA_DIR_NOT_EMPTY');
    expect(fingerprint(dir)).toEqual(before);
    const human = cli(['--data', data, 'backup', dir]);
    expect(human.stderr).toMatch(/not an empty directory \[STELE_E_DATA_DIR_NOT_EMPTY\]\n {2}where: {4}.*\n {2}fix:/);

    const target = path.join(root, 'never');
    const bad = cli(['--data', target, 'restore', dir, '--at', '99999999', '--json']);
    expect(bad.status).toBe(2);
    expect((JSON.parse(bad.stdout) as { error: { code: string } }).error.code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(cli(['--data', target, 'restore', dir, '--at', '1', '--at-time', '2026-01-01']).status).toBe(2);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('restore into a non-empty directory needs --force, which moves the old contents aside', () => {
    const target = path.join(root, 'restored');
    const before = fingerprint(target);
    const refused = cli(['--data', target, 'restore', backups[0]!.dir]);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toContain('--force');
    expect(fingerprint(target)).toEqual(before);
    const forced = cli(['--data', target, 'restore', backups[0]!.dir, '--force', '--json']);
    expect(forced.status, forced.stderr).toBe(0);
    const replaced = (JSON.parse(forced.stdout) as { replaced: string }).replaced;
    expect(path.basename(replaced)).toMatch(/^restored\.replaced-\d{4}-\d{2}-\d{2}T/);
    expect(fingerprint(replaced)).toEqual(before);
    expect(pick(replayAt(target))).toEqual(pick(backups[0]!.summary));
  });
});

/**
 * Opt-in soak (`STELE_BACKUP_SOAK_RUNS=N`): N rounds of a writer under concurrent HTTP load,
 * a backup started during the load, and the writer SIGKILLed while the backup runs; the next
 * round restarts it (recovering any torn tail). Every backup must succeed, verify, and hold
 * every event acknowledged below its size with the acknowledged hash.
 */
const soakRuns = Number(process.env['STELE_BACKUP_SOAK_RUNS'] ?? '0');
describe.runIf(soakRuns > 0)('soak: backups while the writer is killed', () => {
  it(`${soakRuns} rounds lose no acknowledged event`, async () => {
    const data = path.join(root, 'soak');
    const acks = new Map<number, string>();
    let lost = 0;
    let last: { dir: string; summary: Summary } | undefined;
    for (let round = 0; round < soakRuns; round++) {
      const writer = await startCli(['--data', data, '--checkpoint-every', '20', 'serve', '--port', '0']);
      let dead = false;
      let acked = 0;
      const loop = async (lane: number) => {
        for (let i = 0; !dead; i++) {
          try {
            const r = await command(writer.url, { cmd: 'kv.put', data: { key: `r${round}-l${lane}-${i % 13}`, value: i } });
            if (r.status === 200) for (const a of r.json.acks ?? []) acks.set(a.seq, a.hash);
            acked++;
          } catch {
            return; // the writer was killed
          }
        }
      };
      const lanes = [0, 1, 2, 3].map((l) => loop(l));
      while (acked < 100) await new Promise((resolve) => setImmediate(resolve));
      const dir = path.join(root, `soak-backup-${round}`);
      const backup = cliAsync(['--data', data, 'backup', dir, '--json']);
      const seen = acked;
      while (acked < seen + 20) await new Promise((resolve) => setImmediate(resolve));
      writer.child.kill('SIGKILL');
      dead = true;
      await writer.exited;
      await Promise.all(lanes);
      const r = await backup;
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const summary = JSON.parse(r.stdout) as Summary;
      const lines = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n');
      for (const [seq, hash] of acks) if (seq < summary.size && sha(lines[seq]!) !== hash) lost++;
      const v = cli(['--data', dir, 'verify', '--json']);
      expect(v.status, v.stdout).toBe(0);
      last = { dir, summary };
    }
    expect(lost).toBe(0);
    const restored = path.join(root, 'soak-restored');
    expect(cli(['--data', restored, 'restore', last!.dir]).status).toBe(0);
    expect(pick(replayAt(restored))).toEqual(pick(last!.summary));
    console.log(`backup soak: ${soakRuns} rounds, ${acks.size} acknowledged events, ${lost} lost`);
  }, 600_000);
});

function sha(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}
