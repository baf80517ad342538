// See session_wrap.h.
#include "session_wrap.h"

#include "alerts.h"
#include "session_params_wrap.h"
#include "torrent_tools.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/peer_info.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/torrent_status.hpp>

#include <boost/asio/ip/address.hpp>

#include <condition_variable>
#include <thread>

namespace ct {

struct SessionWrap::CloseState {
  std::mutex mutex;
  std::condition_variable done;
  bool joined = false;
  std::unique_ptr<lt::session_proxy> proxy;
};

// ---- waking JavaScript ---------------------------------------------------------------------

void SessionState::wake() {
  if (wakePending.exchange(true)) return;
  std::lock_guard<std::mutex> lock(tsfnMutex);
  if (!tsfnAlive) return;
  auto self = shared_from_this();
  napi_status const status = tsfn.NonBlockingCall([self](Napi::Env env, Napi::Function) {
    self->wakePending = false;
    if (!self->owner) return;
    try {
      self->owner->drain(env);
    } catch (Napi::Error const&) {
      // Only while the environment is going away; the session is being shut down with it.
    }
  });
  if (status != napi_ok) wakePending = false;
}

// ---- construction --------------------------------------------------------------------------

Napi::Function SessionWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeSession",
                     {
                         InstanceMethod<&SessionWrap::AddTorrent>("addTorrent"),
                         InstanceMethod<&SessionWrap::RemoveTorrent>("removeTorrent"),
                         InstanceMethod<&SessionWrap::PauseTorrent>("pauseTorrent"),
                         InstanceMethod<&SessionWrap::ResumeTorrent>("resumeTorrent"),
                         InstanceMethod<&SessionWrap::ConnectPeer>("connectPeer"),
                         InstanceMethod<&SessionWrap::Status>("status"),
                         InstanceMethod<&SessionWrap::Torrents>("torrents"),
                         InstanceMethod<&SessionWrap::SetFilePriorities>("setFilePriorities"),
                         InstanceMethod<&SessionWrap::FilePriorities>("filePriorities"),
                         InstanceMethod<&SessionWrap::SetPieceDeadline>("setPieceDeadline"),
                         InstanceMethod<&SessionWrap::ResetPieceDeadline>("resetPieceDeadline"),
                         InstanceMethod<&SessionWrap::ClearPieceDeadlines>("clearPieceDeadlines"),
                         InstanceMethod<&SessionWrap::SetTorrentOptions>("setTorrentOptions"),
                         InstanceMethod<&SessionWrap::ForceRecheck>("forceRecheck"),
                         InstanceMethod<&SessionWrap::SaveResumeData>("saveResumeData"),
                         InstanceMethod<&SessionWrap::TorrentFile>("torrentFile"),
                         InstanceMethod<&SessionWrap::TorrentInfo>("torrentInfo"),
                         InstanceMethod<&SessionWrap::Peers>("peers"),
                         InstanceMethod<&SessionWrap::ApplySettings>("applySettings"),
                         InstanceMethod<&SessionWrap::GetSetting>("getSetting"),
                         InstanceMethod<&SessionWrap::ListenPort>("listenPort"),
                         InstanceMethod<&SessionWrap::CompleteJob>("completeJob"),
                         InstanceMethod<&SessionWrap::BridgeStatistics>("bridgeStats"),
                         InstanceMethod<&SessionWrap::Ref>("ref"),
                         InstanceMethod<&SessionWrap::Unref>("unref"),
                         InstanceMethod<&SessionWrap::Close>("close"),
                         InstanceMethod<&SessionWrap::IsClosed>("isClosed"),
                     });
}

