#!/usr/bin/env bash
# Install Dovecot's IMAP server from Debian for serviceflow-email's integration tests.
#
# The tests run Dovecot's `imap` binary over stdin/stdout (imaplib.IMAP4_stream), and for the TLS and
# login tests a `dovecot -F` of their own on 127.0.0.1, each with a configuration file in a temporary
# directory: the system's Dovecot service is never used. So the packages are installed with their
# daemons kept from starting: a policy-rc.d that exits 101 (invoke-rc.d's "action forbidden") for the
# length of the install, then whatever was there before is put back. Safe to run again: an installed
# dovecot-imapd is left alone.
#
#   .ci/install-dovecot.sh            # as root, or as a user with sudo
#
# Installs dovecot-imapd and what it depends on (dovecot-core), with no recommended packages.
set -euo pipefail

packages=(dovecot-imapd dovecot-core)
imap_binary=/usr/lib/dovecot/imap

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

installed() {
  local package
  for package in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = "installed" ] || return 1
  done
  [ -x "$imap_binary" ] && command -v doveconf >/dev/null
}

if installed; then
  echo "install-dovecot: $(dpkg-query -W -f='${Package} ${Version}' dovecot-imapd) already installed"
  exit 0
fi

start=$SECONDS
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
  saved="$(mktemp)"
  $sudo cp -p "$policy" "$saved"
fi

restore_policy() {
  if [ -n "$saved" ]; then
    $sudo cp -p "$saved" "$policy"
    rm -f "$saved"
  else
    $sudo rm -f "$policy"
  fi
}
trap restore_policy EXIT

printf '#!/bin/sh\n# install-dovecot.sh: keep daemons from starting while packages install\nexit 101\n' |
  $sudo tee "$policy" >/dev/null
$sudo chmod 0755 "$policy"

# No questions; and wait for another install (CI installs other servers too) instead of failing on
# dpkg's lock.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
if [ -n "$sudo" ]; then
  apt=(sudo "${apt[@]}")
fi
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}" >/dev/null

installed || { echo "install-dovecot: $imap_binary or doveconf missing after the install" >&2; exit 1; }
echo "install-dovecot: $(dpkg-query -W -f='${Package} ${Version}' dovecot-imapd) installed in $((SECONDS - start))s"
