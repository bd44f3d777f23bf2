# Sourced by scripts/run, scripts/test and scripts/bench: installs the Debian
# packages hostca needs, and only those that are missing (fast when all are
# there). Needs root or sudo for apt-get on a fresh machine.

HOSTCA_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libssl-dev openssl
  libcpp-httplib-dev liblmdb-dev lmdb-utils libspdlog-dev catch2 libbotan-2-dev botan
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libgoogle-perftools-dev
  gnutls-bin libnss3-tools curl jq systemd
)

hostca_install_deps() {
  local missing=()
  for p in "${HOSTCA_PACKAGES[@]}" "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures and builds into $1 with the remaining arguments passed to cmake.
hostca_build() {
  local dir="$1"
  shift
  cmake -S "$HOSTCA_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  echo "building in $dir (log: $dir/build.log)" >&2
  if ! cmake --build "$dir" -- -j"$(nproc)" >"$dir/build.log" 2>&1; then
    grep -E "error|FAILED" "$dir/build.log" | head -40 >&2
    tail -20 "$dir/build.log" >&2
    return 1
  fi
}
