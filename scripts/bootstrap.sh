#!/usr/bin/env bash
# Installs what BillPort needs on a Debian 12 machine, only what is missing:
# Debian packages (WeasyPrint's libraries, fonts, PostgreSQL 15 server, Java, Maven, and
# Chromium for the browser tests, driven by Playwright: no browser is ever downloaded),
# then a virtual environment in .venv with the pinned Python packages, and node_modules with
# the npm packages the browser tests load into Chromium (axe-core; pinned in package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
      postgresql-15 maven openjdk-17-jre-headless chromium npm)

missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Java and Maven may come from elsewhere than Debian: present on PATH is enough.
filtered=()
for pkg in "${missing[@]}"; do
  case "$pkg" in
    maven) command -v mvn >/dev/null || filtered+=("$pkg") ;;
    openjdk-17-jre-headless) command -v java >/dev/null || filtered+=("$pkg") ;;
    npm) command -v npm >/dev/null || filtered+=("$pkg") ;;  # Node.js from elsewhere brings npm
    *) filtered+=("$pkg") ;;
  esac
done
if [ ${#filtered[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${filtered[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q "${filtered[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q "${filtered[@]}" >/dev/null
  }
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# npm ci installs exactly the lock; it is run again only when the lock changed since (its copy is
# kept in node_modules, which npm ci empties first).
if ! cmp -s package-lock.json node_modules/.billport-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.billport-lock
fi
touch .venv/.installed
echo "Environment ready (.venv)."
