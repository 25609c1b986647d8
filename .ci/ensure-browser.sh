#!/usr/bin/env bash
# Makes sure headless Chromium (with its software WebGPU, SwiftShader) and ChromeDriver are
# here for tests/web.rs; installs Debian's packages when they are missing (root, apt-get).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "the browser tests need chromium and chromedriver: as root, apt-get install chromium chromium-driver" >&2
    exit 1
fi
echo "installing chromium and chromium-driver (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium chromium-driver
