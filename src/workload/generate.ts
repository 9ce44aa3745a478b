/**
 * A deterministic, realistic command workload over the built-in modules: ledger accounts
 * and transfers (with some overdrafts the guards reject), kv writes and deletes, audit
 * executions, blocked attacks and telemetry. The same seed gives the same commands on every
 * machine (a seeded xorshift generator, integer arithmetic only), so the benchmarks, the
 * property tests and the demo all replay identical histories.
 *
 * Pure: no clock, no I/O. Bundles are not generated here (they need bytes in the vault);
 * the demo adds them itself.
 */
import type { JsonObject } from '../canonical/json.js';
import type { CommandInput } from '../runtime/machine.js';

export interface WorkloadOptions {
  seed?: number;
  /** Ledger accounts opened (lazily, before first use). */
  accounts?: number;
  /** Distinct kv keys. */
  keys?: number;
  /**
   * Relative weights of the command kinds; the defaults give a mixed workload with about
   * half ledger traffic, a quarter kv and a quarter audit.
   */
  mix?: Partial<Record<WorkloadKind, number>>;
}

export type WorkloadKind = 'deposit' | 'transfer' | 'withdraw' | 'batch' | 'kvPut' | 'kvDelete' | 'execution' | 'attack' | 'telemetry';

const defaultMix: Record<WorkloadKind, number> = {
  deposit: 14,
  transfer: 26,
  withdraw: 6,
  batch: 2,
  kvPut: 20,
  kvDelete: 3,
  execution: 12,
  attack: 5,
  telemetry: 12,
};

const statuses = ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed', 'blocked', 'timeout'] as const;
const intents = ['transfer', 'swap', 'withdraw', 'stake', 'query'] as const;
const layers = ['input-filter', 'policy', 'sandbox', 'output-filter'] as const;
const attackTypes = ['prompt-injection', 'sql-injection', 'path-traversal', 'replay', 'overflow'] as const;
const metrics = ['latency_ms', 'queue_depth', 'cpu_percent', 'batch_size'] as const;

/** xorshift32: tiny, fast, and the same everywhere (32-bit integer operations only). */
class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** An endless, deterministic stream of commands. */
export function* workload(options: WorkloadOptions = {}): Generator<CommandInput> {
  const random = new Random(options.seed ?? 1);
  const accounts = options.accounts ?? 1000;
  const keys = options.keys ?? 1000;
  const mix = { ...defaultMix, ...options.mix };
  const kinds = (Object.keys(mix) as WorkloadKind[]).filter((k) => mix[k] > 0);
  const total = kinds.reduce((a, k) => a + mix[k], 0);
  const opened = new Uint8Array(accounts);
  let n = 0;
  const account = (i: number) => `acct-${String(i).padStart(6, '0')}`;
  /** Opens the account first when needed (returns the open command to yield before). */
  function* ensure(i: number): Generator<CommandInput> {
    if (opened[i] === 0) {
      opened[i] = 1;
      const data: JsonObject = { account: account(i) };
      // One account in fifty may go negative (a credit line), as treasury accounts do.
      if (i % 50 === 0) data.allowNegative = true;
      yield { cmd: 'ledger.open', data };
    }
  }
  for (;;) {
    n++;
    let roll = random.below(total);
    let kind = kinds[0]!;
    for (const k of kinds) {
      if (roll < mix[k]) {
        kind = k;
        break;
      }
      roll -= mix[k];
    }
    const id = `op-${n}`;
    switch (kind) {
      case 'deposit': {
        const a = random.below(accounts);
        yield* ensure(a);
        yield { cmd: 'ledger.deposit', data: { id, account: account(a), amount: String(1000 + random.below(100_000)) } };
        break;
      }
      case 'withdraw': {
        const a = random.below(accounts);
        yield* ensure(a);
        yield { cmd: 'ledger.withdraw', data: { id, account: account(a), amount: String(1 + random.below(20_000)) } };
        break;
      }
      case 'transfer': {
        const a = random.below(accounts);
        const b = (a + 1 + random.below(accounts - 1)) % accounts;
        yield* ensure(a);
        yield* ensure(b);
        yield { cmd: 'ledger.transfer', data: { id, from: account(a), to: account(b), amount: String(1 + random.below(30_000)) } };
        break;
      }
      case 'batch': {
        const legs = 2 + random.below(4);
        const transfers: JsonObject[] = [];
        for (let j = 0; j < legs; j++) {
          const a = random.below(accounts);
          const b = (a + 1 + random.below(accounts - 1)) % accounts;
          yield* ensure(a);
          yield* ensure(b);
          transfers.push({ id: `${id}.${j}`, from: account(a), to: account(b), amount: String(1 + random.below(5_000)) });
        }
        yield { cmd: 'ledger.batch', data: { id, transfers } };
        break;
      }
      case 'kvPut':
        yield { cmd: 'kv.put', data: { key: `key-${String(random.below(keys)).padStart(6, '0')}`, value: { n, tag: random.pick(intents), score: random.below(1000) } } };
        break;
      case 'kvDelete':
        yield { cmd: 'kv.delete', data: { key: `key-${String(random.below(keys)).padStart(6, '0')}` } };
        break;
      case 'execution': {
        const status = random.pick(statuses);
        yield {
          cmd: 'audit.execution',
          data: {
            txId: `tx-${n}`,
            intent: random.pick(intents),
            status,
            elapsedMs: 1 + random.below(2_000),
            layers: layers.map((layer) => ({ layer, status: status === 'blocked' && layer === 'policy' ? 'blocked' : 'succeeded' })),
          },
        };
        break;
      }
      case 'attack':
        yield {
          cmd: 'audit.attack',
          data: { type: random.pick(attackTypes), layer: random.pick(layers), severity: random.below(101) / 100, snippet: `payload-${n} '; DROP TABLE accounts; --` },
        };
        break;
      case 'telemetry':
        yield { cmd: 'audit.telemetry', data: { metric: random.pick(metrics), value: random.below(10_000) / 10, tags: { node: `n${random.below(4)}` } } };
        break;
      default: {
        const never: never = kind;
        throw new Error(`unknown workload kind ${String(never)}`);
      }
    }
  }
}

/** The first `count` commands of a workload. */
export function takeCommands(count: number, options: WorkloadOptions = {}): CommandInput[] {
  const out: CommandInput[] = [];
  for (const c of workload(options)) {
    if (out.length >= count) break;
    out.push(c);
  }
  return out;
}
