/* tests/test_io.c - saving and loading (issue 15): safetensors files byte for byte, every dtype
   read from known bit patterns (all 65536 F16 and BF16 values against their formula), the
   table of malformed files each with its message, strict and non-strict loading, failed saves
   that keep the old file, checkpoints that resume training to the bit (in the middle of an
   epoch, at its end, through mdl_fit), and the contract errors.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_io.c -o build/test_io -lm

   IO_TABLE=1 build/test_io prints the malformed-file table with each message. The test writes
   its files in a folder of its own, build/test_io.tmp.<n>/, and removes it at the end. */
#define _POSIX_C_SOURCE 200809L /* mkdir, chmod, rmdir, getpid, geteuid for the save tests */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <float.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NN(t)                                                                        \
    do {                                                                             \
        CHECK((t) != NULL, "%s is NULL (last error: %s)", #t, mdl_last_error());     \
        if (!(t)) return;                                                            \
    } while (0)

static char dir[256]; /* the test's own folder */

static const char *path_of(const char *name) {
    static char ring[4][512];
    static int next;
    char *p = ring[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* ---- files made by hand: the 8-byte length, a header, data ---- */

static unsigned char file_buf[1 << 20];

static void put_le64(unsigned char *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A safetensors image in file_buf: header (its length from strlen unless hlen >= 0) and dlen
   data bytes (from data, or 0x11 each). Returns its size. */
static size_t make_file(const char *header, long long hlen, const void *data, size_t dlen) {
    size_t n = strlen(header);
    put_le64(file_buf, hlen >= 0 ? (uint64_t)hlen : (uint64_t)n);
    memcpy(file_buf + 8, header, n);
    if (data)
        memcpy(file_buf + 8 + n, data, dlen);
    else
        memset(file_buf + 8 + n, 0x11, dlen);
    return 8 + n + dlen;
}

static size_t read_whole(const char *path, unsigned char *out, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n;
    if (!f) return (size_t)-1;
    n = fread(out, 1, cap, f);
    fclose(f);
    return n;
}

static int write_whole(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static uint32_t f32_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static float bits_f32(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* ---- 1. round trip and the exact bytes ---- */

static void test_bytes(void) {
    /* one tensor w = [1, -2]: the header is 54 bytes, padded with two spaces to 56 */
    static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    static const unsigned char data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    unsigned char got[256], want[256];
    mdl_params *ps = mdl_params_new();
    int s2[1] = {2};
    mdl_tensor *w = mdl_params_add(ps, "w", 1, s2);
    size_t n, wn;
    FILE *f;
    NN(w);
    w->data[0] = 1;
    w->data[1] = -2;
    CHECK(sizeof header - 1 == 56, "the hand-made header is %zu bytes", sizeof header - 1);
    wn = make_file(header, -1, data, 8);
    memcpy(want, file_buf, wn);
    CHECK(mdl_save(ps, path_of("w.safetensors"), NULL) == MDL_OK, "%s", mdl_last_error());
    n = read_whole(path_of("w.safetensors"), got, sizeof got);
    CHECK(n == 72 && wn == 72, "the file has %zu bytes, want 72", n);
    CHECK(n == wn && memcmp(got, want, wn) == 0, "the bytes differ from the hand-made file");
    /* the stream writer writes the same bytes */
    f = fopen(path_of("w2.safetensors"), "wb");
    CHECK(f && mdl_save_stream(ps, f, NULL) == MDL_OK, "save_stream: %s", mdl_last_error());
    if (f) fclose(f);
    n = read_whole(path_of("w2.safetensors"), got, sizeof got);
    CHECK(n == wn && memcmp(got, want, wn) == 0, "mdl_save_stream's bytes differ");
    /* no temporary file is left behind */
    f = fopen(path_of("w.safetensors.tmp"), "rb");
    CHECK(f == NULL, "the .tmp file is still there");
    if (f) fclose(f);
    mdl_params_free(ps);
}

/* A set of tensors with awkward values: NaNs with payloads (a signalling one), infinities,
   -0, subnormals, FLT_MAX; a scalar; an empty tensor; a rank-6 one. */
static mdl_params *awkward_set(mdl_rng *rng) {
    static const uint32_t special[] = {0x7f800001u, 0xffc00123u, 0x7f800000u, 0xff800000u,
                                       0x80000000u, 0x00000001u, 0x807fffffu, 0x7f7fffffu,
                                       0x3f800000u};
    mdl_params *ps = mdl_params_new();
    int sw[2] = {7, 5}, sb[1] = {9}, se[2] = {0, 3}, s6[6] = {2, 1, 3, 1, 2, 2};
    mdl_tensor *w = mdl_params_add(ps, "layer.weight", 2, sw);
    mdl_tensor *b = mdl_params_add(ps, "layer.bias", 1, sb);
    mdl_tensor *s = mdl_params_add_buffer(ps, "count", 0, NULL);
    mdl_params_add_buffer(ps, "empty", 2, se);
    mdl_tensor *r6 = mdl_params_add(ps, "r6", 6, s6);
    size_t i;
    mdl_fill_normal(w, rng, 0, 1);
    mdl_fill_normal(r6, rng, 0, 1e-3);
    for (i = 0; i < 9; i++) b->data[i] = bits_f32(special[i]);
    s->data[0] = 12345;
    return ps;
}

static void test_round_trip(void) {
    mdl_rng rng;
    mdl_params *a, *b;
    mdl_load_report r;
    mdl_safetensors *st;
    const char *meta[] = {"epoch", "12", "quote\"back\\slash", "line\nfeed\ttab\x01",
                          "utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "", NULL};
    int i, same = 1;
    mdl_rng_seed(&rng, 1);
    a = awkward_set(&rng);
    mdl_rng_seed(&rng, 2);
    b = awkward_set(&rng);
    mdl_fill(mdl_params_find(b, "layer.bias"), 0);
    CHECK(mdl_save(a, path_of("rt.safetensors"), meta) == MDL_OK, "%s", mdl_last_error());
    CHECK(mdl_load(b, path_of("rt.safetensors"), MDL_LOAD_STRICT, &r) == MDL_OK, "%s",
          mdl_last_error());
    CHECK(r.loaded == 5 && r.missing == 0 && r.unexpected == 0 && r.mismatched == 0 &&
          r.text[0] == 0, "report %d %d %d %d '%s'", r.loaded, r.missing, r.unexpected,
          r.mismatched, r.text);
    for (i = 0; i < mdl_params_count(a); i++) {
        mdl_tensor *x = mdl_params_get(a, i), *y = mdl_params_get(b, i);
        if (x->numel && memcmp(x->data, y->data, x->numel * sizeof(mdl_scalar)) != 0) same = 0;
    }
    CHECK(same, "the values that came back differ in their bits");
    CHECK(f32_bits(mdl_params_find(b, "layer.bias")->data[0]) == 0x7f800001u,
          "the signalling NaN came back as %08x", f32_bits(mdl_params_find(b, "layer.bias")->data[0]));
    /* the header as the reader sees it: order, dtypes, shapes, offsets, metadata */
    CHECK(mdl_safetensors_open(path_of("rt.safetensors"), 0, &st) == MDL_OK, "%s",
          mdl_last_error());
    if (st) {
        const mdl_safetensors_info *e0 = mdl_safetensors_get(st, 0), *e2 = mdl_safetensors_get(st, 2);
        const mdl_safetensors_info *e3 = mdl_safetensors_get(st, 3), *e4 = mdl_safetensors_get(st, 4);
        CHECK(mdl_safetensors_count(st) == 5, "%d tensors", mdl_safetensors_count(st));
        CHECK(strcmp(e0->name, "layer.weight") == 0 && strcmp(e0->dtype, "F32") == 0 &&
              e0->ndim == 2 && e0->shape[0] == 7 && e0->shape[1] == 5 && e0->offset == 0 &&
              e0->nbytes == 140 && e0->numel == 35, "entry 0: %s %s", e0->name, e0->dtype);
        CHECK(e2->ndim == 0 && e2->numel == 1 && e2->offset == 140 + 36 && e2->nbytes == 4,
              "the scalar: ndim %d offset %zu", e2->ndim, e2->offset);
        CHECK(e3->numel == 0 && e3->nbytes == 0 && e3->offset == 180, "the empty tensor");
        CHECK(e4->ndim == 6 && e4->shape[4] == 2 && e4->numel == 24, "the rank-6 tensor");
        CHECK(mdl_safetensors_find(st, "count") == 2 && mdl_safetensors_find(st, "nope") == -1 &&
              mdl_safetensors_find(st, "r6") == 4, "find");
        CHECK(mdl_safetensors_meta_count(st) == 3, "%d metadata", mdl_safetensors_meta_count(st));
        CHECK(strcmp(mdl_safetensors_meta(st, "epoch"), "12") == 0 &&
              strcmp(mdl_safetensors_meta(st, "quote\"back\\slash"), "line\nfeed\ttab\x01") == 0 &&
              strcmp(mdl_safetensors_meta(st, "utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "") == 0 &&
              mdl_safetensors_meta(st, "none") == NULL, "metadata values");
        CHECK(strcmp(mdl_safetensors_meta_key(st, 1), "quote\"back\\slash") == 0, "key order");
        mdl_safetensors_free(st);
    }
    /* the header's length is a multiple of 8, and the data starts there */
    {
        unsigned char head[16];
        size_t n = read_whole(path_of("rt.safetensors"), head, sizeof head);
        uint64_t len = 0;
        for (i = 7; i >= 0; i--) len = len << 8 | head[i];
        CHECK(n == 16 && len % 8 == 0 && head[8] == '{', "header length %llu", (unsigned long long)len);
    }
    mdl_params_free(a);
    mdl_params_free(b);
}

/* ---- 2. every dtype, from bit patterns ---- */

/* F16 by the formula, in double: (-1)^s 2^(e-15) (1 + m/1024), subnormal 2^-14 m/1024 */
static double f16_formula(unsigned h) {
    unsigned e = h >> 10 & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, (int)e - 25);
    return h & 0x8000 ? -v : v;
}

/* BF16 by the formula: (-1)^s 2^(e-127) (1 + m/128), subnormal 2^-126 m/128 */
static double bf16_formula(unsigned b) {
    unsigned e = b >> 7 & 255, m = b & 127;
    double v = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, (int)e - 134);
    return b & 0x8000 ? -v : v;
}

static int same_value(double got, double want) {
    if (want != want) return got != got;
    return got == want && signbit(got) == signbit(want);
}

/* All 65536 patterns of a 16-bit dtype, one file, against the formula; and the NaNs' bits. */
static void test_16bit(const char *dtype, double (*formula)(unsigned), int f16) {
    static unsigned char data[131072];
    static mdl_scalar got[65536];
    char header[160];
    mdl_safetensors *st = NULL;
    unsigned h, bad = 0, first = 0, nan_bits_ok = 1;
    size_t n;
    for (h = 0; h < 65536; h++) {
        data[2 * h] = (unsigned char)h;
        data[2 * h + 1] = (unsigned char)(h >> 8);
    }
    snprintf(header, sizeof header, "{\"all\":{\"dtype\":\"%s\",\"shape\":[256,256],"
             "\"data_offsets\":[0,131072]}}", dtype);
    n = make_file(header, -1, data, sizeof data);
    CHECK(mdl_safetensors_open_mem(file_buf, n, "all16", &st) == MDL_OK, "%s", mdl_last_error());
    if (!st) return;
    CHECK(mdl_safetensors_read(st, 0, got, 65536) == MDL_OK, "read");
    for (h = 0; h < 65536; h++) {
        double want = formula(h);
        if (!same_value(got[h], want) && !bad++) first = h;
        if (want != want) { /* the payload moves to the top of float's mantissa */
            uint32_t bits = f32_bits(got[h]);
            uint32_t expect = f16 ? (h & 0x8000u) << 16 | 0x7f800000u | (h & 0x3ffu) << 13
                                  : (uint32_t)h << 16;
            if (bits != expect) nan_bits_ok = 0;
        }
    }
    CHECK(bad == 0, "%s: %u of 65536 values differ from the formula, first 0x%04x: %.9g, want "
          "%.9g", dtype, bad, first, (double)got[first], formula(first));
    CHECK(nan_bits_ok, "%s: a NaN's payload was not kept", dtype);
    mdl_safetensors_free(st);
}

/* Known values of each dtype, one small file per dtype: the bytes (little-endian) and what
   each must read as. */
typedef struct known {
    const char *dtype;
    int size, count;
    const char *bytes;
    double want[8];
} known;

static void test_dtypes(void) {
    static const known cases[] = {
        /* F16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), 1023 2^-24 (largest
           subnormal), 2^-14 (smallest normal), 0x3555 = 0.333251953125, -0 */
        {"F16", 2, 8, "\x00\x3c\x00\xc0\xff\x7b\x01\x00\xff\x03\x00\x04\x55\x35\x00\x80",
         {1, -2, 65504, 5.9604644775390625e-08, 6.0975551605224609e-05, 6.103515625e-05,
          0.333251953125, -0.0}},
        /* BF16: 1, 3.140625, -123.5, 2^-133, the largest (0x7f7f), inf, -inf, -0 */
        {"BF16", 2, 8, "\x80\x3f\x49\x40\xf7\xc2\x01\x00\x7f\x7f\x80\x7f\x80\xff\x00\x80",
         {1, 3.140625, -123.5, 9.1835496157991212e-41, 3.3895313892515355e+38, INFINITY,
          -INFINITY, -0.0}},
        /* F8_E4M3 (fn): 1, 448 (largest), 2^-9 (smallest), -1.375, -0, NaN (0x7f), 7 2^-9
           (the largest subnormal), 2^-6 (the smallest normal) */
        {"F8_E4M3", 1, 8, "\x38\x7e\x01\xbb\x80\x7f\x07\x08",
         {1, 448, 0.001953125, -1.375, -0.0, NAN, 0.013671875, 0.015625}},
        /* F8_E5M2: 1, inf, 57344 (largest), 2^-16 (smallest), -1.5, NaN, -0, 0.75 */
        {"F8_E5M2", 1, 8, "\x3c\x7c\x7b\x01\xbe\x7e\x80\x3a",
         {1, INFINITY, 57344, 1.52587890625e-05, -1.5, NAN, -0.0, 0.75}},
        /* I64: -1, 2^53 + 1 (rounds to 2^53 in float), INT64_MIN, 100 */
        {"I64", 8, 4, "\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00\x00\x00\x20\x00"
                      "\x00\x00\x00\x00\x00\x00\x00\x80\x64\x00\x00\x00\x00\x00\x00\x00",
         {-1, 9007199254740992.0, -9223372036854775808.0, 100}},
        /* U64: 2^64 - 1 (rounds to 2^64), 7 */
        {"U64", 8, 2, "\xff\xff\xff\xff\xff\xff\xff\xff\x07\x00\x00\x00\x00\x00\x00\x00",
         {18446744073709551616.0, 7}},
        /* I32: INT32_MIN, -1, 16777217 (rounds to 16777216 in float), 5 */
        {"I32", 4, 4, "\x00\x00\x00\x80\xff\xff\xff\xff\x01\x00\x00\x01\x05\x00\x00\x00",
         {-2147483648.0, -1, 16777216.0, 5}},
        /* U32: 2^32 - 1 (rounds to 2^32), 3 */
        {"U32", 4, 2, "\xff\xff\xff\xff\x03\x00\x00\x00", {4294967296.0, 3}},
        {"I16", 2, 3, "\x00\x80\xff\xff\x2a\x00", {-32768, -1, 42}},
        {"U16", 2, 2, "\xff\xff\x2a\x00", {65535, 42}},
        {"I8", 1, 3, "\x80\xff\x7f", {-128, -1, 127}},
        {"U8", 1, 3, "\xff\x00\x80", {255, 0, 128}},
        {"BOOL", 1, 3, "\x00\x01\x02", {0, 1, 1}},
        /* F64: 1.5, 0.1 (rounded to float), 1e300 (past float: inf), -1e300, FLT_MAX, 2^-149
           (float's smallest), 1e-50 (below it: 0), NaN */
        {"F64", 8, 8,
         "\x00\x00\x00\x00\x00\x00\xf8\x3f\x9a\x99\x99\x99\x99\x99\xb9\x3f"
         "\x9c\x75\x00\x88\x3c\xe4\x37\x7e\x9c\x75\x00\x88\x3c\xe4\x37\xfe"
         "\x00\x00\x00\xe0\xff\xff\xef\x47\x00\x00\x00\x00\x00\x00\xa0\x36"
         "\x1f\xb8\xd4\x4a\x7a\xee\x8d\x35\x00\x00\x00\x00\x00\x00\xf8\x7f",
         {1.5, 0.100000001490116119384765625, INFINITY, -INFINITY, 3.4028234663852886e+38,
          1.4012984643248171e-45, 0, NAN}},
    };
    size_t c;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const known *k = &cases[c];
        char header[200];
        mdl_scalar got[8];
        mdl_safetensors *st = NULL;
        size_t n;
        int i, bad = 0;
        snprintf(header, sizeof header, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%d],"
                 "\"data_offsets\":[0,%d]}}", k->dtype, k->count, k->size * k->count);
        n = make_file(header, -1, k->bytes, (size_t)(k->size * k->count));
        CHECK(mdl_safetensors_open_mem(file_buf, n, k->dtype, &st) == MDL_OK, "%s: %s",
              k->dtype, mdl_last_error());
        if (!st) continue;
        CHECK(strcmp(mdl_safetensors_get(st, 0)->dtype, k->dtype) == 0, "dtype name");
        mdl_safetensors_read(st, 0, got, (size_t)k->count);
        for (i = 0; i < k->count; i++) {
            double want = (double)(float)k->want[i]; /* each is a float, or rounds to one */
            if (k->want[i] != k->want[i]) want = NAN;
            if (!same_value(got[i], want)) {
                bad++;
                fprintf(stderr, "  %s value %d: got %.17g, want %.17g\n", k->dtype, i,
                        (double)got[i], want);
            }
        }
        CHECK(bad == 0, "%s: %d values wrong", k->dtype, bad);
        mdl_safetensors_free(st);
    }
    /* the midpoint between FLT_MAX and 2^128 rounds up to infinity; just below it, down */
    {
        double v[2];
        unsigned char bytes[16];
        mdl_scalar got[2];
        mdl_safetensors *st = NULL;
        size_t n;
        int i;
        v[0] = ldexp(33554431.0, 103);              /* 2^128 - 2^103 */
        v[1] = nextafter(ldexp(33554431.0, 103), 0); /* the double just below */
        for (i = 0; i < 2; i++) {
            uint64_t u;
            memcpy(&u, &v[i], 8);
            put_le64(bytes + 8 * i, u);
        }
        n = make_file("{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", -1,
                      bytes, 16);
        CHECK(mdl_safetensors_open_mem(file_buf, n, "mid", &st) == MDL_OK, "%s", mdl_last_error());
        if (st) {
            mdl_safetensors_read(st, 0, got, 2);
            CHECK(isinf(got[0]) && got[1] == FLT_MAX, "F64 near 2^128: %g %g", (double)got[0],
                  (double)got[1]);
            mdl_safetensors_free(st);
        }
    }
    test_16bit("F16", f16_formula, 1);
    test_16bit("BF16", bf16_formula, 0);
}

/* ---- 3. valid files in unusual shapes ---- */

static void test_valid_oddities(void) {
    static const char *const headers[] = {
        /* whitespace everywhere JSON allows it, padding of spaces and newlines */
        "{ \"a\" :\t{\"shape\" : [ 2 ] ,\r\n \"data_offsets\":[0 , 8], \"dtype\":\"F32\"} }  \n ",
        /* escapes in a name: \u00e9 (2 bytes of UTF-8), a surrogate pair (4), \/ \" \\ */
        "{\"\\u00e9t\\u00e9 \\ud83d\\ude00 \\/\\\"\\\\\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]}}",
        /* zero-size tensors before, between and after, and an empty __metadata__ */
        "{\"z1\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[0,0]},\"__metadata__\":{},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"z2\":{\"dtype\":\"I8\",\"shape\":[3,0],\"data_offsets\":[8,8]}}",
        /* the data in another order than the header */
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
    };
    static const char *const names[] = {"a", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 /\"\\", "a", "a"};
    size_t c;
    mdl_safetensors *st = NULL;
    for (c = 0; c < sizeof headers / sizeof headers[0]; c++) {
        size_t n = make_file(headers[c], -1, NULL, 8);
        CHECK(mdl_safetensors_open_mem(file_buf, n, "odd", &st) == MDL_OK, "header %zu: %s", c,
              mdl_last_error());
        if (!st) continue;
        CHECK(mdl_safetensors_find(st, names[c]) >= 0, "header %zu: no tensor '%s'", c, names[c]);
        mdl_safetensors_free(st);
    }
    /* an empty file of tensors */
    CHECK(mdl_safetensors_open_mem(file_buf, make_file("{}", -1, NULL, 0), "none", &st) == MDL_OK &&
          mdl_safetensors_count(st) == 0, "{}: %s", mdl_last_error());
    mdl_safetensors_free(st);
}

/* ---- 4. the malformed-file table ---- */

#define ENT(name, dtype, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

typedef struct bad_file {
    const char *what;
    const char *header;
    long long hlen; /* -1: strlen(header) */
    size_t data;    /* data bytes after the header */
    const char *want;
} bad_file;

static const bad_file bad_files[] = {
    {"truncated to 5 bytes", NULL, -1, 0, "5 bytes: too short for a safetensors file"},
    {"header length past the 100 MB cap", "{}", 200000000, 0,
     "byte 0: the header length 200000000 is larger than the 100000000 bytes"},
    {"header length past the end", "{}", 1000, 8,
     "byte 0: the header length 1000 reaches past the end of the file, which has 10 bytes"},
    {"truncated data", "{" ENT("a", "F32", "[6]", 0, 24) "}", -1, 16,
     "tensor 'a': data_offsets [0, 24] reach past the end of the data, which has 16 bytes"},
    {"not JSON: an array", "[1,2]", -1, 0, "byte 8: the header starts with '[', not '{'"},
    {"non-UTF-8 byte", "{\"a\xff\":{}}", -1, 0, "byte 11: the header is not valid UTF-8 (byte 0xff)"},
    {"overlong UTF-8", "{\"\xc0\xaf\":{}}", -1, 0, "byte 10: the header is not valid UTF-8 (byte 0xc0)"},
    {"UTF-8 surrogate", "{\"\xed\xa0\x80\":{}}", -1, 0, "the header is not valid UTF-8 (byte 0xed)"},
    {"bad JSON: no colon", "{\"a\" " ENT("b", "F32", "[]", 0, 4) "}", -1, 4,
     "byte 13: expected ':' after the name but found '\"'"},
    {"bad JSON: trailing comma", "{" ENT("a", "F32", "[]", 0, 4) ",}", -1, 4,
     "expected a string but found '}'"},
    {"bad JSON: unterminated string", "{\"abc", -1, 0, "byte 9: a string that never ends"},
    {"bad JSON: no closing brace", "{" ENT("a", "F32", "[]", 0, 4), -1, 4,
     "expected ',' or '}' after an entry but found the end of the header"},
    {"bad JSON: text after the object", "{} x", -1, 0, "byte 11: 'x' after the header's closing '}'"},
    {"bad JSON: control character", "{\"a\x01\":{}}", -1, 0,
     "byte 11: control character 0x01 inside a string"},
    {"bad JSON: unknown escape", "{\"a\\x\":{}}", -1, 0, "'\\x' is not a JSON escape"},
    {"bad JSON: lone first surrogate", "{\"\\ud800\":{}}", -1, 0,
     "\\uD800 is the first half of a surrogate pair, and no second half follows"},
    {"bad JSON: lone second surrogate", "{\"\\udc00\":{}}", -1, 0,
     "\\uDC00 is the second half of a surrogate pair, alone"},
    {"bad JSON: \\u0000", "{\"a\\u0000\":{}}", -1, 0, "\\u0000 in a string"},
    {"nesting: arrays for an entry", "{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}", -1, 0,
     "tensor 'a': expected '{' to open the tensor's entry but found '['"},
    {"nesting: an object for a dtype", "{\"a\":{\"dtype\":{\"F32\":{}}}}", -1, 0,
     "tensor 'a': expected a string but found '{'"},
    {"nesting: an object in __metadata__", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", -1, 0,
     "__metadata__ holds strings only, and the value of 'k' is not one"},
    {"duplicate tensor names", "{" ENT("a", "F32", "[1]", 0, 4) "," ENT("a", "F32", "[1]", 4, 8) "}",
     -1, 8, "tensor 'a': the name appears twice in the header (also at byte 9)"},
    {"duplicate field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", -1, 0,
     "tensor 'a': field 'dtype' appears twice"},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", -1, 0,
     "byte 33: __metadata__ has the key 'k' twice (also at byte 25)"},
    {"second __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", -1, 0,
     "a second __metadata__"},
    {"metadata value not a string", "{\"__metadata__\":{\"k\":1}}", -1, 0,
     "__metadata__ holds strings only"},
    {"unknown dtype", "{" ENT("a", "F33", "[1]", 0, 4) "}", -1, 4, "tensor 'a': unknown dtype 'F33'"},
    {"unknown field", "{\"a\":{\"dtype\":\"F32\",\"offsets\":[0,4]}}", -1, 4,
     "tensor 'a': unknown field 'offsets'"},
    {"missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", -1, 4,
     "tensor 'a': the entry has no 'data_offsets'"},
    {"empty name", "{" ENT("", "F32", "[1]", 0, 4) "}", -1, 4, "a tensor's name is empty"},
    {"negative dimension", "{" ENT("a", "F32", "[-1]", 0, 4) "}", -1, 4, "a dimension is negative"},
    {"fraction", "{" ENT("a", "F32", "[1.0]", 0, 4) "}", -1, 4,
     "a dimension must be a whole number, without a fraction or an exponent"},
    {"exponent", "{" ENT("a", "F32", "[1]", 0, 4e0) "}", -1, 4,
     "data_offsets[1] must be a whole number"},
    {"leading zero", "{" ENT("a", "F32", "[01]", 0, 4) "}", -1, 4, "a dimension has a leading zero"},
    {"number past 2^64", "{" ENT("a", "F32", "[1]", 0, 18446744073709551616) "}", -1, 4,
     "data_offsets[1] is larger than 2^64 - 1"},
    {"dimension past int", "{" ENT("a", "F32", "[2147483648]", 0, 4) "}", -1, 4,
     "dimension 2147483648 is larger than 2147483647"},
    {"rank 7", "{" ENT("a", "F32", "[1,1,1,1,1,1,1]", 0, 4) "}", -1, 4,
     "the shape has more than 6 dimensions"},
    {"shape product overflow", "{" ENT("a", "F32", "[2147483647,2147483647,2147483647]", 0, 4) "}",
     -1, 4, "shape [2147483647,2147483647,2147483647] has more elements than 64 bits count"},
    {"byte count overflow", "{" ENT("a", "F64", "[2147483647,2147483647,4]", 0, 4) "}", -1, 4,
     "shape [2147483647,2147483647,4] of F64 has more bytes than 64 bits count"},
    {"three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", -1, 8,
     "data_offsets holds more than two numbers"},
    {"shape and bytes disagree", "{" ENT("a", "F32", "[2,3]", 0, 20) "}", -1, 20,
     "tensor 'a': shape [2,3] of F32 needs 24 bytes, but data_offsets [0, 20] hold 20"},
    {"offsets out of range", "{" ENT("a", "F32", "[100]", 0, 400) "}", -1, 16,
     "tensor 'a': data_offsets [0, 400] reach past the end of the data, which has 16 bytes"},
    {"offsets reversed", "{" ENT("a", "F32", "[2]", 8, 0) "}", -1, 8,
     "tensor 'a': data_offsets [8, 0] end before they begin"},
    {"overlapping offsets", "{" ENT("a", "F32", "[2]", 0, 8) "," ENT("b", "F32", "[2]", 4, 12) "}",
     -1, 12, "tensor 'b': data_offsets [4, 12] overlap those of tensor 'a', [0, 8]"},
    {"gap between tensors", "{" ENT("a", "F32", "[1]", 0, 4) "," ENT("b", "F32", "[1]", 8, 12) "}",
     -1, 12, "tensor 'b': data_offsets [8, 12] leave a gap: bytes 4 to 7 of the data belong to no tensor"},
    {"bytes left over", "{" ENT("a", "F32", "[1]", 0, 4) "}", -1, 8,
     "the tensors cover 4 bytes of the data, which has 8: the last 4 belong to no tensor"},
    {"data but no tensor", "{}", -1, 4, "the tensors cover 0 bytes of the data, which has 4"},
    {"a number for an entry", "{\"a\":5}", -1, 0,
     "tensor 'a': expected '{' to open the tensor's entry but found '5'"},
};

static void test_bad_files(void) {
    size_t c;
    int table = getenv("IO_TABLE") != NULL;
    for (c = 0; c < sizeof bad_files / sizeof bad_files[0]; c++) {
        const bad_file *b = &bad_files[c];
        size_t n = b->header ? make_file(b->header, b->hlen, NULL, b->data) : 5;
        mdl_safetensors *st = (mdl_safetensors *)&n; /* must come back NULL */
        mdl_error e;
        if (!b->header) memset(file_buf, 0, 5);
        mdl_clear_error();
        e = mdl_safetensors_open_mem(file_buf, n, "bad.safetensors", &st);
        CHECK(e == MDL_ERR_FORMAT && st == NULL, "%s: code %s", b->what, mdl_error_name(e));
        CHECK(strstr(mdl_last_error(), "bad.safetensors") != NULL &&
              strstr(mdl_last_error(), b->want) != NULL, "%s:\n    got  %s\n    want ...%s...",
              b->what, mdl_last_error(), b->want);
        if (table) printf("| %s | %s |\n", b->what, mdl_last_error() + strlen("minidl: error: "));
        mdl_safetensors_free(st);
    }
    /* the same through a file: mdl_load names the path; the set is untouched */
    {
        mdl_params *ps = mdl_params_new();
        int s1[1] = {1};
        mdl_tensor *a = mdl_params_add(ps, "a", 1, s1);
        size_t n, c = 0;
        while (strcmp(bad_files[c].what, "shape and bytes disagree") != 0) c++;
        n = make_file(bad_files[c].header, -1, NULL, bad_files[c].data);
        a->data[0] = 7;
        CHECK(write_whole(path_of("bad.safetensors"), file_buf, n), "cannot write the bad file");
        CHECK(mdl_load(ps, path_of("bad.safetensors"), MDL_LOAD_NON_STRICT, NULL) == MDL_ERR_FORMAT &&
              strstr(mdl_last_error(), "mdl_load: ") && strstr(mdl_last_error(), "bad.safetensors: byte") &&
              a->data[0] == 7, "mdl_load of a bad file: %s", mdl_last_error());
        CHECK(mdl_load(ps, path_of("missing.safetensors"), MDL_LOAD_STRICT, NULL) == MDL_ERR_IO &&
              strstr(mdl_last_error(), "missing.safetensors"), "a missing file: %s",
              mdl_last_error());
        mdl_params_free(ps);
    }
    /* every prefix of a valid file is rejected, and every one names the file */
    {
        mdl_rng rng;
        mdl_params *ps;
        static unsigned char whole[4096];
        size_t n, cut;
        int all_rejected = 1;
        mdl_rng_seed(&rng, 5);
        ps = awkward_set(&rng);
        mdl_save(ps, path_of("whole.safetensors"), NULL);
        n = read_whole(path_of("whole.safetensors"), whole, sizeof whole);
        for (cut = 0; cut < n; cut++) {
            mdl_safetensors *st = NULL;
            if (mdl_safetensors_open_mem(whole, cut, "cut", &st) != MDL_ERR_FORMAT || st ||
                !strstr(mdl_last_error(), "cut"))
                all_rejected = 0;
            mdl_safetensors_free(st);
        }
        CHECK(n > 300 && all_rejected, "a prefix of the %zu-byte file was accepted", n);
        mdl_params_free(ps);
    }
}

/* ---- 5. strict and non-strict ---- */

static void test_matching(void) {
    mdl_params *saved = mdl_params_new(), *ps = mdl_params_new();
    mdl_load_report r;
    int s34[2] = {3, 4}, s43[2] = {4, 3}, s5[1] = {5}, s2[1] = {2};
    mdl_tensor *a, *b, *c;
    mdl_scalar before[12];
    mdl_fill(mdl_params_add(saved, "a", 1, s5), 1.5);
    mdl_fill(mdl_params_add(saved, "b", 2, s34), 2.5);
    mdl_fill(mdl_params_add_buffer(saved, "d", 1, s2), 3.5);
    CHECK(mdl_save(saved, path_of("m.safetensors"), NULL) == MDL_OK, "%s", mdl_last_error());
    a = mdl_params_add(ps, "a", 1, s5);
    b = mdl_params_add(ps, "b", 2, s43);  /* the shape transposed */
    c = mdl_params_add(ps, "c", 1, s2);   /* not in the file */
    NN(c);
    mdl_fill(a, -1);
    mdl_fill(b, -1);
    memcpy(before, b->data, sizeof before);
    CHECK(mdl_load(ps, path_of("m.safetensors"), MDL_LOAD_STRICT, &r) == MDL_ERR_FORMAT,
          "strict load of a different set");
    CHECK(r.loaded == 0 && r.missing == 1 && r.unexpected == 1 && r.mismatched == 1,
          "strict report %d %d %d %d", r.loaded, r.missing, r.unexpected, r.mismatched);
    CHECK(strcmp(r.text, "missing: c; unexpected: d; mismatched: b ([3,4] in the file, [4,3] in "
                         "the set)") == 0, "report text '%s'", r.text);
    CHECK(strstr(mdl_last_error(), "mdl_load: ") && strstr(mdl_last_error(), "m.safetensors: the "
          "file and the set differ, so nothing was loaded (MDL_LOAD_STRICT): missing: c; "
          "unexpected: d; mismatched: b ([3,4] in the file, [4,3] in the set)"),
          "message: %s", mdl_last_error());
    CHECK(a->data[0] == -1 && memcmp(before, b->data, sizeof before) == 0, "strict changed values");
    CHECK(mdl_load(ps, path_of("m.safetensors"), MDL_LOAD_NON_STRICT, &r) == MDL_OK, "%s",
          mdl_last_error());
    CHECK(r.loaded == 1 && r.missing == 1 && r.unexpected == 1 && r.mismatched == 1,
          "non-strict report %d %d %d %d", r.loaded, r.missing, r.unexpected, r.mismatched);
    CHECK(a->data[4] == 1.5f && b->data[0] == -1 && c->data[0] == 0, "non-strict loaded a only");
    /* a long list is cut with "..." in the report */
    {
        mdl_params *many = mdl_params_new();
        char name[64];
        int i;
        for (i = 0; i < 60; i++) {
            snprintf(name, sizeof name, "a_rather_long_layer_name_%02d.weight", i);
            mdl_params_add(many, name, 1, s2);
        }
        CHECK(mdl_load(many, path_of("m.safetensors"), MDL_LOAD_NON_STRICT, &r) == MDL_OK &&
              r.missing == 60 && strlen(r.text) == sizeof r.text - 1 &&
              strcmp(r.text + sizeof r.text - 4, "...") == 0, "cut report: %d '%s'", r.missing,
              r.text);
        mdl_params_free(many);
    }
    /* another dtype loads converted: F16 and an I64 counter into a float set */
    {
        static const unsigned char bytes[] = {0x00, 0x3c, 0x00, 0xc0, 0x07, 0, 0, 0, 0, 0, 0, 0};
        size_t n = make_file("{" ENT("h", "F16", "[2]", 0, 4) "," ENT("n", "I64", "[]", 4, 12) "}",
                             -1, bytes, sizeof bytes);
        mdl_params *half = mdl_params_new();
        mdl_safetensors *st = NULL;
        mdl_tensor *h = mdl_params_add(half, "h", 1, s2), *nb = mdl_params_add_buffer(half, "n", 0, NULL);
        CHECK(mdl_safetensors_open_mem(file_buf, n, "half", &st) == MDL_OK &&
              mdl_safetensors_load(st, half, MDL_LOAD_STRICT, &r) == MDL_OK && r.loaded == 2 &&
              h->data[0] == 1 && h->data[1] == -2 && nb->data[0] == 7, "F16 and I64 into floats: %s",
              mdl_last_error());
        mdl_safetensors_free(st);
        mdl_params_free(half);
    }
    mdl_params_free(saved);
    mdl_params_free(ps);
}

/* ---- 6. a failed save keeps the old file ---- */

static void test_failed_saves(void) {
    mdl_params *ps = mdl_params_new(), *other = mdl_params_new();
    int s3[1] = {3};
    static unsigned char old[512], now[512];
    size_t n_old, n_now;
    char target[600], tmp[700], sub[600];
    FILE *f;
    mdl_fill(mdl_params_add(ps, "w", 1, s3), 1);
    mdl_fill(mdl_params_add(other, "w", 1, s3), 2);
    snprintf(target, sizeof target, "%s", path_of("keep.safetensors"));
    CHECK(mdl_save(ps, target, NULL) == MDL_OK, "%s", mdl_last_error());
    n_old = read_whole(target, old, sizeof old);
    /* the temporary file cannot be made (a folder is in its way, which stops root too) */
    snprintf(tmp, sizeof tmp, "%s.tmp", target);
    CHECK(mkdir(tmp, 0755) == 0, "mkdir %s", tmp);
    CHECK(mdl_save(other, target, NULL) == MDL_ERR_IO, "a save through a blocked .tmp");
    CHECK(strstr(mdl_last_error(), "cannot create") && strstr(mdl_last_error(), ".tmp") &&
          strstr(mdl_last_error(), "keep.safetensors' is unchanged"), "message: %s",
          mdl_last_error());
    n_now = read_whole(target, now, sizeof now);
    CHECK(n_now == n_old && memcmp(now, old, n_old) == 0, "the old file changed");
    rmdir(tmp);
    /* the rename fails (the target is a folder): the temporary file is removed */
    snprintf(sub, sizeof sub, "%s", path_of("folder.safetensors"));
    mkdir(sub, 0755);
    CHECK(mdl_save(ps, sub, NULL) == MDL_ERR_IO && strstr(mdl_last_error(), "cannot rename") &&
          strstr(mdl_last_error(), "is unchanged"), "rename onto a folder: %s", mdl_last_error());
    snprintf(tmp, sizeof tmp, "%s.tmp", sub);
    f = fopen(tmp, "rb");
    CHECK(f == NULL, "the temporary file %s was left behind", tmp);
    if (f) fclose(f);
    rmdir(sub);
    /* a folder that does not exist */
    CHECK(mdl_save(ps, path_of("no/such/folder/x.safetensors"), NULL) == MDL_ERR_IO &&
          strstr(mdl_last_error(), "No such file or directory"), "no folder: %s", mdl_last_error());
    /* a folder without write permission (root writes anyway: then the check is skipped) */
    snprintf(sub, sizeof sub, "%s", path_of("readonly"));
    mkdir(sub, 0755);
    snprintf(tmp, sizeof tmp, "%s/keep.safetensors", sub);
    CHECK(mdl_save(ps, tmp, NULL) == MDL_OK, "%s", mdl_last_error());
    chmod(sub, 0555);
    if (geteuid() != 0) {
        CHECK(mdl_save(other, tmp, NULL) == MDL_ERR_IO && strstr(mdl_last_error(), "Permission denied"),
              "a read-only folder: %s", mdl_last_error());
        n_now = read_whole(tmp, now, sizeof now);
        CHECK(n_now == n_old && memcmp(now, old, n_old) == 0, "the old file changed");
    } else {
        printf("test_io: note: running as root, which writes into a read-only folder: that "
               "case is skipped (the blocked .tmp case covers the same path)\n");
    }
    chmod(sub, 0755);
    remove(tmp);
    rmdir(sub);
    /* a full disk: /dev/full fails every write with ENOSPC */
    f = fopen("/dev/full", "wb");
    if (f) {
        CHECK(mdl_save_stream(ps, f, NULL) == MDL_ERR_IO &&
              strstr(mdl_last_error(), "mdl_save_stream: writing the stream failed: No space left"),
              "/dev/full: %s", mdl_last_error());
        fclose(f);
    } else {
        printf("test_io: note: no /dev/full here, the full-disk case is skipped\n");
    }
    n_now = read_whole(target, now, sizeof now);
    CHECK(n_now == n_old && memcmp(now, old, n_old) == 0, "the old file changed at the end");
    remove(target);
    mdl_params_free(ps);
    mdl_params_free(other);
}

/* ---- 7. checkpoints: a run stopped, saved, loaded into new objects and resumed ---- */

#define N_ROWS 50
#define BATCH 8
#define PER_EPOCH 7 /* 6 batches of 8 and one of 2 */

/* Everything a training run owns, made the same way every time from fixed seeds. */
typedef struct run {
    mdl_params *ps;
    mdl_sequential *net;
    mdl_optim *opt;
    mdl_scheduler *sch;
    mdl_dataset *all, *train, *parts[2];
    mdl_batches it;
    mdl_rng init, shuffle, drop;
    mdl_arena *ar;
} run;

static void run_make(run *r, int kind) {
    mdl_arena *tmp = mdl_arena_new(0);
    int xs[2] = {N_ROWS + 10, 6}, ys[1] = {N_ROWS + 10};
    double sizes[2] = {N_ROWS, 10};
    mdl_tensor *x, *y;
    mdl_rng data;
    mdl_tensor *g1[8], *g2[8];
    int n1 = 0, n2 = 0, i;
    mdl_optim_opts o = mdl_optim_defaults(kind == 0 ? MDL_ADAM : kind == 1 ? MDL_SGD : MDL_RMSPROP);
    mdl_schedule_opts s = mdl_schedule_defaults(MDL_LR_ONE_CYCLE);
    memset(r, 0, sizeof *r);
    mdl_rng_seed(&r->init, 1);
    mdl_rng_seed(&data, 2);
    mdl_rng_seed(&r->shuffle, 3);
    mdl_rng_seed(&r->drop, 4);
    r->ps = mdl_params_new();
    r->net = mdl_sequential_new();
    mdl_sequential_add(r->net, mdl_linear_layer(r->ps, "fc1", 6, 16, 1, &r->init));
    mdl_sequential_add(r->net, mdl_batch_norm1d_layer(r->ps, "bn", 16));
    mdl_sequential_add(r->net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(r->net, mdl_dropout_layer(0.25, &r->drop));
    mdl_sequential_add(r->net, mdl_linear_layer(r->ps, "fc2", 16, 3, 1, &r->init));
    /* the data: 60 rows split 50 / 10 by a seeded split (so the training set's ids are not
       0..49 in order) */
    x = mdl_randn(tmp, &data, 2, xs, 0, 1);
    y = mdl_zeros(tmp, 1, ys);
    for (i = 0; i < N_ROWS + 10; i++)
        y->data[i] = (mdl_scalar)((x->data[6 * i] > 0) + (x->data[6 * i + 1] > 0.5f));
    r->all = mdl_dataset_new(x, y);
    mdl_dataset_split(r->all, 2, sizes, 0, &data, r->parts);
    r->train = r->parts[0];
    mdl_batches_init(&r->it, r->train, BATCH, 1, 0, &r->shuffle);
    /* two parameter groups: weights with weight decay, the rest without */
    for (i = 0; i < mdl_params_count(r->ps); i++) {
        mdl_tensor *t = mdl_params_get(r->ps, i);
        if (!t->requires_grad) continue;
        if (strstr(t->name, "weight") && t->ndim == 2)
            g1[n1++] = t;
        else
            g2[n2++] = t;
    }
    o.lr = 0.05;
    if (kind == 1) o.momentum = 0.9;
    if (kind == 2) { /* every state tensor RMSProp has */
        o.lr = 0.01;
        o.momentum = 0.5;
        o.centered = 1;
    }
    o.weight_decay = 0.01;
    r->opt = mdl_optim_new(NULL, &o);
    mdl_optim_add_group(r->opt, n1, g1, &o);
    o.weight_decay = 0;
    mdl_optim_add_group(r->opt, n2, g2, &o);
    s.total_steps = 40; /* a one-cycle schedule stepped every batch: lr and beta1 move */
    r->sch = mdl_scheduler_new(r->opt, &s);
    r->ar = mdl_arena_new(0);
    mdl_arena_free(tmp);
}

static void run_free(run *r) {
    mdl_scheduler_free(r->sch);
    mdl_optim_free(r->opt);
    mdl_sequential_free(r->net);
    mdl_params_free(r->ps);
    mdl_dataset_free(r->all);
    mdl_dataset_free(r->parts[0]);
    mdl_dataset_free(r->parts[1]);
    mdl_arena_free(r->ar);
}

/* Train `steps` batches, carrying on over epochs (a 0 from mdl_batches_next ends an epoch). */
static int run_steps(run *r, int steps) {
    int k;
    for (k = 0; k < steps; k++) {
        mdl_tensor *xb, *yb, *loss;
        if (!mdl_batches_next(&r->it, r->ar, &xb, &yb) && !mdl_batches_next(&r->it, r->ar, &xb, &yb))
            return 0;
        loss = mdl_cross_entropy_loss(r->ar, mdl_sequential_forward(r->ar, r->net, xb), yb, NULL);
        if (!loss || mdl_backward(loss) != MDL_OK) return 0;
        mdl_optim_step(r->opt);
        mdl_optim_zero_grad(r->opt);
        mdl_scheduler_step(r->sch);
        mdl_arena_reset(r->ar);
    }
    return 1;
}

static mdl_checkpoint run_checkpoint(run *r) {
    mdl_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.params = r->ps;
    ck.optim = r->opt;
    ck.scheduler = r->sch;
    ck.rng[0] = &r->shuffle;
    ck.rng[2] = &r->drop;
    ck.batches = &r->it;
    return ck;
}

/* Do two runs end in the same bits: parameters, buffers, optimizer state, generators, the data
   set's order and the iterator? */
static int runs_equal(const run *a, const run *b, char *why, size_t size) {
    const mdl_params *sets[2][2];
    int s, i;
    sets[0][0] = a->ps;
    sets[0][1] = b->ps;
    sets[1][0] = mdl_optim_state(a->opt);
    sets[1][1] = mdl_optim_state(b->opt);
    for (s = 0; s < 2; s++) {
        if (mdl_params_count(sets[s][0]) != mdl_params_count(sets[s][1])) {
            snprintf(why, size, "set %d: %d tensors against %d", s, mdl_params_count(sets[s][0]),
                     mdl_params_count(sets[s][1]));
            return 0;
        }
        for (i = 0; i < mdl_params_count(sets[s][0]); i++) {
            const mdl_tensor *x = mdl_params_get(sets[s][0], i);
            const mdl_tensor *y = mdl_params_find(sets[s][1], x->name);
            if (!y || x->numel != y->numel ||
                memcmp(x->data, y->data, x->numel * sizeof(mdl_scalar)) != 0) {
                snprintf(why, size, "tensor '%s' differs", x->name);
                return 0;
            }
        }
    }
    if (memcmp(&a->shuffle, &b->shuffle, sizeof a->shuffle) || memcmp(&a->drop, &b->drop, sizeof a->drop)) {
        snprintf(why, size, "the generators differ");
        return 0;
    }
    if (memcmp(a->train->ids, b->train->ids, N_ROWS * sizeof(int)) ||
        memcmp(a->train->x->data, b->train->x->data, a->train->x->numel * sizeof(mdl_scalar)) ||
        a->it.epoch != b->it.epoch || a->it.batch != b->it.batch || a->it.row != b->it.row) {
        snprintf(why, size, "the data set's order or the iterator differ");
        return 0;
    }
    if (mdl_scheduler_t(a->sch) != mdl_scheduler_t(b->sch) ||
        mdl_optim_group(a->opt, 1)->beta1 != mdl_optim_group(b->opt, 1)->beta1 ||
        mdl_optim_group(a->opt, 0)->lr != mdl_optim_group(b->opt, 0)->lr ||
        mdl_optim_steps(a->opt) != mdl_optim_steps(b->opt)) {
        snprintf(why, size, "the schedule or the optimizer's settings differ");
        return 0;
    }
    return 1;
}

static void test_resume(int kind, int k, int total, int skip_rng) {
    run straight, first, second;
    mdl_checkpoint ck;
    char why[200] = "";
    char path[600];
    int ok;
    snprintf(path, sizeof path, "%s", path_of("resume.safetensors"));
    run_make(&straight, kind);
    CHECK(run_steps(&straight, total), "straight run: %s", mdl_last_error());
    run_make(&first, kind);
    CHECK(run_steps(&first, k), "first part: %s", mdl_last_error());
    ck = run_checkpoint(&first);
    ck.epoch = first.it.epoch;
    ck.step = k;
    CHECK(mdl_checkpoint_save(&ck, path) == MDL_OK, "save: %s", mdl_last_error());
    run_free(&first);
    run_make(&second, kind); /* new objects, made as the first ones were */
    ck = run_checkpoint(&second);
    if (skip_rng) ck.rng[0] = ck.rng[2] = NULL;
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_OK, "load: %s", mdl_last_error());
    CHECK(ck.step == k && ck.loaded_history == NULL, "step %ld", ck.step);
    CHECK(run_steps(&second, total - k), "second part: %s", mdl_last_error());
    ok = runs_equal(&straight, &second, why, sizeof why);
    if (skip_rng)
        CHECK(!ok, "kind %d, k %d: resumed without the generators, yet the same bits", kind, k);
    else
        CHECK(ok, "kind %d: %d steps, save, load, %d steps: not the %d steps' bits: %s", kind, k,
              total - k, total, why);
    run_free(&straight);
    run_free(&second);
}

/* ReduceLROnPlateau's state is more than its step: the best value and its two counters. With
   these metrics (patience 1, cooldown 1) the counter of bad steps is 1 after step 7, and the
   cooldown is 1 after step 8: a resume there that lost either would cut the lr a step early.
   By hand: the lr halves after steps 4, 8 and 11, so it ends at 0.125. */
static void test_resume_plateau(int split) {
    static const double metric[12] = {5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 2};
    mdl_params *ps[3];
    mdl_optim *opt[3];
    mdl_scheduler *sch[3];
    mdl_schedule_opts so = mdl_schedule_defaults(MDL_LR_PLATEAU);
    mdl_checkpoint ck;
    double lr_straight[12], lr_resumed[12];
    char path[600];
    int s3[1] = {3}, i, k;
    snprintf(path, sizeof path, "%s", path_of("plateau.safetensors"));
    so.patience = 1;
    so.cooldown = 1;
    so.factor = 0.5;
    for (i = 0; i < 3; i++) {
        ps[i] = mdl_params_new();
        mdl_params_add(ps[i], "w", 1, s3);
        opt[i] = mdl_sgd_new(ps[i], 1, 0);
        sch[i] = mdl_scheduler_new(opt[i], &so);
    }
    for (k = 0; k < 12; k++) {
        mdl_scheduler_step_metric(sch[0], metric[k]);
        lr_straight[k] = mdl_scheduler_lr(sch[0]);
    }
    for (k = 0; k < split; k++) {
        mdl_scheduler_step_metric(sch[1], metric[k]);
        lr_resumed[k] = mdl_scheduler_lr(sch[1]);
    }
    memset(&ck, 0, sizeof ck);
    ck.params = ps[1];
    ck.optim = opt[1];
    ck.scheduler = sch[1];
    CHECK(mdl_checkpoint_save(&ck, path) == MDL_OK, "%s", mdl_last_error());
    ck.params = ps[2];
    ck.optim = opt[2];
    ck.scheduler = sch[2];
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_OK, "%s", mdl_last_error());
    for (k = split; k < 12; k++) {
        mdl_scheduler_step_metric(sch[2], metric[k]);
        lr_resumed[k] = mdl_scheduler_lr(sch[2]);
    }
    CHECK(memcmp(lr_straight, lr_resumed, sizeof lr_straight) == 0 && lr_straight[11] == 0.125,
          "plateau, resumed after %d steps: the lr after 12 steps %g straight, %g resumed (want "
          "0.125)", split, lr_straight[11], lr_resumed[11]);
    for (i = 0; i < 3; i++) {
        mdl_scheduler_free(sch[i]);
        mdl_optim_free(opt[i]);
        mdl_params_free(ps[i]);
    }
    remove(path);
}

/* Resuming through mdl_fit, at an epoch's end, with the history. */
typedef struct fit_run {
    mdl_params *ps;
    mdl_sequential *net;
    mdl_optim *opt;
    mdl_scheduler *sch;
    mdl_dataset *train;
    mdl_rng init, shuffle;
} fit_run;

static void fit_make(fit_run *f) {
    mdl_arena *tmp = mdl_arena_new(0);
    int xs[2] = {40, 3}, ys[1] = {40}, i;
    mdl_rng data;
    mdl_tensor *x, *y;
    mdl_schedule_opts s = mdl_schedule_defaults(MDL_LR_STEP);
    memset(f, 0, sizeof *f);
    mdl_rng_seed(&f->init, 11);
    mdl_rng_seed(&f->shuffle, 12);
    mdl_rng_seed(&data, 13);
    f->ps = mdl_params_new();
    f->net = mdl_sequential_new();
    mdl_sequential_add(f->net, mdl_linear_layer(f->ps, "0", 3, 8, 1, &f->init));
    mdl_sequential_add(f->net, mdl_activation_layer(MDL_LAYER_TANH));
    mdl_sequential_add(f->net, mdl_linear_layer(f->ps, "2", 8, 2, 1, &f->init));
    x = mdl_randn(tmp, &data, 2, xs, 0, 1);
    y = mdl_zeros(tmp, 1, ys);
    for (i = 0; i < 40; i++) y->data[i] = x->data[3 * i] * x->data[3 * i + 2] > 0;
    f->train = mdl_dataset_new(x, y);
    f->opt = mdl_adam_new(f->ps, 0.03);
    s.step_size = 1;
    s.gamma = 0.7;
    f->sch = mdl_scheduler_new(f->opt, &s);
    mdl_arena_free(tmp);
}

static void fit_free(fit_run *f) {
    mdl_scheduler_free(f->sch);
    mdl_optim_free(f->opt);
    mdl_sequential_free(f->net);
    mdl_params_free(f->ps);
    mdl_dataset_free(f->train);
}

static mdl_history *fit_epochs(fit_run *f, int epochs) {
    mdl_fit_opts o = mdl_fit_defaults();
    o.seq = f->net;
    o.params = f->ps;
    o.optim = f->opt;
    o.scheduler = f->sch;
    o.rng = &f->shuffle;
    o.epochs = epochs;
    o.batch_size = 6;
    o.verbose = 0;
    return mdl_fit(&o, f->train, NULL);
}

static void test_resume_fit(void) {
    fit_run straight, first, second;
    mdl_history *h0, *h1, *h2;
    mdl_checkpoint ck;
    char path[600];
    int i, same = 1;
    snprintf(path, sizeof path, "%s", path_of("fit.safetensors"));
    fit_make(&straight);
    h0 = fit_epochs(&straight, 4);
    fit_make(&first);
    h1 = fit_epochs(&first, 2);
    NN(h1);
    memset(&ck, 0, sizeof ck);
    ck.params = first.ps;
    ck.optim = first.opt;
    ck.scheduler = first.sch;
    ck.rng[0] = &first.shuffle;
    ck.data = first.train;
    ck.history = h1;
    ck.epoch = 2;
    CHECK(mdl_checkpoint_save(&ck, path) == MDL_OK, "%s", mdl_last_error());
    fit_make(&second);
    memset(&ck, 0, sizeof ck);
    ck.params = second.ps;
    ck.optim = second.opt;
    ck.scheduler = second.sch;
    ck.rng[0] = &second.shuffle;
    ck.data = second.train;
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_OK, "%s", mdl_last_error());
    h2 = fit_epochs(&second, 2);
    for (i = 0; i < mdl_params_count(straight.ps); i++) {
        const mdl_tensor *x = mdl_params_get(straight.ps, i), *y = mdl_params_get(second.ps, i);
        if (memcmp(x->data, y->data, x->numel * sizeof(mdl_scalar))) same = 0;
    }
    CHECK(same, "mdl_fit for 4 epochs and 2 + checkpoint + 2 end differently");
    CHECK(h0 && h2 && h0->loss[3] == h2->loss[1] && h0->lr[2] == h2->lr[0],
          "the resumed epochs' losses differ from the straight run's");
    CHECK(ck.epoch == 2 && ck.loaded_history && ck.loaded_history->epochs == 2 &&
          ck.loaded_history->loss[1] == h1->loss[1] && ck.loaded_history->lr[0] == h1->lr[0] &&
          ck.loaded_history->seconds[1] == h1->seconds[1] &&
          ck.loaded_history->best_epoch == h1->best_epoch &&
          strcmp(ck.loaded_history->metric_name, "accuracy") == 0, "the history came back wrong");
    mdl_history_free(ck.loaded_history);
    mdl_history_free(h0);
    mdl_history_free(h1);
    mdl_history_free(h2);
    fit_free(&straight);
    fit_free(&first);
    fit_free(&second);
}

/* A checkpoint that does not fit the objects is refused, and nothing changes. */
static void test_checkpoint_mismatch(void) {
    run a, b;
    mdl_checkpoint ck;
    char path[600];
    mdl_scalar w0;
    mdl_rng before;
    snprintf(path, sizeof path, "%s", path_of("mm.safetensors"));
    run_make(&a, 0);
    run_steps(&a, 3);
    ck = run_checkpoint(&a);
    CHECK(mdl_checkpoint_save(&ck, path) == MDL_OK, "%s", mdl_last_error());
    /* an SGD optimizer instead of Adam */
    run_make(&b, 1);
    ck = run_checkpoint(&b);
    w0 = mdl_params_get(b.ps, 0)->data[0];
    before = b.shuffle;
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_ERR_FORMAT &&
          strstr(mdl_last_error(), "the checkpoint's optimizer is Adam, this one is SGD"),
          "kind: %s", mdl_last_error());
    CHECK(mdl_params_get(b.ps, 0)->data[0] == w0 && memcmp(&before, &b.shuffle, sizeof before) == 0 &&
          mdl_params_count(mdl_optim_state(b.opt)) == 0, "a refused load changed something");
    run_free(&b);
    /* a model with another layer size */
    run_make(&b, 0);
    mdl_params_add(b.ps, "extra", 0, NULL);
    ck = run_checkpoint(&b);
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_ERR_FORMAT &&
          strstr(mdl_last_error(), "the model differs from the checkpoint's: missing: extra"),
          "model: %s", mdl_last_error());
    CHECK(mdl_params_count(mdl_optim_state(b.opt)) == 0, "the added state was not taken out");
    run_free(&b);
    /* another batch size */
    run_make(&b, 0);
    mdl_batches_init(&b.it, b.train, 5, 1, 0, &b.shuffle);
    ck = run_checkpoint(&b);
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_ERR_FORMAT &&
          strstr(mdl_last_error(), "the checkpoint's batches have 8 rows, this iterator's 5"),
          "batches: %s", mdl_last_error());
    run_free(&b);
    /* a data set of other rows */
    run_make(&b, 0);
    b.train->ids[3] = 1000;
    ck = run_checkpoint(&b);
    CHECK(mdl_checkpoint_load(&ck, path) == MDL_ERR_FORMAT &&
          strstr(mdl_last_error(), "the data set's rows are not the checkpoint's: row id ") &&
              strstr(mdl_last_error(), "is in the checkpoint, not in this data set"),
          "data: %s", mdl_last_error());
    run_free(&b);
    /* an optimizer that has taken steps loads a checkpoint from before any: its state goes */
    run_make(&b, 0);
    ck = run_checkpoint(&b);
    CHECK(mdl_checkpoint_save(&ck, path_of("step0.safetensors")) == MDL_OK, "%s", mdl_last_error());
    run_steps(&b, 2);
    CHECK(mdl_params_count(mdl_optim_state(b.opt)) > 0, "no state after two steps");
    CHECK(mdl_checkpoint_load(&ck, path_of("step0.safetensors")) == MDL_OK, "%s", mdl_last_error());
    CHECK(mdl_params_count(mdl_optim_state(b.opt)) == 0 && mdl_optim_steps(b.opt) == 0 &&
          mdl_scheduler_t(b.sch) == 0, "the state from before the load stayed");
    run_free(&b);
    /* a plain model file is not a checkpoint; a checkpoint loads as a model non-strictly */
    {
        mdl_load_report r;
        CHECK(mdl_save(a.ps, path_of("plain.safetensors"), NULL) == MDL_OK, "%s", mdl_last_error());
        ck = run_checkpoint(&a);
        CHECK(mdl_checkpoint_load(&ck, path_of("plain.safetensors")) == MDL_ERR_FORMAT &&
              strstr(mdl_last_error(), "not a minidl checkpoint"), "plain: %s", mdl_last_error());
        run_make(&b, 0);
        CHECK(mdl_load(b.ps, path, MDL_LOAD_NON_STRICT, &r) == MDL_OK &&
              r.loaded == mdl_params_count(b.ps) && r.missing == 0 && r.unexpected > 0 &&
              memcmp(mdl_params_get(b.ps, 0)->data, mdl_params_get(a.ps, 0)->data,
                     mdl_params_get(a.ps, 0)->numel * sizeof(mdl_scalar)) == 0,
              "the model part of a checkpoint: %s", mdl_last_error());
        run_free(&b);
    }
    run_free(&a);
}

