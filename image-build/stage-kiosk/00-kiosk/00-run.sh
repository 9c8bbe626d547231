#!/bin/bash -e
# pi-gen stage: copy the kiosk sources into the image and install them inside the chroot.
# ROOTFS_DIR and on_chroot come from pi-gen (https://github.com/RPi-Distro/pi-gen).
install -d "${ROOTFS_DIR}/tmp/kiosk-src"
cp -a "${KIOSK_SRC:?set KIOSK_SRC to the kiosk repository}/." "${ROOTFS_DIR}/tmp/kiosk-src/"
on_chroot << CHEOF
bash /tmp/kiosk-src/image-build/install-kiosk.sh /tmp/kiosk-src
rm -rf /tmp/kiosk-src
CHEOF
