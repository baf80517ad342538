// The disk backend libtorrent talks to (JsDiskIo) and the state it shares with the session
// wrapper (Bridge). libtorrent's network thread only enqueues jobs and wakes JavaScript; blocks
// are gathered into whole pieces in native memory (readable at once), hashed on a small native
// thread pool, and handed to JavaScript as one write per piece. Reads are served from that memory
// when possible and otherwise fetched from JavaScript a whole piece at a time.
#pragma once

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/disk_observer.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/performance_counters.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/sha1_hash.hpp>
#include <libtorrent/storage_defs.hpp>

#include <boost/asio/post.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ct {

constexpr int kBlockSize = 0x4000;

enum class JobType : uint8_t { Open, Close, Write, Read, Check, Clear, Release, Stop, Delete, Move, Rename, Priority };
char const* jobTypeName(JobType type);

struct FileEntry {
  std::string path;
  std::int64_t length;
  std::int64_t offset;
  bool pad;
};

// An immutable snapshot of a torrent's storage geometry, safe to read from any thread.
struct StorageInfo {
  int index = 0;
  lt::sha1_hash bestHash;
  std::string name;
  std::string savePath;
  int pieceLength = 0;
  std::int64_t totalSize = 0;
  int numPieces = 0;
  std::vector<FileEntry> files;
  int pieceSize(int piece) const;
};

// One piece's bytes in native memory. Filling: blocks arrive (network thread only). Storing:
// complete and handed to JavaScript, immutable. Clean: stored (or read back), immutable, evictable.
// Completion of a piece's store in JavaScript; hash jobs wait on it.
struct StoreState {
  std::mutex mutex;
  bool done = false;
  std::vector<std::function<void()>> waiters;
  // Runs `fn` once the store has finished (at once if it has).
  void whenDone(std::function<void()> fn);
  void finish();
};

// Memory for whole pieces. Piece buffers come and go at download speed, and fresh anonymous
// memory is expensive to fault in (measured: ~15 µs per 4 KiB page on these VMs, against ~1.5 µs
// per page inside transparent huge pages). So pieces are carved from 2 MiB-aligned arenas
// advised for huge pages, by power-of-two size class, and freed pieces are reused; resident
// free memory beyond a cap, and beyond a floor once no piece was allocated for a while, is handed
// back to the kernel. Static and process-wide (shared by every session): buffers may outlive sessions.
class PieceMemory {
 public:
  static char* allocate(std::size_t size);
  static void release(char* data, std::size_t size);
  static std::size_t classOf(std::size_t size);
  // Free pieces kept resident for reuse.
  static std::size_t residentFreeBytes();
};

// The bytes of one piece: uninitialised when allocated (writers fill them; pad ranges and
// never-written blocks are zeroed explicitly where they matter).
class PieceBytes {
 public:
  explicit PieceBytes(std::size_t size) : data_(PieceMemory::allocate(size)), size_(size) {}
  ~PieceBytes() { PieceMemory::release(data_, size_); }
  PieceBytes(PieceBytes const&) = delete;
  PieceBytes& operator=(PieceBytes const&) = delete;
  char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  char* data_;
  std::size_t size_;
};

struct PieceBuffer {
  enum class State : uint8_t { Filling, Storing, Clean };
  explicit PieceBuffer(int size);
  PieceBytes data;
  std::vector<std::uint8_t> have;  // per 16 KiB block: written, or wholly inside a pad file
  int missing = 0;
  State state = State::Filling;
  std::shared_ptr<StoreState> store;  // set when the piece is handed to JavaScript
  int size() const { return static_cast<int>(data.size()); }
  bool hasRange(int offset, int length) const;
  void markWritten(int offset, int length);
  void zeroMissingBlocks();
};

using PieceBufferPtr = std::shared_ptr<PieceBuffer>;

// What JavaScript (or an abort) answered for a job.
struct JobOutcome {
  lt::error_code ec;
  int fileIndex = -1;
  bool missing = false;        // read: the storage holds no such piece
  PieceBufferPtr piece;        // read: the bytes
  std::string text;            // move: the new save path
  lt::status_t status = lt::status_t::no_error;  // check, move
};

struct Job {
  std::uint32_t id = 0;
  JobType type = JobType::Open;
  std::shared_ptr<StorageInfo const> storage;
  int piece = -1;
  int offset = 0;
  int length = 0;
  PieceBufferPtr payload;  // write
  std::string text;        // move: target path; rename: new name
  int fileIndex = -1;
  int flags = 0;  // check: 1 = resume data given; delete: 1 = part file only; move: move_flags_t
  std::vector<int> priorities;
  // Called exactly once, from any thread. It only posts libtorrent's handler onto the network
  // thread (moving it out), so no handler runs or dies anywhere else.
  std::function<void(JobOutcome&&)> finish;
};

