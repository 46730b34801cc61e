#!/usr/bin/env bash
# Debian's Chromium and its WebDriver for the review app's browser tests (tests/evals/review/test_app.py, through
# Selenium). Installs them when root with apt-get; otherwise says so, and those tests skip with the reason.
# Run it before pytest and not beside another apt-get (slurm/local/start.sh): apt holds one lock.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
else
  echo "tests/browser_env.sh: not root with apt-get: the review app's browser tests will be skipped" >&2
fi
