// Stores compare a stored snapshot's bytes with snapshotPrefix(slot + 1) to refuse proposals below
// it: that needs the encoding of [1, run, stream, slot, ...] to sort by slot, across every size of
// integer encoding, whatever the state.
import { expect, test } from 'vitest'
import { createCodec } from '../../core/codec.js'
import { encodeSnapshot, snapshotPrefix } from '../../core/snapshot.js'
import { createCborFormat } from '../../core/cbor-format.js'

const codec = createCodec(createCborFormat())
const less = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0
const edges = [0, 1, 22, 23, 24, 25, 254, 255, 256, 257, 65_534, 65_535, 65_536, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 10 ** 12 - 2, 10 ** 12 - 1]

test('a snapshot taken at S compares below snapshotPrefix(s + 1) exactly when S <= s', () => {
  for (const S of edges) {
    const stored = encodeSnapshot(codec, { run: 'r', stream: 'main', slot: S }, { big: 'x'.repeat(300), n: [S, -1] })
    expect(Array.from(stored.subarray(0, snapshotPrefix(codec, 'r', 'main', S).length))).toEqual(Array.from(snapshotPrefix(codec, 'r', 'main', S)))
    for (const s of edges) expect(less(stored, snapshotPrefix(codec, 'r', 'main', s + 1)), `S=${S} s=${s}`).toBe(S <= s)
  }
})
