/**
 * Histories for the forensic tests, and the ways an attacker (or a bug) alters them: a
 * snapshot edited and made self-consistent again, a checkpoint rewritten with the chain
 * and later log roots recomputed, vault bytes changed, a reducer that credits one unit
 * more per deposit. Everything here works on files, independently of src/forensic.
 */
import fs from 'node:fs';
import path from 'node:path';
import { canonicalize } from '../../src/canonical/json.js';
import type { JsonObject, JsonValue } from '../../src/canonical/json.js';
import { isSteleError } from '../../src/errors.js';
import { createRegistry } from '../../src/events/builtin.js';
import { toHex } from '../../src/hash/hex.js';
import { sha256, sha256Hex } from '../../src/hash/sha256.js';
import { LogTreeFrontier } from '../../src/merkle/log-tree.js';
import { builtinModules } from '../../src/modules/builtin.js';
import { ledgerModule } from '../../src/modules/ledger/index.js';
import type { AnyModule } from '../../src/modules/module.js';
import { putBundle } from '../../src/runtime/bundles.js';
import { Engine } from '../../src/runtime/engine.js';
import type { MachineOptions } from '../../src/runtime/machine.js';
import { StateStore } from '../../src/state/store.js';
import { listSnapshots } from '../../src/store/snapshot-store.js';
import { takeCommands } from '../../src/workload/generate.js';
import type { WorkloadOptions } from '../../src/workload/generate.js';
import { onTestFinished } from 'vitest';
import { initDataDir } from '../../src/store/data-dir.js';
import { newDataDir, tempDir } from '../helpers.js';

export interface HistoryOptions {
  seed?: number;
  /** Workload commands, run in chunks. */
  commands?: number;
  /** Commands per chunk; a snapshot is written after each chunk listed in `snapshotAfter`. */
  chunk?: number;
  /** Chunk indexes (0-based) after which a snapshot is written. */
  snapshotAfter?: number[];
  /** Bundles stored, one after each of the first chunks. */
  bundles?: number;
  checkpointEvery?: number;
  workload?: WorkloadOptions;
}

export interface History {
  data: string;
  /** Snapshot files, sizes ascending. */
  snapshots: { file: string; size: number }[];
  /** Hashes of the bundles stored. */
  bundles: string[];
}

/** A generated history on disk (see HistoryOptions); the engine is closed (shutdown checkpoint). */
export async function makeHistory(options: HistoryOptions = {}, data: string = newDataDir()): Promise<History> {
  const commands = takeCommands(options.commands ?? 240, { seed: options.seed ?? 7, accounts: 12, keys: 10, ...options.workload });
  const chunk = options.chunk ?? 60;
  const snapshotAfter = new Set(options.snapshotAfter ?? [0, 2]);
  const engine = await Engine.open(data, { checkpointEvery: options.checkpointEvery ?? 16 });
  const bundles: string[] = [];
  try {
    for (let c = 0; c * chunk < commands.length; c++) {
      await Promise.all(
        commands.slice(c * chunk, (c + 1) * chunk).map((cmd) =>
          engine.run(cmd).catch((err: unknown) => {
            if (!(isSteleError(err) && err.code === 'STELE_E_REJECTED')) throw err;
          }),
        ),
      );
      if (c < (options.bundles ?? 2)) bundles.push((await putBundle(engine, Buffer.from(`bundle ${c} of seed ${options.seed ?? 7}\n`.repeat(c + 1)), 'text/plain')).sha256);
      if (snapshotAfter.has(c)) await engine.snapshot();
    }
  } finally {
    await engine.close();
  }
  return { data, snapshots: listSnapshots(data), bundles };
}

export interface LogLine {
  seq: number;
  ts: string;
  type: string;
  v: number;
  data: JsonObject;
  prev: string;
  meta?: JsonObject;
}

