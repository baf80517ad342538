// Per-piece readers-writer locks: a re-write, a verification or a clear of a piece waits for the
// reads of that piece in flight, and reads wait for it, so nobody sees half-written bytes.
// Different pieces never wait for each other; the queue is first come, first served.

interface Waiter {
  exclusive: boolean
  wake: () => void
}

interface LockState {
  readers: number
  writer: boolean
  queue: Waiter[]
}

export class PieceLocks {
  readonly #states = new Map<number, LockState>()

  /** Runs `task` while no exclusive holder has piece `index`. */
  shared<T>(index: number, task: () => Promise<T>): Promise<T> {
    return this.#run(index, false, task)
  }

  /**
   * Takes a shared hold on piece `index` at once when nobody holds it exclusively or waits for it,
   * and returns its release (call it exactly once); undefined when the caller must queue with
   * {@link shared}. The hot path of reads: no promise, no closure per hold.
   */
  tryShared(index: number): (() => void) | undefined {
    const state = this.#stateOf(index)
    if (state.writer || state.queue.length > 0) return undefined
    state.readers++
    return () => {
      state.readers--
      this.#wake(index, state)
    }
  }

  /**
   * Takes the exclusive hold on piece `index` at once when nobody holds it or waits for it, and
   * returns its release (call it exactly once); undefined when the caller must queue with
   * {@link exclusive}. The hot path of verifications: no promise, no closure over a task.
   */
  tryExclusive(index: number): (() => void) | undefined {
    const state = this.#stateOf(index)
    if (state.writer || state.readers > 0 || state.queue.length > 0) return undefined
    state.writer = true
    return () => {
      state.writer = false
      this.#wake(index, state)
    }
  }

  /** Runs `task` while nobody else holds piece `index`. */
  exclusive<T>(index: number, task: () => Promise<T>): Promise<T> {
    return this.#run(index, true, task)
  }

  #stateOf(index: number): LockState {
    let state = this.#states.get(index)
    if (state === undefined) {
      state = { readers: 0, writer: false, queue: [] }
      this.#states.set(index, state)
    }
    return state
  }

  async #run<T>(index: number, exclusive: boolean, task: () => Promise<T>): Promise<T> {
    const state = this.#stateOf(index)
    const free = exclusive ? !state.writer && state.readers === 0 : !state.writer
    if (!free || state.queue.length > 0) {
      await new Promise<void>((wake) => state.queue.push({ exclusive, wake }))
    } else if (exclusive) {
      state.writer = true
    } else {
      state.readers++
    }
    try {
      return await task()
    } finally {
      if (exclusive) state.writer = false
      else state.readers--
      this.#wake(index, state)
    }
  }

  #wake(index: number, state: LockState): void {
    while (state.queue.length > 0) {
      const next = state.queue[0]!
      if (next.exclusive) {
        if (state.writer || state.readers > 0) return
        state.queue.shift()
        state.writer = true
        next.wake()
        return
      }
      if (state.writer) return
      state.queue.shift()
      state.readers++
      next.wake()
    }
    if (!state.writer && state.readers === 0) this.#states.delete(index)
  }
}
