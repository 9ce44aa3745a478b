/**
 * UTF-8 byte length of a JavaScript string without encoding it (no Buffer, so the core and
 * the browser can use it). Lone surrogates count as the 3 bytes of U+FFFD, as TextEncoder
 * would write them; the canonical codec rejects them before they reach a line anyway.
 */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
