/**
 * "Check a proof file": a person drops (or picks) a proof bundle written by `stele prove
 * event|state` or `GET /v1/proofs/…`, optionally pins the public key they trust, and sees
 * every check and the verdict. Computed entirely in the page by stele's own verifier (the
 * compiled src/proof/bundle.ts, served under /assets/lib/) on @noble/hashes and
 * @noble/curves: the file is never sent anywhere, and the page trusts the server for nothing.
 *
 * The verifier and the curve code are imported on first use, so they cost nothing to a
 * visitor who never checks a file.
 */
import { byTestId, fill, fmtBytes, h } from './dom.js';

/** The verifier, loaded once on first use. */
let verifierModules;

function loadVerifier() {
  verifierModules ??= Promise.all([
    import('/assets/lib/proof/bundle.js'),
    import('/assets/lib/hash/portable.js'),
    import('/assets/lib/crypto/ed25519-portable.js'),
    import('/assets/lib/hash/hex.js'),
    import('/assets/lib/limits.js'),
  ]).then(([bundle, portable, ed25519, hex, limits]) => ({
    verifyBundle: bundle.verifyBundle,
    sha256: portable.sha256Portable,
    ed25519Verify: ed25519.ed25519VerifyPortable,
    fromHex: hex.fromHex,
    bytesMax: limits.limits.proofBundleBytesMax,
  }));
  return verifierModules;
}

/** The last file read, so that changing the pinned key re-checks it without picking it again. */
const current = { name: undefined, bytes: undefined };
/** Bumped for every check, so a slow earlier one never overwrites a later result. */
let checkId = 0;

export function wireProofFile() {
  const drop = byTestId('proof-drop');
  const input = byTestId('proof-file-input');
  const pubkey = byTestId('proof-pubkey');
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void readAndCheck(file);
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files?.[0];
    if (file) void readAndCheck(file);
  });
  pubkey.addEventListener('input', () => {
    if (current.bytes !== undefined) void check();
  });
}

async function readAndCheck(file) {
  const out = byTestId('proof-file-result');
  const id = ++checkId;
  let lib;
  try {
    lib = await loadVerifier();
  } catch (err) {
    fill(out, h('p', { class: 'notice bad', 'data-testid': 'proof-file-error' }, `The verifier could not be loaded: ${err.message}`));
    return;
  }
  if (file.size > lib.bytesMax) {
    current.bytes = undefined;
    fill(out, h('p', { class: 'proof bad', 'data-testid': 'proof-file-verdict' }, `✘ ${file.name} is ${fmtBytes(file.size)}, over the ${fmtBytes(lib.bytesMax)} of a proof bundle`));
    return;
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (id !== checkId) return;
  current.name = file.name;
  current.bytes = bytes;
  await check();
}

/** The pinned key of the form: [] when empty, the raw key, or undefined when malformed. */
function pinnedKeys(lib) {
  const text = byTestId('proof-pubkey').value.trim();
  if (text === '') return [];
  const key = /^[0-9a-f]{64}$/.test(text) ? lib.fromHex(text) : undefined;
  return key === undefined ? undefined : [key];
}

async function check() {
  const out = byTestId('proof-file-result');
  const id = ++checkId;
  const lib = await loadVerifier();
  if (id !== checkId || current.bytes === undefined) return;
  const publicKeys = pinnedKeys(lib);
  if (publicKeys === undefined) {
    fill(out, h('p', { class: 'notice bad', 'data-testid': 'proof-file-error' }, 'A pinned public key is 64 lowercase hex characters: the "publicKey" of the key\'s .pub file.'));
    return;
  }
  const verdict = lib.verifyBundle(current.bytes, { sha256: lib.sha256, ed25519Verify: lib.ed25519Verify, publicKeys });
  const failed = verdict.checks.find((c) => !c.ok);
  const headline = verdict.valid
    ? `✔ valid${verdict.anchored ? '' : ', not anchored'}: ${verdict.summary}`
    : verdict.malformed
      ? `✘ malformed: ${failed.detail}`
      : `✘ verification FAILED: ${failed.label} — ${failed.detail}`;
  const verdictEl = h('p', { class: `proof ${verdict.valid ? 'ok' : 'bad'}`, 'data-testid': 'proof-file-verdict', dataset: { valid: String(verdict.valid), anchored: String(verdict.anchored) } }, headline);
  const checks = h(
    'ul',
    { class: 'checks', 'data-testid': 'proof-file-checks' },
    verdict.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad', dataset: { check: c.id } }, h('span', { class: 'mark' }, c.ok ? '✔' : '✘'), ` ${c.label}`, h('div', { class: 'detail mono' }, c.detail))),
  );
  const facts = h(
    'dl',
    { class: 'hashes' },
    h('div', null, h('dt', null, 'file'), h('dd', null, `${current.name} (${fmtBytes(current.bytes.length)})`)),
    verdict.signer
      ? h('div', null, h('dt', null, verdict.signer.pinned ? 'signed by (pinned)' : 'signed by (not pinned)'), h('dd', { class: 'hash', 'data-testid': 'proof-file-signer' }, verdict.signer.keyId))
      : null,
  );
  const note = !verdict.valid || verdict.signer?.pinned
    ? null
    : h('p', { class: 'muted' }, verdict.anchored ? 'Paste the operator\'s public key above to require that it signed the checkpoint.' : 'No signed checkpoint: the file proves the entry against the root it states, not that the log committed to it.');
  fill(out, verdictEl, note, checks, facts);
}
