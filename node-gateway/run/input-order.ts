/**
 * The script's reads of agreed input (`prompt()` through the bridge, `process.stdin` reads through
 * their port) reach the host by two ways that do not keep their order between each other. The
 * worker numbers every read with one counter, in the order the script made them (the same on every
 * replica); the host starts `input()` for read n only after read n-1's, so each replica hands the
 * same agreed line to the same read.
 */
export interface InputOrder {
  /** Run `take` (which must take its input slot synchronously, as `rep.input()` does) in turn `n`. */
  inTurn<T>(n: number, take: () => Promise<T>): Promise<T>
}

export function inputOrder(): InputOrder {
  let next = 0
  const waiting = new Map<number, () => void>()
  return {
    async inTurn(n, take) {
      if (n !== next) await new Promise<void>((resolve) => waiting.set(n, resolve))
      let taken: Promise<unknown>
      try {
        taken = take()
      } finally {
        next = n + 1
        const wake = waiting.get(next)
        waiting.delete(next)
        wake?.()
      }
      return taken as ReturnType<typeof take>
    },
  }
}
