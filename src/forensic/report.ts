/**
 * The forensic report: one JSON document for tools (`format: "stele.forensic"`, version 1)
 * and its Markdown rendering for people. Both lead with the first divergence — where
 * (file, line, seq), what (checkpoint, snapshot, bundle, chain, invariant), which key or
 * field, recorded vs derived — then list the findings in log order (at most
 * `limits.forensicFindingsMax`, with the count of the rest), what was checked and how long
 * each phase took.
 *
 * Pure: no I/O.
 */
import type { SteleError, SteleErrorJson } from '../errors.js';
import { formatWhere, steleError } from '../errors.js';
import type { ForensicChecked } from './auditor.js';
import type { Finding } from './finding.js';

export const forensicReportFormat = { format: 'stele.forensic', version: 1 } as const;

/** What the re-derivation started from. */
export type ForensicBase =
  | { from: 'genesis' }
  | {
      from: 'snapshot';
      /** `snapshots/<name>`. */
      file: string;
      size: number;
      stateRoot: string;
      /** What the snapshot was checked for before it was trusted. */
      verified: string[];
    };

export interface ForensicReport {
  format: typeof forensicReportFormat.format;
  version: typeof forensicReportFormat.version;
  /** True when nothing diverged (warnings allowed). */
  ok: boolean;
  /** STELE_E_DIVERGENCE naming the first divergence, when not ok. */
  error?: SteleErrorJson;
  /** The data directory audited (absolute). */
  dir: string;
  /** `--from SEQ`, when given. */
  requestedFrom?: number;
  base: ForensicBase;
  /** The log as verified: its size (complete lines up to the first fault), root and head. */
  log: { size: number; logRoot: string; headHash: string; tornTailBytes?: number };
  /** The state derived with this code: how far (`size`), its root, and the module versions. */
  derived: { size: number; stateRoot: string; complete: boolean; modules: [string, number][] };
  first: Finding | null;
  findings: Finding[];
  /** Findings not listed (beyond `limits.forensicFindingsMax`). */
  findingsOmitted: number;
  divergences: number;
  warnings: number;
  checked: ForensicChecked;
  /** Milliseconds per phase: choosing the base, the scan (reduce and compare), the vault, total. */
  ms: { base: number; scan: number; bundles: number; total: number };
  /** Threads that verified the log during the scan (1: this thread only; more for large logs). */
  threads: number;
}

/** The error a failed audit carries (and the CLI prints with --report json): the first divergence. */
export function divergenceError(first: Finding, divergences: number): SteleError {
  const more = divergences > 1 ? ` (${divergences} divergences in all)` : '';
  return steleError('STELE_E_DIVERGENCE', `${first.kind}: ${first.message}${more}`, {
    where: first.where,
    ...(first.derived === undefined ? {} : { expected: first.derived }),
    ...(first.recorded === undefined ? {} : { found: first.recorded }),
    fix: fixFor(first),
    detail: { kind: first.kind, ...(first.key === undefined ? {} : { key: first.key }), ...(first.field === undefined ? {} : { field: first.field }), divergences },
  });
}

function fixFor(first: Finding): string {
  switch (first.kind) {
    case 'checkpoint':
      return 'the checkpoint and the log disagree: either the log was rewritten or the reducer changed without a new module version; compare with a backup and with the module versions that wrote the log';
    case 'snapshot':
      return `snapshots are only speed-ups: move ${first.where.file ?? 'the snapshot'} aside and replay from the log (stele snapshot create writes a fresh one)`;
    case 'bundle':
      return 'restore the vault file from a backup (or put the original bytes again); the log records the expected hash and size';
    case 'chain':
      return 'the log itself is damaged here: restore it from a backup; stele verify gives the same first fault';
    case 'invariant':
      return 'the log holds events the modules could never have decided, or the reducer changed: compare with a backup and with the module versions that wrote the log';
    default: {
      const never: never = first.kind;
      return never;
    }
  }
}

