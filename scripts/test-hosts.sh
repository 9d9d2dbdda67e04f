#!/bin/sh
# deno task test:hosts: the suite on the two kinds of machine it must pass on:
#   empty      a machine that never ran vgpu-admin (CI): no /etc/vgpu, no /etc/xapi.d;
#   installed  a dom0 where vgpu-admin is installed: its four hooks in /etc/xapi.d and a
#              database in /etc/vgpu.
# A test that passes on only one of them reads this machine's own files: a defect. Each run has
# its own mount namespace in which /etc is a copy (on a tmpfs) without or with vgpu-admin's
# files, so this machine's real /etc is never read for them nor touched. Needs root, unshare(1).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1; then
  echo "test:hosts needs root and unshare(1) (a mount namespace per run); nothing was run" >&2
  exit 2
fi
status=0
for kind in empty installed; do
  echo "== the suite where vgpu-admin is $([ "$kind" = empty ] && echo "not installed" || echo "installed")"
  copy=$(mktemp -d)
  KIND=$kind COPY=$copy unshare -m sh -eu -c '
    mount --make-rprivate /
    mount -t tmpfs tmpfs "$COPY"
    cp -a /etc/. "$COPY"/
    rm -rf "$COPY/vgpu" "$COPY/xapi.d"
    mount --bind "$COPY" /etc
    if [ "$KIND" = installed ]; then
      # as an admin installs it: the hooks, and a database (never reaching an xe)
      VGPU_XE=/nonexistent/xe deno run --allow-all main.ts install-hook \
        --binary=/usr/local/bin/vgpu-admin >/dev/null
      VGPU_XE=/nonexistent/xe deno run --allow-all main.ts settings hook-strict off >/dev/null
      test -f /etc/vgpu/vgpu_config.db && test -d /etc/xapi.d/vm-pre-start
    fi
    deno task -q test
  ' || status=1
  rmdir "$copy"
done
exit $status
