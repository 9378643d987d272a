/* tests/matrix/two_tu_a.c - first half of the two-file build of the compile matrix.

   This file holds the implementation (MINIDL_IMPLEMENTATION); two_tu_b.c only includes the
   header. Linking both proves that the implementation is really compiled in here, and that the
   header defines nothing twice when it is included by two files.

       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -I. tests/matrix/two_tu_a.c \
           tests/matrix/two_tu_b.c -o two_tu -lm */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

double two_tu_sum(void); /* called from two_tu_b.c */

/* sum(2 * [1, 2, 3, 4]) = 20, computed in an arena of its own. */
double two_tu_sum(void) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_tensor *t = mdl_arange(ar, 1, 5, 1);
    double s = mdl_item(mdl_sum(ar, mdl_mul_scalar(ar, t, 2), MDL_ALL, 0));
    mdl_arena_free(ar);
    return s;
}
