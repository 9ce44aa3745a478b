/**
 * Proof checks done in the browser, with stele's own verifiers (the compiled
 * `src/merkle/log-tree.ts`, served under /assets/lib/) and SHA-256 from @noble/hashes: the
 * page trusts the server for nothing it can check itself. The server sends an event's
 * canonical `line`; the page hashes those bytes, compares with the claimed hashes, and
 * folds the RFC 9162 §2.1.3.2 inclusion path up to the claimed log root.
 *
 * Every check is reported, passed or not, so a failure names exactly what did not hold.
 */
import { checkConsistency, checkInclusion, hashLeaf } from '/assets/lib/merkle/log-tree.js';
import { sha256Portable } from '/assets/lib/hash/portable.js';
import { fromHex, toHex } from '/assets/lib/hash/hex.js';

const utf8 = new TextEncoder();

/** `{label, ok, detail}`: one check, as the page shows it. */
function check(label, ok, detail) {
  return { label, ok: Boolean(ok), detail };
}

function isHex64(text) {
  return typeof text === 'string' && /^[0-9a-f]{64}$/.test(text);
}

/**
 * Checks `GET /v1/events/{seq}`'s answer `{event, hash, line, proof}` for the event at `seq`.
 * Returns `{ok, checks}`: ok iff every check passed. Never throws on malformed input: a
 * missing or malformed field is a failed check, so a tampering proxy cannot make the page
 * crash into showing nothing.
 */
export function verifyEventAnswer(seq, answer) {
  const checks = [];
  const { event, hash, line, proof } = answer ?? {};
  if (typeof line !== 'string' || proof === null || typeof proof !== 'object') {
    checks.push(check('answer has a line and a proof', false, 'the server sent no event line or no proof'));
    return { ok: false, checks };
  }

  const lineHash = toHex(sha256Portable(utf8.encode(line)));
  checks.push(check('SHA-256 of the event line equals its hash', lineHash === hash, lineHash === hash ? lineHash : `computed ${lineHash}, server says ${hash}`));
  checks.push(check('the proof is for this event hash', proof.eventHash === lineHash, proof.eventHash === lineHash ? 'eventHash matches' : `proof.eventHash is ${proof.eventHash}`));

  let parsed;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  const sameEvent = parsed !== undefined && parsed.seq === seq && proof.seq === seq && (event === undefined || (event.seq === seq && event.type === parsed.type && event.prev === parsed.prev));
  checks.push(check(`the line is event ${seq}`, sameEvent, sameEvent ? `seq ${seq}, ${parsed.type}` : `line seq ${parsed?.seq}, proof seq ${proof.seq}, event seq ${event?.seq}`));

  const path = Array.isArray(proof.path) ? proof.path.map((p) => (isHex64(p) ? fromHex(p) : undefined)) : [];
  const wellFormed = isHex64(proof.logRoot) && isHex64(lineHash) && Array.isArray(proof.path) && path.every((p) => p !== undefined) && Number.isSafeInteger(proof.size);
  let included = false;
  if (wellFormed) {
    const leaf = hashLeaf(sha256Portable, fromHex(lineHash));
    included = checkInclusion(sha256Portable, seq, proof.size, leaf, path, fromHex(proof.logRoot));
  }
  checks.push(
    check(
      `inclusion path (${Array.isArray(proof.path) ? proof.path.length : 0} hashes) leads to the log root of size ${proof.size}`,
      included,
      !wellFormed ? 'the proof is malformed (a hash is not 64 lowercase hex characters, or the size is not an integer)' : included ? proof.logRoot : `the path does not lead to ${proof.logRoot}`,
    ),
  );
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * Checks `GET /v1/consistency?from=&to=`'s answer: the log of `size1` whose root the page
 * verified is a prefix of the log of `size2` with `root2` (RFC 9162 §2.1.4.2).
 */
export function verifyConsistency(size1, root1, answer) {
  const path = Array.isArray(answer?.path) ? answer.path.map((p) => (isHex64(p) ? fromHex(p) : undefined)) : undefined;
  if (path === undefined || path.some((p) => p === undefined) || !isHex64(answer.root2) || !isHex64(root1)) return false;
  if (answer.size1 !== size1 || answer.root1 !== root1) return false;
  return checkConsistency(sha256Portable, size1, answer.size2, fromHex(root1), fromHex(answer.root2), path);
}
