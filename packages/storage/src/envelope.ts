// The encrypted chunk envelope of the parity spec, for chunks that leave the machine:
// AES-256-GCM, a 32-byte key, a fresh 12-byte nonce per chunk, no associated data, laid out as
// u32le nonce_len | nonce | u32le key_id_len | key_id (UTF-8) | ciphertext || 16-byte tag.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { argumentOutOfRange, invalidArgumentType, StorageError } from './errors.ts'
import { releaseBuffer } from './release-buffer.ts'

export const ENVELOPE_KEY_LENGTH = 32
export const ENVELOPE_NONCE_LENGTH = 12
export const ENVELOPE_TAG_LENGTH = 16
export const DEFAULT_KEY_ID = 'master'

export interface EncodeEnvelopeOptions {
  /** Names the key, so a reader can pick it; default `'master'`. */
  keyId?: string
  /** Only for test vectors: a nonce must never be reused with the same key. Default: 12 random bytes. */
  nonce?: Uint8Array
}

/** The parts of an envelope, before decryption. */
export interface EnvelopeParts {
  nonce: Buffer
  keyId: string
  ciphertext: Buffer
  tag: Buffer
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw invalidArgumentType('The envelope key must be a Uint8Array')
  if (key.length !== ENVELOPE_KEY_LENGTH) {
    throw argumentOutOfRange(`The envelope key must be ${ENVELOPE_KEY_LENGTH} bytes, got ${key.length}`)
  }
}

/** Encrypts `plaintext` into an envelope. */
export function encodeEnvelope(
  plaintext: Uint8Array,
  key: Uint8Array,
  options: EncodeEnvelopeOptions = {},
): Buffer {
  if (!(plaintext instanceof Uint8Array)) throw invalidArgumentType('The plaintext must be a Uint8Array')
  checkKey(key)
  const keyId = options.keyId ?? DEFAULT_KEY_ID
  if (typeof keyId !== 'string') throw invalidArgumentType('keyId must be a string')
  const nonce = options.nonce ?? randomBytes(ENVELOPE_NONCE_LENGTH)
  if (!(nonce instanceof Uint8Array) || nonce.length !== ENVELOPE_NONCE_LENGTH) {
    throw argumentOutOfRange(`The nonce must be ${ENVELOPE_NONCE_LENGTH} bytes`)
  }
  const keyIdBytes = Buffer.from(keyId, 'utf8')
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: ENVELOPE_TAG_LENGTH })
  const ciphertext = cipher.update(plaintext)
  const final = cipher.final()
  const tag = cipher.getAuthTag()
  const header = Buffer.alloc(4 + nonce.length + 4 + keyIdBytes.length)
  header.writeUInt32LE(nonce.length, 0)
  header.set(nonce, 4)
  header.writeUInt32LE(keyIdBytes.length, 4 + nonce.length)
  header.set(keyIdBytes, 8 + nonce.length)
  const envelope = Buffer.concat([header, ciphertext, final, tag])
  releaseBuffer(ciphertext)
  return envelope
}

/**
 * Splits an envelope into its parts without decrypting (to read the key id first). Throws
 * `ERR_ENVELOPE_TRUNCATED` for input shorter than its lengths require (or than 8 bytes) and
 * `ERR_ENVELOPE_MALFORMED` for a nonce length other than 12.
 */
export function parseEnvelope(envelope: Uint8Array): EnvelopeParts {
  if (!(envelope instanceof Uint8Array)) throw invalidArgumentType('The envelope must be a Uint8Array')
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength)
  const truncated = (what: string) =>
    new StorageError('ERR_ENVELOPE_TRUNCATED', `Envelope of ${bytes.length} bytes is truncated: ${what}`)
  if (bytes.length < 8) throw truncated('shorter than the 8 bytes of its two length fields')
  const nonceLength = bytes.readUInt32LE(0)
  if (nonceLength !== ENVELOPE_NONCE_LENGTH) {
    throw new StorageError(
      'ERR_ENVELOPE_MALFORMED',
      `Envelope nonce length is ${nonceLength}, expected ${ENVELOPE_NONCE_LENGTH}`,
    )
  }
  if (bytes.length < 4 + nonceLength + 4) throw truncated('the nonce or the key id length is cut')
  const keyIdLength = bytes.readUInt32LE(4 + nonceLength)
  const bodyStart = 8 + nonceLength + keyIdLength
  if (bytes.length < bodyStart + ENVELOPE_TAG_LENGTH) {
    throw truncated(`the key id (${keyIdLength} bytes) and the ${ENVELOPE_TAG_LENGTH}-byte tag do not fit`)
  }
  return {
    nonce: bytes.subarray(4, 4 + nonceLength),
    keyId: bytes.subarray(8 + nonceLength, bodyStart).toString('utf8'),
    ciphertext: bytes.subarray(bodyStart, bytes.length - ENVELOPE_TAG_LENGTH),
    tag: bytes.subarray(bytes.length - ENVELOPE_TAG_LENGTH),
  }
}

/**
 * Decrypts an envelope. `key` is the key, or a function choosing it by key id. Throws
 * `ERR_ENVELOPE_TRUNCATED` / `ERR_ENVELOPE_MALFORMED` for a broken layout and `ERR_ENVELOPE_AUTH`
 * when authentication fails (a wrong key or any changed byte): never garbage.
 */
export function decodeEnvelope(
  envelope: Uint8Array,
  key: Uint8Array | ((keyId: string) => Uint8Array),
): { plaintext: Buffer; keyId: string } {
  const parts = parseEnvelope(envelope)
  const chosen = typeof key === 'function' ? key(parts.keyId) : key
  checkKey(chosen)
  const decipher = createDecipheriv('aes-256-gcm', chosen, parts.nonce, {
    authTagLength: ENVELOPE_TAG_LENGTH,
  })
  decipher.setAuthTag(parts.tag)
  try {
    const decrypted = decipher.update(parts.ciphertext)
    const plaintext = Buffer.concat([decrypted, decipher.final()])
    releaseBuffer(decrypted)
    return { plaintext, keyId: parts.keyId }
  } catch (error) {
    throw new StorageError(
      'ERR_ENVELOPE_AUTH',
      `Envelope authentication failed for key id ${JSON.stringify(parts.keyId)} (wrong key or altered bytes)`,
      { cause: error },
    )
  }
}
