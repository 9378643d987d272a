/* tests/test_files.h - for the tests that write files and check errors (test_loaders,
   test_bytes): a path in the program's own folder, a file written there, and an error's code
   and message checked. Include it after test.h, with TEST_FILES_PREFIX defined first: each
   program's files start with it ("loaders_"), so two programs never write the same path. */
#ifndef TEST_FILES_H
#define TEST_FILES_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char tmpdir[512]; /* the folder of this program: a fresh one for every run */

/* tmpdir = the folder of the program (argv[0]), or "." */
static void test_files_init(int argc, char **argv) {
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (slash)
        snprintf(tmpdir, sizeof tmpdir, "%.*s", (int)(slash - argv[0]), argv[0]);
    else
        snprintf(tmpdir, sizeof tmpdir, ".");
}

/* A path in the temporary folder. A small ring of buffers, so two may be in use at once. */
static const char *tmp(const char *name) {
    static char ring[4][700];
    static int next;
    char *p = ring[next++ % 4];
    snprintf(p, 700, "%s/%s%s", tmpdir, TEST_FILES_PREFIX, name);
    return p;
}

static const char *write_file(const char *name, const void *data, size_t n) {
    const char *path = tmp(name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return path;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

/* The last error must have this code and its message all these parts (NULL ends them). */
static void check_error(mdl_error got, mdl_error want, const char *what, ...) {
    va_list ap;
    const char *part;
    CHECK(got == want, "%s: returned %s, want %s (%s)", what, mdl_error_name(got),
          mdl_error_name(want), mdl_last_error());
    CHECK(mdl_last_error_code() == want, "%s: last error code %s", what,
          mdl_error_name(mdl_last_error_code()));
    va_start(ap, what);
    while ((part = va_arg(ap, const char *)) != NULL)
        CHECK(strstr(mdl_last_error(), part) != NULL, "%s: message lacks \"%s\": %s", what, part,
              mdl_last_error());
    va_end(ap);
}

#endif /* TEST_FILES_H */
