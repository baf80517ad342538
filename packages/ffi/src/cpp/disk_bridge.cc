// Implementation of the JavaScript-served disk backend; see disk_bridge.h for the design.
#include "disk_bridge.h"

#include <libtorrent/aux_/vector.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/operations.hpp>
#include <libtorrent/session_handle.hpp>
#include <libtorrent/torrent_flags.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <thread>
#include <utility>

#include <sys/mman.h>

namespace ct {

char const* jobTypeName(JobType type) {
  switch (type) {
    case JobType::Open: return "open";
    case JobType::Close: return "close";
    case JobType::Write: return "write";
    case JobType::Read: return "read";
    case JobType::Check: return "check";
    case JobType::Clear: return "clear";
    case JobType::Release: return "release";
    case JobType::Stop: return "stop";
    case JobType::Delete: return "delete";
    case JobType::Move: return "move";
    case JobType::Rename: return "rename";
    case JobType::Priority: return "priority";
  }
  return "unknown";
}

int StorageInfo::pieceSize(int piece) const {
  if (piece < 0 || piece >= numPieces) return 0;
  if (piece == numPieces - 1) return static_cast<int>(totalSize - static_cast<std::int64_t>(piece) * pieceLength);
  return pieceLength;
}

// ---- PieceBuffer ---------------------------------------------------------------------------

PieceBuffer::PieceBuffer(int size)
    : data(static_cast<std::size_t>(size)),
      have(static_cast<std::size_t>((size + kBlockSize - 1) / kBlockSize), 0),
      missing(static_cast<int>(have.size())) {}

bool PieceBuffer::hasRange(int offset, int length) const {
  if (offset < 0 || length <= 0 || offset + length > size()) return false;
  for (int block = offset / kBlockSize; block <= (offset + length - 1) / kBlockSize; ++block) {
    if (!have[static_cast<std::size_t>(block)]) return false;
  }
  return true;
}

void PieceBuffer::zeroMissingBlocks() {
  for (std::size_t block = 0; block < have.size(); ++block) {
    if (have[block]) continue;
    std::size_t const start = block * kBlockSize;
    std::memset(data.data() + start, 0, std::min<std::size_t>(kBlockSize, data.size() - start));
  }
}

void PieceBuffer::markWritten(int offset, int length) {
  if (length <= 0) return;
  for (int block = offset / kBlockSize; block <= (offset + length - 1) / kBlockSize; ++block) {
    auto& flag = have[static_cast<std::size_t>(block)];
    if (!flag) {
      flag = 1;
      --missing;
    }
  }
}

void StoreState::whenDone(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!done) {
      waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void StoreState::finish() {
  std::vector<std::function<void()>> run;
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
    run.swap(waiters);
  }
  for (auto& fn : run) fn();
}

// ---- PieceMemory ---------------------------------------------------------------------------

namespace {

constexpr std::size_t kHugePage = 2u << 20;
constexpr std::size_t kArenaSize = 64u << 20;
constexpr std::size_t kMaxPooledClass = 8u << 20;
constexpr std::size_t kMaxResidentFree = 128u << 20;
// Once the pool has seen no allocation for a whole decay period (the sessions are quiet), its
// resident free pieces are handed back to the kernel down to this much: a burst of downloading
// leaves no resident pool behind. Never while pieces keep coming: a page handed back costs a fault
// when it is written again (~15 us per 4 KiB page measured on these VMs).
constexpr std::size_t kDecayFloor = 16u << 20;
constexpr auto kDecayPeriod = std::chrono::seconds(1);

struct PieceMemoryState {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<char*>> free;      // resident
  std::unordered_map<std::size_t, std::vector<char*>> released;  // pages handed back (reused later)
  std::size_t residentFree = 0;
  std::uint64_t allocations = 0;     // served from the pool, ever
  std::uint64_t allocationsSeen = 0;  // at the last decay check
  char* arena = nullptr;
  std::size_t arenaLeft = 0;
  std::once_flag decayStarted;
};

PieceMemoryState& memoryState() {
  static auto* state = new PieceMemoryState();  // never destroyed: buffers may be released at exit
  return *state;
}

// Hands back the resident free pieces beyond kDecayFloor if nothing was allocated since the last
// check. madvise runs outside the lock: allocations never wait for it.
void decayOnce(PieceMemoryState& state) {
  std::vector<std::pair<char*, std::size_t>> taken;
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    bool const quiet = state.allocations == state.allocationsSeen;
    state.allocationsSeen = state.allocations;
    if (!quiet || state.residentFree <= kDecayFloor) return;
    std::size_t target = state.residentFree - kDecayFloor;
    for (auto& [cls, list] : state.free) {
      while (target > 0 && !list.empty()) {
        taken.emplace_back(list.back(), cls);
        list.pop_back();
        state.residentFree -= cls;
        target = target > cls ? target - cls : 0;
      }
    }
  }
  for (auto const& [data, cls] : taken) madvise(data, cls, MADV_DONTNEED);
  std::lock_guard<std::mutex> lock(state.mutex);
  for (auto const& [data, cls] : taken) state.released[cls].push_back(data);
}

void startDecay(PieceMemoryState& state) {
  std::call_once(state.decayStarted, [&state] {
    // Detached and never stopped: the state it uses is never destroyed, and Node never unloads an addon.
    std::thread([&state] {
      for (;;) {
        std::this_thread::sleep_for(kDecayPeriod);
        decayOnce(state);
      }
    }).detach();
  });
}

char* mapHuge(std::size_t size) {
  // Over-allocate by one huge page to align the start, so whole huge pages can back it.
  std::size_t const length = size + kHugePage;
  void* raw = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto const address = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t const aligned = (address + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > address) munmap(raw, aligned - address);
  std::size_t const tail = (address + length) - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<char*>(aligned);
}

}  // namespace

