#!/usr/bin/env bash
# Builds the pekonode Debian package from `bazel build -c opt` outputs with
# Debian's own tools (dpkg-shlibdeps for Depends:, dpkg-deb to pack it).
#
#   tools/build_deb.sh [--out=DIR]     (default DIR: dist/)
#
# The package installs /usr/bin/pekonode and /usr/bin/pekoctl, the systemd
# unit, /etc/pekonode/config.json (a conffile, loopback-only defaults) and
# the pekonode(1) man page generated from the binary's flag table. Depends:
# is computed from the libraries the built binaries link, so a change of
# library (e.g. of the admin HTTP server) shows up without editing this file.
# The last line printed is the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist
for arg in "$@"; do
  case "$arg" in
    --out=*) out="${arg#--out=}" ;;
    *) echo "build_deb: unknown argument $arg (use --out=DIR)" >&2; exit 2 ;;
  esac
done
for tool in dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null \
    || { echo "build_deb: $tool not found (apt-get install dpkg-dev)" >&2; exit 1; }
done

# A fixed action environment: the caller's PATH (e.g. one a Python launcher
# rewrote) must not change the action keys, or every caller rebuilds
# everything and misses the shared disk cache.
opts=(-c opt --incompatible_strict_action_env)
if [[ "${CI:-}" == "true" ]]; then opts+=(--config=ci); fi
bazel build "${opts[@]}" //node:pekonode //tools:pekoctl >&2
bin="$(bazel info "${opts[@]}" bazel-bin 2>/dev/null)"

version="0.1.0"
if git rev-parse --git-dir >/dev/null 2>&1; then
  version+="~git$(git log -1 --date=format:%Y%m%d --format=%cd).$(git rev-parse --short=8 HEAD)"
fi
arch="$(dpkg --print-architecture)"

stage="$(mktemp -d /tmp/pekonode-deb.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
root="$stage/pekonode_${version}_${arch}"

install -D -m 0755 "$bin/node/pekonode" "$root/usr/bin/pekonode"
install -D -m 0755 "$bin/tools/pekoctl" "$root/usr/bin/pekoctl"
strip --strip-unneeded "$root/usr/bin/pekonode" "$root/usr/bin/pekoctl"
install -D -m 0644 deploy/systemd/pekonode.service \
  "$root/lib/systemd/system/pekonode.service"
install -D -m 0644 deploy/config/config.json "$root/etc/pekonode/config.json"
mkdir -p "$root/usr/share/man/man1"
python3 tools/gen_manpage.py "$bin/node/pekonode" "$version" \
  | gzip -9n > "$root/usr/share/man/man1/pekonode.1.gz"
install -D -m 0644 README.md "$root/usr/share/doc/pekonode/README.md"
install -D -m 0644 docs/DEPLOY.md "$root/usr/share/doc/pekonode/DEPLOY.md"

# Depends: from the binaries' NEEDED libraries (dpkg-shlibdeps wants a
# debian/control of a source package to run in).
mkdir -p "$stage/src/debian"
printf 'Source: pekonode\n\nPackage: pekonode\nArchitecture: any\n' \
  > "$stage/src/debian/control"
shlibs="$(cd "$stage/src" && dpkg-shlibdeps -O \
  "-e$root/usr/bin/pekonode" "-e$root/usr/bin/pekoctl" 2>/dev/null)"
depends="${shlibs#shlibs:Depends=}"
[[ -n "$depends" && "$depends" != "$shlibs" ]] \
  || { echo "build_deb: dpkg-shlibdeps gave no Depends ($shlibs)" >&2; exit 1; }

mkdir -p "$root/DEBIAN"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" \
    -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$size/" \
    deploy/debian/control.in > "$root/DEBIAN/control"
install -m 0644 deploy/debian/conffiles "$root/DEBIAN/conffiles"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm \
  "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print0 \
  | sed -z 's|^\./||' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/pekonode_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