class HashPool {
 public:
  explicit HashPool(int threads);
  ~HashPool();
  void submit(std::function<void()> task);
  void stop();  // runs what is queued, then joins

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

// The clean-piece LRU's default size, and the floor of its limit in pieces of the largest size seen.
constexpr std::int64_t kDefaultReadCacheBytes = 16 << 20;
constexpr std::int64_t kMinCachedPieces = 4;

// Whole pieces in native memory: the write-back buffer of pieces being downloaded or stored, and
// a bounded LRU of clean pieces (recently stored or read back) for serving peers (its limit, but
// never less than kMinCachedPieces of the largest piece it has held).
class PieceCache {
 public:
  static std::uint64_t key(int storage, int piece) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(storage)) << 32) | static_cast<std::uint32_t>(piece);
  }
  PieceBufferPtr get(std::uint64_t key);
  void put(std::uint64_t key, PieceBufferPtr buffer);  // replaces; clean ones join the LRU
  void markClean(std::uint64_t key, PieceBuffer* buffer);
  void erase(std::uint64_t key);
  void eraseStorage(int storage);
  void setLimit(std::int64_t bytes);
  std::int64_t bytes() const;

 private:
  struct Entry {
    PieceBufferPtr buffer;
    std::list<std::uint64_t>::iterator lru;
    bool inLru = false;
  };
  void evictLocked();
  void unlinkLocked(Entry& entry);
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::list<std::uint64_t> lru_;  // front = most recent
  std::int64_t cleanBytes_ = 0;
  std::int64_t totalBytes_ = 0;
  std::int64_t limit_ = kDefaultReadCacheBytes;
  std::int64_t largestPiece_ = 0;
};

struct BridgeStats {
  std::uint64_t jobsToJs = 0;
  std::uint64_t batches = 0;
  std::uint64_t piecesWritten = 0;
  std::uint64_t readsFromCache = 0;
  std::uint64_t pieceFetches = 0;
  std::uint64_t queueFull = 0;
  std::uint64_t hashes = 0;
};

// State shared by JsDiskIo (network thread), the session wrapper (JS thread) and the hash pool.
class Bridge {
 public:
  Bridge(lt::io_context& ioc, int hashThreads);

  // Any thread.
  void enqueue(std::unique_ptr<Job> job);
  template <typename Fn>
  void post(Fn&& fn) {
    boost::asio::post(ioc_, std::forward<Fn>(fn));
  }
  // Fetches a whole piece (from the cache, else from JavaScript); `done` runs on some thread.
  void fetchPiece(std::shared_ptr<StorageInfo const> const& storage, int piece,
                  std::function<void(JobOutcome const&)> done);

  // JS thread.
  std::vector<Job*> take();
  void complete(std::uint32_t id, JobOutcome&& outcome);
  // Fails every queued and pending job with operation_aborted and refuses new ones. Idempotent.
  void failAll();
  bool closed() const { return closed_.load(); }

  // Backpressure on pieces handed to JavaScript and not yet stored.
  bool addStoring(int bytes, std::shared_ptr<lt::disk_observer> const& observer);
  bool overWatermark() const { return storingBytes_.load() > highWatermark_.load(); }
  void waitForRoom(std::shared_ptr<lt::disk_observer> observer);
  void releaseStoring(int bytes);
  void setWatermark(std::int64_t high) { highWatermark_ = high; }

  BridgeStats stats() const;
  std::int64_t storingBytes() const { return storingBytes_.load(); }
  std::size_t pendingJobs() const;

  std::function<void()> wake;  // set by the session before any job can arrive
  PieceCache cache;
  HashPool pool;
  std::atomic<std::uint64_t> hashes{0};
  std::atomic<std::uint64_t> readsFromCache{0};

 private:
  lt::io_context& ioc_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Job>> queued_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Job>> pending_;
  std::unordered_map<std::uint64_t, std::vector<std::function<void(JobOutcome const&)>>> fetches_;
  std::vector<std::weak_ptr<lt::disk_observer>> observers_;
  std::uint32_t nextId_ = 1;
  bool wakeScheduled_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<std::int64_t> storingBytes_{0};
  std::atomic<std::int64_t> highWatermark_{16 << 20};
  BridgeStats stats_;
};

// libtorrent's disk_io_constructor for a session whose storage is served by JavaScript.
// `onBridge` receives the new bridge (to set its wake function) before any job can arrive.
std::unique_ptr<lt::disk_interface> makeJsDiskIo(lt::io_context& ioc, lt::settings_interface const& settings,
                                                 std::function<void(std::shared_ptr<Bridge> const&)> const& onBridge);

}  // namespace ct
