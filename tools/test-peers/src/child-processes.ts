// Bookkeeping shared by every peer the harness starts: a registry that kills whatever is still
// running when the Node process exits, a bounded stop (polite request, SIGTERM, then SIGKILL),
// and a splitter that turns stdout chunks into whole lines.

import type { ChildProcess } from 'node:child_process'

const running = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Tracks a child so it is SIGKILLed if the Node process exits while it still runs. The children
 * also watch their parent themselves (python: PR_SET_PDEATHSIG and end of stdin; aria2c:
 * `--stop-with-process`), which covers a parent killed with SIGKILL.
 */
export function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', killAllChildren)
  }
  running.add(child)
  child.once('exit', () => running.delete(child))
}

/** SIGKILLs every child the harness started that is still running. Synchronous. */
export function killAllChildren(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  running.clear()
}

/** Number of harness children still running, for leak checks in tests. */
export function runningChildCount(): number {
  return running.size
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** Resolves with the exit status, or with `undefined` if the child still runs after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<ExitStatus | undefined> {
  if (hasExited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      resolve({ code, signal })
    }
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      resolve(undefined)
    }, timeoutMs)
    child.once('exit', onExit)
  })
}

/**
 * Stops a child within a bounded time: `politely` (e.g. writing `quit` to its stdin) first, then
 * SIGTERM after `graceMs`, then SIGKILL one second later. Safe to call more than once.
 */
export async function stopChild(
  child: ChildProcess,
  politely: () => void,
  graceMs = 2000,
): Promise<ExitStatus> {
  if (!hasExited(child)) {
    try {
      politely()
    } catch {
      // the pipe may already be closed
    }
  }
  let status = await waitForExit(child, graceMs)
  if (status) return status
  child.kill('SIGTERM')
  status = await waitForExit(child, 1000)
  if (status) return status
  child.kill('SIGKILL')
  status = await waitForExit(child, 5000)
  return status ?? { code: null, signal: 'SIGKILL' }
}

/** Turns arbitrary chunks of text into complete lines; a line can arrive split across chunks. */
export class LineSplitter {
  #pending = ''

  /** Feeds one chunk and returns the lines it completed (without their line endings). */
  push(chunk: string): string[] {
    const text = this.#pending + chunk
    const lines = text.split('\n')
    this.#pending = lines.pop() ?? ''
    return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
  }

  /** Returns whatever is left once the stream has ended (an unterminated last line). */
  flush(): string[] {
    const rest = this.#pending
    this.#pending = ''
    return rest === '' ? [] : [rest]
  }
}

/** Keeps the last `limit` characters of a stream, for error messages. */
export class OutputTail {
  #text = ''
  readonly #limit: number

  constructor(limit = 8192) {
    this.#limit = limit
  }

  append(chunk: string): void {
    this.#text += chunk
    if (this.#text.length > this.#limit * 2) this.#text = this.#text.slice(-this.#limit)
  }

  toString(): string {
    return this.#text.slice(-this.#limit)
  }
}

/** True when CHUNKTORRENT_TEST_PEERS_DEBUG is set: every peer's output is echoed to stderr. */
export function debugEnabled(): boolean {
  const value = process.env.CHUNKTORRENT_TEST_PEERS_DEBUG
  return value !== undefined && value !== '' && value !== '0'
}
