// One error type for everything the harness reports (a peer that exited, a wait that timed out,
// a helper script that failed), so tests can match on a stable `code` rather than on messages.

const marker = Symbol.for('chunktorrent.test-peers.error')

export type TestPeerErrorCode =
  | 'ERR_TIMEOUT'
  | 'ERR_PEER_EXITED'
  | 'ERR_PEER_ERROR'
  | 'ERR_PYTHON_FAILED'
  | 'ERR_NOT_INSTALLED'
  | 'ERR_CORRUPT_COPY'

export class TestPeerError extends Error {
  readonly code: TestPeerErrorCode
  readonly [marker] = true

  constructor(code: TestPeerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TestPeerError'
    this.code = code
  }

  /** True for a TestPeerError from any copy of this package (works across bundles). */
  static isInstance(value: unknown): value is TestPeerError {
    return typeof value === 'object' && value !== null && marker in value
  }
}
