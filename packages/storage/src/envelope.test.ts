// Test vectors for the chunk envelope: the AES-256-GCM known answers of McGrew & Viega's GCM
// specification (test cases 13 to 15) wrapped in the parity layout, then every way a decode fails.

import { describe, expect, it } from 'vitest'
import { decodeEnvelope, encodeEnvelope, parseEnvelope } from './envelope.ts'
import { StorageError } from './errors.ts'

const zeroKey = Buffer.alloc(32)
const zeroNonce = Buffer.alloc(12)
const key15 = Buffer.from('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308', 'hex')
const nonce15 = Buffer.from('cafebabefacedbaddecaf888', 'hex')
const plaintext15 = Buffer.from(
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
  'hex',
)
const master = Buffer.from('master').toString('hex')

const vectors = [
  {
    name: 'GCM test case 13 (empty plaintext)',
    key: zeroKey,
    nonce: zeroNonce,
    plaintext: Buffer.alloc(0),
    envelope: `0c000000${'00'.repeat(12)}06000000${master}530f8afbc74536b9a963b4f1c4cb738b`,
  },
  {
    name: 'GCM test case 14 (one zero block)',
    key: zeroKey,
    nonce: zeroNonce,
    plaintext: Buffer.alloc(16),
    envelope: `0c000000${'00'.repeat(12)}06000000${master}cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919`,
  },
  {
    name: 'GCM test case 15 (four blocks)',
    key: key15,
    nonce: nonce15,
    plaintext: plaintext15,
    envelope:
      `0c000000cafebabefacedbaddecaf88806000000${master}` +
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad' +
      'b094dac5d93471bdec1a502270e3cc6c',
  },
]

function errorOf(run: () => unknown): StorageError {
  try {
    run()
  } catch (error) {
    expect(StorageError.isInstance(error), String(error)).toBe(true)
    return error as StorageError
  }
  throw new Error('expected an error')
}

describe('chunk envelope', () => {
  for (const vector of vectors) {
    it(`encodes ${vector.name} to fixed bytes and back`, () => {
      const envelope = encodeEnvelope(vector.plaintext, vector.key, { nonce: vector.nonce })
      expect(envelope.toString('hex')).toBe(vector.envelope)
      const decoded = decodeEnvelope(Buffer.from(vector.envelope, 'hex'), vector.key)
      expect(decoded.keyId).toBe('master')
      expect(decoded.plaintext.equals(vector.plaintext)).toBe(true)
    })
  }

  it('carries a UTF-8 key id that a key chooser receives', () => {
    const envelope = encodeEnvelope(Buffer.from('chunk bytes'), key15, { keyId: 'clé-2', nonce: nonce15 })
    expect(parseEnvelope(envelope).keyId).toBe('clé-2')
    expect(envelope.readUInt32LE(16)).toBe(Buffer.byteLength('clé-2'))
    const chosen: string[] = []
    const { plaintext } = decodeEnvelope(envelope, (keyId) => {
      chosen.push(keyId)
      return key15
    })
    expect(chosen).toEqual(['clé-2'])
    expect(plaintext.toString()).toBe('chunk bytes')
  })

  it('uses a fresh random nonce by default', () => {
    const first = encodeEnvelope(Buffer.from('same'), key15)
    const second = encodeEnvelope(Buffer.from('same'), key15)
    expect(parseEnvelope(first).nonce.equals(parseEnvelope(second).nonce)).toBe(false)
    expect(decodeEnvelope(first, key15).plaintext.toString()).toBe('same')
  })

  it('rejects every flipped byte, except in the key id, which the format does not authenticate', () => {
    const envelope = Buffer.from(vectors[2]!.envelope, 'hex')
    for (let position = 0; position < envelope.length; position++) {
      const altered = Buffer.from(envelope)
      altered[position]! ^= 0x01
      if (position >= 20 && position < 26) {
        // No associated data (the parity format): a changed key id still decrypts to the true
        // plaintext, under another name, and a key chooser then picks a wrong or unknown key.
        const decoded = decodeEnvelope(altered, key15)
        expect(decoded.plaintext.equals(plaintext15)).toBe(true)
        expect(decoded.keyId).not.toBe('master')
        const chooser = (keyId: string) => (keyId === 'master' ? key15 : zeroKey)
        expect(errorOf(() => decodeEnvelope(altered, chooser)).code).toBe('ERR_ENVELOPE_AUTH')
        continue
      }
      const expected =
        position < 4
          ? 'ERR_ENVELOPE_MALFORMED'
          : position >= 17 && position < 20
            ? 'ERR_ENVELOPE_TRUNCATED'
            : 'ERR_ENVELOPE_AUTH'
      expect(errorOf(() => decodeEnvelope(altered, key15)).code, `byte ${position}`).toBe(expected)
    }
  })

  it('fails authentication with a wrong key', () => {
    const envelope = Buffer.from(vectors[2]!.envelope, 'hex')
    const wrong = Buffer.from(key15)
    wrong[31]! ^= 0x80
    expect(errorOf(() => decodeEnvelope(envelope, wrong)).code).toBe('ERR_ENVELOPE_AUTH')
    expect(errorOf(() => decodeEnvelope(envelope, zeroKey)).message).toMatch(/authentication failed/)
  })

  it('rejects truncated and inconsistent envelopes', () => {
    const envelope = Buffer.from(vectors[1]!.envelope, 'hex')
    for (const length of [0, 1, 7]) {
      expect(errorOf(() => decodeEnvelope(envelope.subarray(0, length), zeroKey)).code).toBe(
        'ERR_ENVELOPE_TRUNCATED',
      )
    }
    for (const length of [8, 19, 25, 8 + 12 + 6 + 15]) {
      expect(errorOf(() => decodeEnvelope(envelope.subarray(0, length), zeroKey)).code, `${length}`).toBe(
        'ERR_ENVELOPE_TRUNCATED',
      )
    }
    // Cutting into the ciphertext keeps the layout valid; the tag no longer matches.
    expect(errorOf(() => decodeEnvelope(envelope.subarray(0, envelope.length - 1), zeroKey)).code).toBe(
      'ERR_ENVELOPE_AUTH',
    )
    const longKeyId = Buffer.from(envelope)
    longKeyId.writeUInt32LE(1_000, 16)
    expect(errorOf(() => decodeEnvelope(longKeyId, zeroKey)).code).toBe('ERR_ENVELOPE_TRUNCATED')
    const wrongNonceLength = Buffer.from(envelope)
    wrongNonceLength.writeUInt32LE(16, 0)
    expect(errorOf(() => decodeEnvelope(wrongNonceLength, zeroKey)).code).toBe('ERR_ENVELOPE_MALFORMED')
  })

  it('rejects bad keys and nonces as argument errors', () => {
    expect(() => encodeEnvelope(Buffer.alloc(1), Buffer.alloc(16))).toThrow(RangeError)
    expect(() => encodeEnvelope(Buffer.alloc(1), zeroKey, { nonce: Buffer.alloc(8) })).toThrow(RangeError)
    expect(() => encodeEnvelope('text' as unknown as Uint8Array, zeroKey)).toThrow(TypeError)
    expect(() => decodeEnvelope(Buffer.from(vectors[0]!.envelope, 'hex'), Buffer.alloc(31))).toThrow(
      RangeError,
    )
  })
})
