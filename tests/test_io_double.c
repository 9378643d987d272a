// build-extra: -DMINIDL_DOUBLE
/* tests/test_io_double.c - saving and loading in a MINIDL_DOUBLE build, where mdl_scalar is
   double: files are written as F64 and come back to the bit (1e300 and 2^-1074 too, which
   float cannot hold), F32, F16 and BF16 files widen exactly, and PyTorch's F64 file of the MLP
   (tests/torch/data) loads with every digit.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -DMINIDL_DOUBLE -I. \
       tests/test_io_double.c -o build/test_io_double -lm */
#define _POSIX_C_SOURCE 200809L /* getpid: a file name of its own */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <unistd.h>

static char path[64];

int main(void) {
    mdl_params *a = mdl_params_new(), *b = mdl_params_new();
    int s5[1] = {5};
    mdl_tensor *x = mdl_params_add(a, "x", 1, s5), *y = mdl_params_add(b, "x", 1, s5);
    mdl_safetensors *st = NULL;
    mdl_load_report r;
    snprintf(path, sizeof path, "build/test_io_double.%ld.safetensors", (long)getpid());
    x->data[0] = 1e300;
    x->data[1] = ldexp(1, -1074); /* the smallest double */
    x->data[2] = 0.1;
    x->data[3] = -0.0;
    x->data[4] = 1.0 / 3;
    CHECK(mdl_save(a, path, NULL) == MDL_OK, "%s", mdl_last_error());
    CHECK(mdl_load(b, path, MDL_LOAD_STRICT, &r) == MDL_OK && r.loaded == 1, "%s",
          mdl_last_error());
    CHECK(memcmp(x->data, y->data, 5 * sizeof(double)) == 0, "the doubles came back changed");
    CHECK(mdl_safetensors_open(path, 0, &st) == MDL_OK && st &&
          strcmp(mdl_safetensors_get(st, 0)->dtype, "F64") == 0 &&
          mdl_safetensors_get(st, 0)->nbytes == 40, "a double build writes F64");
    mdl_safetensors_free(st);
    remove(path);
    /* narrower floats widen exactly: F32 0.1f, F16 0x3555, BF16 0x4049 */
    {
        static const unsigned char file[] =
            "\x9e\x00\x00\x00\x00\x00\x00\x00"
            "{\"f\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
            "\"h\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[4,6]},"
            "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[6,8]}}"
            "\xcd\xcc\xcc\x3d\x55\x35\x49\x40";
        mdl_scalar v;
        size_t n = sizeof file - 1, header = 0x9e;
        CHECK(8 + header + 8 == n, "the hand-made file is %zu bytes", n);
        CHECK(mdl_safetensors_open_mem(file, n, "narrow", &st) == MDL_OK, "%s", mdl_last_error());
        if (st) {
            mdl_safetensors_read(st, 0, &v, 1);
            CHECK(v == (double)0.1f, "F32 0.1f widened to %.17g", v);
            mdl_safetensors_read(st, 1, &v, 1);
            CHECK(v == 0.333251953125, "F16 0x3555 read as %.17g", v);
            mdl_safetensors_read(st, 2, &v, 1);
            CHECK(v == 3.140625, "BF16 0x4049 read as %.17g", v);
            mdl_safetensors_free(st);
        }
    }
    /* torch's F64 state_dict: every digit; its F32 twin: the same values rounded to float */
    {
        mdl_params *p64 = mdl_params_new(), *p32 = mdl_params_new();
        mdl_rng rng;
        int i;
        size_t j, bad = 0;
        mdl_rng_seed(&rng, 1);
        mdl_linear_layer(p64, "fc1", 6, 16, 1, &rng);
        mdl_batch_norm1d_layer(p64, "bn", 16);
        mdl_linear_layer(p64, "fc2", 16, 3, 1, &rng);
        mdl_linear_layer(p32, "fc1", 6, 16, 1, &rng);
        mdl_batch_norm1d_layer(p32, "bn", 16);
        mdl_linear_layer(p32, "fc2", 16, 3, 1, &rng);
        CHECK(mdl_load(p64, "tests/torch/data/mlp_bn_f64.safetensors", MDL_LOAD_STRICT, NULL) ==
                  MDL_OK, "%s", mdl_last_error());
        CHECK(mdl_load(p32, "tests/torch/data/mlp_bn_f32.safetensors", MDL_LOAD_STRICT, NULL) ==
                  MDL_OK, "%s", mdl_last_error());
        for (i = 0; i < mdl_params_count(p64); i++)
            for (j = 0; j < mdl_params_get(p64, i)->numel; j++)
                if (mdl_params_get(p64, i)->data[j] != mdl_params_get(p32, i)->data[j] ||
                    (double)(float)mdl_params_get(p64, i)->data[j] != mdl_params_get(p64, i)->data[j])
                    bad++;
        CHECK(bad == 0, "%zu values of the F64 file are not its F32 twin's", bad);
        mdl_params_free(p64);
        mdl_params_free(p32);
    }
    mdl_params_free(a);
    mdl_params_free(b);
    return test_summary();
}