std::size_t PieceMemory::classOf(std::size_t size) {
  std::size_t cls = kBlockSize;
  while (cls < size) cls <<= 1;
  return cls;
}

char* PieceMemory::allocate(std::size_t size) {
  if (size == 0) size = 1;
  std::size_t const cls = classOf(size);
  if (cls > kMaxPooledClass) return mapHuge((cls + kHugePage - 1) & ~(kHugePage - 1));
  auto& state = memoryState();
  std::lock_guard<std::mutex> lock(state.mutex);
  ++state.allocations;
  auto& list = state.free[cls];
  if (!list.empty()) {
    char* data = list.back();
    list.pop_back();
    state.residentFree -= cls;
    return data;
  }
  auto& released = state.released[cls];
  if (!released.empty()) {
    char* data = released.back();  // its pages fault in again as it is written
    released.pop_back();
    return data;
  }
  if (state.arenaLeft < cls) {
    state.arena = mapHuge(kArenaSize);
    state.arenaLeft = kArenaSize;
    startDecay(state);
  }
  char* data = state.arena;
  state.arena += cls;
  state.arenaLeft -= cls;
  return data;
}

void PieceMemory::release(char* data, std::size_t size) {
  if (!data) return;
  if (size == 0) size = 1;
  std::size_t const cls = classOf(size);
  if (cls > kMaxPooledClass) {
    munmap(data, (cls + kHugePage - 1) & ~(kHugePage - 1));
    return;
  }
  auto& state = memoryState();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (state.residentFree + cls > kMaxResidentFree) {
    madvise(data, cls, MADV_DONTNEED);  // hand the pages back; the address range is reused later
    state.released[cls].push_back(data);
    return;
  }
  state.residentFree += cls;
  state.free[cls].push_back(data);
}

std::size_t PieceMemory::residentFreeBytes() {
  auto& state = memoryState();
  std::lock_guard<std::mutex> lock(state.mutex);
  return state.residentFree;
}

// ---- HashPool ------------------------------------------------------------------------------

HashPool::HashPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { run(); });
}

HashPool::~HashPool() { stop(); }

void HashPool::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      tasks_.push_back(std::move(task));
      wake_.notify_one();
      return;
    }
  }
  task();  // after stop(): run on the caller's thread
}

void HashPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  for (auto& thread : threads_) {
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
  }
  threads_.clear();
}

void HashPool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

// ---- PieceCache ----------------------------------------------------------------------------

PieceBufferPtr PieceCache::get(std::uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second.inLru) lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.buffer;
}

void PieceCache::unlinkLocked(Entry& entry) {
  if (entry.inLru) {
    lru_.erase(entry.lru);
    entry.inLru = false;
    cleanBytes_ -= entry.buffer->size();
  }
  totalBytes_ -= entry.buffer->size();
}

void PieceCache::put(std::uint64_t key, PieceBufferPtr buffer) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    unlinkLocked(it->second);
    entries_.erase(it);
  }
  Entry entry;
  entry.buffer = std::move(buffer);
  totalBytes_ += entry.buffer->size();
  largestPiece_ = std::max<std::int64_t>(largestPiece_, entry.buffer->size());
  if (entry.buffer->state == PieceBuffer::State::Clean) {
    lru_.push_front(key);
    entry.lru = lru_.begin();
    entry.inLru = true;
    cleanBytes_ += entry.buffer->size();
  }
  entries_.emplace(key, std::move(entry));
  evictLocked();
}

void PieceCache::markClean(std::uint64_t key, PieceBuffer* buffer) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.buffer.get() != buffer || it->second.inLru) return;
  buffer->state = PieceBuffer::State::Clean;
  lru_.push_front(key);
  it->second.lru = lru_.begin();
  it->second.inLru = true;
  cleanBytes_ += buffer->size();
  evictLocked();
}

void PieceCache::erase(std::uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  unlinkLocked(it->second);
  entries_.erase(it);
}

