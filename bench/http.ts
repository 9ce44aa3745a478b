/**
 * Benchmark: the HTTP service (issue #4), driven by autocannon from this process while
 * `stele serve` and `stele observe` run as separate processes on loopback.
 *
 * - commands: `POST /v1/commands`, one kv.put per request, 64 connections; every 200 is a
 *   durable event (group commit underneath).
 * - batches: NDJSON bodies of 1,000 kv.put commands, 8 connections: events/s = requests/s × 1,000.
 * - reads: `GET /v1/status` and `GET /v1/accounts/{id}` (an account with ~100 history entries).
 * - stream: a command sent every 5 ms from here; the time from sending it to its event
 *   arriving on an SSE client at the observer (which follows the log file with chokidar),
 *   and at the writer's own stream, p50/p99.
 *
 * Baselines in the same run: a bare Fastify server in its own process answering the same
 * requests without stele (the HTTP framework's ceiling on this machine), and `engine.run`
 * called in-process with 64 concurrent callers (stele's command path without HTTP).
 *
 * Targets: ≥ 20,000 single commands/s; ≥ 150,000 events/s in NDJSON batches; SSE delivery
 * p99 ≤ 50 ms at an observer.
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/http.js`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { Engine, initDataDir } from '../src/index.js';
import { isQuick, makeScratch, removeScratch, repoRoot } from './environment.js';
import { printResults } from './report.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { percentile } from './stats.js';

const quick = isQuick();
const durationS = quick ? 2 : 10;
const token = 'bench-token-0123456789abcdef';
const cli = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const batchCommands = 1000;
const streamSamples = Number(process.env['STELE_BENCH_STREAM_SAMPLES'] ?? (quick ? 200 : 2000));
const streamIntervalMs = 5;

const targets_ = { singleRate: 20_000, batchEvents: 150_000, sseP99Ms: 50 };

export const about =
  'HTTP service on loopback: autocannon in the benchmark process, `stele serve` / `stele observe` / a bare Fastify server each in their own process. Every 200 of a command is a durable (fsynced) event.';

interface Server {
  child: ChildProcess;
  url: string;
}

async function start(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env, STELE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { child, url: (JSON.parse(first) as { url: string }).url };
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

async function cannon(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...options, duration: durationS }, (err, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result)));
  });
}

function post(url: string, body: string, type = 'application/json'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function rateResults(scenario: string, name: string, r: autocannon.Result, eventsPerRequest: number, baseline = false, note?: string): BenchResult[] {
  const ok = r.requests.total - r.non2xx - r.errors;
  const seconds = r.duration;
  const out: BenchResult[] = [
    { scenario, name, value: Math.round((ok * eventsPerRequest) / seconds), unit: eventsPerRequest === 1 ? 'req/s' : 'events/s', ...(baseline ? { baseline } : {}), ...(note === undefined ? {} : { note }) },
    { scenario, name, value: r.latency.p50, unit: 'ms p50', ...(baseline ? { baseline } : {}) },
    { scenario, name, value: r.latency.p99, unit: 'ms p99', ...(baseline ? { baseline } : {}) },
  ];
  if (r.non2xx + r.errors > 0) out[0]!.note = `${r.non2xx} non-2xx, ${r.errors} errors${note === undefined ? '' : `; ${note}`}`;
  return out;
}

/** A bare Fastify server with the same routes' shapes, no stele behind them. */
const bareServer = `
import Fastify from 'fastify';
const app = Fastify();
app.addContentTypeParser(['application/json', 'application/x-ndjson'], { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
app.post('/v1/commands', async (req) => ({ ok: true, n: req.body.length }));
app.get('/v1/status', async () => ({ size: 1, logRoot: '0'.repeat(64) }));
await app.listen({ host: '127.0.0.1', port: 0 });
console.log(JSON.stringify({ url: 'http://127.0.0.1:' + app.server.address().port }));
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
`;

