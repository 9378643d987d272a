/* tests/test_loaders.c - the loaders: CSV (penguins, digits, and small texts that try each rule:
   quotes, CRLF, missing values, class names), IDX (Fashion-MNIST, plain and gzipped), gzip
   (files made by Debian's gzip at levels 1, 6 and 9 and by Python's gzip module at 9 and 0,
   headers with every flag, several members, stored blocks written here, hand-made deflate bits
   for each kind of corruption, every cut of a file), text and vocabularies (Pride and Prejudice,
   small strings). Each malformed file is written into this program's own folder (tests/run.sh
   builds it in a fresh folder under build/), loaded, and its error code and message checked:
   the message must name the file and the line or byte. The sanitize and valgrind modes check
   that no failure leaks. Expected values come from the data files read by eye (penguins.csv's
   rows), from tutorials/data/README.md (counts), or from Python's csv, re and collections run
   on the same files (the Austen word counts), never from minidl's output.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_loaders.c \
       -o build/test_loaders -lm   (run from the repository root)
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"
#define TEST_FILES_PREFIX "loaders_"
#include "test_files.h"

#include <stdarg.h>
#include <stdlib.h>

#define DATA "tutorials/data/"
#define FIXTURES "tests/loaders/"

/* ---- helpers ---- */

static unsigned char *slurp(const char *path, size_t *n) {
    unsigned char *p = NULL;
    mdl_error e = mdl_read_file(path, 0, &p, n);
    CHECK(e == MDL_OK, "reading %s: %s", path, mdl_last_error());
    return p;
}

/* Load a CSV text written to a file of that name; the set must be unchanged on failure. */
static mdl_error csv_text(mdl_params *ps, const char *file, const char *text,
                          const mdl_csv_opts *o, mdl_csv *out) {
    int before = mdl_params_count(ps);
    const char *path = write_file(file, text, strlen(text));
    mdl_error e = mdl_load_csv(ps, file, path, o, out);
    if (e != MDL_OK) {
        CHECK(mdl_params_count(ps) == before, "%s: the set changed on failure", file);
        CHECK(out->x == NULL && out->y == NULL && out->classes == NULL, "%s: out not zeroed",
              file);
    }
    return e;
}

static void check_row(const mdl_tensor *x, int row, const double *want, int n,
                      const char *what) {
    int j;
    CHECK(x && x->ndim == 2 && x->shape[1] == n && row < x->shape[0], "%s: shape", what);
    if (!(x && x->ndim == 2 && x->shape[1] == n && row < x->shape[0])) return;
    for (j = 0; j < n; j++)
        CHECK_NEAR(x->data[(size_t)row * (size_t)n + (size_t)j], want[j],
                   1e-6 * (1 + fabs(want[j])), what);
}

/* ---- gzip written by hand ---- */

