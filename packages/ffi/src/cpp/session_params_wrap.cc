// See session_params_wrap.h.
#include "session_params_wrap.h"

#include <cmath>

namespace ct {

namespace {

struct Parsed {
  int name;
  int type;
  std::string text;
  int number = 0;
  bool flag = false;
};

}  // namespace

void applySettings(Napi::Env env, Napi::Object settings, lt::settings_pack& pack) {
  std::vector<Parsed> parsed;
  Napi::Array keys = settings.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string const key = keys.Get(i).ToString();
    Napi::Value value = settings.Get(key);
    if (value.IsUndefined()) continue;
    int const name = lt::setting_by_name(key);
    if (name < 0) throw rangeError(env, "ERR_UNKNOWN_SETTING", "Unknown libtorrent setting \"" + key + "\"");
    Parsed entry{name, name & lt::settings_pack::type_mask, {}};
    switch (entry.type) {
      case lt::settings_pack::string_type_base:
        if (!value.IsString()) throw typeError(env, "ERR_INVALID_SETTING", "Setting \"" + key + "\" must be a string");
        entry.text = value.As<Napi::String>();
        break;
      case lt::settings_pack::int_type_base: {
        double number = 0;
        if (value.IsBoolean()) number = value.As<Napi::Boolean>() ? 1 : 0;  // flag-like ints
        else if (value.IsNumber()) number = value.As<Napi::Number>().DoubleValue();
        else throw typeError(env, "ERR_INVALID_SETTING", "Setting \"" + key + "\" must be an integer");
        if (!std::isfinite(number) || std::floor(number) != number || number < -2147483648.0 || number > 2147483647.0) {
          throw rangeError(env, "ERR_INVALID_SETTING", "Setting \"" + key + "\" must be a 32-bit integer");
        }
        entry.number = static_cast<int>(number);
        break;
      }
      case lt::settings_pack::bool_type_base:
        if (!value.IsBoolean()) throw typeError(env, "ERR_INVALID_SETTING", "Setting \"" + key + "\" must be a boolean");
        entry.flag = value.As<Napi::Boolean>();
        break;
      default:
        throw rangeError(env, "ERR_UNKNOWN_SETTING", "Unsupported libtorrent setting \"" + key + "\"");
    }
    parsed.push_back(std::move(entry));
  }
  for (auto const& entry : parsed) {
    if (entry.type == lt::settings_pack::string_type_base) pack.set_str(entry.name, entry.text);
    else if (entry.type == lt::settings_pack::int_type_base) pack.set_int(entry.name, entry.number);
    else pack.set_bool(entry.name, entry.flag);
  }
}

Napi::Value settingValue(Napi::Env env, lt::settings_pack const& pack, int name) {
  switch (name & lt::settings_pack::type_mask) {
    case lt::settings_pack::string_type_base: return Napi::String::New(env, pack.get_str(name));
    case lt::settings_pack::int_type_base: return Napi::Number::New(env, pack.get_int(name));
    case lt::settings_pack::bool_type_base: return Napi::Boolean::New(env, pack.get_bool(name));
    default: return env.Undefined();
  }
}

Napi::Function SessionParamsWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeSessionParams",
                     {InstanceMethod<&SessionParamsWrap::ApplySettings>("applySettings"),
                      InstanceMethod<&SessionParamsWrap::GetSetting>("getSetting")});
}

SessionParamsWrap::SessionParamsWrap(Napi::CallbackInfo const& info) : Napi::ObjectWrap<SessionParamsWrap>(info) {
  if (info.Length() > 0 && info[0].IsObject()) applySettings(info.Env(), info[0].As<Napi::Object>(), pack_);
}

Napi::Value SessionParamsWrap::ApplySettings(Napi::CallbackInfo const& info) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw typeError(info.Env(), "ERR_INVALID_ARG_TYPE", "applySettings expects an object of libtorrent settings");
  }
  applySettings(info.Env(), info[0].As<Napi::Object>(), pack_);
  return info.Env().Undefined();
}

Napi::Value SessionParamsWrap::GetSetting(Napi::CallbackInfo const& info) {
  std::string const key = info[0].ToString();
  int const name = lt::setting_by_name(key);
  if (name < 0) throw rangeError(info.Env(), "ERR_UNKNOWN_SETTING", "Unknown libtorrent setting \"" + key + "\"");
  return settingValue(info.Env(), pack_, name);
}

}  // namespace ct
