/**
 * The benchmark runner (issue #2): runs every scenario of bench/ (or those named on the
 * command line), each in its own child process so that one scenario's heap, JIT state and
 * open files cannot skew the next, prints their results side by side with the targets, and
 * generates docs/benchmarks.md from them.
 *
 *   npm run bench                                  # all scenarios, writes docs/benchmarks.md
 *   STELE_BENCH_QUICK=1 npm run bench              # ~30 s smoke run, writes no document
 *   node dist/bench/run.js append verify           # some scenarios, writes no document
 *   node dist/bench/run.js --docs FILE [names…]    # write the document to FILE in any mode
 *
 * The document is written only by a full run of every scenario (or when `--docs` asks), so
 * that docs/benchmarks.md never mixes figures of different runs or of a quick run.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSystemOf, isQuick, machineInfo, repoRoot, scratchRoot, sourceRevision } from './environment.js';
import type { MachineInfo } from './environment.js';
import { formatTables, formatTargets, markdownTable, tabulate } from './report.js';
import type { BenchResult, BenchScenario, BenchTarget } from './result.js';

/** Every scenario, in the order they run: the figures first. */
const scenarios = {
  append: () => import('./append.js'),
  verify: () => import('./verify.js'),
  replay: () => import('./replay.js'),
  canonical: () => import('./canonical.js'),
  merkle: () => import('./merkle.js'),
  state: () => import('./state.js'),
  http: () => import('./http.js'),
  proofs: () => import('./proofs.js'),
  'time-travel': () => import('./time-travel.js'),
} satisfies Record<string, () => Promise<BenchScenario>>;

type ScenarioName = keyof typeof scenarios;
const scenarioNames = Object.keys(scenarios) as ScenarioName[];
const defaultDocsFile = path.join(repoRoot, 'docs', 'benchmarks.md');
const command = 'npm run bench';

/** What a child process sends back for its scenario. */
interface ScenarioOutcome {
  name: ScenarioName;
  about: string | undefined;
  results: BenchResult[];
  targets: BenchTarget[];
  seconds: number;
  error?: string;
}

function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(scenarios, name);
}

/** Child mode: runs one scenario and sends its outcome to the parent. */
async function runChild(name: ScenarioName): Promise<void> {
  const started = performance.now();
  const mod: BenchScenario = await scenarios[name]();
  const results = await mod.run();
  const outcome: ScenarioOutcome = { name, about: mod.about, results, targets: mod.targets?.(results) ?? [], seconds: (performance.now() - started) / 1000 };
  await new Promise<void>((resolve, reject) => process.send!(outcome, (err: Error | null) => (err === null ? resolve() : reject(err))));
  process.disconnect();
}

/** Runs one scenario in a child process; never throws (a failure becomes the outcome's error). */
function runInChild(name: ScenarioName): Promise<ScenarioOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = fork(fileURLToPath(import.meta.url), ['--child', name], { stdio: 'inherit' });
    let outcome: ScenarioOutcome | undefined;
    child.on('message', (message) => {
      outcome = message as ScenarioOutcome;
    });
    child.on('exit', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      if (outcome !== undefined && code === 0) resolve({ ...outcome, seconds });
      else resolve({ name, about: undefined, results: [], targets: [], seconds, error: `exited with ${signal ?? code}${outcome === undefined ? ' before sending results' : ''}` });
    });
  });
}

interface Options {
  names: ScenarioName[];
  docsFile: string | undefined;
}

function parseArgs(argv: readonly string[]): Options {
  const names: ScenarioName[] = [];
  let docsFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--docs') {
      const file = argv[++i];
      if (file === undefined) throw new Error('--docs needs a file');
      docsFile = path.resolve(file);
    } else if (isScenarioName(arg)) {
      if (!names.includes(arg)) names.push(arg);
    } else {
      throw new Error(`unknown scenario or option ${JSON.stringify(arg)}; scenarios: ${scenarioNames.join(', ')}; options: --docs FILE`);
    }
  }
  const all = names.length === 0;
  return {
    names: all ? scenarioNames : names,
    docsFile: docsFile ?? (all && !isQuick() ? defaultDocsFile : undefined),
  };
}

function describeLoad(load: readonly number[]): string {
  return load.map((l) => l.toFixed(2)).join(' / ');
}

interface RunContext {
  machine: MachineInfo;
  loadAfter: number[];
  scratch: string;
  fileSystem: string;
  revision: string;
  date: Date;
  seconds: number;
  quick: boolean;
  names: ScenarioName[];
}

