import { describe, expect, it } from 'vitest'
import { releaseBuffer } from './release-buffer.ts'

describe('releaseBuffer', () => {
  it('frees a large buffer that spans its ArrayBuffer', () => {
    const bytes = Buffer.alloc(1 << 20, 7)
    releaseBuffer(bytes)
    expect(bytes.buffer.byteLength).toBe(0)
    expect(bytes.length).toBe(0)
    releaseBuffer(bytes) // twice is harmless
  })

  it('leaves small buffers and views alone', () => {
    const small = Buffer.from('pooled') // may share Node's pool with other buffers
    releaseBuffer(small)
    expect(small.toString()).toBe('pooled')
    const whole = Buffer.alloc(1 << 20, 1)
    const view = whole.subarray(1)
    releaseBuffer(view)
    expect(whole.length).toBe(1 << 20)
    expect(view[0]).toBe(1)
  })
})
