/**
 * DESIGN.md is checked from outside: standard Unix tools and a checker written in another
 * language (Python's hashlib and json, no stele code) re-derive every hash, link and the
 * RFC 6962 root from the files stele writes, and must agree with stele to the byte.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, repoRoot, tempDir } from '../helpers.js';

describe('independent checks of the files stele writes', () => {
  it('sed | sha256sum of line N equals the prev of line N+1, and Python re-derives the root', () => {
    const dir = path.join(tempDir(), 'data');
    cli(['--data', dir, 'init']);
    const events = Array.from({ length: 37 }, (_, i) => JSON.stringify({ type: i % 4 === 3 ? 'kv.delete' : 'kv.put', data: i % 4 === 3 ? { key: `k${i - 1}` } : { key: `k${i}`, value: { n: i, list: [i, 'x', null, true], text: 'café ✓' } }, meta: { actor: 'independent' } }));
    expect(cli(['--data', dir, 'append', '--stdin'], { input: events.join('\n') }).status).toBe(0);
    const log = path.join(dir, 'events.ndjson');
    for (const n of [1, 5, 36]) {
      const digest = execFileSync('bash', ['-c', `sed -n ${n}p "$1" | tr -d '\\n' | sha256sum | cut -d' ' -f1`, 'x', log], { encoding: 'utf8' }).trim();
      const next = JSON.parse(execFileSync('sed', ['-n', `${n + 1}p`, log], { encoding: 'utf8' })) as { prev: string };
      expect(next.prev).toBe(digest);
    }
    const independent = JSON.parse(execFileSync('python3', [path.join(repoRoot, 'test', 'e2e', 'fixtures', 'independent_check.py'), dir], { encoding: 'utf8' })) as Record<string, unknown>;
    const status = JSON.parse(cli(['--data', dir, 'status', '--json']).stdout) as Record<string, unknown>;
    // 37 events and the shutdown checkpoint.
    expect(independent).toEqual({ size: 38, logRoot: status.logRoot, headHash: status.headHash });
  });
});
