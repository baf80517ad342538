// Converts the alerts a client needs into plain objects with one naming scheme: `type` is
// libtorrent's alert name without the `_alert` suffix, fields are camelCase, errors are
// `{ category, value, message }`, torrents are named by their canonical infoHash.
#include "alerts.h"

#include "torrent_tools.h"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/operations.hpp>
#include <libtorrent/write_resume_data.hpp>

namespace ct {

char const* stateName(lt::torrent_status::state_t state) {
  switch (state) {
    case lt::torrent_status::checking_files: return "checking_files";
    case lt::torrent_status::downloading_metadata: return "downloading_metadata";
    case lt::torrent_status::downloading: return "downloading";
    case lt::torrent_status::finished: return "finished";
    case lt::torrent_status::seeding: return "seeding";
    case lt::torrent_status::checking_resume_data: return "checking_resume_data";
    default: return "unknown";
  }
}

static std::string endpointString(lt::tcp::endpoint const& endpoint) {
  std::string const address = endpoint.address().to_string();
  return (endpoint.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(endpoint.port());
}

static void setError(Napi::Object& out, lt::error_code const& ec) {
  if (ec) out.Set("error", errorCodeToJs(out.Env(), ec));
}

Napi::Object alertToJs(Napi::Env env, lt::alert const* alert, KeyOf const& keyOf) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", alert->what());
  out.Set("category", static_cast<double>(static_cast<std::uint32_t>(alert->category())));
  out.Set("message", alert->message());

  if (auto const* torrent = dynamic_cast<lt::torrent_alert const*>(alert)) {
    std::string const key = keyOf(torrent->handle);
    if (!key.empty()) out.Set("infoHash", key);
    out.Set("torrentName", torrent->torrent_name());
  }
  if (auto const* peer = dynamic_cast<lt::peer_alert const*>(alert)) {
    out.Set("peer", endpointString(peer->endpoint));
  }

  switch (alert->type()) {
    case lt::add_torrent_alert::alert_type: {
      auto const* a = static_cast<lt::add_torrent_alert const*>(alert);
      setError(out, a->error);
      if (!out.Has("infoHash")) out.Set("infoHash", canonicalInfoHash(a->params.info_hashes));
      break;
    }
    case lt::piece_finished_alert::alert_type:
      out.Set("piece", static_cast<int>(static_cast<lt::piece_finished_alert const*>(alert)->piece_index));
      break;
    case lt::hash_failed_alert::alert_type:
      out.Set("piece", static_cast<int>(static_cast<lt::hash_failed_alert const*>(alert)->piece_index));
      break;
    case lt::state_changed_alert::alert_type: {
      auto const* a = static_cast<lt::state_changed_alert const*>(alert);
      out.Set("state", stateName(a->state));
      out.Set("previousState", stateName(a->prev_state));
      break;
    }
    case lt::file_error_alert::alert_type: {
      auto const* a = static_cast<lt::file_error_alert const*>(alert);
      setError(out, a->error);
      out.Set("file", a->filename());
      out.Set("operation", lt::operation_name(a->op));
      break;
    }
    case lt::torrent_error_alert::alert_type: {
      auto const* a = static_cast<lt::torrent_error_alert const*>(alert);
      setError(out, a->error);
      out.Set("file", a->filename());
      break;
    }
    case lt::metadata_failed_alert::alert_type:
      setError(out, static_cast<lt::metadata_failed_alert const*>(alert)->error);
      break;
    case lt::save_resume_data_alert::alert_type: {
      auto const* a = static_cast<lt::save_resume_data_alert const*>(alert);
      std::vector<char> const data = lt::write_resume_data_buf(a->params);
      out.Set("resumeData", Napi::Buffer<char>::Copy(env, data.data(), data.size()));
      break;
    }
    case lt::save_resume_data_failed_alert::alert_type:
      setError(out, static_cast<lt::save_resume_data_failed_alert const*>(alert)->error);
      break;
    case lt::torrent_removed_alert::alert_type:
      out.Set("infoHash", canonicalInfoHash(static_cast<lt::torrent_removed_alert const*>(alert)->info_hashes));
      break;
    case lt::torrent_deleted_alert::alert_type:
      out.Set("infoHash", canonicalInfoHash(static_cast<lt::torrent_deleted_alert const*>(alert)->info_hashes));
      break;
    case lt::torrent_delete_failed_alert::alert_type: {
      auto const* a = static_cast<lt::torrent_delete_failed_alert const*>(alert);
      out.Set("infoHash", canonicalInfoHash(a->info_hashes));
      setError(out, a->error);
      break;
    }
    case lt::listen_succeeded_alert::alert_type: {
      auto const* a = static_cast<lt::listen_succeeded_alert const*>(alert);
      out.Set("address", a->address.to_string());
      out.Set("port", a->port);
      out.Set("socketType", static_cast<int>(a->socket_type));
      break;
    }
    case lt::listen_failed_alert::alert_type: {
      auto const* a = static_cast<lt::listen_failed_alert const*>(alert);
      setError(out, a->error);
      out.Set("address", a->address.to_string());
      out.Set("port", a->port);
      break;
    }
    case lt::peer_disconnected_alert::alert_type:
      setError(out, static_cast<lt::peer_disconnected_alert const*>(alert)->error);
      break;
    case lt::peer_error_alert::alert_type:
      setError(out, static_cast<lt::peer_error_alert const*>(alert)->error);
      break;
    case lt::tracker_error_alert::alert_type: {
      auto const* a = static_cast<lt::tracker_error_alert const*>(alert);
      setError(out, a->error);
      out.Set("url", a->tracker_url());
      break;
    }
    case lt::storage_moved_alert::alert_type:
      out.Set("storagePath", static_cast<lt::storage_moved_alert const*>(alert)->storage_path());
      break;
    case lt::storage_moved_failed_alert::alert_type:
      setError(out, static_cast<lt::storage_moved_failed_alert const*>(alert)->error);
      break;
    case lt::file_renamed_alert::alert_type: {
      auto const* a = static_cast<lt::file_renamed_alert const*>(alert);
      out.Set("fileIndex", static_cast<int>(a->index));
      out.Set("newName", a->new_name());
      break;
    }
    case lt::file_completed_alert::alert_type:
      out.Set("fileIndex", static_cast<int>(static_cast<lt::file_completed_alert const*>(alert)->index));
      break;
    case lt::fastresume_rejected_alert::alert_type:
      setError(out, static_cast<lt::fastresume_rejected_alert const*>(alert)->error);
      break;
    case lt::performance_alert::alert_type:
      out.Set("warning", static_cast<int>(static_cast<lt::performance_alert const*>(alert)->warning_code));
      break;
    case lt::read_piece_alert::alert_type: {
      auto const* a = static_cast<lt::read_piece_alert const*>(alert);
      out.Set("piece", static_cast<int>(a->piece));
      setError(out, a->error);
      break;
    }
    default:
      break;
  }
  return out;
}

}  // namespace ct
