/** See record-hash.mjs. */
export function recordHash(rec: { kind: string; name: string; argsHash: string; by: string; ok: boolean; value: unknown }): string
