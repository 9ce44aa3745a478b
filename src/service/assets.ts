/**
 * The dashboard's files, served by the process itself (nothing is fetched from the
 * internet): `src/dashboard/*` (plain HTML, CSS and ES modules), the browser-safe compiled
 * stele modules the page verifies proofs with (`/assets/lib/…`, from dist/src), and the
 * @noble/hashes and @noble/curves files they import (`/assets/vendor/noble-hashes/…`,
 * `/assets/vendor/noble-curves/…`).
 *
 * A fixed whitelist, read into memory once at startup: no path from a request ever reaches
 * the file system, so there is nothing to traverse.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The compiled modules the browser may load: they import only each other, @noble/hashes and
 * (Ed25519) @noble/curves. `proof/bundle.js` and what it imports verify proof bundles in the
 * dashboard (issue #5); test/service/assets.test.ts checks this list is closed under imports.
 */
export const libFiles = [
  'merkle/log-tree.js',
  'hash/hex.js',
  'hash/portable.js',
  'errors.js',
  'proof/bundle.js',
  'proof/state-proof.js',
  'canonical/json.js',
  'canonical/utf8.js',
  'limits.js',
  'state/smt-hash.js',
  'crypto/checkpoint-sig.js',
  'crypto/ed25519-portable.js',
];

/** The @noble/curves module the page imports; it and the files it imports are served. */
const nobleCurvesEntry = 'ed25519.js';

/**
 * The files of @noble/curves that `entry` needs: it and, recursively, the relative modules
 * its static import/export statements name (the package's own files, nothing else).
 */
export function nobleCurvesFiles(dir: string, entry = nobleCurvesEntry): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  const statement = /^\s*(?:import|export)\b[^;]*?['"](\.{1,2}\/[^'"]+)['"]/gm;
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    for (const m of text.matchAll(statement)) todo.push(path.posix.normalize(path.posix.join(path.posix.dirname(name), m[1]!)));
  }
  return [...seen].sort();
}

const here = path.dirname(fileURLToPath(import.meta.url));

function firstExisting(candidates: string[], probe: string): string | undefined {
  return candidates.find((dir) => fs.existsSync(path.join(dir, probe)));
}

export interface Assets {
  files: Map<string, Asset>;
  /** The Content-Security-Policy for the dashboard (its import map allowed by hash). */
  csp: string;
}

/** Loads every asset; a missing dashboard or build is an empty map (the API still works). */
export function loadAssets(): Assets {
  const files = new Map<string, Asset>();
  // From dist/src/service (built) or src/service (tests run from source).
  const dashboard = firstExisting([path.join(here, '../dashboard'), path.join(here, '../../../src/dashboard')], 'index.html');
  const lib = firstExisting([path.join(here, '..'), path.join(here, '../../dist/src')], 'merkle/log-tree.js');
  const noble = path.dirname(createRequire(import.meta.url).resolve('@noble/hashes/sha2.js'));
  const curves = path.dirname(createRequire(import.meta.url).resolve('@noble/curves/ed25519.js'));
  let importMap = '';
  if (dashboard !== undefined) {
    for (const name of fs.readdirSync(dashboard)) {
      const type = types[path.extname(name)];
      if (type === undefined) continue;
      const body = fs.readFileSync(path.join(dashboard, name));
      if (name === 'index.html') {
        files.set('/', { body, type });
        importMap = /<script type="importmap">([^<]*)<\/script>/.exec(body.toString('utf8'))?.[1] ?? '';
      } else if (name === 'favicon.svg') files.set('/favicon.svg', { body, type });
      files.set(`/assets/${name}`, { body, type });
    }
  }
  if (lib !== undefined) {
    for (const name of libFiles) files.set(`/assets/lib/${name}`, { body: fs.readFileSync(path.join(lib, name)), type: types['.js']! });
  }
  for (const name of fs.readdirSync(noble)) {
    if (name.endsWith('.js')) files.set(`/assets/vendor/noble-hashes/${name}`, { body: fs.readFileSync(path.join(noble, name)), type: types['.js']! });
  }
  for (const name of nobleCurvesFiles(curves)) files.set(`/assets/vendor/noble-curves/${name}`, { body: fs.readFileSync(path.join(curves, name)), type: types['.js']! });
  const mapHash = importMap === '' ? '' : ` 'sha256-${crypto.createHash('sha256').update(importMap).digest('base64')}'`;
  const csp = `default-src 'self'; script-src 'self'${mapHash}; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { files, csp };
}