export function readLog(data: string): LogLine[] {
  return fs
    .readFileSync(path.join(data, 'events.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

/**
 * Rewrites the log with `edit` applied to the event at `seq`, then re-chains every later
 * line (`prev`) and recomputes every later checkpoint's log root, so the chain and the log
 * roots verify: only what the edit itself changed can diverge.
 */
export function rewriteLog(data: string, seq: number, edit: (event: LogLine) => void): void {
  const events = readLog(data);
  edit(events[seq]!);
  const frontier = new LogTreeFrontier(sha256);
  const lines: string[] = [];
  let prevHash = '0'.repeat(64);
  for (const e of events) {
    if (e.seq > seq) {
      e.prev = prevHash;
      if (e.type === 'stele.checkpoint') e.data.logRoot = toHex(frontier.root());
    }
    const line = canonicalize(e);
    lines.push(line);
    const hash = sha256(Buffer.from(line, 'utf8'));
    prevHash = toHex(hash);
    frontier.append(hash);
  }
  fs.writeFileSync(path.join(data, 'events.ndjson'), lines.map((l) => l + '\n').join(''));
  // The derived tree file would now disagree with the log: it is derived, drop it.
  fs.rmSync(path.join(data, 'index'), { recursive: true, force: true });
}

/**
 * Sets entry `key` of a snapshot to `value` and makes the file self-consistent again: the
 * header's state root recomputed from the entries, the trailer's count and hash. It loads,
 * and lies.
 */
export function alterSnapshotEntry(file: string, key: string, value: JsonValue): JsonValue {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  const header = JSON.parse(lines[0]!) as { modules: [string, number][]; stateRoot: string };
  const first = 1 + header.modules.length;
  const body = lines.slice(0, -1);
  let old: JsonValue | undefined;
  const entries: [string, JsonValue][] = [];
  for (let i = first; i < body.length; i++) {
    const entry = JSON.parse(body[i]!) as [string, JsonValue];
    if (entry[0] === key) {
      old = entry[1];
      entry[1] = value;
      body[i] = canonicalize(entry);
    }
    entries.push(entry);
  }
  if (old === undefined) throw new Error(`no entry ${key} in ${file}`);
  const prefixes = builtinModules.flatMap((m) => m.keyPrefixes);
  header.stateRoot = StateStore.load(prefixes, entries).root();
  body[0] = canonicalize(header);
  const bytes = body.map((l) => l + '\n').join('');
  fs.writeFileSync(file, bytes + canonicalize({ lines: body.length, sha256: sha256Hex(Buffer.from(bytes, 'utf8')) }) + '\n');
  return old;
}

/** The entries of a snapshot file, as written. */
export function snapshotEntries(file: string): Map<string, JsonValue> {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  const header = JSON.parse(lines[0]!) as { modules: unknown[] };
  return new Map(lines.slice(1 + header.modules.length, -1).map((l) => JSON.parse(l) as [string, JsonValue]));
}

/** A ledger whose reducer credits every deposit one unit more than the event says: a changed reducer under the same version. */
export const generousLedger: AnyModule = {
  ...ledgerModule,
  evolve: (state, event, entries) =>
    ledgerModule.evolve(state, event.type === 'ledger.deposited' ? { ...event, data: { ...event.data, amount: String(BigInt(event.data['amount'] as string) + 1n) } } : event, entries),
};

/** Machine options with the generous ledger in place of the real one (same registry: the events are the same). */
export function generousOptions(): MachineOptions {
  return { modules: builtinModules.map((m) => (m === ledgerModule ? generousLedger : m)), registry: createRegistry() };
}

/** A fresh initialised data directory outside any test (for beforeAll); the caller removes `root`. */
export function sharedDataDir(): { root: string; data: string } {
  const root = tempDir('stele-forensic-');
  const data = path.join(root, 'data');
  initDataDir(data);
  return { root, data };
}

/** A copy of a history's data directory, removed when the current test finishes. */
export function copyHistory(history: History): History {
  const root = tempDir('stele-forensic-copy-');
  onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  fs.cpSync(history.data, data, { recursive: true });
  return { data, snapshots: listSnapshots(data), bundles: history.bundles };
}

/** The vault file of a bundle. */
export function vaultFile(data: string, sha256: string): string {
  return path.join(data, 'vault', sha256.slice(0, 2), sha256);
}
