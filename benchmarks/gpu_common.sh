# Sourced by the prepared GPU runs (gpu_session.sh, gpu_profile.sh, gpu_study.sh) after
# they set OUT_DEFAULT: $OUT made, the carried wheels (.whl/) installed into /tmp/site, the
# repository on PYTHONPATH, and part FILE LIMIT_S COMMAND... (run COMMAND under its own time
# limit, append its output to $OUT/FILE, note a failure and go on).
set -u -o pipefail
OUT=${OUT:-$OUT_DEFAULT}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

part() {
  local file=$1 limit=$2
  shift 2
  echo "== $(date +%H:%M:%S) $*" >> "$OUT/$file"
  timeout "$limit" "$@" >> "$OUT/$file" 2>&1
  local rc=$?
  [ $rc = 0 ] || echo "!! exit $rc (124: over its ${limit} s)" >> "$OUT/$file"
  tail -n 12 "$OUT/$file"
}
