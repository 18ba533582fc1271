// The browser end-to-end tests need Chromium (playwright-core drives the system's): `npm test`'s
// pretest runs this after the build, so a fresh machine gets it (Debian's package, as root), or
// is told the command that installs it. A test helper, not a repjs command.
import { ensureInstalled } from '../dist/node-gateway/cli/ensure-tool.js'

ensureInstalled('chromium', { bins: ['chromium'], packages: ['chromium'] })