/* Checkpoints whose metadata was tampered with: each rejected with its reason. */
static void test_checkpoint_tampered(void) {
    static const struct {
        const char *key, *value, *want;
    } edits[] = {
        {"optimizer.group.0.lr", "-1", "the settings of group 0 are out of range"},
        {"optimizer.group.1.beta1", "1.5", "the settings of group 1 are out of range"},
        {"optimizer.group.0.amsgrad", "2", "'optimizer.group.0.amsgrad' is '2', not a whole number in 0..1"},
        {"optimizer.steps", "x", "'optimizer.steps' is 'x', not a whole number"},
        {"optimizer.groups", "3", "has 3 parameter groups, this one 2"},
        {"scheduler.kind", "StepLR", "the checkpoint's schedule is StepLR, this one is OneCycleLR"},
        {"scheduler.base_lr.1", "nan", "not a finite number"},
        {"rng.0", "0123", "'rng.0' is not a generator's state"},
        {"format", "minidl-checkpoint 2", "not a minidl checkpoint"},
        {"epoch", "", "'epoch' is '', not a whole number"},
    };
    run a, b;
    mdl_checkpoint ck;
    mdl_safetensors *st = NULL;
    size_t e;
    run_make(&a, 0);
    run_steps(&a, 2);
    ck = run_checkpoint(&a);
    ck.batches = NULL; /* data.ids is I32, which mdl_save below would not keep */
    CHECK(mdl_checkpoint_save(&ck, path_of("t.safetensors")) == MDL_OK, "%s", mdl_last_error());
    CHECK(mdl_safetensors_open(path_of("t.safetensors"), 0, &st) == MDL_OK, "%s", mdl_last_error());
    if (!st) return;
    for (e = 0; e < sizeof edits / sizeof edits[0] + 1; e++) {
        /* copy the file with one metadata value changed (or, last, a state tensor renamed) */
        mdl_params *copy = mdl_params_new();
        const char *meta[400];
        int i, m = 0;
        for (i = 0; i < mdl_safetensors_count(st); i++) {
            const mdl_safetensors_info *in = mdl_safetensors_get(st, i);
            const char *name = in->name;
            mdl_tensor *t;
            if (e == sizeof edits / sizeof edits[0] && strcmp(name, "optimizer.state.2.exp_avg") == 0)
                name = "optimizer.state.9.exp_avg";
            t = mdl_params_add_buffer(copy, name, in->ndim, in->shape);
            mdl_safetensors_read(st, i, t->data, t->numel);
        }
        for (i = 0; i < mdl_safetensors_meta_count(st) && m < 398; i++) {
            const char *key = mdl_safetensors_meta_key(st, i);
            meta[m++] = key;
            meta[m++] = e < sizeof edits / sizeof edits[0] && strcmp(key, edits[e].key) == 0
                            ? edits[e].value : mdl_safetensors_meta(st, key);
        }
        meta[m] = NULL;
        CHECK(mdl_save(copy, path_of("t2.safetensors"), meta) == MDL_OK, "%s", mdl_last_error());
        run_make(&b, 0);
        ck = run_checkpoint(&b);
        ck.batches = NULL;
        CHECK(mdl_checkpoint_load(&ck, path_of("t2.safetensors")) == MDL_ERR_FORMAT &&
              strstr(mdl_last_error(), e < sizeof edits / sizeof edits[0] ? edits[e].want
                     : "tensor 'optimizer.state.9.exp_avg' is not a state tensor of this Adam"),
              "edit %zu: %s", e, mdl_last_error());
        CHECK(mdl_params_count(mdl_optim_state(b.opt)) == 0, "edit %zu left state behind", e);
        run_free(&b);
        mdl_params_free(copy);
    }
    mdl_safetensors_free(st);
    run_free(&a);
}

