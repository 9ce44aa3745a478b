/**
 * The bundle verifier runs in the browser: the compiled modules the dashboard may load
 * (`libFiles` of src/service/assets.ts) import only each other, @noble/hashes and
 * @noble/curves — no `node:` module, nothing outside the list — and the @noble/curves files
 * served are closed under their own imports. The page's import map names both vendor
 * folders and the CSP allows exactly that import map.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { libFiles, loadAssets, nobleCurvesFiles } from '../../src/service/assets.js';
import { repoRoot } from '../helpers.js';

/** The module specifiers a TypeScript file imports at run time (type-only imports are erased). */
function runtimeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';/gm)) if (m[1] === undefined) out.push(m[2]!);
  for (const m of text.matchAll(/^export\s+[^;]*?from\s+'([^']+)';/gm)) out.push(m[1]!);
  return out;
}

describe('the browser verifier', () => {
  it('the served lib modules import only each other and @noble', () => {
    for (const name of libFiles) {
      const source = path.join(repoRoot, 'src', name.replace(/\.js$/, '.ts'));
      for (const spec of runtimeImports(source)) {
        if (spec.startsWith('.')) {
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(name), spec));
          expect(libFiles, `${name} imports ${spec}`).toContain(target);
        } else {
          expect(spec, `${name} imports ${spec}`).toMatch(/^@noble\/(hashes|curves)\//);
        }
      }
    }
    expect(libFiles).toEqual(expect.arrayContaining(['proof/bundle.js', 'crypto/ed25519-portable.js', 'hash/portable.js']));
  });

  it('the @noble/curves files served are closed under their imports', () => {
    const dir = path.dirname(createRequire(import.meta.url).resolve('@noble/curves/ed25519.js'));
    const files = nobleCurvesFiles(dir);
    expect(files).toEqual(expect.arrayContaining(['ed25519.js', 'abstract/edwards.js', 'abstract/modular.js', 'utils.js']));
    for (const name of files) {
      const text = fs.readFileSync(path.join(dir, name), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s*['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) expect(files, `${name} imports ${spec}`).toContain(path.posix.normalize(path.posix.join(path.posix.dirname(name), spec)));
        else expect(spec, `${name} imports ${spec}`).toMatch(/^@noble\/hashes\//);
      }
    }
  });

  it('the page maps both vendor folders, and the CSP allows exactly that import map', () => {
    const html = fs.readFileSync(path.join(repoRoot, 'src/dashboard/index.html'), 'utf8');
    const map = /<script type="importmap">([^<]*)<\/script>/.exec(html)![1]!;
    expect(JSON.parse(map)).toEqual({ imports: { '@noble/hashes/': '/assets/vendor/noble-hashes/', '@noble/curves/': '/assets/vendor/noble-curves/' } });
    const assets = loadAssets();
    expect(assets.csp).toContain(`'sha256-${crypto.createHash('sha256').update(map).digest('base64')}'`);
    expect(assets.files.has('/assets/vendor/noble-curves/ed25519.js')).toBe(true);
    expect(assets.files.has('/assets/proof-file.js')).toBe(true);
    if (fs.existsSync(path.join(repoRoot, 'dist/src/proof/bundle.js'))) {
      for (const name of libFiles) expect(assets.files.has(`/assets/lib/${name}`), name).toBe(true);
    }
  });
});
