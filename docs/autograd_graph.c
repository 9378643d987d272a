/* autograd_graph.c - the graph of the autograd page (docs/autograd.md), written by mdl_graph_dot.

   One step of a tiny model: a linear layer, tanh, and the mean squared error against a target.
   After mdl_backward, every box of the graph shows its values and its gradient.

   make docs builds and runs it (docs/build.sh); by hand, from the top of the repository:
       gcc -std=c99 -O2 -I. docs/autograd_graph.c -o autograd_graph -lm
       ./autograd_graph autograd_graph.dot
       dot -Tsvg autograd_graph.dot -o autograd_graph.svg
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "autograd_graph.dot";
    mdl_rng rng;
    mdl_params *ps = mdl_params_new();
    mdl_arena *ar = mdl_arena_new(0);
    int xs[2] = {4, 3}, ws[2] = {2, 3}, bs[1] = {2}, ys[2] = {4, 2};
    mdl_error e;
    mdl_rng_seed(&rng, 42);
    //! [graph]
    mdl_tensor *w = mdl_params_add(ps, "fc.weight", 2, ws);     // [2,3], a parameter
    mdl_tensor *b = mdl_params_add(ps, "fc.bias", 1, bs);       // [2]
    mdl_fill_normal(w, &rng, 0, 0.5);
    mdl_tensor *x = mdl_randn(ar, &rng, 2, xs, 0, 1);           // [4,3], data: no gradient
    mdl_tensor *target = mdl_randn(ar, &rng, 2, ys, 0, 1);      // [4,2]

    mdl_tensor *h = mdl_tanh(ar, mdl_linear(ar, x, w, b));      // tanh(x @ W^T + b)  [4,2]
    mdl_tensor *loss = mdl_mse_loss(ar, h, target, MDL_MEAN);   // one number
    mdl_backward(loss);                                         // fills every grad
    e = mdl_graph_dot(loss, path);                              // the graph behind loss
    //! [graph]
    mdl_arena_free(ar);
    mdl_params_free(ps);
    return e == MDL_OK ? 0 : 1;
}
