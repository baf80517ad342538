import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { LineSplitter } from './child-processes.ts'
import { isAlive, useScratch } from './test-support.ts'

describe('LineSplitter', () => {
  it('rebuilds lines split across chunks', () => {
    const splitter = new LineSplitter()
    expect(splitter.push('{"event":"rea')).toEqual([])
    expect(splitter.push('dy","port":1}\n{"event":"pro')).toEqual(['{"event":"ready","port":1}'])
    expect(splitter.push('gress"}\r\n\nlast')).toEqual(['{"event":"progress"}', ''])
    expect(splitter.flush()).toEqual(['last'])
    expect(splitter.flush()).toEqual([])
  })
})

// A separate Node process starts peers and then dies; the peers must die with it.
const indexModule = fileURLToPath(new URL('./index.ts', import.meta.url))
const childScript = `
import { createTorrent, generateFiles, startAria2Leecher, startLibtorrentPeer } from ${JSON.stringify(indexModule)}
const root = process.argv[1]
await generateFiles(root + '/data/content', [{ path: 'a.bin', length: 100000 }], 1)
const torrent = await createTorrent({ path: root + '/data/content', pieceLength: 16384, version: 'v1' })
const seed = await startLibtorrentPeer({ torrent, savePath: root + '/data', role: 'seed' })
const leech = await startAria2Leecher({ torrent, savePath: root + '/out' })
console.log(JSON.stringify({ pids: [seed.pid, leech.pid] }))
if (process.argv[2] === 'exit') process.exit(0)
setInterval(() => {}, 1000)
`

async function runParent(mode: 'exit' | 'sigkill', root: string): Promise<number[]> {
  const parent = spawn(process.execPath, ['--input-type=module', '-e', childScript, root, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  const pids = await new Promise<number[]>((resolve, reject) => {
    parent.stdout.setEncoding('utf8')
    parent.stdout.on('data', (chunk: string) => {
      output += chunk
      const line = output.split('\n').find((text) => text.startsWith('{'))
      if (line) resolve((JSON.parse(line) as { pids: number[] }).pids)
    })
    parent.once('exit', (code) => reject(new Error(`parent exited with ${code} before reporting: ${output}`)))
  })
  if (mode === 'sigkill') parent.kill('SIGKILL')
  return pids
}

async function waitUntilGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let alive = pids.filter(isAlive)
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50)
    alive = alive.filter(isAlive)
  }
  return alive
}

describe('cleanup when the Node process goes away', () => {
  const scratch = useScratch()

  it('kills the peers when the process exits', async () => {
    const pids = await runParent('exit', await scratch.directory())
    expect(await waitUntilGone(pids, 5000)).toEqual([])
  })

  it('the peers stop by themselves when the parent is SIGKILLed', async () => {
    const pids = await runParent('sigkill', await scratch.directory())
    expect(await waitUntilGone(pids, 5000)).toEqual([])
  })
})
