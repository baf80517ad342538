// What a process costs, read from Linux /proc: resident memory split by kind (anonymous heap,
// mapped files, shared memory such as tmpfs pages), the kernel's peak, CPU time for the whole
// process and per thread, and a sampler that keeps the peaks over a run.

import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

export type Pid = number | 'self'

let ticks: number | undefined
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim())
    } catch {
      ticks = 100
    }
    if (!Number.isFinite(ticks) || ticks <= 0) ticks = 100
  }
  return ticks
}

export interface ProcSnapshot {
  /** Resident set now (VmRSS) = RssAnon + RssFile + RssShmem. */
  rssBytes: number
  /** Anonymous resident memory: heap, stacks, malloc'd buffers. No page cache. */
  rssAnonBytes: number
  /** Resident pages of mapped regular files (page cache the process has mapped). */
  rssFileBytes: number
  /** Resident shared memory, including mapped tmpfs (/dev/shm) files. */
  rssShmemBytes: number
  /** Peak resident set over the process's life (VmHWM, kept by the kernel). */
  peakRssBytes: number
  userSeconds: number
  systemSeconds: number
  /** User + system time of all threads. */
  cpuSeconds: number
  /** Page faults served without I/O (first touch of new memory, mapping cached pages). */
  minorFaults: number
  majorFaults: number
  threads: number
}

function kb(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return match ? Number(match[1]) * 1024 : 0
}

/** Times (seconds), fault counts and the name from a /proc/.../stat line. */
function parseStat(stat: string): {
  user: number
  system: number
  minflt: number
  majflt: number
  name: string
} {
  const open = stat.indexOf('(')
  const close = stat.lastIndexOf(')')
  // Fields after the name, which is in parentheses and may contain spaces: fields[0] is field 3.
  const fields = stat.slice(close + 2).split(' ')
  const hz = clockTicks()
  return {
    minflt: Number(fields[7]), // field 10
    majflt: Number(fields[9]), // field 12
    user: Number(fields[11]) / hz, // field 14
    system: Number(fields[12]) / hz, // field 15
    name: stat.slice(open + 1, close),
  }
}

/** The process's figures now. Throws if it has exited. */
export function readProc(pid: Pid = 'self'): ProcSnapshot {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const times = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  const threads = /^Threads:\s+(\d+)/m.exec(status)
  return {
    rssBytes: kb(status, 'VmRSS'),
    rssAnonBytes: kb(status, 'RssAnon'),
    rssFileBytes: kb(status, 'RssFile'),
    rssShmemBytes: kb(status, 'RssShmem'),
    peakRssBytes: kb(status, 'VmHWM'),
    userSeconds: times.user,
    systemSeconds: times.system,
    cpuSeconds: times.user + times.system,
    minorFaults: times.minflt,
    majorFaults: times.majflt,
    threads: threads ? Number(threads[1]) : 0,
  }
}

export interface ThreadCpu {
  tid: number
  /** The thread's name (comm), at most 15 characters. */
  name: string
  /** The process's first thread (for Node: the JavaScript main thread). */
  main: boolean
  userSeconds: number
  systemSeconds: number
  cpuSeconds: number
  minorFaults: number
}

/** The process's CPU seconds so far (user + system, all threads), or NaN once it has exited. */
export function cpuSecondsOf(pid: Pid): number {
  try {
    return readProc(pid).cpuSeconds
  } catch {
    return Number.NaN
  }
}

/** CPU time of every live thread of the process. */
export function threadCpu(pid: Pid = 'self'): ThreadCpu[] {
  const ownPid = pid === 'self' ? process.pid : pid
  const out: ThreadCpu[] = []
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    try {
      const times = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))
      out.push({
        tid: Number(tid),
        name: times.name,
        main: Number(tid) === ownPid,
        userSeconds: times.user,
        systemSeconds: times.system,
        cpuSeconds: times.user + times.system,
        minorFaults: times.minflt,
      })
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}

/**
 * CPU each thread used between two `threadCpu` readings, busiest first. Threads that started in
 * between count from zero; threads that ended in between are missing.
 */
