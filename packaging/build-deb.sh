#!/usr/bin/env bash
# make deb: build dist/proxlb_<version>_<arch>.deb with Debian's tooling (dpkg-buildpackage,
# debhelper, dh-virtualenv). `make deb-lint` runs lintian on it. The build happens in a copy of the checkout
# under build/deb/, so the tree stays clean and dpkg-buildpackage's ../ output lands there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dpkg-buildpackage >/dev/null || need+=(dpkg-dev)
command -v dh >/dev/null || need+=(debhelper)
command -v dh_virtualenv >/dev/null || need+=(dh-virtualenv)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
    echo "make deb: missing build tools; install them with: apt-get install ${need[*]}" >&2
    exit 1
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
deb_version=$(dpkg-parsechangelog -S Version)
if [[ "$version" != "$deb_version" ]]; then
    echo "make deb: pyproject.toml says $version but debian/changelog says $deb_version;" \
         "add a debian/changelog entry for $version (dch -v $version)" >&2
    exit 1
fi
arch=$(dpkg --print-architecture)
deb="proxlb_${version}_${arch}.deb"

work=build/deb
src="$work/proxlb-$version"
rm -rf "$work"
mkdir -p "$src" dist
# The files of the checkout (tracked and new, not ignored): no .venv, no build output.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [[ "$f" == .venv* ]] && continue          # virtualenvs (or links to them) of a worktree
        [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"
    done | tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=./.venv --exclude=./.venv-upstream --exclude=./build --exclude=./dist -cf - . | tar -xf - -C "$src"
fi

start=$SECONDS
# Each line stamped with the seconds since the start, so the slow steps show in the log.
(cd "$src" && dpkg-buildpackage --build=binary --no-sign) 2>&1 \
    | while IFS= read -r line; do printf '[%4d s] %s\n' "$((SECONDS - start))" "$line"; done
mv "$work/$deb" "dist/$deb"
echo "make deb: built dist/$deb ($(du -h "dist/$deb" | cut -f1)) in $((SECONDS - start)) s"

# lintian (about 3 of the 5-6 minutes) runs in `make deb-lint`, not here: packaging/deb-lint.sh.
