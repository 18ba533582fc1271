/** Property replacements recorded with their originals, undone in reverse order (the zone installers'). */
export class Patches {
  private saved: Array<{ target: object; key: PropertyKey; desc: PropertyDescriptor | undefined }> = []

  /** Replace `target[key]` with `value` (non-enumerable, as builtins are). */
  set(target: object, key: PropertyKey, value: unknown): void {
    this.saved.push({ target, key, desc: Object.getOwnPropertyDescriptor(target, key) })
    Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false })
  }

  restore(): void {
    for (const s of this.saved.reverse()) {
      if (s.desc) Object.defineProperty(s.target, s.key, s.desc)
      else delete (s.target as Record<PropertyKey, unknown>)[s.key]
    }
    this.saved = []
  }
}
