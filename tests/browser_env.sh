#!/usr/bin/env bash
# Debian's Chromium, its WebDriver and fonts for every script the review app shows (tests/review/, through
# Selenium): DejaVu (Latin, Vietnamese), Loma (Thai), Padauk (Burmese), Khmer OS, Phetsarath (Lao), Lohit Tamil and
# WenQuanYi Micro Hei (Chinese); about 4.5 MB of fonts, ~6 s. Without them Chromium draws those scripts as boxes
# and tests/review/test_page.py fails. Installs them when root with apt-get; otherwise says so, and the
# browser tests skip with the reason. Run it before pytest and not beside another apt-get (slurm/local/start.sh):
# apt holds one lock.
set -euo pipefail
packages=(chromium chromium-driver fonts-dejavu-core fonts-tlwg-loma-otf fonts-sil-padauk fonts-khmeros fonts-lao
          fonts-lohit-taml fonts-wqy-microhei)
installed=$(dpkg-query -W -f='${Status}\n' "${packages[@]}" 2>/dev/null | grep -c "install ok installed" || true)
if [ "$installed" = "${#packages[@]}" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  echo "tests/browser_env.sh: not root with apt-get: the review app's browser tests will be skipped" \
       "(or fail on missing fonts: ${packages[*]})" >&2
fi
