/**
 * `stele forensic`, `stele trace KEY`, `stele explain account ID` (issue #5): checking a data
 * directory from its files alone. Thin: each parses its flags, calls src/forensic and
 * prints. Registered on the program by `registerForensicCommands`, so main.ts holds one line.
 *
 * Exit codes: 0 when everything agrees; 1 on a divergence (STELE_E_DIVERGENCE) or damage to
 * the log; 2 for usage errors.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Logger } from 'pino';
import { formatWhere, isSteleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { forensicAudit } from '../forensic/audit.js';
import { explainAccount } from '../forensic/explain.js';
import type { ExplainChange } from '../forensic/explain.js';
import { formatMarkdown } from '../forensic/report.js';
import type { ForensicReport } from '../forensic/report.js';
import { traceKey } from '../forensic/trace.js';
import type { TraceEntry } from '../forensic/trace.js';
import { ioError } from '../store/file-store.js';
import type { EngineFlags } from './engine.js';
import { exitCodes, humanError, printJson, progressBar, reportError } from './output.js';

/** What the commands need from main.ts: the global flags and its way of running an action. */
export interface CliContext {
  dataDir: () => string;
  flags: () => EngineFlags;
  logger: (level?: string) => Logger;
  run: <A extends unknown[]>(body: (...args: A) => Promise<number | void> | number | void) => (...args: A) => Promise<void>;
  intArg: (name: string) => (value: string) => number;
}

export function registerForensicCommands(program: Command, ctx: CliContext): void {
  program
    .command('forensic')
    .description('re-derive everything from the log with this code and compare it with every checkpoint, snapshot and vault bundle on disk; reports every divergence, the first one exactly (exit 1 when anything diverges)')
    .option('--from <seq>', 're-derive only from the newest snapshot at or below SEQ that verifies on its own', ctx.intArg('--from'))
    .addOption(new Option('--report <format>', 'md for people, json for tools').choices(['md', 'json']).default('md'))
    .option('--out <file>', 'write the report to FILE instead of stdout')
    .action(ctx.run((opts: { from?: number; report: 'md' | 'json'; out?: string }) => forensicCommand(ctx.dataDir(), ctx.logger(), opts)));

  program
    .command('trace')
    .description('every event that wrote or deleted the state KEY (kv:<key>, account:<id>, bundle:<sha256>, …), with the value after it')
    .argument('<key>', 'state key')
    .option('--from <seq>', 'first seq to list (the replay starts at the newest verifying snapshot at or below it)', ctx.intArg('--from'))
    .option('--to <seq>', 'last seq to list', ctx.intArg('--to'))
    .option('--json', 'NDJSON, one event per line')
    .action(ctx.run((key: string, opts: { from?: number; to?: number; json?: boolean }) => traceCommand(ctx.dataDir(), ctx.logger(), key, opts)));

  const explain = program.command('explain').description('re-derive a value event by event and compare it with the state');
  explain
    .command('account')
    .description("the account's balance derived from zero event by event from the log, each change, then the derived balance vs the state's (exit 1 when they differ)")
    .argument('<id>', 'account id')
    .option('--json', 'NDJSON: one line per change, then a summary line')
    .action(ctx.run((id: string, opts: { json?: boolean }) => explainCommand(ctx.dataDir(), ctx.logger(), ctx.flags(), id, opts.json === true)));
}

export async function forensicCommand(dir: string, logger: Logger, opts: { from?: number; report: 'md' | 'json'; out?: string }): Promise<number> {
  const json = opts.report === 'json';
  try {
    // The report is printed at the end: the bar never mixes with it.
    const bar = progressBar('forensic', true);
    const report = await forensicAudit(dir, { logger, onProgress: bar.update, ...(opts.from === undefined ? {} : { from: opts.from }) }).finally(() => bar.stop());
    const text = json ? JSON.stringify(report) + '\n' : formatMarkdown(report);
    if (opts.out === undefined) {
      process.stdout.write(text);
    } else {
      try {
        fs.writeFileSync(opts.out, text);
      } catch (err) {
        throw ioError(err, opts.out, 'write the report');
      }
      process.stdout.write(`wrote ${opts.out}: ${summary(report)}\n`);
    }
    return report.ok ? exitCodes.ok : exitCodes.verifyFailed;
  } catch (err) {
    // With --report json every outcome is JSON on stdout, errors included.
    if (json && isSteleError(err)) return reportError(err, true);
    throw err;
  }
}