/* ---- 8. contract errors ---- */

static void test_contract_errors(void) {
    mdl_params *ps = mdl_params_new();
    int s2[1] = {2};
    mdl_scalar buf[4];
    mdl_safetensors *st = NULL;
    mdl_checkpoint ck;
    const char *odd[] = {"key", NULL};
    const char *twice[] = {"k", "1", "k", "2", NULL};
    const char *reserved[] = {"epoch", "1", NULL};
    mdl_params_add(ps, "w", 1, s2);
    capture_errors();
    CHECK(mdl_save(NULL, "x", NULL) == MDL_ERR_NULL && captured_code == MDL_ERR_NULL, "save NULL");
    CHECK(mdl_save(ps, NULL, NULL) == MDL_ERR_NULL, "save path NULL");
    CHECK(mdl_save(ps, path_of("c.safetensors"), odd) == MDL_ERR_ARG &&
          strstr(captured_message, "metadata key 'key' has no value"), "%s", captured_message);
    CHECK(mdl_save(ps, path_of("c.safetensors"), twice) == MDL_ERR_ARG &&
          strstr(captured_message, "'k' appears twice"), "%s", captured_message);
    CHECK(mdl_load(ps, NULL, MDL_LOAD_STRICT, NULL) == MDL_ERR_NULL, "load path NULL");
    CHECK(mdl_load(ps, "x", (mdl_load_mode)7, NULL) == MDL_ERR_ARG, "load mode 7");
    CHECK(mdl_safetensors_open(NULL, 0, &st) == MDL_ERR_NULL, "open NULL");
    CHECK(mdl_save(ps, path_of("c.safetensors"), NULL) == MDL_OK, "%s", mdl_last_error());
    mdl_clear_error();
    CHECK(mdl_safetensors_open(path_of("c.safetensors"), 0, &st) == MDL_OK, "%s", mdl_last_error());
    if (st) {
        CHECK(mdl_safetensors_read(st, 0, buf, 3) == MDL_ERR_SHAPE &&
              strstr(captured_message, "tensor 'w' has 2 values, and dst has room for 3"),
              "read n: %s", captured_message);
        CHECK(mdl_safetensors_read(st, 1, buf, 2) == MDL_ERR_ARG, "read i");
        CHECK(mdl_safetensors_get(st, 5) == NULL && captured_code == MDL_ERR_ARG, "get 5");
        CHECK(mdl_safetensors_meta_key(st, 0) == NULL, "meta_key 0");
        mdl_safetensors_free(st);
    }
    {
        mdl_params *badname = mdl_params_new();
        mdl_params_add(badname, "bad\xff", 1, s2);
        CHECK(mdl_save(badname, path_of("c.safetensors"), NULL) == MDL_ERR_ARG &&
              strstr(captured_message, "not valid UTF-8"), "%s", captured_message);
        mdl_params_free(badname);
        badname = mdl_params_new();
        mdl_params_add(badname, "__metadata__", 1, s2);
        CHECK(mdl_save(badname, path_of("c.safetensors"), NULL) == MDL_ERR_ARG &&
              strstr(captured_message, "the format's own key"), "%s", captured_message);
        mdl_params_free(badname);
    }
    memset(&ck, 0, sizeof ck);
    CHECK(mdl_checkpoint_save(&ck, "x") == MDL_ERR_NULL && strstr(captured_message, "ck->params"),
          "%s", captured_message);
    CHECK(mdl_checkpoint_load(NULL, "x") == MDL_ERR_NULL, "ck NULL");
    ck.params = ps;
    ck.metadata = reserved;
    CHECK(mdl_checkpoint_save(&ck, path_of("c.safetensors")) == MDL_ERR_ARG &&
          strstr(captured_message, "'epoch' is one a checkpoint uses itself"), "%s",
          captured_message);
    ck.metadata = NULL;
    mdl_params_add(ps, "optimizer.lr", 0, NULL);
    CHECK(mdl_checkpoint_save(&ck, path_of("c.safetensors")) == MDL_ERR_ARG &&
          strstr(captured_message, "a tensor named 'optimizer.lr'"), "%s", captured_message);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_params_free(ps);
}

