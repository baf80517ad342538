#!/bin/sh
# aria2c runs this (--on-bt-download-complete) once a torrent is complete: after the download for
# a leecher, after the -V check for a seeder. It inherits aria2c's stdout, which the harness reads
# line by line (src/aria2-peer.ts). Arguments: GID, number of files, path of the first file.
printf '{"event":"complete","gid":"%s","files":%s}\n' "$1" "${2:-0}"
