/* tests/fuzz/fuzz_inflate.c - libFuzzer harness for the deflate decoder alone (RFC 1951), the
   input taken as a raw deflate stream. Built with -DMDL_FUZZ_ZLIB -lz (tests/fuzz/run.sh does
   so when zlib.h is there), it is a differential test against zlib's inflate: where zlib
   decodes a stream, minidl must give the same bytes; where zlib rejects it, minidl must too.
   Without zlib it checks only that minidl never crashes, leaks or reads out of bounds.

   clang -g -O1 -fsanitize=fuzzer,address,undefined -DMDL_FUZZ_ZLIB -I. \
       tests/fuzz/fuzz_inflate.c -o fuzz_inflate -lm -lz */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

#include <stdlib.h>
#include <string.h>
#ifdef MDL_FUZZ_ZLIB
#include <zlib.h>
#endif

#define LIMIT ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mdl__inflate s;
    int ours;
    memset(&s, 0, sizeof s);
    s.in = data;
    s.in_size = size;
    s.fn = "fuzz";
    s.name = "fuzz.deflate";
    s.limit = LIMIT;
    s.cap = 16;
    s.out = (unsigned char *)malloc(s.cap);
    if (!s.out) return 0;
    mdl_clear_error();
    ours = mdl__inflate_stream(&s);
    if (ours < 0 && !strstr(mdl_last_error(), "fuzz.deflate: byte ")) abort();
    if (ours < 0 && mdl_last_error_code() != MDL_ERR_FORMAT &&
        mdl_last_error_code() != MDL_ERR_SIZE)
        abort();
#ifdef MDL_FUZZ_ZLIB
    {
        static unsigned char out[LIMIT + 1];
        z_stream z;
        int zr;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -15) != Z_OK) abort();
        z.next_in = (Bytef *)data;
        z.avail_in = (uInt)size;
        z.next_out = out;
        z.avail_out = (uInt)sizeof out;
        zr = inflate(&z, Z_FINISH);
        if (zr == Z_STREAM_END && z.total_out <= LIMIT) { /* zlib decoded it: so must we */
            if (ours < 0 || s.out_size != z.total_out || memcmp(s.out, out, s.out_size) != 0)
                abort();
        } else if (zr == Z_STREAM_END || z.avail_out == 0) { /* past the limit */
            if (ours == 0 || mdl_last_error_code() != MDL_ERR_SIZE) abort();
        } else { /* zlib found it corrupt or cut short: so must we */
            if (ours == 0) abort();
        }
        inflateEnd(&z);
    }
#endif
    free(s.out);
    return 0;
}
