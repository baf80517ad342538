// A child process that reports events as JSON lines on stdout: this turns the lines into typed
// events, remembers them so a wait that starts late still sees an event that already happened,
// and ends every wait on the event, a failure, the process exiting, or a timeout.

import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { debugEnabled, type ExitStatus, LineSplitter, OutputTail, trackChild } from './child-processes.ts'
import { TestPeerError } from './errors.ts'

/** One line of a peer's output: `{ "event": name, ...fields }`. */
export interface PeerEvent {
  event: string
}

export interface WaitOptions<Event> {
  /** Rejects with `ERR_TIMEOUT` after this long. */
  timeoutMs?: number
  /** Only events for which this returns true count. */
  predicate?: (event: Event) => boolean
  /** Also match events that arrived before the wait began (default true). */
  includePast?: boolean
}

const historyLimit = 10_000

/**
 * Events are emitted on `events` under their own name and under `'event'`; the process's end is
 * emitted as `'exit'` with its `ExitStatus`, and any stdout line that is not JSON as `'output'`.
 * An event named `failed` is fatal: it rejects every pending wait.
 */
export class PeerProcess<EventMap extends { [Name in keyof EventMap]: PeerEvent }> {
  readonly process: ChildProcess
  readonly pid: number
  readonly label: string
  readonly events = new EventEmitter()
  /** Every event so far except `progress` (only the last of those is kept, in `lastProgress`). */
  readonly history: PeerEvent[] = []
  lastProgress: EventMap[keyof EventMap] | undefined
  readonly exited: Promise<ExitStatus>
  readonly #output = new OutputTail()
  #exitStatus: ExitStatus | undefined
  readonly #defaultTimeoutMs: number

  constructor(child: ChildProcess, label: string, defaultTimeoutMs: number) {
    if (child.pid === undefined) throw new TestPeerError('ERR_NOT_INSTALLED', `${label} did not start`)
    this.process = child
    this.pid = child.pid
    this.label = label
    this.#defaultTimeoutMs = defaultTimeoutMs
    trackChild(child)
    const debug = debugEnabled()
    const splitter = new LineSplitter()
    child.stdout?.setEncoding('utf8')
    child.stderr?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      for (const line of splitter.push(chunk)) this.#handleLine(line, debug)
    })
    child.stdout?.on('end', () => {
      for (const line of splitter.flush()) this.#handleLine(line, debug)
    })
    child.stderr?.on('data', (chunk: string) => {
      this.#output.append(chunk)
      if (debug) process.stderr.write(`[${this.label} ${this.pid} stderr] ${chunk}`)
    })
    // 'close' comes after stdout has ended, so every line is handled before the exit is seen.
    this.exited = new Promise((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        const status = { code, signal }
        this.#exitStatus = status
        this.events.emit('exit', status)
        resolve(status)
      })
    })
  }

  #handleLine(line: string, debug: boolean): void {
    if (debug) process.stderr.write(`[${this.label} ${this.pid}] ${line}\n`)
    let parsed: unknown
    if (line.startsWith('{')) {
      try {
        parsed = JSON.parse(line)
      } catch {
        parsed = undefined
      }
    }
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as PeerEvent).event !== 'string') {
      this.#output.append(`${line}\n`)
      this.events.emit('output', line)
      return
    }
    const event = parsed as PeerEvent
    if (event.event === 'progress') this.lastProgress = event as EventMap[keyof EventMap]
    else {
      this.history.push(event)
      if (this.history.length > historyLimit) this.history.splice(0, this.history.length - historyLimit)
    }
    if (event.event === 'failed') this.#output.append(`${line}\n`)
    this.events.emit(event.event, event)
    this.events.emit('event', event)
  }

  /** True once the process has exited and all of its output has been read. */
  get hasExited(): boolean {
    return this.#exitStatus !== undefined
  }

  /** The last lines of stderr and of non-JSON stdout, for error messages. */
  outputTail(): string {
    return this.#output.toString()
  }

  /** Events of one kind seen so far (not `progress`). */
  eventsNamed<Name extends keyof EventMap & string>(name: Name): EventMap[Name][] {
    return this.history.filter((event) => event.event === name) as EventMap[Name][]
  }

  /**
   * Resolves with the first event called `name` (matching `predicate`), looking at past events
   * first unless `includePast` is false. Rejects on a `failed` event, when the process exits,
   * or after `timeoutMs`.
   */
  waitFor<Name extends keyof EventMap & string>(
    name: Name,
    options: WaitOptions<EventMap[Name]> | number = {},
  ): Promise<EventMap[Name]> {
    const {
      timeoutMs = this.#defaultTimeoutMs,
      predicate = () => true,
      includePast = true,
    } = typeof options === 'number' ? { timeoutMs: options } : options
    const matches = (event: PeerEvent): event is EventMap[Name] =>
      event.event === name && predicate(event as EventMap[Name])
    if (includePast) {
      const past = name === 'progress' ? [this.lastProgress] : this.history
      const found = past.find((event) => event !== undefined && matches(event))
      if (found) return Promise.resolve(found as EventMap[Name])
      const failure = name === 'failed' ? undefined : this.history.find((event) => event.event === 'failed')
      if (failure) return Promise.reject(this.#failure(`waiting for '${name}'`, failure))
    }
    const exitStatus = this.#exitStatus
    if (exitStatus) {
      return Promise.reject(this.#exitError(`waiting for '${name}'`, exitStatus.code, exitStatus.signal))
    }
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer)
        this.events.off('event', onEvent)
        this.events.off('exit', onExit)
      }
      const onEvent = (event: PeerEvent) => {
        if (matches(event)) {
          cleanup()
          resolve(event)
        } else if (event.event === 'failed' && name !== 'failed') {
          cleanup()
          reject(this.#failure(`waiting for '${name}'`, event))
        }
      }
      const onExit = (status: ExitStatus) => {
        cleanup()
        reject(this.#exitError(`waiting for '${name}'`, status.code, status.signal))
      }
      const timer = setTimeout(() => {
        cleanup()
        const progress = this.lastProgress ? `; last progress ${JSON.stringify(this.lastProgress)}` : ''
        reject(
          new TestPeerError(
            'ERR_TIMEOUT',
            `${this.label} (pid ${this.pid}): no '${name}' within ${timeoutMs} ms${progress}${this.#tail()}`,
          ),
        )
      }, timeoutMs)
      this.events.on('event', onEvent)
      this.events.once('exit', onExit)
    })
  }

  #tail(): string {
    const tail = this.outputTail().trim()
    return tail === '' ? '' : `\n--- output ---\n${tail}`
  }

  #failure(doing: string, event: PeerEvent): TestPeerError {
    return new TestPeerError(
      'ERR_PEER_ERROR',
      `${this.label} (pid ${this.pid}) failed while ${doing}: ${JSON.stringify(event)}${this.#tail()}`,
    )
  }

  #exitError(doing: string, code: number | null, signal: NodeJS.Signals | null): TestPeerError {
    return new TestPeerError(
      'ERR_PEER_EXITED',
      `${this.label} (pid ${this.pid}) exited with ${code ?? signal} while ${doing}${this.#tail()}`,
    )
  }
}
