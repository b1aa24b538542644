#!/usr/bin/env bash
# Installs everything geolens needs on Debian/Ubuntu, then the npm dependencies. Safe to run again.
#   chromium             ships SwiftShader (a software WebGPU device) and runs the browser tests
#   libvulkan1           the Vulkan loader Dawn opens
#   mesa-vulkan-drivers  lavapipe, the faster software device, from Mesa >= 24 (on Debian 12 from
#                        bookworm-backports of the system's own mirror); skipped with a note if that fails
#   redis-server         the queue tests (BullMQ): .ci/run starts one on a loopback port, or each test its own
#   python3-torch/numpy/pil + libopenblas0-pthread
#                        regenerate the golden fixtures that are too big to commit (a few seconds)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(chromium libvulkan1 redis-server python3-torch python3-numpy python3-pil python3-regex libopenblas0-pthread)
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# lavapipe, Mesa's software Vulkan driver: the second (and faster) software device. Dawn refuses Mesa
# before 24 (Debian 12 ships 22.3); Debian's <codename>-backports suite carries a newer one, taken from
# the mirror the system's own apt sources already use. Without it geolens runs on SwiftShader alone.
backports_list=/etc/apt/sources.list.d/geolens-backports.list

mesa_at_least_24() { # a Debian version such as 25.0.7-2~bpo12+1 or 1:24.2.8-1
  local v=${1#*:}
  [[ ${v%%.*} =~ ^[0-9]+$ ]] && [ "${v%%.*}" -ge 24 ]
}

# The first URI (and its Signed-By key) of an enabled `deb` source for suite $1, from deb822
# *.sources files or one-line sources.list files under $2 (default /etc/apt).
debian_mirror() {
  local suite=$1 etc=${2:-/etc/apt} file
  for file in "$etc"/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" && uri != "") { print uri "|" key; found = 1; exit }
        types = ""; suites = ""; uri = ""; key = ""; enabled = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "signed-by:" { key = $2 }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { if (!found) flush() }
    ' "$file" | head -n1 | grep . && return 0
  done
  for file in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      $1 != "deb" { next }
      { key = ""; line = $0; sub(/^deb[[:space:]]+/, "", line) }
      line ~ /^\[/ { opts = substr(line, 2, index(line, "]") - 2); line = substr(line, index(line, "]") + 1)
                     if (match(opts, /signed-by=[^[:space:]]+/)) key = substr(opts, RSTART + 10, RLENGTH - 10) }
      { split(line, f, /[[:space:]]+/); n = (f[1] == "") ? 2 : 1; if (f[n + 1] == suite) { print f[n] "|" key; exit } }
    ' "$file" | head -n1 | grep . && return 0
  done
  return 1
}

# Whether some enabled apt source under $2 (default /etc/apt) already names suite $1 (ours from an
# earlier run, or the system's).
suite_configured() {
  local suite=$1 etc=${2:-/etc/apt}
  { cat "$etc"/sources.list "$etc"/sources.list.d/*.list 2>/dev/null || true; } | grep -qE "^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+${suite}([[:space:]]|$)" && return 0
  { cat "$etc"/sources.list.d/*.sources 2>/dev/null || true; } | grep -qiE "^[[:space:]]*suites:.*[[:space:]]${suite}([[:space:]]|$)"
}

install_lavapipe() {
  local installed candidate suite source mirror key
  installed=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  if [ -n "$installed" ] && mesa_at_least_24 "$installed"; then
    echo "lavapipe: mesa-vulkan-drivers $installed is installed (Mesa >= 24), nothing to do"
    return 0
  fi
  candidate=$(apt-cache policy mesa-vulkan-drivers 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && mesa_at_least_24 "$candidate"; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers >/dev/null || return 1
    echo "lavapipe: installed mesa-vulkan-drivers $candidate"
    return 0
  fi
  # shellcheck disable=SC1091
  . /etc/os-release
  if [ "${ID:-}" != debian ] || [ -z "${VERSION_CODENAME:-}" ]; then
    echo "lavapipe: this system's Mesa is ${installed:-${candidate:-absent}} (Dawn needs >= 24) and ${PRETTY_NAME:-this system} has no Debian backports to take a newer one from"
    return 1
  fi
  suite="$VERSION_CODENAME-backports"
  if suite_configured "$suite"; then
    echo "lavapipe: $suite is already among the apt sources"
  else
    source=$(debian_mirror "$VERSION_CODENAME") || { echo "lavapipe: no apt source for $VERSION_CODENAME found to take the $suite mirror from"; return 1; }
    mirror=${source%%|*}
    key=${source#*|}
    echo "deb ${key:+[signed-by=$key] }$mirror $suite main" | $sudo tee "$backports_list" >/dev/null || return 1
    echo "lavapipe: added $suite from $mirror ($backports_list)"
  fi
  $sudo apt-get update -qq || { echo "lavapipe: apt-get update failed"; return 1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t "$suite" mesa-vulkan-drivers >/dev/null || { echo "lavapipe: installing mesa-vulkan-drivers from $suite failed"; return 1; }
  installed=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  if ! mesa_at_least_24 "$installed"; then
    echo "lavapipe: $suite has mesa-vulkan-drivers ${installed:-none}, still older than Mesa 24"
    return 1
  fi
  echo "lavapipe: installed mesa-vulkan-drivers $installed from $suite"
}
install_lavapipe || echo "lavapipe: not installed; geolens and its tests run on SwiftShader alone (geolens info lists the adapters)"

# onnxruntime-node (peer benchmarks only) ships its CPU binary; its install script would fetch GPU builds.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
