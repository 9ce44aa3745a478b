/** initDataDir: creating a data directory, and finishing one whose init a crash interrupted. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { checkDataDir, initDataDir } from '../../src/store/data-dir.js';
import { errorCodeOf, tempDir } from '../helpers.js';

function newRoot(): string {
  const root = tempDir();
  onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

/** What initDataDir leaves when it is killed just before renaming its marker into place. */
function interruptedInit(dir: string): void {
  fs.mkdirSync(path.join(dir, 'index'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'quarantine'));
  fs.writeFileSync(path.join(dir, 'events.ndjson'), '');
  fs.writeFileSync(path.join(dir, 'stele.json.tmp'), '{"format":"ste');
}

describe('initDataDir', () => {
  it('finishes an init that a crash interrupted before the marker (a first start killed)', () => {
    const dir = path.join(newRoot(), 'data');
    interruptedInit(dir);
    expect(errorCodeOf(() => checkDataDir(dir, true))).toBe('STELE_E_DATA_DIR_NOT_INITIALIZED');
    expect(initDataDir(dir).created).toBe(true);
    expect(errorCodeOf(() => checkDataDir(dir, true))).toBe('ok');
    expect(fs.readdirSync(dir).sort()).toEqual(['events.ndjson', 'index', 'quarantine', 'stele.json']);
  });

  it('still refuses a directory without a marker that holds anything more', () => {
    for (const extra of [
      (dir: string) => fs.writeFileSync(path.join(dir, 'events.ndjson'), '{"seq":0}\n'),
      (dir: string) => fs.writeFileSync(path.join(dir, 'index', 'tree.hashes'), 'x'),
      (dir: string) => fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine'),
    ]) {
      const dir = path.join(newRoot(), 'data');
      interruptedInit(dir);
      extra(dir);
      expect(errorCodeOf(() => initDataDir(dir))).toBe('STELE_E_DATA_DIR_NOT_EMPTY');
    }
  });
});
