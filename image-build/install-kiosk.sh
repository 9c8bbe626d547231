#!/usr/bin/env bash
# Install the kiosk firmware on a Raspberry Pi OS (Bookworm, 64-bit) or Debian 12 system, as root.
# Used by the pi-gen stage below (inside the image's chroot) and for installing on a running Pi.
#
#   image-build/install-kiosk.sh [SOURCE_DIR]
#
# - Debian packages the kiosk needs (Tesseract with Vietnamese, poppler, SANE, fonts, SDL for Kivy),
#   and python3-picamera2 on the Pi (it brings the libcamera bindings that PyPI cannot).
# - A system user 'kiosk' (groups video, dialout, lp, input, render, scanner), /var/lib/kiosk (0700).
# - A virtual environment in /opt/kiosk/.venv with --system-site-packages (for picamera2/libcamera),
#   with the kiosk installed from SOURCE_DIR (default: this repository) and the 'pi' extra on aarch64.
# - /etc/kiosk/kiosk.toml (only when missing; production values are pushed by fleet management), and
#   the systemd units, enabled.
set -euo pipefail
SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PREFIX=/opt/kiosk

[ "$(id -u)" = 0 ] || { echo "install-kiosk: run as root" >&2; exit 1; }

PKGS=(python3 python3-venv python3-dev gcc pkg-config
      tesseract-ocr tesseract-ocr-vie poppler-utils ghostscript libsane1 libsane-dev sane-utils
      fonts-noto-core fonts-dejavu-core libgl1 libegl1 libmtdev1 libsdl2-2.0-0 libsdl2-image-2.0-0
      libsdl2-ttf-2.0-0 opensc)
if [ "$(uname -m)" = aarch64 ] && apt-cache show python3-picamera2 >/dev/null 2>&1; then
  PKGS+=(python3-picamera2)
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${PKGS[@]}"

id kiosk >/dev/null 2>&1 || useradd --system --home-dir /var/lib/kiosk --shell /usr/sbin/nologin kiosk
for g in video dialout lp input render scanner; do
  getent group "$g" >/dev/null && usermod -aG "$g" kiosk
done
install -d -m 0700 -o kiosk -g kiosk /var/lib/kiosk
install -d -m 0755 /etc/kiosk

mkdir -p "$PREFIX"
rsync -a --delete --exclude .git --exclude .venv --exclude var "$SRC"/ "$PREFIX"/src/ 2>/dev/null \
  || { rm -rf "$PREFIX/src"; cp -a "$SRC" "$PREFIX/src"; rm -rf "$PREFIX/src/.git" "$PREFIX/src/.venv"; }
[ -x "$PREFIX/.venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/.venv"
"$PREFIX/.venv/bin/python" -m pip install -q --upgrade pip
extra=""
[ "$(uname -m)" = aarch64 ] && extra="[pi]"
"$PREFIX/.venv/bin/python" -m pip install -q "$PREFIX/src$extra"

if [ ! -f /etc/kiosk/kiosk.toml ]; then
  install -m 0640 -g kiosk "$SRC/image-build/kiosk.toml.example" /etc/kiosk/kiosk.toml
fi
"$PREFIX/.venv/bin/kiosk" config check --config /etc/kiosk/kiosk.toml --data-dir /var/lib/kiosk >/dev/null

install -m 0644 "$SRC"/systemd/*.service /etc/systemd/system/
if command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload 2>/dev/null || true   # no running systemd inside an image chroot
  systemctl enable kiosk-ui.service kiosk-uplink.service
fi
echo "install-kiosk: installed in $PREFIX; edit /etc/kiosk/kiosk.toml, then reboot"
