// libtorrent alerts as typed plain JavaScript objects, copied on the JavaScript thread (alerts
// die at the next pop_alerts).
#pragma once

#include "common.h"

#include <libtorrent/alert.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_status.hpp>

#include <functional>

namespace ct {

using KeyOf = std::function<std::string(lt::torrent_handle const&)>;

// libtorrent's torrent state as the string the JavaScript API uses ("downloading", "seeding", …).
char const* stateName(lt::torrent_status::state_t state);

Napi::Object alertToJs(Napi::Env env, lt::alert const* alert, KeyOf const& keyOf);

}  // namespace ct
