// What the lean HTTP/2 connection's tests share: one gRPC message frame, and things to close after each test.
import { afterEach } from 'vitest'

/** `msg` as one gRPC message frame (uncompressed). */
export function grpcFrame(msg: Buffer): Buffer {
  const b = Buffer.alloc(5 + msg.length)
  b.writeUInt32BE(msg.length, 1)
  msg.copy(b, 5)
  return b
}

/** A list of closers run (and emptied) after each test of the calling file. */
export function useClosers(): (() => void)[] {
  const closers: (() => void)[] = []
  afterEach(() => {
    for (const c of closers.splice(0)) c()
  })
  return closers
}