void PieceCache::eraseStorage(int storage) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (static_cast<int>(it->first >> 32) == storage) {
      unlinkLocked(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void PieceCache::setLimit(std::int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = std::max<std::int64_t>(0, bytes);
  evictLocked();
}

std::int64_t PieceCache::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return totalBytes_;
}

void PieceCache::evictLocked() {
  // Never below a few of the largest pieces: a piece being served block by block must stay, or
  // every block of it would fetch the whole piece from JavaScript again.
  std::int64_t const limit = std::max(limit_, kMinCachedPieces * largestPiece_);
  while (cleanBytes_ > limit && !lru_.empty()) {
    std::uint64_t const victim = lru_.back();
    auto it = entries_.find(victim);
    unlinkLocked(it->second);
    entries_.erase(it);
  }
}

// ---- Bridge --------------------------------------------------------------------------------

Bridge::Bridge(lt::io_context& ioc, int hashThreads) : pool(hashThreads), ioc_(ioc) {}

static JobOutcome aborted() {
  JobOutcome outcome;
  outcome.ec = boost::asio::error::operation_aborted;
  return outcome;
}

void Bridge::enqueue(std::unique_ptr<Job> job) {
  bool wakeNow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_) {
      job->id = nextId_++;
      if (nextId_ == 0) nextId_ = 1;
      queued_.push_back(std::move(job));
      if (!wakeScheduled_) {
        wakeScheduled_ = true;
        wakeNow = true;
      }
    }
  }
  if (job) {  // refused: the session is closing
    job->finish(aborted());
    return;
  }
  if (wakeNow && wake) wake();
}

void Bridge::fetchPiece(std::shared_ptr<StorageInfo const> const& storage, int piece,
                        std::function<void(JobOutcome const&)> done) {
  std::uint64_t const key = PieceCache::key(storage->index, piece);
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& waiters = fetches_[key];
    first = waiters.empty();
    waiters.push_back(std::move(done));
  }
  if (!first) return;
  auto job = std::make_unique<Job>();
  job->type = JobType::Read;
  job->storage = storage;
  job->piece = piece;
  job->offset = 0;
  job->length = storage->pieceSize(piece);
  job->finish = [this, key](JobOutcome&& outcome) {
    if (!outcome.ec && outcome.piece) cache.put(key, outcome.piece);
    std::vector<std::function<void(JobOutcome const&)>> waiters;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = fetches_.find(key);
      if (it != fetches_.end()) {
        waiters = std::move(it->second);
        fetches_.erase(it);
      }
    }
    for (auto& waiter : waiters) waiter(outcome);
  };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.pieceFetches;
  }
  enqueue(std::move(job));
}

std::vector<Job*> Bridge::take() {
  std::vector<Job*> out;
  std::lock_guard<std::mutex> lock(mutex_);
  wakeScheduled_ = false;
  out.reserve(queued_.size());
  for (auto& job : queued_) {
    out.push_back(job.get());
    pending_.emplace(job->id, std::move(job));
  }
  if (!queued_.empty()) {
    ++stats_.batches;
    stats_.jobsToJs += queued_.size();
  }
  queued_.clear();
  return out;
}

void Bridge::complete(std::uint32_t id, JobOutcome&& outcome) {
  std::unique_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // already failed by close(), or answered twice
    job = std::move(it->second);
    pending_.erase(it);
    if (job->type == JobType::Write) ++stats_.piecesWritten;
  }
  job->finish(std::move(outcome));
}

void Bridge::failAll() {
  std::vector<std::unique_ptr<Job>> jobs;
  std::vector<std::weak_ptr<lt::disk_observer>> observers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    for (auto& job : queued_) jobs.push_back(std::move(job));
    queued_.clear();
    for (auto& entry : pending_) jobs.push_back(std::move(entry.second));
    pending_.clear();
    observers.swap(observers_);
  }
  for (auto& job : jobs) job->finish(aborted());
  for (auto& weak : observers) {
    post([weak] {
      if (auto observer = weak.lock()) observer->on_disk();
    });
  }
}

bool Bridge::addStoring(int bytes, std::shared_ptr<lt::disk_observer> const& observer) {
  std::lock_guard<std::mutex> lock(mutex_);
  storingBytes_ += bytes;
  if (observer && storingBytes_.load() > highWatermark_.load()) {
    observers_.push_back(observer);
    ++stats_.queueFull;
    return true;
  }
  return false;
}

void Bridge::waitForRoom(std::shared_ptr<lt::disk_observer> observer) {
  std::lock_guard<std::mutex> lock(mutex_);
  observers_.push_back(std::move(observer));
  ++stats_.queueFull;
}

void Bridge::releaseStoring(int bytes) {
  std::vector<std::weak_ptr<lt::disk_observer>> observers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    storingBytes_ -= bytes;
    if (storingBytes_.load() <= highWatermark_.load() / 2) observers.swap(observers_);
  }
  if (observers.empty() || closed_) return;
  post([observers = std::move(observers)] {
    for (auto const& weak : observers) {
      if (auto observer = weak.lock()) observer->on_disk();
    }
  });
}

BridgeStats Bridge::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  BridgeStats out = stats_;
  out.hashes = hashes.load();
  out.readsFromCache = readsFromCache.load();
  return out;
}

std::size_t Bridge::pendingJobs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.size() + queued_.size();
}

// ---- JsDiskIo ------------------------------------------------------------------------------

