// MemoryDiskIo: the simplest complete DiskIo, holding pieces in memory. It is what the tests and
// the bridge benchmark download into, and a reference for writing a real backend.
import type { DiskIo, DiskStorage, ReadPieceJob, WritePieceJob } from './types.ts'

export class MemoryDiskIo implements DiskIo {
  /** Pieces are kept as the Buffers libtorrent's data arrives in (no copy). */
  readonly retainsWriteData = true
  /** Pieces by infoHash, then piece index. */
  readonly torrents = new Map<string, Map<number, Buffer>>()

  open(storage: DiskStorage): void {
    if (!this.torrents.has(storage.infoHash)) this.torrents.set(storage.infoHash, new Map())
  }

  writePiece(job: WritePieceJob): void {
    // The piece's native memory is immutable and lives as long as this Buffer: no copy needed.
    this.#pieces(job.storage).set(job.piece, job.data)
  }

  readPiece(job: ReadPieceJob): Buffer | null {
    const piece = this.#pieces(job.storage).get(job.piece)
    return piece ? piece.subarray(job.offset, job.offset + job.length) : null
  }

  checkFiles(job: { storage: DiskStorage; hasResumeData: boolean }): 'ok' | 'need-full-check' {
    return !job.hasResumeData && this.#pieces(job.storage).size > 0 ? 'need-full-check' : 'ok'
  }

  clearPiece(job: { storage: DiskStorage; piece: number }): void {
    this.#pieces(job.storage).delete(job.piece)
  }

  deleteFiles(job: { storage: DiskStorage; partfileOnly: boolean }): void {
    if (!job.partfileOnly) this.torrents.delete(job.storage.infoHash)
  }

  /** The torrent's flat byte stream as stored (missing pieces as zeros). */
  contents(infoHash: string, totalSize: number, pieceLength: number): Buffer {
    const out = Buffer.alloc(totalSize)
    for (const [index, piece] of this.torrents.get(infoHash) ?? []) piece.copy(out, index * pieceLength)
    return out
  }

  #pieces(storage: DiskStorage): Map<number, Buffer> {
    let pieces = this.torrents.get(storage.infoHash)
    if (!pieces) {
      pieces = new Map()
      this.torrents.set(storage.infoHash, pieces)
    }
    return pieces
  }
}