/* ---- files written by PyTorch (tests/torch/make_io_files.py) load ---- */

static void test_torch_files(void) {
    static const char *const files[] = {"tests/torch/data/mlp_bn_f32.safetensors",
                                        "tests/torch/data/mlp_bn_f16.safetensors",
                                        "tests/torch/data/mlp_bn_bf16.safetensors",
                                        "tests/torch/data/mlp_bn_f64.safetensors"};
    mdl_params *ps[4];
    mdl_rng rng;
    int f, i;
    for (f = 0; f < 4; f++) {
        mdl_load_report r;
        ps[f] = mdl_params_new();
        mdl_rng_seed(&rng, 1);
        mdl_linear_layer(ps[f], "fc1", 6, 16, 1, &rng);
        mdl_batch_norm1d_layer(ps[f], "bn", 16);
        mdl_linear_layer(ps[f], "fc2", 16, 3, 1, &rng);
        CHECK(mdl_load(ps[f], files[f], MDL_LOAD_STRICT, &r) == MDL_OK && r.loaded == 9,
              "%s: %s", files[f], mdl_last_error());
    }
    /* the same weights in four dtypes: F64 and F32 agree, F16 and BF16 within their rounding */
    for (i = 0; i < mdl_params_count(ps[0]); i++) {
        const mdl_tensor *t32 = mdl_params_get(ps[0], i), *t64 = mdl_params_get(ps[3], i);
        const mdl_tensor *t16 = mdl_params_get(ps[1], i), *tb = mdl_params_get(ps[2], i);
        size_t j, bad = 0;
        for (j = 0; j < t32->numel; j++) {
            double v = t32->data[j];
            if (t64->data[j] != t32->data[j] || fabs(t16->data[j] - v) > fabs(v) / 1024 + 1e-7 ||
                fabs(tb->data[j] - v) > fabs(v) / 128 + 1e-30)
                bad++;
        }
        CHECK(bad == 0, "%s: %zu values disagree between the dtypes", t32->name, bad);
    }
    CHECK(mdl_params_find(ps[0], "bn.num_batches_tracked")->data[0] == 3,
          "num_batches_tracked (I64 in torch's file) %g",
          (double)mdl_params_find(ps[0], "bn.num_batches_tracked")->data[0]);
    for (f = 0; f < 4; f++) mdl_params_free(ps[f]);
}