/* CRC-32, bit by bit, as RFC 1952's appendix describes it (independent of minidl's table). */
static uint32_t crc32_bits(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_le32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* A gzip member of stored blocks of at most `block` bytes, written by hand. */
static unsigned char *gzip_stored(const unsigned char *data, size_t n, size_t block,
                                  size_t *out_n) {
    size_t blocks = n / block + 1, at = 0, i;
    unsigned char *g = (unsigned char *)malloc(10 + blocks * 5 + n + 8), *p = g;
    const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(p, header, 10);
    p += 10;
    for (i = 0; i < blocks; i++) {
        size_t len = n - at < block ? n - at : block;
        *p++ = (unsigned char)(i + 1 == blocks); /* BFINAL, BTYPE 00, then the byte boundary */
        *p++ = (unsigned char)len;
        *p++ = (unsigned char)(len >> 8);
        *p++ = (unsigned char)~len;
        *p++ = (unsigned char)(~len >> 8);
        memcpy(p, data + at, len);
        p += len;
        at += len;
    }
    put_le32(p, crc32_bits(data, n));
    put_le32(p + 4, (uint32_t)n);
    *out_n = (size_t)(p + 8 - g);
    return g;
}

/* ---- CSV on the shipped data ---- */

static void test_penguins(void) {
    const char *path = DATA "penguins.csv";
    mdl_params *ps = mdl_params_new();
    mdl_csv_opts o;
    mdl_csv c;
    mdl_error e;
    int k, count[3] = {0, 0, 0};

    /* flipper length and body mass against the species: 2 rows are NA */
    memset(&o, 0, sizeof o);
    o.columns = "flipper_length_mm, body_mass_g";
    o.target = "species";
    o.classes = 1;
    o.drop_missing = 1;
    e = mdl_load_csv(ps, "p", path, &o, &c);
    CHECK(e == MDL_OK, "penguins: %s", mdl_last_error());
    if (e == MDL_OK) {
        const double r0[2] = {181, 3750}, r3[2] = {193, 3450}, last[2] = {198, 3775};
        CHECK(c.rows == 342 && c.dropped == 2, "rows %d dropped %d", c.rows, c.dropped);
        CHECK(c.x->shape[0] == 342 && c.x->shape[1] == 2 && c.y->shape[0] == 342, "shapes");
        CHECK(c.x == mdl_params_find(ps, "p.x") && c.y == mdl_params_find(ps, "p.y"), "names");
        CHECK(c.x->requires_grad == 0 && c.x->grad == NULL && c.x->lifetime == MDL_PERSISTENT,
              "x is a persistent buffer");
        check_row(c.x, 0, r0, 2, "line 2");   /* Adelie,Torgersen,39.1,18.7,181,3750,... */
        check_row(c.x, 3, r3, 2, "line 6");   /* line 5 is the NA row, dropped */
        check_row(c.x, 341, last, 2, "line 345"); /* Chinstrap,Dream,50.2,18.7,198,3775 */
        CHECK(mdl_vocab_size(c.classes) == 3, "3 species");
        CHECK(!strcmp(mdl_vocab_token(c.classes, 0), "Adelie") &&
              !strcmp(mdl_vocab_token(c.classes, 1), "Chinstrap") &&
              !strcmp(mdl_vocab_token(c.classes, 2), "Gentoo"), "sorted class names");
        CHECK(mdl_vocab_index(c.classes, "Gentoo") == 2 && mdl_vocab_index(c.classes, "Emu") < 0,
              "lookup");
        CHECK(c.y->data[0] == 0 && c.y->data[341] == 1, "y of the first and last rows");
        for (k = 0; k < 342; k++) count[(int)c.y->data[k]]++;
        /* README: 152 Adelie, 68 Chinstrap, 124 Gentoo; the two NA rows are an Adelie (line 5)
           and a Gentoo */
        CHECK(count[0] == 151 && count[1] == 68 && count[2] == 123, "species counts %d %d %d",
              count[0], count[1], count[2]);
        mdl_vocab_free(c.classes);
    }

    /* sex as the target: 11 rows have NA there (README), so 333 stay */
    o.columns = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g";
    o.target = "sex";
    e = mdl_load_csv(ps, "sex", path, &o, &c);
    CHECK(e == MDL_OK, "penguins by sex: %s", mdl_last_error());
    if (e == MDL_OK) {
        const double r0[4] = {39.1, 18.7, 181, 3750};
        int male = 0;
        CHECK(c.rows == 333 && c.dropped == 11, "rows %d dropped %d", c.rows, c.dropped);
        check_row(c.x, 0, r0, 4, "line 2, four columns");
        CHECK(!strcmp(mdl_vocab_token(c.classes, 0), "female") &&
              !strcmp(mdl_vocab_token(c.classes, 1), "male"), "female, male");
        for (k = 0; k < 333; k++) male += c.y->data[k] == 1;
        CHECK(male == 168, "168 males, got %d", male);
        mdl_vocab_free(c.classes);
    }

    /* the year as a number target, no features: every row, nothing missing there */
    memset(&o, 0, sizeof o);
    o.columns = "";
    o.target = "year";
    e = mdl_load_csv(ps, "year", path, &o, &c);
    CHECK(e == MDL_OK && c.x == NULL && c.y && c.rows == 344 && c.classes == NULL,
          "year alone: %s", mdl_last_error());
    if (e == MDL_OK) CHECK(c.y->data[0] == 2007 && c.y->data[343] == 2009, "years");

    /* missing values as errors: line 5 is the first NA */
    memset(&o, 0, sizeof o);
    o.columns = "bill_length_mm,flipper_length_mm";
    e = mdl_load_csv(ps, "na", path, &o, &c);
    check_error(e, MDL_ERR_FORMAT, "NA as an error", "mdl_load_csv", "penguins.csv:5:",
                "column 'bill_length_mm' (3)", "missing value 'NA'", "drop_missing", NULL);

    /* every column as a number: island is text */
    e = mdl_load_csv(ps, "all", path, NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "all columns", "penguins.csv:2: column 'species' (1): "
                "'Adelie' is not a number", NULL);
    o.columns = "bill_length_mm,island";
    e = mdl_load_csv(ps, "island", path, &o, &c);
    check_error(e, MDL_ERR_FORMAT, "island", "penguins.csv:2: column 'island' (2): 'Torgersen' "
                "is not a number", NULL);

    /* a column that is not there */
    o.columns = "bill_length_mm,beak";
    e = mdl_load_csv(ps, "beak", path, &o, &c);
    check_error(e, MDL_ERR_FORMAT, "no such column", "penguins.csv:1: no column named 'beak'",
                "species, island, bill_length_mm", NULL);
    CHECK(mdl_params_count(ps) == 5, "only the loads that worked are in the set: %d",
          mdl_params_count(ps));
    mdl_params_free(ps);
}

static void test_digits(void) {
    mdl_params *ps = mdl_params_new();
    mdl_csv_opts o;
    mdl_csv c;
    mdl_error e;
    int k, count[10] = {0};
    const int want[10] = {178, 182, 177, 183, 181, 182, 181, 179, 174, 180}; /* README */
    memset(&o, 0, sizeof o);
    o.no_header = 1;
    o.target = "64";
    e = mdl_load_csv(ps, "digits", DATA "digits.csv", &o, &c);
    CHECK(e == MDL_OK, "digits: %s", mdl_last_error());
    if (e == MDL_OK) {
        const double r0[8] = {0, 0, 5, 13, 9, 1, 0, 0};
        CHECK(c.x->shape[0] == 1797 && c.x->shape[1] == 64 && c.y->shape[0] == 1797, "shapes");
        CHECK_NEAR(c.x->data[0 * 64 + 2], r0[2], 0, "pixel 2 of digit 0");
        CHECK_NEAR(c.x->data[0 * 64 + 3], r0[3], 0, "pixel 3 of digit 0");
        CHECK_NEAR(c.x->data[1796 * 64 + 62], 1, 0, "pixel 62 of the last digit");
        CHECK(c.y->data[0] == 0 && c.y->data[1796] == 8, "labels of the first and last");
        for (k = 0; k < 1797; k++) count[(int)c.y->data[k]]++;
        for (k = 0; k < 10; k++) CHECK(count[k] == want[k], "digit %d: %d", k, count[k]);
    }
    /* the same labels as classes: named "0".."9", numbered by value */
    o.classes = 1;
    o.columns = "0,1,2";
    e = mdl_load_csv(ps, "digits3", DATA "digits.csv", &o, &c);
    CHECK(e == MDL_OK && mdl_vocab_size(c.classes) == 10 && c.x->shape[1] == 3, "classes: %s",
          mdl_last_error());
    if (e == MDL_OK) {
        CHECK(!strcmp(mdl_vocab_token(c.classes, 9), "9") && c.y->data[1796] == 8, "digit names");
        mdl_vocab_free(c.classes);
    }
    /* gzipped (stored blocks written here), as scikit-learn ships digits.csv.gz */
    {
        size_t n = 0, gn = 0;
        unsigned char *text = slurp(DATA "digits.csv", &n);
        unsigned char *g = text ? gzip_stored(text, n, 30000, &gn) : NULL;
        if (g) {
            const char *path = write_file("digits.csv.gz", g, gn);
            o.classes = 0;
            o.columns = NULL;
            e = mdl_load_csv(ps, "gz", path, &o, &c);
            CHECK(e == MDL_OK && c.rows == 1797 && c.x->shape[1] == 64 && c.y->data[1796] == 8,
                  "digits.csv.gz: %s", mdl_last_error());
            g[gn - 4] ^= 1; /* ISIZE */
            path = write_file("digits-bad.csv.gz", g, gn);
            e = mdl_load_csv(ps, "gz2", path, &o, &c);
            check_error(e, MDL_ERR_FORMAT, "a bad gzip CSV", "digits-bad.csv.gz: byte ",
                        "the trailer gives the size", NULL);
            free(g);
        }
        mdl_free(text);
    }
    /* a column past the last */
    o.columns = "65";
    e = mdl_load_csv(ps, "x", DATA "digits.csv", &o, &c);
    check_error(e, MDL_ERR_FORMAT, "column 65", "digits.csv:0: no column named '65'",
                "0 to 64 (the file has no header)", NULL);
    mdl_params_free(ps);
}

/* ---- CSV rules, on small texts ---- */

static void test_csv_rules(void) {
    mdl_params *ps = mdl_params_new();
    mdl_csv_opts o;
    mdl_csv c;
    mdl_error e;

    /* quotes, doubled quotes, a quoted line break, CRLF, a BOM, blank lines, spaces */
    {
        const char *text = "\xef\xbb\xbf" "name,\"a \"\"q\"\"\",label\r\n"
                           "\"x, \"\"one\"\"\", 1.5 ,\"cat, big\"\r\n"
                           "\r\n"
                           "\"two\nlines\",\"-2e1\",\"say \"\"hi\"\"\"\r\n"
                           "z,3,cat\n"
                           "w,4,\"say \"\"hi\"\"\"";
        const double a[3] = {1.5, -20, 3};
        int k;
        memset(&o, 0, sizeof o);
        o.columns = "a \"q\"";
        o.target = "label";
        o.classes = 1;
        e = mdl_load_csv_mem(ps, "q", text, strlen(text), "quotes.csv", &o, &c);
        CHECK(e == MDL_OK, "quotes: %s", mdl_last_error());
        if (e == MDL_OK) {
            CHECK(c.rows == 4 && c.x->shape[1] == 1, "4 rows of 1 column: %d", c.rows);
            for (k = 0; k < 3; k++) CHECK_NEAR(c.x->data[k], a[k], 0, "column 'a \"q\"'");
            CHECK(mdl_vocab_size(c.classes) == 3, "3 classes");
            /* strcmp order: "cat" < "cat, big" < "say \"hi\"" */
            CHECK(!strcmp(mdl_vocab_token(c.classes, 1), "cat, big") &&
                  !strcmp(mdl_vocab_token(c.classes, 2), "say \"hi\""), "quoted class names");
            CHECK(c.y->data[0] == 1 && c.y->data[1] == 2 && c.y->data[2] == 0 &&
                  c.y->data[3] == 2, "class indices");
            mdl_vocab_free(c.classes);
        }
    }
    /* the line of an error after a quoted line break, and the text after a BOM */
    {
        const char *text = "a,b\n\"x\ny\",1\n2,oops\n";
        memset(&o, 0, sizeof o);
        o.columns = "b";
        e = mdl_load_csv_mem(ps, "l", text, strlen(text), "lines.csv", &o, &c);
        check_error(e, MDL_ERR_FORMAT, "line after a quoted break",
                    "lines.csv:4: column 'b' (2): 'oops' is not a number", NULL);
    }
    /* numeric class names by value; another delimiter; an empty field dropped */
    {
        const char *text = "f;y\n1;10\n2;9\n;2\n3;2\n4;10\n";
        memset(&o, 0, sizeof o);
        o.delimiter = ';';
        o.target = "y";
        o.classes = 1;
        o.drop_missing = 1;
        e = mdl_load_csv_mem(ps, "n", text, strlen(text), "numbers.csv", &o, &c);
        CHECK(e == MDL_OK && c.rows == 4 && c.dropped == 1, "numeric classes: %s",
              mdl_last_error());
        if (e == MDL_OK) {
            CHECK(!strcmp(mdl_vocab_token(c.classes, 0), "2") &&
                  !strcmp(mdl_vocab_token(c.classes, 1), "9") &&
                  !strcmp(mdl_vocab_token(c.classes, 2), "10"), "2 < 9 < 10");
            CHECK(c.y->data[0] == 2 && c.y->data[1] == 1 && c.y->data[2] == 0, "indices");
            mdl_vocab_free(c.classes);
        }
    }
    /* a missing target, N/A, NaN: dropped, counted */
    {
        const char *text = "x,y\n1,a\n2,\nN/A,b\n3,b\nNaN,a\n";
        memset(&o, 0, sizeof o);
        o.target = "y";
        o.classes = 1;
        o.drop_missing = 1;
        e = mdl_load_csv_mem(ps, "m", text, strlen(text), "m.csv", &o, &c);
        CHECK(e == MDL_OK && c.rows == 2 && c.dropped == 3, "missing: %s", mdl_last_error());
        if (e == MDL_OK) mdl_vocab_free(c.classes);
        o.drop_missing = 0;
        e = mdl_load_csv_mem(ps, "m2", text, strlen(text), "m.csv", &o, &c);
        check_error(e, MDL_ERR_FORMAT, "missing target", "m.csv:3: column 'y' (2): missing "
                    "value ''", NULL);
        o.drop_missing = 1;
        o.target = NULL;
        o.columns = "y";
        e = mdl_load_csv_mem(ps, "m3", "y\nNA\n\nNA\n", 9, "allna.csv", &o, &c);
        check_error(e, MDL_ERR_FORMAT, "all dropped", "allna.csv: no rows of data (2 dropped",
                    NULL);
    }
    /* a header with a name twice is fine; no rows is an error */
    e = mdl_load_csv_mem(ps, "h", "a,b\n", 4, "header-only.csv", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "header only", "header-only.csv: no rows of data", NULL);
    mdl_params_free(ps);
}

/* Every way a CSV file can be wrong: written to a file, loaded, the message checked. */
static void test_csv_errors(void) {
    mdl_params *ps = mdl_params_new();
    mdl_csv_opts o;
    mdl_csv c;
    mdl_error e;
    memset(&o, 0, sizeof o);

    e = csv_text(ps, "bad_number.csv", "bill_length_mm,y\n1,2\n3,4\nabc,5\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "a bad number", "bad_number.csv:4: column 'bill_length_mm' "
                "(1): 'abc' is not a number", NULL);
    e = csv_text(ps, "trailing.csv", "a,b\n1,2x\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "trailing text", "trailing.csv:2: column 'b' (2): '2x' is "
                "not a number", NULL);
    e = csv_text(ps, "inf.csv", "a\n1e999\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "an infinite number", "inf.csv:2: column 'a' (1): '1e999' is "
                "not a finite number", NULL);
    e = csv_text(ps, "fields.csv", "a,b,c\n1,2,3\n4,5\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "too few fields", "fields.csv:3: 2 fields, but the header "
                "has 3", NULL);
    e = csv_text(ps, "fields2.csv", "a,b\n1,2,3\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "too many fields", "fields2.csv:2: 3 fields", NULL);
    e = csv_text(ps, "open_quote.csv", "a,b\n1,2\n3,\"4\n5,6\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "a quote never closed", "open_quote.csv:3: column 2: a quoted "
                "field opened on this line is never closed", NULL);
    e = csv_text(ps, "after_quote.csv", "a,b\n1,\"2\"x\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "text after a quote", "after_quote.csv:2: column 2: 'x' "
                "after a closing quote", NULL);
    e = csv_text(ps, "empty.csv", "", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "an empty file", "empty.csv:1: the file is empty", NULL);
    e = csv_text(ps, "blank.csv", "\n\r\n\n", NULL, &c);
    check_error(e, MDL_ERR_FORMAT, "blank lines only", "blank.csv:1: the file is empty", NULL);
    {
        const char text[] = "a,b\n1,2\n3,\0\n";
        const char *path = write_file("zero.csv", text, sizeof text - 1);
        e = mdl_load_csv(ps, "zero", path, NULL, &c);
        check_error(e, MDL_ERR_FORMAT, "a zero byte", "zero.csv:3: byte 10 is a zero byte", NULL);
    }
    e = mdl_load_csv(ps, "missing", tmp("no_such_file.csv"), NULL, &c);
    check_error(e, MDL_ERR_IO, "a missing file", "cannot open '", "no_such_file.csv'", NULL);
    o.max_bytes = 100;
    e = mdl_load_csv(ps, "big", DATA "penguins.csv", &o, &c);
    check_error(e, MDL_ERR_SIZE, "past max_bytes", "penguins.csv' is larger than the limit of "
                "100 bytes", NULL);
    CHECK(mdl_params_count(ps) == 0, "nothing added: %d", mdl_params_count(ps));

    /* mistakes in the call go to the error handler */
    capture_errors();
    e = csv_text(ps, "ok", "a\n1\n", NULL, &c);
    CHECK(e == MDL_OK && captured_count == 0, "a good load");
    e = mdl_load_csv_mem(ps, "ok", "a\n1\n", 4, "again.csv", NULL, &c);
    CHECK(e == MDL_ERR_ARG && captured_code == MDL_ERR_ARG &&
          strstr(captured_message, "already has a tensor named \"ok.x\""), "a name twice: %s",
          captured_message);
    e = mdl_load_csv(ps, "n", NULL, NULL, &c);
    CHECK(e == MDL_ERR_NULL && strstr(captured_message, "path is NULL"), "NULL path: %s",
          captured_message);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_params_free(ps);
}

/* ---- gzip ---- */

/* Bits for hand-made deflate streams: fields lowest bit first, Huffman codes highest first. */
typedef struct bits {
    unsigned char b[64];
    int n;
} bits;
static void put_bits(bits *w, unsigned v, int count) {
    int i;
    for (i = 0; i < count; i++, w->n++)
        if (v >> i & 1) w->b[w->n / 8] |= (unsigned char)(1 << (w->n % 8));
}
static void put_code(bits *w, unsigned code, int len) {
    int i;
    for (i = len - 1; i >= 0; i--) put_bits(w, code >> i & 1, 1);
}

/* gunzip a gzip header + these deflate bytes + a trailer for `want`; check the result. */
static mdl_error inflate_bits(const bits *w, const char *want, size_t *at_error) {
    unsigned char g[128], *out = NULL;
    const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    size_t nbytes = (size_t)(w->n + 7) / 8, n = 0, wn = want ? strlen(want) : 0;
    mdl_error e;
    memcpy(g, header, 10);
    memcpy(g + 10, w->b, nbytes);
    put_le32(g + 10 + nbytes, crc32_bits((const unsigned char *)want, wn));
    put_le32(g + 14 + nbytes, (uint32_t)wn);
    e = mdl_gunzip(g, 18 + nbytes, "bits.gz", 0, &out, &n);
    if (e == MDL_OK) CHECK(n == wn && memcmp(out, want, n) == 0, "hand-made deflate output");
    else CHECK(out == NULL, "no output on failure");
    if (at_error) *at_error = 0;
    if (e != MDL_OK && at_error) {
        const char *b = strstr(mdl_last_error(), "byte ");
        if (b) *at_error = (size_t)strtoul(b + 5, NULL, 10);
    }
    mdl_free(out);
    return e;
}

static void test_gzip(void) {
    static const char *const files[] = {"austen-60k.gzip1.gz", "austen-60k.gzip6.gz",
                                        "austen-60k.gzip9.gz", "austen-60k.fname.gz",
                                        "austen-60k.python9.gz", "austen-60k.python0.gz",
                                        "austen-60k.zlib-mem1.gz", "austen-60k.zlib-fixed.gz"};
    size_t nt = 0, ng = 0, n = 0, i;
    unsigned char *text = slurp(DATA "austen-pride-and-prejudice.txt", &nt), *out = NULL;
    unsigned char *g9;
    mdl_error e;
    if (!text) return;

    /* 1. files from gzip -1, -6, -9, gzip with a name, Python 9 and 0 (stored blocks), zlib
       with many small blocks and with the fixed codes */
    for (i = 0; i < sizeof files / sizeof *files; i++) {
        char path[256];
        unsigned char *g;
        snprintf(path, sizeof path, FIXTURES "%s", files[i]);
        g = slurp(path, &ng);
        if (!g) continue;
        e = mdl_gunzip(g, ng, files[i], 0, &out, &n);
        CHECK(e == MDL_OK && n == 60000 && memcmp(out, text, 60000) == 0 && out[n] == 0,
              "%s: %s", files[i], mdl_last_error());
        mdl_free(out);
        mdl_free(g);
    }

    /* 2. a header with every flag: FEXTRA, FNAME, FCOMMENT and FHCRC, around gzip -9's data */
    g9 = slurp(FIXTURES "austen-60k.gzip9.gz", &ng);
    if (!g9) {
        mdl_free(text);
        return;
    }
    {
        const unsigned char extra[] = {0x1f, 0x8b, 8, 0x1e, 1, 2, 3, 4, 2, 3, /* FLG 0x1e */
                                       5, 0, 'A', 'p', 2, 0, 'x',             /* XLEN 5 */
                                       'a', '.', 't', 'x', 't', 0,            /* FNAME */
                                       'h', 'i', 0};                          /* FCOMMENT */
        size_t hn = sizeof extra, gn = hn + 2 + ng - 10;
        unsigned char *g = (unsigned char *)malloc(gn);
        uint32_t crc = crc32_bits(extra, hn);
        memcpy(g, extra, hn);
        g[hn] = (unsigned char)crc;
        g[hn + 1] = (unsigned char)(crc >> 8);
        memcpy(g + hn + 2, g9 + 10, ng - 10);
        e = mdl_gunzip(g, gn, "flags.gz", 0, &out, &n);
        CHECK(e == MDL_OK && n == 60000 && memcmp(out, text, n) == 0, "every flag: %s",
              mdl_last_error());
        mdl_free(out);
        g[hn] ^= 1; /* a wrong header CRC */
        e = mdl_gunzip(g, gn, "flags.gz", 0, &out, &n);
        check_error(e, MDL_ERR_FORMAT, "header CRC", "flags.gz: byte 26: the header's CRC-16 "
                    "is wrong", NULL);
        g[hn] ^= 1;
        for (i = 10; i < hn + 2; i++) { /* the header cut anywhere */
            e = mdl_gunzip(g, i, "cut.gz", 0, &out, &n);
            CHECK(e == MDL_ERR_FORMAT && strstr(mdl_last_error(), "cut.gz: byte ") &&
                  strstr(mdl_last_error(), "header"), "header cut at %zu: %s", i,
                  mdl_last_error());
        }
        free(g);
    }

    /* 3. two members, as `cat a.gz b.gz` makes; then bytes that are no member */
    {
        unsigned char *g = (unsigned char *)malloc(2 * ng + 3);
        memcpy(g, g9, ng);
        memcpy(g + ng, g9, ng);
        e = mdl_gunzip(g, 2 * ng, "two.gz", 0, &out, &n);
        CHECK(e == MDL_OK && n == 120000 && memcmp(out, text, 60000) == 0 &&
              memcmp(out + 60000, text, 60000) == 0, "two members: %s", mdl_last_error());
        mdl_free(out);
        memcpy(g + ng, "abc", 3);
        e = mdl_gunzip(g, ng + 3, "trail.gz", 0, &out, &n);
        {
            char want[64];
            snprintf(want, sizeof want, "trail.gz: byte %zu: 3 bytes after the end", ng);
            check_error(e, MDL_ERR_FORMAT, "trailing bytes", want, NULL);
        }
        free(g);
    }

    /* 4. the trailer: CRC-32 and ISIZE checked; the limit on the output */
    {
        unsigned char *g = (unsigned char *)malloc(ng);
        char want[80];
        memcpy(g, g9, ng);
        g[ng - 8] ^= 0x40;
        e = mdl_gunzip(g, ng, "crc.gz", 0, &out, &n);
        snprintf(want, sizeof want, "crc.gz: byte %zu: CRC-32 mismatch", ng - 8);
        check_error(e, MDL_ERR_FORMAT, "CRC-32", want, NULL);
        g[ng - 8] ^= 0x40;
        g[ng - 4] ^= 1;
        e = mdl_gunzip(g, ng, "isize.gz", 0, &out, &n);
        snprintf(want, sizeof want, "isize.gz: byte %zu: the trailer gives the size 60001", ng - 4);
        check_error(e, MDL_ERR_FORMAT, "ISIZE", want, NULL);
        g[ng - 4] ^= 1;
        e = mdl_gunzip(g, ng, "limit.gz", 59999, &out, &n);
        check_error(e, MDL_ERR_SIZE, "the limit", "limit.gz: byte ", "larger than the limit of "
                    "59999 bytes", NULL);
        e = mdl_gunzip(g, ng, "limit.gz", 60000, &out, &n);
        CHECK(e == MDL_OK && n == 60000, "exactly at the limit: %s", mdl_last_error());
        mdl_free(out);
        /* the trailer cut short, then the data cut anywhere: an error each time, never more */
        e = mdl_gunzip(g, ng - 1, "short.gz", 0, &out, &n);
        check_error(e, MDL_ERR_FORMAT, "trailer cut", "short.gz: byte ", "trailer", NULL);
        for (i = 0; i < ng; i += 97) {
            e = mdl_gunzip(g, i, "cut.gz", 0, &out, &n);
            CHECK(e == MDL_ERR_FORMAT && out == NULL && strstr(mdl_last_error(), "cut.gz: byte"),
                  "cut at %zu: %s", i, mdl_last_error());
        }
        /* flip one bit at a time in the compressed data: always an error or the right text */
        for (i = 10; i < ng - 8; i += 211) {
            g[i] ^= (unsigned char)(1 << (i % 8));
            e = mdl_gunzip(g, ng, "flip.gz", 0, &out, &n);
            CHECK(e == MDL_ERR_FORMAT || (e == MDL_OK && n == 60000 &&
                                          memcmp(out, text, n) == 0),
                  "a flipped bit at %zu: %s", i, mdl_last_error());
            mdl_free(out);
            g[i] ^= (unsigned char)(1 << (i % 8));
        }
        g[0] = 0x1e;
        e = mdl_gunzip(g, ng, "magic.gz", 0, &out, &n);
        check_error(e, MDL_ERR_FORMAT, "magic", "magic.gz: byte 0: not gzip data: it starts "
                    "1e 8b", NULL);
        g[0] = 0x1f;
        g[2] = 7;
        e = mdl_gunzip(g, ng, "cm.gz", 0, &out, &n);
        check_error(e, MDL_ERR_FORMAT, "method", "cm.gz: byte 2: compression method 7", NULL);
        g[2] = 8;
        g[3] = 0x20;
        e = mdl_gunzip(g, ng, "flg.gz", 0, &out, &n);
        check_error(e, MDL_ERR_FORMAT, "reserved flags", "flg.gz: byte 3: reserved", NULL);
        free(g);
    }

    /* 5. stored blocks of 1000 bytes, 60 of them, then one of 0 bytes; LEN against NLEN */
    {
        unsigned char *g = gzip_stored(text, 60000, 1000, &ng);
        e = mdl_gunzip(g, ng, "stored.gz", 0, &out, &n);
        CHECK(e == MDL_OK && n == 60000 && memcmp(out, text, n) == 0, "stored: %s",
              mdl_last_error());
        mdl_free(out);
        g[1005 + 10 + 3] ^= 1; /* NLEN of the second block */
        e = mdl_gunzip(g, ng, "nlen.gz", 0, &out, &n);
        check_error(e, MDL_ERR_FORMAT, "NLEN", "nlen.gz: byte 1016: a stored block's LEN 1000 "
                    "and NLEN", NULL);
        free(g);
        g = gzip_stored(text, 0, 1000, &ng);
        e = mdl_gunzip(g, ng, "empty.gz", 0, &out, &n);
        CHECK(e == MDL_OK && n == 0 && out && out[0] == 0, "empty data: %s", mdl_last_error());
        mdl_free(out);
        free(g);
    }

    /* 6. hand-made deflate: fixed codes (literal 'a' = 0x30 + 0x61 in 8 bits, end = 7 zeros),
       a copy that overlaps itself, and each kind of bad stream with the byte it is found at */
    {
        bits w;
        size_t at;
        memset(&w, 0, sizeof w);
        put_bits(&w, 1, 1); /* BFINAL */
        put_bits(&w, 1, 2); /* fixed */
        put_code(&w, 0x30 + 'a', 8);
        put_code(&w, 0x30 + 'b', 8);
        put_code(&w, 4, 7);   /* length symbol 260: length 6 */
        put_code(&w, 1, 5);   /* distance symbol 1: distance 2 */
        put_code(&w, 0, 7);   /* end of block */
        e = inflate_bits(&w, "abababab", NULL);
        CHECK(e == MDL_OK, "ab then 6 at distance 2: %s", mdl_last_error());

        memset(&w, 0, sizeof w);
        put_bits(&w, 1, 1);
        put_bits(&w, 1, 2);
        put_code(&w, 0x30 + 'a', 8);
        put_code(&w, 1, 7);   /* length 3 */
        put_code(&w, 1, 5);   /* distance 2: one byte too far */
        e = inflate_bits(&w, "", &at);
        check_error(e, MDL_ERR_FORMAT, "too far back", "bits.gz: byte 12: distance 2 reaches "
                    "back before the start of the data (1 bytes so far)", NULL);

        memset(&w, 0, sizeof w);
        put_bits(&w, 1, 1);
        put_bits(&w, 3, 2); /* block type 3 */
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "type 3", "bits.gz: byte 10: block type 3", NULL);

        memset(&w, 0, sizeof w);
        put_bits(&w, 1, 1);
        put_bits(&w, 1, 2);
        put_code(&w, 0xc6, 8); /* symbol 286 (280 + 6: 8-bit codes from 0xc0) */
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "symbol 286", "length symbol 286 does not exist", NULL);

        memset(&w, 0, sizeof w);
        put_bits(&w, 1, 1);
        put_bits(&w, 1, 2);
        put_code(&w, 0x30 + 'a', 8);
        put_code(&w, 1, 7);
        put_code(&w, 30, 5); /* distance symbol 30 */
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "distance 30", "distance symbol 30 does not exist", NULL);

        memset(&w, 0, sizeof w);
        put_bits(&w, 1, 1);
        put_bits(&w, 2, 2);  /* dynamic */
        put_bits(&w, 30, 5); /* HLIT 287 */
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 4);
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "HLIT", "claims 287 literal/length", NULL);

        memset(&w, 0, sizeof w); /* a code-length code with two codes of length 1 and one more */
        put_bits(&w, 1, 1);
        put_bits(&w, 2, 2);
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 4);   /* 4 code-length lengths: for 16, 17, 18, 0 */
        put_bits(&w, 1, 3);
        put_bits(&w, 1, 3);
        put_bits(&w, 1, 3);
        put_bits(&w, 0, 3);
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "over-subscribed", "the code-length code is "
                    "over-subscribed", NULL);

        memset(&w, 0, sizeof w); /* a repeat (16) of a length before any */
        put_bits(&w, 1, 1);
        put_bits(&w, 2, 2);
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 4);
        put_bits(&w, 1, 3);   /* 16: code 0 */
        put_bits(&w, 1, 3);   /* 17: code 1 */
        put_bits(&w, 0, 3);
        put_bits(&w, 0, 3);
        put_code(&w, 0, 1);   /* 16 first */
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "16 first", "a repeat of the previous code length before "
                    "any", NULL);

        memset(&w, 0, sizeof w); /* zeros (17) past the end of the lengths */
        put_bits(&w, 1, 1);
        put_bits(&w, 2, 2);
        put_bits(&w, 0, 5);   /* 257 */
        put_bits(&w, 0, 5);   /* 1 */
        put_bits(&w, 0, 4);
        put_bits(&w, 0, 3);   /* 16: none */
        put_bits(&w, 1, 3);   /* 17: code 0 */
        put_bits(&w, 1, 3);   /* 18: code 1 */
        put_bits(&w, 0, 3);
        put_code(&w, 1, 1);   /* 18: 11 + 127 = 138 zeros */
        put_bits(&w, 127, 7);
        put_code(&w, 1, 1);   /* 138 more: 276 */
        put_bits(&w, 127, 7);
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "repeat past the end", "code lengths repeated past the "
                    "258", NULL);

        memset(&w, 0, sizeof w); /* no end-of-block code: 257 lengths zero, 1 distance */
        put_bits(&w, 1, 1);
        put_bits(&w, 2, 2);
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 5);
        put_bits(&w, 0, 4);
        put_bits(&w, 0, 3);
        put_bits(&w, 1, 3);   /* 17 */
        put_bits(&w, 1, 3);   /* 18 */
        put_bits(&w, 0, 3);
        put_code(&w, 1, 1);   /* 138 zeros */
        put_bits(&w, 127, 7);
        put_code(&w, 1, 1);   /* 120 zeros: 258 */
        put_bits(&w, 109, 7);
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "no end of block", "without an end-of-block code", NULL);

        memset(&w, 0, sizeof w); /* the data end inside a block */
        put_bits(&w, 0, 1);
        put_bits(&w, 1, 2);
        put_code(&w, 0x30 + 'a', 8);
        e = inflate_bits(&w, "", NULL);
        check_error(e, MDL_ERR_FORMAT, "no final block", "bits.gz: byte ", NULL);
    }

    /* 7. mdl_read_text decompresses */
    {
        char *t = NULL;
        size_t tn = 0;
        e = mdl_read_text(FIXTURES "austen-60k.gzip6.gz", 0, &t, &tn);
        CHECK(e == MDL_OK && tn == 60000 && memcmp(t, text, tn) == 0 && t[tn] == 0,
              "read_text of gzip: %s", mdl_last_error());
        mdl_free(t);
        e = mdl_read_text(FIXTURES "austen-60k.gzip6.gz", 50000, &t, &tn);
        check_error(e, MDL_ERR_SIZE, "read_text limit", "austen-60k.gzip6.gz: byte ",
                    "larger than the limit of 50000", NULL);
        CHECK(t == NULL, "no text on failure");
    }
    mdl_free(g9);
    mdl_free(text);
}