function summary(report: ForensicReport): string {
  const first = report.first;
  if (first === null) return `no divergence (${report.checked.events} events, ${report.checked.checkpoints} checkpoints, ${report.checked.snapshots} snapshots, ${report.checked.bundles} bundles)`;
  return `${report.divergences} divergence${report.divergences === 1 ? '' : 's'}; the first: ${first.kind} at ${formatWhere(first.where)}${first.key === undefined ? '' : ` key ${first.key}`}`;
}

export async function traceCommand(dir: string, logger: Logger, key: string, opts: { from?: number; to?: number; json?: boolean }): Promise<number> {
  const json = opts.json === true;
  const print = (e: TraceEntry): void => {
    if (json) printJson(e);
    else process.stdout.write(`${e.seq}\t${e.ts}\t${e.type}\t${e.deleted === true ? 'deleted' : JSON.stringify(e.value)}\n`);
  };
  // Entries stream to stdout as they are found: a bar only when stdout is not the terminal.
  const bar = progressBar('trace', !json && process.stdout.isTTY !== true);
  const result = await traceKey(dir, key, {
    logger,
    onEntry: print,
    onProgress: bar.update,
    ...(opts.from === undefined ? {} : { from: opts.from }),
    ...(opts.to === undefined ? {} : { to: opts.to }),
  }).finally(() => bar.stop());
  if (!json && result.count === 0) process.stdout.write(`no event touched ${key}${opts.from === undefined && opts.to === undefined ? '' : ' in the range'}\n`);
  return damaged(result.fault, 'the trace ends there');
}

export async function explainCommand(dir: string, logger: Logger, flags: EngineFlags, id: string, json: boolean): Promise<number> {
  // The header comes with the first change, so an unknown account prints nothing but its error.
  let header = json;
  const print = (c: ExplainChange): void => {
    if (!header) process.stdout.write('seq\tts\ttype\tkind\tdelta\tbalance\n');
    header = true;
    if (json) printJson(c);
    else process.stdout.write(`${c.seq}\t${c.ts}\t${c.type}\t${c.kind}\t${c.delta.startsWith('-') ? c.delta : `+${c.delta}`}\t${c.balance}\n`);
  };
  const bar = progressBar('explain', !json && process.stdout.isTTY !== true);
  const result = await explainAccount(dir, id, { logger, snapshot: flags.snapshot, onChange: print, onProgress: bar.update }).finally(() => bar.stop());
  if (json) {
    printJson({
      account: result.account,
      changes: result.count,
      derivedBalance: result.derivedBalance,
      stateBalance: result.stateBalance,
      ok: result.ok,
      size: result.size,
      stateRoot: result.stateRoot,
      snapshot: result.snapshot,
      ...(result.error === undefined ? {} : { error: result.error.toJSON() }),
      ...(result.fault === undefined ? {} : { fault: result.fault.toJSON() }),
    });
  } else {
    process.stdout.write(`derived balance\t${result.derivedBalance}\t(${result.count} changes from zero)\n`);
    process.stdout.write(`state balance\t${result.stateBalance ?? '(no such account)'}\t(${result.snapshot === null ? 'derived from genesis' : `from ${result.snapshot.file} and the events after it`})\n`);
    if (result.error === undefined) process.stdout.write('equal\n');
    else process.stderr.write(humanError(result.error));
  }
  if (result.error !== undefined) return exitCodes.verifyFailed;
  return damaged(result.fault, 'both balances stop there');
}

/** A fault of the log (or an event the modules cannot apply): warned on stderr, exit 1; 0 without one. */
function damaged(fault: SteleError | undefined, consequence: string): number {
  if (fault === undefined) return exitCodes.ok;
  const where = formatWhere(fault.where);
  process.stderr.write(`stele: warning: the log is damaged (${fault.code}: ${fault.message}${where === '' ? '' : ` at ${where}`}); ${consequence}. Run stele forensic.\n`);
  return exitCodes.verifyFailed;
}
