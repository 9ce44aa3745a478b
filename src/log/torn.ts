/**
 * Telling a torn last line from a damaged one.
 *
 * A torn tail is what a crash mid-write leaves: a proper prefix of a line (the writer writes
 * `line\n` in one write, acknowledged only after fdatasync, so such bytes were never
 * acknowledged). A prefix of a canonical event line never contains the end of the top-level
 * object before its last byte, so tail bytes that close the top-level object and then go on
 * (e.g. the final `\n` flipped into another byte) are damage to an acknowledged line, not a
 * tear, and must be reported as a fault instead of being quarantined.
 */

/**
 * Returns the index just after the top-level JSON object's closing `}` if the bytes close it,
 * or -1 if they end while the object is still open (or do not start with `{`).
 */
export function topLevelObjectEnd(bytes: Uint8Array): number {
  if (bytes.length === 0 || bytes[0] !== 0x7b) return -1;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c) i++; // skip the escaped byte
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) depth++;
    else if (b === 0x7d || b === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** True when tail bytes (after the last `\n`) look like a crash's torn write, not damage. */
export function isTornWrite(tail: Uint8Array): boolean {
  const end = topLevelObjectEnd(tail);
  return end === -1 || end === tail.length;
}