/* ---- IDX ---- */

static void test_idx(void) {
    mdl_params *ps = mdl_params_new();
    mdl_idx_opts o;
    mdl_tensor *t = NULL, *raw = NULL, *gz = NULL;
    mdl_error e;
    size_t n = 0, i;
    unsigned char *f;
    int k, count[10] = {0};
    const int want_train[10] = {457, 556, 504, 501, 488, 493, 493, 512, 490, 506}; /* README */
    const int want_test[10] = {107, 105, 111, 93, 115, 87, 97, 95, 95, 95};

    memset(&o, 0, sizeof o);
    e = mdl_load_idx(ps, "train.images", DATA "fashion-train-images-idx3-ubyte.gz", NULL, &raw);
    CHECK(e == MDL_OK && raw && raw->ndim == 3 && raw->shape[0] == 5000 &&
          raw->shape[1] == 28 && raw->shape[2] == 28, "train images: %s", mdl_last_error());
    e = mdl_load_idx(ps, "train.labels", DATA "fashion-train-labels-idx1-ubyte.gz", NULL, &t);
    CHECK(e == MDL_OK && t && t->ndim == 1 && t->shape[0] == 5000, "train labels: %s",
          mdl_last_error());
    if (t && raw) {
        /* the first labels and row 14 of the first image, read with od from the files */
        const double labels[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
        const double row14[6] = {0, 0, 1, 4, 6, 7};
        for (k = 0; k < 10; k++) CHECK_NEAR(t->data[k], labels[k], 0, "train label");
        for (k = 0; k < 6; k++) CHECK_NEAR(raw->data[14 * 28 + k], row14[k], 0, "pixel");
        CHECK_NEAR(raw->data[14 * 28 + 25], 255, 0, "a white pixel");
        for (k = 0; k < 5000; k++) count[(int)t->data[k]]++;
        for (k = 0; k < 10; k++) CHECK(count[k] == want_train[k], "train class %d: %d", k, count[k]);
        CHECK(raw->requires_grad == 0 && raw->grad == NULL, "a buffer");
    }
    o.scale = 1;
    o.channel = 1;
    e = mdl_load_idx(ps, "train.scaled", DATA "fashion-train-images-idx3-ubyte.gz", &o, &t);
    CHECK(e == MDL_OK && t->ndim == 4 && t->shape[0] == 5000 && t->shape[1] == 1 &&
          t->shape[2] == 28 && t->shape[3] == 28, "scaled, with a channel: %s", mdl_last_error());
    if (e == MDL_OK && raw) {
        size_t bad = 0;
        for (i = 0; i < raw->numel; i++) bad += t->data[i] != raw->data[i] / (mdl_scalar)255;
        CHECK(bad == 0 && t->data[14 * 28 + 25] == 1, "byte / 255: %zu differ", bad);
    }
    e = mdl_load_idx(ps, "test.labels", DATA "fashion-test-labels-idx1-ubyte.gz", &o, &t);
    CHECK(e == MDL_OK && t->ndim == 1 && t->shape[0] == 1000, "labels with scale: %s",
          mdl_last_error());
    if (e == MDL_OK) {
        memset(count, 0, sizeof count);
        for (k = 0; k < 1000; k++) count[(int)t->data[k]]++; /* labels are never scaled */
        for (k = 0; k < 10; k++) CHECK(count[k] == want_test[k], "test class %d: %d", k, count[k]);
    }

    /* The first 100 test images and labels three ways: a raw (uncompressed) IDX file, the
       same gzipped by gzip -9, and the shipped gzipped subset of 1,000 (all made by
       tests/loaders/make.sh). Each must give the raw file's bytes. */
    f = slurp(FIXTURES "fashion-test-100-images-idx3-ubyte", &n);
    CHECK(f && n == 16 + 78400, "the raw fixture: %zu bytes", n);
    e = mdl_load_idx(ps, "raw.images", FIXTURES "fashion-test-100-images-idx3-ubyte", NULL, &t);
    CHECK(e == MDL_OK && t->ndim == 3 && t->shape[0] == 100 && t->shape[1] == 28,
          "raw images: %s", mdl_last_error());
    if (e == MDL_OK && f && n == 16 + 78400) {
        size_t bad = 0;
        for (i = 0; i < 78400; i++) bad += t->data[i] != f[16 + i];
        CHECK(bad == 0, "a raw IDX file gives its bytes: %zu differ", bad);
    }
    e = mdl_load_idx(ps, "gz.images", FIXTURES "fashion-test-100-images-idx3-ubyte.gz", NULL, &gz);
    CHECK(e == MDL_OK && gz->shape[0] == 100 && gz->shape[1] == 28, "gz images: %s",
          mdl_last_error());
    if (e == MDL_OK && f && n == 16 + 78400) {
        size_t bad = 0;
        for (i = 0; i < 78400; i++) bad += gz->data[i] != f[16 + i];
        CHECK(bad == 0, "gzipped images equal the raw file's: %zu differ", bad);
    }
    e = mdl_load_idx(ps, "test.images", DATA "fashion-test-images-idx3-ubyte.gz", NULL, &t);
    CHECK(e == MDL_OK && t->ndim == 3 && t->shape[0] == 1000, "test images: %s",
          mdl_last_error());
    if (e == MDL_OK && f && n == 16 + 78400) {
        size_t bad = 0;
        for (i = 0; i < 78400; i++) bad += t->data[i] != f[16 + i];
        CHECK(bad == 0, "the shipped test images start with the raw file's 100: %zu differ", bad);
    }
    e = mdl_load_idx(ps, "gz.labels", FIXTURES "fashion-test-100-labels-idx1-ubyte.gz", NULL, &t);
    CHECK(e == MDL_OK && t->shape[0] == 100, "gz labels: %s", mdl_last_error());
    if (e == MDL_OK) {
        size_t nl = 0, bad = 0;
        unsigned char *l = slurp(FIXTURES "fashion-test-100-labels-idx1-ubyte", &nl);
        CHECK(l && nl == 108, "the raw label fixture: %zu bytes", nl);
        for (i = 0; l && nl == 108 && i < 100; i++) bad += t->data[i] != l[8 + i];
        CHECK(bad == 0, "gzipped labels: %zu differ", bad);
        mdl_free(l);
    }
    /* gzip made here with stored blocks, read from memory */
    if (f) {
        size_t gn;
        unsigned char *g = gzip_stored(f, 16 + 784 * 3, 700, &gn);
        g[10 + 5 + 6] = 0; /* the image count (bytes 4..7 of the IDX header) = 3 */
        g[10 + 5 + 7] = 3;
        put_le32(g + gn - 8, 0); /* (then the CRC is wrong: fixed below) */
        {
            unsigned char *copy = (unsigned char *)malloc(16 + 784 * 3);
            memcpy(copy, f, 16 + 784 * 3);
            copy[6] = 0;
            copy[7] = 3;
            put_le32(g + gn - 8, crc32_bits(copy, 16 + 784 * 3));
            free(copy);
        }
        e = mdl_load_idx_mem(ps, "mem", g, gn, "three.gz", NULL, &t);
        CHECK(e == MDL_OK && t->shape[0] == 3 && t->data[2 * 784 + 400] == f[16 + 2 * 784 + 400],
              "stored gzip from memory: %s", mdl_last_error());
        o.max_bytes = 1000;
        e = mdl_load_idx_mem(ps, "mem2", g, gn, "three.gz", &o, &t);
        check_error(e, MDL_ERR_SIZE, "gzip past the limit", "three.gz: byte ",
                    "limit of 1000 bytes", NULL);
        o.max_bytes = 0;
        g[gn - 9] ^= 1; /* the last data byte: the CRC catches it */
        e = mdl_load_idx_mem(ps, "mem3", g, gn, "three.gz", &o, &t);
        check_error(e, MDL_ERR_FORMAT, "gzip CRC in an IDX file", "mdl_load_idx_mem: three.gz: "
                    "byte ", "CRC-32 mismatch", NULL);
        free(g);
    }
    mdl_free(f);

    /* malformed IDX files, each written and loaded */
    {
        unsigned char h[64];
        const char *path;
        k = mdl_params_count(ps);
        memset(h, 0, sizeof h);
        h[2] = 8; h[3] = 3; h[7] = 2; h[11] = 2; h[15] = 3; /* [2, 2, 3]: 12 bytes of data */
        path = write_file("ok.idx", h, 16 + 12);
        e = mdl_load_idx(ps, "ok", path, NULL, &t);
        CHECK(e == MDL_OK && t->shape[0] == 2 && t->shape[2] == 3, "a tiny IDX: %s",
              mdl_last_error());
        k++;
        path = write_file("truncated.idx", h, 16 + 11);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "truncated", "truncated.idx: byte 27: the header announces "
                    "12 items", "but 11 bytes follow", "truncated", NULL);
        CHECK(t == NULL, "out is NULL on failure");
        path = write_file("long.idx", h, 16 + 13);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "too long", "long.idx: byte 28:", "extra bytes", NULL);
        h[1] = 1;
        path = write_file("magic.idx", h, 28);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "magic", "magic.idx: byte 0: the magic number 00 01 08 03",
                    "not an IDX file", NULL);
        h[1] = 0;
        h[2] = 0x0d;
        path = write_file("float.idx", h, 28);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "float32", "float.idx: byte 2: type 0x0D (float32) is not "
                    "supported", NULL);
        h[2] = 0x07;
        path = write_file("type.idx", h, 28);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "type 7", "type.idx: byte 2: 0x07 is not an IDX type", NULL);
        h[2] = 8;
        h[3] = 0;
        path = write_file("dims0.idx", h, 28);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "0 dims", "dims0.idx: byte 3: 0 dimensions", NULL);
        h[3] = 6;
        path = write_file("dims6.idx", h, 26);
        o.channel = 1;
        e = mdl_load_idx(ps, "x", path, &o, &t);
        check_error(e, MDL_ERR_FORMAT, "6 dims", "dims6.idx: byte 26: the header of 6 dimensions "
                    "needs 28 bytes, the file has 26", NULL);
        o.channel = 0;
        h[3] = 7;
        path = write_file("dims7.idx", h, 40);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "7 dims", "dims7.idx: byte 3: 7 dimensions: minidl reads "
                    "1 to 6", NULL);
        h[3] = 3;
        h[8] = 0x80; /* a size of 2^31 + 2 */
        path = write_file("huge.idx", h, 28);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "2^31", "huge.idx: byte 8: size 2147483650 of dimension 1 "
                    "is larger than 2147483647", NULL);
        h[8] = 0x7f; h[9] = h[10] = h[11] = 0xff; /* INT_MAX three times: 2^93 */
        h[12] = 0x7f; h[13] = h[14] = h[15] = 0xff;
        h[4] = 0x7f; h[5] = h[6] = h[7] = 0xff;
        path = write_file("product.idx", h, 28);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "overflow", "product.idx: byte 8: the sizes multiply to "
                    "more than 2^36", NULL);
        path = write_file("short.idx", h, 3);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "3 bytes", "short.idx: 3 bytes: too short", NULL);
        path = write_file("header.idx", h, 10);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "cut header", "header.idx: byte 10: the header of 3 "
                    "dimensions needs 16 bytes", NULL);
        e = mdl_load_idx(ps, "x", tmp("no_such.idx"), NULL, &t);
        check_error(e, MDL_ERR_IO, "missing", "cannot open '", "no_such.idx'", NULL);
        path = write_file("bad.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x07", 11);
        e = mdl_load_idx(ps, "x", path, NULL, &t);
        check_error(e, MDL_ERR_FORMAT, "corrupt gzip", "bad.gz: byte 10: block type 3", NULL);
        CHECK(mdl_params_count(ps) == k, "failures add nothing: %d tensors, want %d",
              mdl_params_count(ps), k);
    }
    mdl_params_free(ps);
}

