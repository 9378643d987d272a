#!/bin/sh
# tutorials/data/fetch.sh - make the tutorials' data files again from Debian 12 packages.
#
# Run it as root on Debian 12 (bookworm):   sh tutorials/data/fetch.sh
# It writes into the folder it lives in, whatever the current directory is.
#
# If every file is already there and matches SHA256SUMS, it changes nothing and installs nothing.
# Otherwise it installs the four packages below (apt-get, --no-install-recommends),
# writes every file again from them, and checks the result against SHA256SUMS.
# Running it twice gives the same files.  README.md says where each file comes from.
set -eu

PKGS="r-cran-palmerpenguins python3-sklearn dataset-fashion-mnist r-cran-janeaustenr"

# Fashion-MNIST subset: the first N_TRAIN of the 60,000 training images and the first
# N_TEST of the 10,000 test images, in their original order, with their labels, gzipped
# (gzip -9 -n: no file name or time in the header, so the same input gives the same bytes).
N_TRAIN=5000
N_TEST=1000

# Jane Austen: Pride and Prejudice whole; of the five other novels, the first AUSTEN_LINES
# lines each (enough for tutorial 06's passages, and the folder stays small).
AUSTEN_LINES=5200

PENGUINS_SRC=/usr/lib/R/site-library/palmerpenguins/extdata/penguins.csv
DIGITS_SRC=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
FMNIST_DIR=/usr/share/datasets/fashion-mnist

DIR=$(cd "$(dirname "$0")" && pwd)
cd "$DIR"

if [ "${1:-}" != "--force" ] && [ -f SHA256SUMS ] && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1; then
    echo "fetch.sh: all data files in $DIR are present and match SHA256SUMS; nothing to do."
    echo "          (sh fetch.sh --force writes them again from the packages.)"
    exit 0
fi

# --- 1. the Debian packages --------------------------------------------------------------
missing=""
for p in $PKGS; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "fetch.sh: these Debian packages are missing:$missing" >&2
        echo "          run this script as root (sudo sh $0), or install them first:" >&2
        echo "          apt-get install --no-install-recommends$missing" >&2
        exit 1
    fi
    echo "fetch.sh: installing$missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

# Each file is written under a temporary name, then renamed, so that a run that is
# stopped half-way leaves no half-written file under a real name.
TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM

# --- 2. penguins.csv: the 344-row 'penguins' table, byte for byte as the package ships it --
cp "$PENGUINS_SRC" "$TMP/penguins.csv"

# --- 3. digits.csv: scikit-learn's digits (1797 rows), decompressed, otherwise unchanged ----
gzip -dc "$DIGITS_SRC" > "$TMP/digits.csv"

# --- 4. Fashion-MNIST subsets as IDX files, gzipped as the originals are --------------------
/usr/bin/python3 - "$FMNIST_DIR" "$TMP" "$N_TRAIN" "$N_TEST" <<'EOF'
import gzip, struct, sys
src, out, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def subset(name_in, name_out, n):
    with gzip.open(f"{src}/{name_in}", "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):       # 0x08 = unsigned byte
        sys.exit(f"{name_in}: unexpected IDX magic {magic:#010x}")
    dims = struct.unpack(f">{ndim - 1}I", data[8:4 + 4 * ndim])
    head = 4 + 4 * ndim
    item = 1
    for d in dims:
        item *= d
    if len(data) != head + count * item or n > count:
        sys.exit(f"{name_in}: size does not match its header, or fewer than {n} items")
    with open(f"{out}/{name_out}", "wb") as f:
        f.write(struct.pack(">II", magic, n))                 # same magic, count = n
        f.write(struct.pack(f">{ndim - 1}I", *dims))          # rows, cols unchanged
        f.write(data[head:head + n * item])                   # the first n items

subset("train-images-idx3-ubyte.gz", "fashion-train-images-idx3-ubyte", n_train)
subset("train-labels-idx1-ubyte.gz", "fashion-train-labels-idx1-ubyte", n_train)
subset("t10k-images-idx3-ubyte.gz",  "fashion-test-images-idx3-ubyte",  n_test)
subset("t10k-labels-idx1-ubyte.gz",  "fashion-test-labels-idx1-ubyte",  n_test)
EOF
for f in fashion-train-images-idx3-ubyte fashion-train-labels-idx1-ubyte \
         fashion-test-images-idx3-ubyte fashion-test-labels-idx1-ubyte; do
    gzip -n -9 "$TMP/$f"                  # replaces $f by $f.gz
done

# --- 5. austen-pride-and-prejudice.txt: janeaustenr's 'prideprejudice', one element a line ---
Rscript --vanilla -e 'writeLines(janeaustenr::prideprejudice, commandArgs(TRUE)[1], sep = "\n", useBytes = TRUE)' \
    "$TMP/austen-pride-and-prejudice.txt"

# --- 6. the five other novels of janeaustenr: the first AUSTEN_LINES lines of each ---------
# (one element of the package's character vector a line, as in 5; tutorial 06 takes 1,200
# passages of 40 words from each novel, and 5,200 lines hold a few more than that)
Rscript --vanilla -e '
    a <- commandArgs(TRUE); n <- as.integer(a[1]); dir <- a[2]
    w <- function(x, f) writeLines(head(x, n), file.path(dir, f), sep = "\n", useBytes = TRUE)
    w(janeaustenr::sensesensibility, "austen-sense-and-sensibility.txt")
    w(janeaustenr::mansfieldpark,    "austen-mansfield-park.txt")
    w(janeaustenr::emma,             "austen-emma.txt")
    w(janeaustenr::northangerabbey,  "austen-northanger-abbey.txt")
    w(janeaustenr::persuasion,       "austen-persuasion.txt")' "$AUSTEN_LINES" "$TMP"

# --- 7. put them in place and check them ---------------------------------------------------
for f in penguins.csv digits.csv \
         fashion-train-images-idx3-ubyte.gz fashion-train-labels-idx1-ubyte.gz \
         fashion-test-images-idx3-ubyte.gz fashion-test-labels-idx1-ubyte.gz \
         austen-pride-and-prejudice.txt austen-sense-and-sensibility.txt \
         austen-mansfield-park.txt austen-emma.txt austen-northanger-abbey.txt \
         austen-persuasion.txt; do
    chmod 644 "$TMP/$f"
    mv -f "$TMP/$f" "$DIR/$f"
done

if [ -f SHA256SUMS ]; then
    if sha256sum -c SHA256SUMS; then
        echo "fetch.sh: done; every file matches SHA256SUMS."
    else
        echo "fetch.sh: some files differ from SHA256SUMS (another package version?)." >&2
        exit 1
    fi
else
    sha256sum penguins.csv digits.csv fashion-*-ubyte.gz austen-*.txt
fi
