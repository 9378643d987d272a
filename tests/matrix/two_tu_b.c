/* tests/matrix/two_tu_b.c - second half of the two-file build: the header without the
   implementation, and main. See two_tu_a.c. */
#include "minidl.h"

#include <stdio.h>
#include <string.h>

double two_tu_sum(void); /* defined in two_tu_a.c */

int main(void) {
    const int shape[1] = {3};
    mdl_arena *ar = mdl_arena_new(0);
    double here = mdl_item(mdl_sum(ar, mdl_full(ar, 1, shape, 2.5f), MDL_ALL, 0)); /* 7.5 */
    double there = two_tu_sum();                                                    /* 20 */
    int ok = here == 7.5 && there == 20 &&
             strcmp(mdl_error_name(MDL_ERR_SHAPE), "MDL_ERR_SHAPE") == 0;
    mdl_arena_free(ar);
    if (!ok) printf("two_tu: got %g and %g, want 7.5 and 20\n", here, there);
    return ok ? 0 : 1;
}
