#!/usr/bin/env bash
# Build and run the real two-layer image without Docker, on a fresh Debian/Ubuntu machine (as root; CI runs it).
#
#   bash scripts/image-test.sh               # everything below, then removes what it built
#   KEEP_IMAGES=1 bash scripts/image-test.sh # keep the images (localhost/whisperx-worker{,-base}:image-test)
#
# 1. installs buildah + debootstrap and bootstraps a local Debian image (no registry is needed to pull from);
# 2. builds Dockerfile.base on it with MODEL_PROFILE=open (the token-free, air-gapped model set) and a canary
#    token passed as the BuildKit-style secret, then Dockerfile.app FROM it; prints build times and sizes;
# 3. runs the one app image in both modes with `buildah run`: APP_MODE=ui serves the page and /transcribe labels
#    pyannote's two-speaker sample correctly (checked by scripts/image_check.py inside a container of the image);
#    APP_MODE=api answers /ping and transcribes that sample as OpenAI's diarized_json for `curl -F`;
#    APP_MODE=runpod `--test_input` from test_input.json succeeds with no network at all (`unshare -n`); an
#    unknown APP_MODE exits non-zero with a clear message;
# 4. proves the canary is in no layer's files, no history entry, no config and no build log;
# 5. changes one line of core/ (in a copy of the build context), rebuilds the app image, and shows that the base
#    was reused and how many seconds the rebuild took.
# pip inside the build trusts this machine's CA bundle (bind-mounted for the build only, never copied into a
# layer), so it also works behind a TLS-inspecting proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)
tag=${WXW_IMAGE_TAG:-image-test}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
debian_image=localhost/wxw-debian:$suite-$tag
base_image=localhost/whisperx-worker-base:$tag
app_image=localhost/whisperx-worker:$tag
edited_image=localhost/whisperx-worker:$tag-edited
B=(buildah --storage-driver overlay)

elapsed() { echo $(($(date +%s) - started)); }
step() { printf '\n== %s  [%d s]\n' "$*" "$(elapsed)"; }
die() { printf 'image-test: FAIL %s\n' "$*" >&2; exit 1; }
summary=()
note() { summary+=("$(printf '%-34s %s' "$1" "$2")"); printf '   %s: %s\n' "$1" "$2"; }

if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "run as root (buildah builds as root here)"
  exec sudo --preserve-env=KEEP_IMAGES,WXW_IMAGE_TAG,DEBIAN_SUITE,DEBIAN_MIRROR bash "$0" "$@"
fi

# ---- 1. tools and the local Debian base image ------------------------------------------------------------------
step "installing buildah and debootstrap"
packages=(buildah debootstrap debian-archive-keyring python3 ca-certificates util-linux curl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
buildah --version

work=$(mktemp -d /var/tmp/wxw-image-test.XXXXXX)
containers=("wxw-$tag-debian" "wxw-$tag-server" "wxw-$tag-checker" "wxw-$tag-edited")  # ours, by name
for container in "${containers[@]}"; do "${B[@]}" rm "$container" >/dev/null 2>&1 || true; done  # an old run's
ui_pid=""
cleanup() {
  local status=$?
  [[ -n $ui_pid ]] && kill -- "-$ui_pid" 2>/dev/null || true
  for container in "${containers[@]}"; do "${B[@]}" rm "$container" >/dev/null 2>&1 || true; done
  if [[ ${KEEP_IMAGES:-0} == 1 ]]; then
    echo "kept: $app_image $base_image $edited_image $debian_image (remove with: buildah rmi ...)"
  else
    for image in "$edited_image" "$app_image" "$base_image" "$debian_image"; do
      "${B[@]}" rmi "$image" >/dev/null 2>&1 || true
    done
    local left
    left=$( ("${B[@]}" containers --format '{{.ContainerName}}'; "${B[@]}" images --format '{{.Name}}:{{.Tag}}') |
      grep -xF -e "${containers[0]}" -e "${containers[1]}" -e "${containers[2]}" -e "${containers[3]}" \
        -e "$edited_image" -e "$app_image" -e "$base_image" -e "$debian_image" || true)
    [[ -z $left ]] || { echo "image-test: FAIL left behind:" $left; status=1; }
  fi
  rm -rf "$work"
  printf '\nimage-test: %s in %d s\n' "$([[ $status == 0 ]] && echo passed || echo FAILED)" "$(elapsed)"
  exit "$status"
}
trap cleanup EXIT

step "bootstrapping a local $suite image (debootstrap --variant=minbase)"
t0=$(date +%s)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
debootstrap --variant=minbase --keyring="$keyring" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; die "debootstrap failed"; }
container=$("${B[@]}" from --name "wxw-$tag-debian" scratch)
cp -a "$work/rootfs/." "$("${B[@]}" mount "$container")/"
"${B[@]}" umount "$container" >/dev/null
"${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$container"
"${B[@]}" commit -q "$container" "$debian_image" >/dev/null
"${B[@]}" rm "$container" >/dev/null
rm -rf "$work/rootfs"
note "local $suite base image" "$(($(date +%s) - t0)) s"

