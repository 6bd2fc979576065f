#!/bin/sh
# PostgreSQL's archive_command (config/postgres/postgresql.conf): archive-wal.sh %p %f
# Copies one finished WAL segment (or timeline history file) into the WAL archive volume.
# PostgreSQL's rules (docs, "Setting Up WAL Archiving"): exit 0 only once the file is safely
# stored; never overwrite an archived file of the same name with different content (an
# identical copy, left by a crash after the rename, succeeds); any failure exits non-zero,
# so PostgreSQL keeps the segment in pg_wal and retries, and pg_stat_archiver counts it.
# Works with busybox (official alpine image) and coreutils (Debian images).
set -eu

src="$1"
name="$2"
# The wal-archive volume is mounted at /var/lib/postgresql (so it belongs to postgres, see the compose files).
dir="${WAL_ARCHIVE_DIR:-/var/lib/postgresql/wal-archive}"
dest="$dir/$name"

fail() {
  echo "archive-wal: $name: $*" >&2
  exit 1
}

[ -f "$src" ] || fail "source $src is missing"
mkdir -p "$dir" || fail "cannot create $dir"

if [ -e "$dest" ]; then
  if cmp -s "$src" "$dest"; then
    exit 0
  fi
  fail "$dest already exists with different content; refusing to overwrite it (two clusters archiving into one archive?)"
fi

tmp="$dir/.$name.partial"
rm -f "$tmp"
# conv=fsync: the copy is on disk before it gets its final name.
dd if="$src" of="$tmp" bs=1048576 conv=fsync 2>/dev/null || { rm -f "$tmp"; fail "copy to $tmp failed"; }
cmp -s "$src" "$tmp" || { rm -f "$tmp"; fail "the copy differs from the source"; }
# ln, not mv: a hard link never replaces an existing name (mv would).
ln "$tmp" "$dest" || { rm -f "$tmp"; fail "cannot link $tmp to $dest (did it appear meanwhile?)"; }
rm -f "$tmp"
# The directory entry too: the rename survives a power loss.
sync "$dir" 2>/dev/null || sync
exit 0