/* ---- text and vocabularies ---- */

static void test_text(void) {
    mdl_params *ps = mdl_params_new();
    char *text = NULL, small[64];
    size_t n = 0, i, lines = 0;
    mdl_vocab *v;
    mdl_tensor *ids = NULL;
    mdl_error e;

    e = mdl_read_text(DATA "austen-pride-and-prejudice.txt", 0, &text, &n);
    CHECK(e == MDL_OK && n == 684768 && strlen(text) == n, "Austen: %s", mdl_last_error());
    if (e != MDL_OK) {
        mdl_params_free(ps);
        return;
    }
    for (i = 0; i < n; i++) lines += text[i] == '\n';
    CHECK(lines == 13030, "13030 lines: %zu", lines);

    /* characters: 75 distinct (README), '\n' first, 'z' last */
    v = mdl_vocab_chars(text, n);
    CHECK(mdl_vocab_size(v) == 75, "75 characters: %d", mdl_vocab_size(v));
    CHECK(!strcmp(mdl_vocab_token(v, 0), "\n") && !strcmp(mdl_vocab_token(v, 1), " ") &&
          !strcmp(mdl_vocab_token(v, 74), "z"), "sorted bytes");
    CHECK(mdl_vocab_index(v, "z") == 74 && mdl_vocab_index(v, "zz") == -1 &&
          mdl_vocab_index(v, "#") == -1, "char lookup");
    e = mdl_vocab_encode(ps, "austen", v, text, n, &ids);
    CHECK(e == MDL_OK && ids->ndim == 1 && (size_t)ids->shape[0] == n, "encode: %s",
          mdl_last_error());
    if (e == MDL_OK) {
        char *back = (char *)malloc(n + 1);
        size_t m = mdl_vocab_decode(v, ids, back, n + 1);
        CHECK(m == n && memcmp(back, text, n) == 0 && back[n] == 0, "decode(encode(text))");
        m = mdl_vocab_decode(v, ids, small, 8); /* cut short, snprintf-style */
        CHECK(m == n && strlen(small) == 7 && memcmp(small, text, 7) == 0, "decode into 8 bytes");
        free(back);
    }
    e = mdl_vocab_encode(ps, "hash", v, "a#b", 3, &ids);
    check_error(e, MDL_ERR_ARG, "a byte not in the vocabulary", "mdl_vocab_encode: byte 1 of the "
                "text, 0x23 ('#'), is not in the vocabulary of 75", NULL);
    CHECK(ids == NULL && !mdl_params_find(ps, "hash"), "nothing added");
    mdl_vocab_free(v);

    /* words: Python's re.findall('[a-z]+', text.lower()) and collections.Counter give 122817
       words, 6259 distinct; the, to, of, and, her, i, a, in, was, she; 2049 seen 5 times or
       more; "elizabeth" 635 times */
    v = mdl_vocab_words(text, n, 0, 0);
    CHECK(mdl_vocab_size(v) == 6260, "6259 words and <unk>: %d", mdl_vocab_size(v));
    {
        static const char *const top[11] = {"<unk>", "the", "to", "of", "and", "her", "i", "a",
                                            "in", "was", "she"};
        int k;
        for (k = 0; k < 11; k++)
            CHECK(!strcmp(mdl_vocab_token(v, k), top[k]), "word %d: %s, want %s", k,
                  mdl_vocab_token(v, k), top[k]);
    }
    e = mdl_vocab_encode(ps, "words", v, text, n, &ids);
    CHECK(e == MDL_OK && ids->shape[0] == 122817, "122817 words: %s", mdl_last_error());
    if (e == MDL_OK) {
        int eliz = mdl_vocab_index(v, "elizabeth"), count = 0, k;
        for (k = 0; k < ids->shape[0]; k++) count += ids->data[k] == eliz;
        CHECK(count == 635, "elizabeth 635 times: %d", count);
    }
    mdl_vocab_free(v);
    v = mdl_vocab_words(text, n, 5, 0);
    CHECK(mdl_vocab_size(v) == 2050, "min_count 5: %d", mdl_vocab_size(v));
    mdl_vocab_free(v);
    v = mdl_vocab_words(text, n, 0, 4);
    CHECK(mdl_vocab_size(v) == 4 && !strcmp(mdl_vocab_token(v, 3), "of"), "max_size 4");
    mdl_vocab_free(v);
    mdl_free(text);

    /* small strings worked by hand: the 2, cat 2, sat 1, a 1, dog 1 */
    v = mdl_vocab_words("The cat. the CAT sat; a dog!", 28, 1, 0);
    CHECK(mdl_vocab_size(v) == 6, "6 tokens: %d", mdl_vocab_size(v));
    if (mdl_vocab_size(v) == 6) {
        static const char *const want[6] = {"<unk>", "cat", "the", "a", "dog", "sat"};
        int k;
        for (k = 0; k < 6; k++) CHECK(!strcmp(mdl_vocab_token(v, k), want[k]), "token %d", k);
    }
    e = mdl_vocab_encode(ps, "s", v, "the Dog ate", 11, &ids);
    CHECK(e == MDL_OK && ids->shape[0] == 3 && ids->data[0] == 2 && ids->data[1] == 4 &&
          ids->data[2] == 0, "the dog <unk>: %s", mdl_last_error());
    if (e == MDL_OK) {
        size_t m = mdl_vocab_decode(v, ids, small, sizeof small);
        CHECK(m == 13 && !strcmp(small, "the dog <unk>"), "decode: '%s'", small);
    }
    mdl_vocab_free(v);
    v = mdl_vocab_words("b a b a c", 9, 2, 0);
    CHECK(mdl_vocab_size(v) == 3 && !strcmp(mdl_vocab_token(v, 1), "a"), "min_count 2");
    mdl_vocab_free(v);
    v = mdl_vocab_words("", 0, 0, 0);
    CHECK(mdl_vocab_size(v) == 1, "no words: just <unk>");
    mdl_vocab_free(v);

    /* bad indices are the caller's mistake */
    v = mdl_vocab_chars("ab", 2);
    capture_errors();
    {
        mdl_arena *ar = mdl_arena_new(0);
        int shape[1] = {2};
        mdl_tensor *bad = mdl_zeros(ar, 1, shape);
        bad->data[1] = 2;
        CHECK(mdl_vocab_decode(v, bad, small, sizeof small) == 0 && captured_code == MDL_ERR_ARG &&
              strstr(captured_message, "ids[1] = 2 is not a token index 0..1"), "bad id: %s",
              captured_message);
        bad->data[1] = 0.5;
        CHECK(mdl_vocab_decode(v, bad, small, sizeof small) == 0 && small[0] == 0, "0.5");
        CHECK(mdl_vocab_token(v, 2) == NULL && captured_code == MDL_ERR_ARG, "token 2");
        mdl_arena_free(ar);
    }
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_vocab_free(v);

    /* read_text's errors */
    e = mdl_read_text(tmp("none.txt"), 0, &text, &n);
    check_error(e, MDL_ERR_IO, "missing text", "mdl_read_text: cannot open '", "none.txt'", NULL);
    e = mdl_read_text(write_file("nul.txt", "ab\0c", 4), 0, &text, &n);
    check_error(e, MDL_ERR_FORMAT, "a zero byte", "nul.txt: byte 2 is a zero byte", NULL);
    e = mdl_read_text(DATA "austen-pride-and-prejudice.txt", 1000, &text, &n);
    check_error(e, MDL_ERR_SIZE, "text limit", "austen-pride-and-prejudice.txt' is larger than "
                "the limit of 1000 bytes", NULL);
    CHECK(text == NULL, "text is NULL on failure");
    mdl_params_free(ps);
}

int main(int argc, char **argv) {
    test_files_init(argc, argv);
    test_penguins();
    test_digits();
    test_csv_rules();
    test_csv_errors();
    test_gzip();
    test_idx();
    test_text();
    return test_summary();
}