namespace {

struct MallocAllocator final : lt::buffer_allocator_interface {
  void free_disk_buffer(char* buffer) override { std::free(buffer); }
};
MallocAllocator mallocAllocator;  // static: buffers may outlive the disk object

lt::storage_error storageError(JobOutcome const& outcome, int defaultFile, lt::operation_t operation) {
  if (!outcome.ec) return {};
  int const file = outcome.fileIndex >= 0 ? outcome.fileIndex : defaultFile;
  return lt::storage_error(outcome.ec, lt::file_index_t(file), operation);
}

// The state of one async_hash call, finished when both the hash and (for a freshly completed
// piece) the store in JavaScript are done.
struct HashJob {
  int piece = 0;
  bool v1 = false;
  lt::span<lt::sha256_hash> v2;
  int size = 0;
  int size2 = 0;
  int blocks2 = 0;
  int firstFile = -1;
  std::function<void(lt::piece_index_t, lt::sha1_hash const&, lt::storage_error const&)> handler;
  std::atomic<int> pending{1};
  lt::sha1_hash hash;
  std::mutex errorMutex;
  lt::storage_error error;

  void fail(lt::storage_error const& e) {
    std::lock_guard<std::mutex> lock(errorMutex);
    if (!error) error = e;
  }
  void compute(char const* data, int available) {
    if (v1) {
      lt::hasher hasher;
      hasher.update(data, std::min(size, available));
      hash = hasher.final();
    }
    for (int block = 0; block < blocks2; ++block) {
      int const offset = block * kBlockSize;
      int const length = std::max(0, std::min({kBlockSize, size2 - offset, available - offset}));
      v2[block] = lt::hasher256(data + offset, length).final();
    }
  }
  void done(Bridge& bridge) {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    bridge.post([h = std::move(handler), p = piece, digest = hash, e = error]() { h(lt::piece_index_t(p), digest, e); });
  }
};

class JsDiskIo final : public lt::disk_interface {
 public:
  JsDiskIo(lt::io_context& ioc, lt::settings_interface const& settings)
      : settings_(settings),
        bridge_(std::make_shared<Bridge>(ioc, std::max(1, std::min(4, static_cast<int>(std::thread::hardware_concurrency()))))),
        workGuard_(boost::asio::make_work_guard(ioc)) {
    settings_updated();
  }

  ~JsDiskIo() override { abort(true); }

  std::shared_ptr<Bridge> const& bridge() const { return bridge_; }

  lt::storage_holder new_torrent(lt::storage_params const& params, std::shared_ptr<void> const&) override {
    auto info = std::make_shared<StorageInfo>();
    int const index = nextStorage_++;
    lt::file_storage const& fs = params.files;
    info->index = index;
    info->bestHash = params.info_hash;
    info->name = fs.name();
    info->savePath = params.path;
    info->pieceLength = fs.piece_length();
    info->totalSize = fs.total_size();
    info->numPieces = fs.num_pieces();
    for (auto const file : fs.file_range()) {
      info->files.push_back({fs.file_path(file), fs.file_size(file), fs.file_offset(file), fs.pad_file_at(file)});
    }
    storages_[index] = Slot{info, &fs};
    auto job = std::make_unique<Job>();
    job->type = JobType::Open;
    job->storage = info;
    job->finish = [](JobOutcome&&) {};
    bridge_->enqueue(std::move(job));
    return lt::storage_holder(lt::storage_index_t(index), *this);
  }

  void remove_torrent(lt::storage_index_t storage) override {
    auto it = storages_.find(static_cast<int>(storage));
    if (it == storages_.end()) return;
    auto job = std::make_unique<Job>();
    job->type = JobType::Close;
    job->storage = it->second.info;
    job->finish = [](JobOutcome&&) {};
    storages_.erase(it);
    bridge_->cache.eraseStorage(static_cast<int>(storage));
    bridge_->enqueue(std::move(job));
  }

