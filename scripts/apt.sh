# Sourced by the install scripts: install Debian packages that are missing, with one
# `apt-get update` per run at most (a fresh machine's package lists may be empty or stale).
_apt_updated=0

# apt_install PACKAGE...: install the packages that are not installed yet.
apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$_apt_updated" -eq 0 ]; then
    apt-get update -q >/dev/null
    _apt_updated=1
  fi
  echo "apt-get install ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

# need_commands COMMAND:PACKAGE...: install PACKAGE where COMMAND is not on the PATH.
need_commands() {
  local packages=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || packages+=("${pair#*:}")
  done
  [ "${#packages[@]}" -eq 0 ] || apt_install "${packages[@]}"
}