int main(void) {
    snprintf(dir, sizeof dir, "build/test_io.tmp.%ld", (long)getpid());
    mkdir("build", 0755);
    if (mkdir(dir, 0755) != 0) {
        printf("test_io: cannot make %s\n", dir);
        return 1;
    }
    test_bytes();
    test_round_trip();
    test_dtypes();
    test_valid_oddities();
    test_bad_files();
    test_matching();
    test_failed_saves();
    /* resuming: Adam and SGD with momentum, in the middle of an epoch, at the end of one,
       before any step, after two epochs; and, as a control, without the generators */
    test_resume(0, 10, 30, 0);
    test_resume(0, PER_EPOCH, 30, 0);
    test_resume(0, 2 * PER_EPOCH, 30, 0);
    test_resume(0, 0, 12, 0);
    test_resume(1, 11, 25, 0);
    test_resume(1, PER_EPOCH, 25, 0);
    test_resume(2, 9, 20, 0);
    test_resume(0, 10, 30, 1);
    test_resume_plateau(7);
    test_resume_plateau(8);
    test_resume_fit();
    test_checkpoint_mismatch();
    test_checkpoint_tampered();
    test_contract_errors();
    test_torch_files();
    {
        static const char *const left[] = {"w.safetensors", "w2.safetensors", "rt.safetensors",
                                           "bad.safetensors", "whole.safetensors", "m.safetensors",
                                           "resume.safetensors", "fit.safetensors",
                                           "mm.safetensors", "step0.safetensors",
                                           "plain.safetensors", "t.safetensors",
                                           "t2.safetensors", "c.safetensors"};
        size_t i;
        for (i = 0; i < sizeof left / sizeof left[0]; i++) remove(path_of(left[i]));
        CHECK(rmdir(dir) == 0, "the test's folder %s is not empty at the end", dir);
    }
    return test_summary();
}
