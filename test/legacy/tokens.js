// Issue credentials for a few new users: ids, API keys, PINs and recovery codes.
const crypto = require('crypto')
const fs = require('fs')

const users = (process.argv[2] || 'ada,grace,linus').split(',')
const issued = []
for (const user of users) {
  const id = crypto.randomUUID()
  const apiKey = crypto.randomBytes(16).toString('hex')
  const pin = String(crypto.randomInt(10000)).padStart(4, '0')
  const recovery = Array.from(globalThis.crypto.getRandomValues(new Uint16Array(3)), (w) => w.toString(16).padStart(4, '0')).join('-')
  issued.push({ user, id, apiKey, pin, recovery })
  console.log(`${user.padEnd(6)} ${id} key=${apiKey.slice(0, 8)}… pin=${pin} recovery=${recovery}`)
}
crypto.randomBytes(9, (err, buf) => {
  if (err) throw err
  const batch = buf.toString('base64url')
  fs.writeFileSync('credentials.json', JSON.stringify({ batch, session: globalThis.crypto.randomUUID(), issued }, null, 2) + '\n')
  console.log(`batch ${batch}: ${issued.length} users written to credentials.json`)
})
