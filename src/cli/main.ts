#!/usr/bin/env node
/**
 * The `stele` command line. Thin shell: every command parses its arguments, calls the
 * library, and prints the result (JSON with --json) or a human error with its exit code.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { steleError } from '../errors.js';
import { createLogger } from '../logger.js';
import { initDataDir } from '../store/data-dir.js';
import { openWriter } from '../log/open.js';
import { readEvents, readStatus, verifyLog, proveEvent, proveLogConsistency } from '../log/read.js';
import type { VerifyReport } from '../log/read.js';
import type { ErrorCode } from '../errors.js';
import { exitCodes, humanError, printJson, progressBar, reportError } from './output.js';
import { appendFromArgs, appendFromStdin } from './append.js';
import { checkProofFile } from './check-proof.js';
import { writeSchemas } from './schemas.js';
import { isSteleError } from '../errors.js';

const program = new Command();
const defaultData = './data';

function intArg(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} is too large`);
    return n;
  };
}

let jsonMode = false;

/** Runs a command body, mapping errors to exit codes. */
function run<A extends unknown[]>(body: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    const opts = args.find((a) => a !== null && typeof a === 'object' && !(a instanceof Command)) as { json?: boolean } | undefined;
    jsonMode = opts?.json === true;
    try {
      const code = await body(...args);
      process.exitCode = code ?? exitCodes.ok;
    } catch (err) {
      process.exitCode = reportError(err, jsonMode);
    }
  };
}

program
  .name('stele')
  .description('Verifiable, event-sourced, append-only log: hash-chained canonical NDJSON events with an RFC 6962 log root.')
  .version('0.1.0')
  .option('--data <dir>', 'data directory', defaultData)
  .showHelpAfterError()
  .exitOverride();

function dataDir(): string {
  return program.opts<{ data: string }>().data;
}

program
  .command('init')
  .description('create a data directory (idempotent on an existing one)')
  .option('--json', 'machine output')
  .action(
    run((opts: { json?: boolean }) => {
      const { paths, created } = initDataDir(dataDir());
      if (opts.json === true) printJson({ dir: paths.dir, created });
      else process.stdout.write(created ? `initialised ${paths.dir}\n` : `${paths.dir} is already a stele data directory\n`);
    }),
  );

program
  .command('append')
  .description('append one event (TYPE JSON), or NDJSON of {type, v?, data, meta?} from stdin; prints one ack per event as NDJSON')
  .argument('[type]', 'event type, e.g. kv.put')
  .argument('[json]', 'the payload (data) as JSON')
  .option('--v <n>', 'schema version of the type (default: latest)', intArg('--v'))
  .option('--meta <json>', 'meta object as JSON (actor, request id…)')
  .option('--stdin', 'read NDJSON events from stdin; all are written or none')
  .option('--json', 'errors as JSON on stdout (acks are always NDJSON)')
  .action(
    run(async (type: string | undefined, json: string | undefined, opts: { v?: number; meta?: string; stdin?: boolean; json?: boolean }) => {
      const logger = createLogger({ level: process.env.STELE_LOG_LEVEL ?? 'warn' });
      if (opts.stdin === true) {
        if (type !== undefined) throw usage('give either TYPE JSON or --stdin, not both');
        return appendFromStdin(dataDir(), logger);
      }
      if (type === undefined || json === undefined) throw usage('append needs TYPE and JSON (or --stdin)');
      return appendFromArgs(dataDir(), logger, type, json, opts.v, opts.meta);
    }),
  );

program
  .command('status')
  .description('size, log root and head hash of the log')
  .option('--json', 'machine output')
  .action(
    run(async (opts: { json?: boolean }) => {
      const status = await readStatus(dataDir());
      if (opts.json === true) printJson(status);
      else {
        process.stdout.write(`size      ${status.size}\nlogRoot   ${status.logRoot}\nheadHash  ${status.headHash}\nlastTs    ${status.lastTs ?? '-'}\n`);
        if (status.tornTail !== undefined) process.stdout.write(`warning   torn last line of ${status.tornTail.bytes} bytes (the writer quarantines it on open)\n`);
      }
    }),
  );