# ---- 2. build both images ------------------------------------------------------------------------------------
canary="hf_canary$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$canary" >"$work/hf_token"
printf '[global]\ncert = /etc/host-ca.crt\n' >"$work/pip.conf"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
bud=(bud --isolation chroot --layers -v "$work/pip.conf:/etc/pip.conf:ro" -v "$ca_bundle:/etc/host-ca.crt:ro")

image_size() { "${B[@]}" images --format '{{.Size}}' "$1"; }
build() {  # build LOG CONTEXT ARGS...: timed; prints the log tail on failure
  local log=$1 context=$2
  shift 2
  local t0
  t0=$(date +%s)
  (cd "$context" && nice -n 10 "${B[@]}" "${bud[@]}" "$@" .) >"$log" 2>&1 || { tail -40 "$log"; die "build failed ($log)"; }
  built_s=$(($(date +%s) - t0))
}

step "building $base_image (MODEL_PROFILE=open, canary token as the hf_token secret)"
build "$work/base-build.log" "$repo" -f Dockerfile.base --build-arg "CUDA_IMAGE=$debian_image" \
  --build-arg MODEL_PROFILE=open --secret "id=hf_token,src=$work/hf_token" -t "$base_image"
note "base image build" "$built_s s, $(image_size "$base_image")"
grep "^models directory ready" "$work/base-build.log" || die "the builder step printed no summary"

step "building $app_image FROM the base"
build "$work/app-build.log" "$repo" -f Dockerfile.app --build-arg "BASE_IMAGE=$base_image" -t "$app_image"
diff_ids() { "${B[@]}" inspect --type image --format '{{range .OCIv1.RootFS.DiffIDs}}{{println .}}{{end}}' "$1"; }
layer_sizes() {  # sum of the uncompressed sizes of the given diff ids (from the storage's layer table)
  python3 - "$("${B[@]}" info --format '{{.store.GraphRoot}}')" "$@" <<'EOF'
import json, sys
layers = json.load(open(f"{sys.argv[1]}/overlay-layers/layers.json"))
sizes = {layer.get("diff-digest"): layer.get("diff-size", 0) for layer in layers}
print(sum(sizes.get(digest, 0) for digest in sys.argv[2:]))
EOF
}
mapfile -t base_layers < <(diff_ids "$base_image")
mapfile -t app_layers < <(diff_ids "$app_image")
own=("${app_layers[@]:${#base_layers[@]}}")
note "app image build" "$built_s s, $(image_size "$app_image") (its own ${#own[@]} layers: $(($(layer_sizes "${own[@]}") / 1024)) KB)"

