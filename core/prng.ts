/**
 * xoshiro128** 1.1 (Blackman & Vigna): a 128-bit state, 32-bit output PRNG. Same sequence on
 * every platform; test vectors from the reference C code are in test/unit/prng.test.ts.
 */
export class Xoshiro128 {
  private s: Uint32Array

  constructor(seed: ArrayLike<number>) {
    if (seed.length !== 4) throw new RangeError('xoshiro128** needs a seed of four 32-bit words')
    this.s = Uint32Array.from(seed)
    if (this.s.every((w) => w === 0)) throw new RangeError('xoshiro128** seed must not be all zero')
  }

  /** The next 32-bit unsigned output. */
  nextUint32(): number {
    const s = this.s
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = s[1]! << 9
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result
  }

  /** A float in [0, 1) with 53 random bits (two outputs). */
  nextFloat(): number {
    return ((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) / 9007199254740992
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/** A float in [0, 1) with 53 bits from the platform's cryptographic generator. */
export function cryptoFloat(): number {
  const w = crypto.getRandomValues(new Uint32Array(2))
  return ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6)) / 9007199254740992
}

/** An RFC 4122 version-4 UUID from the platform's cryptographic generator. */
function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

/** `bytes` random bytes from the platform's CSPRNG, as lowercase hex (ids, never agreed values). */
export function randomHex(bytes: number): string {
  return hex(crypto.getRandomValues(new Uint8Array(bytes)))
}

export function cryptoUUID(): string {
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = hex(b)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