program
  .command('verify')
  .description('verify the whole log: canonical form, schema, seq, prev chain, ts order, tree file; prints the log root')
  .option('--json', 'machine output')
  .option('--threads <n>', 'worker threads (default: one per core, up to 4, for logs over 16 MiB; 1 = this thread only)', intArg('--threads'))
  .action(
    run(async (opts: { json?: boolean; threads?: number }) => {
      const bar = progressBar('verify', opts.json !== true);
      const started = process.hrtime.bigint();
      let report: VerifyReport;
      try {
        report = await verifyLog(dataDir(), { onProgress: bar.update, ...(opts.threads === undefined ? {} : { threads: Math.max(1, opts.threads) }) });
      } finally {
        bar.stop();
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (opts.json === true) printJson(report);
      else if (report.ok) {
        process.stdout.write(
          `ok: ${report.size} events verified in ${seconds.toFixed(2)} s (${Math.round(report.size / Math.max(seconds, 1e-9))} events/s, ${report.threads} thread${report.threads === 1 ? '' : 's'})\nlogRoot   ${report.logRoot}\nheadHash  ${report.headHash}\n`,
        );
        if (report.tornTail !== undefined) process.stdout.write(`warning: torn last line of ${report.tornTail.bytes} bytes at byte ${report.tornTail.offset} (never acknowledged; the writer quarantines it on open)\n`);
        if (report.treeFile !== 'ok') process.stdout.write(`note: the derived tree file is ${report.treeFile}; the writer rebuilds it on open\n`);
      } else {
        const f = report.fault!;
        process.stdout.write(`FAILED after ${report.size} good events\n`);
        process.stderr.write(
          humanError(
            steleError(f.code as ErrorCode, f.message, {
              where: { file: 'events.ndjson', ...(f.line === undefined ? {} : { line: f.line }), ...(f.seq === undefined ? {} : { seq: f.seq }), ...(f.offset === undefined ? {} : { offset: f.offset }) },
              ...(f.expected === undefined ? {} : { expected: f.expected }),
              ...(f.found === undefined ? {} : { found: f.found }),
              ...(f.fix === undefined ? {} : { fix: f.fix }),
            }),
          ),
        );
      }
      return report.ok ? exitCodes.ok : exitCodes.verifyFailed;
    }),
  );

program
  .command('log')
  .description('list events with their derived hash')
  .option('--from <seq>', 'first seq', intArg('--from'))
  .option('--limit <n>', 'at most N events', intArg('--limit'))
  .option('--type <type>', 'only events of this type')
  .option('--json', 'NDJSON output, one event per line')
  .action(
    run((opts: { from?: number; limit?: number; type?: string; json?: boolean }) => {
      const query = { ...(opts.from === undefined ? {} : { from: opts.from }), ...(opts.limit === undefined ? {} : { limit: opts.limit }), ...(opts.type === undefined ? {} : { type: opts.type }) };
      for (const event of readEvents(dataDir(), query)) {
        if (opts.json === true) printJson(event);
        else process.stdout.write(`${event.seq}\t${event.ts}\t${event.type}@${event.v}\t${event.hash.slice(0, 16)}…\t${JSON.stringify(event.data)}\n`);
      }
    }),
  );

program
  .command('prove')
  .description('inclusion proof of event SEQ in the log of size N (default: current size)')
  .argument('<seq>', 'event seq', intArg('SEQ'))
  .option('--size <n>', 'tree size to prove against', intArg('--size'))
  .option('--json', 'machine output')
  .action(
    run(async (seq: number, opts: { size?: number; json?: boolean }) => {
      const proof = await proveEvent(dataDir(), seq, opts.size);
      if (opts.json === true) printJson(proof);
      else process.stdout.write(JSON.stringify(proof, null, 2) + '\n');
    }),
  );

program
  .command('consistency')
  .description('consistency proof between the log of size M and the log of size N')
  .argument('<m>', 'first size', intArg('M'))
  .argument('[n]', 'second size (default: current size)', intArg('N'))
  .option('--json', 'machine output')
  .action(
    run(async (m: number, n: number | undefined, opts: { json?: boolean }) => {
      const proof = await proveLogConsistency(dataDir(), m, n);
      if (opts.json === true) printJson(proof);
      else process.stdout.write(JSON.stringify(proof, null, 2) + '\n');
    }),
  );

program
  .command('check-proof')
  .description('verify an inclusion or consistency proof file offline (no log needed); "-" reads stdin')
  .argument('<file>', 'proof file written by stele prove / stele consistency')
  .option('--json', 'machine output')
  .action(run((file: string, opts: { json?: boolean }) => checkProofFile(file, opts.json === true)));

program
  .command('schemas')
  .description('write the JSON Schemas of the event envelope and every registered (type, v)')
  .option('--out <dir>', 'directory to write into', 'schemas')
  .option('--check', 'exit 1 if the files differ from what would be written')
  .action(run((opts: { out: string; check?: boolean }) => writeSchemas(opts.out, opts.check === true)));

program
  .command('start')
  .description('open ./data (creating it) as the writer: recover a torn tail, repair derived files, print the status')
  .option('--json', 'machine output')
  .action(
    run(async (opts: { json?: boolean }) => {
      const logger = createLogger({ level: process.env.STELE_LOG_LEVEL ?? 'info' });
      const { paths, created } = initDataDir(dataDir());
      if (created) logger.info({ dir: paths.dir }, 'initialised data directory');
      const bar = progressBar('replay', opts.json !== true);
      const opened = await openWriter(paths.dir, { logger, onProgress: bar.update }).finally(() => bar.stop());
      const status = opened.writer.status();
      await opened.close();
      if (opts.json === true) printJson({ dir: paths.dir, ...status, recovered: opened.recovered.length });
      else {
        process.stdout.write(`stele data directory ${paths.dir}\nsize      ${status.size}\nlogRoot   ${status.logRoot}\nheadHash  ${status.headHash}\n`);
        process.stdout.write(`\nAppend:  npx stele append kv.put '{"key":"greeting","value":"hello"}'\nVerify:  npx stele verify\n`);
      }
    }),
  );

function usage(message: string) {
  return steleError('STELE_E_USAGE', message, { fix: 'see stele --help' });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed its message; help and version are not errors.
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : exitCodes.usage;
  } else if (isSteleError(err)) {
    process.exitCode = reportError(err, jsonMode);
  } else {
    process.exitCode = reportError(err, jsonMode);
  }
}

