// Typed errors and small conversions shared by every native class.
#include "common.h"

#include <cstdio>

namespace ct {

AddonData& addonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

std::string toHex(char const* data, size_t size) {
  static char const digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    auto const byte = static_cast<unsigned char>(data[i]);
    out[2 * i] = digits[byte >> 4];
    out[2 * i + 1] = digits[byte & 15];
  }
  return out;
}

static int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool fromHex(std::string const& hex, char* out) {
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    int const high = hexValue(hex[2 * i]);
    int const low = hexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<char>(high * 16 + low);
  }
  return true;
}

bool parseInfoHash(std::string const& hex, lt::info_hash_t& out) {
  if (hex.size() == 40) {
    lt::sha1_hash v1;
    if (!fromHex(hex, v1.data())) return false;
    out = lt::info_hash_t(v1);
    return true;
  }
  if (hex.size() == 64) {
    lt::sha256_hash v2;
    if (!fromHex(hex, v2.data())) return false;
    out = lt::info_hash_t(v2);
    return true;
  }
  return false;
}

std::string canonicalInfoHash(lt::info_hash_t const& hashes) {
  if (hashes.has_v1()) return toHex(hashes.v1);
  return toHex(hashes.v2);
}

static Napi::Error withCode(Napi::Error error, std::string const& code) {
  error.Value().Set("code", Napi::String::New(error.Env(), code));
  return error;
}

Napi::Error torrentError(Napi::Env env, std::string const& code, std::string const& message,
                         lt::error_code const* ec) {
  auto& data = addonData(env);
  Napi::Object options = Napi::Object::New(env);
  options.Set("code", code);
  if (ec) {
    Napi::Object native = Napi::Object::New(env);
    native.Set("category", ec->category().name());
    native.Set("value", ec->value());
    native.Set("message", ec->message());
    options.Set("libtorrent", native);
  }
  if (data.torrentErrorClass.IsEmpty()) {
    return withCode(Napi::Error::New(env, message), code);
  }
  Napi::Value value = data.torrentErrorClass.Value().New({Napi::String::New(env, message), options});
  return Napi::Error(env, value);
}

Napi::Error typeError(Napi::Env env, std::string const& code, std::string const& message) {
  return withCode(Napi::TypeError::New(env, message), code);
}

Napi::Error rangeError(Napi::Env env, std::string const& code, std::string const& message) {
  return withCode(Napi::RangeError::New(env, message), code);
}

std::string bytesOf(Napi::Value value) {
  if (value.IsBuffer()) {
    auto buffer = value.As<Napi::Buffer<char>>();
    return std::string(buffer.Data(), buffer.Length());
  }
  if (value.IsTypedArray()) {
    auto array = value.As<Napi::Uint8Array>();
    return std::string(reinterpret_cast<char const*>(array.Data()), array.ByteLength());
  }
  throw typeError(value.Env(), "ERR_INVALID_ARG_TYPE", "expected a Buffer or Uint8Array");
}

}  // namespace ct
