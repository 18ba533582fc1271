/** Command-line flags: `--name value`, `--name=value`, `--flag`; the rest are positionals. */
import { parseArgs } from 'node:util'

export function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true })
}
