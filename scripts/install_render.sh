#!/usr/bin/env bash
# The system libraries MiniWorld's headless rendering loads (pyglet draws through EGL, with Mesa's software renderer
# where there is no GPU; GLU, FreeType and a font for its labels): installed with apt-get where one is missing.
# Never fails the caller: where they cannot be installed, one line says what to install.
set -uo pipefail
PACKAGES="libegl1 libgl1 libgl1-mesa-dri libglu1-mesa libfreetype6 libfontconfig1 fonts-dejavu-core"
if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "install_render.sh: not a Debian/Ubuntu system; MiniWorld needs EGL, Mesa, GLU, FreeType and fontconfig" \
         "from your system's packages" >&2
    exit 0
fi
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" != 0 ] && sudo="sudo -n"
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends $missing; } >/dev/null 2>&1; then
    echo "install_render.sh: could not install$missing; MiniWorld cannot render without them: run" \
         "sudo apt-get install$missing" >&2
fi
exit 0
