// SessionParams: libtorrent's session_params (a settings_pack, validated setting by setting) as a
// JavaScript class. The disk I/O choice is made when the session is built from it.
#pragma once

#include "common.h"

#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>

namespace ct {

// Applies { name: value } to a settings_pack; unknown names and wrongly typed values throw
// RangeError / TypeError with a code before anything is applied.
void applySettings(Napi::Env env, Napi::Object settings, lt::settings_pack& pack);
// Reads one setting's current value from a pack (or the default).
Napi::Value settingValue(Napi::Env env, lt::settings_pack const& pack, int name);

class SessionParamsWrap final : public Napi::ObjectWrap<SessionParamsWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit SessionParamsWrap(Napi::CallbackInfo const& info);
  lt::settings_pack const& pack() const { return pack_; }

 private:
  Napi::Value ApplySettings(Napi::CallbackInfo const& info);
  Napi::Value GetSetting(Napi::CallbackInfo const& info);
  lt::settings_pack pack_;
};

}  // namespace ct
