/* tests/test_bytes.c - images kept as bytes: mdl_load_idx_bytes (plain, gzip, from memory) and
   the float batches mdl_bytes_batch makes of them. The bytes must be the file's items (read
   with od from the raw fixture, and the same values mdl_load_idx gives as floats), and every
   batch must equal, to the bit, mdl_index_select of the tensor mdl_load_idx makes with the same
   options: that is the promise a program relies on when it swaps one for the other. Then the
   malformed files of test_loaders, loaded as bytes (same checks, same messages naming the file
   and the byte), and the batch's contract errors. Data sets of bytes (mdl_dataset_new_bytes)
   are held to data sets of mdl_load_idx's floats: with the same seeds, every shuffled batch,
   subset, stratified split and checkpoint reorder gives the same rows and the same values to
   the bit. The sanitize and valgrind modes check that no failure leaks.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_bytes.c \
       -o build/test_bytes -lm   (run from the repository root)
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"
#define TEST_FILES_PREFIX "bytes_"
#include "test_files.h"

#include <stdlib.h>

#define DATA "tutorials/data/"
#define FIXTURES "tests/loaders/"

/* Do two tensors have the same shape and the same values, to the bit? */
static int same(const mdl_tensor *a, const mdl_tensor *b) {
    int d;
    if (!a || !b || a->ndim != b->ndim || a->numel != b->numel) return 0;
    for (d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return a->numel == 0 || memcmp(a->data, b->data, a->numel * sizeof(mdl_scalar)) == 0;
}

/* Bytes b against floats t of the same file loaded raw: same shape, each value the byte. */
static void check_same_items(const mdl_bytes *b, const mdl_tensor *t, const char *what) {
    size_t i, bad = 0;
    int d, shape_ok;
    CHECK(b && t, "%s: loaded", what);
    if (!b || !t) return;
    shape_ok = b->ndim == t->ndim && b->numel == t->numel;
    for (d = 0; shape_ok && d < b->ndim; d++) shape_ok = b->shape[d] == t->shape[d];
    CHECK(shape_ok, "%s: the shapes differ", what);
    if (!shape_ok) return;
    for (i = 0; i < b->numel; i++) bad += (mdl_scalar)b->data[i] != t->data[i];
    CHECK(bad == 0, "%s: %zu of %zu items differ from mdl_load_idx's", what, bad, b->numel);
}

/* ---- the Fashion-MNIST subset: bytes, and batches against mdl_load_idx's floats ---- */

static void test_fashion(void) {
    mdl_params *ps = mdl_params_new();
    mdl_arena *ar = mdl_arena_new(0);
    mdl_bytes *train = NULL, *labels = NULL, *test = NULL;
    mdl_tensor *raw = NULL, *t = NULL, *x4 = NULL, *x3 = NULL, *y = NULL, *a, *b;
    mdl_idx_opts o, plain, scale_only;
    mdl_error e;
    mdl_rng rng;
    int rows[300], n, k;

    memset(&o, 0, sizeof o);
    memset(&plain, 0, sizeof plain);
    memset(&scale_only, 0, sizeof scale_only);
    o.scale = o.channel = 1;
    scale_only.scale = 1;
    e = mdl_load_idx_bytes(DATA "fashion-train-images-idx3-ubyte.gz", NULL, &train);
    CHECK(e == MDL_OK && train && train->ndim == 3 && train->shape[0] == 5000 &&
          train->shape[1] == 28 && train->shape[2] == 28 && train->numel == 3920000,
          "train images as bytes: %s", mdl_last_error());
    e = mdl_load_idx_bytes(DATA "fashion-train-labels-idx1-ubyte.gz", &o, &labels);
    CHECK(e == MDL_OK && labels && labels->ndim == 1 && labels->shape[0] == 5000 &&
          labels->numel == 5000, "train labels as bytes: %s", mdl_last_error());
    e = mdl_load_idx_bytes(DATA "fashion-test-images-idx3-ubyte.gz", &o, &test);
    CHECK(e == MDL_OK && test && test->ndim == 3 && test->shape[0] == 1000,
          "test images as bytes (opts do not change the shape): %s", mdl_last_error());
    if (!train || !labels || !test) goto done;

    /* values read with od from the files (as test_loaders reads them): the first labels, row
       14 of the first image */
    {
        const unsigned char first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
        const unsigned char row14[6] = {0, 0, 1, 4, 6, 7};
        CHECK(memcmp(labels->data, first, 10) == 0, "the first ten labels");
        CHECK(memcmp(train->data + 14 * 28, row14, 6) == 0, "row 14 of image 0");
        CHECK(train->data[14 * 28 + 25] == 255, "a white pixel");
    }

    /* the same items as mdl_load_idx's floats, every one */
    e = mdl_load_idx(ps, "train.raw", DATA "fashion-train-images-idx3-ubyte.gz", NULL, &raw);
    check_same_items(train, raw, "train images");
    e = mdl_load_idx(ps, "train.y", DATA "fashion-train-labels-idx1-ubyte.gz", NULL, &y);
    check_same_items(labels, y, "train labels");
    e = mdl_load_idx(ps, "test.raw", DATA "fashion-test-images-idx3-ubyte.gz", NULL, &t);
    check_same_items(test, t, "test images");

    /* batches: rows at random (repeats allowed), the first and the last, against index_select
       of mdl_load_idx's tensor made with the same options */
    mdl_load_idx(ps, "train.x4", DATA "fashion-train-images-idx3-ubyte.gz", &o, &x4);
    mdl_load_idx(ps, "train.x3", DATA "fashion-train-images-idx3-ubyte.gz", &scale_only, &x3);
    CHECK(x4 && x3 && raw && y, "the float tensors loaded: %s", mdl_last_error());
    if (!x4 || !x3 || !raw || !y) goto done;
    mdl_rng_seed(&rng, 5);
    for (k = 0; k < 300; k++) rows[k] = (int)(mdl_rng_u32(&rng) % 5000);
    rows[0] = 0, rows[1] = 4999, rows[2] = 4999, rows[299] = 0;
    for (n = 1; n <= 300; n += 299 - 235) { /* 1, 65, 129, ... */
        a = mdl_bytes_batch(ar, train, n, rows, &o);
        b = mdl_index_select(ar, x4, 0, n, rows);
        CHECK(a && a->ndim == 4 && a->shape[0] == n && a->shape[1] == 1 && a->shape[2] == 28 &&
              same(a, b), "n = %d, scale and channel: equals mdl_load_idx's rows", n);
        a = mdl_bytes_batch(ar, train, n, rows, &scale_only);
        b = mdl_index_select(ar, x3, 0, n, rows);
        CHECK(a && a->ndim == 3 && same(a, b), "n = %d, scale only", n);
        a = mdl_bytes_batch(ar, train, n, rows, NULL);
        b = mdl_index_select(ar, raw, 0, n, rows);
        CHECK(a && a->ndim == 3 && same(a, b), "n = %d, raw values (opts NULL)", n);
        a = mdl_bytes_batch(ar, labels, n, rows, &o); /* labels are never scaled */
        b = mdl_index_select(ar, y, 0, n, rows);
        CHECK(a && a->ndim == 1 && same(a, b), "n = %d, labels with scale: class indices", n);
        CHECK(a && a->requires_grad == 0 && a->node == NULL, "a batch is a leaf, no gradient");
        mdl_arena_reset(ar);
    }
    /* by hand: image 0 row 14, pixel 25 is 255 -> exactly 1; 4 -> 4/255 in float */
    k = 0;
    a = mdl_bytes_batch(ar, train, 1, &k, &o);
    CHECK(a && a->data[14 * 28 + 25] == 1 && a->data[14 * 28 + 3] == (mdl_scalar)4 / 255 &&
          a->data[0] == 0, "scaled pixels: 255 -> 1, 4 -> 4/255");
    /* an empty batch */
    a = mdl_bytes_batch(ar, train, 0, NULL, &o);
    CHECK(a && a->ndim == 4 && a->shape[0] == 0 && a->numel == 0 && a->shape[3] == 28,
          "n = 0: an empty batch [0,1,28,28]");
    mdl_arena_reset(ar);
done:
    mdl_bytes_free(train);
    mdl_bytes_free(labels);
    mdl_bytes_free(test);
    mdl_arena_free(ar);
    mdl_params_free(ps);
}

/* ---- plain files and memory ---- */

static void test_plain_and_mem(void) {
    mdl_bytes *b = NULL, *g = NULL;
    unsigned char *f = NULL, *z = NULL, *fcopy, *zcopy;
    size_t n = 0, zn = 0;
    mdl_error e;
    mdl_idx_opts o;
    memset(&o, 0, sizeof o);

    /* the raw (uncompressed) fixture: its bytes after the 16-byte header */
    e = mdl_read_file(FIXTURES "fashion-test-100-images-idx3-ubyte", 0, &f, &n);
    CHECK(e == MDL_OK && n == 16 + 78400, "the raw fixture: %s", mdl_last_error());
    e = mdl_read_file(FIXTURES "fashion-test-100-images-idx3-ubyte.gz", 0, &z, &zn);
    CHECK(e == MDL_OK, "the gz fixture: %s", mdl_last_error());
    if (!f || !z || n != 16 + 78400) {
        mdl_free(f), mdl_free(z);
        return;
    }
    e = mdl_load_idx_bytes(FIXTURES "fashion-test-100-images-idx3-ubyte", NULL, &b);
    CHECK(e == MDL_OK && b && b->numel == 78400 && b->shape[0] == 100 &&
          memcmp(b->data, f + 16, 78400) == 0, "a raw IDX file gives its bytes: %s",
          mdl_last_error());
    mdl_bytes_free(b);
    e = mdl_load_idx_bytes(FIXTURES "fashion-test-100-images-idx3-ubyte.gz", NULL, &g);
    CHECK(e == MDL_OK && g && g->numel == 78400 && memcmp(g->data, f + 16, 78400) == 0,
          "a gzipped IDX file gives the raw file's bytes: %s", mdl_last_error());
    mdl_bytes_free(g);

    /* from memory, plain and gzip: the caller's data is read, not changed, not kept */
    fcopy = (unsigned char *)malloc(n);
    zcopy = (unsigned char *)malloc(zn);
    memcpy(fcopy, f, n);
    memcpy(zcopy, z, zn);
    b = g = NULL;
    e = mdl_load_idx_bytes_mem(f, n, "plain.idx", NULL, &b);
    CHECK(e == MDL_OK && b && b->numel == 78400 && b->data != f + 16 &&
          memcmp(b->data, fcopy + 16, 78400) == 0 && memcmp(f, fcopy, n) == 0,
          "plain IDX from memory: %s", mdl_last_error());
    e = mdl_load_idx_bytes_mem(z, zn, "gz.idx", NULL, &g);
    CHECK(e == MDL_OK && g && g->numel == 78400 && memcmp(g->data, fcopy + 16, 78400) == 0 &&
          memcmp(z, zcopy, zn) == 0, "gzipped IDX from memory: %s", mdl_last_error());
    mdl_bytes_free(b);
    mdl_bytes_free(g);
    /* their errors name the display name, or "idx" */
    z[zn - 8] ^= 1; /* the trailer's CRC-32 no longer fits the data */
    e = mdl_load_idx_bytes_mem(z, zn, "bad.gz", NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "gzip CRC from memory", "mdl_load_idx_bytes_mem: bad.gz: "
                "byte ", "CRC-32 mismatch", NULL);
    CHECK(b == NULL, "out is NULL on failure");
    e = mdl_load_idx_bytes_mem(f, n - 1, NULL, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "cut, from memory", "mdl_load_idx_bytes_mem: idx: byte 78415: "
                "the header announces 78400 items", "truncated", NULL);
    o.max_bytes = 1000; /* the decompressed size is over it */
    z[zn - 8] ^= 1;
    e = mdl_load_idx_bytes_mem(z, zn, "big.gz", &o, &b);
    check_error(e, MDL_ERR_SIZE, "gzip past the limit", "big.gz: byte ", "limit of 1000 bytes",
                NULL);
    e = mdl_load_idx_bytes(FIXTURES "fashion-test-100-images-idx3-ubyte", &o, &b);
    check_error(e, MDL_ERR_SIZE, "a file past the limit", "mdl_load_idx_bytes: '",
                "fashion-test-100-images-idx3-ubyte' is larger than the limit of 1000 bytes",
                NULL);
    CHECK(b == NULL, "out is NULL on failure");
    free(fcopy), free(zcopy);
    mdl_free(f), mdl_free(z);
}

/* ---- malformed files, as test_loaders writes them, loaded as bytes ---- */

static void test_malformed(void) {
    unsigned char h[64];
    const char *path;
    mdl_bytes *b = NULL;
    mdl_error e;
    memset(h, 0, sizeof h);
    h[2] = 8; h[3] = 3; h[7] = 2; h[11] = 2; h[15] = 3; /* [2, 2, 3]: 12 bytes of data */
    for (e = 0; e < 12; e++) h[16 + e] = (unsigned char)(10 * e + 1);
    path = write_file("ok.idx", h, 16 + 12);
    e = mdl_load_idx_bytes(path, NULL, &b);
    CHECK(e == MDL_OK && b && b->ndim == 3 && b->shape[0] == 2 && b->shape[1] == 2 &&
          b->shape[2] == 3 && b->numel == 12 && b->data[0] == 1 && b->data[11] == 111,
          "a tiny IDX: %s", mdl_last_error());
    mdl_bytes_free(b);
    b = NULL;
    path = write_file("truncated.idx", h, 16 + 11);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "truncated", "mdl_load_idx_bytes: ", "truncated.idx: byte 27: "
                "the header announces 12 items", "but 11 bytes follow", "truncated", NULL);
    CHECK(b == NULL, "out is NULL on failure");
    path = write_file("long.idx", h, 16 + 13);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "too long", "long.idx: byte 28:", "extra bytes", NULL);
    h[1] = 1;
    path = write_file("magic.idx", h, 28);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "magic", "magic.idx: byte 0: the magic number 00 01 08 03",
                "not an IDX file", NULL);
    h[1] = 0;
    h[2] = 0x0b;
    path = write_file("int16.idx", h, 28);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "int16", "int16.idx: byte 2: type 0x0B (int16) is not "
                "supported", NULL);
    h[2] = 8;
    h[3] = 0;
    path = write_file("dims0.idx", h, 28);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "0 dims", "dims0.idx: byte 3: 0 dimensions", NULL);
    h[3] = 7;
    path = write_file("dims7.idx", h, 40);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "7 dims", "dims7.idx: byte 3: 7 dimensions: minidl reads "
                "1 to 6", NULL);
    h[3] = 3;
    h[8] = 0x80; /* a size of 2^31 + 2 */
    path = write_file("huge.idx", h, 28);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "2^31", "huge.idx: byte 8: size 2147483650 of dimension 1 "
                "is larger than 2147483647", NULL);
    h[8] = 0x7f; h[9] = h[10] = h[11] = 0xff; /* INT_MAX three times: 2^93 */
    h[12] = 0x7f; h[13] = h[14] = h[15] = 0xff;
    h[4] = 0x7f; h[5] = h[6] = h[7] = 0xff;
    path = write_file("product.idx", h, 28);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "overflow", "product.idx: byte 8: the sizes multiply to "
                "more than 2^36", NULL);
    path = write_file("short.idx", h, 3);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "3 bytes", "short.idx: 3 bytes: too short", NULL);
    path = write_file("header.idx", h, 10);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "cut header", "header.idx: byte 10: the header of 3 "
                "dimensions needs 16 bytes", NULL);
    e = mdl_load_idx_bytes(tmp("no_such.idx"), NULL, &b);
    check_error(e, MDL_ERR_IO, "missing", "mdl_load_idx_bytes: cannot open '", "no_such.idx'",
                NULL);
    path = write_file("bad.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x07", 11);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "corrupt gzip", "bad.gz: byte 10: block type 3", NULL);
    path = write_file("cut.gz", "\x1f\x8b\x08\x00\x00\x00", 6);
    e = mdl_load_idx_bytes(path, NULL, &b);
    check_error(e, MDL_ERR_FORMAT, "cut gzip header", "cut.gz: byte 6: the data end inside the "
                "gzip header", NULL);
    CHECK(b == NULL, "out stays NULL");
    mdl_clear_error();
}

