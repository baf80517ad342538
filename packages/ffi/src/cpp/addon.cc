// The addon's entry point: registers the native classes and functions for this environment
// (per-environment instance data, so worker threads each get their own).
#include "common.h"
#include "session_params_wrap.h"
#include "session_wrap.h"
#include "torrent_tools.h"

#include <libtorrent/version.hpp>

namespace ct {

static Napi::Value SetErrorClass(Napi::CallbackInfo const& info) {
  if (!info[0].IsFunction()) throw typeError(info.Env(), "ERR_INVALID_ARG_TYPE", "expected a class");
  addonData(info.Env()).torrentErrorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function params = SessionParamsWrap::Init(env);
  Napi::Function session = SessionWrap::Init(env);
  data->sessionParamsConstructor = Napi::Persistent(params);
  data->sessionConstructor = Napi::Persistent(session);
  exports.Set("NativeSessionParams", params);
  exports.Set("NativeSession", session);
  exports.Set("parseTorrent", Napi::Function::New<ParseTorrent>(env, "parseTorrent"));
  exports.Set("parseMagnet", Napi::Function::New<ParseMagnet>(env, "parseMagnet"));
  exports.Set("createTorrent", Napi::Function::New<CreateTorrent>(env, "createTorrent"));
  exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
  exports.Set("libtorrentVersion", Napi::String::New(env, lt::version()));
  return exports;
}

}  // namespace ct

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ct::Init(env, exports); }

NODE_API_MODULE(chunktorrent, InitAddon)
