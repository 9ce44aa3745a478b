/**
 * `forensicAudit(dir)`: re-derives a data directory from its log with the code at hand and
 * compares every recorded outcome on disk with what that derivation gives — checkpoints,
 * snapshots, vault bundles — recording every difference instead of stopping at the first
 * (DESIGN.md §4, §5, §7). For someone who does not trust the operator: it reads nothing but
 * the files, writes nothing, takes no lock.
 *
 * The shell of src/forensic: it lists and reads files (snapshots, vault) and runs the scan;
 * the comparisons are the pure functions of compare.ts, driven by the auditor.
 *
 * Order of work: choose the base (genesis, or with `from` the newest snapshot at or below it
 * that verifies on its own), scan the whole log once (verify every line, reduce, compare
 * each checkpoint and each snapshot as the derivation reaches it), then check the vault
 * against the derived `bundle:` records. A fault of the log itself ends the scan and is a
 * finding; the vault is then checked against the records derived so far, without orphan
 * detection (records after the fault are unknown).
 *
 * `auditVault` is also how `stele backup` / `restore` check the bundles of a copy (src/backup).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { JsonObject } from '../canonical/json.js';
import { isSteleError } from '../errors.js';
import { isHash64 } from '../hash/hex.js';
import { isCheckpointLine } from '../log/scan-parallel.js';
import { isBuiltin } from '../runtime/replay.js';
import type { MachineOptions } from '../runtime/machine.js';
import { StateMachine } from '../runtime/machine.js';
import { checkDataDir } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { listSnapshots, readSnapshot } from '../store/snapshot-store.js';
import { VaultStore } from '../store/vault-store.js';
import { ioError } from '../store/file-store.js';
import { ForensicAuditor, emptyChecked } from './auditor.js';
import type { ForensicChecked, PendingSnapshot } from './auditor.js';
import type { TrustedBase } from './base.js';
import { chooseBase, snapshotLabel } from './base.js';
import type { BundleFile, BundleRecord } from './compare.js';
import { compareBundle, strayVaultFile } from './compare.js';
import { FindingList } from './finding.js';
import type { ForensicBase, ForensicReport } from './report.js';
import { divergenceError, forensicReportFormat } from './report.js';
import { scanForensic } from './scan.js';

export interface ForensicOptions extends MachineOptions {
  /**
   * Re-derive only from the newest snapshot at or below this seq that verifies on its own
   * (default: from genesis). Checkpoints before it are checked for their log roots only.
   */
  from?: number;
  logger?: Logger;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Worker threads verifying the log (default: one per core, up to 4; 1 = this thread only). */
  threads?: number;
  /** Smallest log verified with worker threads (default 16 MiB). */
  parallelBytesMin?: number;
}

/** What chooseBase checks before a snapshot is trusted as a base. */
const baseChecks = ['trailer (line count and SHA-256)', 'canonical lines and header', 'module versions', 'state root recomputed from its entries', 'head hash against the log'];

/**
 * Audits the data directory `dir` (see the file header). Never throws for a divergence: the
 * report says `ok: false` with STELE_E_DIVERGENCE. Throws only when the directory cannot be
 * read at all (STELE_E_DATA_DIR_MISSING, STELE_E_IO…).
 */
export async function forensicAudit(dir: string, options: ForensicOptions = {}): Promise<ForensicReport> {
  const started = performance.now();
  const paths = checkDataDir(dir, false);
  const findings = new FindingList();
  const checked = emptyChecked();
  const snapshots = listSnapshots(paths.dir);
  checked.snapshots = snapshots.length;

  let base: TrustedBase | undefined;
  const rejected = new Set<number>();
  if (options.from !== undefined) {
    const choice = chooseBase(paths, options, options.from, snapshots);
    base = choice.base;
    for (const r of choice.rejected) {
      findings.add(r.finding);
      rejected.add(r.size);
    }
  }
  const baseMs = performance.now() - started;
  const machine = base?.machine ?? new StateMachine(options);
  const baseSize = base?.header.size ?? -1;
  const pending: PendingSnapshot[] = [];
  for (const s of snapshots) {
    if (s.size > baseSize && !rejected.has(s.size)) pending.push({ file: s.file, label: snapshotLabel(s.file), size: s.size });
    else if (!rejected.has(s.size)) checked.snapshotsSkipped++;
  }
  const prefixes = machine.modules.flatMap((m) => m.keyPrefixes);
  const auditor = new ForensicAuditor(machine, base, pending, (p) => readSnapshot(p.file, prefixes), findings, checked);

  const scanStarted = performance.now();
  auditor.start();
  const scan = await scanForensic(paths, {
    registry: machine.registry,
    builtin: isBuiltin(options),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    // From a base, the lines before it are verified (by the workers) but only checkpoints are parsed.
    wants: base === undefined ? () => true : (seq, bytes) => seq >= baseSize - 1 || isCheckpointLine(bytes),
    onLine: (line, frontier) => auditor.line(line, frontier),
  });
  const head = scan.verifier.head;
  // Every line up to the head was verified, also those the parallel scan did not hand over.
  checked.events = head.size;
  auditor.finish(scan.fault, head.size);
  const scanMs = performance.now() - scanStarted;

  const bundlesStarted = performance.now();
  const complete = scan.fault === undefined && auditor.reducing;
  if (machine.modules.some((m) => m.keyPrefixes.includes('bundle:'))) await auditVault(paths, machine, complete, findings, checked);
  const bundlesMs = performance.now() - bundlesStarted;

  const { findings: listed, omitted } = findings.list();
  const first = findings.first;
  const reportBase: ForensicBase = base === undefined ? { from: 'genesis' } : { from: 'snapshot', file: base.file, size: base.header.size, stateRoot: base.header.stateRoot, verified: baseChecks };
  const report: ForensicReport = {
    format: forensicReportFormat.format,
    version: forensicReportFormat.version,
    ok: first === undefined,
    ...(first === undefined ? {} : { error: divergenceError(first, findings.divergences).toJSON() }),
    dir: paths.dir,
    ...(options.from === undefined ? {} : { requestedFrom: options.from }),
    base: reportBase,
    log: { size: head.size, logRoot: scan.verifier.logRoot(), headHash: head.headHash, ...(scan.tornTail === undefined ? {} : { tornTailBytes: scan.tornTail.bytes }) },
    derived: { size: machine.size, stateRoot: machine.stateRoot(), complete, modules: machine.modules.map((m) => [m.name, m.version]) },
    first: first ?? null,
    findings: listed,
    findingsOmitted: omitted,
    divergences: findings.divergences,
    warnings: findings.warnings,
    checked,
    ms: { base: round(baseMs), scan: round(scanMs), bundles: round(bundlesMs), total: round(performance.now() - started) },
    threads: scan.threads,
  };
  options.logger?.info({ ok: report.ok, divergences: report.divergences, warnings: report.warnings, checked, ms: report.ms }, 'forensic audit finished');
  return report;
}

