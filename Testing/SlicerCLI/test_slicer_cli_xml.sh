#!/bin/sh
# test_slicer_cli_xml.sh MEDGENTRAIN MEDGENSAMPLE SCRATCH_DIR: each Slicer CLI module answers --xml with a well-formed
# description (xmllint) that is complete and says what the program accepts (check_cli_xml.py: every field Slicer
# needs, every parameter's flag taken by the program, out-of-range values and unknown flags refused).
dir="$3"
# shellcheck source-path=SCRIPTDIR source=../Engine/cli_test_lib.sh
. "$(dirname "$0")/../Engine/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
for module in "$1" "$2"; do
  name=$(basename "$module")
  "$module" --xml >"$dir/$name.xml" || fail "$name --xml exits non-zero"
  head -c 5 "$dir/$name.xml" | grep -q '^<?xml' || fail "$name --xml does not start with <?xml"
  xmllint --noout "$dir/$name.xml" || fail "$name --xml is not well-formed XML"
  /usr/bin/python3 "$(dirname "$0")/check_cli_xml.py" "$module" "$dir/$name" || failed=1
done
exit $failed
