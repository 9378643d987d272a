#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py - write the seed corpora of the fuzz harnesses again:
tests/fuzz/corpus/{csv,idx,inflate,safetensors}/, small valid and invalid inputs for each. The files are
committed; this records how they were made. Run from the repository root:
    python3 tests/fuzz/make_corpus.py
An input of fuzz_csv and fuzz_idx starts with one byte of options (see the harness)."""
import gzip, json, os, shutil, struct, zlib

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

images = gzip.open(os.path.join(data, "fashion-test-images-idx3-ubyte.gz")).read()
labels = gzip.open(os.path.join(data, "fashion-test-labels-idx1-ubyte.gz")).read()
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
# safetensors: whole files (fuzz_safetensors loads them into a [2], b [], c [2,3])
def st(tensors, meta=None, pad=True):
    """tensors: (name, dtype, shape, raw bytes); the header in their order."""
    header, blobs, off = {}, b"", 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blobs


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def raw_st(header, data=b""):
    return struct.pack("<Q", len(header)) + header + data


abc = [("a", "F32", [2], f32(1, -2)), ("b", "F32", [], f32(0.5)),
       ("c", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6))]
ckpt_meta = {"format": "minidl-checkpoint 1", "epoch": "1", "step": "2",
             "optimizer.kind": "Adam", "optimizer.steps": "2", "optimizer.groups": "1",
             "optimizer.group.0.params": "3"}
for k, v in (("lr", "0.01"), ("weight_decay", "0"), ("maximize", "0"), ("momentum", "0"),
             ("dampening", "0"), ("nesterov", "0"), ("lr_decay", "0"),
             ("initial_accumulator_value", "0"), ("alpha", "0.98999999999999999"),
             ("centered", "0"), ("beta1", "0.90000000000000002"),
             ("beta2", "0.999"), ("amsgrad", "0"), ("eps", "1e-08")):
    ckpt_meta["optimizer.group.0." + k] = v
ckpt_meta.update({"scheduler.kind": "StepLR", "scheduler.groups": "1", "scheduler.t": "1",
                  "scheduler.best": "inf", "scheduler.bad": "0", "scheduler.cooldown": "0",
                  "scheduler.base_lr.0": "0.01",
                  "rng.0": "853c49e6748fea9b da3e39cb94b95bdb 1 3fe0000000000000",
                  "data.rows": "4", "batches.batch_size": "2", "batches.shuffle": "1",
                  "batches.drop_last": "0", "batches.epoch": "1", "batches.batch": "1",
                  "batches.row": "2", "history.epochs": "1", "history.best_epoch": "0",
                  "history.stopped_early": "0", "history.metric_name": "accuracy"})
state = [("optimizer.state.%d.%s" % (i, k), "F32", shape, f32(*[0.25] * n))
         for i, (shape, n) in enumerate((([2], 2), ([], 1), ([2, 3], 6)))
         for k in ("exp_avg", "exp_avg_sq")]
state += [("optimizer.state.%d.step" % i, "F32", [], f32(2)) for i in range(3)]
ids = [("data.ids", "I32", [4], struct.pack("<4i", 2, 0, 3, 1))]
history = [("history." + k, "F64", [1], struct.pack("<d", 0.5))
           for k in ("loss", "metric", "val_loss", "val_metric", "lr", "seconds")]
safetensors = {
    "abc_f32": st(abc, {"epoch": "3", "note": "caf\u00e9"}),
    "abc_mixed": st([("a", "F16", [2], struct.pack("<2H", 0x3C00, 0x7C00)),
                     ("b", "I64", [], struct.pack("<q", 7)),
                     ("c", "BF16", [2, 3], struct.pack("<6H", 0x3F80, 0x0001, 0x7FC0, 0x8000,
                                                       0xFF80, 0x4049)),
                     ("d", "F8_E4M3", [4], bytes([0x38, 0x7E, 0x7F, 0x01])),
                     ("e", "F64", [1], struct.pack("<d", 1e300)),
                     ("f", "U8", [0], b""), ("g", "BOOL", [2], b"\x00\x02")]),
    "abc_mismatch": st([("a", "F32", [3], f32(1, 2, 3)), ("c", "F32", [6], f32(*range(6)))]),
    "ints": st([("i8", "I8", [2], b"\x80\x7f"), ("u16", "U16", [1], b"\xff\xff"),
                ("i32", "I32", [1], struct.pack("<i", -5)), ("u32", "U32", [1], b"\xff" * 4),
                ("u64", "U64", [1], b"\xff" * 8), ("f8", "F8_E5M2", [1], b"\x7b")]),
    "empty": st([], pad=False),
    "metadata_only": st([], {"k": "v", "\u00e9": "\ud83d\ude00"}),
    "checkpoint": st(abc + state + ids + history, ckpt_meta),
    "checkpoint_step0": st(abc + ids, dict({k: v for k, v in ckpt_meta.items()
                                            if not k.startswith("history.")},
                                           **{"optimizer.steps": "0", "scheduler.t": "0",
                                              "batches.row": "-1", "batches.batch": "0",
                                              "batches.epoch": "0"})),
    "escapes": raw_st(b'{ "\\u0061" : {"data_offsets":[0,8],"shape":[2],"dtype":"F32"} }  ',
                      f32(3, 4)),
    "truncated": st(abc)[:-3],
    "overlap": raw_st(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                      b'"b":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}', f32(1, 2)),
    "gap": raw_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32(1, 2)),
    "duplicate": raw_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                        b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32(1, 2)),
    "bad_utf8": raw_st(b'{"a\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1)),
    "deep": raw_st(b'{"a":' + b"[" * 64 + b"]" * 64 + b"}"),
    "bad_numbers": raw_st(b'{"a":{"dtype":"F32","shape":[01,-1,1.5,1e3],"data_offsets":[0,4]}}',
                          f32(1)),
    "huge_shape": raw_st(b'{"a":{"dtype":"F64","shape":[2147483647,2147483647,4],'
                         b'"data_offsets":[0,4]}}', f32(1)),
    "header_too_long": struct.pack("<Q", 200000000) + b"{}",
    "unknown_dtype": raw_st(b'{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', f32(1)),
    "surrogate": raw_st(b'{"\\ud800x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1)),
}
for name, blob in safetensors.items():
    write("safetensors", name, blob)
for kind in ("csv", "idx", "inflate", "safetensors"):
    print(kind, len(os.listdir(os.path.join(root, kind))), "seeds")
