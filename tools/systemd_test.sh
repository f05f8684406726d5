#!/usr/bin/env bash
# The packaged unit under a real systemd: PID 1 of a systemd-nspawn container
# (Debian 12, private network), the .deb installed in it, then checks of
# Type=notify readiness, the dynamic user, reload (SIGHUP), the wildcard-bind
# advertise address (needs AF_NETLINK), a keyring through LoadCredential=,
# the watchdog restarting a stopped process, and a graceful stop.
#
#   tools/systemd_test.sh [--rootfs=DIR] [--deb=FILE]
#
# Manual, not part of CI: it needs root, systemd-container and debootstrap,
# and the first run downloads a minimal Debian 12 into DIR (default
# /var/tmp/pekonode-systemd-rootfs, reused afterwards; ~5 minutes). Every run
# works on a copy of it. The only non-loopback address (10.250.0.1, to test
# the advertise address) lives on a veth pair inside the container's own
# network namespace. The last line is 'systemd_test: N passed, M failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
rootfs=/var/tmp/pekonode-systemd-rootfs
deb=
for arg in "$@"; do
  case "$arg" in
    --rootfs=*) rootfs="${arg#--rootfs=}" ;;
    --deb=*) deb="${arg#--deb=}" ;;
    *) echo "systemd_test: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "systemd_test: needs root" >&2; exit 2; }
for tool in systemd-nspawn debootstrap nsenter ip; do
  command -v "$tool" >/dev/null || {
    echo "systemd_test: $tool missing (apt-get install systemd-container debootstrap)" >&2
    exit 2
  }
done
if [[ -z "$deb" ]]; then
  deb="$(bash tools/build_deb.sh --out="$(mktemp -d)" | tail -1)" || exit 1
fi
depends="$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | awk '{print $1}' | paste -sd, -)"

if [[ ! -x "$rootfs/lib/systemd/systemd" ]]; then
  echo "systemd_test: debootstrap into $rootfs (first run only)"
  debootstrap --variant=minbase \
    --include="systemd,systemd-sysv,dbus,procps,$depends" \
    bookworm "$rootfs" http://deb.debian.org/debian >/dev/null || exit 1
fi