/** Sends commands at a steady pace and measures when each event reaches the SSE clients. */
async function streamLatency(writer: string, observer: string): Promise<{ observer: number[]; writer: number[] }> {
  const sentAt = new Map<number, number>();
  const got = { observer: [] as number[], writer: [] as number[] };
  const clients: http.ClientRequest[] = [];
  const listen = (url: string, into: number[]) =>
    new Promise<void>((ready) => {
      const req = http.get(`${url}/v1/stream`, (res) => {
        ready();
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = performance.now();
          buf += chunk;
          let at: number;
          while ((at = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, at);
            buf = buf.slice(at + 2);
            // Matched by the command's key, not by seq: checkpoints and requests of earlier
            // phases still finishing shift the seqs.
            const key = /"key":"stream-(\d+)"/.exec(frame);
            if (key === null) continue;
            const t0 = sentAt.get(Number(key[1]));
            if (t0 !== undefined) into.push(now - t0);
          }
        });
      });
      clients.push(req);
    });
  await Promise.all([listen(observer, got.observer), listen(writer, got.writer)]);
  // Requests of the earlier phases that autocannon left in flight are still being written:
  // wait for a quiet log, so they do not queue ahead of the measured commands.
  let size = -1;
  for (;;) {
    const now = (JSON.parse(await get(`${writer}/v1/status`)) as { size: number }).size;
    if (now === size) break;
    size = now;
    await new Promise((r) => setTimeout(r, 500));
  }
  for (let i = 0; i < streamSamples; i++) {
    sentAt.set(i, performance.now());
    void post(`${writer}/v1/commands`, JSON.stringify({ cmd: 'kv.put', data: { key: `stream-${i}`, value: i } }));
    await new Promise((r) => setTimeout(r, streamIntervalMs));
  }
  const deadline = performance.now() + 10_000;
  while ((got.observer.length < streamSamples || got.writer.length < streamSamples) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const c of clients) c.destroy();
  return got;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

