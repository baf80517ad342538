// Shared helpers for the addon: hex conversions, the per-environment state (the addon's
// instance data) and the one way native code raises a typed JavaScript error.
#pragma once

#include <napi.h>

#include <libtorrent/error_code.hpp>
#include <libtorrent/info_hash.hpp>
#include <libtorrent/sha1_hash.hpp>

#include <string>

namespace ct {

// Per-environment state: constructors and the JS error class handed over by src/binding.ts.
struct AddonData {
  Napi::FunctionReference sessionParamsConstructor;
  Napi::FunctionReference sessionConstructor;
  Napi::FunctionReference torrentErrorClass;
};

AddonData& addonData(Napi::Env env);

std::string toHex(char const* data, size_t size);
template <typename Hash>
std::string toHex(Hash const& hash) {
  return toHex(hash.data(), hash.size());
}
// Parses 40 or 64 hex digits (either case) into an info_hash_t; false if malformed.
bool parseInfoHash(std::string const& hex, lt::info_hash_t& out);
// The project's canonical infoHash string: the v1 hash when there is one, else the full v2 hash.
std::string canonicalInfoHash(lt::info_hash_t const& hashes);

// Builds a TorrentError (the class registered by JS) with code, message and, when given, the
// libtorrent error_code's category, value and message.
Napi::Error torrentError(Napi::Env env, std::string const& code, std::string const& message,
                         lt::error_code const* ec = nullptr);
Napi::Error typeError(Napi::Env env, std::string const& code, std::string const& message);
Napi::Error rangeError(Napi::Env env, std::string const& code, std::string const& message);

// Reads a Buffer/Uint8Array argument into a string of bytes.
std::string bytesOf(Napi::Value value);

}  // namespace ct
