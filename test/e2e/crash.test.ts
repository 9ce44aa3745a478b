/**
 * Crash test: a child process appending under load is SIGKILLed at random moments; after
 * each restart every acknowledged event is present exactly once, in order, and the chain
 * verifies. 20 rounds in `npm test`; `npm run soak` runs 500 (STELE_SOAK=1).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openWriter, verifyLog } from '../../src/index.js';
import { sha256 } from '../../src/hash/sha256.js';
import { repoRoot, rng, tempDir } from '../helpers.js';
import { initDataDir } from '../../src/store/data-dir.js';

const soak = process.env.STELE_SOAK === '1';
const rounds = soak ? 500 : 20;
const child = path.join(repoRoot, 'test', 'e2e', 'fixtures', 'append-child.mjs');

interface SeenAck {
  seq: number;
  hash: string;
  id: string;
}

function runRound(dir: string, round: number, killAfterMs: number, concurrency: number): Promise<SeenAck[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, String(round), String(concurrency)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acks: SeenAck[] = [];
    let buffer = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const parts = line.split(' ');
        if (parts[0] === 'ready' && timer === undefined) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
        if (parts[0] === 'ack') acks.push({ seq: Number(parts[1]), hash: parts[2]!, id: parts[3]! });
      }
    });
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(acks);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

describe(`crash test: ${rounds} SIGKILLs under load`, () => {
  it(
    'keeps every acknowledged event exactly once, in order, with a verifying chain',
    async () => {
      const seed = Number(process.env.STELE_SEED ?? 20261122);
      const random = rng(seed);
      // A fresh data directory every 25 rounds keeps each restart's full replay short, so
      // the soak's time grows linearly with its rounds.
      const roundsPerDir = 25;
      let totals = { acked: 0, events: 0, recovered: 0 };
      for (let first = 0; first < rounds; first += roundsPerDir) {
        const dir = path.join(tempDir(), 'data');
        initDataDir(dir);
        const acked: SeenAck[] = [];
        for (let round = first; round < Math.min(rounds, first + roundsPerDir); round++) {
          const killAfter = 5 + Math.floor(random() * 150);
          const concurrency = [1, 16, 64][Math.floor(random() * 3)]!;
          acked.push(...(await runRound(dir, round, killAfter, concurrency)));
          // Restart as the writer: recovers a torn tail, if any; then check.
          const opened = await openWriter(dir);
          totals.recovered += opened.recovered.length;
          await opened.close();
          const report = await verifyLog(dir);
          expect(report.fault, `seed ${seed} round ${round}`).toBeUndefined();
          expect(report.tornTail).toBeUndefined();
        }
        // Every ack seen is in the log, at its seq, with its hash; every id appears once.
        const lines = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n');
        lines.pop();
        const ids = new Map<string, number>();
        for (const line of lines) {
          const event = JSON.parse(line) as { type: string; data: { key?: string } };
          if (event.type === 'kv.put' && event.data.key !== undefined) ids.set(event.data.key, (ids.get(event.data.key) ?? 0) + 1);
        }
        for (const ack of acked) {
          const line = lines[ack.seq];
          expect(line, `seed ${seed}: acked seq ${ack.seq} missing`).toBeDefined();
          expect(Buffer.from(sha256(Buffer.from(line!))).toString('hex')).toBe(ack.hash);
          expect(ids.get(ack.id)).toBe(1);
        }
        expect(acked.length).toBeGreaterThan(0);
        totals = { ...totals, acked: totals.acked + acked.length, events: totals.events + lines.length };
        fs.rmSync(path.dirname(dir), { recursive: true, force: true });
        if (soak) console.log(`soak: ${Math.min(rounds, first + roundsPerDir)}/${rounds} rounds, ${totals.acked} acknowledged events checked`);
      }
      console.log(`crash test: ${rounds} rounds, ${totals.acked} acknowledged events checked, ${totals.events} events in the logs, ${totals.recovered} torn tails recovered (seed ${seed})`);
    },
    soak ? 3_600_000 : 300_000,
  );
});
