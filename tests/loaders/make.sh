#!/bin/sh
# tests/loaders/make.sh - make the gzip fixtures of tests/test_loaders.c again, from the files in
# tutorials/data, with Debian's gzip and Python's gzip module (any Python 3). The outputs are
# committed; this records how they were made. Run from the repository root:
#     sh tests/loaders/make.sh
set -eu
D=tutorials/data
O=tests/loaders
# austen-60k: the first 60,000 bytes of the novel, a text that deflate splits into several
# blocks (zlib starts a new one about every 16,000 symbols)
head -c 60000 $D/austen-pride-and-prejudice.txt > $O/austen-60k.txt
for level in 1 6 9; do
    gzip -n -$level -c $O/austen-60k.txt > $O/austen-60k.gzip$level.gz
done
# gzip keeps the file name (FNAME) unless told -n
(cd $O && gzip -9 -c austen-60k.txt > austen-60k.fname.gz)
# Python: level 9 (with a file name and a modification time in the header), and level 0,
# which stores the text in stored blocks
python3 - <<'PY'
import gzip
src = "tests/loaders/austen-60k.txt"
data = open(src, "rb").read()
with open("tests/loaders/austen-60k.python9.gz", "wb") as raw:
    with gzip.GzipFile(filename="austen-60k.txt", mode="wb", compresslevel=9, fileobj=raw,
                       mtime=1700000000) as f:
        f.write(data)
with open("tests/loaders/austen-60k.python0.gz", "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", compresslevel=0, fileobj=raw, mtime=0) as f:
        f.write(data)
# zlib with the gzip wrapper (wbits 31): memLevel 1 ends a block every 128 symbols, so the
# file is hundreds of dynamic blocks; strategy Z_FIXED (4) uses the fixed codes only
import zlib
def deflate(name, **kw):
    z = zlib.compressobj(9, zlib.DEFLATED, 31, **kw)
    open("tests/loaders/" + name, "wb").write(z.compress(data) + z.flush())
deflate("austen-60k.zlib-mem1.gz", memLevel=1)
deflate("austen-60k.zlib-fixed.gz", strategy=zlib.Z_FIXED)
PY
rm $O/austen-60k.txt
# the first 100 Fashion-MNIST test images and labels, as raw IDX files, and the same gzipped
# as MNIST is distributed
{ printf '\000\000\010\003\000\000\000\144\000\000\000\034\000\000\000\034'
  gzip -dc $D/fashion-test-images-idx3-ubyte.gz | tail -c +17 | head -c 78400; } > $O/fashion-test-100-images-idx3-ubyte
{ printf '\000\000\010\001\000\000\000\144'
  gzip -dc $D/fashion-test-labels-idx1-ubyte.gz | tail -c +9 | head -c 100; } > $O/fashion-test-100-labels-idx1-ubyte
gzip -n -9 -c $O/fashion-test-100-images-idx3-ubyte > $O/fashion-test-100-images-idx3-ubyte.gz
gzip -n -9 -c $O/fashion-test-100-labels-idx1-ubyte > $O/fashion-test-100-labels-idx1-ubyte.gz
ls -l $O
