// parseTorrent, parseMagnet and createTorrent, all through libtorrent itself so the project
// agrees with the engine on every field (info hashes, pad files, piece counts).
#include "torrent_tools.h"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/add_torrent_params.hpp>

#include <boost/asio/ip/tcp.hpp>

namespace ct {

Napi::Object errorCodeToJs(Napi::Env env, lt::error_code const& ec) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("category", ec.category().name());
  out.Set("value", ec.value());
  out.Set("message", ec.message());
  return out;
}

static Napi::Array stringsToJs(Napi::Env env, std::vector<std::string> const& values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); ++i) out.Set(i, values[i]);
  return out;
}

Napi::Object torrentInfoToJs(Napi::Env env, lt::torrent_info const& info) {
  Napi::Object out = Napi::Object::New(env);
  lt::info_hash_t const hashes = info.info_hashes();
  out.Set("infoHash", canonicalInfoHash(hashes));
  out.Set("infoHashV1", hashes.has_v1() ? Napi::Value(Napi::String::New(env, toHex(hashes.v1))) : env.Undefined());
  out.Set("infoHashV2", hashes.has_v2() ? Napi::Value(Napi::String::New(env, toHex(hashes.v2))) : env.Undefined());
  out.Set("version", hashes.has_v1() && hashes.has_v2() ? "hybrid" : hashes.has_v2() ? "v2" : "v1");
  out.Set("name", info.name());
  out.Set("pieceLength", info.piece_length());
  out.Set("pieceCount", info.num_pieces());
  out.Set("lastPieceLength", info.num_pieces() > 0 ? info.piece_size(lt::piece_index_t(info.num_pieces() - 1)) : 0);
  out.Set("length", Napi::Number::New(env, static_cast<double>(info.total_size())));
  out.Set("private", info.priv());
  out.Set("comment", info.comment());
  out.Set("createdBy", info.creator());
  if (info.creation_date() > 0) out.Set("created", Napi::Number::New(env, static_cast<double>(info.creation_date())));
  std::vector<std::string> trackers;
  for (auto const& tracker : info.trackers()) trackers.push_back(tracker.url);
  out.Set("announce", stringsToJs(env, trackers));
  std::vector<std::string> webSeeds;
  for (auto const& seed : info.web_seeds()) webSeeds.push_back(seed.url);
  out.Set("urlList", stringsToJs(env, webSeeds));
  lt::file_storage const& files = info.files();
  Napi::Array list = Napi::Array::New(env, static_cast<size_t>(files.num_files()));
  for (auto const index : files.file_range()) {
    Napi::Object file = Napi::Object::New(env);
    file.Set("index", static_cast<int>(index));
    file.Set("path", files.file_path(index));
    file.Set("name", std::string(files.file_name(index)));
    file.Set("length", Napi::Number::New(env, static_cast<double>(files.file_size(index))));
    file.Set("offset", Napi::Number::New(env, static_cast<double>(files.file_offset(index))));
    file.Set("pad", files.pad_file_at(index));
    list.Set(static_cast<uint32_t>(static_cast<int>(index)), file);
  }
  out.Set("files", list);
  auto const section = info.info_section();
  out.Set("info", Napi::Buffer<char>::Copy(env, section.data(), static_cast<size_t>(section.size())));
  out.Set("magnetURI", lt::make_magnet_uri(info));
  return out;
}

Napi::Value ParseTorrent(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsBuffer() || info[0].IsTypedArray())) {
    throw typeError(env, "ERR_INVALID_ARG_TYPE", "parseTorrent expects the .torrent file's bytes");
  }
  std::string const bytes = bytesOf(info[0]);
  lt::error_code ec;
  lt::torrent_info parsed(lt::span<char const>(bytes.data(), static_cast<std::ptrdiff_t>(bytes.size())), ec, lt::from_span);
  if (ec) throw torrentError(env, "ERR_INVALID_TORRENT", "Invalid torrent file: " + ec.message(), &ec);
  return torrentInfoToJs(env, parsed);
}

