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

// Detaches a Buffer's ArrayBuffer so native memory it shares is released now rather than at
// the next garbage collection. A Buffer whose memory cannot be detached is left alone.
static Napi::Value DetachBuffer(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) return Napi::Boolean::New(env, false);
  Napi::ArrayBuffer buffer = info[0].As<Napi::TypedArray>().ArrayBuffer();
  bool detachable = false;
  napi_value raw = buffer;
  if (napi_is_detached_arraybuffer(env, raw, &detachable) != napi_ok || detachable) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, napi_detach_arraybuffer(env, raw) == napi_ok);
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
  exports.Set("detachBuffer", Napi::Function::New<DetachBuffer>(env, "detachBuffer"));
  exports.Set("libtorrentVersion", Napi::String::New(env, lt::version()));
  return exports;
}

}  // namespace ct

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ct::Init(env, exports); }

NODE_API_MODULE(chunktorrent, InitAddon)
