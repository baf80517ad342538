// Torrent files and magnet links through libtorrent: parsing into plain objects, and creating
// torrents (v1, v2 or hybrid) from files on disk.
#pragma once

#include "common.h"

#include <libtorrent/torrent_info.hpp>

namespace ct {

Napi::Object torrentInfoToJs(Napi::Env env, lt::torrent_info const& info);
Napi::Object errorCodeToJs(Napi::Env env, lt::error_code const& ec);
Napi::Value ParseTorrent(Napi::CallbackInfo const& info);
Napi::Value ParseMagnet(Napi::CallbackInfo const& info);
Napi::Value CreateTorrent(Napi::CallbackInfo const& info);

}  // namespace ct