/* ---- contract errors ---- */

static void test_contract(void) {
    mdl_arena *ar = mdl_arena_new(0);
    unsigned char pixels[2 * 2 * 3] = {0, 51, 255, 1, 2, 3, 10, 20, 30, 40, 50, 60};
    mdl_bytes b, bad;
    mdl_idx_opts o;
    mdl_tensor *x;
    mdl_error e;
    int rows[3] = {1, 0, 1}, out_of[2] = {0, 2}, neg[1] = {-1};
    memset(&b, 0, sizeof b);
    memset(&o, 0, sizeof o);
    b.data = pixels, b.ndim = 3, b.shape[0] = 2, b.shape[1] = 2, b.shape[2] = 3, b.numel = 12;
    o.scale = o.channel = 1;
    capture_errors();

    /* by hand: 51 / 255 = 0.2, 255 / 255 = 1; images 1, 0, 1 */
    x = mdl_bytes_batch(ar, &b, 3, rows, &o);
    CHECK(x && x->ndim == 4 && x->shape[0] == 3 && x->shape[1] == 1 && x->shape[2] == 2 &&
          x->shape[3] == 3, "a batch [3,1,2,3]");
    if (x) {
        CHECK(x->data[0] == (mdl_scalar)10 / 255 && x->data[5] == (mdl_scalar)60 / 255,
              "row 0 is image 1");
        CHECK(x->data[6] == 0 && x->data[7] == (mdl_scalar)0.2 && x->data[8] == 1,
              "row 1 is image 0: 0, 0.2, 1");
        CHECK(memcmp(x->data, x->data + 12, 6 * sizeof(mdl_scalar)) == 0, "row 2 repeats row 0");
    }
    CHECK(captured_count == 0, "no error so far: %s", captured_message);

    x = mdl_bytes_batch(ar, &b, 2, out_of, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_ARG &&
          strstr(captured_message, "mdl_bytes_batch: rows[1] = 2 is outside 0..1 (b [2,2,3] has "
                 "2 rows)") != NULL, "a row past the end: %s", captured_message);
    x = mdl_bytes_batch(ar, &b, 1, neg, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_ARG && strstr(captured_message, "rows[0] = -1"),
          "a negative row: %s", captured_message);
    x = mdl_bytes_batch(ar, &b, -1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_SIZE &&
          strstr(captured_message, "n = -1 rows: must be 0 or more"), "n < 0: %s",
          captured_message);
    x = mdl_bytes_batch(ar, &b, 2, NULL, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_NULL &&
          strstr(captured_message, "rows is NULL for n = 2 rows"), "rows NULL: %s",
          captured_message);
    mdl_clear_error();
    x = mdl_bytes_batch(ar, NULL, 1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_NULL && strstr(captured_message, "NULL"),
          "b NULL: %s", captured_message);
    mdl_clear_error();
    x = mdl_bytes_batch(NULL, &b, 1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_NULL, "arena NULL: %s", captured_message);
    bad = b;
    bad.numel = 13;
    x = mdl_bytes_batch(ar, &bad, 1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_SHAPE &&
          strstr(captured_message, "b [2,2,3]: numel = 13, but the sizes multiply to 12"),
          "numel that does not fit the shape: %s", captured_message);
    bad = b;
    bad.ndim = 0;
    x = mdl_bytes_batch(ar, &bad, 1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_SHAPE && strstr(captured_message, "rank 0"),
          "rank 0: %s", captured_message);
    bad = b;
    bad.shape[1] = -2;
    x = mdl_bytes_batch(ar, &bad, 1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_SHAPE && strstr(captured_message, "negative"),
          "a negative size: %s", captured_message);
    bad = b;
    bad.data = NULL;
    x = mdl_bytes_batch(ar, &bad, 1, rows, &o);
    CHECK(x == NULL && captured_code == MDL_ERR_SHAPE && strstr(captured_message, "data NULL"),
          "data NULL: %s", captured_message);

    /* the loaders' NULL arguments are contract errors too */
    mdl_clear_error();
    e = mdl_load_idx_bytes(NULL, NULL, NULL);
    CHECK(e == MDL_ERR_NULL && captured_code == MDL_ERR_NULL &&
          strstr(captured_message, "mdl_load_idx_bytes: path is NULL"), "path NULL: %s",
          captured_message);
    e = mdl_load_idx_bytes_mem(pixels, 12, NULL, NULL, NULL);
    CHECK(e == MDL_ERR_NULL && strstr(captured_message, "mdl_load_idx_bytes_mem: out is NULL"),
          "out NULL: %s", captured_message);
    mdl_bytes_free(NULL); /* allowed */
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_arena_free(ar);
}


