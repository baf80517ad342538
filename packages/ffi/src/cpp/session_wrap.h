// Session: one libtorrent session, built from SessionParams, with either libtorrent's own
// file storage or the JavaScript-served disk backend. It wakes JavaScript through one
// thread-safe function (disk job batches and alerts), keeps torrents by canonical infoHash, and
// shuts down without ever waiting on JavaScript: outstanding jobs are failed first, the session
// thread is joined off the main thread, and only then is the thread-safe function released.
#pragma once

#include "common.h"
#include "disk_bridge.h"

#include <libtorrent/session.hpp>
#include <libtorrent/torrent_handle.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace ct {

class SessionWrap;

// What the libtorrent threads may touch: the wake flag and the thread-safe function.
struct SessionState : std::enable_shared_from_this<SessionState> {
  void wake();
  SessionWrap* owner = nullptr;  // JS thread only; cleared at shutdown
  std::atomic<bool> wakePending{false};
  std::atomic<bool> tsfnAlive{false};
  std::mutex tsfnMutex;
  Napi::ThreadSafeFunction tsfn;
  std::shared_ptr<Bridge> bridge;
};

class SessionWrap final : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit SessionWrap(Napi::CallbackInfo const& info);
  ~SessionWrap() override;

  void drain(Napi::Env env);  // JS thread: hands queued jobs and alerts to the sink

 private:
  Napi::Value AddTorrent(Napi::CallbackInfo const& info);
  Napi::Value RemoveTorrent(Napi::CallbackInfo const& info);
  Napi::Value PauseTorrent(Napi::CallbackInfo const& info);
  Napi::Value ResumeTorrent(Napi::CallbackInfo const& info);
  Napi::Value ConnectPeer(Napi::CallbackInfo const& info);
  Napi::Value Status(Napi::CallbackInfo const& info);
  Napi::Value Torrents(Napi::CallbackInfo const& info);
  Napi::Value SetFilePriorities(Napi::CallbackInfo const& info);
  Napi::Value FilePriorities(Napi::CallbackInfo const& info);
  Napi::Value SetPieceDeadline(Napi::CallbackInfo const& info);
  Napi::Value ResetPieceDeadline(Napi::CallbackInfo const& info);
  Napi::Value ClearPieceDeadlines(Napi::CallbackInfo const& info);
  Napi::Value SetTorrentOptions(Napi::CallbackInfo const& info);
  Napi::Value ForceRecheck(Napi::CallbackInfo const& info);
  Napi::Value SaveResumeData(Napi::CallbackInfo const& info);
  Napi::Value TorrentFile(Napi::CallbackInfo const& info);
  Napi::Value TorrentInfo(Napi::CallbackInfo const& info);
  Napi::Value Peers(Napi::CallbackInfo const& info);
  Napi::Value ApplySettings(Napi::CallbackInfo const& info);
  Napi::Value GetSetting(Napi::CallbackInfo const& info);
  Napi::Value ListenPort(Napi::CallbackInfo const& info);
  Napi::Value CompleteJob(Napi::CallbackInfo const& info);
  Napi::Value BridgeStatistics(Napi::CallbackInfo const& info);
  Napi::Value Ref(Napi::CallbackInfo const& info);
  Napi::Value Unref(Napi::CallbackInfo const& info);
  Napi::Value Close(Napi::CallbackInfo const& info);
  Napi::Value IsClosed(Napi::CallbackInfo const& info);

  void ensureOpen(Napi::Env env) const;
  lt::torrent_handle handleFor(Napi::Env env, Napi::Value key) const;
  std::string keyOf(lt::torrent_handle const& handle);
  void remember(lt::torrent_handle const& handle, std::string const& key);
  void shutdownSync();   // cleanup hook, destructor
  void releaseTsfn();
  void setReferenced(Napi::Env env, bool referenced);
  static void CleanupHook(void* self);

  std::shared_ptr<SessionState> state_;
  std::unique_ptr<lt::session> session_;
  // The TypeScript Session object: held strongly while the session is open and ref'd (like a
  // server, it lives and keeps the loop alive without a reference from the program), weakly
  // after unref() or close(), so a dropped, unref'd session is garbage collected.
  Napi::ObjectReference sink_;
  bool referenced_ = true;
  std::unordered_map<std::string, lt::torrent_handle> torrents_;
  std::unordered_map<lt::torrent_handle, std::string> keys_;
  std::unordered_map<std::string, std::string> bestToKey_;  // hex of the storage's best hash → key
  struct CloseState;
  std::shared_ptr<CloseState> closing_;
  bool closed_ = false;
  bool hookInstalled_ = false;
  napi_env env_ = nullptr;
  std::vector<lt::alert*> alertBuffer_;
};

}  // namespace ct
