#!/usr/bin/env bash
# Shared by the scripts that write or read a backup archive (inlined by host_scripts.load at "# @include").
# ARCHIVE_CODEC says how the stored object is compressed (backup/compression.py): "" - as pg_dump -Fc wrote
# it (pg_dump's own --compress=PG_DUMP_COMPRESS, if any): pg_restore reads it as stored; "zstd" or "lz4" -
# pg_dump wrote it uncompressed (-Z0) and the host's zstd/lz4 compressed the whole stream: the host
# decompresses it before pg_restore reads it.
#
# archive_read COMMAND...: run COMMAND with the archive on stdin, decompressed first when ARCHIVE_CODEC says.
# The decompressor reads the whole stream (what COMMAND leaves unread - pg_restore --list stops after the
# TOC - is drained), so the frame's checksum covers every byte. Exit: COMMAND's status, 47 when the codec is
# missing, 48 when the stream does not decompress.

# codec_ready: fails (47), naming the package, when ARCHIVE_CODEC's program is not on this host
codec_ready() {
  if [[ -n "${ARCHIVE_CODEC:-}" ]] && ! command -v "$ARCHIVE_CODEC" >/dev/null 2>&1; then
    echo "the archive is ${ARCHIVE_CODEC}-compressed and this host has no $ARCHIVE_CODEC (apt-get install $ARCHIVE_CODEC)" >&2
    return 47
  fi
}

# archive_encode: stdin to stdout, compressed with ARCHIVE_CODEC. zstd -T0 compresses on every core
# (pg_dump's zlib is single-threaded). Level 1, measured on the 303 MB FreshTrack-shaped database here
# (pg_dump -Z0 | zstd, 2 rounds): 18.0 MB stored at 0.85 s of client CPU, against 22.6 MB at zstd's default
# level 3, 20.4 MB at level 7 (2.2 s), and 21.3 MB at 3.6 s for pg_dump's own gzip (bench/results/backup.json).
archive_encode() {
  case "${ARCHIVE_CODEC:-}" in
    zstd) zstd -q -c -T0 -1 ;;
    lz4) lz4 -q -c ;;
    *)
      echo "archive_encode: unknown codec ${ARCHIVE_CODEC:-}" >&2
      return 64
      ;;
  esac
}

# archive_magic_ok FILE: FILE starts as a stored object of this codec must (a zstd or lz4 frame, or pg_dump's
# custom-format header "PGDMP")
archive_magic_ok() {
  local expected
  case "${ARCHIVE_CODEC:-}" in
    zstd) expected=28b52ffd ;;
    lz4) expected=04224d18 ;;
    *) expected=5047444d50 ;;
  esac
  [[ "$(head -c $((${#expected} / 2)) "$1" | od -An -tx1 | tr -d ' \n')" == "$expected" ]]
}

archive_read() {
  local statuses
  if [[ -z "${ARCHIVE_CODEC:-}" ]]; then
    "$@"
    return
  fi
  codec_ready || return
  set +e
  "$ARCHIVE_CODEC" -d -q -c |
    (
      status=0
      "$@" || status=$?
      cat >/dev/null # drain: the decompressor must read (and check) the whole stream
      exit "$status"
    )
  statuses=("${PIPESTATUS[@]}")
  set -e
  if ((statuses[0] != 0)); then
    echo "the archive does not decompress ($ARCHIVE_CODEC exited ${statuses[0]})" >&2
    return 48
  fi
  return "${statuses[1]}"
}