export function threadCpuDelta(before: readonly ThreadCpu[], after: readonly ThreadCpu[]): ThreadCpu[] {
  const start = new Map(before.map((thread) => [thread.tid, thread]))
  return after
    .map((thread) => {
      const earlier = start.get(thread.tid)
      const userSeconds = thread.userSeconds - (earlier?.userSeconds ?? 0)
      const systemSeconds = thread.systemSeconds - (earlier?.systemSeconds ?? 0)
      const minorFaults = thread.minorFaults - (earlier?.minorFaults ?? 0)
      return { ...thread, userSeconds, systemSeconds, cpuSeconds: userSeconds + systemSeconds, minorFaults }
    })
    .sort((a, b) => b.cpuSeconds - a.cpuSeconds)
}

/** The CPU seconds of the process's first thread (for Node: the JavaScript thread), NaN if absent. */
export function mainThreadCpuSeconds(threads: readonly ThreadCpu[]): number {
  return threads.find((thread) => thread.main)?.cpuSeconds ?? Number.NaN
}

/**
 * "main 3.10s/262k faults, node/1235 1.20s, …": threads using at least `minSeconds`, busiest
 * first; the first thread is "main", others name/tid (threads often share a name); minor page
 * faults shown from 1,000 up.
 */
export function describeThreads(threads: readonly ThreadCpu[], minSeconds = 0.05): string {
  return threads
    .filter((thread) => thread.cpuSeconds >= minSeconds)
    .map((thread) => {
      const name = thread.main ? 'main' : `${thread.name}/${thread.tid}`
      const faults = thread.minorFaults >= 1000 ? `/${(thread.minorFaults / 1000).toFixed(0)}k faults` : ''
      return `${name} ${thread.cpuSeconds.toFixed(2)}s${faults}`
    })
    .join(', ')
}

export interface ProcPeaks {
  /** Max of sampled VmRSS and the kernel's VmHWM. */
  peakRssBytes: number
  /** Max of sampled RssAnon (sampling can miss a spike shorter than the interval). */
  peakRssAnonBytes: number
  peakRssFileBytes: number
  peakRssShmemBytes: number
  /** The last successful reading (the process may have exited since). */
  last: ProcSnapshot | undefined
  samples: number
}

export interface ProcSampler {
  current(): ProcPeaks
  /** Takes a last sample if the process still runs, stops, and returns the peaks. */
  stop(): ProcPeaks
}

/** Peaks before any sample: zeros, no reading. */
export function noProcPeaks(): ProcPeaks {
  return {
    peakRssBytes: 0,
    peakRssAnonBytes: 0,
    peakRssFileBytes: 0,
    peakRssShmemBytes: 0,
    last: undefined,
    samples: 0,
  }
}

/** Samples `pid` every `intervalMs` and keeps the peaks of each kind of resident memory. */
export function sampleProc(pid: Pid, intervalMs = 50): ProcSampler {
  const peaks = noProcPeaks()
  let stopped = false
  const sample = () => {
    try {
      const now = readProc(pid)
      peaks.peakRssBytes = Math.max(peaks.peakRssBytes, now.rssBytes, now.peakRssBytes)
      peaks.peakRssAnonBytes = Math.max(peaks.peakRssAnonBytes, now.rssAnonBytes)
      peaks.peakRssFileBytes = Math.max(peaks.peakRssFileBytes, now.rssFileBytes)
      peaks.peakRssShmemBytes = Math.max(peaks.peakRssShmemBytes, now.rssShmemBytes)
      peaks.last = now
      peaks.samples++
    } catch {
      // exited: keep what was seen
    }
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  timer.unref()
  return {
    current: () => ({ ...peaks }),
    stop: () => {
      if (!stopped) {
        stopped = true
        clearInterval(timer)
        sample()
      }
      return { ...peaks }
    },
  }
}

/** What measureWhile saw of a process: snapshots around the work, per-thread CPU and peaks. */
export interface ProcMeasurement<T> {
  result: T
  before: ProcSnapshot
  after: ProcSnapshot
  threads: ThreadCpu[]
  peaks: ProcPeaks
}

/** Runs `work` while sampling `pid`: /proc snapshots before and after, thread CPU, memory peaks. */
export async function measureWhile<T>(pid: number, work: () => Promise<T>): Promise<ProcMeasurement<T>> {
  const sampler = sampleProc(pid)
  const before = readProc(pid)
  const threadsBefore = threadCpu(pid)
  try {
    const result = await work()
    const after = readProc(pid)
    const threads = threadCpuDelta(threadsBefore, threadCpu(pid))
    return { result, before, after, threads, peaks: sampler.stop() }
  } finally {
    sampler.stop()
  }
}
