/**
 * `<repjs-prompt>`: a framework-free custom element for a run's shared prompt. Registered by
 * importing 'repjs/browser/prompt'.
 *
 *   <repjs-prompt label="Command" placeholder="set altitude 3000"></repjs-prompt>
 *   const el = document.querySelector('repjs-prompt'); el.replica = rep
 *   for (;;) { const line = await rep.input(); if (line === null) break; apply(line) }  // the app's loop
 *
 * It shows the transcript of agreed lines (every line the app's input() loop agreed, through
 * rep.on('input')), each with its slot, who typed it and, when the app gives one, its agreed time;
 * an input that commits on Enter (rep.typeLine; Enter during IME composition is ignored); the lines
 * typed here that are not agreed yet (rep.pendingInput()), shown as not sent once end of input is
 * agreed; and the replica's status with the engine's names (connecting, live, catching-up,
 * waiting-for-quorum, reconnecting, closed). It never calls input() itself and makes no replicated
 * call of its own. Set `replica` before the app's loop starts so no agreed line is missed.
 *
 * Accessibility: the transcript is role=log (aria-live polite) and focusable for scrolling; the
 * status is role=status; the input is labelled (attribute `label`, default "Command").
 * Styling: CSS parts transcript, line (plus local / remote / end), slot, who, time, text, pending
 * (the list of lines typed here not agreed yet; its lines are `line pending-line`, or
 * `line unsent` after end of input), entry, label, input, status. The host reflects the state in
 * its `status` attribute and has `ended` once end of input is agreed.
 */
import type { InputLine } from '../core/input.js'
import type { Replica } from '../core/replica.js'
import type { Status } from '../core/status.js'

const Base: typeof HTMLElement = typeof HTMLElement === 'undefined' ? (class {} as unknown as typeof HTMLElement) : HTMLElement

/** Agreed ms since the epoch as UTC hh:mm:ss: the same text on every replica, whatever its time zone. */
export function formatAgreedTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19)
}

const STYLE = `
:host { display: flex; flex-direction: column; gap: .5em; font: inherit; }
:host([hidden]) { display: none; }
[part~=status] { font-size: .85em; opacity: .8; }
[part~=transcript] { list-style: none; margin: 0; padding: 0; overflow-y: auto; max-height: var(--repjs-prompt-max-height, 24em); min-height: 3em; }
[part~=pending] { list-style: none; margin: 0; padding: 0; }
[part~=pending]:empty { display: none; }
[part~=line] { white-space: pre-wrap; overflow-wrap: anywhere; }
[part~=slot], [part~=time] { opacity: .6; font-variant-numeric: tabular-nums; }
[part~=who] { font-weight: 600; }
[part~=who]::after { content: ':'; }
[part~=pending-line] { opacity: .6; font-style: italic; }
[part~=unsent] [part~=text] { text-decoration: line-through; }
[part~=end] { font-style: italic; opacity: .7; }
[part~=entry] { display: flex; gap: .5em; align-items: baseline; }
[part~=input] { flex: 1; font: inherit; }
.note { font-size: .85em; }
`

export class RepJSPrompt extends Base {
  static readonly observedAttributes = ['label', 'placeholder']

  /**
   * The text shown as a line's time: given the line and its agreed time (ms, if the app set one with
   * setLineTime), return the text, or undefined to show none. Default: UTC hh:mm:ss of the agreed time.
   */
  formatTime: (line: InputLine, agreedMs: number | undefined) => string | undefined = (_line, ms) => (ms === undefined ? undefined : formatAgreedTime(ms))
  /** Oldest transcript lines beyond this many are removed from the page. */
  maxLines = 1000

  #replica: Replica | undefined
  #unsubscribe: Array<() => void> = []
  #ended = false
  #composing = false
  #lines = new Map<number, { li: HTMLLIElement; line: InputLine }>()
  #times = new Map<number, number>()
  readonly #root: ShadowRoot
  readonly #status: HTMLElement
  readonly #transcript: HTMLOListElement
  readonly #pending: HTMLOListElement
  readonly #label: HTMLLabelElement
  readonly #input: HTMLInputElement