async function inProcessCommands(): Promise<BenchResult[]> {
  const dir = makeScratch('http-engine');
  try {
    initDataDir(dir);
    const engine = await Engine.open(dir);
    let n = 0;
    const until = performance.now() + durationS * 1000;
    const worker = async (w: number) => {
      for (let i = 0; performance.now() < until; i++) {
        await engine.run({ cmd: 'kv.put', data: { key: `w${w}-${i}`, value: i } });
        n++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 64 }, (_, w) => worker(w)));
    const seconds = (performance.now() - t0) / 1000;
    await engine.close();
    return [{ scenario: 'http/commands-single', name: 'engine.run in-process (no HTTP)', value: Math.round(n / seconds), unit: 'req/s', baseline: true, note: '64 concurrent callers' }];
  } finally {
    removeScratch(dir);
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const dir = makeScratch('http');
  const servers: Server[] = [];
  try {
    initDataDir(dir);
    const writer = await start([cli, '--data', dir, 'serve', '--port', '0'], { STELE_TOKEN: token });
    servers.push(writer);
    const bare = await start(['--input-type=module', '-e', bareServer], {});
    servers.push(bare);
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    const single = await cannon({ url: `${writer.url}/v1/commands`, connections: 64, method: 'POST', headers: auth, body: '{"cmd":"kv.put","data":{"key":"k-[<id>]","value":42}}', idReplacement: true });
    results.push(...rateResults('http/commands-single', 'stele serve', single, 1, false, '64 connections, kv.put, durable'));
    const bareSingle = await cannon({ url: `${bare.url}/v1/commands`, connections: 64, method: 'POST', headers: auth, body: '{"cmd":"kv.put","data":{"key":"k","value":42}}' });
    results.push(...rateResults('http/commands-single', 'bare Fastify (no stele)', bareSingle, 1, true));
    results.push(...(await inProcessCommands()));

    const batchBody = Array.from({ length: batchCommands }, (_, i) => `{"cmd":"kv.put","data":{"key":"b-${i}","value":${i}}}`).join('\n') + '\n';
    const ndjson = { ...auth, 'content-type': 'application/x-ndjson' };
    const batch = await cannon({ url: `${writer.url}/v1/commands`, connections: 8, method: 'POST', headers: ndjson, body: batchBody });
    results.push(...rateResults('http/commands-ndjson-1000', 'stele serve', batch, batchCommands, false, '8 connections, 1,000 kv.put per request'));
    const bareBatch = await cannon({ url: `${bare.url}/v1/commands`, connections: 8, method: 'POST', headers: ndjson, body: batchBody });
    results.push(...rateResults('http/commands-ndjson-1000', 'bare Fastify (no stele)', bareBatch, batchCommands, true));

    const status = await cannon({ url: `${writer.url}/v1/status`, connections: 64 });
    results.push(...rateResults('http/read-status', 'stele serve', status, 1));
    const bareStatus = await cannon({ url: `${bare.url}/v1/status`, connections: 64 });
    results.push(...rateResults('http/read-status', 'bare Fastify (no stele)', bareStatus, 1, true));

    await post(`${writer.url}/v1/commands`, JSON.stringify({ cmd: 'ledger.open', data: { account: 'acct-1' } }));
    await post(`${writer.url}/v1/commands`, Array.from({ length: 100 }, (_, i) => JSON.stringify({ cmd: 'ledger.deposit', data: { id: `dep-${i}`, account: 'acct-1', amount: String(i + 1) } })).join('\n'), 'application/x-ndjson');
    const account = await cannon({ url: `${writer.url}/v1/accounts/acct-1?limit=50`, connections: 64 });
    results.push(...rateResults('http/read-account', 'stele serve', account, 1, false, '50 history entries per response'));

    const observer = await start([cli, '--data', dir, 'observe', '--port', '0']);
    servers.push(observer);
    const latency = await streamLatency(writer.url, observer.url);
    for (const [name, samples] of [
      ['stele observe (chokidar on the log file)', latency.observer],
      ['stele serve (its own stream)', latency.writer],
    ] as const) {
      const sorted = Float64Array.from(samples).sort();
      const note = `${samples.length}/${streamSamples} events, one command every ${streamIntervalMs} ms, from sending the command`;
      results.push({ scenario: 'http/sse-delivery', name, value: Math.round(percentile(sorted, 50) * 10) / 10, unit: 'ms p50', note });
      results.push({ scenario: 'http/sse-delivery', name, value: Math.round(percentile(sorted, 99) * 10) / 10, unit: 'ms p99' });
    }
  } finally {
    for (const s of servers) await stop(s);
    removeScratch(dir);
  }
  return results;
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const out: BenchTarget[] = [];
  const single = findResult(results, 'http/commands-single', 'stele serve', 'req/s');
  if (single !== undefined) out.push({ scenario: 'http/commands-single', target: `≥ ${targets_.singleRate.toLocaleString('en-US')} single commands/s (64 connections)`, measured: `${single.toLocaleString('en-US')} commands/s`, met: single >= targets_.singleRate });
  const batch = findResult(results, 'http/commands-ndjson-1000', 'stele serve', 'events/s');
  if (batch !== undefined) out.push({ scenario: 'http/commands-ndjson-1000', target: `≥ ${targets_.batchEvents.toLocaleString('en-US')} events/s in NDJSON batches of 1,000`, measured: `${batch.toLocaleString('en-US')} events/s`, met: batch >= targets_.batchEvents });
  const p99 = findResult(results, 'http/sse-delivery', 'stele observe (chokidar on the log file)', 'ms p99');
  if (p99 !== undefined) out.push({ scenario: 'http/sse-delivery', target: `SSE delivery p99 ≤ ${targets_.sseP99Ms} ms at an observer`, measured: `${p99} ms`, met: p99 <= targets_.sseP99Ms });
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await run();
  printResults(results, targets(results));
}