/* ---- data sets of bytes against data sets of floats ---- */

/* Every batch of `epochs` epochs of both iterators: the same ids, values and targets. */
static void same_batches(mdl_dataset *fl, mdl_dataset *by, int batch, int shuffle, int epochs,
                         const char *what) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng r1, r2;
    mdl_batches i1, i2;
    mdl_tensor *x1, *y1, *x2, *y2;
    int e, got1, got2, batches = 0, bad = 0, ids_bad = 0;
    mdl_rng_seed(&r1, 11);
    mdl_rng_seed(&r2, 11);
    CHECK(mdl_batches_init(&i1, fl, batch, shuffle, 0, &r1) &&
          mdl_batches_init(&i2, by, batch, shuffle, 0, &r2), "%s: iterators", what);
    for (e = 0; e < epochs; e++) {
        for (;;) {
            got1 = mdl_batches_next(&i1, ar, &x1, &y1);
            got2 = mdl_batches_next(&i2, ar, &x2, &y2);
            if (got1 != got2) {
                CHECK(0, "%s: one iterator ended first", what);
                break;
            }
            if (!got1) break;
            batches++;
            bad += !same(x1, x2) || !same(y1, y2);
            mdl_arena_reset(ar);
        }
        ids_bad += memcmp(fl->ids, by->ids, (size_t)fl->n * sizeof(int)) != 0;
    }
    CHECK(batches == epochs * i1.per_epoch && bad == 0 && ids_bad == 0,
          "%s: %d batches, %d differ, ids differ after %d epochs", what, batches, bad, ids_bad);
    mdl_arena_free(ar);
}

