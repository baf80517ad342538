# One real libtorrent peer (seeder or leecher) on 127.0.0.1, driven by the Node harness in
# src/libtorrent-peer.ts: it reports what happens as one JSON object per stdout line and takes
# commands one per stdin line. It exits when stdin closes or its parent dies, so a crashed test
# leaves nothing behind.
#
#   /usr/bin/python3 -u lt_peer.py --role seed|leech --save-path DIR (--torrent FILE | --torrent-stdin)
#       [--seed-mode] [--skip-hash-check] [--connect HOST:PORT]... [--listen-port N]
#       [--upload-rate-limit B] [--download-rate-limit B] [--progress-interval-ms MS] [--parent-pid PID]
#   With --torrent-stdin the first stdin line is the .torrent file in base64.
#
# Events (stdout): listening {port}, ready {port, pid} (a seeder: once checked and seeding),
# checked {progress}, state {state, previous}, progress {progress, downloaded, peers, state, ...},
# done {seconds, ...} (leecher complete), hash_failed {piece}, peer_connected / peer_disconnected /
# peer_banned / peer_error {peer}, failed {kind, message} (fatal), warning, command, command_error,
# stopped.  Commands (stdin): `connect HOST:PORT`, `status` (prints a progress line), `quit`.

import argparse
import base64
import ctypes
import json
import os
import queue
import signal
import sys
import threading
import time

import libtorrent as lt


def emit(event, **fields):
    fields = {"event": event, **fields}
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def die_with_parent(parent_pid):
    # PR_SET_PDEATHSIG = 1: the kernel sends SIGKILL when the process that spawned us goes away.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass
    if parent_pid and os.getppid() != parent_pid:
        os._exit(3)


def parse_host_port(text):
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("expected HOST:PORT, got %r" % text)
    return (host.strip("[]"), int(port))


def read_stdin(commands):
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put(None)  # end of input: the parent is gone or wants us to stop


def make_settings(role, args):
    settings = lt.high_performance_seed() if role == "seed" else lt.default_settings()
    settings.update(
        {
            "listen_interfaces": "127.0.0.1:%d" % args.listen_port,
            "outgoing_interfaces": "",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "dht_bootstrap_nodes": "",
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_tcp": True,
            "enable_outgoing_tcp": True,
            "allow_multiple_connections_per_ip": True,
            "min_reconnect_time": 1,
            "max_failcount": 1000,
            "enable_ip_notifier": False,
            "user_agent": "chunktorrent-test-peers/libtorrent-" + lt.__version__,
            "alert_mask": lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.storage_notification
            | lt.alert.category_t.connect_notification
            | lt.alert.category_t.peer_notification
            | lt.alert.category_t.ip_block_notification,
        }
    )
    return settings


