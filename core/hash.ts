/** 64-bit FNV-1a over bytes, as 16 hex digits: a stable fingerprint, not a security measure. */
export function fingerprint(bytes: Uint8Array): string {
  let h1 = 0x811c9dc5
  let h2 = 0x01000193 ^ 0x5bd1e995
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i]!, 0x01000193) >>> 0
    h2 = Math.imul(h2 ^ bytes[i]!, 0x5bd1e995) >>> 0
  }
  h2 = Math.imul(h2 ^ (h2 >>> 15), 0x01000193) >>> 0
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')
}

const encoder = new TextEncoder()
export function fingerprintText(text: string): string {
  return fingerprint(encoder.encode(text))
}