  void async_read(lt::storage_index_t storage, lt::peer_request const& request,
                  std::function<void(lt::disk_buffer_holder, lt::storage_error const&)> handler,
                  lt::disk_job_flags_t) override {
    Slot const* slot = find(storage);
    int const piece = static_cast<int>(request.piece);
    if (!slot || request.length <= 0 || request.start < 0 ||
        request.start + request.length > (slot ? slot->info->pieceSize(piece) : 0)) {
      lt::storage_error error(lt::errors::make_error_code(lt::errors::invalid_piece_index), lt::operation_t::file_read);
      bridge_->post([h = std::move(handler), error]() mutable { h(lt::disk_buffer_holder(), error); });
      return;
    }
    int const start = request.start;
    int const length = request.length;
    if (auto buffer = bridge_->cache.get(PieceCache::key(slot->info->index, piece))) {
      if (buffer->hasRange(start, length)) {
        ++bridge_->readsFromCache;
        postRead(std::move(handler), buffer->data.data() + start, length, {});
        return;
      }
    }
    int const defaultFile = firstFile(*slot, piece, start);
    auto bridge = bridge_;
    // The waiter runs on whichever thread finishes the fetch; it only copies and posts.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    bridge_->fetchPiece(slot->info, piece, [bridge, shared, start, length, defaultFile](JobOutcome const& outcome) {
      if (outcome.ec || outcome.missing || !outcome.piece || outcome.piece->size() < start + length) {
        JobOutcome failure;
        failure.ec = outcome.ec ? outcome.ec : lt::error_code(boost::system::errc::no_such_file_or_directory, boost::system::generic_category());
        failure.fileIndex = outcome.fileIndex;
        postRead(bridge, std::move(*shared), nullptr, 0, storageError(failure, defaultFile, lt::operation_t::file_read));
        return;
      }
      postRead(bridge, std::move(*shared), outcome.piece->data.data() + start, length, {});
    });
  }

  bool async_write(lt::storage_index_t storage, lt::peer_request const& request, char const* data,
                   std::shared_ptr<lt::disk_observer> observer, std::function<void(lt::storage_error const&)> handler,
                   lt::disk_job_flags_t) override {
    Slot const* slot = find(storage);
    int const piece = static_cast<int>(request.piece);
    int const size = slot ? slot->info->pieceSize(piece) : 0;
    if (!slot || request.start < 0 || request.length <= 0 || request.start + request.length > size) {
      lt::storage_error error(lt::errors::make_error_code(lt::errors::invalid_piece_index), lt::operation_t::file_write);
      bridge_->post([h = std::move(handler), error] { h(error); });
      return false;
    }
    std::uint64_t const key = PieceCache::key(slot->info->index, piece);
    PieceBufferPtr buffer = bridge_->cache.get(key);
    if (!buffer || buffer->state != PieceBuffer::State::Filling) {
      // A new piece (or a rewrite of one already handed over: never touch that memory again).
      buffer = std::make_shared<PieceBuffer>(size);
      markPadBlocks(*slot, piece, *buffer);
      bridge_->cache.put(key, buffer);
    }
    std::memcpy(buffer->data.data() + request.start, data, static_cast<std::size_t>(request.length));
    buffer->markWritten(request.start, request.length);
    if (buffer->missing == 0) {
      // The piece is complete: hand it to JavaScript now. This block's write completes when the
      // piece is stored, so a storage error reaches libtorrent as a failed write (the block is
      // downloaded again, the torrent gets a file error) rather than a silent loss.
      storePiece(*slot, piece, key, buffer, std::move(handler));
    } else {
      bridge_->post([h = std::move(handler)] { h(lt::storage_error()); });
    }
    if (bridge_->overWatermark()) {
      bridge_->waitForRoom(std::move(observer));
      return true;
    }
    return false;
  }

  void async_hash(lt::storage_index_t storage, lt::piece_index_t pieceIndex, lt::span<lt::sha256_hash> v2,
                  lt::disk_job_flags_t flags,
                  std::function<void(lt::piece_index_t, lt::sha1_hash const&, lt::storage_error const&)> handler) override {
    Slot const* slot = find(storage);
    int const piece = static_cast<int>(pieceIndex);
    auto job = std::make_shared<HashJob>();
    job->piece = piece;
    job->handler = std::move(handler);
    if (!slot || piece < 0 || piece >= slot->info->numPieces) {
      job->fail(lt::storage_error(lt::errors::make_error_code(lt::errors::invalid_piece_index), lt::operation_t::file_read));
      job->done(*bridge_);
      return;
    }
    job->v1 = bool(flags & lt::disk_interface::v1_hash);
    job->v2 = v2;
    job->size = slot->info->pieceSize(piece);
    if (!v2.empty()) {
      job->size2 = slot->files->piece_size2(pieceIndex);
      job->blocks2 = slot->files->blocks_in_piece2(pieceIndex);
    }
    job->firstFile = firstFile(*slot, piece, 0);
    auto bridge = bridge_;
    std::uint64_t const key = PieceCache::key(slot->info->index, piece);
    PieceBufferPtr buffer = bridge_->cache.get(key);

    if (buffer && buffer->state != PieceBuffer::State::Filling) {
      // Complete (being stored, or stored): hash it now; the verdict goes back to libtorrent
      // only once the store has finished, after the write's own completion.
      auto store = buffer->store;
      if (store) job->pending = 2;
      bridge_->pool.submit([bridge, job, buffer] {
        job->compute(buffer->data.data(), buffer->size());
        ++bridge->hashes;
        job->done(*bridge);
      });
      if (store) store->whenDone([bridge, job] { job->done(*bridge); });
      return;
    }
    if (buffer) {
      // Incomplete: the missing blocks hash as zeros and the piece fails its check.
      buffer->zeroMissingBlocks();
      bridge_->pool.submit([bridge, job, buffer] {
        job->compute(buffer->data.data(), buffer->size());
        ++bridge->hashes;
        job->done(*bridge);
      });
      return;
    }
    // Not in memory: read it back from the storage (a recheck, or seed mode verifying lazily).
    bridge_->fetchPiece(slot->info, piece, [bridge, job](JobOutcome const& outcome) {
      if (outcome.ec) {
        job->fail(storageError(outcome, job->firstFile, lt::operation_t::file_read));
        job->done(*bridge);
        return;
      }
      PieceBufferPtr data = outcome.piece;  // null when the storage holds nothing: hash zeros
      bridge->pool.submit([bridge, job, data] {
        if (data) {
          job->compute(data->data.data(), data->size());
        } else {
          std::vector<char> zeros(static_cast<std::size_t>(std::max(job->size, job->size2)), 0);
          job->compute(zeros.data(), static_cast<int>(zeros.size()));
        }
        ++bridge->hashes;
        job->done(*bridge);
      });
    });
  }

  void async_hash2(lt::storage_index_t storage, lt::piece_index_t pieceIndex, int offset, lt::disk_job_flags_t,
                   std::function<void(lt::piece_index_t, lt::sha256_hash const&, lt::storage_error const&)> handler) override {
    Slot const* slot = find(storage);
    int const piece = static_cast<int>(pieceIndex);
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    auto bridge = bridge_;
    auto finish = [bridge, shared, piece](lt::sha256_hash const& hash, lt::storage_error const& error) {
      bridge->post([h = std::move(*shared), piece, hash, error] { h(lt::piece_index_t(piece), hash, error); });
    };
    if (!slot || piece < 0 || piece >= slot->info->numPieces) {
      finish({}, lt::storage_error(lt::errors::make_error_code(lt::errors::invalid_piece_index), lt::operation_t::file_read));
      return;
    }
    int const size2 = slot->files->piece_size2(pieceIndex);
    int const length = std::max(0, std::min(kBlockSize, size2 - offset));
    int const defaultFile = firstFile(*slot, piece, offset);
    auto hashFrom = [bridge, finish, offset, length](PieceBufferPtr data) {
      bridge->pool.submit([bridge, finish, data, offset, length] {
        lt::hasher256 hasher;
        if (data && data->size() >= offset + length) hasher.update(data->data.data() + offset, length);
        else {
          std::vector<char> zeros(static_cast<std::size_t>(length), 0);
          hasher.update(zeros.data(), length);
        }
        ++bridge->hashes;
        finish(hasher.final(), {});
      });
    };
    if (auto buffer = bridge_->cache.get(PieceCache::key(slot->info->index, piece))) {
      if (length == 0 || buffer->hasRange(offset, length)) {
        hashFrom(buffer);
        return;
      }
    }
    bridge_->fetchPiece(slot->info, piece, [finish, hashFrom, defaultFile](JobOutcome const& outcome) {
      if (outcome.ec) {
        finish({}, storageError(outcome, defaultFile, lt::operation_t::file_read));
        return;
      }
      hashFrom(outcome.piece);
    });
  }

  void async_move_storage(lt::storage_index_t storage, std::string path, lt::move_flags_t flags,
                          std::function<void(lt::status_t, std::string const&, lt::storage_error const&)> handler) override {
    auto job = barrierJob(storage, JobType::Move);
    if (!job) {
      bridge_->post([h = std::move(handler), path] { h(lt::status_t::fatal_disk_error, path, notFound(lt::operation_t::file_rename)); });
      return;
    }
    job->text = path;
    job->flags = static_cast<int>(flags);
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler), path](JobOutcome&& outcome) mutable {
      lt::storage_error error = storageError(outcome, -1, lt::operation_t::file_rename);
      lt::status_t status = error ? lt::status_t::fatal_disk_error : outcome.status;
      std::string result = outcome.text.empty() ? path : outcome.text;
      bridge->post([h = std::move(h), status, result, error] { h(status, result, error); });
    };
    bridge_->enqueue(std::move(job));
  }

  void async_release_files(lt::storage_index_t storage, std::function<void()> handler) override {
    simpleBarrier(storage, JobType::Release, std::move(handler));
  }

  void async_stop_torrent(lt::storage_index_t storage, std::function<void()> handler) override {
    simpleBarrier(storage, JobType::Stop, std::move(handler));
  }

  void async_check_files(lt::storage_index_t storage, lt::add_torrent_params const* resume,
                         lt::aux::vector<std::string, lt::file_index_t>,
                         std::function<void(lt::status_t, lt::storage_error const&)> handler) override {
    auto job = barrierJob(storage, JobType::Check);
    if (!job) {
      bridge_->post([h = std::move(handler)] { h(lt::status_t::fatal_disk_error, notFound(lt::operation_t::check_resume)); });
      return;
    }
    bool const hasResume = resume && (!resume->have_pieces.empty() || !resume->verified_pieces.empty() ||
                                      (resume->flags & lt::torrent_flags::seed_mode));
    job->flags = hasResume ? 1 : 0;
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler)](JobOutcome&& outcome) mutable {
      lt::storage_error error = storageError(outcome, -1, lt::operation_t::check_resume);
      lt::status_t status = error ? lt::status_t::fatal_disk_error : outcome.status;
      bridge->post([h = std::move(h), status, error] { h(status, error); });
    };
    bridge_->enqueue(std::move(job));
  }

  void async_rename_file(lt::storage_index_t storage, lt::file_index_t index, std::string name,
                         std::function<void(std::string const&, lt::file_index_t, lt::storage_error const&)> handler) override {
    auto job = barrierJob(storage, JobType::Rename);
    if (!job) {
      bridge_->post([h = std::move(handler), name, index] { h(name, index, notFound(lt::operation_t::file_rename)); });
      return;
    }
    job->fileIndex = static_cast<int>(index);
    job->text = name;
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler), name, index](JobOutcome&& outcome) mutable {
      lt::storage_error error = storageError(outcome, static_cast<int>(index), lt::operation_t::file_rename);
      bridge->post([h = std::move(h), name, index, error] { h(name, index, error); });
    };
    bridge_->enqueue(std::move(job));
  }

  void async_delete_files(lt::storage_index_t storage, lt::remove_flags_t options,
                          std::function<void(lt::storage_error const&)> handler) override {
    auto job = barrierJob(storage, JobType::Delete);
    if (!job) {
      bridge_->post([h = std::move(handler)] { h(notFound(lt::operation_t::file_remove)); });
      return;
    }
    job->flags = (options & lt::session_handle::delete_files) ? 0 : 1;
    int const index = static_cast<int>(storage);
    bridge_->cache.eraseStorage(index);
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler), index](JobOutcome&& outcome) mutable {
      bridge->cache.eraseStorage(index);
      lt::storage_error error = storageError(outcome, -1, lt::operation_t::file_remove);
      bridge->post([h = std::move(h), error] { h(error); });
    };
    bridge_->enqueue(std::move(job));
  }

  void async_set_file_priority(lt::storage_index_t storage, lt::aux::vector<lt::download_priority_t, lt::file_index_t> priorities,
                               std::function<void(lt::storage_error const&, lt::aux::vector<lt::download_priority_t, lt::file_index_t>)> handler) override {
    auto job = barrierJob(storage, JobType::Priority);
    if (!job) {
      bridge_->post([h = std::move(handler), p = std::move(priorities)]() mutable { h(lt::storage_error(), std::move(p)); });
      return;
    }
    for (auto const priority : priorities) job->priorities.push_back(static_cast<int>(static_cast<std::uint8_t>(priority)));
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler), p = std::move(priorities)](JobOutcome&& outcome) mutable {
      // A failure to record priorities is reported, but aborts (close) are not errors here.
      lt::storage_error error;
      if (outcome.ec && outcome.ec != boost::asio::error::operation_aborted) error = storageError(outcome, -1, lt::operation_t::file);
      bridge->post([h = std::move(h), p = std::move(p), error]() mutable { h(error, std::move(p)); });
    };
    bridge_->enqueue(std::move(job));
  }

  void async_clear_piece(lt::storage_index_t storage, lt::piece_index_t piece,
                         std::function<void(lt::piece_index_t)> handler) override {
    auto job = barrierJob(storage, JobType::Clear);
    int const index = static_cast<int>(piece);
    if (!job) {
      bridge_->post([h = std::move(handler), piece] { h(piece); });
      return;
    }
    bridge_->cache.erase(PieceCache::key(static_cast<int>(storage), index));
    job->piece = index;
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler), piece](JobOutcome&&) mutable {
      bridge->post([h = std::move(h), piece] { h(piece); });
    };
    bridge_->enqueue(std::move(job));
  }

  void update_stats_counters(lt::counters&) const override {}

  std::vector<lt::open_file_state> get_status(lt::storage_index_t) const override { return {}; }

  void abort(bool) override {
    if (aborted_) return;
    aborted_ = true;
    bridge_->failAll();
    bridge_->pool.stop();
    workGuard_.reset();
  }

  void submit_jobs() override {}

  void settings_updated() override {
    int const queued = settings_.get_int(lt::settings_pack::max_queued_disk_bytes);
    bridge_->setWatermark(std::max(queued, 4 << 20));
  }

 private:
  struct Slot {
    std::shared_ptr<StorageInfo const> info;
    lt::file_storage const* files;  // valid until remove_torrent; network thread only
  };

  Slot const* find(lt::storage_index_t storage) const {
    auto it = storages_.find(static_cast<int>(storage));
    return it == storages_.end() ? nullptr : &it->second;
  }

  static int firstFile(Slot const& slot, int piece, int offset) {
    std::int64_t const position = static_cast<std::int64_t>(piece) * slot.info->pieceLength + offset;
    if (position >= slot.info->totalSize) return -1;
    return static_cast<int>(slot.files->file_index_at_offset(position));
  }

  static lt::storage_error notFound(lt::operation_t operation) {
    return lt::storage_error(lt::errors::make_error_code(lt::errors::invalid_piece_index), operation);
  }

  // Pad files read as zeros and are never downloaded: their blocks count as present.
  void markPadBlocks(Slot const& slot, int piece, PieceBuffer& buffer) const {
    std::int64_t const pieceStart = static_cast<std::int64_t>(piece) * slot.info->pieceLength;
    std::int64_t const pieceEnd = pieceStart + buffer.size();
    std::vector<int> padBytes(buffer.have.size(), 0);
    bool any = false;
    for (auto const& file : slot.info->files) {
      if (!file.pad || file.length == 0) continue;
      std::int64_t const start = std::max(pieceStart, file.offset);
      std::int64_t const end = std::min(pieceEnd, file.offset + file.length);
      if (start < end) {
        std::memset(buffer.data.data() + (start - pieceStart), 0, static_cast<std::size_t>(end - start));
      }
      for (std::int64_t position = start; position < end;) {
        int const offset = static_cast<int>(position - pieceStart);
        int const block = offset / kBlockSize;
        std::int64_t const blockEnd = std::min<std::int64_t>(end, pieceStart + static_cast<std::int64_t>(block + 1) * kBlockSize);
        padBytes[static_cast<std::size_t>(block)] += static_cast<int>(blockEnd - position);
        position = blockEnd;
        any = true;
      }
    }
    if (!any) return;
    for (std::size_t block = 0; block < padBytes.size(); ++block) {
      int const blockLength = std::min(kBlockSize, buffer.size() - static_cast<int>(block) * kBlockSize);
      if (padBytes[block] >= blockLength && !buffer.have[block]) {
        buffer.have[block] = 1;
        --buffer.missing;
      }
    }
  }

  void storePiece(Slot const& slot, int piece, std::uint64_t key, PieceBufferPtr const& buffer,
                  std::function<void(lt::storage_error const&)> handler) {
    buffer->state = PieceBuffer::State::Storing;
    buffer->store = std::make_shared<StoreState>();
    int const bytes = buffer->size();
    bridge_->addStoring(bytes, nullptr);
    int const defaultFile = firstFile(slot, piece, 0);
    auto bridge = bridge_;
    auto write = std::make_unique<Job>();
    write->type = JobType::Write;
    write->storage = slot.info;
    write->piece = piece;
    write->length = bytes;
    write->payload = buffer;
    write->finish = [bridge, buffer, key, bytes, defaultFile, h = std::move(handler)](JobOutcome&& outcome) mutable {
      lt::storage_error const error = storageError(outcome, defaultFile, lt::operation_t::file_write);
      if (error) bridge->cache.erase(key);
      else bridge->cache.markClean(key, buffer.get());
      bridge->post([h = std::move(h), error] { h(error); });
      bridge->releaseStoring(bytes);
      buffer->store->finish();
    };
    bridge_->enqueue(std::move(write));
  }

  std::unique_ptr<Job> barrierJob(lt::storage_index_t storage, JobType type) {
    Slot const* slot = find(storage);
    if (!slot) return nullptr;
    auto job = std::make_unique<Job>();
    job->type = type;
    job->storage = slot->info;
    return job;
  }

  void simpleBarrier(lt::storage_index_t storage, JobType type, std::function<void()> handler) {
    auto job = barrierJob(storage, type);
    if (!job) {
      if (handler) bridge_->post(std::move(handler));
      return;
    }
    auto bridge = bridge_;
    job->finish = [bridge, h = std::move(handler)](JobOutcome&&) mutable {
      if (h) bridge->post(std::move(h));
    };
    bridge_->enqueue(std::move(job));
  }

  void postRead(std::function<void(lt::disk_buffer_holder, lt::storage_error const&)> handler, char const* data, int length,
                lt::storage_error const& error) {
    postRead(bridge_, std::move(handler), data, length, error);
  }

  static void postRead(std::shared_ptr<Bridge> const& bridge,
                       std::function<void(lt::disk_buffer_holder, lt::storage_error const&)> handler, char const* data,
                       int length, lt::storage_error error) {
    char* copy = nullptr;
    if (!error && data && length > 0) {
      copy = static_cast<char*>(std::malloc(static_cast<std::size_t>(length)));
      if (!copy) {
        error = lt::storage_error(lt::errors::make_error_code(lt::errors::no_memory), lt::operation_t::alloc_cache_piece);
      } else {
        std::memcpy(copy, data, static_cast<std::size_t>(length));
      }
    }
    bridge->post([h = std::move(handler), copy, length, error]() mutable {
      h(copy ? lt::disk_buffer_holder(mallocAllocator, copy, length) : lt::disk_buffer_holder(), error);
    });
  }

  lt::settings_interface const& settings_;
  std::shared_ptr<Bridge> bridge_;
  boost::asio::executor_work_guard<lt::io_context::executor_type> workGuard_;
  std::map<int, Slot> storages_;
  int nextStorage_ = 0;
  bool aborted_ = false;
};

}  // namespace

std::unique_ptr<lt::disk_interface> makeJsDiskIo(lt::io_context& ioc, lt::settings_interface const& settings,
                                                 std::function<void(std::shared_ptr<Bridge> const&)> const& onBridge) {
  auto disk = std::make_unique<JsDiskIo>(ioc, settings);
  onBridge(disk->bridge());
  return disk;
}

}  // namespace ct
