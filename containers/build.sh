#!/usr/bin/env bash
# Build the sealion images from the committed tree, tag them with the git commit, and convert each to an enroot
# squashfs on shared storage where conf/cluster/slurm.yaml's `containers:` expects it:
#   $SEALION_IMAGES/sealion-<name>.sqsh   (default SEALION_IMAGES=/shared/images)
# Every version comes from containers/versions.env. Needs docker (with a daemon) and enroot on the build host.
set -euo pipefail

usage() {
  cat <<USAGE
usage: containers/build.sh [--dry-run] [cpu|train|rl|eval ...]   (default: all four)
  --dry-run   print the commands instead of running them
  env: SEALION_IMAGES (squashfs directory, default /shared/images)
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
dry_run=0
names=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    cpu|train|rl|eval) names+=("$arg") ;;
    *) echo "build.sh: unknown image or option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
[ "${#names[@]}" -gt 0 ] || names=(cpu train rl eval)

run() {
  if [ "$dry_run" = 1 ]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

build_args=()
while IFS='=' read -r key value; do
  build_args+=(--build-arg "$key=$value")
done < <(grep -E '^[A-Z][A-Z0-9_]*=' "$here/versions.env")

commit="$(git -C "$repo" rev-parse --short=12 HEAD)"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "build.sh: note: uncommitted changes are not in the images (they are built from HEAD $commit)" >&2
fi
images="${SEALION_IMAGES:-/shared/images}"
run mkdir -p "$images"
# Python one-liner that lists every installed distribution: recorded next to each squashfs.
list_versions='import importlib.metadata as m; print("\n".join(sorted(f"{d.name}=={d.version}" for d in m.distributions())))'

for name in "${names[@]}"; do
  tag="sealion-$name:$commit"
  context="$(mktemp)"
  # The build context is the committed tree at HEAD (git archive): the image matches its tag exactly.
  run git -C "$repo" archive --format=tar -o "$context" HEAD
  run docker build -f "containers/$name.Dockerfile" "${build_args[@]}" --build-arg "GIT_COMMIT=$commit" \
    -t "$tag" -t "sealion-$name:latest" - < "$context"
  rm -f "$context"
  sqsh="$images/sealion-$name.sqsh"
  # Import to a temporary name and rename, so running jobs never see a half-written squashfs.
  run rm -f "$sqsh.tmp"
  run enroot import --output "$sqsh.tmp" "dockerd://$tag"
  run mv -f "$sqsh.tmp" "$sqsh"
  if [ "$dry_run" = 1 ]; then
    run docker run --rm --entrypoint python "$tag" -c "$list_versions"
  else
    {
      echo "# $tag"
      docker run --rm --entrypoint env "$tag" | grep -E '^(SEALION_GIT_COMMIT|NEMO_RL_COMMIT|NVIDIA_BUILD_ID)=' || true
      docker run --rm --entrypoint python "$tag" -c "$list_versions"
    } > "$images/sealion-$name.versions.txt"
  fi
  echo "built $tag -> $sqsh"
done
