/**
 * Property replacements that can be undone: every patch of a script's globals is recorded with the
 * original descriptor, and `restore()` puts them back in reverse order.
 */
interface Saved {
  target: object
  key: string
  desc: PropertyDescriptor | undefined
}

export class Patcher {
  private saved: Saved[] = []

  /** Replace `target[key]` with a plain value (a function), not enumerable, as builtins are. */
  set(target: object, key: string, value: unknown): void {
    this.define(target, key, { value, writable: true, configurable: true, enumerable: false })
  }

  /** Replace `target[key]` with an accessor (or any descriptor). */
  define(target: object, key: string, desc: PropertyDescriptor): void {
    this.saved.push({ target, key, desc: Object.getOwnPropertyDescriptor(target, key) })
    Object.defineProperty(target, key, { configurable: true, ...desc })
  }

  restore(): void {
    for (const s of this.saved.reverse()) {
      if (s.desc) Object.defineProperty(s.target, s.key, s.desc)
      else delete (s.target as Record<string, unknown>)[s.key]
    }
    this.saved = []
  }
}