# ---- 3. run both modes -------------------------------------------------------------------------------------
new_container() { "${B[@]}" from --name "wxw-$tag-$1" "$2" >/dev/null; echo "wxw-$tag-$1"; }
run=("${B[@]}" run --isolation chroot)
server=$(new_container server "$app_image")
checker=$(new_container checker "$app_image")
checks=(-v "$repo/scripts/image_check.py:/checks/image_check.py:ro")

step "APP_MODE=ui: the page and the /transcribe API (pyannote's two-speaker sample)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "${run[@]}" --env APP_MODE=ui --env GRADIO_SERVER_NAME=127.0.0.1 --env "GRADIO_SERVER_PORT=$port" \
  "$server" -- python app.py >"$work/ui.log" 2>&1 &
ui_pid=$!
t0=$(date +%s)
"${run[@]}" "${checks[@]}" "$checker" -- python -W ignore /checks/image_check.py ui "http://127.0.0.1:$port/" \
  2>"$work/ui-check.err" | tee "$work/ui-check.out" || { tail -30 "$work/ui.log" "$work/ui-check.err"; die "UI mode"; }
grep -q "^ok   /transcribe: speaker-labelled" "$work/ui-check.out" || { tail -30 "$work/ui.log"; die "UI mode"; }
kill -- "-$ui_pid"
wait "$ui_pid" 2>/dev/null || true
ui_pid=""
note "APP_MODE=ui" "page + /transcribe correct ($(($(date +%s) - t0)) s with start-up)"

step "APP_MODE=api: the OpenAI-compatible API (curl -F, diarized_json of the same sample)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "${run[@]}" --env APP_MODE=api --env GRADIO_SERVER_NAME=127.0.0.1 --env "PORT=$port" \
  "$server" -- python app.py >"$work/api.log" 2>&1 &
ui_pid=$!
t0=$(date +%s)
"${run[@]}" "$checker" -- python -c "import pathlib, sys, pyannote.audio as p; \
sys.stdout.buffer.write((pathlib.Path(p.__file__).parent / 'sample' / 'sample.wav').read_bytes())" >"$work/sample.wav"
until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping") == 200 ]]; do
  (($(date +%s) - t0 < 300)) || { tail -30 "$work/api.log"; die "APP_MODE=api: /ping never answered 200"; }
  sleep 2
done
curl -sS -F "file=@$work/sample.wav" -F model=whisper-1 -F response_format=diarized_json \
  "http://127.0.0.1:$port/v1/audio/transcriptions" >"$work/api.json" || { tail -30 "$work/api.log"; die "APP_MODE=api"; }
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); s = r["segments"]
assert r["task"] == "transcribe" and r["text"].strip() and {x["speaker"] for x in s} == {"A", "B"}, r' "$work/api.json" \
  || { cat "$work/api.json"; die "APP_MODE=api: diarized_json"; }
kill -- "-$ui_pid"
wait "$ui_pid" 2>/dev/null || true
ui_pid=""
note "APP_MODE=api" "/ping 200 + diarized_json with 2 speakers ($(($(date +%s) - t0)) s with start-up)"

step "APP_MODE=runpod --test_input \"\$(cat test_input.json)\", with no network (unshare -n)"
t0=$(date +%s)
unshare -n "${run[@]}" --env APP_MODE=runpod "$server" -- python app.py --test_input "$(cat test_input.json)" \
  >"$work/runpod.log" 2>&1 || { tail -30 "$work/runpod.log"; die "runpod --test_input exited non-zero"; }
"${run[@]}" "${checks[@]}" -v "$work/runpod.log:/checks/runpod.log:ro" "$checker" -- \
  python /checks/image_check.py runpod /checks/runpod.log || die "runpod mode"
note "APP_MODE=runpod --test_input" "completed offline ($(($(date +%s) - t0)) s with start-up)"
if grep -l "Could not load libtorchcodec" "$work/ui.log" "$work/runpod.log"; then
  die "torchcodec (pyannote's audio decoder) does not load in the image: see the logs above"
fi

