#!/usr/bin/env bash
# Print the path of a Python interpreter of the wanted minor version ("3.10") or a minimum ("3.11+").
# Looks on PATH, then in pyenv, then asks uv; otherwise explains how to install one and fails.
set -euo pipefail
want="${1:?usage: find-python.sh 3.10|3.11+}"

matches() {  # $1 = interpreter; true if it fits $want
  local v
  v=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
  if [[ "$want" == *+ ]]; then
    [[ "$(printf '%s\n%s\n' "${want%+}" "$v" | sort -V | head -n1)" == "${want%+}" ]]
  else
    [[ "$v" == "$want" ]]
  fi
}

candidates=()
if [[ "$want" == *+ ]]; then
  candidates+=(python3 python3.13 python3.12 python3.11)
else
  candidates+=("python$want")
fi
for name in "${candidates[@]}"; do
  if path=$(command -v "$name" 2>/dev/null) && matches "$path"; then echo "$path"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for path in $(ls -d "$root"/versions/${want%+}*/bin/python3 2>/dev/null | sort -rV); do
    if matches "$path"; then echo "$path"; exit 0; fi
  done
fi
if command -v uv >/dev/null 2>&1 && path=$(uv python find "${want%+}" 2>/dev/null) && matches "$path"; then
  echo "$path"; exit 0
fi
cat >&2 <<MSG
error: no Python $want found (looked on PATH, in pyenv and with uv).
Install one, for example:  pyenv install ${want%+}   or   uv python install ${want%+}
or on Debian/Ubuntu:       apt-get install python${want%+} python${want%+}-venv
MSG
exit 1
