# Creates and describes .torrent files with python3-libtorrent, so tests can check the project's
# own parser and creator against an independent implementation (src/torrent-files.ts runs it).
#
#   /usr/bin/python3 lt_torrent.py create --path P --piece-length N --version v1|v2|hybrid [--comment C]
#       writes the bencoded torrent to stdout (without "creation date", so output is reproducible)
#   /usr/bin/python3 lt_torrent.py info
#       reads a bencoded torrent on stdin, writes one JSON object describing it to stdout

import argparse
import json
import os
import sys

import libtorrent as lt

VERSION_FLAGS = {
    "v1": lt.create_torrent.v1_only,
    "v2": lt.create_torrent.v2_only,
    "hybrid": 0,
}


def sorted_files(path):
    """(relative path, size) of every file under `path`, sorted by path components.

    lt.add_files() lists a directory in readdir order, which differs between file systems, and
    v1 torrents keep that order (v2 and hybrid ones are sorted by libtorrent). Sorting here makes
    the same data give the same torrent everywhere.
    """
    parent = os.path.dirname(path)
    if os.path.isfile(path):
        return [(os.path.basename(path), os.path.getsize(path))]
    found = []
    for directory, _, names in os.walk(path):
        for name in names:
            full = os.path.join(directory, name)
            if os.path.isfile(full):
                found.append((os.path.relpath(full, parent).replace(os.sep, "/"), os.path.getsize(full)))
    return sorted(found, key=lambda entry: [part.encode() for part in entry[0].split("/")])


def create(args):
    path = os.path.abspath(args.path)
    if not os.path.exists(path):
        raise SystemExit("no such file or directory: %s" % path)
    storage = lt.file_storage()
    for relative_path, size in sorted_files(path):
        storage.add_file(relative_path, size)
    if storage.num_files() == 0:
        raise SystemExit("nothing to put in a torrent under %s" % path)
    creator = lt.create_torrent(storage, args.piece_length, VERSION_FLAGS[args.version])
    if args.comment:
        creator.set_comment(args.comment)
    lt.set_piece_hashes(creator, os.path.dirname(path))
    entry = creator.generate()
    entry.pop(b"creation date", None)
    sys.stdout.buffer.write(lt.bencode(entry))
    sys.stdout.buffer.flush()


def info():
    data = sys.stdin.buffer.read()
    torrent = lt.torrent_info(lt.bdecode(data))
    hashes = torrent.info_hashes()
    files = torrent.files()
    info_hash_v1 = str(hashes.v1) if hashes.has_v1() else None
    info_hash_v2 = str(hashes.v2) if hashes.has_v2() else None
    described = []
    for index in range(files.num_files()):
        described.append(
            {
                "path": files.file_path(index).replace(os.sep, "/"),
                "length": files.file_size(index),
                "offset": files.file_offset(index),
                "pad": bool(files.file_flags(index) & lt.file_storage.flag_pad_file),
            }
        )
    num_pieces = torrent.num_pieces()
    result = {
        "infoHash": info_hash_v1 or info_hash_v2,
        "infoHashV1": info_hash_v1,
        "infoHashV2": info_hash_v2,
        "version": "hybrid" if info_hash_v1 and info_hash_v2 else ("v1" if info_hash_v1 else "v2"),
        "name": torrent.name(),
        "comment": torrent.comment(),
        "private": bool(torrent.priv()),
        "pieceLength": torrent.piece_length(),
        "lastPieceLength": torrent.piece_size(num_pieces - 1) if num_pieces > 0 else 0,
        "numPieces": num_pieces,
        "totalSize": torrent.total_size(),
        "files": described,
    }
    sys.stdout.write(json.dumps(result) + "\n")


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    create_parser = commands.add_parser("create")
    create_parser.add_argument("--path", required=True)
    create_parser.add_argument("--piece-length", type=int, required=True)
    create_parser.add_argument("--version", choices=sorted(VERSION_FLAGS), required=True)
    create_parser.add_argument("--comment")
    commands.add_parser("info")
    args = parser.parse_args()
    if args.command == "create":
        create(args)
    else:
        info()


if __name__ == "__main__":
    main()
