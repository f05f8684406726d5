#!/usr/bin/env bash
# Installs every Debian package that building, testing and running pekonode need.
# Idempotent: when everything is present it only checks (well under a second).
set -euo pipefail

packages=(
  bazel-bootstrap        # Bazel 4.2.3, fully offline
  g++ python3
  libcaf-dev             # CAF 0.17.6 actors
  libprotobuf-dev protobuf-compiler
  libgflags-dev libgoogle-glog-dev
  libgtest-dev libgmock-dev
  libsodium-dev          # authenticated encryption of every datagram
  libmicrohttpd-dev      # admin HTTP server (epoll, deadlines, TLS via GnuTLS)
  libcpp-httplib-dev     # HTTP client of pekoctl and the tests
  nlohmann-json3-dev     # admin API JSON
  nftables iproute2      # packet-level chaos in private network namespaces
  clang-14               # fuzz targets (fuzz/README.md): compiler
  libclang-rt-14-dev     #   libFuzzer, ASan and UBSan runtimes (-fsanitize=fuzzer)
  llvm-14                #   llvm-symbolizer for sanitizer stack traces
  libsystemd-dev         # sd_notify: Type=notify readiness, reload, watchdog
  libsqlite3-dev         # durable store under --data_dir (storage/)
  libre2-dev             # query filters from the network: linear-time regular expressions
  python3-yaml           # offline checks of the Kubernetes manifests
  python3-matplotlib     # tools/plot_benchmarks.py (docs/img) and its CI test
  dpkg-dev               # dpkg-shlibdeps: Depends: of the .deb (tools/build_deb.sh)
  systemd groff-base     # systemd-analyze verify of the unit; man page rendering
  chromium               # the browser test of the live cluster view (/ui/)
  dnsmasq-base           # a real DNS server for the --join=dns: test (no service)
  prometheus             # promtool check metrics on /metrics (chaos/real:metrics_test)
  curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); else sudo=(); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
