// Object-store keys of the parity spec, for the remote tier: where a chunk's envelope lives in a
// bucket, sharded by the first characters of its id so no prefix grows unbounded.

import { invalidArgumentType } from './errors.ts'

/** `chunks/<id[0..2]>/<id[2..4]>/<id>.enc`; ids shorter than 4 characters go to `chunks/misc/<id>.enc`. */
export function objectKeyFor(chunkId: string): string {
  if (typeof chunkId !== 'string' || chunkId.length === 0) {
    throw invalidArgumentType('The chunk id must be a non-empty string')
  }
  if (chunkId.length < 4) return `chunks/misc/${chunkId}.enc`
  return `chunks/${chunkId.slice(0, 2)}/${chunkId.slice(2, 4)}/${chunkId}.enc`
}

/** The location string of an object: `s3://<bucket>/<key>`. */
export function objectLocation(bucket: string, key: string): string {
  if (typeof bucket !== 'string' || bucket.length === 0)
    throw invalidArgumentType('The bucket must be a non-empty string')
  if (typeof key !== 'string' || key.length === 0)
    throw invalidArgumentType('The key must be a non-empty string')
  return `s3://${bucket}/${key}`
}

/** The bucket and key of a location string (`s3://<bucket>/<key>`), or undefined if it is not one. */
export function parseObjectLocation(location: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location)
  return match === null ? undefined : { bucket: match[1]!, key: match[2]! }
}