/** Vault files are `vault/<ab>/<sha256>` with `ab` the hash's first two characters (src/store/vault-store.ts). */
const vaultSubdirPattern = /^[0-9a-f]{2}$/;
const vaultTempPattern = /^[0-9a-f]{64}\.tmp-\d+-\d+$/;

/**
 * Checks every derived `bundle:` record against its vault file (re-hashed), and, when the
 * derivation reached the end of the log (`complete`), lists the vault's files no record
 * names. Missing or altered files are divergences; unnamed files are warnings (a put whose
 * record never reached the log leaves one, harmlessly: src/modules/vault).
 */
export async function auditVault(paths: DataPaths, machine: StateMachine, complete: boolean, findings: FindingList, checked: ForensicChecked): Promise<void> {
  const vault = new VaultStore(paths.dir, { readOnly: true });
  const recorded = new Set<string>();
  for (const [key, value] of machine.entries.list('bundle:')) {
    const sha256 = key.slice('bundle:'.length);
    const record = value as JsonObject;
    const bundle: BundleRecord = { sha256, size: record['size'] as number, seq: record['seq'] as number };
    recorded.add(sha256);
    checked.bundles++;
    const label = path.relative(paths.dir, vault.pathOf(sha256));
    let file: BundleFile | undefined;
    try {
      const v = await vault.verify(sha256);
      file = { file: label, size: v.size, sha256: v.ok ? sha256 : v.found };
    } catch (err) {
      if (!(isSteleError(err) && err.code === 'STELE_E_NOT_FOUND')) throw err;
      file = undefined;
    }
    for (const f of compareBundle(bundle, file, label)) findings.add(f);
  }
  for (const { file, name, subdir } of listVault(paths.vaultDir)) {
    checked.vaultFiles++;
    if (!complete) continue;
    const label = path.relative(paths.dir, file);
    if (subdir === undefined) findings.add(strayVaultFile(label, undefined, 'not a vault subdirectory (vault/<two hex characters>/)'));
    else if (vaultTempPattern.test(name)) findings.add(strayVaultFile(label, undefined, 'the temp file of an interrupted put (the writer removes it when it opens)'));
    else if (!isHash64(name)) findings.add(strayVaultFile(label, undefined, 'not a bundle file (its name is not a SHA-256)'));
    else if (!name.startsWith(subdir)) findings.add(strayVaultFile(label, name, `a bundle file in the wrong subdirectory (vault/${name.slice(0, 2)}/ is where it belongs)`));
    else if (!recorded.has(name)) findings.add(strayVaultFile(label, name, 'no bundle record in the derived state names this file (bytes stored by a put whose record never reached the log, or a record lost from the log)'));
  }
}

/** Every entry of the vault directory, one level of subdirectories deep; none when there is no vault. */
function listVault(dir: string): { file: string; name: string; subdir: string | undefined }[] {
  const out: { file: string; name: string; subdir: string | undefined }[] = [];
  let top: fs.Dirent[];
  try {
    top = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw ioError(err, dir, 'list');
  }
  for (const entry of top.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const file = path.join(dir, entry.name);
    if (!entry.isDirectory() || !vaultSubdirPattern.test(entry.name)) {
      out.push({ file, name: entry.name, subdir: undefined });
      continue;
    }
    let names: string[];
    try {
      names = fs.readdirSync(file);
    } catch (err) {
      throw ioError(err, file, 'list');
    }
    for (const name of names.sort()) out.push({ file: path.join(file, name), name, subdir: entry.name });
  }
  return out;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
