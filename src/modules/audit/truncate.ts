/**
 * Cutting text to a UTF-8 byte budget at a character boundary, for attack snippets and
 * rejection messages: the record of an attack must fit one log line however large the
 * attack payload was.
 *
 * Invariants: the result is a prefix of the (well-formed) input, never splits a surrogate
 * pair, is at most `maxBytes` UTF-8 bytes, and is the longest such prefix (so when it was
 * cut, adding the next character, 1 to 4 bytes, would exceed the budget).
 */
import { utf8ByteLength } from '../../canonical/utf8.js';

export interface Truncated {
  text: string;
  /** UTF-8 length of the whole (well-formed) input. */
  bytes: number;
  truncated: boolean;
}

/**
 * Returns the longest prefix of `text` of at most `maxBytes` UTF-8 bytes. Lone surrogates are
 * first replaced by U+FFFD (3 bytes, as `utf8ByteLength` counts them): they cannot be encoded
 * as UTF-8, so a log line could not hold them (RFC 8785 §3.2.2.2), and an attack payload is
 * exactly where they turn up.
 */
export function truncateUtf8(text: string, maxBytes: number): Truncated {
  const input = text.isWellFormed() ? text : text.toWellFormed();
  const bytes = utf8ByteLength(input);
  if (bytes <= maxBytes) return { text: input, bytes, truncated: false };
  let used = 0;
  let i = 0;
  while (i < input.length) {
    const c = input.charCodeAt(i);
    // Well-formed, so a high surrogate is always followed by its low surrogate.
    const width = c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : 3;
    if (used + width > maxBytes) break;
    used += width;
    i += width === 4 ? 2 : 1;
  }
  return { text: input.slice(0, i), bytes, truncated: true };
}
