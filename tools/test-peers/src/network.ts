// Loopback ports for peers that cannot report the port they chose (aria2c takes one on its
// command line): pick a free one, and wait until something listens on it without connecting
// to it (a probe connection would look like a broken peer to the client under test).

import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestPeerError } from './errors.ts'

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). Another
 * process could take it before you do; peers that can, should listen on port 0 instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** True when a TCP socket listens on `port` on 127.0.0.1 or on all IPv4 addresses. */
export async function isListening(port: number): Promise<boolean> {
  const table = await readFile('/proc/net/tcp', 'utf8')
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of table.split('\n').slice(1)) {
    const columns = line.trim().split(/\s+/)
    const local = columns[1]
    const state = columns[3]
    if (state !== '0A' || !local) continue // 0A: LISTEN
    const [address, portPart] = local.split(':')
    if (portPart === hexPort && (address === '0100007F' || address === '00000000')) return true
  }
  return false
}

/**
 * Waits until something listens on `port` (read from /proc/net/tcp, no connection made).
 * `stillRunning` lets the wait end early when the process that should listen has died.
 */
export async function waitForListening(
  port: number,
  timeoutMs: number,
  stillRunning: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await isListening(port)) return
    if (!stillRunning()) {
      throw new TestPeerError('ERR_PEER_EXITED', `the process that should listen on port ${port} exited`)
    }
    await sleep(25)
  }
  throw new TestPeerError('ERR_TIMEOUT', `nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`)
}