// new NativeSession(params: NativeSessionParams, sink: object, options: { jsDisk, readCacheBytes })
SessionWrap::SessionWrap(Napi::CallbackInfo const& info) : Napi::ObjectWrap<SessionWrap>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsObject()) {
    throw typeError(env, "ERR_INVALID_ARG_TYPE", "NativeSession(params, sink, options)");
  }
  auto* params = Napi::ObjectWrap<SessionParamsWrap>::Unwrap(info[0].As<Napi::Object>());
  if (!params) throw typeError(env, "ERR_INVALID_ARG_TYPE", "params must be a SessionParams");
  sink_ = Napi::Persistent(info[1].As<Napi::Object>());
  Napi::Object options = info[2].As<Napi::Object>();
  bool const jsDisk = options.Get("jsDisk").ToBoolean();
  std::int64_t const readCacheBytes =
      options.Get("readCacheBytes").IsNumber() ? options.Get("readCacheBytes").As<Napi::Number>().Int64Value() : kDefaultReadCacheBytes;

  state_ = std::make_shared<SessionState>();
  state_->owner = this;
  state_->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](Napi::CallbackInfo const&) {}),
                                               "chunktorrent:session", 0, 1);
  state_->tsfnAlive = true;

  lt::session_params sessionParams(params->pack());
  if (jsDisk) {
    std::weak_ptr<SessionState> weak = state_;
    sessionParams.disk_io_constructor = [weak, readCacheBytes](lt::io_context& ioc, lt::settings_interface const& settings,
                                                               lt::counters&) {
      return makeJsDiskIo(ioc, settings, [weak, readCacheBytes](std::shared_ptr<Bridge> const& bridge) {
        bridge->cache.setLimit(readCacheBytes);
        bridge->wake = [weak] {
          if (auto state = weak.lock()) state->wake();
        };
        if (auto state = weak.lock()) state->bridge = bridge;
      });
    };
  }
  try {
    session_ = std::make_unique<lt::session>(std::move(sessionParams));
  } catch (std::exception const& error) {
    releaseTsfn();
    throw torrentError(env, "ERR_SESSION_START", std::string("Could not start the libtorrent session: ") + error.what());
  }
  std::weak_ptr<SessionState> weak = state_;
  session_->set_alert_notify([weak] {
    if (auto state = weak.lock()) state->wake();
  });
  napi_add_env_cleanup_hook(env, &SessionWrap::CleanupHook, this);
  hookInstalled_ = true;
}

SessionWrap::~SessionWrap() {
  shutdownSync();
  if (hookInstalled_) {
    napi_remove_env_cleanup_hook(env_, &SessionWrap::CleanupHook, this);
    hookInstalled_ = false;
  }
}

void SessionWrap::CleanupHook(void* self) {
  auto* wrap = static_cast<SessionWrap*>(self);
  wrap->hookInstalled_ = false;
  wrap->shutdownSync();
}

void SessionWrap::releaseTsfn() {
  std::lock_guard<std::mutex> lock(state_->tsfnMutex);
  state_->owner = nullptr;
  if (!state_->tsfnAlive) return;
  state_->tsfnAlive = false;
  state_->tsfn.Abort();
}

// Process exit, worker teardown or garbage collection: the same order as close(), synchronously.
void SessionWrap::shutdownSync() {
  if (!closed_) {
    closed_ = true;
    if (state_->bridge) state_->bridge->failAll();
    if (session_) {
      lt::session_proxy proxy = session_->abort();
      session_.reset();
      // ~session_proxy joins the session thread here.
    }
  } else if (closing_) {
    std::unique_lock<std::mutex> lock(closing_->mutex);
    closing_->done.wait(lock, [this] { return closing_->joined; });
  }
  releaseTsfn();
}

// ---- helpers -------------------------------------------------------------------------------

void SessionWrap::ensureOpen(Napi::Env env) const {
  if (closed_) throw torrentError(env, "ERR_SESSION_CLOSED", "The session is closed");
}

lt::torrent_handle SessionWrap::handleFor(Napi::Env env, Napi::Value key) const {
  ensureOpen(env);
  if (!key.IsString()) throw typeError(env, "ERR_INVALID_ARG_TYPE", "infoHash must be a string");
  std::string const hex = key.As<Napi::String>();
  auto it = torrents_.find(hex);
  if (it == torrents_.end() || !it->second.is_valid()) {
    throw torrentError(env, "ERR_TORRENT_NOT_FOUND", "No torrent " + hex + " in this session");
  }
  return it->second;
}

void SessionWrap::remember(lt::torrent_handle const& handle, std::string const& key) {
  torrents_[key] = handle;
  keys_[handle] = key;
  lt::info_hash_t const hashes = handle.info_hashes();
  bestToKey_[toHex(hashes.get_best())] = key;
  if (hashes.has_v1()) bestToKey_[toHex(hashes.v1)] = key;
}

std::string SessionWrap::keyOf(lt::torrent_handle const& handle) {
  auto it = keys_.find(handle);
  if (it != keys_.end()) return it->second;
  if (!handle.is_valid()) return {};
  try {
    return canonicalInfoHash(handle.info_hashes());
  } catch (...) {
    return {};
  }
}

template <typename Fn>
static auto guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (lt::system_error const& error) {
    lt::error_code const ec = error.code();
    throw torrentError(env, "ERR_TORRENT_NOT_FOUND", error.what(), &ec);
  }
}

