#!/usr/bin/env bash
# Adds every public symbol the build reports as undeclared (RS0016) to the package's PublicAPI.Unshipped.txt,
# and drops lines the build reports as no longer existing (RS0017), so an intended API change is one command
# plus a review of the diff. (dotnet format cannot apply RS0016's fix: it edits an additional file.)
# Usage: eng/update-public-api.sh [project.csproj ...]   (default: every packable project under src/)
set -euo pipefail
cd "$(dirname "$0")/.."
projects=("$@")
if [ ${#projects[@]} -eq 0 ]; then
  # Shortest path first: the core package builds before the packages that reference it.
  mapfile -t projects < <(grep -l '<IsPackable>true</IsPackable>' src/*/*.csproj | awk '{ print length, $0 }' | sort -n | cut -d' ' -f2-)
fi
for project in "${projects[@]}"; do
  dir=$(dirname "$project")
  unshipped="$dir/PublicAPI.Unshipped.txt"
  [ -f "$dir/PublicAPI.Shipped.txt" ] || printf '#nullable enable\n' > "$dir/PublicAPI.Shipped.txt"
  [ -f "$unshipped" ] || printf '#nullable enable\n' > "$unshipped"
  log=$(dotnet build "$project" -c Release --no-incremental 2>&1 || true)
  added=$(grep -F "$dir/" <<<"$log" | grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" | sort -u || true)
  removed=$(grep -F "$dir/" <<<"$log" | grep -oP "error RS0017: Symbol '\K.*(?=' is part of the declared API, but is either not public or could not be found)" | sort -u || true)
  { tail -n +2 "$unshipped"; [ -z "$added" ] || printf '%s\n' "$added"; } | grep -v '^$' \
    | { if [ -n "$removed" ]; then grep -vxF -f <(printf '%s\n' "$removed"); else cat; fi; } \
    | LC_ALL=C sort -u > "$unshipped.tmp" || true
  { printf '#nullable enable\n'; cat "$unshipped.tmp"; } > "$unshipped"
  rm -f "$unshipped.tmp"
  echo "$project: $(grep -c . <<<"$added" || true) added, $(grep -c . <<<"$removed" || true) removed"
done
