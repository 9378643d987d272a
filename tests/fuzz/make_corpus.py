#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py - write the seed corpora of the fuzz harnesses again:
tests/fuzz/corpus/{csv,idx,inflate}/, small valid and invalid inputs for each. The files are
committed; this records how they were made. Run from the repository root:
    python3 tests/fuzz/make_corpus.py
An input of fuzz_csv and fuzz_idx starts with one byte of options (see the harness)."""
import gzip, os, shutil, struct, zlib

root = "tests/fuzz/corpus"
data = "tutorials/data"


def write(kind, name, blob):
    os.makedirs(os.path.join(root, kind), exist_ok=True)
    with open(os.path.join(root, kind, name), "wb") as f:
        f.write(blob)


def gz(blob, level=9):
    return gzip.compress(blob, compresslevel=level, mtime=0)


shutil.rmtree(root, ignore_errors=True)

# CSV: option bits 0 no_header, 1 drop_missing, 2 classes, 3 target, 4 columns, 5 ';'
penguins = open(os.path.join(data, "penguins.csv"), "rb").read().split(b"\n")
head = b"\n".join(penguins[:12]) + b"\n"
digits = b"\n".join(open(os.path.join(data, "digits.csv"), "rb").read().split(b"\n")[:4]) + b"\n"
csv = {
    "penguins_classes_drop": (2 | 4 | 8 | 16, head),
    "penguins_na_error": (4 | 8 | 16, head),
    "penguins_number_target": (2 | 8 | 16, head),
    "penguins_all": (0, head),
    "penguins_gzip": (2 | 4 | 8 | 16, gz(head)),
    "digits_no_header": (1 | 8, digits),
    "digits_classes": (1 | 4 | 8 | 16, digits),
    "quotes_crlf": (0, b'\xef\xbb\xbfa,"b ""x""",c\r\n1,"2",3\r\n"4",5,"6"\r\n\r\n7,8,9'),
    "quoted_newline": (8 | 4 | 16 | 1, b'x,1,2\n"a\nb",3,4\n"c""d",5,6\n'),
    "semicolon": (32 | 2, b"a;b\n1;2\n;3\nNA;4\n5;N/A\n"),
    "species_text": (4 | 8, b"species,v\nGentoo,1\nAdelie,2\n\"Chin, strap\",3\n10,4\n9,5\n"),
    "numbers": (0, b"a,b\n1e3,-2.5\n  7 ,0x10\ninf,nan\n1e999,3\n"),
    "bad_quote": (0, b'a,b\n1,"2"x\n'),
    "open_quote": (0, b'a,b\n1,"2\n3,4\n'),
    "fields": (0, b"a,b,c\n1,2\n3,4,5,6\n"),
    "empty": (0, b""),
    "zero_byte": (0, b"a,b\n1,\x002\n"),
}
for name, (mode, text) in csv.items():
    write("csv", name, bytes([mode]) + text)

# IDX: option bits 0 scale, 1 channel
def idx(dims, items, typ=8):
    return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + items

images = open(os.path.join(data, "fashion-test-images-idx3-ubyte"), "rb").read()
labels = open(os.path.join(data, "fashion-test-labels-idx1-ubyte"), "rb").read()
img2 = idx([2, 28, 28], images[16:16 + 2 * 784])
lab5 = idx([5], labels[8:13])
tiny = idx([2, 2, 3], bytes(range(12)))
ids = {
    "images2": (1, img2),
    "images2_channel": (3, img2),
    "labels5": (0, lab5),
    "tiny": (0, tiny),
    "images2_gzip": (1, gz(img2)),
    "labels5_gzip1": (0, gz(lab5, 1)),
    "tiny_stored": (2, gz(tiny, 0)),
    "two_members": (0, gz(tiny[:9]) + gz(tiny[9:])),
    "truncated": (0, tiny[:-1]),
    "extra_byte": (0, tiny + b"\0"),
    "bad_magic": (0, b"\x01" + tiny[1:]),
    "float32": (0, idx([2], b"\0" * 8, typ=0x0D)),
    "dims0": (0, bytes([0, 0, 8, 0])),
    "dims7": (0, idx([1] * 7, b"\0")),
    "huge": (0, idx([0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF], b"")),
    "gzip_cut": (0, gz(tiny)[:-5]),
}
for name, (mode, blob) in ids.items():
    write("idx", name, bytes([mode]) + blob)

# inflate: raw deflate streams (no header)
def raw(blob, level=9, **kw):
    z = zlib.compressobj(level, zlib.DEFLATED, -15, **kw)
    return z.compress(blob) + z.flush()

austen = open(os.path.join(data, "austen-pride-and-prejudice.txt"), "rb").read()[:3000]
inflate = {
    "text9": raw(austen),
    "text1": raw(austen, 1),
    "stored": raw(austen[:500], 0),
    "fixed": raw(austen[:800], 9, strategy=zlib.Z_FIXED),
    "small_blocks": raw(austen[:1500], 9, memLevel=1),
    "rle": raw(b"ab" * 400, 9, strategy=zlib.Z_RLE),
    "empty": raw(b""),
    "pixels": raw(images[16:16 + 784]),
    "cut": raw(austen)[:200],
    "type3": b"\x07",
}
for name, blob in inflate.items():
    write("inflate", name, blob)
for kind in ("csv", "idx", "inflate"):
    print(kind, len(os.listdir(os.path.join(root, kind))), "seeds")