static int intArg(Napi::Env env, Napi::Value value, char const* name) {
  if (!value.IsNumber()) throw typeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

// ---- torrents ------------------------------------------------------------------------------

// addTorrent({ torrent?, magnet?, infoHash?, resumeData?, savePath, name?, trackers?, peers?,
//   paused?, seedMode?, sequential?, havePieces?, filePriorities?, uploadLimit?, downloadLimit?,
//   maxConnections?, maxUploads? }) → { infoHash, infoHashV1?, infoHashV2? }
Napi::Value SessionWrap::AddTorrent(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (info.Length() < 1 || !info[0].IsObject()) throw typeError(env, "ERR_INVALID_ARG_TYPE", "addTorrent expects options");
  Napi::Object options = info[0].As<Napi::Object>();
  lt::add_torrent_params params;
  lt::error_code ec;

  if (options.Has("resumeData") && !options.Get("resumeData").IsUndefined()) {
    std::string const bytes = bytesOf(options.Get("resumeData"));
    params = lt::read_resume_data(lt::span<char const>(bytes.data(), static_cast<std::ptrdiff_t>(bytes.size())), ec);
    if (ec) throw torrentError(env, "ERR_INVALID_RESUME_DATA", "Invalid resume data: " + ec.message(), &ec);
  }
  if (options.Get("torrent").IsBuffer() || options.Get("torrent").IsTypedArray()) {
    std::string const bytes = bytesOf(options.Get("torrent"));
    auto torrent = std::make_shared<lt::torrent_info>(
        lt::span<char const>(bytes.data(), static_cast<std::ptrdiff_t>(bytes.size())), ec, lt::from_span);
    if (ec) throw torrentError(env, "ERR_INVALID_TORRENT", "Invalid torrent file: " + ec.message(), &ec);
    params.ti = std::move(torrent);
    params.info_hashes = params.ti->info_hashes();
  } else if (options.Get("magnet").IsString()) {
    std::string const uri = options.Get("magnet").As<Napi::String>();
    lt::parse_magnet_uri(uri, params, ec);
    if (ec) throw torrentError(env, "ERR_INVALID_MAGNET", "Invalid magnet link: " + ec.message(), &ec);
  } else if (options.Get("infoHash").IsString()) {
    if (!parseInfoHash(options.Get("infoHash").As<Napi::String>(), params.info_hashes)) {
      throw typeError(env, "ERR_INVALID_INFO_HASH", "infoHash must be 40 or 64 hex digits");
    }
  } else if (!params.ti && params.info_hashes.get_best().is_all_zeros()) {
    throw typeError(env, "ERR_INVALID_ARG_TYPE", "addTorrent needs torrent bytes, a magnet link or an info hash");
  }

  if (options.Get("savePath").IsString()) params.save_path = options.Get("savePath").As<Napi::String>();
  if (options.Get("name").IsString()) params.name = options.Get("name").As<Napi::String>();
  if (options.Get("trackers").IsArray()) {
    Napi::Array trackers = options.Get("trackers").As<Napi::Array>();
    for (uint32_t i = 0; i < trackers.Length(); ++i) params.trackers.push_back(trackers.Get(i).ToString());
  }
  if (options.Get("peers").IsArray()) {
    Napi::Array peers = options.Get("peers").As<Napi::Array>();
    for (uint32_t i = 0; i < peers.Length(); ++i) {
      Napi::Object peer = peers.Get(i).As<Napi::Object>();
      std::string const host = peer.Get("host").ToString();
      int const port = peer.Get("port").ToNumber().Int32Value();
      boost::system::error_code addressError;
      auto const address = boost::asio::ip::make_address(host, addressError);
      if (addressError || port <= 0 || port > 65535) {
        throw typeError(env, "ERR_INVALID_PEER", "Invalid peer address " + host + ":" + std::to_string(port));
      }
      params.peers.emplace_back(address, static_cast<std::uint16_t>(port));
    }
  }
  params.flags &= ~lt::torrent_flags::auto_managed;
  params.flags &= ~lt::torrent_flags::paused;
  params.flags |= lt::torrent_flags::duplicate_is_error;
  if (options.Get("paused").ToBoolean()) params.flags |= lt::torrent_flags::paused;
  if (options.Get("seedMode").ToBoolean()) params.flags |= lt::torrent_flags::seed_mode;
  if (options.Get("sequential").ToBoolean()) params.flags |= lt::torrent_flags::sequential_download;
  if (options.Get("uploadMode").ToBoolean()) params.flags |= lt::torrent_flags::upload_mode;
  // Files not covered by filePriorities start at priority 0 (for a magnet whose files are chosen
  // once its metadata is here: nothing is requested before that).
  if (options.Get("deselected").ToBoolean()) params.flags |= lt::torrent_flags::default_dont_download;

  if (options.Get("havePieces").IsArray()) {
    if (!params.ti) throw typeError(env, "ERR_INVALID_ARG_VALUE", "havePieces needs the torrent's metadata");
    int const count = params.ti->num_pieces();
    params.have_pieces.resize(count, false);
    Napi::Array pieces = options.Get("havePieces").As<Napi::Array>();
    for (uint32_t i = 0; i < pieces.Length(); ++i) {
      int const piece = pieces.Get(i).ToNumber().Int32Value();
      if (piece < 0 || piece >= count) throw rangeError(env, "ERR_OUT_OF_RANGE", "havePieces has an index out of range");
      params.have_pieces.set_bit(lt::piece_index_t(piece));
    }
  }
  if (options.Get("filePriorities").IsArray()) {
    Napi::Array priorities = options.Get("filePriorities").As<Napi::Array>();
    for (uint32_t i = 0; i < priorities.Length(); ++i) {
      params.file_priorities.push_back(lt::download_priority_t(static_cast<std::uint8_t>(priorities.Get(i).ToNumber().Int32Value())));
    }
  }
  if (options.Get("uploadLimit").IsNumber()) params.upload_limit = options.Get("uploadLimit").ToNumber().Int32Value();
  if (options.Get("downloadLimit").IsNumber()) params.download_limit = options.Get("downloadLimit").ToNumber().Int32Value();
  if (options.Get("maxConnections").IsNumber()) params.max_connections = options.Get("maxConnections").ToNumber().Int32Value();
  if (options.Get("maxUploads").IsNumber()) params.max_uploads = options.Get("maxUploads").ToNumber().Int32Value();

  lt::torrent_handle handle = session_->add_torrent(std::move(params), ec);
  if (ec) {
    if (ec == lt::errors::duplicate_torrent) {
      throw torrentError(env, "ERR_DUPLICATE_TORRENT", "The torrent is already in this session", &ec);
    }
    throw torrentError(env, "ERR_ADD_TORRENT", "Could not add the torrent: " + ec.message(), &ec);
  }
  lt::info_hash_t const hashes = handle.info_hashes();
  std::string const key = canonicalInfoHash(hashes);
  remember(handle, key);
  Napi::Object out = Napi::Object::New(env);
  out.Set("infoHash", key);
  if (hashes.has_v1()) out.Set("infoHashV1", toHex(hashes.v1));
  if (hashes.has_v2()) out.Set("infoHashV2", toHex(hashes.v2));
  return out;
}

Napi::Value SessionWrap::RemoveTorrent(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  bool const deleteData = info.Length() > 1 && info[1].ToBoolean();
  session_->remove_torrent(handle, deleteData ? lt::session_handle::delete_files : lt::remove_flags_t{});
  torrents_.erase(info[0].As<Napi::String>());
  return env.Undefined();
}

Napi::Value SessionWrap::PauseTorrent(Napi::CallbackInfo const& info) {
  lt::torrent_handle handle = handleFor(info.Env(), info[0]);
  guarded(info.Env(), [&] {
    handle.unset_flags(lt::torrent_flags::auto_managed);
    handle.pause(info.Length() > 1 && info[1].ToBoolean() ? lt::torrent_handle::graceful_pause : lt::pause_flags_t{});
  });
  return info.Env().Undefined();
}

Napi::Value SessionWrap::ResumeTorrent(Napi::CallbackInfo const& info) {
  lt::torrent_handle handle = handleFor(info.Env(), info[0]);
  guarded(info.Env(), [&] {
    handle.clear_error();
    handle.unset_flags(lt::torrent_flags::upload_mode);
    handle.resume();
  });
  return info.Env().Undefined();
}

Napi::Value SessionWrap::ConnectPeer(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  std::string const host = info[1].ToString();
  int const port = intArg(env, info[2], "port");
  boost::system::error_code addressError;
  auto const address = boost::asio::ip::make_address(host, addressError);
  if (addressError || port <= 0 || port > 65535) {
    throw typeError(env, "ERR_INVALID_PEER", "Invalid peer address " + host + ":" + std::to_string(port));
  }
  guarded(env, [&] { handle.connect_peer(lt::tcp::endpoint(address, static_cast<std::uint16_t>(port))); });
  return env.Undefined();
}

static Napi::Number number(Napi::Env env, std::int64_t value) { return Napi::Number::New(env, static_cast<double>(value)); }

// status(infoHash, withPieces) → a plain object; `pieces` (one byte per piece, 1 = have) only
// when asked for, since it grows with the torrent.
Napi::Value SessionWrap::Status(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  bool const withPieces = info.Length() > 1 && info[1].ToBoolean();
  lt::torrent_status const st = guarded(env, [&] {
    return handle.status(withPieces ? lt::torrent_handle::query_pieces : lt::status_flags_t{});
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("infoHash", info[0]);
  out.Set("name", st.name);
  out.Set("state", stateName(st.state));
  out.Set("progress", st.progress);
  out.Set("paused", bool(st.flags & lt::torrent_flags::paused));
  out.Set("seeding", st.is_seeding);
  out.Set("finished", st.is_finished);
  out.Set("hasMetadata", st.has_metadata);
  out.Set("sequential", bool(st.flags & lt::torrent_flags::sequential_download));
  out.Set("uploadMode", bool(st.flags & lt::torrent_flags::upload_mode));
  out.Set("totalDone", number(env, st.total_done));
  out.Set("totalWanted", number(env, st.total_wanted));
  out.Set("totalWantedDone", number(env, st.total_wanted_done));
  out.Set("totalDownload", number(env, st.total_payload_download));
  out.Set("totalUpload", number(env, st.total_payload_upload));
  out.Set("allTimeDownload", number(env, st.all_time_download));
  out.Set("allTimeUpload", number(env, st.all_time_upload));
  out.Set("downloadRate", st.download_payload_rate);
  out.Set("uploadRate", st.upload_payload_rate);
  out.Set("numPeers", st.num_peers);
  out.Set("numSeeds", st.num_seeds);
  out.Set("numPieces", st.num_pieces);
  out.Set("savePath", st.save_path);
  if (st.errc) {
    out.Set("error", errorCodeToJs(env, st.errc));
    out.Set("errorFile", static_cast<int>(st.error_file));
  }
  if (withPieces) {
    Napi::Buffer<std::uint8_t> pieces = Napi::Buffer<std::uint8_t>::New(env, static_cast<size_t>(st.pieces.size()));
    for (int i = 0; i < st.pieces.size(); ++i) pieces[static_cast<size_t>(i)] = st.pieces.get_bit(lt::piece_index_t(i)) ? 1 : 0;
    out.Set("pieces", pieces);
  }
  return out;
}

Napi::Value SessionWrap::Torrents(Napi::CallbackInfo const& info) {
  ensureOpen(info.Env());
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (auto const& entry : torrents_) out.Set(i++, entry.first);
  return out;
}

Napi::Value SessionWrap::SetFilePriorities(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  if (!info[1].IsArray()) throw typeError(env, "ERR_INVALID_ARG_TYPE", "priorities must be an array");
  Napi::Array array = info[1].As<Napi::Array>();
  std::vector<lt::download_priority_t> priorities;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    int const value = array.Get(i).ToNumber().Int32Value();
    if (value < 0 || value > 7) throw rangeError(env, "ERR_OUT_OF_RANGE", "file priorities go from 0 to 7");
    priorities.push_back(lt::download_priority_t(static_cast<std::uint8_t>(value)));
  }
  guarded(env, [&] { handle.prioritize_files(priorities); });
  return env.Undefined();
}

Napi::Value SessionWrap::FilePriorities(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  auto const priorities = guarded(env, [&] { return handle.get_file_priorities(); });
  Napi::Array out = Napi::Array::New(env, priorities.size());
  for (uint32_t i = 0; i < priorities.size(); ++i) out.Set(i, static_cast<int>(static_cast<std::uint8_t>(priorities[i])));
  return out;
}

Napi::Value SessionWrap::SetPieceDeadline(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  int const piece = intArg(env, info[1], "piece");
  int const deadline = intArg(env, info[2], "deadline");
  guarded(env, [&] { handle.set_piece_deadline(lt::piece_index_t(piece), deadline); });
  return env.Undefined();
}

Napi::Value SessionWrap::ResetPieceDeadline(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  int const piece = intArg(env, info[1], "piece");
  guarded(env, [&] { handle.reset_piece_deadline(lt::piece_index_t(piece)); });
  return env.Undefined();
}

Napi::Value SessionWrap::ClearPieceDeadlines(Napi::CallbackInfo const& info) {
  lt::torrent_handle handle = handleFor(info.Env(), info[0]);
  guarded(info.Env(), [&] { handle.clear_piece_deadlines(); });
  return info.Env().Undefined();
}

// setTorrentOptions(infoHash, { sequential?, uploadLimit?, downloadLimit?, maxConnections?, maxUploads? })
Napi::Value SessionWrap::SetTorrentOptions(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  Napi::Object options = info[1].As<Napi::Object>();
  guarded(env, [&] {
    Napi::Value sequential = options.Get("sequential");
    if (sequential.IsBoolean()) {
      if (sequential.As<Napi::Boolean>()) handle.set_flags(lt::torrent_flags::sequential_download);
      else handle.unset_flags(lt::torrent_flags::sequential_download);
    }
    if (options.Get("uploadLimit").IsNumber()) handle.set_upload_limit(options.Get("uploadLimit").ToNumber().Int32Value());
    if (options.Get("downloadLimit").IsNumber()) handle.set_download_limit(options.Get("downloadLimit").ToNumber().Int32Value());
    if (options.Get("maxConnections").IsNumber()) handle.set_max_connections(options.Get("maxConnections").ToNumber().Int32Value());
    if (options.Get("maxUploads").IsNumber()) handle.set_max_uploads(options.Get("maxUploads").ToNumber().Int32Value());
  });
  return env.Undefined();
}

Napi::Value SessionWrap::ForceRecheck(Napi::CallbackInfo const& info) {
  lt::torrent_handle handle = handleFor(info.Env(), info[0]);
  guarded(info.Env(), [&] { handle.force_recheck(); });
  return info.Env().Undefined();
}

Napi::Value SessionWrap::SaveResumeData(Napi::CallbackInfo const& info) {
  lt::torrent_handle handle = handleFor(info.Env(), info[0]);
  guarded(info.Env(), [&] { handle.save_resume_data(lt::torrent_handle::save_info_dict); });
  return info.Env().Undefined();
}

Napi::Value SessionWrap::TorrentFile(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  auto const torrent = guarded(env, [&] { return handle.torrent_file(); });
  if (!torrent) return env.Undefined();
  lt::create_torrent creator(*torrent);
  std::vector<char> bytes;
  lt::bencode(std::back_inserter(bytes), creator.generate());
  return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
}

Napi::Value SessionWrap::TorrentInfo(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  auto const torrent = guarded(env, [&] { return handle.torrent_file(); });
  if (!torrent) return env.Undefined();
  return torrentInfoToJs(env, *torrent);
}

Napi::Value SessionWrap::Peers(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  lt::torrent_handle handle = handleFor(env, info[0]);
  std::vector<lt::peer_info> peers;
  guarded(env, [&] { handle.get_peer_info(peers); });
  Napi::Array out = Napi::Array::New(env, peers.size());
  for (uint32_t i = 0; i < peers.size(); ++i) {
    auto const& peer = peers[i];
    Napi::Object entry = Napi::Object::New(env);
    std::string const address = peer.ip.address().to_string();
    entry.Set("address", (peer.ip.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(peer.ip.port()));
    entry.Set("client", peer.client);
    entry.Set("seed", bool(peer.flags & lt::peer_info::seed));
    entry.Set("progress", peer.progress);
    entry.Set("downloadRate", peer.payload_down_speed);
    entry.Set("uploadRate", peer.payload_up_speed);
    entry.Set("totalDownload", number(env, peer.total_download));
    entry.Set("totalUpload", number(env, peer.total_upload));
    out.Set(i, entry);
  }
  return out;
}

// ---- session -------------------------------------------------------------------------------

Napi::Value SessionWrap::ApplySettings(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (info.Length() < 1 || !info[0].IsObject()) throw typeError(env, "ERR_INVALID_ARG_TYPE", "applySettings expects an object");
  lt::settings_pack pack;
  applySettings(env, info[0].As<Napi::Object>(), pack);
  session_->apply_settings(std::move(pack));
  return env.Undefined();
}

Napi::Value SessionWrap::GetSetting(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  std::string const key = info[0].ToString();
  int const name = lt::setting_by_name(key);
  if (name < 0) throw rangeError(env, "ERR_UNKNOWN_SETTING", "Unknown libtorrent setting \"" + key + "\"");
  return settingValue(env, session_->get_settings(), name);
}

Napi::Value SessionWrap::ListenPort(Napi::CallbackInfo const& info) {
  ensureOpen(info.Env());
  return Napi::Number::New(info.Env(), session_->listen_port());
}

// completeJob(id, errno, fileIndex, result, status): errno 0 = success; result is the bytes of
// a read (null: the storage holds no such piece) or the new path of a move; status 2 asks
// libtorrent for a full check.
Napi::Value SessionWrap::CompleteJob(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  if (!state_->bridge) throw torrentError(env, "ERR_NO_JS_DISK", "This session does not use a JavaScript disk backend");
  std::uint32_t const id = info[0].ToNumber().Uint32Value();
  JobOutcome outcome;
  int const errorNumber = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (errorNumber != 0) outcome.ec = lt::error_code(errorNumber, boost::system::generic_category());
  outcome.fileIndex = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
  Napi::Value result = info[3];
  if (result.IsBuffer() || result.IsTypedArray()) {
    Napi::Uint8Array bytes = result.As<Napi::Uint8Array>();
    auto piece = std::make_shared<PieceBuffer>(static_cast<int>(bytes.ByteLength()));
    std::memcpy(piece->data.data(), bytes.Data(), bytes.ByteLength());
    std::fill(piece->have.begin(), piece->have.end(), 1);
    piece->missing = 0;
    piece->state = PieceBuffer::State::Clean;
    outcome.piece = std::move(piece);
  } else if (result.IsNull()) {
    outcome.missing = true;
  } else if (result.IsString()) {
    outcome.text = result.As<Napi::String>();
  }
  if (info[4].IsNumber() && info[4].As<Napi::Number>().Int32Value() == 2) outcome.status = lt::status_t::need_full_check;
  state_->bridge->complete(id, std::move(outcome));
  return env.Undefined();
}

Napi::Value SessionWrap::BridgeStatistics(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if (!state_->bridge) return out;
  BridgeStats const stats = state_->bridge->stats();
  out.Set("jobsToJs", number(env, static_cast<std::int64_t>(stats.jobsToJs)));
  out.Set("batches", number(env, static_cast<std::int64_t>(stats.batches)));
  out.Set("piecesWritten", number(env, static_cast<std::int64_t>(stats.piecesWritten)));
  out.Set("readsFromCache", number(env, static_cast<std::int64_t>(stats.readsFromCache)));
  out.Set("pieceFetches", number(env, static_cast<std::int64_t>(stats.pieceFetches)));
  out.Set("queueFull", number(env, static_cast<std::int64_t>(stats.queueFull)));
  out.Set("hashes", number(env, static_cast<std::int64_t>(stats.hashes)));
  out.Set("pendingJobs", number(env, static_cast<std::int64_t>(state_->bridge->pendingJobs())));
  out.Set("storingBytes", number(env, state_->bridge->storingBytes()));
  out.Set("cacheBytes", number(env, state_->bridge->cache.bytes()));
  out.Set("pieceMemoryFreeBytes", number(env, static_cast<std::int64_t>(PieceMemory::residentFreeBytes())));
  return out;
}

void SessionWrap::setReferenced(Napi::Env env, bool referenced) {
  if (referenced == referenced_) return;
  referenced_ = referenced;
  if (referenced) sink_.Ref();
  else sink_.Unref();
  std::lock_guard<std::mutex> lock(state_->tsfnMutex);
  if (!state_->tsfnAlive) return;
  if (referenced) state_->tsfn.Ref(env);
  else state_->tsfn.Unref(env);
}

Napi::Value SessionWrap::Ref(Napi::CallbackInfo const& info) {
  if (!closed_) setReferenced(info.Env(), true);
  return info.Env().Undefined();
}

Napi::Value SessionWrap::Unref(Napi::CallbackInfo const& info) {
  if (!closed_) setReferenced(info.Env(), false);
  return info.Env().Undefined();
}

Napi::Value SessionWrap::IsClosed(Napi::CallbackInfo const& info) { return Napi::Boolean::New(info.Env(), closed_); }

namespace {

class CloseWorker final : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, Napi::Object owner, std::function<void()> afterJoin, std::function<void()> join)
      : Napi::AsyncWorker(env, "chunktorrent:close"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(Napi::Persistent(owner)),
        afterJoin_(std::move(afterJoin)),
        join_(std::move(join)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { join_(); }
  void OnOK() override {
    afterJoin_();
    deferred_.Resolve(Env().Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;  // keeps the session object alive until closed
  std::function<void()> afterJoin_;
  std::function<void()> join_;
};

}  // namespace

// close(): fail outstanding disk jobs, abort the session, join its thread off the main thread,
// then release the thread-safe function. Resolves when all of that is done.
Napi::Value SessionWrap::Close(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  if (closed_) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  setReferenced(env, false);
  closed_ = true;
  if (state_->bridge) state_->bridge->failAll();
  closing_ = std::make_shared<CloseState>();
  closing_->proxy = std::make_unique<lt::session_proxy>(session_->abort());
  session_.reset();
  auto closing = closing_;
  auto* worker = new CloseWorker(
      env, Value(), [this] { releaseTsfn(); },
      [closing] {
        closing->proxy.reset();  // joins the session thread
        std::lock_guard<std::mutex> lock(closing->mutex);
        closing->joined = true;
        closing->done.notify_all();
      });
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// ---- draining on the JavaScript thread -----------------------------------------------------

static Napi::Object storageInfoToJs(Napi::Env env, StorageInfo const& storage, std::string const& infoHash) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("index", storage.index);
  out.Set("infoHash", infoHash);
  out.Set("name", storage.name);
  out.Set("savePath", storage.savePath);
  out.Set("pieceLength", storage.pieceLength);
  out.Set("totalSize", number(env, storage.totalSize));
  out.Set("pieceCount", storage.numPieces);
  Napi::Array files = Napi::Array::New(env, storage.files.size());
  for (uint32_t i = 0; i < storage.files.size(); ++i) {
    auto const& file = storage.files[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", i);
    entry.Set("path", file.path);
    entry.Set("length", number(env, file.length));
    entry.Set("offset", number(env, file.offset));
    entry.Set("pad", file.pad);
    files.Set(i, entry);
  }
  out.Set("files", files);
  return out;
}

// Calls sink[method](array) without node-addon-api's exception path: while a worker is being
// terminated, JavaScript cannot run and building an Error object would itself be fatal.
static void callSink(Napi::Env env, Napi::Object sink, char const* method, Napi::Value argument) {
  napi_value function = nullptr;
  if (napi_get_named_property(env, sink, method, &function) != napi_ok) return;
  napi_value result = nullptr;
  napi_value args[] = {argument};
  napi_call_function(env, sink, function, 1, args, &result);
}

void SessionWrap::drain(Napi::Env env) {
  // A worker being terminated (or an environment being torn down) runs no more JavaScript.
  if (closed_ || env.IsExceptionPending()) return;
  Napi::HandleScope scope(env);
  if (sink_.IsEmpty()) return;
  Napi::Value sinkValue = sink_.Value();
  if (!sinkValue.IsObject()) return;
  Napi::Object sink = sinkValue.As<Napi::Object>();
  // A probe that fails (rather than throws) when JavaScript can no longer run here.
  napi_value probe = nullptr;
  if (napi_get_named_property(env, sink, "onAlerts", &probe) != napi_ok) return;

  if (state_->bridge) {
    std::vector<Job*> jobs = state_->bridge->take();
    if (!jobs.empty()) {
      Napi::Array array = Napi::Array::New(env, jobs.size());
      for (uint32_t i = 0; i < jobs.size(); ++i) {
        Job& job = *jobs[i];
        Napi::Object entry = Napi::Object::New(env);
        entry.Set("id", job.id);
        entry.Set("type", jobTypeName(job.type));
        entry.Set("storage", job.storage->index);
        switch (job.type) {
          case JobType::Open: {
            std::string key;
            auto it = bestToKey_.find(toHex(job.storage->bestHash));
            if (it != bestToKey_.end()) key = it->second;
            if (key.empty() && session_) {
              for (auto const& handle : session_->get_torrents()) {
                if (handle.info_hashes().get_best() == job.storage->bestHash) key = keyOf(handle);
              }
            }
            entry.Set("info", storageInfoToJs(env, *job.storage, key.empty() ? toHex(job.storage->bestHash) : key));
            break;
          }
          case JobType::Write: {
            // The Buffer shares the piece's native memory (no copy). It is released when the
            // dispatcher detaches it after the write (or, for a backend that keeps it, when the
            // Buffer is collected); V8 is not told about it, so it does not force collections.
            auto* hold = new PieceBufferPtr(job.payload);
            std::size_t const size = job.payload->data.size();
            entry.Set("piece", job.piece);
            entry.Set("data", Napi::Buffer<char>::NewOrCopy(
                                  env, job.payload->data.data(), size,
                                  [](Napi::Env, char*, PieceBufferPtr* held) { delete held; }, hold));
            break;
          }
          case JobType::Read:
            entry.Set("piece", job.piece);
            entry.Set("offset", job.offset);
            entry.Set("length", job.length);
            break;
          case JobType::Check:
            entry.Set("hasResumeData", job.flags == 1);
            break;
          case JobType::Clear:
            entry.Set("piece", job.piece);
            break;
          case JobType::Delete:
            entry.Set("partfileOnly", job.flags == 1);
            break;
          case JobType::Move:
            entry.Set("path", job.text);
            entry.Set("flags", job.flags);
            break;
          case JobType::Rename:
            entry.Set("fileIndex", job.fileIndex);
            entry.Set("name", job.text);
            break;
          case JobType::Priority: {
            Napi::Array priorities = Napi::Array::New(env, job.priorities.size());
            for (uint32_t p = 0; p < job.priorities.size(); ++p) priorities.Set(p, job.priorities[p]);
            entry.Set("priorities", priorities);
            break;
          }
          default:
            break;
        }
        array.Set(i, entry);
      }
      callSink(env, sink, "onDiskJobs", array);
    }
  }

  if (session_) {
    alertBuffer_.clear();
    session_->pop_alerts(&alertBuffer_);
    if (!alertBuffer_.empty()) {
      Napi::Array array = Napi::Array::New(env, alertBuffer_.size());
      std::vector<lt::torrent_handle> removed;
      for (uint32_t i = 0; i < alertBuffer_.size(); ++i) {
        lt::alert const* alert = alertBuffer_[i];
        array.Set(i, alertToJs(env, alert, [this](lt::torrent_handle const& handle) { return keyOf(handle); }));
        if (alert->type() == lt::torrent_removed_alert::alert_type) {
          removed.push_back(static_cast<lt::torrent_removed_alert const*>(alert)->handle);
        }
      }
      for (auto const& handle : removed) {
        auto it = keys_.find(handle);
        if (it != keys_.end()) {
          if (torrents_.count(it->second) && torrents_[it->second] == handle) torrents_.erase(it->second);
          keys_.erase(it);
        }
      }
      alertBuffer_.clear();
      callSink(env, sink, "onAlerts", array);
    }
  }
}

}  // namespace ct
