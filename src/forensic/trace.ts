/**
 * `traceKey(dir, key)`: every event that touched one state key — wrote it or deleted it,
 * as its module's reducer said in the writes of its evolution — with the value after the
 * event. The answer to "who changed this, when, and to what", from the log alone.
 *
 * How: the owning module is wrapped (`tracingModules`) so that its `evolve` raises a flag
 * when one of its writes names the key; the replay runs with the wrapped module, and after
 * each event that raised the flag the key's value is read from the state. Nothing changes
 * for replays that do not trace: the machine, the modules and the scan are untouched.
 *
 * A write of the same value, and a delete of an absent key, count as touching it: the
 * module wrote it. With `from`, the replay starts at the newest snapshot at or below it
 * that verifies on its own (base.ts); events after `to` are scanned (the chain is still
 * verified) but not reduced.
 */
import type { Logger } from 'pino';
import type { JsonValue } from '../canonical/json.js';
import type { SteleError } from '../errors.js';
import { isSteleError, steleError } from '../errors.js';
import type { AnyModule } from '../modules/module.js';
import { isBuiltin } from '../runtime/replay.js';
import type { MachineOptions } from '../runtime/machine.js';
import { StateMachine } from '../runtime/machine.js';
import { checkDataDir } from '../store/data-dir.js';
import { listSnapshots } from '../store/snapshot-store.js';
import { chooseBase } from './base.js';
import { applyFinding } from './compare.js';
import { scanForensic } from './scan.js';

/** One event that touched the key: the value after it, or `deleted`. */
export interface TraceEntry {
  seq: number;
  ts: string;
  type: string;
  /** The key's value after the event (absent when deleted). */
  value?: JsonValue;
  /** True when the key is absent after the event. */
  deleted?: true;
}

export interface TraceOptions extends MachineOptions {
  /** First seq to list (default 0); the replay starts at the newest verifying snapshot at or below it. */
  from?: number;
  /** Last seq to list (default: the end of the log). */
  to?: number;
  /** Each entry as it is found; when given, `entries` of the result stays empty (long histories stream). */
  onEntry?: (entry: TraceEntry) => void;
  logger?: Logger;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  threads?: number;
  parallelBytesMin?: number;
}

export interface TraceResult {
  key: string;
  /** The entries, in log order (empty when `onEntry` was given). */
  entries: TraceEntry[];
  /** Entries found. */
  count: number;
  /** Where the replay started: genesis (0) or the size of the snapshot it trusted. */
  base: { from: 'genesis' } | { from: 'snapshot'; file: string; size: number };
  /** Log size verified. */
  size: number;
  /** Damage to the log, or an event the modules cannot apply: the trace ends there. */
  fault: SteleError | undefined;
}

/**
 * The modules with the owner of `key` wrapped so that `touched.value` becomes true when
 * its evolve writes `key`. Pure: the wrapped module is the same module in every other way
 * (name, version, events, snapshot codec), so snapshots load into it unchanged.
 */
export function tracingModules(modules: readonly AnyModule[], key: string, touched: { value: boolean }): AnyModule[] {
  return modules.map((m) => {
    if (!m.keyPrefixes.some((p) => key.startsWith(p))) return m;
    const evolve = m.evolve.bind(m);
    return {
      ...m,
      evolve: (state, event, entries) => {
        const next = evolve(state, event, entries);
        for (const w of next.writes) {
          if (w.key === key) {
            touched.value = true;
            break;
          }
        }
        return next;
      },
    };
  });
}

/**
 * Traces `key` through the log of `dir` (see the file header). Throws STELE_E_USAGE for a key
 * no module owns or a `to` before `from`; damage to the log is returned in `fault`.
 */
export async function traceKey(dir: string, key: string, options: TraceOptions = {}): Promise<TraceResult> {
  const paths = checkDataDir(dir, false);
  const probe = new StateMachine(options);
  const prefixes = probe.modules.flatMap((m) => m.keyPrefixes);
  if (!prefixes.some((p) => key.startsWith(p))) {
    throw steleError('STELE_E_USAGE', `no module owns the state key ${JSON.stringify(key)}`, {
      where: { path: 'KEY' },
      expected: `a key starting with one of ${prefixes.join(', ')}`,
      found: key,
      fix: 'name the full state key, e.g. kv:<key>, account:<id>, bundle:<sha256> (stele state dump lists them)',
    });
  }
  const from = options.from ?? 0;
  const to = options.to ?? Number.MAX_SAFE_INTEGER;
  if (to < from) throw steleError('STELE_E_USAGE', `--to ${to} is before --from ${from}`, { fix: 'give --to at or after --from' });
  const touched = { value: false };
  const traced: MachineOptions = { modules: tracingModules(probe.modules, key, touched), registry: probe.registry };
  const choice = options.from === undefined ? undefined : chooseBase(paths, { ...traced, ...(options.logger === undefined ? {} : { logger: options.logger }) }, from, listSnapshots(paths.dir));
  const base = choice?.base;
  const machine = base?.machine ?? new StateMachine(traced);
  const baseSize = machine.size;
  const entries: TraceEntry[] = [];
  let count = 0;
  let fault: SteleError | undefined;
  const scan = await scanForensic(paths, {
    registry: probe.registry,
    builtin: isBuiltin(options),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    wants: (seq) => seq >= baseSize && seq <= to,
    onLine: (checked) => {
      const event = checked.event;
      const seq = event.seq;
      if (fault !== undefined || seq < machine.size || seq > to) return;
      touched.value = false;
      try {
        machine.apply(event);
      } catch (err) {
        if (!isSteleError(err)) throw err;
        const f = applyFinding(seq, err);
        fault = steleError(err.code, f.message, { where: f.where, fix: 'the log holds an event the modules cannot apply: run stele forensic' });
        return;
      }
      if (!touched.value || seq < from) return;
      const value = machine.entries.get(key);
      const entry: TraceEntry = value === undefined ? { seq, ts: event.ts, type: event.type, deleted: true } : { seq, ts: event.ts, type: event.type, value };
      count++;
      if (options.onEntry !== undefined) options.onEntry(entry);
      else entries.push(entry);
    },
  });
  return {
    key,
    entries,
    count,
    base: base === undefined ? { from: 'genesis' } : { from: 'snapshot', file: base.file, size: base.header.size },
    size: scan.verifier.head.size,
    fault: fault ?? scan.fault,
  };
}
