// The object-store key layout of the parity spec.

import { describe, expect, it } from 'vitest'
import { objectKeyFor, objectLocation, parseObjectLocation } from './object-key.ts'

describe('object keys', () => {
  it('shards by the first two pairs of characters of the chunk id', () => {
    const table: Array<[string, string]> = [
      ['3f2a9c1e-8b7d-4c6a-9e5f-0a1b2c3d4e5f', 'chunks/3f/2a/3f2a9c1e-8b7d-4c6a-9e5f-0a1b2c3d4e5f.enc'],
      ['abcd', 'chunks/ab/cd/abcd.enc'],
      ['abc', 'chunks/misc/abc.enc'],
      ['a', 'chunks/misc/a.enc'],
    ]
    for (const [id, key] of table) expect(objectKeyFor(id)).toBe(key)
  })

  it('forms s3 locations', () => {
    expect(objectLocation('music', objectKeyFor('abcd'))).toBe('s3://music/chunks/ab/cd/abcd.enc')
  })

  it('parses s3 locations back into bucket and key', () => {
    expect(parseObjectLocation('s3://music/store-a/chunks/ab/cd/abcd.enc')).toEqual({
      bucket: 'music',
      key: 'store-a/chunks/ab/cd/abcd.enc',
    })
    for (const bad of ['', 's3://music', 's3://music/', 'https://music/key', 's3:///key']) {
      expect(parseObjectLocation(bad)).toBeUndefined()
    }
  })

  it('rejects empty ids', () => {
    expect(() => objectKeyFor('')).toThrow(TypeError)
    expect(() => objectLocation('', 'k')).toThrow(TypeError)
  })
})
