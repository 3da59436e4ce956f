# Shared by the .ci/install-*.sh scripts (sourced, not run): install Debian packages with no daemon
# started and no question asked.
#
#   source "$(dirname "$0")/apt.sh"
#   packages_installed chromium fonts-dejavu-core    # true when every package is installed
#   apt_install_quietly install-chromium chromium fonts-dejavu-core
#
# While the packages install, a policy-rc.d that exits 101 (invoke-rc.d's "action forbidden") keeps
# their services from starting; whatever policy-rc.d was there before is put back afterwards. apt-get
# waits for another install's dpkg lock (CI installs several servers) instead of failing on it.

apt_sudo=""
if [ "$(id -u)" -ne 0 ]; then
  apt_sudo="sudo"
fi

packages_installed() {
  local package
  for package in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = "installed" ] || return 1
  done
}

apt_install_quietly() {
  local label=$1
  shift
  local policy=/usr/sbin/policy-rc.d saved=""
  if [ -e "$policy" ]; then
    saved="$(mktemp)"
    $apt_sudo cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\n# %s: keep daemons from starting while packages install\nexit 101\n' "$label" |
    $apt_sudo tee "$policy" >/dev/null
  $apt_sudo chmod 0755 "$policy"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
  if [ -n "$apt_sudo" ]; then
    apt=(sudo "${apt[@]}")
  fi
  local status=0
  {
    "${apt[@]}" update -qq &&
      "${apt[@]}" install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
  } || status=$?
  if [ -n "$saved" ]; then
    $apt_sudo cp -p "$saved" "$policy"
    rm -f "$saved"
  else
    $apt_sudo rm -f "$policy"
  fi
  return "$status"
}
