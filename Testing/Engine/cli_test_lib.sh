# cli_test_lib.sh: what the medgen command-line tests (test_medgen_*.sh) share; they source it after setting dir
# (their scratch folder). Failures print "FAIL: ..." and set failed=1; the tests exit with $failed.
# shellcheck shell=sh disable=SC2034,SC2154 # failed and got are for the test, dir is from it
failed=0
fail() { echo "FAIL: $*"; failed=1; }
check() { # check DESCRIPTION EXPECTED_STATUS COMMAND...: runs the command with its output in $dir/check.log
  what="$1"; want="$2"; shift 2
  "$@" >"$dir/check.log" 2>&1
  got=$?
  [ "$got" -eq "$want" ] || { fail "$what: exit $got, expected $want"; cat "$dir/check.log"; }
}
said() { # said PATTERN MESSAGE: fails with MESSAGE unless the last check's output matches PATTERN
  grep -q -- "$1" "$dir/check.log" || { fail "$2"; cat "$dir/check.log"; }
}
interrupt() { # interrupt PID LOG: Ctrl-C (SIGINT) to PID once LOG shows a training step (after 60 s at most), then
  # waits for it; got receives its exit status
  tries=0
  until grep -q "^step" "$2" || [ $tries -ge 600 ]; do sleep 0.1; tries=$((tries + 1)); done
  kill -INT "$1"
  wait "$1"
  got=$?
}
make_pngs() { # make_pngs DIR <<'PY' ... PY: runs the Python on stdin (Debian's python3, standard library only)
  # with png(path, rows) defined, which writes rows of 8-bit grey values as a PNG; sys.argv[1] is DIR
  { cat <<'PY'
import struct, sys, zlib
def png(path, rows):
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", len(rows[0]), len(rows), 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
    cat; } | /usr/bin/python3 - "$1"
}
