import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { freePort, isListening, waitForListening } from './network.ts'
import { processStats, sampleMemory } from './process-metrics.ts'

describe('processStats and sampleMemory', () => {
  it('reads memory and CPU time of a process', () => {
    const before = processStats(process.pid)
    let sum = 0
    for (let index = 0; index < 2e7; index++) sum += index
    expect(sum).toBeGreaterThan(0)
    const after = processStats(process.pid)
    expect(after.rssBytes).toBeGreaterThan(10 << 20)
    expect(after.rssAnonBytes).toBeGreaterThan(0)
    expect(after.rssAnonBytes).toBeLessThanOrEqual(after.rssBytes)
    expect(after.peakRssBytes).toBeGreaterThanOrEqual(after.rssBytes)
    expect(after.cpuSeconds).toBeGreaterThanOrEqual(before.cpuSeconds)
    expect(after.cpuSeconds).toBeCloseTo(after.userSeconds + after.systemSeconds, 6)
  })

  it('finds the peak of a run', async () => {
    const sampler = sampleMemory(process.pid, 5)
    const ballast = Buffer.alloc(64 << 20, 1) // touched, so it is resident and anonymous
    await new Promise((resolve) => setTimeout(resolve, 50))
    const result = sampler.stop()
    expect(ballast.length).toBe(64 << 20)
    expect(result.samples).toBeGreaterThan(1)
    expect(result.peakRssAnonBytes).toBeGreaterThan(64 << 20)
    expect(sampler.stop()).toEqual(result)
  })

  it('throws for a process that does not exist', () => {
    expect(() => processStats(2 ** 22 + 1)).toThrow()
  })
})

describe('freePort and waitForListening', () => {
  it('hands out a port that can be listened on, and sees the listener', async () => {
    const port = await freePort()
    expect(await isListening(port)).toBe(false)
    const server = net.createServer().listen(port, '127.0.0.1')
    await waitForListening(port, 2000)
    server.close()
    await expect(waitForListening(await freePort(), 100)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
  })
})
