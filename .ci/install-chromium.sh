#!/usr/bin/env bash
# Install Debian's Chromium for the HTML report's browser tests (tests/test_html_browser.py).
#
# The tests run `chromium --headless` themselves, with a profile in a temporary directory and every
# network feature switched off: no browser is downloaded (no Playwright or Puppeteer build), and no
# service is ever started. The packages are still installed with daemons kept from starting, as the
# other .ci/install-*.sh scripts do: a policy-rc.d that exits 101 (invoke-rc.d's "action forbidden")
# for the length of the install, then whatever was there before is put back. Safe to run again: an
# installed chromium is left alone.
#
#   .ci/install-chromium.sh           # as root, or as a user with sudo
#
# Installs chromium and chromium-driver (for whoever prefers WebDriver; the tests use neither Selenium
# nor the driver, only the browser), plus fonts-dejavu-core so that the screenshot has glyphs to show,
# with no recommended packages.
set -euo pipefail

packages=(chromium chromium-driver fonts-dejavu-core)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

installed() {
  local package
  for package in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = "installed" ] || return 1
  done
  command -v chromium >/dev/null
}

if installed; then
  echo "install-chromium: $(dpkg-query -W -f='${Package} ${Version}' chromium) already installed"
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

printf '#!/bin/sh\n# install-chromium.sh: keep daemons from starting while packages install\nexit 101\n' |
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

installed || { echo "install-chromium: chromium missing after the install" >&2; exit 1; }
echo "install-chromium: $(dpkg-query -W -f='${Package} ${Version}' chromium) installed in $((SECONDS - start))s"
