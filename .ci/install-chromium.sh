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

source "$(dirname "$0")/apt.sh"

installed() {
  packages_installed "${packages[@]}" || return 1
  command -v chromium >/dev/null
}

if installed; then
  echo "install-chromium: $(dpkg-query -W -f='${Package} ${Version}' chromium) already installed"
  exit 0
fi

start=$SECONDS
apt_install_quietly install-chromium "${packages[@]}"

installed || { echo "install-chromium: chromium missing after the install" >&2; exit 1; }
echo "install-chromium: $(dpkg-query -W -f='${Package} ${Version}' chromium) installed in $((SECONDS - start))s"