step "an unknown APP_MODE"
status=0
unshare -n "${run[@]}" --env APP_MODE=nonsense "$server" -- python app.py >"$work/bad-mode.log" 2>&1 || status=$?
message=$(grep -o "APP_MODE='nonsense' is not valid; use one of: .*" "$work/bad-mode.log" || true)
[[ $status -ne 0 && -n $message ]] || { cat "$work/bad-mode.log"; die "unknown APP_MODE: exit $status"; }
note "APP_MODE=nonsense" "exit $status: $message"

# ---- 4. the canary token is nowhere ----------------------------------------------------------------------
step "searching every layer, the history and the config for the canary token"
grep -qF "$canary" "$work/hf_token" || die "the canary search itself is broken"
"${B[@]}" inspect --type image "$base_image" >"$work/base-inspect.json"
"${B[@]}" inspect --type image "$app_image" >"$work/app-inspect.json"
grep -c '"created_by"' "$work/app-inspect.json" >/dev/null || die "no history in the image metadata"
if grep -lF "$canary" "$work"/*-inspect.json "$work"/*-build.log; then die "the canary is in the metadata or logs above"; fi
graph_root=$("${B[@]}" info --format '{{.store.GraphRoot}}')
mapfile -t layer_dirs < <(python3 - "$graph_root" "${app_layers[@]}" <<'EOF'
import json, sys
layers = json.load(open(f"{sys.argv[1]}/overlay-layers/layers.json"))
ids = {layer.get("diff-digest"): layer["id"] for layer in layers}
for digest in sys.argv[2:]:
    print(f"{sys.argv[1]}/overlay/{ids[digest]}/diff")  # KeyError = a layer we cannot find: fail loudly
EOF
)
((${#layer_dirs[@]} == ${#app_layers[@]})) || die "could not map every layer to its files"
if grep -rlF --binary-files=text "$canary" "${layer_dirs[@]}"; then die "the canary is in the layer files above"; fi
scanned=$(du -scb "${layer_dirs[@]}" | tail -1 | cut -f1)
note "canary token" "absent: ${#layer_dirs[@]} layers ($((scanned / 1024 / 1024)) MB of files), history, config, build logs"

# ---- 5. a one-line code change rebuilds only the app ------------------------------------------------------
step "changing one line of core/ and rebuilding the app image"
context=$work/context
mkdir "$context"
# the whole build context as it is here (whatever Dockerfile.app copies), minus the heavy local folders
for entry in .dockerignore *; do
  case "$entry" in .venv | models | test-artifacts | node_modules) ;; *) cp -a "$entry" "$context/" ;; esac
done
line='    max_upload_mb: int = 1024'
grep -qxF "$line" "$context/core/settings.py" || die "core/settings.py no longer has the line this step edits: '$line'"
sed -i "s/^$line\$/    max_upload_mb: int = 1023/" "$context/core/settings.py"
base_id=$("${B[@]}" images --format '{{.ID}}' --no-trunc "$base_image")
build "$work/edited-build.log" "$context" -f Dockerfile.app --build-arg "BASE_IMAGE=$base_image" -t "$edited_image"
[[ $("${B[@]}" images --format '{{.ID}}' --no-trunc "$base_image") == "$base_id" ]] || die "the base image changed"
mapfile -t edited_layers < <(diff_ids "$edited_image")
[[ ${edited_layers[*]:0:${#base_layers[@]}} == "${base_layers[*]}" ]] || die "the rebuilt app does not sit on the base"
edited=$(new_container edited "$edited_image")
value=$("${run[@]}" "$edited" -- python -c 'from core.settings import Settings; print(Settings().max_upload_mb)')
[[ $value == 1023 ]] || die "the rebuilt image does not have the edited line (max_upload_mb=$value)"
note "app rebuild after a core/ edit" "$built_s s; base reused (same id, its ${#base_layers[@]} layers are the first \
${#base_layers[@]} of the new image), edit present"

printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
