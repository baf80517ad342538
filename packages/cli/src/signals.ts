// Ctrl-C and SIGTERM: the first one aborts the command's signal so it can close the client
// cleanly (in-flight pieces stored and verified, the store closed) and the next run resumes; a
// second one while closing exits at once.
import { ExitCode, Interrupted } from './errors.ts'
import type { Output } from './output.ts'

export interface Interruption {
  /** Aborted (reason: an Interrupted error) at the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal
  /** Resolves at the first SIGINT or SIGTERM (for commands that run until stopped). */
  readonly stopped: Promise<Interrupted>
  dispose(): void
}

export function handleInterrupts(output: Output): Interruption {
  const controller = new AbortController()
  let resolveStopped: (value: Interrupted) => void = () => {}
  const stopped = new Promise<Interrupted>((resolve) => {
    resolveStopped = resolve
  })
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      output.endProgress()
      output.warning(`${signal} again: exiting without closing cleanly`, 'ERR_FORCED_EXIT')
      process.exit(signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted)
    }
    const reason = new Interrupted(signal)
    output.endProgress()
    output.event('interrupted', { signal }, `${signal}: closing cleanly (Ctrl-C again to force)...`)
    controller.abort(reason)
    resolveStopped(reason)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    stopped,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** Rejects with the signal's reason (an Interrupted) when it aborts; otherwise settles like `promise`. */
export function unlessInterrupted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
