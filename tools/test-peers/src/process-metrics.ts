// Memory and CPU of a process read from /proc, for benchmarks that compare the project with
// independent clients: resident set (total and anonymous, since libtorrent's mapped files count
// as resident page cache), the kernel's peak, and CPU time.

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let clockTicks: number | undefined

/** Clock ticks per second for /proc/PID/stat times (`getconf CLK_TCK`, 100 on Linux in practice). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim())
    } catch {
      clockTicks = 100
    }
    if (!Number.isFinite(clockTicks) || clockTicks <= 0) clockTicks = 100
  }
  return clockTicks
}

export interface ProcessStats {
  /** Resident set now (VmRSS), mapped file pages included. */
  rssBytes: number
  /** Anonymous resident memory now (RssAnon): heap and stacks, no page cache. */
  rssAnonBytes: number
  /** Peak resident set over the process's life so far (VmHWM, kept by the kernel). */
  peakRssBytes: number
  /** User plus system CPU time of all the process's threads. */
  cpuSeconds: number
  userSeconds: number
  systemSeconds: number
}

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)
  return match ? Number(match[1]) * 1024 : 0
}

/** Reads the current memory and CPU figures of `pid` (Linux /proc). Throws if it has exited. */
export function processStats(pid: number): ProcessStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = ticksPerSecond()
  const userSeconds = Number(fields[11]) / ticks // field 14, utime
  const systemSeconds = Number(fields[12]) / ticks // field 15, stime
  return {
    rssBytes: statusField(status, 'VmRSS'),
    rssAnonBytes: statusField(status, 'RssAnon'),
    peakRssBytes: statusField(status, 'VmHWM'),
    cpuSeconds: userSeconds + systemSeconds,
    userSeconds,
    systemSeconds,
  }
}

export interface MemorySample {
  peakRssBytes: number
  peakRssAnonBytes: number
  /** CPU time at the last successful sample (the process may exit before `stop()`). */
  cpuSeconds: number
  samples: number
}

export interface MemorySampler {
  /** The figures so far, without stopping. */
  current(): MemorySample
  /** Stops sampling (taking one last sample if the process still runs) and returns the peaks. */
  stop(): MemorySample
}

/**
 * Samples RSS and RssAnon of `pid` every `intervalMs` to find their peaks over a run. The peak
 * RSS also takes the kernel's VmHWM into account, so short spikes between samples still count.
 */
export function sampleMemory(pid: number, intervalMs = 50): MemorySampler {
  const result: MemorySample = { peakRssBytes: 0, peakRssAnonBytes: 0, cpuSeconds: 0, samples: 0 }
  let stopped = false
  const sample = () => {
    try {
      const stats = processStats(pid)
      result.peakRssBytes = Math.max(result.peakRssBytes, stats.rssBytes, stats.peakRssBytes)
      result.peakRssAnonBytes = Math.max(result.peakRssAnonBytes, stats.rssAnonBytes)
      result.cpuSeconds = stats.cpuSeconds
      result.samples++
    } catch {
      // the process has exited; keep what was seen
    }
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  timer.unref()
  return {
    current: () => ({ ...result }),
    stop: () => {
      if (!stopped) {
        stopped = true
        clearInterval(timer)
        sample()
      }
      return { ...result }
    },
  }
}
