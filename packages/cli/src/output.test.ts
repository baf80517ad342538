import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { CliError, describeError, ExitCode, exitCodeOf, Interrupted } from './errors.ts'
import { Output, type ProgressReport, progressLine } from './output.ts'

function streams(tty: boolean) {
  const stdout = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 })
  const stderr = new PassThrough()
  const text = { stdout: '', stderr: '' }
  stdout.on('data', (chunk: Buffer) => (text.stdout += chunk))
  stderr.on('data', (chunk: Buffer) => (text.stderr += chunk))
  return { streams: { stdout, stderr }, text }
}

const report: ProgressReport = {
  infoHash: 'a'.repeat(40),
  name: 'album',
  state: 'downloading',
  progress: 0.423,
  downloaded: 12_900_000,
  wanted: 30_500_000,
  received: 12_900_000,
  uploaded: 0,
  downloadRate: 3_355_443,
  uploadRate: 0,
  peers: 2,
  piecesVerified: 49,
  pieceCount: 117,
  eta: 5.2,
}

describe('progressLine', () => {
  it('draws a bar that fits the terminal', () => {
    const line = progressLine(report, 100)
    expect(line).toMatch(/^ 42\.3% \[=+> +\] 12\.3 MiB\/29\.1 MiB {2}3\.20 MiB\/s {2}2 peers {2}ETA 6s$/)
    expect(line.length).toBeLessThanOrEqual(100)
    expect(progressLine({ ...report, progress: 1 }, 100)).toMatch(/\[=+\]/)
    expect(progressLine(report, 30).length).toBeLessThanOrEqual(29)
  })

  it('plain lines have no bar; seeding shows the upload', () => {
    expect(progressLine(report, 0)).toBe(' 42.3%  12.3 MiB/29.1 MiB  3.20 MiB/s  2 peers  ETA 6s')
    expect(progressLine({ ...report, state: 'checking', eta: undefined, peers: 1 }, 0)).toBe(
      ' 42.3%  checking  12.3 MiB/29.1 MiB  3.20 MiB/s  1 peer  ETA --',
    )
    expect(progressLine({ ...report, state: 'seeding', uploadRate: 1024, uploaded: 5_000_000 }, 0)).toBe(
      'seeding  up 1.00 KiB/s  4.77 MiB uploaded  2 peers',
    )
  })
})

describe('Output', () => {
  it('on a terminal redraws one line and clears it before other output', () => {
    const { streams: io, text } = streams(true)
    const output = new Output({}, io)
    expect(output.interactive).toBe(true)
    output.progress(report)
    output.progress({ ...report, progress: 0.5 })
    output.line('result')
    expect(text.stdout.replaceAll('\u001b', '<ESC>')).toMatch(
      /^\r<ESC>\[2K 42\.3% \[.*\r<ESC>\[2K 50\.0% \[.*\r<ESC>\[2Kresult\n$/,
    )
  })

  it('not on a terminal: no escapes, a plain line at most every few seconds', () => {
    const { streams: io, text } = streams(false)
    const output = new Output({}, io)
    output.progress(report)
    output.progress(report)
    expect(text.stdout).toBe(' 42.3%  12.3 MiB/29.1 MiB  3.20 MiB/s  2 peers  ETA 6s\n')
  })

  it('--json: one object per line, warnings and errors as events and on stderr', () => {
    const { streams: io, text } = streams(true)
    const output = new Output({ json: true }, io)
    expect(output.interactive).toBe(false)
    output.progress(report)
    output.event('done', { received: 5 }, 'human text')
    output.line('never in JSON mode')
    output.warning('careful', 'ERR_X')
    output.error(new CliError('broken', { code: 'ERR_Y' }))
    const lines = text.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(lines.map((line) => line.event)).toEqual(['progress', 'done', 'warning', 'error'])
    expect(lines[0]).toMatchObject({ ...report, event: 'progress' })
    expect(lines[3]).toMatchObject({ code: 'ERR_Y', message: 'broken' })
    expect(text.stderr).toBe('chunktorrent: warning: careful (ERR_X)\nchunktorrent: error: broken (ERR_Y)\n')
  })

  it('--quiet keeps results that must be seen', () => {
    const { streams: io, text } = streams(false)
    const output = new Output({ quiet: true }, io)
    output.progress(report)
    output.event('added', {}, 'chatter')
    output.event('done', {}, 'Done', { always: true })
    expect(text.stdout).toBe('Done\n')
  })

  it('--verbose prints the stack and causes', () => {
    const { streams: io, text } = streams(false)
    const output = new Output({ verbose: true }, io)
    output.error(new Error('outer', { cause: new Error('inner') }))
    expect(text.stderr).toMatch(/^chunktorrent: error: outer: inner \(ERR_UNKNOWN\)\nError: outer\n\s+at /)
    expect(text.stderr).toMatch(/caused by: Error: inner/)
  })
})

describe('exit codes', () => {
  it('maps errors onto the documented codes', () => {
    expect(exitCodeOf(new CliError('x', { code: 'ERR_X' }))).toBe(ExitCode.failure)
    expect(exitCodeOf(new CliError('x', { code: 'ERR_X', exitCode: ExitCode.usage }))).toBe(2)
    expect(exitCodeOf(new Interrupted('SIGINT'))).toBe(130)
    expect(exitCodeOf(new Interrupted('SIGTERM'))).toBe(143)
    expect(exitCodeOf(Object.assign(new RangeError('bad'), { code: 'ERR_OUT_OF_RANGE' }))).toBe(2)
    expect(exitCodeOf(Object.assign(new Error('io'), { code: 'EIO' }))).toBe(1)
    expect(exitCodeOf('a string')).toBe(1)
  })

  it('describes an error in one line with its code', () => {
    expect(describeError(Object.assign(new Error('first\nsecond'), { code: 'ERR_Z' }))).toEqual({
      message: 'first',
      code: 'ERR_Z',
    })
    expect(describeError(42)).toEqual({ message: '42', code: 'ERR_UNKNOWN' })
  })
})
