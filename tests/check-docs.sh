#!/bin/sh
# Every public declaration is documented: doxygen (docs/Doxyfile, with
# WARN_IF_UNDOCUMENTED and EXTRACT_ALL=NO) must warn about nothing, and every
# public header must have a @file comment (without one doxygen skips its
# functions silently). Problems are listed per header. Run from the build
# directory, by make check.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
doxygen=${DOXYGEN:-doxygen}
command -v "$doxygen" >/dev/null || { echo "check-docs: doxygen not found" >&2; exit 77; }
[ -f docs/Doxyfile ] || { echo "check-docs: run from the build directory (no docs/Doxyfile)" >&2; exit 99; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

for h in "$src"/core/loom/*.h "$src"/core/loom/*.hpp "$src"/adapters/*/loom/*.h "$src"/adapters/*/loom/*.hpp; do
    [ -f "$h" ] || continue
    grep -q '@file' "$h" || {
        echo "check-docs: ${h#"$src"/}: no /** @file */ comment, so none of its declarations is checked:" \
            "convert its comments to Doxygen's /** */" >&2
        status=1
    }
done

# The same configuration, warnings to a file; XML instead of HTML (links are
# resolved, and warned about, only while an output is written).
{
    cat docs/Doxyfile
    echo "OUTPUT_DIRECTORY = $tmp"
    echo "GENERATE_HTML = NO"
    echo "GENERATE_XML = YES"
    echo "XML_PROGRAMLISTING = NO"
    echo "WARN_LOGFILE = $tmp/warnings"
} | "$doxygen" - >"$tmp/log" 2>&1 || {
    cat "$tmp/log" >&2
    echo "check-docs: doxygen failed" >&2
    exit 1
}
if [ -s "$tmp/warnings" ]; then
    # Warnings read "path:line: text"; one heading per header.
    sed "s|^$src/||" "$tmp/warnings" | sort -t: -k1,1 -k2,2n | awk -F: '
        $1 != file { file = $1; print "check-docs: " file ":" }
        { print "  " $0 }' >&2
    echo "check-docs: $(wc -l <"$tmp/warnings") doxygen warnings (document each declaration named above)" >&2
    status=1
fi
exit $status