function markdownDocument(outcomes: readonly ScenarioOutcome[], context: RunContext): string {
  const m = context.machine;
  const allTargets = outcomes.flatMap((o) => o.targets);
  const argsShown = context.names.length === scenarioNames.length ? '' : ` -- ${context.names.join(' ')}`;
  const out: string[] = [
    '# stele benchmarks',
    '',
    `<!-- Generated by \`${command}\` (bench/run.ts) from the results of one run. Do not edit by hand: run the command again. -->`,
    '',
    `Generated by \`${context.quick ? 'STELE_BENCH_QUICK=1 ' : ''}${command}${argsShown}\` (bench/run.ts) on ${context.date.toISOString().replace(/\.\d+Z$/, 'Z')}, ` +
      `from revision ${context.revision}, in ${Math.round(context.seconds)} s. Every figure below comes from that run; ` +
      'each scenario measures stele and its baselines in the same run, on the same machine and disk. Do not edit this file: run the command again.',
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| CPU (os.cpus()) | ${m.cpuModel}, ${m.cpuCount} logical cores |`,
    `| memory | ${m.memoryGiB} GiB |`,
    `| OS | ${m.os} |`,
    `| Node | ${m.node} |`,
    `| data directories | under \`${context.scratch}\`: ${context.fileSystem} |`,
    `| load average (1 / 5 / 15 min) | ${describeLoad(m.loadAverage)} before, ${describeLoad(context.loadAfter)} after |`,
    `| mode | ${context.quick ? 'quick (STELE_BENCH_QUICK=1): short phases, small logs, noisy figures' : 'full'} |`,
    '',
    `The machine may have been running other work: the load averages say how busy it was. A load near or above ${m.cpuCount} means the figures are lower than an idle machine's.`,
    '',
    '## Targets',
    '',
    '| scenario | target | measured | met |',
    '|---|---|---|---|',
    ...allTargets.map((t) => `| ${t.scenario} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`),
    '',
    '## Results',
    '',
    'Rows marked *(baseline)* are the peers or lower bounds stele is compared against; numbers in brackets refer to the notes under each table.',
  ];
  for (const outcome of outcomes) {
    out.push('', `### ${outcome.name} (bench/${outcome.name}.ts, ${Math.round(outcome.seconds)} s)`, '');
    if (outcome.error !== undefined) {
      out.push(`This scenario failed: ${outcome.error}.`);
      continue;
    }
    if (outcome.about !== undefined) out.push(outcome.about, '');
    for (const table of tabulate(outcome.results)) out.push(`#### ${table.scenario}`, '', markdownTable(table), '');
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

async function main(): Promise<void> {
  const childIndex = process.argv.indexOf('--child');
  if (childIndex !== -1) {
    const name = process.argv[childIndex + 1] ?? '';
    if (!isScenarioName(name)) throw new Error(`unknown scenario ${name}`);
    await runChild(name);
    return;
  }
  const options = parseArgs(process.argv.slice(2));
  const quick = isQuick();
  const machine = machineInfo();
  const scratch = scratchRoot();
  const fsInfo = fileSystemOf(scratch);
  const fileSystem = `${fsInfo.description}, ${fsInfo.sameDeviceAsRepo ? 'the same disk as the repository' : 'NOT the disk of the repository (set STELE_BENCH_DIR to measure that disk)'}`;
  console.log(`stele benchmarks${quick ? ' (quick mode)' : ''}: ${options.names.join(', ')}`);
  console.log(`${machine.cpuModel} × ${machine.cpuCount}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}`);
  console.log(`data directories under ${scratch}: ${fileSystem}`);
  console.log(`load average ${describeLoad(machine.loadAverage)}\n`);
  const started = performance.now();
  const outcomes: ScenarioOutcome[] = [];
  for (const name of options.names) {
    console.log(`── ${name}`);
    const outcome = await runInChild(name);
    outcomes.push(outcome);
    if (outcome.error !== undefined) console.log(`${name} FAILED: ${outcome.error}\n`);
    else console.log(`${formatTables(outcome.results)}(${outcome.seconds.toFixed(1)} s)\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  const loadAfter = machineInfo().loadAverage;
  const allResults = outcomes.flatMap((o) => o.results);
  const allTargets = outcomes.flatMap((o) => o.targets);
  console.log(`══ summary (${seconds.toFixed(0)} s, load average ${describeLoad(machine.loadAverage)} before, ${describeLoad(loadAfter)} after)\n`);
  console.log(formatTables(allResults));
  if (allTargets.length > 0) console.log(`targets\n${formatTargets(allTargets)}\n`);
  const failed = outcomes.filter((o) => o.error !== undefined);
  if (options.docsFile !== undefined) {
    const context: RunContext = { machine, loadAfter, scratch, fileSystem, revision: sourceRevision(), date: new Date(), seconds, quick, names: options.names };
    fs.mkdirSync(path.dirname(options.docsFile), { recursive: true });
    fs.writeFileSync(options.docsFile, markdownDocument(outcomes, context));
    console.log(`wrote ${options.docsFile}`);
  } else {
    console.log(`${path.relative(process.cwd(), defaultDocsFile)} not written: ${quick ? 'quick mode' : 'not every scenario ran'} (use --docs FILE to write one anyway)`);
  }
  if (failed.length > 0) {
    console.log(`failed: ${failed.map((o) => o.name).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