def endpoint_text(endpoint):
    try:
        return "%s:%d" % (endpoint[0], endpoint[1])
    except (TypeError, IndexError):
        return str(endpoint)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["seed", "leech"], required=True)
    parser.add_argument("--save-path", required=True)
    parser.add_argument("--torrent")
    parser.add_argument("--torrent-stdin", action="store_true")
    parser.add_argument("--seed-mode", action="store_true")
    parser.add_argument("--skip-hash-check", action="store_true")
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--upload-rate-limit", type=int, default=0)
    parser.add_argument("--download-rate-limit", type=int, default=0)
    parser.add_argument("--progress-interval-ms", type=int, default=500)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args()

    die_with_parent(args.parent_pid)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    if args.torrent_stdin:
        torrent_bytes = base64.b64decode(sys.stdin.readline().strip())
    elif args.torrent:
        with open(args.torrent, "rb") as handle:
            torrent_bytes = handle.read()
    else:
        parser.error("one of --torrent or --torrent-stdin is required")

    commands = queue.Queue()
    threading.Thread(target=read_stdin, args=(commands,), daemon=True).start()

    session = lt.session(make_settings(args.role, args))
    info = lt.torrent_info(lt.bdecode(torrent_bytes))

    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = args.save_path
    flags = (params.flags & ~lt.torrent_flags.auto_managed) | lt.torrent_flags.paused
    if args.seed_mode:
        flags |= lt.torrent_flags.seed_mode
    if args.skip_hash_check:
        params.have_pieces = [True] * info.num_pieces()
    params.flags = flags
    params.trackers = []
    handle = session.add_torrent(params)
    handle.replace_trackers([])
    if args.upload_rate_limit > 0:
        handle.set_upload_limit(args.upload_rate_limit)
    if args.download_rate_limit > 0:
        handle.set_download_limit(args.download_rate_limit)
    handle.resume()

    # Peers we were told to dial: each is re-dialled every second until it connects once; after
    # that libtorrent's own peer list reconnects it. When the torrent has no peer at all, every
    # target is dialled again (a peer that was still checking may have dropped us).
    targets = {}  # "host:port" -> {"endpoint": (host, port), "connected_once": bool, "last_dial": float}

    def add_target(text):
        endpoint = parse_host_port(text)
        key = endpoint_text(endpoint)
        # A new or repeated request: dial now, and keep re-dialling until it connects.
        targets[key] = {"endpoint": endpoint, "connected_once": False, "last_dial": 0.0}

    for text in args.connect:
        add_target(text)

    listen_port = 0
    ready_sent = False
    done_sent = False
    checked = False
    started_at = time.monotonic()
    last_progress = 0.0
    failed = False

    def status_fields(status):
        return {
            "progress": round(status.progress, 6),
            "downloaded": status.total_wanted_done,
            "wanted": status.total_wanted,
            "payloadDownloaded": status.total_payload_download,
            "payloadUploaded": status.total_payload_upload,
            "uploaded": status.total_upload,
            "downloadRate": status.download_payload_rate,
            "uploadRate": status.upload_payload_rate,
            "peers": status.num_peers,
            "seeds": status.num_seeds,
            "state": str(status.state),
            "seeding": bool(status.is_seeding),
            "paused": bool(status.paused),
        }

    while True:
        # Commands from the harness.
        while True:
            try:
                command = commands.get_nowait()
            except queue.Empty:
                break
            if command is None or command == "quit":
                emit("stopped", reason="stdin closed" if command is None else "quit")
                os._exit(0)
            verb, _, rest = command.partition(" ")
            try:
                if verb == "connect":
                    for text in rest.split():
                        add_target(text)
                    emit("command", command=command)
                elif verb == "status":
                    emit("progress", **status_fields(handle.status()))
                elif verb == "":
                    pass
                else:
                    raise ValueError("unknown command %r" % verb)
            except ValueError as error:
                emit("command_error", command=command, message=str(error))

        session.wait_for_alert(100)
        for alert in session.pop_alerts():
            kind = type(alert).__name__
            if isinstance(alert, lt.listen_succeeded_alert):
                if alert.socket_type == lt.socket_type_t.tcp:
                    listen_port = alert.port
                    emit("listening", port=listen_port, address=str(alert.address))
            elif isinstance(alert, lt.listen_failed_alert):
                emit("failed", kind=kind, message=alert.message())
            elif isinstance(alert, lt.torrent_checked_alert):
                checked = True
                emit("checked", progress=round(handle.status().progress, 6))
            elif isinstance(alert, lt.state_changed_alert):
                emit("state", state=str(alert.state), previous=str(alert.prev_state))
            elif isinstance(alert, lt.hash_failed_alert):
                emit("hash_failed", piece=int(alert.piece_index))
            elif isinstance(alert, lt.peer_ban_alert):
                emit("peer_banned", peer=endpoint_text(alert.endpoint))
            elif isinstance(alert, lt.peer_connect_alert):
                key = endpoint_text(alert.endpoint)
                if key in targets:
                    targets[key]["connected_once"] = True
                emit("peer_connected", peer=key)
            elif isinstance(alert, lt.peer_disconnected_alert):
                emit("peer_disconnected", peer=endpoint_text(alert.endpoint), message=alert.error.message())
            elif isinstance(alert, lt.torrent_finished_alert):
                pass  # reported below from the status, once, for leechers
            elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                emit("failed", kind=kind, message=alert.message())
            elif isinstance(alert, lt.peer_error_alert):
                emit("peer_error", peer=endpoint_text(alert.endpoint), message=alert.message())
            elif alert.category() & lt.alert.category_t.error_notification:
                emit("warning", kind=kind, message=alert.message())

        status = handle.status()
        now = time.monotonic()

        if not ready_sent and listen_port:
            if args.role == "leech":
                ready_sent = True
                emit("ready", port=listen_port, pid=os.getpid())
            elif checked and status.is_seeding:
                ready_sent = True
                emit("ready", port=listen_port, pid=os.getpid(), checkSeconds=round(now - started_at, 3))
            elif checked and str(status.state) not in ("checking_files", "checking_resume_data") and not failed:
                failed = True
                emit(
                    "failed",
                    kind="seed_incomplete",
                    message="seed data failed its check: progress %.4f" % status.progress,
                    progress=status.progress,
                )

        if args.role == "leech" and not done_sent and status.is_seeding:
            done_sent = True
            emit("done", seconds=round(now - started_at, 3), **status_fields(status))

        if args.progress_interval_ms > 0 and now - last_progress >= args.progress_interval_ms / 1000:
            last_progress = now
            emit("progress", **status_fields(status))

        finished_leecher = args.role == "leech" and status.is_seeding
        if targets and not finished_leecher and not status.paused:
            for key, target in targets.items():
                if target["connected_once"] and status.num_peers > 0:
                    continue
                if now - target["last_dial"] < 1.0:
                    continue
                connected = any(endpoint_text(peer.ip) == key for peer in handle.get_peer_info())
                if not connected:
                    target["last_dial"] = now
                    handle.connect_peer(target["endpoint"])


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report, then exit non-zero
        emit("failed", kind=type(error).__name__, message=str(error))
        sys.stdout.flush()
        os._exit(1)