/** The report as Markdown: a heading with the verdict, the first divergence, the findings table, counts and timings. */
export function formatMarkdown(report: ForensicReport): string {
  const out: string[] = [];
  out.push('# stele forensic report', '');
  out.push(report.ok ? `**Result: no divergence**${report.warnings > 0 ? ` (${report.warnings} warning${report.warnings === 1 ? '' : 's'})` : ''}` : `**Result: ${report.divergences} divergence${report.divergences === 1 ? '' : 's'}** (${report.error?.code ?? 'STELE_E_DIVERGENCE'})`, '');
  out.push(`- data directory: ${code(report.dir)}`);
  out.push(`- log: ${report.log.size} events, log root ${code(report.log.logRoot)}, head ${code(report.log.headHash)}${report.log.tornTailBytes === undefined ? '' : ` (a torn last line of ${report.log.tornTailBytes} bytes, never acknowledged, not audited)`}`);
  const base = report.base;
  out.push(
    base.from === 'genesis'
      ? `- base: genesis (every event re-derived)${report.requestedFrom === undefined ? '' : `; no snapshot at or below seq ${report.requestedFrom} verified on its own`}`
      : `- base: trusted snapshot ${code(base.file)} (size ${base.size}, state root ${code(base.stateRoot)}; verified: ${base.verified.join(', ')}), requested --from ${report.requestedFrom ?? base.size}`,
  );
  out.push(`- derived: ${report.derived.complete ? 'every event' : `the first ${report.derived.size} events (the derivation stopped)`} with modules ${report.derived.modules.map(([n, v]) => `${n}@${v}`).join(', ')}; state root ${code(report.derived.stateRoot)}`);
  out.push('');
  if (report.first !== null) {
    const f = report.first;
    out.push('## First divergence', '');
    out.push(`- what: **${f.kind}**`);
    out.push(`- where: ${position(f)}`);
    if (f.key !== undefined) out.push(`- key: ${code(f.key)}`);
    if (f.field !== undefined) out.push(`- field: ${code(f.field)}`);
    if (f.recorded !== undefined) out.push(`- recorded: ${code(f.recorded)}`);
    if (f.derived !== undefined) out.push(`- derived: ${code(f.derived)}`);
    out.push(`- ${f.message}`);
    if (report.error?.fix !== undefined) out.push(`- fix: ${report.error.fix}`);
    out.push('');
  }
  out.push(`## Findings (${report.divergences} divergence${report.divergences === 1 ? '' : 's'}, ${report.warnings} warning${report.warnings === 1 ? '' : 's'})`, '');
  if (report.findings.length === 0) {
    out.push('None: every checkpoint, snapshot and bundle agrees with the state derived from the log.', '');
  } else {
    out.push('| # | severity | what | where | key | field | recorded | derived | message |', '|---|---|---|---|---|---|---|---|---|');
    report.findings.forEach((f, i) => {
      out.push(`| ${i + 1} | ${f.severity} | ${f.kind} | ${cell(position(f))} | ${cell(f.key)} | ${cell(f.field)} | ${cell(f.recorded)} | ${cell(f.derived)} | ${cell(f.message)} |`);
    });
    if (report.findingsOmitted > 0) out.push('', `… and ${report.findingsOmitted} more not listed (limits.forensicFindingsMax).`);
    out.push('');
  }
  const c = report.checked;
  out.push('## Checked', '', '| what | count |', '|---|---|');
  const rows: [string, number][] = [
    ['events verified (chain, canonical form, schema)', c.events],
    ['events re-derived', c.eventsReduced],
    ['checkpoints', c.checkpoints],
    ['checkpoint log roots compared', c.checkpointLogRoots],
    ['checkpoint state roots and invariants compared', c.checkpointStateRoots],
    ['snapshots on disk', c.snapshots],
    ['snapshots compared with the derived state', c.snapshotsCompared],
    ['snapshots not compared (base, before it, or beyond the derivation)', c.snapshotsSkipped],
    ['bundles checked', c.bundles],
    ['vault files', c.vaultFiles],
  ];
  for (const [what, n] of rows) out.push(`| ${what} | ${n} |`);
  out.push('', '## Timings', '', `The log was verified by ${report.threads} thread${report.threads === 1 ? '' : 's'}.`, '', '| phase | ms |', '|---|---|');
  for (const [phase, ms] of Object.entries(report.ms)) out.push(`| ${phase} | ${ms} |`);
  return out.join('\n') + '\n';
}

/** `snapshots/0000000000000040.ndjson line 12 (seq 39)`, or `-` for a finding with no place. */
function position(f: Finding): string {
  const text = formatWhere({ ...f.where, path: undefined });
  return text === '' ? '-' : text;
}

function code(text: string): string {
  // A code span that holds backticks needs a longer fence (CommonMark 6.1).
  const fence = text.includes('`') ? '``' : '`';
  return `${fence}${text.includes('`') ? ` ${text} ` : text}${fence}`;
}

/** A Markdown table cell: `|` escaped, newlines folded, empty as `-`. */
function cell(text: string | undefined): string {
  if (text === undefined || text === '') return '-';
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
