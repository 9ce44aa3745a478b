/** Shared test helpers: temp data directories and running the built CLI. */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { isSteleError } from '../src/errors.js';
import type { SteleError } from '../src/errors.js';
import { initDataDir } from '../src/store/data-dir.js';
import { canonicalize } from '../src/canonical/json.js';
import { rng } from '../src/workload/rng.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export { rng };

export function tempDir(prefix = 'stele-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI synchronously. Requires `npm run build` (npm test does it first). */
export function cli(args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): CliResult {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    input: options.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, STELE_LOG_LEVEL: 'warn', ...options.env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}

/** A fresh, initialised data directory (`<tmp>/data`), removed when the current test finishes. */
export function newDataDir(): string {
  const root = tempDir();
  onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  initDataDir(data);
  return data;
}

/** The SteleError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function caughtSteleError(promise: Promise<unknown>): Promise<SteleError> {
  try {
    await promise;
  } catch (err) {
    if (isSteleError(err)) return err;
    throw err;
  }
  throw new Error('expected a SteleError');
}

/** The code of the SteleError `fn` throws, `'ok'` when it returns, or the text of any other throw. */
export function errorCodeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isSteleError(err) ? err.code : String(err);
  }
}

/** One parsed line of a data directory's log (the fields tests edit). */
export interface LogLine {
  seq: number;
  type: string;
  prev: string;
  data: Record<string, unknown>;
}

/** Every line of `<data>/events.ndjson`, parsed. */
export function readLogLines(data: string): LogLine[] {
  return fs
    .readFileSync(path.join(data, 'events.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

/**
 * Rewrites the event at `seq` with `change` and re-chains every line after it (`prev`), as
 * an attacker holding the files would: only what `change` did is wrong.
 */
export function rechainLog(data: string, seq: number, change: (event: LogLine) => void): void {
  const file = path.join(data, 'events.ndjson');
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  let prev = seq === 0 ? '0'.repeat(64) : crypto.createHash('sha256').update(lines[seq - 1]!).digest('hex');
  for (let i = seq; i < lines.length; i++) {
    const event = JSON.parse(lines[i]!) as LogLine;
    event.prev = prev;
    if (i === seq) change(event);
    lines[i] = canonicalize(event);
    prev = crypto.createHash('sha256').update(lines[i]!).digest('hex');
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}
