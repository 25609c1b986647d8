#!/usr/bin/env bash
# Makes sure a Vulkan driver is present; installs Mesa's lavapipe (a Vulkan device on the
# CPU) when none is. Run by `make setup`, hence by `make test` and `make bench`.
set -euo pipefail
VK_DRIVER_FILES=${VK_DRIVER_FILES:-}
VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}

have_driver() {
    # grep reads the whole list (no -q): exiting at the first match would end ldconfig
    # with SIGPIPE, which pipefail turns into "no driver" now and then.
    ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null || return 1
    local f
    for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json \
        ${VK_DRIVER_FILES//:/ } ${VK_ICD_FILENAMES//:/ }; do
        [ -f "$f" ] && return 0
    done
    return 1
}

if have_driver; then
    exit 0
fi
echo "ensure-gpu: no Vulkan driver found; installing mesa-vulkan-drivers (lavapipe)" >&2
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "ensure-gpu: cannot install as non-root or without apt-get." >&2
    echo "  Install a GPU driver, or on Debian/Ubuntu: sudo apt-get install mesa-vulkan-drivers" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends mesa-vulkan-drivers libvulkan1
have_driver || { echo "ensure-gpu: mesa-vulkan-drivers installed but no Vulkan driver found" >&2; exit 1; }
