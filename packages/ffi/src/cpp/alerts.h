// libtorrent alerts as typed plain JavaScript objects, copied on the JavaScript thread (alerts
// die at the next pop_alerts).
#pragma once

#include "common.h"

#include <libtorrent/alert.hpp>
#include <libtorrent/torrent_handle.hpp>

#include <functional>

namespace ct {

using KeyOf = std::function<std::string(lt::torrent_handle const&)>;

Napi::Object alertToJs(Napi::Env env, lt::alert const* alert, KeyOf const& keyOf);

}  // namespace ct
