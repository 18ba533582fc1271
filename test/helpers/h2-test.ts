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

/**
 * The next `n` uncaught exceptions (a handler's throw re-thrown asynchronously), caught here
 * instead of by vitest's own listeners, which are put back after the n-th.
 */
export function nextUncaught(n = 1): Promise<Error[]> {
  const theirs = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  const got: Error[] = []
  return new Promise((resolve) => {
    const mine = (err: Error) => {
      got.push(err)
      if (got.length < n) return
      process.off('uncaughtException', mine)
      for (const l of theirs) process.on('uncaughtException', l)
      resolve(got)
    }
    process.on('uncaughtException', mine)
  })
}
