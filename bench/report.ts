/**
 * Presenting benchmark results: a side-by-side table per scenario (one row per contender,
 * one column per unit, baselines marked, notes as numbered footnotes), for the terminal and
 * for the generated docs/benchmarks.md. Everything shown is computed from `BenchResult`s;
 * nothing here holds a figure of its own.
 */
import type { BenchResult, BenchTarget } from './result.js';

export interface ScenarioTable {
  scenario: string;
  units: string[];
  rows: { name: string; baseline: boolean; values: (number | undefined)[]; noteRefs: number[] }[];
  notes: string[];
}

/** Groups results by scenario (in first-seen order) and pivots each into rows × units. */
export function tabulate(results: readonly BenchResult[]): ScenarioTable[] {
  const tables = new Map<string, ScenarioTable>();
  for (const r of results) {
    let table = tables.get(r.scenario);
    if (table === undefined) {
      table = { scenario: r.scenario, units: [], rows: [], notes: [] };
      tables.set(r.scenario, table);
    }
    if (!table.units.includes(r.unit)) table.units.push(r.unit);
    let row = table.rows.find((x) => x.name === r.name);
    if (row === undefined) {
      row = { name: r.name, baseline: r.baseline === true, values: [], noteRefs: [] };
      table.rows.push(row);
    }
    row.values[table.units.indexOf(r.unit)] = r.value;
    if (r.note !== undefined) {
      let ref = table.notes.indexOf(r.note) + 1;
      if (ref === 0) ref = table.notes.push(r.note);
      if (!row.noteRefs.includes(ref)) row.noteRefs.push(ref);
    }
  }
  return [...tables.values()];
}

function formatValue(value: number | undefined): string {
  if (value === undefined) return '–';
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 2 : value < 100 ? 1 : 0 });
}

function rowLabel(row: ScenarioTable['rows'][number]): string {
  return row.noteRefs.length === 0 ? row.name : `${row.name} [${row.noteRefs.join(', ')}]`;
}

/** The terminal rendering: aligned columns, baselines marked "(baseline)". */
export function formatTables(results: readonly BenchResult[]): string {
  const out: string[] = [];
  for (const table of tabulate(results)) {
    const labels = table.rows.map((row) => `${rowLabel(row)}${row.baseline ? '  (baseline)' : ''}`);
    const nameWidth = Math.max(...labels.map((l) => l.length));
    const widths = table.units.map((unit, i) => Math.max(unit.length, ...table.rows.map((row) => formatValue(row.values[i]).length)));
    out.push(table.scenario);
    out.push(`  ${''.padEnd(nameWidth)}  ${table.units.map((u, i) => u.padStart(widths[i]!)).join('  ')}`);
    table.rows.forEach((row, r) => {
      out.push(`  ${labels[r]!.padEnd(nameWidth)}  ${row.values.length === 0 ? '' : table.units.map((_, i) => formatValue(row.values[i]).padStart(widths[i]!)).join('  ')}`);
    });
    table.notes.forEach((note, i) => out.push(`  [${i + 1}] ${note}`));
    out.push('');
  }
  return out.join('\n');
}

export function formatTargets(targets: readonly BenchTarget[]): string {
  return targets.map((t) => `  ${t.met ? 'MET    ' : 'NOT MET'}  ${t.target}: ${t.measured}`).join('\n');
}

/** Prints a scenario's results (standalone runs of one bench file). */
export function printResults(results: readonly BenchResult[], targets: readonly BenchTarget[] = []): void {
  console.log(formatTables(results));
  if (targets.length > 0) console.log(`targets\n${formatTargets(targets)}\n`);
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The Markdown rendering of one scenario's table and footnotes. */
export function markdownTable(table: ScenarioTable): string {
  const out: string[] = [];
  out.push(`| | ${table.units.map(escapeCell).join(' | ')} |`);
  out.push(`|---|${table.units.map(() => '---:').join('|')}|`);
  for (const row of table.rows) {
    const label = `${escapeCell(rowLabel(row))}${row.baseline ? ' *(baseline)*' : ''}`;
    out.push(`| ${label} | ${table.units.map((_, i) => formatValue(row.values[i])).join(' | ')} |`);
  }
  if (table.notes.length > 0) {
    out.push('');
    table.notes.forEach((note, i) => out.push(`${i + 1}. ${note}`));
  }
  return out.join('\n');
}
