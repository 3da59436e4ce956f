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

source "$(dirname "$0")/apt.sh"

installed() {
  packages_installed "${packages[@]}" || return 1
  [ -x "$imap_binary" ] && command -v doveconf >/dev/null
}

if installed; then
  echo "install-dovecot: $(dpkg-query -W -f='${Package} ${Version}' dovecot-imapd) already installed"
  exit 0
fi

start=$SECONDS
apt_install_quietly install-dovecot "${packages[@]}"

installed || { echo "install-dovecot: $imap_binary or doveconf missing after the install" >&2; exit 1; }
echo "install-dovecot: $(dpkg-query -W -f='${Package} ${Version}' dovecot-imapd) installed in $((SECONDS - start))s"