  constructor() {
    super()
    this.#root = this.attachShadow({ mode: 'open', delegatesFocus: true })
    const doc = this.ownerDocument
    const style = doc.createElement('style')
    style.textContent = STYLE
    this.#status = el(doc, 'div', { part: 'status', role: 'status' })
    this.#status.textContent = 'not connected'
    this.#transcript = el(doc, 'ol', { part: 'transcript', role: 'log', 'aria-live': 'polite', 'aria-label': 'Transcript', tabindex: '0' })
    this.#pending = el(doc, 'ol', { part: 'pending', 'aria-label': 'Typed here, not agreed yet' })
    const entry = el(doc, 'div', { part: 'entry' })
    this.#label = el(doc, 'label', { part: 'label', for: 'repjs-input' })
    this.#input = el(doc, 'input', {
      part: 'input', id: 'repjs-input', type: 'text', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', enterkeyhint: 'send',
    })
    this.#input.disabled = true
    entry.append(this.#label, this.#input)
    this.#root.append(style, this.#status, this.#transcript, this.#pending, entry)
    this.#syncAttributes()

    this.#input.addEventListener('compositionstart', () => (this.#composing = true))
    this.#input.addEventListener('compositionend', () => (this.#composing = false))
    this.#input.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey) return
      // Enter that confirms an IME composition is not a commit (229: Safari's keydown after compositionend).
      if (e.isComposing || this.#composing || e.keyCode === 229) return
      e.preventDefault()
      this.commit()
    })
  }

  attributeChangedCallback(): void {
    this.#syncAttributes()
  }

  /**
   * The replica whose agreed input this element shows and to which Enter sends lines. The element
   * keeps listening while detached from the page (moving it loses no line); set undefined to stop.
   */
  get replica(): Replica | undefined {
    return this.#replica
  }

  set replica(rep: Replica | undefined) {
    if (rep === this.#replica) return
    for (const u of this.#unsubscribe.splice(0)) u()
    this.#replica = rep
    this.#ended = false
    this.#lines.clear()
    this.#times.clear()
    this.#transcript.replaceChildren()
    this.removeAttribute('ended')
    if (!rep) {
      this.#showStatus(undefined)
      this.#renderPending()
      return
    }
    this.#unsubscribe.push(
      rep.on('status', (s) => this.#showStatus(s)),
      rep.on('input', (l) => this.#agreed(l)),
    )
    this.#showStatus(rep.status)
    this.#renderPending()
  }

  /** True once end of input is agreed (the input is disabled then). */
  get ended(): boolean {
    return this.#ended
  }

  /** Send the input's text as a typed line (what Enter does). Blank lines are not sent. */
  commit(): void {
    const rep = this.#replica
    const text = this.#input.value
    if (!rep || this.#input.disabled || text.trim() === '') return
    rep.typeLine(text)
    this.#input.value = ''
    this.#renderPending()
    this.dispatchEvent(new CustomEvent('repjs-typed', { detail: { line: text }, bubbles: true, composed: true }))
  }

  /** Show the agreed time (ms since the epoch, from an agreed call the app made) of the line at `slot`. */
  setLineTime(slot: number, agreedMs: number): void {
    this.#times.set(slot, agreedMs)
    const entry = this.#lines.get(slot)
    if (entry) this.#renderTime(entry.li, entry.line)
  }

  #syncAttributes(): void {
    this.#label.textContent = this.getAttribute('label') ?? 'Command'
    const placeholder = this.getAttribute('placeholder')
    if (placeholder === null) this.#input.removeAttribute('placeholder')
    else this.#input.placeholder = placeholder
  }

  #showStatus(s: Status | undefined): void {
    const state = s?.state ?? 'not connected'
    this.#status.textContent = state
    this.#status.dataset.state = state
    if (s?.reason) this.#status.title = s.reason
    else this.#status.removeAttribute('title')
    if (s) this.setAttribute('status', s.state)
    else this.removeAttribute('status')
    this.#input.disabled = !s || s.state === 'closed' || this.#ended
  }

  #agreed(line: InputLine): void {
    const doc = this.ownerDocument
    const t = this.#transcript
    const atBottom = t.scrollHeight - t.scrollTop - t.clientHeight < 4
    const li = el(doc, 'li', { part: line.line === null ? 'line end' : `line ${line.local ? 'local' : 'remote'}` })
    li.dataset.slot = String(line.slot)
    li.dataset.replica = line.replica
    const slot = el(doc, 'span', { part: 'slot' })
    slot.textContent = `#${line.slot} `
    const who = el(doc, 'span', { part: 'who' })
    who.textContent = line.who
    const time = el(doc, 'time', { part: 'time' })
    const text = el(doc, 'span', { part: 'text' })
    text.textContent = line.line === null ? 'ended input' : line.line
    li.append(slot, who, ' ', time, text)
    this.#lines.set(line.slot, { li, line })
    this.#renderTime(li, line)
    t.append(li)
    while (this.#lines.size > this.maxLines) {
      const [first] = this.#lines.keys()
      this.#lines.get(first!)!.li.remove()
      this.#lines.delete(first!)
      this.#times.delete(first!)
    }
    if (atBottom) t.scrollTop = t.scrollHeight
    if (line.line === null) {
      this.#ended = true
      this.setAttribute('ended', '')
      this.#input.disabled = true
      this.#input.placeholder = 'input ended'
    }
    this.#renderPending()
  }

  #renderTime(li: HTMLLIElement, line: InputLine): void {
    const time = li.querySelector('time')!
    const ms = this.#times.get(line.slot) ?? line.time
    const text = this.formatTime(line, ms)
    if (text === undefined) {
      time.textContent = ''
      time.removeAttribute('datetime')
      return
    }
    time.textContent = text + ' '
    if (ms !== undefined) time.dateTime = new Date(ms).toISOString()
  }

  #renderPending(): void {
    const doc = this.ownerDocument
    const lines = this.#replica?.pendingInput() ?? []
    const items = lines.map((line) => {
      const li = el(doc, 'li', { part: this.#ended ? 'line unsent' : 'line pending-line' })
      const text = el(doc, 'span', { part: 'text' })
      text.textContent = line === null ? 'end of input' : line
      const note = el(doc, 'span', { class: 'note' })
      note.textContent = this.#ended ? ' (not sent: input ended)' : ' (pending)'
      li.append(text, note)
      return li
    })
    this.#pending.replaceChildren(...items)
  }
}

function el<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, attrs: Record<string, string>): HTMLElementTagNameMap[K] {
  const e = doc.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  return e
}

declare global {
  interface HTMLElementTagNameMap {
    'repjs-prompt': RepJSPrompt
  }
}

if (typeof customElements !== 'undefined' && !customElements.get('repjs-prompt')) customElements.define('repjs-prompt', RepJSPrompt)
