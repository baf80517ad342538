// Downloads over loopback from python3-libtorrent peers: @chunktorrent/test-peers, loaded only
// where it is needed (the download children never load it) and only if python3-libtorrent is
// there, the peers' output echoed, a leecher measured until done, and the options the client's
// tests run a TorrentClient with on loopback.

import type { ClientOptions } from '@chunktorrent/client'
import type * as TestPeers from '@chunktorrent/test-peers'
import { envJson } from './env.ts'
import { measureWhile, type ProcMeasurement } from './proc.ts'

/** The client tests' loopback options (packages/client/test/helpers.ts), TCP only. */
export const loopbackClientOptions = {
  listen: '127.0.0.1:0',
  utp: false,
  settings: { allow_multiple_connections_per_ip: true, min_reconnect_time: 1, max_failcount: 1000 },
}

/**
 * The loopback options with BENCH_CLIENT_OPTIONS (JSON TorrentClient options; `settings` merged
 * into the loopback ones) on top: for experiments, e.g. `{"readCacheBytes": 67108864}`.
 */
export function benchClientOptions(): ClientOptions {
  const experiment = envJson('BENCH_CLIENT_OPTIONS') as ClientOptions
  return {
    ...loopbackClientOptions,
    ...experiment,
    settings: { ...loopbackClientOptions.settings, ...experiment.settings },
  }
}

/** @chunktorrent/test-peers and the python3-libtorrent version; throws if there is none. */
export async function libtorrentPeers(): Promise<{ peers: typeof TestPeers; libtorrentVersion: string }> {
  const peers = await import('@chunktorrent/test-peers')
  const available = await peers.availablePeers()
  if (!available.libtorrent)
    throw new Error('python3-libtorrent is needed: apt-get install -y python3-libtorrent')
  return { peers, libtorrentVersion: available.libtorrent }
}

/** Echoes a python3-libtorrent peer's output to stderr, each line as `[label] line`. */
export function echoPeerOutput(peer: TestPeers.LibtorrentPeer, label: string): void {
  peer.events.on('output', (line: unknown) => process.stderr.write(`[${label}] ${String(line)}\n`))
}

/**
 * Measures a python3-libtorrent leecher (measureWhile: /proc before and after, CPU by thread,
 * memory peaks) until it has every piece; throws if it finished with other than `bytes`.
 */
export async function measureLeecher(
  leech: TestPeers.LibtorrentPeer,
  bytes: number,
  timeoutMs: number,
): Promise<ProcMeasurement<Awaited<ReturnType<TestPeers.LibtorrentPeer['done']>>>> {
  const measured = await measureWhile(leech.pid, () => leech.done(timeoutMs))
  if (measured.result.downloaded !== bytes)
    throw new Error(`the libtorrent leecher finished with ${measured.result.downloaded} of ${bytes} bytes`)
  return measured
}
