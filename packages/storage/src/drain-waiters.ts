// Callers waiting for a queue of background work to drain (flushUploads, flushDeletions): they are
// released together when it drains, rejected together when the store closes, and one by one when
// their own signal aborts.

interface Waiter {
  resolve(): void
  reject(error: unknown): void
}

export class DrainWaiters {
  readonly #waiters = new Set<Waiter>()

  /** A promise settled by {@link releaseAll}, {@link rejectAll} or `signal`, whichever comes first. */
  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter)
        reject(signal!.reason)
      }
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      this.#waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  releaseAll(): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const waiter of waiters) waiter.resolve()
  }

  rejectAll(error: Error): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const waiter of waiters) waiter.reject(error)
  }
}
