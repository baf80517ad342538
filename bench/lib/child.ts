// Runs one measured step in a child Node process, so its CPU time and memory are its own: the
// child prints its result as a JSON line, the parent samples its memory from /proc meanwhile.
// Every child is killed if the benchmark exits or is interrupted, and a child exits by itself
// when its parent goes away (end of stdin).

import { type ChildProcess, spawn } from 'node:child_process'
import { noProcPeaks, type ProcPeaks, sampleProc } from './proc.ts'

const running = new Set<ChildProcess>()
let exitHook = false

/** Tracks a child process so `killTrackedChildren()` (and process exit) SIGKILLs it. */
export function trackChild(child: ChildProcess): void {
  if (!exitHook) {
    exitHook = true
    process.on('exit', killTrackedChildren)
  }
  running.add(child)
  child.once('exit', () => running.delete(child))
}

export function killTrackedChildren(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  running.clear()
}

/**
 * Runs `cleanup` (synchronous, best effort) on SIGINT/SIGTERM, then exits with 128 + signal.
 * Returns a function that removes the handlers.
 */
export function onInterrupt(cleanup: () => void): () => void {
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: cleaning up\n`)
    try {
      cleanup()
    } finally {
      killTrackedChildren()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    }
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}

/** In a child started by `runNodeChild`: exit (code 3) when the parent closes our stdin or dies. */
export function exitWithParent(): void {
  process.stdin.on('end', () => process.exit(3))
  process.stdin.on('error', () => process.exit(3))
  process.stdin.resume()
  process.stdin.unref?.()
}

/** In a child: prints the result line the parent looks for. */
export function printResult(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
}

const RESULT_PREFIX = 'BENCH_RESULT '

export interface NodeChildOptions {
  /** The script to run (a .ts file runs through Node's type stripping). */
  script: string
  args?: string[]
  /** Flags for node itself, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeFlags?: string[]
  env?: NodeJS.ProcessEnv
  /** Kill the child after this long (default 10 minutes). */
  timeoutMs?: number
  sampleIntervalMs?: number
  /** Each non-result line of the child's stdout and stderr (e.g. to echo it when debugging). */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Called once the child runs, with its pid (e.g. to attach a profiler). */
  onSpawn?: (pid: number) => void
}

export interface NodeChildResult<T> {
  result: T
  /** Memory peaks sampled from the parent over the child's whole life. */
  peaks: ProcPeaks
  wallSeconds: number
  pid: number
}

/** Runs a Node script and resolves with the object it printed with `printResult` (exit code 0). */
export function runNodeChild<T>(options: NodeChildOptions): Promise<NodeChildResult<T>> {
  const started = performance.now()
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), options.script, ...(options.args ?? [])],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    },
  )
  trackChild(child)
  const pid = child.pid
  const sampler = pid === undefined ? undefined : sampleProc(pid, options.sampleIntervalMs ?? 50)
  if (pid !== undefined) options.onSpawn?.(pid)
  let result: T | undefined
  let haveResult = false
  const tail: string[] = []
  const lines = (stream: 'stdout' | 'stderr') => {
    let pending = ''
    return (chunk: Buffer) => {
      const parts = (pending + chunk.toString('utf8')).split('\n')
      pending = parts.pop() ?? ''
      for (const line of parts) {
        if (stream === 'stdout' && line.startsWith(RESULT_PREFIX)) {
          result = JSON.parse(line.slice(RESULT_PREFIX.length)) as T
          haveResult = true
          continue
        }
        tail.push(`[${stream}] ${line}`)
        if (tail.length > 40) tail.shift()
        options.onOutput?.(line, stream)
      }
    }
  }
  child.stdout.on('data', lines('stdout'))
  child.stderr.on('data', lines('stderr'))
  child.stdin.on('error', () => {})

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(`${options.script} timed out after ${options.timeoutMs ?? 600_000} ms\n${tail.join('\n')}`),
      )
    }, options.timeoutMs ?? 600_000)
    child.once('error', (error) => {
      clearTimeout(timer)
      sampler?.stop()
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const peaks = sampler?.stop() ?? noProcPeaks()
      if (code !== 0 || !haveResult) {
        reject(
          new Error(
            `${options.script} exited with ${signal ?? code}${haveResult ? '' : ' and no result'}\n${tail.join('\n')}`,
          ),
        )
        return
      }
      resolve({
        result: result as T,
        peaks,
        wallSeconds: (performance.now() - started) / 1000,
        pid: pid ?? 0,
      })
    })
  })
}
