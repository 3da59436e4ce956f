#!/usr/bin/env bash
# Install Request Tracker 5 from Debian for serviceflow-rt's integration tests (plugins/serviceflow-rt).
#
# Installs request-tracker5, rt5-db-sqlite and rt5-standalone with --no-install-recommends (about 260
# packages, most of them Perl libraries). No daemon is started: a policy-rc.d that exits 101 is in
# place during the install and removed afterwards (the MTA that RT depends on, exim4, stays stopped;
# the tests capture mail with a fake sendmail). The debconf answers are preseeded so nothing prompts.
# The tests never use the instance the package sets up: each run starts its own throwaway server
# (plugins/serviceflow-rt/tests/rt_instance.py) with its own SQLite database and site config.
#
# Idempotent: when the three packages are installed it says so and exits at once.
# Needs root (or sudo) and the Debian package registry; reads nothing else from the network.
set -euo pipefail

PACKAGES=(request-tracker5 rt5-db-sqlite rt5-standalone)
RT_SERVER=/usr/share/request-tracker5/libexec/rt-server
POLICY_RC=/usr/sbin/policy-rc.d

installed() {
  local package
  for package in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] || return 1
  done
  [ -x "$RT_SERVER" ]
}

if installed; then
  echo "install-rt: ${PACKAGES[*]} already installed ($(dpkg-query -W -f='${Version}' request-tracker5))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo --preserve-env=DEBIAN_FRONTEND "$0" "$@"
  fi
  echo "install-rt: must run as root (or with sudo available) to install ${PACKAGES[*]}" >&2
  exit 2
fi

export DEBIAN_FRONTEND=noninteractive
started=$(date +%s%N)

# Keep daemons from starting during the install; put back whatever policy-rc.d was there before.
saved_policy=""
if [ -e "$POLICY_RC" ]; then
  saved_policy=$(mktemp)
  cp -p "$POLICY_RC" "$saved_policy"
fi
restore_policy() {
  if [ -n "$saved_policy" ]; then
    mv -f "$saved_policy" "$POLICY_RC"
  else
    rm -f "$POLICY_RC"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# install-rt.sh: no daemon starts while Request Tracker is installed\nexit 101\n' > "$POLICY_RC"
chmod 755 "$POLICY_RC"

apt-get update -qq

# Without these, noninteractive mode still works (it picks sqlite3 when it is the only database
# package), but the instance it sets up would have the root password "password" and WebPath /rt.
debconf-set-selections <<'PRESEED'
request-tracker5 request-tracker5/rtname string rt.test.local
request-tracker5 request-tracker5/organization string test.local
request-tracker5 request-tracker5/correspondaddress string rt@test.local
request-tracker5 request-tracker5/commentaddress string rt-comment@test.local
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1:8080
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/initial-root-password password rt-test-pass
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
PRESEED

apt_log=$(mktemp)
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${PACKAGES[@]}" > "$apt_log" 2>&1 || { tail -n 40 "$apt_log" >&2; exit 1; }
rm -f "$apt_log"

installed || { echo "install-rt: apt-get succeeded but $RT_SERVER is missing" >&2; exit 1; }
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
printf 'install-rt: installed %s %s in %d.%d s\n' "${PACKAGES[*]}" \
  "$(dpkg-query -W -f='${Version}' request-tracker5)" $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))
