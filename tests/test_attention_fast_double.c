// build-extra: -DMINIDL_DOUBLE
/* tests/test_attention_fast_double.c - tests/test_attention_fast.c in double precision (the
   plain GEMM and libm's e^x on both paths), where the fast path and the composed one agree to
   1e-10: any larger difference is a wrong formula, not rounding.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -DMINIDL_DOUBLE -I. tests/test_attention_fast_double.c -o build/test_attention_fast_double -lm
*/
#include "test_attention_fast.c"
