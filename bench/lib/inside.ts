// What a benchmark's child sees of its own memory, sampled from inside while it works: the peaks
// of process.memoryUsage() and of the ffi bridge's write-back and piece cache.

export interface MemoryPeaks {
  heapUsedBytes: number
  externalBytes: number
  arrayBuffersBytes: number
  /** Native pieces handed to the DiskIo and not yet stored (the bridge's write-back). */
  storingBytes: number
  /** The bridge's native piece cache (write-back + clean LRU). */
  cacheBytes: number
}

/** Peaks at zero, to raise with recordMemoryPeaks. */
export function memoryPeaks(): MemoryPeaks {
  return { heapUsedBytes: 0, externalBytes: 0, arrayBuffersBytes: 0, storingBytes: 0, cacheBytes: 0 }
}

/**
 * Raises `peaks` to process.memoryUsage() now and to `bridgeStats()` (a session's bridgeStats).
 * Returns what bridgeStats gave, or undefined when it threw (the session closed).
 */
export function recordMemoryPeaks<B extends { storingBytes?: number; cacheBytes?: number }>(
  peaks: MemoryPeaks,
  bridgeStats: () => B,
): B | undefined {
  const memory = process.memoryUsage()
  peaks.heapUsedBytes = Math.max(peaks.heapUsedBytes, memory.heapUsed)
  peaks.externalBytes = Math.max(peaks.externalBytes, memory.external)
  peaks.arrayBuffersBytes = Math.max(peaks.arrayBuffersBytes, memory.arrayBuffers)
  let bridge: B
  try {
    bridge = bridgeStats()
  } catch {
    return undefined // closed
  }
  peaks.storingBytes = Math.max(peaks.storingBytes, bridge.storingBytes ?? 0)
  peaks.cacheBytes = Math.max(peaks.cacheBytes, bridge.cacheBytes ?? 0)
  return bridge
}
