// Which RepJS errors a plain script (repjs run, runInWorker) may catch: only outcomes agreed in the
// log. Every other RepJS error is this replica's own and stops it.
import { expect, test } from 'vitest'
import { ErrorCodes, RepJSError, stopsReplica } from '../../core/errors.js'

test('only agreed outcomes reach the script; every other RepJS error stops the replica', () => {
  const agreed = new Set<string>([ErrorCodes.IN_DOUBT, ErrorCodes.UNSERIALIZABLE])
  for (const code of Object.values(ErrorCodes)) {
    expect(stopsReplica(new RepJSError(code, 'x')), code).toBe(!agreed.has(code))
  }
  for (const code of [ErrorCodes.LIMIT, ErrorCodes.UNAUTHORIZED, ErrorCodes.PROTOCOL]) expect(stopsReplica(new RepJSError(code, 'x'))).toBe(true)
  expect(stopsReplica(new Error('ENOENT'))).toBe(false)
  expect(stopsReplica(Object.assign(new Error('x'), { code: 'REPJS_LIMIT' }))).toBe(false) // a script's own error that borrows a code
})