static void test_dataset(void) {
    mdl_params *ps = mdl_params_new();
    mdl_bytes *images = NULL;
    mdl_tensor *x = NULL, *y = NULL;
    mdl_idx_opts o;
    mdl_dataset *fl = NULL, *by = NULL, *pf[3], *pb[3], *sf, *sb;
    mdl_rng r1, r2;
    double sizes[3] = {0.7, 0.2, 0.1};
    int rows[6] = {4999, 0, 17, 17, 2500, 3}, p;
    memset(&o, 0, sizeof o);
    o.scale = o.channel = 1;
    mdl_load_idx_bytes(DATA "fashion-train-images-idx3-ubyte.gz", NULL, &images);
    mdl_load_idx(ps, "x", DATA "fashion-train-images-idx3-ubyte.gz", &o, &x);
    mdl_load_idx(ps, "y", DATA "fashion-train-labels-idx1-ubyte.gz", NULL, &y);
    CHECK(images && x && y, "loaded: %s", mdl_last_error());
    if (!images || !x || !y) goto done;
    fl = mdl_dataset_new(x, y);
    by = mdl_dataset_new_bytes(images, y, 1, 1);
    mdl_bytes_free(images); /* the data set has its own copy */
    images = NULL;
    CHECK(fl && by && by->x == NULL && by->x_bytes && by->x_bytes->numel == 5000u * 784 &&
          by->x_bytes->shape[0] == 5000 && by->n == 5000 && by->ids[4999] == 4999 &&
          by->x_scale == 1 && by->x_channel == 1, "a data set of bytes: 3.9 MB, x NULL");
    if (!fl || !by) goto done;
    same_batches(fl, by, 64, 0, 1, "in order, batch 64");
    same_batches(fl, by, 64, 1, 2, "shuffled, batch 64, two epochs");
    same_batches(fl, by, 1000, 1, 1, "shuffled, batch 1000");

    /* a subset: the rows asked for, repeats too */
    sf = mdl_dataset_subset(fl, 6, rows);
    sb = mdl_dataset_subset(by, 6, rows);
    CHECK(sb && sb->x_bytes && sb->x_bytes->shape[0] == 6 && sb->x_scale && sb->x_channel &&
          memcmp(sb->x_bytes->data + 2 * 784, sb->x_bytes->data + 3 * 784, 784) == 0,
          "a subset of bytes, row 17 twice");
    if (sf && sb) same_batches(sf, sb, 4, 0, 1, "subset");
    mdl_dataset_free(sf);
    mdl_dataset_free(sb);

    /* a stratified split with the same seed: the same rows in each part */
    mdl_rng_seed(&r1, 3);
    mdl_rng_seed(&r2, 3);
    CHECK(mdl_dataset_split(fl, 3, sizes, 1, &r1, pf) == 3 &&
          mdl_dataset_split(by, 3, sizes, 1, &r2, pb) == 3, "splits: %s", mdl_last_error());
    for (p = 0; p < 3; p++) {
        CHECK(pf[p] && pb[p] && pf[p]->n == pb[p]->n && pb[p]->x_bytes &&
              memcmp(pf[p]->ids, pb[p]->ids, (size_t)pf[p]->n * sizeof(int)) == 0,
              "part %d: the same rows", p);
        if (pf[p] && pb[p]) same_batches(pf[p], pb[p], 100, p == 0, 1, "a part of the split");
        mdl_dataset_free(pf[p]);
        mdl_dataset_free(pb[p]);
    }

    /* a checkpoint restores a shuffled data set of bytes to its saved order */
    {
        mdl_params *model = mdl_params_new();
        mdl_checkpoint ck;
        mdl_rng r;
        int *saved = (int *)malloc(5000 * sizeof(int)), s1[1] = {1};
        unsigned char *row0 = (unsigned char *)malloc(784);
        mdl_error e;
        mdl_params_add(model, "w", 1, s1);
        mdl_rng_seed(&r, 8);
        mdl_dataset_shuffle(by, &r);
        memcpy(saved, by->ids, 5000 * sizeof(int));
        memcpy(row0, by->x_bytes->data, 784);
        memset(&ck, 0, sizeof ck);
        ck.params = model;
        ck.data = by;
        e = mdl_checkpoint_save(&ck, tmp("ck.safetensors"));
        CHECK(e == MDL_OK, "checkpoint saved: %s", mdl_last_error());
        mdl_dataset_shuffle(by, &r);
        e = mdl_checkpoint_load(&ck, tmp("ck.safetensors"));
        CHECK(e == MDL_OK && memcmp(saved, by->ids, 5000 * sizeof(int)) == 0 &&
              memcmp(row0, by->x_bytes->data, 784) == 0,
              "the saved order restored, bytes with their ids: %s", mdl_last_error());
        {   /* every row's bytes are its id's image, and its target its id's label */
            int i, bad = 0;
            mdl_bytes *orig = NULL;
            mdl_load_idx_bytes(DATA "fashion-train-images-idx3-ubyte.gz", NULL, &orig);
            for (i = 0; orig && i < 5000; i++)
                bad += memcmp(by->x_bytes->data + (size_t)i * 784,
                              orig->data + (size_t)by->ids[i] * 784, 784) != 0 ||
                       by->y->data[i] != y->data[by->ids[i]];
            CHECK(orig && bad == 0, "rows follow their ids: %d do not", bad);
            mdl_bytes_free(orig);
        }
        free(saved);
        free(row0);
        mdl_params_free(model);
    }

    /* contract errors */
    capture_errors();
    mdl_load_idx_bytes(DATA "fashion-test-images-idx3-ubyte.gz", NULL, &images);
    CHECK(mdl_dataset_new_bytes(images, y, 1, 1) == NULL && captured_code == MDL_ERR_SHAPE &&
          strstr(captured_message, "mdl_dataset_new_bytes: x [1000,28,28] and y [5000]: "
                 "x.shape[0]=1000 != y.shape[0]=5000"), "y of another N: %s", captured_message);
    mdl_clear_error();
    CHECK(mdl_dataset_new_bytes(NULL, y, 1, 1) == NULL && captured_code == MDL_ERR_NULL,
          "x NULL: %s", captured_message);
    {
        mdl_dataset *d = mdl_dataset_new_bytes(images, NULL, 0, 0);
        mdl_arena *ar = mdl_arena_new(0);
        mdl_batches it;
        mdl_tensor *xb, *yb;
        CHECK(d && d->y == NULL, "without targets");
        CHECK(d && mdl_batches_init(&it, d, 300, 0, 0, NULL) &&
              mdl_batches_next(&it, ar, &xb, &yb) && xb->ndim == 3 && xb->shape[0] == 300 &&
              yb == NULL && xb->data[0] == (mdl_scalar)images->data[0] &&
              xb->data[299 * 784 + 400] == (mdl_scalar)images->data[299 * 784 + 400],
              "raw values, no channel axis");
        mdl_dataset_free(d);
        mdl_arena_free(ar);
    }
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
done:
    mdl_bytes_free(images);
    mdl_dataset_free(fl);
    mdl_dataset_free(by);
    mdl_params_free(ps);
}

int main(int argc, char **argv) {
    test_files_init(argc, argv);
    test_fashion();
    test_plain_and_mem();
    test_malformed();
    test_contract();
    test_dataset();
    return test_summary();
}