work="$(mktemp -d /var/tmp/pekonode-systemd.XXXXXX)"
root="$work/root"
cp -a "$rootfs" "$root"
nspawn_pid=
cleanup() {
  if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

in_root() {
  systemd-nspawn -q -D "$root" --private-network --register=no --keep-unit "$@" \
    2>&1 | grep -v 'Attempted to remove disk file system'
}
cp "$deb" "$root/opt/pekonode.deb"
in_root dpkg -i /opt/pekonode.deb >/dev/null
in_root systemctl enable pekonode.service >/dev/null
cat > "$root/etc/pekonode/config.json" <<'EOF'
{"bind": "127.0.0.1:7946", "admin": "127.0.0.1:7947", "profile": "lan",
 "tags": {"role": "web"}}
EOF

systemd-nspawn -D "$root" --private-network --register=no --keep-unit -b \
  --console=passive >"$work/boot.log" 2>&1 &
nspawn_pid=$!
leader=
for _ in $(seq 1 300); do
  leader="$(pgrep -P "$nspawn_pid" | head -1)"
  if [[ -n "$leader" ]] && state="$(nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null)" \
      && [[ "$state" == running || "$state" == degraded ]]; then
    break
  fi
  sleep 0.2
done
[[ -n "$leader" ]] || { echo "systemd_test: the container did not boot"; cat "$work/boot.log"; exit 1; }
c() { nsenter -t "$leader" -a "$@"; }
prop() { c systemctl show pekonode -p "$1" --value; }

passed=0
failed=0
check() { # check NAME COMMAND...
  local name="$1"
  shift
  if "$@"; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    c journalctl -u pekonode --no-pager -n 20 -o cat | sed 's/^/     /'
    failed=$((failed + 1))
  fi
}
wait_for() { # wait_for SECONDS COMMAND...
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

ready() { [[ "$(prop ActiveState)" == active && "$(prop StatusText)" == "running at "* ]]; }
check "Type=notify: active once READY=1, with STATUS" wait_for 20 ready
check "members through the installed pekoctl" \
  sh -c "nsenter -t $leader -a pekoctl --addr=127.0.0.1:7947 members | grep -q 'alive'"
dynamic_user() { [[ "$(c ps -o user= -p "$(prop MainPID)")" != root ]]; }
check "runs as a dynamic user, not root" dynamic_user

reloaded() {
  c sed -i 's/"role": "web"/"role": "db"/' /etc/pekonode/config.json
  c systemctl reload pekonode &&
    [[ "$(c pekoctl --addr=127.0.0.1:7947 self)" == *role=db* ]] &&
    [[ "$(prop MainPID)" == "$1" ]]
}
check "systemctl reload applies new tags, same process" reloaded "$(prop MainPID)"

# A wildcard bind, an interface with an address, and a keyring credential.
nsenter -t "$leader" -n ip link add v0 type veth peer name v1
nsenter -t "$leader" -n ip addr add 10.250.0.1/24 dev v0
nsenter -t "$leader" -n ip link set v0 up
# One key as 64 hex digits (the form `openssl rand -hex 32` writes), no newline.
c sh -c 'od -An -tx1 -N32 /dev/urandom | tr -d " \n" > /etc/pekonode/keyring; chmod 600 /etc/pekonode/keyring'
c mkdir -p /etc/systemd/system/pekonode.service.d
c sh -c 'printf "[Service]\nLoadCredential=keyring:/etc/pekonode/keyring\nWatchdogSec=3s\n" \
  > /etc/systemd/system/pekonode.service.d/test.conf'
c sh -c 'echo "{\"bind\": \"0.0.0.0:7946\", \"admin\": \"127.0.0.1:7947\", \"keyring_file\": \"/run/credentials/pekonode.service/keyring\"}" > /etc/pekonode/config.json'
c systemctl daemon-reload
c systemctl restart pekonode
advertises_interface() { [[ "$(prop StatusText)" == "running at 10.250.0.1:7946" ]]; }
check "wildcard bind advertises the interface address (AF_NETLINK allowed)" \
  wait_for 20 advertises_interface
# journald may store the line a moment after systemd saw READY=1.
encrypted() { [[ "$(c journalctl -u pekonode --no-pager -o cat)" == *", encrypted,"* ]]; }
check "keyring from LoadCredential= under the dynamic user" wait_for 10 encrypted

watchdog() {
  local before
  before="$(prop NRestarts)"
  c kill -STOP "$(prop MainPID)"
  wait_for 20 sh -c "[ \"\$(nsenter -t $leader -a systemctl show pekonode -p NRestarts --value)\" -gt $before ]" &&
    wait_for 20 ready
}
check "watchdog restarts a node that stopped answering" watchdog

c sh -c 'nohup pekonode --name=peer --bind=127.0.0.1:7950 --admin=127.0.0.1:7951 \
  --keyring_file=/etc/pekonode/keyring --join=127.0.0.1:7946 >/root/peer.log 2>&1 &'
sees() {
  local view
  view="$(c pekoctl --addr=127.0.0.1:7951 members 2>/dev/null)"
  grep -Eq "^$(c hostname) .* $1 " <<<"$view"
}
check "a peer joins the service's node" wait_for 20 sees alive
stopped() {
  c systemctl stop pekonode &&
    [[ "$(prop ExecMainStatus)" == 0 && "$(prop Result)" == success ]] &&
    wait_for 5 sees left
}
check "systemctl stop: graceful leave, exit 0, peer sees 'left'" stopped

c systemctl poweroff >/dev/null 2>&1
wait "$nspawn_pid" 2>/dev/null
nspawn_pid=
echo "systemd_test: $passed passed, $failed failed"
((failed == 0))