Napi::Value ParseMagnet(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw typeError(env, "ERR_INVALID_ARG_TYPE", "parseMagnet expects a magnet URI string");
  }
  std::string const uri = info[0].As<Napi::String>();
  lt::error_code ec;
  lt::add_torrent_params params = lt::parse_magnet_uri(uri, ec);
  if (ec) throw torrentError(env, "ERR_INVALID_MAGNET", "Invalid magnet link: " + ec.message(), &ec);
  Napi::Object out = Napi::Object::New(env);
  out.Set("infoHash", canonicalInfoHash(params.info_hashes));
  out.Set("infoHashV1", params.info_hashes.has_v1() ? Napi::Value(Napi::String::New(env, toHex(params.info_hashes.v1))) : env.Undefined());
  out.Set("infoHashV2", params.info_hashes.has_v2() ? Napi::Value(Napi::String::New(env, toHex(params.info_hashes.v2))) : env.Undefined());
  out.Set("name", params.name.empty() ? env.Undefined() : Napi::Value(Napi::String::New(env, params.name)));
  out.Set("announce", stringsToJs(env, params.trackers));
  std::vector<std::string> peers;
  for (auto const& peer : params.peers) {
    std::string const address = peer.address().to_string();
    peers.push_back((peer.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(peer.port()));
  }
  out.Set("peers", stringsToJs(env, peers));
  out.Set("urlList", stringsToJs(env, params.url_seeds));
  return out;
}

namespace {

class CreateTorrentWorker final : public Napi::AsyncWorker {
 public:
  CreateTorrentWorker(Napi::Env env, std::string path, int pieceLength, lt::create_flags_t flags,
                      std::vector<std::string> trackers, std::vector<std::string> webSeeds, std::string comment,
                      std::string creator, bool isPrivate)
      : Napi::AsyncWorker(env, "chunktorrent:createTorrent"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        pieceLength_(pieceLength),
        flags_(flags),
        trackers_(std::move(trackers)),
        webSeeds_(std::move(webSeeds)),
        comment_(std::move(comment)),
        creator_(std::move(creator)),
        private_(isPrivate) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    lt::file_storage files;
    lt::add_files(files, path_);
    if (files.num_files() == 0 || files.total_size() == 0) {
      code_ = "ERR_EMPTY_TORRENT";
      SetError("Nothing to put in a torrent at " + path_ + " (no files, or only empty ones)");
      return;
    }
    lt::create_torrent creator(files, pieceLength_, flags_);
    int tier = 0;
    for (auto const& tracker : trackers_) creator.add_tracker(tracker, tier++);
    for (auto const& seed : webSeeds_) creator.add_url_seed(seed);
    if (!comment_.empty()) creator.set_comment(comment_.c_str());
    creator.set_creator(creator_.c_str());
    creator.set_priv(private_);
    std::string parent = path_;
    while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
    auto const slash = parent.find_last_of('/');
    parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : parent.substr(0, slash));
    lt::error_code ec;
    lt::set_piece_hashes(creator, parent, ec);
    if (ec) {
      code_ = "ERR_CREATE_TORRENT";
      error_ = ec;
      SetError("Could not hash " + path_ + ": " + ec.message());
      return;
    }
    lt::bencode(std::back_inserter(result_), creator.generate());
  }

  void OnOK() override {
    deferred_.Resolve(Napi::Buffer<char>::Copy(Env(), result_.data(), result_.size()));
  }

  void OnError(Napi::Error const& error) override {
    deferred_.Reject(torrentError(Env(), code_, error.Message(), error_ ? &error_ : nullptr).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  int pieceLength_;
  lt::create_flags_t flags_;
  std::vector<std::string> trackers_;
  std::vector<std::string> webSeeds_;
  std::string comment_;
  std::string creator_;
  bool private_;
  std::vector<char> result_;
  std::string code_ = "ERR_CREATE_TORRENT";
  lt::error_code error_;
};

std::vector<std::string> stringList(Napi::Object options, char const* name) {
  std::vector<std::string> out;
  Napi::Value value = options.Get(name);
  if (value.IsArray()) {
    Napi::Array array = value.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(array.Get(i).ToString());
  }
  return out;
}

}  // namespace

// createTorrent(path, { pieceLength, version, trackers, webSeeds, comment, creator, private })
// Arguments are validated in TypeScript; this trusts their types.
Napi::Value CreateTorrent(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  std::string const path = info[0].As<Napi::String>();
  Napi::Object options = info[1].As<Napi::Object>();
  int const pieceLength = options.Get("pieceLength").As<Napi::Number>().Int32Value();
  std::string const version = options.Get("version").As<Napi::String>();
  lt::create_flags_t flags = {};
  if (version == "v1") flags = lt::create_torrent::v1_only;
  if (version == "v2") flags = lt::create_torrent::v2_only;
  std::string comment = options.Get("comment").IsString() ? std::string(options.Get("comment").As<Napi::String>()) : "";
  std::string creator = options.Get("creator").IsString() ? std::string(options.Get("creator").As<Napi::String>()) : "chunktorrent";
  bool const isPrivate = options.Get("private").ToBoolean();
  auto* worker = new CreateTorrentWorker(env, path, pieceLength, flags, stringList(options, "trackers"),
                                         stringList(options, "webSeeds"), comment, creator, isPrivate);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace ct
