/**
 * The binary format behind core's codec: CBOR via cbor-x. Core's wire tree uses only CBOR's own
 * types plus one tag (TAGGED_CBOR_TAG) for `Tagged` nodes. Maps and every other CBOR tag decode to
 * values that core's strict `fromWire` rejects, so a crafted value can only fail, never build
 * something unexpected. Isomorphic: only cbor-x, so the browser runtime uses it too.
 */
import { addExtension, Decoder, Encoder } from 'cbor-x'
import { Tagged, type BinaryFormat } from './codec.js'
import { ErrorCodes, RepJSError } from './errors.js'

export const TAGGED_CBOR_TAG = 40401

addExtension({
  Class: Tagged,
  tag: TAGGED_CBOR_TAG,
  encode(t: Tagged, encode: (v: unknown) => Uint8Array) {
    return encode([t.kind, t.payload])
  },
  decode(data: unknown) {
    if (!Array.isArray(data) || data.length !== 2 || typeof data[0] !== 'number') throw new RepJSError(ErrorCodes.CORRUPT, 'bad RepJS tag')
    return new Tagged(data[0], data[1])
  },
})

const options = { useRecords: false, mapsAsObjects: false, tagUint8Array: false, structuredClone: false, pack: false } as const

export function createCborFormat(): BinaryFormat {
  const encoder = new Encoder(options)
  const decoder = new Decoder(options)
  return {
    encode: (tree) => Uint8Array.prototype.slice.call(encoder.encode(tree)),
    decode: (bytes) => decoder.decode(bytes),
  }
}
