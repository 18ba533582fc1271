/// <reference types="vite/client" />
/**
 * The flight display in a browser tab (or the Electron window): joins the run through the
 * gateway, runs the shared program (demo/app.ts) and shows it. Where to connect comes from the
 * page's query (?run=&gateway=&token=&name=), with defaults from `npm start` (VITE_REPJS_GATEWAY,
 * VITE_REPJS_RUN). In your own page: import { connect } from 'repjs/browser' and
 * import 'repjs/browser/prompt'.
 */
import { connect, type InputLine, type Replica, type Status } from '../browser/index.js'
import '../browser/prompt-element.js'
import { formatClock, hashState, PROGRAM, runFlightDisplay, type FlightState } from './app.js'

interface DemoWindow {
  rep?: Replica
  /** Agreed time of each clock tick this tab has shown (tick → ms). */
  ticks: Record<number, number>
  state?: FlightState
  hash?: string
  error?: string
}
declare global {
  interface Window {
    repjsDemo: DemoWindow
    repjsElectron?: { shell: string }
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const demo: DemoWindow = (window.repjsDemo = { ticks: {} })

const q = new URLSearchParams(location.search)
const gateway = (q.get('gateway') ?? import.meta.env.VITE_REPJS_GATEWAY ?? 'ws://127.0.0.1:7420').split(',')
const run = q.get('run') ?? import.meta.env.VITE_REPJS_RUN
const token = q.get('token') ?? undefined
const name = q.get('name') ?? tabName()

function tabName(): string {
  const key = 'repjs-demo:name'
  try {
    const kept = sessionStorage.getItem(key)
    if (kept) return kept
  } catch {
    /* storage blocked: a fresh name each load */
  }
  const kind = window.repjsElectron ? 'electron' : 'tab'
  const n = `${kind}-${Array.from(crypto.getRandomValues(new Uint8Array(2)), (b) => b.toString(16).padStart(2, '0')).join('')}`
  try {
    sessionStorage.setItem(key, n)
  } catch {
    /* ignore */
  }
  return n
}

function showError(message: string): void {
  demo.error = message
  const e = $('error')
  e.textContent = message
  e.hidden = false
  setStatus('error')
}

function setStatus(state: string, reason?: string): void {
  const s = $('status')
  s.textContent = state
  s.dataset.state = state
  s.title = reason ?? ''
}

function showSlots(rep: Replica): void {
  const s = rep.status
  $('slot').textContent = `${s.slot} / ${s.head}`
}

const replicas = new Map<string, string>() // replica id → name
function showReplicas(rep: Replica): void {
  const list = $('replicas')
  list.replaceChildren(
    ...[...replicas].map(([id, who]) => {
      const li = document.createElement('li')
      li.textContent = id === rep.info.replicaId ? `${who} (you)` : who
      li.title = `replica ${id}`
      if (id === rep.info.replicaId) li.className = 'me'
      return li
    }),
  )
}

function showState(state: FlightState, hash: string): void {
  demo.state = state
  demo.hash = hash
  $('altitude').textContent = String(state.altitude)
  $('heading').textContent = String(state.heading).padStart(3, '0')
  $('needle').style.transform = `rotate(${state.heading}deg)`
  $('speed').textContent = String(state.speed)
  $('roll').textContent = state.lastRoll === null ? '–' : String(state.lastRoll)
  $('hash').textContent = hash
  const log = $('log')
  log.replaceChildren(
    ...state.log
      .slice()
      .reverse()
      .map((e) => {
        const li = document.createElement('li')
        const who = document.createElement('span')
        who.className = 'who'
        who.textContent = e.who
        const reply = document.createElement('span')
        reply.className = 'reply'
        reply.textContent = `→ ${e.reply}`
        li.append(who, `: ${e.line}`, reply)
        return li
      }),
  )
}

async function main(): Promise<void> {
  $('me').textContent = name
  if (!run) {
    showError('No run to join. Start the demo with `npm start` and open the address it prints (…/?run=<run>).')
    return
  }
  $('run').textContent = run
  setStatus('connecting', gateway.join(', '))
  showState({ altitude: 0, heading: 0, speed: 0, lastRoll: null, log: [] }, hashState({ altitude: 0, heading: 0, speed: 0, lastRoll: null, log: [] }))

  let rep: Replica
  try {
    rep = await connect({ gateway, run, token, program: PROGRAM, name, runtime: window.repjsElectron ? 'electron' : 'browser' })
  } catch (err) {
    showError(`Could not join run '${run}' through ${gateway.join(', ')}: ${err instanceof Error ? err.message : String(err)}`)
    return
  }
  demo.rep = rep
  const prompt = $('prompt') as HTMLElement & { replica?: Replica }
  prompt.replica = rep // before the program's loop starts, so the prompt sees every agreed line

  replicas.set(rep.info.replicaId, name)
  showReplicas(rep)
  const onStatus = (s: Status) => {
    setStatus(s.state, s.reason)
    showSlots(rep)
  }
  rep.on('status', onStatus)
  onStatus(rep.status)
  rep.on('input', (l: InputLine) => {
    $('input-slot').textContent = String(l.slot)
    if (!replicas.has(l.replica)) {
      replicas.set(l.replica, l.who)
      showReplicas(rep)
    }
  })

  let applied = 0
  const program = runFlightDisplay(rep, {
    onTick(t, tick) {
      demo.ticks[tick] = t
      const clock = $('clock')
      clock.textContent = formatClock(t)
      clock.dataset.tick = String(tick)
      clock.dataset.time = String(t)
      $('date').textContent = new Date(t).toISOString().slice(0, 10)
      $('tick').textContent = String(tick)
      showSlots(rep)
    },
    onState(state, hash) {
      applied++
      $('applied').textContent = String(applied)
      showState(state, hash)
      showSlots(rep)
    },
    onEnd() {
      setStatus('input ended')
    },
    onError(err) {
      showError(`The program stopped: ${err instanceof Error ? err.message : String(err)}`)
    },
  })
  addEventListener('pagehide', () => {
    program.stopClock()
    void rep.close()
  })
}

void main()
