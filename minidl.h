/* minidl.h - a small deep-learning library in one C header, for learning how deep learning works.

   Tensors, reverse-mode automatic differentiation, arena memory and friendly error messages,
   written to be read. No dependency beyond libc and libm.

   USE
       In every file that needs it:         #include "minidl.h"
       In exactly one .c file, before that: #define MINIDL_IMPLEMENTATION

       gcc -O2 prog.c -o prog -lm

   HOW TO READ THIS FILE
       The public part comes first: every declaration with its documentation, in groups in the
       order a course meets them. The implementation follows, section by section in the same
       order. For a first reading, go top to bottom through the sections marked "read" below:
       tensors, then the autograd engine (the tape node, how an op records itself, the backward
       walk), then the ops, each one block with its formula, its forward and its backward side
       by side. "skim" marks plumbing you can take on trust. "skip" marks the fast kernels: they
       compute exactly what the plain loops in >>ops compute, only faster, and tests hold one
       against the other.

   CONTENTS (grep '// >>' minidl.h prints this list with line numbers)
       >>api          read   the declarations, each documented with its shapes and who owns
                             the result: configuration, errors, memory, random, tensors,
                             autograd, ops, layers, recurrent layers, losses, optimizers,
                             data, loaders, metrics, plots, fit, io, diagnostics, kernels
       >>prelude      skim   includes, internal macros, the arena's struct
       >>errors       skim   the error handler, compiler-style messages, mdl_last_error
       >>memory       read   arenas (per-step memory) and parameter sets (persistent memory)
       >>random       skim   the seeded random number generator
       >>tensors      read   creation, filling, views, printing
       >>autograd     read   the tape node, finishing an op, the backward walk
       >>ops          read   elementwise ops, comparisons and where, activations, softmax,
                             reductions, matmul, convolution, pooling, shape ops and gather:
                             one block per op
       >>layers       read   initialisation, Linear, Conv, pooling, Dropout, Embedding,
                             LayerNorm, BatchNorm as functions and as layer objects, the
                             Sequential container
       >>recurrent    read   RNN, LSTM and GRU cells and sequence layers with backpropagation
                             through time; attention and a transformer block
       >>losses       read   PyTorch's losses and reductions: MSE, L1, smooth L1, Huber, binary
                             cross-entropy (of probabilities, of logits), cross-entropy with
                             its fused softmax backward, NLL, KL divergence
       >>optim        read   SGD (momentum, Nesterov), AdaGrad, RMSProp, Adam, AdamW, one
                             commented line per term; learning-rate schedules; clipping
       >>data         read   data sets: shuffle, train/validation/test splits, mini-batches,
                             standardisation, one-hot, augmentation
       >>loaders      skim   CSV, IDX (MNIST) with a small gzip inflate, text and vocabularies
       >>metrics      read   accuracy, confusion matrix, precision/recall/F1, R^2, perplexity
       >>plot         skim   a small SVG writer: curves, scatter plots, heat maps, image grids
       >>fit          read   the Keras-style fit loop: progress, history, early stopping
       >>io           skim   safetensors save and load, checkpoints that resume training
       >>diagnostics  skim   gradcheck, NaN/Inf detection, Graphviz dump of the graph
       >>kernels      skip   the fast GEMM (packing, SIMD micro-kernels, threads) and SIMD
                             pooling; none of it in a MINIDL_NO_SIMD build

   CONFIGURATION (define before including; each has the default shown)
       MINIDL_IMPLEMENTATION  undefined  compile the implementation into this translation unit
       MINIDL_STATIC          undefined  make every function static (private to one file)
       MINIDL_MALLOC(n)       malloc(n)  allocator; define MINIDL_MALLOC and MINIDL_FREE together
       MINIDL_FREE(p)         free(p)
       MINIDL_ASSERT(c)       assert(c)  checks of the library's own invariants
       MINIDL_NO_SIMD         undefined  use only the plain C kernels (otherwise AVX-512, AVX2+FMA
                                         or NEON, chosen at run time for the CPU)
       MINIDL_NO_STALE_CHECK  undefined  do not check for tensors used after their arena was reset
                                         (the check is on by default; it costs a malloc per op
                                         output and keeps the last 65536 dead tensor headers)
       MINIDL_DEBUG           undefined  keep the check on even with MINIDL_NO_STALE_CHECK
       MINIDL_DOUBLE          undefined  mdl_scalar is double instead of float; used by the
                                         gradient-check tests, plain kernels only

   MEMORY MODEL
       Every tensor has one of three lifetimes. Persistent tensors (parameters, their gradients,
       optimizer state, running statistics) belong to an mdl_params set and are freed together
       by mdl_params_free. Per-step tensors (the output of every op, and the autograd tape that
       records how they were computed) come from an mdl_arena, a bump allocator that is emptied
       all at once by mdl_arena_reset after each optimizer step or evaluation batch: students
       never free a temporary. Borrowed tensors wrap a buffer you own (mdl_wrap); minidl never
       frees it. A tensor from an arena is dead after that arena's reset: an op given such a
       tensor reports MDL_ERR_STALE and names the step the tensor came from (minidl remembers
       the last 65536 dead tensors; AddressSanitizer catches older ones), unless the program is
       built with MINIDL_NO_STALE_CHECK.

   ERROR MODEL
       A contract error (shapes that do not fit, a NULL argument, a dead tensor, an absurd size)
       is a bug in the calling program. It goes to one handler with a compiler-style message:
           minidl: error: mdl_matmul: a [32,784] @ b [128,10]: a.shape[1]=784 != b.shape[0]=128
       The default handler prints it and aborts. mdl_set_error_handler installs your own; if it
       returns, the op returns NULL, and ops given NULL after an error return NULL quietly, so
       only the first mistake is reported. Environmental errors (a missing or corrupt file, out
       of memory) never abort: the function returns an mdl_error code and mdl_last_error() says
       what happened and where. Error codes and their names come from one list, MDL_ERRORS.

   THREADS
       Compiled with -fopenmp, matrix products use the threads OpenMP allows (OMP_NUM_THREADS);
       results are the same to the bit whatever the number of threads.

   WHAT MINIDL DOES NOT DO
       No GPU. No tensors that are not contiguous (transpose and permute copy). No dtypes but
       one floating type (float, or double with MINIDL_DOUBLE). No higher-order gradients.
       Not thread-safe: one thread drives one set of arenas, and the error state is global.

   LICENSE
       MIT or public domain, your choice: see the end of this file.
*/
#ifndef MINIDL_H
#define MINIDL_H

// >>api

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef MDLDEF
#ifdef MINIDL_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define MDLDEF static __attribute__((unused)) /* a program uses only some of them */
#else
#define MDLDEF static
#endif
#else
#define MDLDEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup config Configuration and basic types
 *  @{ */

#ifdef MINIDL_DOUBLE
typedef double mdl_scalar; /**< The one floating type of every tensor (double: MINIDL_DOUBLE). */
#else
typedef float mdl_scalar; /**< The one floating type of every tensor (float by default). */
#endif

#define MDL_MAX_DIMS 6   /**< Highest tensor rank. Shapes are written outermost first: [B,C,H,W]. */
#define MDL_ALL (-128)   /**< Pass as `axis` to reduce over every element. */

#define MDL_VERSION_MAJOR 0
#define MDL_VERSION_MINOR 3

/** @} */

/** @defgroup errors Errors
 *  @brief One list of error codes, one handler for contract errors, mdl_last_error for the rest.
 *
 *  A handler that returns instead of aborting, as a test or an interactive tool might install:
 *  @code
 *  #define MINIDL_IMPLEMENTATION
 *  #include "minidl.h"
 *  #include <string.h>
 *
 *  static void remember(mdl_error code, const char *message, void *user) {
 *      (void)message;
 *      *(mdl_error *)user = code;
 *  }
 *
 *  int main(void) {
 *      mdl_error seen = MDL_OK;
 *      mdl_arena *ar = mdl_arena_new(0);
 *      int sa[2] = {32, 784}, sb[2] = {128, 10};
 *      mdl_set_error_handler(remember, &seen);
 *      mdl_tensor *c = mdl_matmul(ar, mdl_zeros(ar, 2, sa), mdl_zeros(ar, 2, sb));
 *      // c is NULL; the message names the op and both shapes:
 *      // minidl: error: mdl_matmul: a [32,784] @ b [128,10]: a.shape[1]=784 != b.shape[0]=128
 *      int ok = c == NULL && seen == MDL_ERR_SHAPE && strstr(mdl_last_error(), "mdl_matmul");
 *      mdl_arena_free(ar);
 *      return ok ? 0 : 1;
 *  }
 *  @endcode
 *  @{ */

/** The list of error codes: X(code, description). Generates ::mdl_error and mdl_error_name(). */
#define MDL_ERRORS(X)                                                                        \
    X(MDL_OK, "no error")                                                                    \
    X(MDL_ERR_NULL, "a required argument is NULL")                                           \
    X(MDL_ERR_SHAPE, "shapes do not fit together")                                           \
    X(MDL_ERR_ARG, "an argument is out of range")                                            \
    X(MDL_ERR_SIZE, "a size is negative or too large")                                       \
    X(MDL_ERR_STALE, "a tensor was used after its arena was reset")                          \
    X(MDL_ERR_GRAPH, "the autograd graph cannot do what was asked")                          \
    X(MDL_ERR_NONFINITE, "an op produced NaN or Inf")                                        \
    X(MDL_ERR_NOMEM, "out of memory")                                                        \
    X(MDL_ERR_IO, "a file could not be opened, read or written")                             \
    X(MDL_ERR_FORMAT, "a file is corrupt or not in the expected format")

#define MDL__ENUM_ITEM(code, text) code,
/** Error codes. MDL_OK is zero. */
typedef enum mdl_error { MDL_ERRORS(MDL__ENUM_ITEM) MDL_ERROR_COUNT } mdl_error;
#undef MDL__ENUM_ITEM

/** A function that receives contract errors.
 *  @param code    what kind of error
 *  @param message the full message, "minidl: error: <function>: <what>"; valid during the call
 *  @param user    the pointer given to mdl_set_error_handler */
typedef void (*mdl_error_handler)(mdl_error code, const char *message, void *user);

/** @brief Install the handler for contract errors.
 *  @param handler the new handler; NULL restores the default (print to stderr, then abort)
 *  @param user    passed back to the handler
 *  @return the previous handler (NULL if it was the default) */
MDLDEF mdl_error_handler mdl_set_error_handler(mdl_error_handler handler, void *user);

/** @brief The name of an error code, e.g. "MDL_ERR_SHAPE".
 *  @return a static string; "MDL_ERR_UNKNOWN" for a value outside the list */
MDLDEF const char *mdl_error_name(mdl_error code);

/** @brief The code of the most recent error, contract or environmental (MDL_OK if none). */
MDLDEF mdl_error mdl_last_error_code(void);

/** @brief The message of the most recent error ("" if none).
 *  @return a static buffer, overwritten by the next error */
MDLDEF const char *mdl_last_error(void);

/** @brief Forget the most recent error. Afterwards an op given NULL reports MDL_ERR_NULL again
 *  instead of passing the NULL on quietly. */
MDLDEF void mdl_clear_error(void);

/** @} */

/** @defgroup memory Memory: arenas and parameter sets
 *  @brief Per-step memory comes from an arena; persistent memory from a parameter set.
 *
 *  The shape of every training loop: parameters in a set, everything else in an arena that is
 *  reset after each step, so memory stays flat however long training runs.
 *  @code
 *  mdl_params *ps = mdl_params_new();
 *  int shape[1] = {3};
 *  mdl_tensor *w = mdl_params_add(ps, "w", 1, shape);        // zeros, requires grad
 *  mdl_fill_normal(w, &rng, 0, 1);
 *  for (int step = 0; step < 10; step++) {
 *      mdl_tensor *loss = mdl_sum(ar, mdl_mul(ar, w, w), MDL_ALL, 0); // sum(w^2)
 *      mdl_backward(loss);                                   // w->grad = 2 w
 *      for (int i = 0; i < 3; i++) w->data[i] -= 0.25f * w->grad[i];
 *      mdl_params_zero_grad(ps);
 *      mdl_arena_reset(ar);                                  // loss and its tape are gone
 *  }
 *  if (fabs(w->data[0]) > 1e-2) return 1;                    // halved ten times
 *  mdl_params_free(ps);
 *  @endcode
 *  @{ */

typedef struct mdl_arena mdl_arena;   /**< Per-step memory: op outputs and the autograd tape. */
typedef struct mdl_params mdl_params; /**< Persistent, named tensors: parameters and buffers. */
struct mdl__node;

/** Where a tensor's memory comes from, and so how long it lives. */
typedef enum mdl_lifetime {
    MDL_ARENA = 1,      /**< from an mdl_arena; dead after mdl_arena_reset */
    MDL_PERSISTENT = 2, /**< from an mdl_params set; freed by mdl_params_free */
    MDL_BORROWED = 3    /**< data owned by the caller (mdl_wrap); header from an arena */
} mdl_lifetime;

/** A tensor: `numel` values of type mdl_scalar, row-major and contiguous.
 *  Read `data`, `grad`, `ndim` and `shape` freely; create tensors only through minidl. */
typedef struct mdl_tensor {
    mdl_scalar *data;            /**< the values, row-major */
    mdl_scalar *grad;            /**< d(loss)/d(this), same layout; NULL until a gradient arrives */
    int ndim;                    /**< rank, 0 (a scalar) to MDL_MAX_DIMS */
    int shape[MDL_MAX_DIMS];     /**< sizes, outermost first */
    size_t stride[MDL_MAX_DIMS]; /**< elements to step along each axis; stride[ndim-1] == 1 */
    size_t numel;                /**< product of the shape (1 for a scalar) */
    int requires_grad;           /**< 1 if backward should compute `grad` for this tensor */
    mdl_lifetime lifetime;       /**< where the memory comes from */
    const char *name;            /**< the name given to mdl_params_add; NULL otherwise */
    /* The rest is minidl's own bookkeeping. */
    struct mdl__node *node; /**< the op that computed this tensor; NULL for a leaf */
    mdl_arena *arena;       /**< the arena of the header (NULL for persistent tensors) */
    long step;              /**< arena step in which the tensor was made */
    unsigned magic;         /**< marks live and dead tensors (the stale-tensor check) */
    struct mdl_tensor *next_in_arena; /**< the arena's list of its tensors (the check) */
} mdl_tensor;

/** @brief Make an arena.
 *  @param initial_bytes the first block's size; 0 for 1 MiB. It grows as needed and, after a
 *         reset, keeps one block as large as the biggest step so far.
 *  @return the arena, freed by mdl_arena_free; NULL (MDL_ERR_NOMEM) if memory ran out */
MDLDEF mdl_arena *mdl_arena_new(size_t initial_bytes);

/** @brief Free an arena and everything in it. NULL is allowed. */
MDLDEF void mdl_arena_free(mdl_arena *ar);

/** @brief Empty an arena: every tensor and tape node made from it dies at once.
 *  Call it after each optimizer step and each evaluation batch. */
MDLDEF void mdl_arena_reset(mdl_arena *ar);

/** @brief Bytes handed out since the last reset. */
MDLDEF size_t mdl_arena_used(const mdl_arena *ar);

/** @brief The largest mdl_arena_used() ever seen: the memory one step needs. */
MDLDEF size_t mdl_arena_high_water(const mdl_arena *ar);

/** @brief Bytes the arena holds from the system right now. */
MDLDEF size_t mdl_arena_reserved(const mdl_arena *ar);

/** @brief How many times the arena has been reset (the current step number, from 0). */
MDLDEF long mdl_arena_step(const mdl_arena *ar);

/** @brief Turn recording of the autograd tape on or off for ops that use this arena, as
 *  torch.set_grad_enabled does. Evaluate with it off: no tape, less memory.
 *  @return the previous setting (1 on, 0 off) */
MDLDEF int mdl_set_grad_enabled(mdl_arena *ar, int enabled);

/** @brief Turn NaN/Inf detection on or off (like torch.autograd.detect_anomaly). When on,
 *  every op's output and every backward's gradients are checked, and the first non-finite
 *  value is reported as MDL_ERR_NONFINITE naming the op, forward or backward, and the element.
 *  @return the previous setting */
MDLDEF int mdl_set_detect_anomaly(mdl_arena *ar, int enabled);

/** @brief Make an empty parameter set. @return freed by mdl_params_free; NULL if out of memory */
MDLDEF mdl_params *mdl_params_new(void);

/** @brief Free a parameter set with all its tensors and their gradients. NULL is allowed. */
MDLDEF void mdl_params_free(mdl_params *ps);

/** @brief Add a trainable parameter: zeros, requires_grad = 1, gradient allocated and zero.
 *  @param ps     the set that owns it
 *  @param name   unique within the set (copied), e.g. "fc1.weight"
 *  @param ndim   rank
 *  @param shape  sizes, outermost first
 *  @return the tensor, owned by the set (lifetime MDL_PERSISTENT) */
MDLDEF mdl_tensor *mdl_params_add(mdl_params *ps, const char *name, int ndim, const int *shape);

/** @brief Add a persistent buffer that is not trained (running statistics, a carried hidden
 *  state): zeros, requires_grad = 0, no gradient. @return owned by the set */
MDLDEF mdl_tensor *mdl_params_add_buffer(mdl_params *ps, const char *name, int ndim,
                                         const int *shape);

/** @brief Number of tensors in the set, parameters and buffers, in the order they were added. */
MDLDEF int mdl_params_count(const mdl_params *ps);

/** @brief The i-th tensor of the set (0 <= i < count). @return owned by the set */
MDLDEF mdl_tensor *mdl_params_get(const mdl_params *ps, int i);

/** @brief The tensor with this name. @return owned by the set; NULL if there is none */
MDLDEF mdl_tensor *mdl_params_find(const mdl_params *ps, const char *name);

/** @brief Set every parameter's gradient to zero (gradients accumulate until zeroed). */
MDLDEF void mdl_params_zero_grad(mdl_params *ps);

/** @} */

/** @defgroup random Random numbers
 *  @brief A small seeded generator (PCG32). There is no hidden global one: pass yours in.
 *  @{ */

/** Generator state; make one with mdl_rng_seed. */
typedef struct mdl_rng {
    uint64_t state, inc;
    int has_spare;   /* Box-Muller makes normals in pairs; the second waits here */
    double spare;
} mdl_rng;

/** @brief Seed a generator: the same seed gives the same numbers on every machine. */
MDLDEF void mdl_rng_seed(mdl_rng *rng, uint64_t seed);
/** @brief A uniform 32-bit integer. */
MDLDEF uint32_t mdl_rng_u32(mdl_rng *rng);
/** @brief A uniform number in [0, 1). */
MDLDEF double mdl_rng_uniform(mdl_rng *rng);
/** @brief A normal number with mean 0 and standard deviation 1. */
MDLDEF double mdl_rng_normal(mdl_rng *rng);

/** @} */

/** @defgroup tensors Tensors: creation, filling, views, printing
 *  @brief Every function here that returns a tensor takes it from the arena `ar`; the tensor
 *  lives until mdl_arena_reset(ar). Shapes are given as (ndim, shape) with shape outermost first.
 *  @{ */

/** @brief A tensor of zeros. @return from `ar`, lives until its reset */
MDLDEF mdl_tensor *mdl_zeros(mdl_arena *ar, int ndim, const int *shape);
/** @brief A tensor of ones. @return from `ar` */
MDLDEF mdl_tensor *mdl_ones(mdl_arena *ar, int ndim, const int *shape);
/** @brief A tensor with every element `value` (ndim 0 makes a scalar). @return from `ar` */
MDLDEF mdl_tensor *mdl_full(mdl_arena *ar, int ndim, const int *shape, mdl_scalar value);
/** @brief A tensor holding a copy of `values` (numel of them, row-major). @return from `ar` */
MDLDEF mdl_tensor *mdl_from_array(mdl_arena *ar, int ndim, const int *shape,
                                  const mdl_scalar *values);
/** @brief A tensor whose data is your buffer: no copy, and minidl never frees it.
 *  @return header from `ar` (lifetime MDL_BORROWED); the buffer must outlive its use */
MDLDEF mdl_tensor *mdl_wrap(mdl_arena *ar, int ndim, const int *shape, mdl_scalar *data);
/** @brief 1-D tensor start, start+step, ... up to but not including stop (torch.arange).
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_arange(mdl_arena *ar, double start, double stop, double step);
/** @brief Uniform random values in [lo, hi). @return from `ar` */
MDLDEF mdl_tensor *mdl_rand(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape,
                            double lo, double hi);
/** @brief Normal random values. @return from `ar` */
MDLDEF mdl_tensor *mdl_randn(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape,
                             double mean, double std);

/** @brief Set every element of `t` to `value` (no autograd). */
MDLDEF void mdl_fill(mdl_tensor *t, mdl_scalar value);
/** @brief Fill `t` with uniform values in [lo, hi) (no autograd), e.g. to initialize weights. */
MDLDEF void mdl_fill_uniform(mdl_tensor *t, mdl_rng *rng, double lo, double hi);
/** @brief Fill `t` with normal values (no autograd). */
MDLDEF void mdl_fill_normal(mdl_tensor *t, mdl_rng *rng, double mean, double std);
/** @brief Copy the values of `src` into `dst` (same number of elements; no autograd). Use it
 *  to carry a value past an arena reset, e.g. an RNN's hidden state into a buffer. */
MDLDEF void mdl_copy(mdl_tensor *dst, const mdl_tensor *src);

/** @brief Number of elements of a tensor, 0 for NULL. */
MDLDEF size_t mdl_numel(const mdl_tensor *t);
/** @brief The value of a one-element tensor (e.g. a loss), 0 for NULL. */
MDLDEF double mdl_item(const mdl_tensor *t);

/** @brief Print shape and values, long tensors shortened with "..." as PyTorch does. */
MDLDEF void mdl_print(const mdl_tensor *t);
/** @brief mdl_print to a stream. */
MDLDEF void mdl_fprint(FILE *f, const mdl_tensor *t);
/** @brief Write "[2,3,4]" into buf (always terminated). @return buf */
MDLDEF char *mdl_shape_str(const mdl_tensor *t, char *buf, size_t size);

/** @} */

/** @defgroup autograd Autograd
 *  @brief Reverse-mode differentiation over the tape the ops recorded.
 *  @{ */

/** @brief Compute d(y)/d(t) for every tensor t that y depends on and that requires grad, and
 *  add it to t->grad (gradients accumulate until zeroed). y must have one element (a loss).
 *  @return MDL_OK, or the error code after reporting a contract error */
MDLDEF mdl_error mdl_backward(mdl_tensor *y);

/** @brief Like mdl_backward for a y of any shape, starting from dy = d(loss)/d(y).
 *  @param y  the output to differentiate
 *  @param dy same number of elements as y */
MDLDEF mdl_error mdl_backward_with(mdl_tensor *y, const mdl_tensor *dy);

/** @brief A tensor with x's values that autograd treats as a constant. A view.
 *  @return from `ar`, sharing x's data */
MDLDEF mdl_tensor *mdl_detach(mdl_arena *ar, mdl_tensor *x);

/** @brief Mark a leaf tensor as needing a gradient (1) or not (0). */
MDLDEF void mdl_set_requires_grad(mdl_tensor *t, int requires_grad);

/** @brief Set t->grad to zero (if t has one). */
MDLDEF void mdl_zero_grad(mdl_tensor *t);

/** @} */

/** @defgroup ops Ops
 *  @brief Each op takes its output from the arena `ar` and, when an input requires grad and
 *  grad mode is on, records itself on the autograd tape. Binary elementwise ops broadcast as
 *  NumPy does: shapes are aligned from the right, and an axis of size 1 stretches to match.
 *  Axes may be negative (-1 is the last). Given NULL after an error, an op returns NULL.
 *
 *  Integer data (class labels, positions to gather) travels in ordinary tensors: an index
 *  tensor is an mdl_tensor whose values are whole numbers, which float holds exactly below
 *  2^24 = 16777216. An op that takes one checks every value, and reports the first that is not
 *  a whole number or is out of range as MDL_ERR_ARG, naming the op, the position (the flat
 *  index and the multi-index) and the value. Index tensors never get a gradient. Conditions and
 *  masks (mdl_where, mdl_masked_fill) are ordinary tensors too, true where nonzero; the
 *  comparisons (mdl_gt, ...) make them, as tensors of 1 and 0 that are not differentiable.
 *
 *  Broadcasting a bias over a batch, and its gradient summed back to the bias's shape:
 *  @code
 *  int xs[2] = {4, 3}, bs[1] = {3};
 *  mdl_tensor *x = mdl_ones(ar, 2, xs);                      // [4,3]
 *  mdl_tensor *b = mdl_zeros(ar, 1, bs);                     // [3], stretched over 4 rows
 *  mdl_set_requires_grad(b, 1);
 *  mdl_tensor *y = mdl_add(ar, x, b);                        // [4,3]
 *  mdl_backward(mdl_sum(ar, y, MDL_ALL, 0));
 *  if (y->ndim != 2 || b->grad[0] != 4) return 1;            // each bias entry was used 4 times
 *  @endcode
 *  @{ */

/** The list of primitive ops, X(NAME, "public function", its backward). Each op's forward and
 *  backward sit side by side in one block of the implementation; the op enum, the names and
 *  the backward table are generated from this list, and the gradient-check test walks it too.
 *  Other ops (mdl_neg, mdl_mean, mdl_var, mdl_transpose, mdl_stack, mdl_masked_fill, mdl_repeat,
 *  mdl_split, ...) are built from these.
 *  The last five are the fused losses of the losses group. */
#define MDL_OPS(X)                                                                           \
    X(ADD, "mdl_add", mdl__add_backward)                                                     \
    X(SUB, "mdl_sub", mdl__sub_backward)                                                     \
    X(MUL, "mdl_mul", mdl__mul_backward)                                                     \
    X(DIV, "mdl_div", mdl__div_backward)                                                     \
    X(MAXIMUM, "mdl_maximum", mdl__maximum_backward)                                         \
    X(MINIMUM, "mdl_minimum", mdl__minimum_backward)                                         \
    X(WHERE, "mdl_where", mdl__where_backward)                                               \
    X(ADD_SCALAR, "mdl_add_scalar", mdl__add_scalar_backward)                                \
    X(MUL_SCALAR, "mdl_mul_scalar", mdl__mul_scalar_backward)                                \
    X(EXP, "mdl_exp", mdl__exp_backward)                                                     \
    X(EXPM1, "mdl_expm1", mdl__expm1_backward)                                               \
    X(LOG, "mdl_log", mdl__log_backward)                                                     \
    X(LOG1P, "mdl_log1p", mdl__log1p_backward)                                               \
    X(SQRT, "mdl_sqrt", mdl__sqrt_backward)                                                  \
    X(ABS, "mdl_abs", mdl__abs_backward)                                                     \
    X(POW, "mdl_pow", mdl__pow_backward)                                                     \
    X(CLAMP, "mdl_clamp", mdl__clamp_backward)                                               \
    X(RELU, "mdl_relu", mdl__relu_backward)                                                  \
    X(LEAKY_RELU, "mdl_leaky_relu", mdl__leaky_relu_backward)                                \
    X(SIGMOID, "mdl_sigmoid", mdl__sigmoid_backward)                                         \
    X(LOGSIGMOID, "mdl_logsigmoid", mdl__logsigmoid_backward)                                \
    X(TANH, "mdl_tanh", mdl__tanh_backward)                                                  \
    X(GELU, "mdl_gelu", mdl__gelu_backward)                                                  \
    X(GELU_TANH, "mdl_gelu_tanh", mdl__gelu_tanh_backward)                                   \
    X(SILU, "mdl_silu", mdl__silu_backward)                                                  \
    X(ELU, "mdl_elu", mdl__elu_backward)                                                     \
    X(SOFTPLUS, "mdl_softplus", mdl__softplus_backward)                                      \
    X(SOFTMAX, "mdl_softmax", mdl__softmax_backward)                                         \
    X(LOG_SOFTMAX, "mdl_log_softmax", mdl__softmax_backward)                                 \
    X(SUM, "mdl_sum", mdl__sum_backward)                                                     \
    X(SUM_AXES, "mdl_sum_axes", mdl__sum_axes_backward)                                      \
    X(MAX, "mdl_max", mdl__max_backward)                                                     \
    X(LOGSUMEXP, "mdl_logsumexp", mdl__logsumexp_backward)                                   \
    X(MATMUL, "mdl_matmul", mdl__matmul_backward)                                            \
    X(CONV2D, "mdl_conv2d", mdl__conv2d_backward)                                            \
    X(MAX_POOL2D, "mdl_max_pool2d", mdl__pool_backward)                                      \
    X(AVG_POOL2D, "mdl_avg_pool2d", mdl__pool_backward)                                      \
    X(ADAPTIVE_AVG_POOL2D, "mdl_adaptive_avg_pool2d", mdl__adaptive_avg_pool_backward)       \
    X(RESHAPE, "mdl_reshape", mdl__reshape_backward)                                         \
    X(PERMUTE, "mdl_permute", mdl__permute_backward)                                         \
    X(EXPAND, "mdl_expand", mdl__expand_backward)                                            \
    X(SLICE, "mdl_slice", mdl__slice_backward)                                               \
    X(CONCAT, "mdl_concat", mdl__concat_backward)                                            \
    X(INDEX_SELECT, "mdl_index_select", mdl__index_select_backward)                          \
    X(GATHER, "mdl_gather", mdl__gather_backward)                                            \
    X(RNN_SCAN, "mdl_rnn_scan", mdl__rnn_scan_backward)                                      \
    X(BCE, "mdl_bce_loss", mdl__bce_backward)                                                \
    X(BCE_WITH_LOGITS, "mdl_bce_with_logits_loss", mdl__bce_with_logits_backward)            \
    X(CROSS_ENTROPY, "mdl_cross_entropy_loss", mdl__cross_entropy_backward)                  \
    X(NLL_LOSS, "mdl_nll_loss", mdl__nll_loss_backward)                                      \
    X(KL_DIV, "mdl_kl_div_loss", mdl__kl_div_backward)

#define MDL__OP_ENUM_ITEM(name, fn, backward) MDL_OP_##name,
/** Primitive op ids, MDL_OP_ADD ... in MDL_OPS order, then MDL_OP_COUNT. */
typedef enum mdl_op { MDL_OPS(MDL__OP_ENUM_ITEM) MDL_OP_COUNT } mdl_op;
#undef MDL__OP_ENUM_ITEM

/** @brief The public function name of an op, e.g. "mdl_matmul". */
MDLDEF const char *mdl_op_name(mdl_op op);

/* -- elementwise, two inputs, broadcasting -- */
/** @brief a + b (broadcast). @return from `ar` */
MDLDEF mdl_tensor *mdl_add(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a - b (broadcast). @return from `ar` */
MDLDEF mdl_tensor *mdl_sub(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a * b elementwise (broadcast). @return from `ar` */
MDLDEF mdl_tensor *mdl_mul(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a / b elementwise (broadcast). @return from `ar` */
MDLDEF mdl_tensor *mdl_div(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief max(a, b) elementwise (broadcast); at a tie (a == b) each gets half the gradient, as
 *  in PyTorch. @return from `ar` */
MDLDEF mdl_tensor *mdl_maximum(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief min(a, b) elementwise (broadcast); at a tie each gets half the gradient, as in
 *  PyTorch; with a NaN, forward picks b and b gets the gradient. @return from `ar` */
MDLDEF mdl_tensor *mdl_minimum(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);

/* -- comparisons: 1 where true, 0 where false; no gradient, nothing recorded on the tape -- */
/** @brief a == b elementwise (broadcast), as 1 and 0. Not differentiable: the result never
 *  requires grad. A NaN equals nothing, itself included. @return from `ar` */
MDLDEF mdl_tensor *mdl_eq(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a != b (broadcast), as 1 and 0; 1 wherever a NaN is involved. @return from `ar` */
MDLDEF mdl_tensor *mdl_ne(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a < b (broadcast), as 1 and 0; 0 wherever a NaN is involved. @return from `ar` */
MDLDEF mdl_tensor *mdl_lt(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a <= b (broadcast), as 1 and 0; 0 wherever a NaN is involved. @return from `ar` */
MDLDEF mdl_tensor *mdl_le(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a > b (broadcast), as 1 and 0; 0 wherever a NaN is involved. @return from `ar` */
MDLDEF mdl_tensor *mdl_gt(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief a >= b (broadcast), as 1 and 0; 0 wherever a NaN is involved. @return from `ar` */
MDLDEF mdl_tensor *mdl_ge(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief x == s, as 1 and 0 (like mdl_eq). @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_eq_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x != s, as 1 and 0 (like mdl_ne). @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_ne_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x < s, as 1 and 0 (like mdl_lt). @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_lt_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x <= s, as 1 and 0 (like mdl_le). @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_le_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x > s, as 1 and 0 (like mdl_gt). @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_gt_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x >= s, as 1 and 0 (like mdl_ge). @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_ge_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);

/* -- selection -- */
/** @brief cond != 0 ? a : b elementwise (torch.where); cond, a and b broadcast together.
 *  The gradient goes to a where cond is nonzero and to b elsewhere; cond gets none. A NaN or
 *  an infinity in the branch not taken does not reach the result, and that branch receives a
 *  gradient of exactly 0. Its own backward still runs, though, and 0 times an infinite
 *  derivative is NaN: in where(x > 0, log(x), 0), log's backward makes 0 / 0 at x = 0. As in
 *  PyTorch, keep the branch finite where it is not taken: log(where(x > 0, x, 1)).
 *  @param ar   the arena for the result
 *  @param cond true where nonzero, e.g. from a comparison
 *  @param a    the values where cond is true
 *  @param b    the values where cond is false
 *  @return from `ar`, in the shape that cond, a and b broadcast to */
MDLDEF mdl_tensor *mdl_where(mdl_arena *ar, mdl_tensor *cond, mdl_tensor *a, mdl_tensor *b);
/** @brief x where mask == 0, `value` where mask != 0 (torch.masked_fill, e.g. -inf above the
 *  diagonal of attention scores). mask broadcasts to x's shape (it may stretch, x may not).
 *  The gradient reaches x where mask == 0.
 *  @param ar    the arena for the result
 *  @param x     the values kept
 *  @param mask  true where nonzero
 *  @param value what goes where mask is true
 *  @return from `ar`, shape of x */
MDLDEF mdl_tensor *mdl_masked_fill(mdl_arena *ar, mdl_tensor *x, mdl_tensor *mask,
                                   mdl_scalar value);

/* -- elementwise with a scalar -- */
/** @brief x + s. @return from `ar` */
MDLDEF mdl_tensor *mdl_add_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x - s. @return from `ar` */
MDLDEF mdl_tensor *mdl_sub_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x * s. @return from `ar` */
MDLDEF mdl_tensor *mdl_mul_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x / s. @return from `ar` */
MDLDEF mdl_tensor *mdl_div_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief s - x (torch.rsub). @return from `ar` */
MDLDEF mdl_tensor *mdl_rsub_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);

/* -- elementwise, one input -- */
/** @brief -x. @return from `ar` */
MDLDEF mdl_tensor *mdl_neg(mdl_arena *ar, mdl_tensor *x);
/** @brief e^x. @return from `ar` */
MDLDEF mdl_tensor *mdl_exp(mdl_arena *ar, mdl_tensor *x);
/** @brief e^x - 1, accurate for small x, where exp(x) - 1 loses x's digits. @return from `ar` */
MDLDEF mdl_tensor *mdl_expm1(mdl_arena *ar, mdl_tensor *x);
/** @brief Natural log; log(0) = -inf, log of a negative = NaN, as in C. @return from `ar` */
MDLDEF mdl_tensor *mdl_log(mdl_arena *ar, mdl_tensor *x);
/** @brief log(1 + x), accurate for small x, where 1 + x would round x's digits away.
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_log1p(mdl_arena *ar, mdl_tensor *x);
/** @brief Square root. @return from `ar` */
MDLDEF mdl_tensor *mdl_sqrt(mdl_arena *ar, mdl_tensor *x);
/** @brief |x|; gradient sign(x), 0 at 0. @return from `ar` */
MDLDEF mdl_tensor *mdl_abs(mdl_arena *ar, mdl_tensor *x);
/** @brief x^p for a scalar exponent p. @return from `ar` */
MDLDEF mdl_tensor *mdl_pow(mdl_arena *ar, mdl_tensor *x, mdl_scalar p);
/** @brief min(max(x, lo), hi); gradient 1 inside [lo, hi], 0 outside. @return from `ar` */
MDLDEF mdl_tensor *mdl_clamp(mdl_arena *ar, mdl_tensor *x, mdl_scalar lo, mdl_scalar hi);

/* -- activations -- */
/** @brief max(x, 0). @return from `ar` */
MDLDEF mdl_tensor *mdl_relu(mdl_arena *ar, mdl_tensor *x);
/** @brief x if x > 0 else slope * x (PyTorch's default slope is 0.01). @return from `ar` */
MDLDEF mdl_tensor *mdl_leaky_relu(mdl_arena *ar, mdl_tensor *x, mdl_scalar slope);
/** @brief 1 / (1 + e^-x). @return from `ar` */
MDLDEF mdl_tensor *mdl_sigmoid(mdl_arena *ar, mdl_tensor *x);
/** @brief log(sigmoid(x)) = -softplus(-x), computed as min(x, 0) - log1p(e^-|x|), which never
 *  overflows and keeps tiny values (-9.4e-14 at x = 30, not 0). @return from `ar` */
MDLDEF mdl_tensor *mdl_logsigmoid(mdl_arena *ar, mdl_tensor *x);
/** @brief tanh(x). @return from `ar` */
MDLDEF mdl_tensor *mdl_tanh(mdl_arena *ar, mdl_tensor *x);
/** @brief x * Phi(x), Phi the normal CDF (exact erf form, PyTorch's default). @return from `ar` */
MDLDEF mdl_tensor *mdl_gelu(mdl_arena *ar, mdl_tensor *x);
/** @brief GELU with Phi approximated by tanh, PyTorch's gelu(approximate='tanh') and GPT-2's:
 *  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); within 5e-4 of mdl_gelu.
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_gelu_tanh(mdl_arena *ar, mdl_tensor *x);
/** @brief x * sigmoid(x) (also called swish). @return from `ar` */
MDLDEF mdl_tensor *mdl_silu(mdl_arena *ar, mdl_tensor *x);
/** @brief x if x > 0 else alpha * (e^x - 1) (PyTorch's default alpha is 1). @return from `ar` */
MDLDEF mdl_tensor *mdl_elu(mdl_arena *ar, mdl_tensor *x, mdl_scalar alpha);
/** @brief (1/beta) log(1 + e^(beta x)), a smooth relu (torch.nn.functional.softplus); where
 *  beta x > threshold it is x itself. Computed without overflow for every x.
 *  @param ar        the arena for the result
 *  @param x         the input
 *  @param beta      sharpness, not 0 (PyTorch's default: 1)
 *  @param threshold above it, beta x counts as linear (PyTorch's default: 20)
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_softplus(mdl_arena *ar, mdl_tensor *x, mdl_scalar beta,
                                mdl_scalar threshold);
/** @brief e^x / sum(e^x) along `axis`, computed stably. @return from `ar`, same shape as x */
MDLDEF mdl_tensor *mdl_softmax(mdl_arena *ar, mdl_tensor *x, int axis);
/** @brief x - log(sum(e^x)) along `axis`, computed stably. @return from `ar`, same shape */
MDLDEF mdl_tensor *mdl_log_softmax(mdl_arena *ar, mdl_tensor *x, int axis);

/* -- reductions: axis is one axis or MDL_ALL; keepdim keeps it with size 1 -- */
/** @brief Sum along `axis` (or MDL_ALL). @return from `ar` */
MDLDEF mdl_tensor *mdl_sum(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Mean along `axis` (or MDL_ALL). @return from `ar` */
MDLDEF mdl_tensor *mdl_mean(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Maximum along `axis` (or MDL_ALL). Along an axis the gradient goes to the first
 *  maximum; over MDL_ALL it is shared equally by all the elements equal to the maximum, as in
 *  PyTorch. @return from `ar` */
MDLDEF mdl_tensor *mdl_max(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Index of the first maximum along `axis` (or MDL_ALL: the flat index), as values of
 *  the tensor; not differentiable. @return from `ar` */
MDLDEF mdl_tensor *mdl_argmax(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief log(sum(e^x)) along `axis` (or MDL_ALL), computed stably (the maximum subtracted
 *  first); its gradient is softmax(x). keepdim keeps the axis with size 1. @return from `ar` */
MDLDEF mdl_tensor *mdl_logsumexp(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Variance along `axis` (or MDL_ALL): sum((x - mean)^2) / (n - correction).
 *  correction 1 is PyTorch's default (unbiased), 0 the population variance. @return from `ar` */
MDLDEF mdl_tensor *mdl_var(mdl_arena *ar, mdl_tensor *x, int axis, int correction, int keepdim);
/** @brief Sum over several axes at once: x [N,C,H,W] over axes {0, 2, 3} -> [C], or [1,C,1,1]
 *  with keepdim, as BatchNorm needs.
 *  @param ar      the arena for the result
 *  @param x       the input
 *  @param n_axes  how many axes, 1 to x's rank
 *  @param axes    the axes to reduce; negative ones count from the end; none twice
 *  @param keepdim 1 keeps each reduced axis with size 1
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_sum_axes(mdl_arena *ar, mdl_tensor *x, int n_axes, const int *axes,
                                int keepdim);
/** @brief Mean over several axes at once (axes as for mdl_sum_axes). @return from `ar` */
MDLDEF mdl_tensor *mdl_mean_axes(mdl_arena *ar, mdl_tensor *x, int n_axes, const int *axes,
                                 int keepdim);
/** @brief Variance over several axes at once, sum((x - mean)^2) / (n - correction) with n the
 *  number of elements reduced into each output (axes as for mdl_sum_axes). BatchNorm
 *  normalizes with correction 0 and keeps running statistics with correction 1.
 *  @param ar         the arena for the result
 *  @param x          the input
 *  @param n_axes     how many axes
 *  @param axes       the axes to reduce
 *  @param correction subtracted from n in the divisor, 0 or more
 *  @param keepdim    1 keeps each reduced axis with size 1
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_var_axes(mdl_arena *ar, mdl_tensor *x, int n_axes, const int *axes,
                                int correction, int keepdim);

/* -- matrix product -- */
/** @brief Matrix product, as torch.matmul: a [..., M, K] @ b [..., K, N] -> [..., M, N].
 *  The axes before the last two are batch axes and broadcast ([B,H,T,D] @ [B,H,D,T],
 *  [M,K] @ [B,K,N], [B,M,K] @ [K,N]); a 1-D a is a row [1,K] and a 1-D b a column [K,1],
 *  whose axis is then dropped from the result ([K] @ [K] is a scalar).
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_matmul(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);
/** @brief op(a) @ op(b), where op swaps the last two axes of an operand whose flag is set,
 *  without copying it: mdl_matmul_t(ar, x, w, 0, 1) is x @ w^T, a linear layer's product with
 *  its weight stored [out, in]. Otherwise as mdl_matmul (a 1-D operand is never transposed).
 *  @param ar      the arena for the output
 *  @param a       left operand [..., M, K], or [..., K, M] with trans_a
 *  @param b       right operand [..., K, N], or [..., N, K] with trans_b
 *  @param trans_a 1: use a^T
 *  @param trans_b 1: use b^T
 *  @return from `ar`, [..., M, N] */
MDLDEF mdl_tensor *mdl_matmul_t(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b, int trans_a,
                                int trans_b);

/* -- convolution and pooling (NCHW, weights [out, in, kh, kw] as PyTorch) -- */
/** Options of a convolution, PyTorch's Conv2d arguments by name. Every field left 0 takes
 *  PyTorch's default, so a zeroed struct (or NULL) is a plain convolution, and the options a
 *  call sets are named where it sets them:
 *  @code
 *  int xs[4] = {2, 3, 8, 8}, ws[4] = {4, 3, 3, 3};
 *  mdl_tensor *x = mdl_randn(ar, &rng, 4, xs, 0, 1), *w = mdl_randn(ar, &rng, 4, ws, 0, 1);
 *  mdl_conv_opts same = {0};
 *  same.padding = 1;                                      // "same" size for a 3x3 kernel
 *  mdl_tensor *y = mdl_conv2d(ar, x, w, NULL, &same);      // [2,4,8,8]
 *  mdl_tensor *z = mdl_conv2d(ar, x, w, NULL, NULL);       // [2,4,6,6]: no padding
 *  if (y->shape[2] != 8 || z->shape[2] != 6) return 1;
 *  @endcode
 *  In C99, `&(mdl_conv_opts){.stride = 2, .padding = 1}` says it in one expression. */
typedef struct mdl_conv_opts {
    int stride;         /**< step between windows along every axis; 0: 1 */
    int padding;        /**< zeros added at both ends of every axis; 0: none */
    int dilation;       /**< spacing of the kernel's taps along every axis; 0: 1 */
    int groups;         /**< channel groups that do not see each other; 0: 1 (ordinary) */
    int stride_hw[2];   /**< conv2d only: (along H, along W), used when either is set */
    int padding_hw[2];  /**< conv2d only: (along H, along W), used when either is set */
    int dilation_hw[2]; /**< conv2d only: (along H, along W), used when either is set */
} mdl_conv_opts;

/** @brief 2-D convolution (cross-correlation, as PyTorch's conv2d).
 *  x [B,C,H,W] with w [O,C/groups,KH,KW] and bias [O] (or NULL) -> [B,O,OH,OW], where
 *  OH = (H + 2 padding_h - dilation_h (KH - 1) - 1) / stride_h + 1, and OW likewise.
 *  With -fopenmp, the images are shared among the threads, forward and backward, and the
 *  results are the same to the bit whatever the thread count.
 *  @param ar   the arena for the output, for the im2col columns that forward keeps for
 *              backward when w needs a gradient (C/groups*KH*KW x B*OH*OW values, up to 32 MiB),
 *              and for backward's scratch
 *  @param x    input [B,C,H,W]
 *  @param w    filters [O,C/groups,KH,KW]
 *  @param bias one per output channel [O], or NULL
 *  @param opts stride, padding, dilation and groups (see mdl_conv_opts); NULL: the defaults
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_conv2d(mdl_arena *ar, mdl_tensor *x, mdl_tensor *w, mdl_tensor *bias,
                              const mdl_conv_opts *opts);
/** @brief 1-D convolution: x [B,C,L] with w [O,C/groups,K] and bias [O] (or NULL) ->
 *  [B,O,(L + 2 padding - dilation (K - 1) - 1) / stride + 1]. opts as for mdl_conv2d, without
 *  the per-axis pairs (NULL: the defaults). @return from `ar` */
MDLDEF mdl_tensor *mdl_conv1d(mdl_arena *ar, mdl_tensor *x, mdl_tensor *w, mdl_tensor *bias,
                              const mdl_conv_opts *opts);
/** Options of a pooling, PyTorch's MaxPool2d and AvgPool2d arguments by name. Every field left
 *  0 takes PyTorch's default, so a zeroed struct (or NULL) pools windows of the kernel's size
 *  side by side, and the options a call sets are named where it sets them. For 2-D pooling each
 *  setting may differ along H and W: set the pair (a 0 in stride_hw, padding_hw or dilation_hw
 *  is that axis's default). Contract errors (MDL_ERR_ARG), each message naming every setting:
 *  a negative value, padding over half the kernel, the kernel given both as the argument and
 *  as kernel_hw, a pair given to 1-D pooling, dilation given to average pooling and
 *  exclude_padding to max pooling.
 *  @code
 *  int xs[4] = {1, 1, 8, 8};
 *  mdl_tensor *x = mdl_ones(ar, 4, xs);
 *  mdl_pool_opts o = {0};
 *  o.stride = 2;
 *  o.padding = 1;                                      // 3x3 windows from (-1,-1), (-1,1), ...
 *  mdl_tensor *a = mdl_avg_pool2d(ar, x, 3, &o);        // [1,1,4,4]; corner 4/9: padding counts
 *  o.ceil_mode = 1;                                    // a 5th window per axis, cut at the edge
 *  o.exclude_padding = 1;                              // divide by the pixels of x alone
 *  mdl_tensor *b = mdl_avg_pool2d(ar, x, 3, &o);        // [1,1,5,5] of ones
 *  mdl_tensor *m = mdl_max_pool2d(ar, x, 2, NULL);      // [1,1,4,4]: stride = kernel
 *  if (a->shape[3] != 4 || fabs(a->data[0] - 4.0 / 9) > 1e-6 || b->shape[3] != 5 ||
 *      b->data[24] != 1 || m->shape[2] != 4)
 *      return 1;
 *  @endcode
 *  In C99, `&(mdl_pool_opts){.stride = 2, .padding = 1}` says it in one expression. */
typedef struct mdl_pool_opts {
    int stride;          /**< step between windows along every axis; 0: the kernel size
                              (PyTorch's default) */
    int padding;         /**< added at both ends of every axis; 0: none; at most half the
                              kernel (PyTorch's rule) */
    int dilation;        /**< max pooling only: spacing of the window's taps; 0: 1 */
    int kernel_hw[2];    /**< 2-D only: the window (KH, KW), used when the kernel argument is 0 */
    int stride_hw[2];    /**< 2-D only: (along H, along W), used when either is set */
    int padding_hw[2];   /**< 2-D only: (along H, along W), used when either is set */
    int dilation_hw[2];  /**< 2-D max only: (along H, along W), used when either is set */
    int ceil_mode;       /**< 1: round the output size up, as PyTorch's ceil_mode=True */
    int exclude_padding; /**< avg only: 1 leaves padded positions out of the divisor, as
                              PyTorch's count_include_pad=False */
} mdl_pool_opts;

/** @brief Max pooling, as PyTorch's max_pool2d: each output the largest x in its window.
 *  x [B,C,H,W] -> [B,C,OH,OW]. With k, s, p, d the kernel, stride, padding and dilation along H,
 *      OH = floor((H + 2p - d (k - 1) - 1) / s) + 1
 *  and OW likewise; in ceil_mode the ceiling instead, less one if that last window would start
 *  in the right padding ((OH - 1) s >= H + p): every window starts inside x or its left
 *  padding. Output (oy, ox) reads rows oy s - p + i d (i = 0 .. k-1), and columns likewise.
 *  Padding counts as -inf: positions outside x never win (a window with none inside x, which
 *  only dilation can make, gives -inf and passes no gradient). A NaN in a window gives NaN.
 *  The gradient of each output goes to the first position holding its maximum, which forward
 *  records (one int per output, from `ar`) when x requires grad.
 *  @param ar     the arena for the output and the positions of the maxima
 *  @param x      input [B,C,H,W]
 *  @param kernel the window's size along H and W; 0: opts->kernel_hw gives (KH, KW)
 *  @param opts   stride, padding, dilation, ceil_mode (see mdl_pool_opts); NULL: the defaults
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_max_pool2d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts);
/** @brief Average pooling, as PyTorch's avg_pool2d: each output the mean of its window.
 *  x [B,C,H,W] -> [B,C,OH,OW], with OH and OW as for mdl_max_pool2d (dilation is 1). The
 *  divisor is the number of the window's positions inside the padded input, padding counted
 *  as zeros (PyTorch's default count_include_pad=True; a ceil_mode window that hangs past the
 *  padded input is cut there), or with exclude_padding the number inside x alone. Each
 *  position of x in the window gets the output's gradient / the divisor.
 *  @param ar     the arena for the output
 *  @param x      input [B,C,H,W]
 *  @param kernel the window's size along H and W; 0: opts->kernel_hw gives (KH, KW)
 *  @param opts   stride, padding, ceil_mode, exclude_padding (see mdl_pool_opts); NULL: the
 *                defaults
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_avg_pool2d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts);
/** @brief Max pooling along the last axis, as PyTorch's max_pool1d: x [B,C,L] -> [B,C,OL],
 *  OL as OH of mdl_max_pool2d. Computed as mdl_max_pool2d of [B,C,1,L] with a 1 x kernel
 *  window, as mdl_conv1d is computed.
 *  @param ar     the arena for the output and the positions of the maxima
 *  @param x      input [B,C,L]
 *  @param kernel the window's length
 *  @param opts   as for mdl_max_pool2d, without the per-axis pairs; NULL: the defaults
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_max_pool1d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts);
/** @brief Average pooling along the last axis, as PyTorch's avg_pool1d: x [B,C,L] ->
 *  [B,C,OL], OL as OH of mdl_max_pool2d; the divisor as for mdl_avg_pool2d.
 *  @param ar     the arena for the output
 *  @param x      input [B,C,L]
 *  @param kernel the window's length
 *  @param opts   as for mdl_avg_pool2d, without the per-axis pairs; NULL: the defaults
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_avg_pool1d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts);
/** @brief Adaptive average pooling, as PyTorch's adaptive_avg_pool2d: x [B,C,H,W] ->
 *  [B,C,out_h,out_w] for any sizes. Output (i, j) is the mean of rows floor(i H / out_h) ..
 *  ceil((i + 1) H / out_h) - 1 and of the columns found likewise: windows that cover x, may
 *  overlap, and differ in size by one at most. When out_h divides H, that is avg_pool2d with
 *  kernel and stride H / out_h; (1, 1) is global average pooling. Each position of a window
 *  gets the output's gradient / the window's size.
 *  @param ar    the arena for the output
 *  @param x     input [B,C,H,W]
 *  @param out_h the output's height, >= 1
 *  @param out_w the output's width, >= 1
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_adaptive_avg_pool2d(mdl_arena *ar, mdl_tensor *x, int out_h, int out_w);

/* -- shape ops -- */
/** @brief The same values with another shape (one size may be -1: inferred). A view: no copy.
 *  @return from `ar`, sharing x's data */
MDLDEF mdl_tensor *mdl_reshape(mdl_arena *ar, mdl_tensor *x, int ndim, const int *shape);
/** @brief Merge axes start..end (inclusive; -1 is the last) into one. A view. @return from `ar` */
MDLDEF mdl_tensor *mdl_flatten(mdl_arena *ar, mdl_tensor *x, int start, int end);
/** @brief Remove `axis`, which must have size 1. A view. @return from `ar` */
MDLDEF mdl_tensor *mdl_squeeze(mdl_arena *ar, mdl_tensor *x, int axis);
/** @brief Insert an axis of size 1 before position `axis` (0..ndim; -1 appends). A view.
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_unsqueeze(mdl_arena *ar, mdl_tensor *x, int axis);
/** @brief Reorder the axes: output axis i is input axis perm[i]. Copies. @return from `ar` */
MDLDEF mdl_tensor *mdl_permute(mdl_arena *ar, mdl_tensor *x, const int *perm);
/** @brief Swap two axes. Copies. @return from `ar` */
MDLDEF mdl_tensor *mdl_transpose(mdl_arena *ar, mdl_tensor *x, int axis0, int axis1);
/** @brief Stretch the axes of size 1 (torch.expand): x [3,1] to {2,3,4} -> [2,3,4]. Shapes line
 *  up from the right; new axes go in front; -1 keeps x's size. minidl has no strided views, so
 *  this copies. The gradient sums over the stretched axes.
 *  @param ar    the arena for the result
 *  @param x     the input
 *  @param ndim  the rank of the result, at least x's
 *  @param shape the sizes of the result
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_expand(mdl_arena *ar, mdl_tensor *x, int ndim, const int *shape);
/** @brief Tile x (torch.repeat): repeats[d] copies of it along axis d; when n is larger than
 *  x's rank, x first gains leading axes of size 1. x [2,3] with {2,1,2} -> [2,2,6]. The
 *  gradient sums the tiles.
 *  @param ar      the arena for the result
 *  @param x       the input
 *  @param n       how many repeats, at least x's rank
 *  @param repeats copies along each axis, 0 or more
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_repeat(mdl_arena *ar, mdl_tensor *x, int n, const int *repeats);
/** @brief Elements start..end-1 along `axis` (x[..., start:end, ...]). A view when the axes
 *  before `axis` all have size 1, a copy otherwise. @return from `ar` */
MDLDEF mdl_tensor *mdl_slice(mdl_arena *ar, mdl_tensor *x, int axis, int start, int end);
/** @brief Cut x along `axis` into parts of the given sizes, which must add up to the axis's
 *  size (torch.split with a list of sizes). Each part is an mdl_slice: a view when the axes
 *  before `axis` all have size 1.
 *  @param ar      the arena for the parts
 *  @param x       the input
 *  @param axis    the axis to cut
 *  @param n_sizes how many parts, at least 1
 *  @param sizes   the size of each part, 0 or more
 *  @param out     receives the n_sizes parts, each from `ar`; all NULL after an error
 *  @return the number of parts (n_sizes), or 0 after an error */
MDLDEF int mdl_split(mdl_arena *ar, mdl_tensor *x, int axis, int n_sizes, const int *sizes,
                     mdl_tensor **out);
/** @brief Cut x along `axis` into parts of ceil(size / chunks) elements, the last one smaller
 *  if need be (torch.chunk): size 5 in 4 chunks gives 2, 2, 1, so fewer parts than asked.
 *  Parts are slices, as in mdl_split.
 *  @param ar     the arena for the parts
 *  @param x      the input
 *  @param chunks the most parts wanted, at least 1
 *  @param axis   the axis to cut
 *  @param out    room for `chunks` parts, each from `ar`; all NULL after an error
 *  @return the number of parts, or 0 after an error */
MDLDEF int mdl_chunk(mdl_arena *ar, mdl_tensor *x, int chunks, int axis, mdl_tensor **out);
/** @brief Join n tensors along an existing axis; other sizes must match. @return from `ar` */
MDLDEF mdl_tensor *mdl_concat(mdl_arena *ar, int n, mdl_tensor *const *xs, int axis);
/** @brief Join n tensors of one shape along a new axis. @return from `ar` */
MDLDEF mdl_tensor *mdl_stack(mdl_arena *ar, int n, mdl_tensor *const *xs, int axis);
/** @brief Pick n entries along `axis` by index (torch.index_select); along axis 0 of a
 *  [vocab, dim] table this is an embedding lookup. Indices are copied.
 *  @return from `ar`, shape of x with shape[axis] = n */
MDLDEF mdl_tensor *mdl_index_select(mdl_arena *ar, mdl_tensor *x, int axis, int n,
                                    const int *index);
/** @brief Pick values along `axis` by an index tensor (torch.gather). For axis 1 of a 3-D x:
 *  out[i,j,k] = x[i, index[i,j,k], k]. Picking each row's target-class score from log
 *  probabilities [B,C] with targets [B,1] gives [B,1]:
 *  @code
 *  mdl_scalar lp[6] = {-0.5f, -1, -2, -3, -0.25f, -1.5f}, tg[2] = {2, 1}; // class ids as values
 *  int s23[2] = {2, 3}, s21[2] = {2, 1};
 *  mdl_tensor *logp = mdl_from_array(ar, 2, s23, lp);                    // [B,C] = [2,3]
 *  mdl_tensor *picked = mdl_gather(ar, logp, 1, mdl_from_array(ar, 2, s21, tg)); // [2,1]
 *  if (picked->data[0] != -2 || picked->data[1] != -0.25f) return 1;
 *  @endcode
 *  @param ar    the arena for the result
 *  @param x     the values
 *  @param axis  the axis that index points along
 *  @param index an index tensor of x's rank, whole numbers in 0..x.shape[axis]-1;
 *               index.shape[d] <= x.shape[d] for every other axis d. It gets no gradient.
 *  @return from `ar`, index's shape; the gradient adds into x where each value came from */
MDLDEF mdl_tensor *mdl_gather(mdl_arena *ar, mdl_tensor *x, int axis, mdl_tensor *index);

/** @} */

/** @defgroup layers Layers and initialisation
 *  @brief torch.nn's layers in two forms, as torch.nn and torch.nn.functional: a function that
 *  takes its parameters as tensors (mdl_linear(ar, x, w, b)), and an mdl_layer, made once with
 *  its parameters registered in a parameter set under PyTorch's state_dict names
 *  ("fc1.weight", "bn.running_mean"), and run with mdl_layer_forward. Layers are built from
 *  the ops above, so autograd and mdl_gradcheck cover them with no backward of their own.
 *
 *  A model of your own is a struct of layers and a forward function:
 *  @code
 *  typedef struct mlp { mdl_layer fc1, fc2; } mlp;
 *
 *  static mdl_tensor *mlp_forward(mdl_arena *ar, const mlp *m, mdl_tensor *x) {
 *      mdl_tensor *h = mdl_relu(ar, mdl_layer_forward(ar, &m->fc1, x));
 *      return mdl_layer_forward(ar, &m->fc2, h);
 *  }
 *
 *  int main(void) {
 *      mdl_params *ps = mdl_params_new();
 *      mdl_arena *ar = mdl_arena_new(0);
 *      mdl_rng rng;
 *      mlp m;
 *      int xs[2] = {32, 64};
 *      mdl_rng_seed(&rng, 1);
 *      m.fc1 = mdl_linear_layer(ps, "fc1", 64, 128, 1, &rng);  // fc1.weight [128,64], fc1.bias
 *      m.fc2 = mdl_linear_layer(ps, "fc2", 128, 10, 1, &rng);
 *      mdl_tensor *y = mlp_forward(ar, &m, mdl_randn(ar, &rng, 2, xs, 0, 1));   // [32,10]
 *      int ok = y && y->shape[1] == 10 && mdl_params_count(ps) == 4;
 *      mdl_arena_free(ar);
 *      mdl_params_free(ps);
 *      return ok ? 0 : 1;
 *  }
 *  @endcode
 *  @{ */

/* -- initialisation (no autograd; the caller's generator; see also mdl_fill_uniform,
      mdl_fill_normal and mdl_fill for uniform, normal, zeros and ones) -- */
/** @brief fan_in of a weight as PyTorch computes it: shape[1] times the product of shape[2:]
 *  (a Linear weight [out, in]: in; a Conv2d weight [out, in/groups, kh, kw]: in/groups kh kw). */
MDLDEF int mdl_fan_in(const mdl_tensor *w);
/** @brief fan_out: shape[0] times the product of shape[2:]. */
MDLDEF int mdl_fan_out(const mdl_tensor *w);
/** @brief Xavier (Glorot) uniform: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)). */
MDLDEF void mdl_init_xavier_uniform(mdl_tensor *w, mdl_rng *rng, double gain);
/** @brief Xavier (Glorot) normal: N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)). */
MDLDEF void mdl_init_xavier_normal(mdl_tensor *w, mdl_rng *rng, double gain);
/** @brief Kaiming (He) uniform, as torch.nn.init.kaiming_uniform_ with nonlinearity
 *  'leaky_relu': U(-b, b), b = sqrt(2 / (1 + a^2)) sqrt(3 / fan). a = 0 is ReLU's gain;
 *  a = sqrt(5) is what Linear and Conv use by default (b = 1 / sqrt(fan_in)).
 *  @param w       the tensor to fill
 *  @param rng     the generator
 *  @param a       the negative slope of the leaky ReLU that follows
 *  @param fan_out 0: fan = fan_in (PyTorch's default mode), 1: fan = fan_out */
MDLDEF void mdl_init_kaiming_uniform(mdl_tensor *w, mdl_rng *rng, double a, int fan_out);
/** @brief Kaiming (He) normal: N(0, std^2), std = sqrt(2 / (1 + a^2)) / sqrt(fan). Parameters
 *  as mdl_init_kaiming_uniform. */
MDLDEF void mdl_init_kaiming_normal(mdl_tensor *w, mdl_rng *rng, double a, int fan_out);
/** @brief A (semi-)orthogonal matrix times gain, as torch.nn.init.orthogonal_: w seen as
 *  [shape[0], rest], rows (or columns, whichever are fewer) orthonormal. */
MDLDEF void mdl_init_orthogonal(mdl_tensor *w, mdl_rng *rng, double gain);

/* -- the functional forms -- */
/** @brief Linear map: y = x @ weight^T + bias. x [..., in], weight [out, in], bias [out] (or
 *  NULL) -> y [..., out]. The weight is read transposed in place, never copied.
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_linear(mdl_arena *ar, mdl_tensor *x, mdl_tensor *weight, mdl_tensor *bias);
/** @brief Dropout: in training, each element is zeroed with probability p and the others are
 *  scaled by 1 / (1 - p), so that the expected value is unchanged; out of training (or p = 0),
 *  y is x itself.
 *  @param ar       the arena for the output and the mask
 *  @param x        input, any shape
 *  @param p        probability of zeroing, 0 <= p <= 1
 *  @param training 1 in training, 0 in evaluation
 *  @param rng      the generator that draws the mask (may be NULL out of training)
 *  @return from `ar` (x itself out of training) */
MDLDEF mdl_tensor *mdl_dropout(mdl_arena *ar, mdl_tensor *x, double p, int training,
                               mdl_rng *rng);
/** @brief Embedding lookup: y[..., :] = weight[index[...], :]. index is an index tensor of any
 *  shape (whole numbers 0 .. num-1); weight [num, dim] -> y [index's shape..., dim]. Rows
 *  picked at padding_idx (if >= 0) pass no gradient back to the weight, as in PyTorch.
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_embedding(mdl_arena *ar, mdl_tensor *index, mdl_tensor *weight,
                                 int padding_idx);
/** @brief Layer normalization over the last n_axes axes: y = (x - mean) / sqrt(var + eps) *
 *  weight + bias, mean and the biased variance taken over those axes for each leading index.
 *  weight and bias have the shape of those axes (or are NULL). @return from `ar` */
MDLDEF mdl_tensor *mdl_layer_norm(mdl_arena *ar, mdl_tensor *x, int n_axes, mdl_tensor *weight,
                                  mdl_tensor *bias, double eps);
/** @brief Batch normalization, as torch.nn.functional.batch_norm. x [N,C], [N,C,L] or
 *  [N,C,H,W]; statistics per channel C over every other axis. In training, x is normalized
 *  with the batch's mean and biased variance, and the running statistics (if given) move
 *  towards the batch's: running = (1 - momentum) running + momentum batch, with the unbiased
 *  variance for running_var. Out of training, the running statistics normalize and stay as
 *  they are. y = (x - mean) / sqrt(var + eps) * weight + bias (weight, bias [C] or NULL).
 *  @param ar           the arena
 *  @param x            input [N,C,...]
 *  @param running_mean [C] buffer, or NULL (training only)
 *  @param running_var  [C] buffer, or NULL (training only)
 *  @param weight       [C] scale, or NULL
 *  @param bias         [C] shift, or NULL
 *  @param training     1: batch statistics; 0: running statistics
 *  @param momentum     PyTorch's default is 0.1
 *  @param eps          added to the variance inside the square root; PyTorch's default 1e-5
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_batch_norm(mdl_arena *ar, mdl_tensor *x, mdl_tensor *running_mean,
                                  mdl_tensor *running_var, mdl_tensor *weight, mdl_tensor *bias,
                                  int training, double momentum, double eps);

/* -- layer objects -- */
/** The kinds of layer, X(NAME, "PyTorch's class name"). */
#define MDL_LAYERS(X)                   \
    X(LINEAR, "Linear")                 \
    X(CONV1D, "Conv1d")                 \
    X(CONV2D, "Conv2d")                 \
    X(MAX_POOL1D, "MaxPool1d")          \
    X(MAX_POOL2D, "MaxPool2d")          \
    X(AVG_POOL1D, "AvgPool1d")          \
    X(AVG_POOL2D, "AvgPool2d")          \
    X(ADAPTIVE_AVG_POOL2D, "AdaptiveAvgPool2d") \
    X(FLATTEN, "Flatten")               \
    X(DROPOUT, "Dropout")               \
    X(BATCH_NORM1D, "BatchNorm1d")      \
    X(BATCH_NORM2D, "BatchNorm2d")      \
    X(LAYER_NORM, "LayerNorm")          \
    X(EMBEDDING, "Embedding")           \
    X(RELU, "ReLU")                     \
    X(LEAKY_RELU, "LeakyReLU")          \
    X(ELU, "ELU")                       \
    X(GELU, "GELU")                     \
    X(SILU, "SiLU")                     \
    X(SIGMOID, "Sigmoid")               \
    X(TANH, "Tanh")                     \
    X(SOFTMAX, "Softmax")               \
    X(LOG_SOFTMAX, "LogSoftmax")

#define MDL__LAYER_ENUM_ITEM(name, torch) MDL_LAYER_##name,
/** Layer kinds, MDL_LAYER_LINEAR ...; 0 is no layer (a constructor that failed). */
typedef enum mdl_layer_kind {
    MDL_LAYER_NONE = 0,
    MDL_LAYERS(MDL__LAYER_ENUM_ITEM) MDL_LAYER_COUNT
} mdl_layer_kind;
#undef MDL__LAYER_ENUM_ITEM

#define MDL_NAME_MAX 64 /**< longest layer name, with its terminating 0 */

/** A layer: its kind, its name, its parameters (owned by the mdl_params it was made with) and
 *  its settings. Make one with a constructor below, run it with mdl_layer_forward. A plain
 *  value: copy it freely (the copies share the parameters). */
typedef struct mdl_layer {
    mdl_layer_kind kind;
    char name[MDL_NAME_MAX]; /**< "fc1": the prefix of its parameters' names ("" if none) */
    int training;            /**< 1 (the default): training mode; see mdl_layer_train */
    mdl_tensor *weight;      /**< Linear [out,in], Conv [out,in/groups,k..], norms, Embedding */
    mdl_tensor *bias;        /**< [out] or NULL */
    mdl_tensor *running_mean, *running_var; /**< BatchNorm buffers [C] */
    mdl_tensor *num_batches_tracked;        /**< BatchNorm buffer, one value */
    int in, out;             /**< features or channels; Embedding: num and dim */
    int kernel[2];           /**< Conv: kernel size (H, W); Conv1d uses kernel[1] */
    mdl_conv_opts conv;      /**< Conv: stride, padding, dilation, groups */
    mdl_pool_opts pool;      /**< pooling: stride, padding, ... (kernel in kernel[1], or
                                  kernel[0] x kernel[1]; AdaptiveAvgPool2d: the output size) */
    int axis[2];             /**< Flatten: start and end; Softmax: the axis; LayerNorm: n_axes */
    int padding_idx;         /**< Embedding: -1 for none */
    double p;                /**< Dropout: probability; LeakyReLU: slope; ELU: alpha */
    double eps, momentum;    /**< BatchNorm, LayerNorm */
    mdl_rng *rng;            /**< Dropout: the caller's generator */
} mdl_layer;

/** @brief The PyTorch class name of a kind, e.g. "Linear". */
MDLDEF const char *mdl_layer_kind_name(mdl_layer_kind kind);
/** @brief Run a layer: y = layer(x). Errors name the layer, its name and the shapes:
 *  `fc2 (Linear 128->10): x [32,64]: expected 128 features`. @return from `ar` */
MDLDEF mdl_tensor *mdl_layer_forward(mdl_arena *ar, const mdl_layer *layer, mdl_tensor *x);
/** @brief Training (1) or evaluation (0) mode, as module.train() and module.eval(): Dropout
 *  drops only in training; BatchNorm uses batch statistics and updates its running ones only in
 *  training. */
MDLDEF void mdl_layer_train(mdl_layer *layer, int training);
/** @brief Number of parameter values the layer owns (weights and biases, not buffers). */
MDLDEF size_t mdl_layer_param_count(const mdl_layer *layer);

/** @brief Linear(in, out): weight [out,in] and bias [out] ("name.weight", "name.bias"),
 *  initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)) for both.
 *  @param ps   the set that owns the parameters
 *  @param name the prefix of their names
 *  @param in   input features
 *  @param out  output features
 *  @param bias 1 for a bias (PyTorch's default), 0 for none
 *  @param rng  the generator for the initial values
 *  @return the layer (kind MDL_LAYER_NONE after an error) */
MDLDEF mdl_layer mdl_linear_layer(mdl_params *ps, const char *name, int in, int out, int bias,
                                  mdl_rng *rng);
/** @brief Conv2d(in, out, kernel kh x kw, opts): weight [out, in/groups, kh, kw], bias [out],
 *  initialised as PyTorch does (kaiming uniform with a = sqrt(5); bias U(+-1/sqrt(fan_in))).
 *  opts may be NULL (stride 1, no padding). Other parameters as mdl_linear_layer. */
MDLDEF mdl_layer mdl_conv2d_layer(mdl_params *ps, const char *name, int in, int out, int kh,
                                  int kw, const mdl_conv_opts *opts, int bias, mdl_rng *rng);
/** @brief Conv1d(in, out, kernel k, opts): weight [out, in/groups, k], bias [out]. */
MDLDEF mdl_layer mdl_conv1d_layer(mdl_params *ps, const char *name, int in, int out, int k,
                                  const mdl_conv_opts *opts, int bias, mdl_rng *rng);
/** @brief BatchNorm1d(C) for [N,C] or [N,C,L] inputs: weight 1, bias 0 [C], buffers
 *  running_mean 0, running_var 1 [C] and num_batches_tracked, momentum 0.1, eps 1e-5. */
MDLDEF mdl_layer mdl_batch_norm1d_layer(mdl_params *ps, const char *name, int channels);
/** @brief BatchNorm2d(C) for [N,C,H,W] inputs, as mdl_batch_norm1d_layer. */
MDLDEF mdl_layer mdl_batch_norm2d_layer(mdl_params *ps, const char *name, int channels);
/** @brief LayerNorm over the last n_axes axes, whose sizes are shape[0..n_axes-1]: weight 1
 *  and bias 0 of that shape, eps 1e-5. */
MDLDEF mdl_layer mdl_layer_norm_layer(mdl_params *ps, const char *name, int n_axes,
                                      const int *shape);
/** @brief Embedding(num, dim): weight [num, dim] drawn from N(0, 1), its padding_idx row (if
 *  >= 0) zero. Its input is an index tensor. */
MDLDEF mdl_layer mdl_embedding_layer(mdl_params *ps, const char *name, int num, int dim,
                                     int padding_idx, mdl_rng *rng);
/** @brief MaxPool2d(kernel, opts), AvgPool2d, MaxPool1d and AvgPool1d: pooling as a layer,
 *  kind one of MDL_LAYER_MAX_POOL2D, AVG_POOL2D, MAX_POOL1D, AVG_POOL1D; opts may be NULL
 *  (stride = kernel, no padding). */
MDLDEF mdl_layer mdl_pool_layer(mdl_layer_kind kind, int kernel, const mdl_pool_opts *opts);
/** @brief AdaptiveAvgPool2d((out_h, out_w)); (1, 1) is global average pooling. */
MDLDEF mdl_layer mdl_adaptive_avg_pool2d_layer(int out_h, int out_w);
/** @brief Dropout(p), drawing its masks from rng (which must outlive the layer). */
MDLDEF mdl_layer mdl_dropout_layer(double p, mdl_rng *rng);
/** @brief Flatten(start, end): merges axes start..end (PyTorch's default 1, -1). */
MDLDEF mdl_layer mdl_flatten_layer(int start, int end);
/** @brief An activation as a layer: kind one of MDL_LAYER_RELU, LEAKY_RELU (p = slope 0.01),
 *  ELU (p = alpha 1), GELU, SILU, SIGMOID, TANH, SOFTMAX and LOG_SOFTMAX (axis[0] = -1). */
MDLDEF mdl_layer mdl_activation_layer(mdl_layer_kind kind);

/** A list of layers run one after the other, as torch.nn.Sequential. */
typedef struct mdl_sequential {
    int count;         /**< layers in the list */
    int capacity;
    mdl_layer *layers; /**< the layers, in order */
} mdl_sequential;

/** @brief An empty list. @return freed by mdl_sequential_free; NULL if out of memory */
MDLDEF mdl_sequential *mdl_sequential_new(void);
/** @brief Free the list (not the parameters: they belong to their mdl_params). */
MDLDEF void mdl_sequential_free(mdl_sequential *seq);
/** @brief Append a layer (a copy). A layer whose constructor failed is refused.
 *  @return the copy in the list, or NULL */
MDLDEF mdl_layer *mdl_sequential_add(mdl_sequential *seq, mdl_layer layer);
/** @brief Run every layer in order. @return from `ar` */
MDLDEF mdl_tensor *mdl_sequential_forward(mdl_arena *ar, const mdl_sequential *seq,
                                          mdl_tensor *x);
/** @brief Training (1) or evaluation (0) mode for every layer. */
MDLDEF void mdl_sequential_train(mdl_sequential *seq, int training);
/** @brief Print a table of the layers as Keras's summary() does: name, kind, output shape for
 *  an input of the given shape, and parameter counts, with the total. Runs the layers once on
 *  zeros in evaluation mode, with no tape, in an arena of its own.
 *  @return MDL_OK, or the error of a layer that refused the shape */
MDLDEF mdl_error mdl_sequential_summary(FILE *f, const mdl_sequential *seq, int ndim,
                                        const int *shape);

/** @} */

/** @defgroup recurrent Recurrent layers and attention
 *  @brief RNN, LSTM and GRU cells and sequence layers; attention and a transformer block.
 *
 *  PyTorch's recurrent layers with their names, layouts, gate orders and initialisation, so
 *  that a state_dict's tensors load into them number for number. Three forms, as torch.nn has:
 *  - cells, one time step: mdl_rnn_cell, mdl_lstm_cell, mdl_gru_cell take the weights as
 *    tensors (torch.rnn_tanh_cell, torch.lstm_cell, torch.gru_cell); mdl_rnn_cell_layer makes
 *    them with their parameters, as nn.RNNCell, nn.LSTMCell and nn.GRUCell;
 *  - sequence layers, made once by mdl_rnn_layer (nn.RNN, nn.LSTM, nn.GRU: num_layers,
 *    bidirectional, batch_first, dropout between layers, bias) and run over a whole
 *    sequence by mdl_rnn_forward, which returns the output and gives the final states;
 *  - mdl_rnn_scan, the one primitive op behind the sequence layers' fast path: the recurrence
 *    of one layer in one direction over all time steps, its backward the whole
 *    backpropagation through time in one pass.
 *
 *  Shapes, as PyTorch's (T time steps, B batch, I input features, H hidden units, L layers,
 *  D directions): x [T,B,I] ([B,T,I] with batch_first), output [T,B,D*H] ([B,T,D*H]),
 *  h0, c0, h_n and c_n [L*D,B,H] even with batch_first. An unbatched x [T,I] gives [T,D*H],
 *  with states [L*D,H]. Parameters, for layer k and each direction (suffix "_reverse" for the
 *  second): weight_ih_l{k} [G*H, I] (k = 0) or [G*H, D*H], weight_hh_l{k} [G*H, H], bias_ih_l{k}
 *  and bias_hh_l{k} [G*H], with G gates stacked in PyTorch's order: 1 for RNN, 4 for LSTM
 *  (i, f, g, o), 3 for GRU (r, z, n). All start as U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's.
 *
 *  A character-level language model: an LSTM over one-hot characters, its output through a
 *  Linear to the next character's logits.
 *  @code
 *  mdl_params *ps = mdl_params_new();
 *  mdl_rnn_opts o = {0};
 *  o.num_layers = 2;                                            // stacked, as nn.LSTM's
 *  mdl_rnn lstm = mdl_rnn_layer(ps, "lstm", MDL_LSTM, 20, 32, &o, &rng);
 *  mdl_layer head = mdl_linear_layer(ps, "head", 32, 20, 1, &rng);
 *  int xs[3] = {16, 4, 20};                                     // [T,B,I]
 *  mdl_tensor *x = mdl_randn(ar, &rng, 3, xs, 0, 1), *h_n, *c_n;
 *  mdl_tensor *y = mdl_rnn_forward(ar, &lstm, x, NULL, NULL, &h_n, &c_n); // [16,4,32]
 *  mdl_tensor *logits = mdl_layer_forward(ar, &head, y);        // [16,4,20]
 *  mdl_backward(mdl_mean(ar, mdl_mul(ar, logits, logits), MDL_ALL, 0));
 *  int ok = logits && h_n->shape[0] == 2 && c_n->shape[2] == 32 &&
 *           mdl_params_find(ps, "lstm.weight_hh_l1")->shape[0] == 4 * 32 &&
 *           lstm.weight_ih[1]->grad[0] != 0;
 *  mdl_params_free(ps);
 *  if (!ok) return 1;
 *  @endcode
 *
 *  TRUNCATED BACKPROPAGATION THROUGH TIME. A language model reads a long text in windows of T
 *  characters, one batch after the other, and each window should start from the hidden state
 *  the last one ended with: the model then remembers across windows. But the gradient must
 *  stop at the window's start, or the backward pass of batch k would run back through every
 *  batch before it, its memory and time growing with k:
 *  @code{.txt}
 *      batch k-1                       batch k                          batch k+1
 *   h0 -> [t0 -> t1 -> ... -> t63] h_n ==copy==> h0 -> [t0 -> ... -> t63] h_n ==copy==> ...
 *          <---- backward -------                 <---- backward ------
 *   values flow to the right across every ==copy==; gradients stop at each one (detached)
 *  @endcode
 *  So the state is carried as a value, not as a node of the graph: keep it in persistent
 *  buffers (mdl_params_add_buffer, which never require grad), pass them as h0 and c0, and
 *  after the step copy h_n and c_n into them (mdl_copy). The arena's reset then frees the
 *  window's graph, and the next window starts from the carried values with nothing to
 *  backpropagate into: PyTorch's `h = h.detach()` between batches. Start again from zeros
 *  (mdl_fill) at the text's start or when the batch's streams are reshuffled.
 *  @code
 *  mdl_params *ps = mdl_params_new();
 *  mdl_rnn gru = mdl_rnn_layer(ps, "gru", MDL_GRU, 8, 16, NULL, &rng);
 *  int xs[3] = {10, 2, 8}, hs[3] = {1, 2, 16};                 // windows of 10 steps
 *  mdl_tensor *carry = mdl_params_add_buffer(ps, "carry.h", 3, hs); // zeros, no grad
 *  for (int window = 0; window < 3; window++) {
 *      mdl_tensor *x = mdl_randn(ar, &rng, 3, xs, 0, 1), *h_n;
 *      mdl_tensor *y = mdl_rnn_forward(ar, &gru, x, carry, NULL, &h_n, NULL);
 *      mdl_backward(mdl_mean(ar, y, MDL_ALL, 0));             // back to this window's start
 *      mdl_copy(carry, h_n);                                  // the value goes on, detached
 *      mdl_params_zero_grad(ps);
 *      mdl_arena_reset(ar);                                   // the window's graph is gone
 *  }
 *  int ok = carry->data[0] != 0 && carry->grad == NULL;
 *  mdl_params_free(ps);
 *  if (!ok) return 1;
 *  @endcode
 *
 *  ATTENTION. mdl_scaled_dot_product_attention is F.scaled_dot_product_attention; mdl_mha_layer
 *  makes nn.MultiheadAttention, with its in_proj_weight [3E,E] ([W_q; W_k; W_v] rows) and
 *  out_proj; mdl_transformer_encoder_layer makes nn.TransformerEncoderLayer (post-norm or
 *  pre-norm, ReLU or GELU). A small model over a batch of sequences, with sinusoidal positions
 *  and a causal mask (each position sees only the ones before it, as a language model must):
 *  @code
 *  mdl_params *ps = mdl_params_new();
 *  mdl_transformer_opts o = mdl_transformer_defaults();        // PyTorch's, then ours:
 *  o.dim_feedforward = 64;
 *  o.dropout = 0;
 *  o.batch_first = 1;
 *  mdl_transformer_layer enc = mdl_transformer_encoder_layer(ps, "enc", 32, 4, &o, &rng);
 *  int xs[3] = {2, 10, 32};                                     // [B,T,E]
 *  mdl_tensor *x = mdl_add(ar, mdl_randn(ar, &rng, 3, xs, 0, 1),
 *                          mdl_sinusoidal_positions(ar, 10, 32)); // + [T,E], over B
 *  mdl_mha_args a = {0};
 *  a.causal = 1;
 *  mdl_tensor *y = mdl_transformer_encoder_layer_forward(ar, &enc, x, &a); // [2,10,32]
 *  mdl_backward(mdl_mean(ar, mdl_mul(ar, y, y), MDL_ALL, 0));
 *  int ok = y && y->shape[1] == 10 && mdl_params_count(ps) == 12 &&
 *           mdl_params_find(ps, "enc.self_attn.in_proj_weight")->shape[0] == 3 * 32 &&
 *           enc.linear1.weight->grad[0] != 0;
 *  mdl_params_free(ps);
 *  if (!ok) return 1;
 *  @endcode
 *  @{ */

/** The kind of recurrence: nn.RNN (tanh or relu), nn.LSTM or nn.GRU. */
typedef enum mdl_rnn_mode {
    MDL_RNN_TANH = 0, /**< h' = tanh(W_ih x + b_ih + W_hh h + b_hh), nn.RNN's default */
    MDL_RNN_RELU,     /**< the same with relu, nn.RNN(nonlinearity='relu') */
    MDL_LSTM,         /**< long short-term memory: gates i, f, g, o and a cell state c */
    MDL_GRU           /**< gated recurrent unit: gates r, z, n */
} mdl_rnn_mode;

#define MDL_RNN_MAX_LAYERS 8 /**< most stacked layers in one mdl_rnn */

/* -- cells: one time step -- */
/** @brief One step of an Elman RNN, as torch.rnn_tanh_cell and torch.rnn_relu_cell:
 *  h' = act(x @ w_ih^T + b_ih + h @ w_hh^T + b_hh), act tanh, or relu when `relu` is 1.
 *  @param ar   the arena for the result and the temporaries
 *  @param x    input [B,I]
 *  @param h    hidden state [B,H]; NULL: zeros
 *  @param w_ih [H,I]
 *  @param w_hh [H,H]
 *  @param b_ih [H] or NULL
 *  @param b_hh [H] or NULL
 *  @param relu 1: relu instead of tanh
 *  @return h' [B,H], from `ar` */
MDLDEF mdl_tensor *mdl_rnn_cell(mdl_arena *ar, mdl_tensor *x, mdl_tensor *h, mdl_tensor *w_ih,
                                mdl_tensor *w_hh, mdl_tensor *b_ih, mdl_tensor *b_hh, int relu);
/** @brief One step of an LSTM, as torch.lstm_cell, with gates stacked i, f, g, o:
 *      i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      input gate
 *      f = sigmoid(W_if x + b_if + W_hf h + b_hf)      forget gate
 *      g = tanh(W_ig x + b_ig + W_hg h + b_hg)         candidate
 *      o = sigmoid(W_io x + b_io + W_ho h + b_ho)      output gate
 *      c' = f * c + i * g       h' = o * tanh(c')
 *  @param ar     the arena for the results and the temporaries
 *  @param x      input [B,I]
 *  @param h      hidden state [B,H]; NULL: zeros
 *  @param c      cell state [B,H]; NULL: zeros
 *  @param w_ih   [4H,I]
 *  @param w_hh   [4H,H]
 *  @param b_ih   [4H] or NULL
 *  @param b_hh   [4H] or NULL
 *  @param c_next receives c' [B,H] (from `ar`); NULL if not wanted
 *  @return h' [B,H], from `ar` */
MDLDEF mdl_tensor *mdl_lstm_cell(mdl_arena *ar, mdl_tensor *x, mdl_tensor *h, mdl_tensor *c,
                                 mdl_tensor *w_ih, mdl_tensor *w_hh, mdl_tensor *b_ih,
                                 mdl_tensor *b_hh, mdl_tensor **c_next);
/** @brief One step of a GRU, as torch.gru_cell, with gates stacked r, z, n:
 *      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      reset gate
 *      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)      update gate
 *      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   candidate
 *      h' = (1 - z) * n + z * h
 *  @param ar   the arena for the result and the temporaries
 *  @param x    input [B,I]
 *  @param h    hidden state [B,H]; NULL: zeros
 *  @param w_ih [3H,I]
 *  @param w_hh [3H,H]
 *  @param b_ih [3H] or NULL
 *  @param b_hh [3H] or NULL
 *  @return h' [B,H], from `ar` */
MDLDEF mdl_tensor *mdl_gru_cell(mdl_arena *ar, mdl_tensor *x, mdl_tensor *h, mdl_tensor *w_ih,
                                mdl_tensor *w_hh, mdl_tensor *b_ih, mdl_tensor *b_hh);

/* -- the fused recurrence -- */
/** @brief The recurrence of one layer in one direction over a whole sequence, as one op: the
 *  sequence layers' fast path. Before the time loop, one matrix product computes the input
 *  parts of all T steps' gates, x @ w_ih^T; each step then adds b_ih + h @ w_hh^T + b_hh and
 *  applies the cell's gates, as the cells above do. Backward is the whole backpropagation
 *  through time, to every input.
 *  @param ar      the arena for the result and what backward needs (the gates of every step)
 *  @param mode    which cell
 *  @param x       input [T,B,I]
 *  @param h0      initial hidden state [B,H]; NULL: zeros
 *  @param c0      initial cell state [B,H] (MDL_LSTM only; NULL: zeros)
 *  @param w_ih    [G*H,I], G = 1, 4 or 3 gates as mode says, stacked in the cell's order
 *  @param w_hh    [G*H,H]
 *  @param b_ih    [G*H] or NULL
 *  @param b_hh    [G*H] or NULL
 *  @param reverse 1: run from step T-1 down to 0 (a bidirectional layer's second direction);
 *                 the state of step t is still written at position t
 *  @return from `ar`: the hidden states of every step [T,B,H]; for MDL_LSTM [2,T,B,H], the
 *          hidden states then the cell states */
MDLDEF mdl_tensor *mdl_rnn_scan(mdl_arena *ar, mdl_rnn_mode mode, mdl_tensor *x, mdl_tensor *h0,
                                mdl_tensor *c0, mdl_tensor *w_ih, mdl_tensor *w_hh,
                                mdl_tensor *b_ih, mdl_tensor *b_hh, int reverse);

/* -- layer objects -- */
/** Options of a sequence layer, nn.RNN's, nn.LSTM's and nn.GRU's arguments by name. Every field
 *  left 0 takes PyTorch's default, so a zeroed struct (or NULL) is one layer, one direction,
 *  time first, with biases, no dropout. */
typedef struct mdl_rnn_opts {
    int num_layers;    /**< stacked layers, each reading the one below's output; 0: 1 */
    int bidirectional; /**< 1: each layer also runs from the end; outputs side by side [.., 2H] */
    int batch_first;   /**< 1: x and the output are [B,T,*] (the states stay [L*D,B,H]) */
    int no_bias;       /**< 1: no bias_ih and bias_hh (PyTorch's bias=False) */
    double dropout;    /**< probability of dropout on each layer's output but the last's, in
                            training; needs the rng given to mdl_rnn_layer to outlive the layer */
} mdl_rnn_opts;

/** A recurrent layer: nn.RNN, nn.LSTM or nn.GRU (made by mdl_rnn_layer), or a cell nn.RNNCell,
 *  nn.LSTMCell or nn.GRUCell (mdl_rnn_cell_layer). Its parameters belong to the mdl_params it
 *  was made with. A plain value: copy it freely (the copies share the parameters). */
typedef struct mdl_rnn {
    mdl_rnn_mode mode;
    char name[MDL_NAME_MAX];  /**< prefix of its parameters' names */
    int cell;                 /**< 1: a cell (one step; parameters without the _l0 suffix) */
    int input_size, hidden_size, num_layers;
    int directions;           /**< 1, or 2 when bidirectional */
    int batch_first;
    int bias;                 /**< 1 if it has biases */
    double dropout;
    int training;             /**< 1 (the default): dropout between layers applies */
    int composed;             /**< 0 (the default): mdl_rnn_scan, the fast path; 1: the cells
                                   step by step, the readable reference (same results) */
    mdl_rng *rng;             /**< the generator given to the constructor (dropout's masks) */
    mdl_tensor *weight_ih[2 * MDL_RNN_MAX_LAYERS]; /**< [layer * directions + direction] */
    mdl_tensor *weight_hh[2 * MDL_RNN_MAX_LAYERS];
    mdl_tensor *bias_ih[2 * MDL_RNN_MAX_LAYERS];   /**< NULL without bias */
    mdl_tensor *bias_hh[2 * MDL_RNN_MAX_LAYERS];
} mdl_rnn;

/** @brief nn.RNN, nn.LSTM or nn.GRU: registers "name.weight_ih_l0", "name.weight_hh_l0",
 *  "name.bias_ih_l0", "name.bias_hh_l0", then the "_reverse" ones when bidirectional, then
 *  layer 1's ..., the state_dict's names in its order, all drawn from U(-1/sqrt(H), 1/sqrt(H)).
 *  @param ps          the set that owns the parameters
 *  @param name        the prefix of their names
 *  @param mode        MDL_RNN_TANH, MDL_RNN_RELU, MDL_LSTM or MDL_GRU
 *  @param input_size  I, features of x
 *  @param hidden_size H
 *  @param opts        layers, directions, batch_first, bias, dropout; NULL: the defaults
 *  @param rng         the generator for the initial values, and for dropout's masks later
 *  @return the layer (mode as given, cell 0); its weight_ih[0] is NULL after an error */
MDLDEF mdl_rnn mdl_rnn_layer(mdl_params *ps, const char *name, mdl_rnn_mode mode, int input_size,
                             int hidden_size, const mdl_rnn_opts *opts, mdl_rng *rng);
/** @brief Run a sequence layer over x, as module(x, h0) (LSTM: module(x, (h0, c0))). Errors
 *  name the layer and the shapes: `lstm (LSTM 75->128): x [64,32,80]: expected [T,B,75]`,
 *  `h0 [1,32,100]: expected [layers*directions, B, H] = [2,32,128]`.
 *  @param ar  the arena for the output, the states and the temporaries
 *  @param rnn the layer
 *  @param x   [T,B,I] ([B,T,I] with batch_first), or [T,I] unbatched
 *  @param h0  initial hidden states [L*D,B,H] ([L*D,H] unbatched); NULL: zeros
 *  @param c0  initial cell states, as h0 (MDL_LSTM only; NULL: zeros)
 *  @param h_n receives the final hidden states [L*D,B,H], from `ar`; NULL if not wanted
 *  @param c_n receives the final cell states (MDL_LSTM; NULL for the others); NULL if not
 *             wanted
 *  @return the last layer's hidden states of every step [T,B,D*H] ([B,T,D*H] with
 *          batch_first), from `ar`; NULL after an error */
MDLDEF mdl_tensor *mdl_rnn_forward(mdl_arena *ar, const mdl_rnn *rnn, mdl_tensor *x,
                                   mdl_tensor *h0, mdl_tensor *c0, mdl_tensor **h_n,
                                   mdl_tensor **c_n);
/** @brief nn.RNNCell (MDL_RNN_TANH, MDL_RNN_RELU), nn.LSTMCell or nn.GRUCell: registers
 *  "name.weight_ih" [G*H,I], "name.weight_hh" [G*H,H], "name.bias_ih" and "name.bias_hh" [G*H]
 *  (with bias 1), drawn from U(-1/sqrt(H), 1/sqrt(H)). Other parameters as mdl_rnn_layer.
 *  @return the cell (cell 1); its weight_ih[0] is NULL after an error */
MDLDEF mdl_rnn mdl_rnn_cell_layer(mdl_params *ps, const char *name, mdl_rnn_mode mode,
                                  int input_size, int hidden_size, int bias, mdl_rng *rng);
/** @brief One step of a cell made by mdl_rnn_cell_layer: mdl_rnn_cell, mdl_lstm_cell or
 *  mdl_gru_cell with its parameters.
 *  @param ar     the arena for the results
 *  @param cell   the cell
 *  @param x      input [B,I]
 *  @param h      [B,H]; NULL: zeros
 *  @param c      [B,H] (MDL_LSTM; NULL: zeros; must be NULL for the others)
 *  @param c_next receives c' (MDL_LSTM); NULL if not wanted
 *  @return h' [B,H], from `ar` */
MDLDEF mdl_tensor *mdl_rnn_cell_forward(mdl_arena *ar, const mdl_rnn *cell, mdl_tensor *x,
                                        mdl_tensor *h, mdl_tensor *c, mdl_tensor **c_next);
/** @brief Training (1) or evaluation (0) mode: dropout between layers only in training. */
MDLDEF void mdl_rnn_train(mdl_rnn *rnn, int training);
/** @brief Number of parameter values the layer owns. */
MDLDEF size_t mdl_rnn_param_count(const mdl_rnn *rnn);

/* -- attention -- */
/** How the values of an attention mask read. PyTorch has both boolean conventions:
 *  F.scaled_dot_product_attention's True means "may attend", nn.MultiheadAttention's (and every
 *  key_padding_mask's) True means "masked out"; its float masks are added to the scores. */
typedef enum mdl_mask_kind {
    MDL_MASK_ADD = 0, /**< added to the scores before the softmax (-inf blocks a position) */
    MDL_MASK_KEEP,    /**< nonzero where attention is allowed, 0 where blocked */
    MDL_MASK_BLOCK    /**< nonzero where attention is blocked (a padding position) */
} mdl_mask_kind;

/** Options of mdl_scaled_dot_product_attention; a zeroed struct (or NULL) is plain attention. */
typedef struct mdl_attention_opts {
    mdl_tensor *mask;        /**< broadcasts to the scores [..., Tq, Tk]; NULL: none */
    mdl_mask_kind mask_kind; /**< how mask reads (0: additive) */
    int causal;              /**< 1: query i attends to keys j <= i only (upper triangle off) */
    double dropout;          /**< probability of dropping an attention weight (0: none) */
    mdl_rng *rng;            /**< dropout's generator (needed when dropout > 0) */
    double scale;            /**< multiplies q @ k^T; 0: 1 / sqrt(D) */
} mdl_attention_opts;

/** @brief Scaled dot-product attention, as F.scaled_dot_product_attention (PyTorch 2):
 *      weights = softmax(q @ k^T * scale + mask) along the keys,  out = weights @ v
 *  with the causal mask and the given mask applied (a blocked position gets -inf before the
 *  softmax; a query whose every key is blocked gives NaN, as in PyTorch), then dropout on the
 *  weights. Shapes [..., Tq, D], [..., Tk, D], [..., Tk, Dv] -> [..., Tq, Dv], typically
 *  [B, heads, T, D]; the leading axes broadcast as mdl_matmul's. Built from ops.
 *  @param ar      the arena for the result and the temporaries
 *  @param q       queries [..., Tq, D]
 *  @param k       keys [..., Tk, D]
 *  @param v       values [..., Tk, Dv]
 *  @param opts    mask, causal, dropout, scale; NULL: none of them
 *  @param weights receives the attention weights [..., Tq, Tk] (after dropout, as PyTorch
 *                 returns them), from `ar`; NULL if not wanted
 *  @return [..., Tq, Dv], from `ar` */
MDLDEF mdl_tensor *mdl_scaled_dot_product_attention(mdl_arena *ar, mdl_tensor *q, mdl_tensor *k,
                                                    mdl_tensor *v, const mdl_attention_opts *opts,
                                                    mdl_tensor **weights);

/** Options of nn.MultiheadAttention's constructor; a zeroed struct (or NULL) is PyTorch's
 *  default: biases, no dropout, [T,B,E] inputs. */
typedef struct mdl_mha_opts {
    double dropout;  /**< on the attention weights, in training */
    int no_bias;     /**< 1: no in_proj_bias and out_proj.bias (bias=False) */
    int batch_first; /**< 1: inputs and output [B,T,E] */
} mdl_mha_opts;

/** nn.MultiheadAttention: in_proj_weight [3E,E] = [W_q; W_k; W_v] (rows), in_proj_bias [3E],
 *  out_proj.weight [E,E], out_proj.bias [E]. Made by mdl_mha_layer; a plain value. */
typedef struct mdl_mha {
    char name[MDL_NAME_MAX];
    int embed_dim, num_heads, batch_first;
    double dropout;
    int training;          /**< 1 (the default): dropout applies */
    mdl_rng *rng;          /**< the constructor's generator (dropout's masks) */
    mdl_tensor *in_proj_weight, *in_proj_bias, *out_proj_weight, *out_proj_bias;
} mdl_mha;

/** The masks and switches of one attention call (mdl_mha_forward and the transformer layer),
 *  nn.MultiheadAttention.forward's by name; a zeroed struct (or NULL) is none of them. */
typedef struct mdl_mha_args {
    mdl_tensor *attn_mask;        /**< [Tq,Tk] or [B*heads,Tq,Tk]; NULL: none */
    mdl_tensor *key_padding_mask; /**< [B,Tk], a key per batch element to ignore; NULL: none */
    mdl_mask_kind mask_kind;      /**< how both masks read: MDL_MASK_BLOCK for PyTorch's boolean
                                       masks (True = ignore), MDL_MASK_ADD (0) for its float ones */
    int causal;                   /**< 1: each query attends to keys up to its own position */
    int per_head_weights;         /**< 1: weights [B,heads,Tq,Tk]; 0: averaged over the heads
                                       [B,Tq,Tk] (PyTorch's average_attn_weights=True) */
} mdl_mha_args;

/** @brief nn.MultiheadAttention(embed_dim, num_heads): registers "name.in_proj_weight" [3E,E]
 *  (xavier uniform, as PyTorch), "name.in_proj_bias" [3E] (zeros), "name.out_proj.weight" [E,E]
 *  (U(-1/sqrt(E), 1/sqrt(E))) and "name.out_proj.bias" [E] (zeros), the state_dict's names in
 *  its order. embed_dim must be a multiple of num_heads.
 *  @return the layer; its in_proj_weight is NULL after an error */
MDLDEF mdl_mha mdl_mha_layer(mdl_params *ps, const char *name, int embed_dim, int num_heads,
                             const mdl_mha_opts *opts, mdl_rng *rng);
/** @brief Multi-head attention, as module(query, key, value, ...): the inputs projected by W_q,
 *  W_k, W_v, split into heads of E/heads features, attended with mdl_scaled_dot_product_attention
 *  in each head, joined and projected by out_proj. Errors name the layer and the shapes.
 *  @param ar      the arena for the results
 *  @param m       the layer
 *  @param query   [Tq,B,E] ([B,Tq,E] with batch_first)
 *  @param key     [Tk,B,E] ([B,Tk,E])
 *  @param value   [Tk,B,E] ([B,Tk,E]); query, key and value may be one tensor (self-attention)
 *  @param args    masks, causal, how to return the weights; NULL: none
 *  @param weights receives the attention weights [B,Tq,Tk] averaged over the heads (or
 *                 [B,heads,Tq,Tk]), from `ar`; NULL if not wanted
 *  @return the output, shaped as query, from `ar` */
MDLDEF mdl_tensor *mdl_mha_forward(mdl_arena *ar, const mdl_mha *m, mdl_tensor *query,
                                   mdl_tensor *key, mdl_tensor *value, const mdl_mha_args *args,
                                   mdl_tensor **weights);

/** Options of nn.TransformerEncoderLayer. Start from mdl_transformer_defaults(), which holds
 *  PyTorch's defaults, and change what you need. */
typedef struct mdl_transformer_opts {
    int dim_feedforward;   /**< the feed-forward block's width (2048) */
    double dropout;        /**< after attention, in the feed-forward block, after it (0.1) */
    int gelu;              /**< 1: GELU in the feed-forward block; 0: ReLU (0) */
    double layer_norm_eps; /**< (1e-5) */
    int batch_first;       /**< 1: [B,T,E] (0: [T,B,E]) */
    int norm_first;        /**< 1: pre-norm, x + f(norm(x)); 0: post-norm, norm(x + f(x)) (0) */
} mdl_transformer_opts;

/** nn.TransformerEncoderLayer: self_attn, linear1 [ff,E], linear2 [E,ff], norm1, norm2. */
typedef struct mdl_transformer_layer {
    char name[MDL_NAME_MAX];
    mdl_mha self_attn;
    mdl_layer linear1, linear2, norm1, norm2;
    mdl_transformer_opts opts;
    int training;  /**< 1 (the default): the dropouts apply */
    mdl_rng *rng;  /**< the constructor's generator (dropout's masks) */
} mdl_transformer_layer;

/** @brief PyTorch's defaults of nn.TransformerEncoderLayer (see mdl_transformer_opts). */
MDLDEF mdl_transformer_opts mdl_transformer_defaults(void);
/** @brief nn.TransformerEncoderLayer(d_model, nhead, ...): registers "name.self_attn.*",
 *  "name.linear1.weight", ..., "name.norm2.bias", the state_dict's names in its order, each
 *  initialised as PyTorch does.
 *  @param ps      the set that owns the parameters
 *  @param name    the prefix of their names
 *  @param d_model E
 *  @param nhead   heads; must divide d_model
 *  @param opts    NULL: mdl_transformer_defaults()
 *  @param rng     the generator for the initial values and the dropouts' masks
 *  @return the layer; its self_attn.in_proj_weight is NULL after an error */
MDLDEF mdl_transformer_layer mdl_transformer_encoder_layer(mdl_params *ps, const char *name,
                                                           int d_model, int nhead,
                                                           const mdl_transformer_opts *opts,
                                                           mdl_rng *rng);
/** @brief Run an encoder layer, as module(x, src_mask, src_key_padding_mask):
 *      post-norm: x = norm1(x + sa(x)),  x = norm2(x + ff(x))
 *      pre-norm:  x = x + sa(norm1(x)),  x = x + ff(norm2(x))
 *  with sa(x) = dropout(self_attn(x, x, x)) and ff(x) = dropout(linear2(dropout(act(linear1(x))))).
 *  @param ar   the arena
 *  @param l    the layer
 *  @param x    [T,B,E] ([B,T,E] with batch_first)
 *  @param args the attention's masks (attn_mask is src_mask); NULL: none
 *  @return x's shape, from `ar` */
MDLDEF mdl_tensor *mdl_transformer_encoder_layer_forward(mdl_arena *ar,
                                                         const mdl_transformer_layer *l,
                                                         mdl_tensor *x, const mdl_mha_args *args);
/** @brief Training (1) or evaluation (0) mode of a transformer layer: its dropouts. */
MDLDEF void mdl_transformer_train(mdl_transformer_layer *l, int training);

/* -- positional encodings -- */
/** @brief The sinusoidal positional encoding of "Attention is all you need" (and of PyTorch's
 *  tutorial): pe[t, 2i] = sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(t / 10000^(2i/d)). Add it to
 *  [T,B,d] or [B,T,d] inputs (it broadcasts over B: mdl_unsqueeze it to [T,1,d] for the first).
 *  @param ar the arena for the result
 *  @param T  positions 0 .. T-1
 *  @param d  features, even
 *  @return [T,d], from `ar`; a constant (no gradient) */
MDLDEF mdl_tensor *mdl_sinusoidal_positions(mdl_arena *ar, int T, int d);
/** @brief Learned positional encodings: the first T rows of a table [max_len, d] (the weight
 *  of an mdl_embedding_layer, say), whose rows are trained as any parameter. A view: the
 *  gradient reaches the table's rows.
 *  @return [T,d], from `ar` */
MDLDEF mdl_tensor *mdl_learned_positions(mdl_arena *ar, mdl_tensor *table, int T);

/** @} */

/** @defgroup losses Losses
 *  @brief torch.nn.functional's losses with PyTorch's formulas, defaults and reductions. Each
 *  takes the model's output first and the target second, checks their shapes (a mistake is
 *  reported with the loss and both shapes), and reduces as `reduction` says: MDL_MEAN (0,
 *  PyTorch's default), MDL_SUM, or MDL_NONE for the loss of each element (of each sample, for
 *  cross-entropy and nll). Targets are never broadcast: a target [N] against an output [N,1]
 *  would silently make [N,N] losses. Weights are constants, as in PyTorch: no gradient reaches
 *  them. Those that are not composites of the ops (bce, bce_with_logits, cross_entropy, nll,
 *  kl_div) are primitives in MDL_OPS, with the backward PyTorch uses.
 *
 *  Classification: logits [N,C] and class indices [N], held as values of a tensor:
 *  @code
 *  int xs[2] = {4, 3}, ts[1] = {4};
 *  mdl_scalar labels[4] = {0, 2, 1, 2};
 *  mdl_tensor *logits = mdl_zeros(ar, 2, xs);               // a model that knows nothing yet
 *  mdl_tensor *target = mdl_from_array(ar, 1, ts, labels);
 *  mdl_set_requires_grad(logits, 1);
 *  mdl_tensor *loss = mdl_cross_entropy_loss(ar, logits, target, NULL);   // the mean: log 3
 *  mdl_backward(loss);                                      // d = (softmax - onehot) / N
 *  if (fabs(mdl_item(loss) - log(3.0)) > 1e-5) return 1;
 *  if (fabs(logits->grad[0] - (1.0 / 3 - 1) / 4) > 1e-6) return 1;  // row 0, its class 0
 *  mdl_cross_entropy_opts o = {MDL_MEAN, NULL, 0, 0, 0.1};  // label smoothing 0.1
 *  loss = mdl_cross_entropy_loss(ar, logits, target, &o);  // still log 3: all logits equal
 *  if (fabs(mdl_item(loss) - log(3.0)) > 1e-5) return 1;
 *  @endcode
 *  @{ */

/** How a loss reduces its elements to what it returns. Zero is the mean, PyTorch's default,
 *  so a zeroed options struct asks for it. */
typedef enum mdl_reduction {
    MDL_MEAN = 0, /**< the mean over the elements; cross-entropy and nll: the sum divided by the
                       sum of the weights of the targets not ignored */
    MDL_SUM,      /**< the sum over the elements */
    MDL_NONE,     /**< no reduction: the loss of each element (of each sample: cross-entropy) */
    MDL_BATCHMEAN /**< mdl_kl_div_loss only: the sum divided by the batch size, input.shape[0]
                       (PyTorch's 'batchmean', the true KL divergence per sample) */
} mdl_reduction;

/** @brief Mean squared error, as F.mse_loss: (input - target)^2 per element.
 *  @param ar        the arena
 *  @param input     the prediction, any shape
 *  @param target    the same shape
 *  @param reduction MDL_MEAN, MDL_SUM or MDL_NONE
 *  @return from `ar`: one value, or input's shape with MDL_NONE */
MDLDEF mdl_tensor *mdl_mse_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                mdl_reduction reduction);
/** @brief Mean absolute error, as F.l1_loss: |input - target| per element, whose gradient is
 *  sign(input - target), 0 where they are equal. Parameters as mdl_mse_loss. @return from `ar` */
MDLDEF mdl_tensor *mdl_l1_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                               mdl_reduction reduction);
/** @brief Smooth L1, as F.smooth_l1_loss: with d = input - target, 0.5 d^2 / beta where
 *  |d| < beta, |d| - 0.5 beta elsewhere: quadratic near 0, linear (robust to outliers) beyond.
 *  beta = 0 is mdl_l1_loss, as in PyTorch; PyTorch's default beta is 1.
 *  @param ar        the arena
 *  @param input     the prediction, any shape
 *  @param target    the same shape
 *  @param beta      where the quadratic part ends, >= 0
 *  @param reduction MDL_MEAN, MDL_SUM or MDL_NONE
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_smooth_l1_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                      double beta, mdl_reduction reduction);
/** @brief Huber loss, as F.huber_loss: with d = input - target, 0.5 d^2 where |d| < delta,
 *  delta (|d| - 0.5 delta) elsewhere; delta * smooth_l1 with beta = delta. PyTorch's default
 *  delta is 1.
 *  @param ar        the arena
 *  @param input     the prediction, any shape
 *  @param target    the same shape
 *  @param delta     where the quadratic part ends, > 0
 *  @param reduction MDL_MEAN, MDL_SUM or MDL_NONE
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_huber_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                  double delta, mdl_reduction reduction);
/** @brief Binary cross-entropy of probabilities, as F.binary_cross_entropy:
 *  -weight (t log(x) + (1 - t) log(1 - x)) per element, each log clamped at -100 as PyTorch
 *  does, so x = 0 or 1 gives 100, not infinity. An input outside [0, 1] (or NaN) is an error
 *  that names the first bad element and its value. The input's gradient is PyTorch's,
 *  (x - t) / max(x (1 - x), 1e-12); the target's is the exact derivative of the clamped logs
 *  (PyTorch's is infinite at x = 0 or 1). Prefer mdl_bce_with_logits_loss on logits: it is
 *  exact where sigmoid rounds to 0 or 1.
 *  @param ar        the arena
 *  @param input     probabilities x in [0, 1], any shape
 *  @param target    t, the same shape (usually 0 or 1; any value in [0, 1] is allowed)
 *  @param weight    a constant that broadcasts to input's shape, or NULL
 *  @param reduction MDL_MEAN (over all elements), MDL_SUM or MDL_NONE
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_bce_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                mdl_tensor *weight, mdl_reduction reduction);
/** @brief Binary cross-entropy of logits, as F.binary_cross_entropy_with_logits: the loss of
 *  sigmoid(x) against t, computed stably from x,
 *      L = weight ((1 - t) x + (1 + (pw - 1) t) (max(-x, 0) + log(1 + e^-|x|))),
 *  with pw the pos_weight of the element's class (the index along the last axis): pw > 1
 *  counts positives more (recall), pw < 1 less (precision).
 *  @param ar         the arena
 *  @param logits     x, any shape
 *  @param target     t, the same shape; it gets a gradient if it requires one
 *  @param weight     a constant that broadcasts to logits' shape, or NULL
 *  @param pos_weight [C] (C = the size of the last axis) or [1], a constant; NULL: all 1
 *  @param reduction  MDL_MEAN (over all elements), MDL_SUM or MDL_NONE
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_bce_with_logits_loss(mdl_arena *ar, mdl_tensor *logits,
                                            mdl_tensor *target, mdl_tensor *weight,
                                            mdl_tensor *pos_weight, mdl_reduction reduction);

/** Options of mdl_cross_entropy_loss and mdl_nll_loss, PyTorch's arguments by name. A zeroed
 *  struct (or NULL) is PyTorch's default: the mean, no weights, nothing ignored, no smoothing.
 *  In C99, `&(mdl_cross_entropy_opts){.ignore = 1, .ignore_index = -100}` says it in one
 *  expression. */
typedef struct mdl_cross_entropy_opts {
    mdl_reduction reduction; /**< MDL_MEAN (0), MDL_SUM or MDL_NONE */
    mdl_tensor *weight;      /**< [C], a constant weight per class, or NULL: all 1 */
    int ignore;              /**< 1: targets equal to ignore_index are skipped (loss 0, no
                                  gradient, not counted by the mean) */
    int ignore_index;        /**< the target value to skip; PyTorch's default is -100 */
    double label_smoothing;  /**< eps in [0, 1]: the target is 1 - eps on its class plus eps / C
                                  on every class; cross-entropy only (nll must have 0) */
} mdl_cross_entropy_opts;

/** @brief Cross-entropy of logits against class indices, as F.cross_entropy: per sample
 *  -sum_c q_c log softmax(x)_c, with q the target class's one-hot (times its weight), smoothed
 *  by label_smoothing. The mean divides by the number of targets not ignored, or by the sum of
 *  their classes' weights when there are weights (PyTorch's rule, also with smoothing). One
 *  fused primitive: the backward is (softmax - q) / N.
 *  @param ar     the arena
 *  @param input  logits [N,C], or [N,C,d1,...] (the class axis is 1), or [C] for one sample
 *  @param target class indices (whole numbers 0..C-1, or ignore_index) [N], [N,d1,...], or a
 *                scalar for [C]. A value that is not a class is an error naming its row and
 *                its value
 *  @param opts   reduction, weight, ignore_index, label smoothing; NULL: PyTorch's defaults
 *  @return from `ar`: one value, or target's shape with MDL_NONE */
MDLDEF mdl_tensor *mdl_cross_entropy_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                          const mdl_cross_entropy_opts *opts);
/** @brief Negative log-likelihood, as F.nll_loss: per sample -weight[y] log_probs[y], for
 *  log-probabilities (mdl_log_softmax's output, say); mdl_cross_entropy_loss is mdl_nll_loss
 *  of mdl_log_softmax along axis 1. Shapes, targets, weights, ignore_index and the mean as for
 *  mdl_cross_entropy_loss; opts->label_smoothing must be 0 (F.nll_loss has none).
 *  @param ar        the arena
 *  @param log_probs [N,C], [N,C,d1,...] or [C]
 *  @param target    class indices, as for mdl_cross_entropy_loss
 *  @param opts      reduction, weight, ignore_index; NULL: PyTorch's defaults
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_nll_loss(mdl_arena *ar, mdl_tensor *log_probs, mdl_tensor *target,
                                const mdl_cross_entropy_opts *opts);
/** @brief Kullback-Leibler divergence, as F.kl_div: input holds log-probabilities log q, and
 *  the loss per element is t (log t - input), 0 where t = 0 (NaN where t < 0, as in PyTorch),
 *  or with log_target, e^t (t - input) for a target given as log-probabilities. The target's
 *  gradient log t + 1 - input is -inf at t = 0 (PyTorch's autograd gives NaN). MDL_MEAN is the
 *  mean over all elements, as PyTorch's 'mean' (not the divergence per sample: that is
 *  MDL_BATCHMEAN).
 *  @param ar         the arena
 *  @param input      log-probabilities, any shape
 *  @param target     probabilities (or log-probabilities with log_target), the same shape
 *  @param reduction  MDL_MEAN, MDL_SUM, MDL_NONE or MDL_BATCHMEAN
 *  @param log_target 1: target holds log-probabilities
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_kl_div_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                   mdl_reduction reduction, int log_target);

/** @} */

/** @defgroup optim Optimizers, learning-rate schedules, gradient clipping
 *  @brief Update parameters from their gradients, with PyTorch's formulas and defaults.
 *  @{ */

/** Which update rule an optimizer applies (the formulas are in >>optim, as PyTorch's). */
typedef enum mdl_optim_kind {
    MDL_SGD = 1, /**< torch.optim.SGD: momentum, dampening, Nesterov, weight decay */
    MDL_ADAGRAD, /**< torch.optim.Adagrad: lr_decay, initial_accumulator_value */
    MDL_RMSPROP, /**< torch.optim.RMSprop: alpha, momentum, centered */
    MDL_ADAM,    /**< torch.optim.Adam: betas, amsgrad; weight decay added to the gradient */
    MDL_ADAMW    /**< torch.optim.AdamW: Adam with decoupled weight decay */
} mdl_optim_kind;

/** An optimizer's settings: every hyperparameter of the five, under PyTorch's names. Start from
 *  mdl_optim_defaults(kind), which fills in PyTorch's defaults, and change what you need; a
 *  setting the kind does not use is ignored. Each parameter group has its own copy, which may
 *  be changed between steps (as `optimizer.param_groups[g]["lr"]` in PyTorch). */
typedef struct mdl_optim_opts {
    mdl_optim_kind kind;
    double lr;           /**< learning rate (SGD 1e-3, AdaGrad 1e-2, RMSProp 1e-2, Adam(W) 1e-3) */
    double weight_decay; /**< L2 penalty added to the gradient; AdamW: decoupled (0; AdamW 1e-2) */
    int maximize;        /**< 1: climb the objective instead of descending it (0) */
    double momentum;     /**< SGD and RMSProp (0) */
    double dampening;    /**< SGD: the new gradient enters the momentum times 1 - dampening (0) */
    int nesterov;        /**< SGD: Nesterov momentum; needs momentum > 0 and dampening 0 (0) */
    double lr_decay;     /**< AdaGrad: lr / (1 + (t - 1) lr_decay) at step t (0) */
    double initial_accumulator_value; /**< AdaGrad: start of the sum of squares (0) */
    double alpha;        /**< RMSProp: decay of the mean square (0.99) */
    int centered;        /**< RMSProp: divide by the variance's root, not the mean square's (0) */
    double beta1;        /**< Adam(W): decay of the first moment, betas[0] (0.9) */
    double beta2;        /**< Adam(W): decay of the second moment, betas[1] (0.999) */
    int amsgrad;         /**< Adam(W): divide by the largest second moment so far (0) */
    double eps;          /**< added to the denominator (AdaGrad 1e-10, RMSProp and Adam 1e-8) */
} mdl_optim_opts;

/** An optimizer: parameter groups with their settings, and its state (an mdl_params set). */
typedef struct mdl_optim mdl_optim;

/** @brief PyTorch's defaults for `kind` (lr included: torch 2's 1e-3 for SGD, which torch 1.13
 *  leaves to the caller). */
MDLDEF mdl_optim_opts mdl_optim_defaults(mdl_optim_kind kind);

/** @brief Make an optimizer over every tensor of `ps` that requires grad (its group 0).
 *  @code
 *  mdl_params *ps = mdl_params_new();
 *  int shape[1] = {3};
 *  mdl_tensor *w = mdl_params_add(ps, "w", 1, shape);   // zeros
 *  mdl_optim_opts o = mdl_optim_defaults(MDL_ADAM);     // PyTorch's defaults, then changes
 *  o.lr = 0.1;
 *  mdl_optim *opt = mdl_optim_new(ps, &o);
 *  for (int step = 0; step < 100; step++) {
 *      mdl_tensor *target = mdl_full(ar, 1, shape, 2);
 *      mdl_tensor *loss = mdl_mse_loss(ar, w, target, MDL_MEAN); // pulls w towards 2
 *      mdl_backward(loss);
 *      mdl_optim_step(opt);                              // w moves against its gradient
 *      mdl_optim_zero_grad(opt);                         // gradients accumulate until zeroed
 *      mdl_arena_reset(ar);
 *  }
 *  if (fabs(w->data[0] - 2) > 0.05) return 1;
 *  mdl_optim_free(opt);
 *  mdl_params_free(ps);
 *  @endcode
 *  @param ps   the parameters; NULL for an optimizer without groups yet (mdl_optim_add_group)
 *  @param opts the settings (copied); NULL for mdl_optim_defaults(MDL_SGD)
 *  @return the optimizer, freed by mdl_optim_free; NULL after a contract error (a setting out
 *          of range, e.g. a negative lr or Nesterov without momentum) or when memory ran out */
MDLDEF mdl_optim *mdl_optim_new(mdl_params *ps, const mdl_optim_opts *opts);

/** @brief SGD over `ps` with this lr and momentum, the rest PyTorch's defaults. */
MDLDEF mdl_optim *mdl_sgd_new(mdl_params *ps, double lr, double momentum);

/** @brief Adam over `ps` with this lr, the rest PyTorch's defaults. */
MDLDEF mdl_optim *mdl_adam_new(mdl_params *ps, double lr);

/** @brief Add a parameter group with settings of its own, as PyTorch's parameter groups: no
 *  weight decay for biases, a smaller lr for a pretrained part. A tensor may be in one group
 *  only, and must be persistent (from an mdl_params set).
 *  @param opt     the optimizer
 *  @param n       number of tensors
 *  @param tensors the group's tensors
 *  @param opts    its settings, of the optimizer's kind; NULL for those of mdl_optim_new
 *  @return the group's index, or -1 after a contract error */
MDLDEF int mdl_optim_add_group(mdl_optim *opt, int n, mdl_tensor *const *tensors,
                               const mdl_optim_opts *opts);

/** @brief Update every parameter that has a gradient, in place, by the rule of its group. Records
 *  nothing on the autograd tape. Tensors with requires_grad 0 are skipped. */
MDLDEF void mdl_optim_step(mdl_optim *opt);

/** @brief Set the gradient of every tensor of the optimizer to zero. */
MDLDEF void mdl_optim_zero_grad(mdl_optim *opt);

/** @brief Number of parameter groups. */
MDLDEF int mdl_optim_group_count(const mdl_optim *opt);

/** @brief The live settings of group `g`: change `lr` (or any other field) between steps.
 *  The kind cannot change. @return owned by the optimizer; NULL if g is out of range */
MDLDEF mdl_optim_opts *mdl_optim_group(mdl_optim *opt, int g);

/** @brief Set the learning rate of every group. */
MDLDEF void mdl_optim_set_lr(mdl_optim *opt, double lr);

/** @brief Steps taken so far (calls of mdl_optim_step). */
MDLDEF long mdl_optim_steps(const mdl_optim *opt);

/** @brief The optimizer's state as named persistent tensors, PyTorch's state_dict()["state"]
 *  flattened: `state.I.KEY` for the I-th parameter (counted over the groups in order) and
 *  PyTorch's keys: `momentum_buffer` (SGD, RMSProp), `sum` (AdaGrad), `square_avg` and
 *  `grad_avg` (RMSProp), `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (Adam), and `step` (a
 *  scalar; not SGD). A tensor appears at the first step that needs it, as in PyTorch. A
 *  checkpoint saves this set; loading values into it (same names) resumes the optimizer.
 *  @return owned by the optimizer */
MDLDEF mdl_params *mdl_optim_state(mdl_optim *opt);

/** @brief Free the optimizer and its state (not the parameters). NULL is allowed. */
MDLDEF void mdl_optim_free(mdl_optim *opt);

/** @brief Scale the gradients of `ps` so that their global norm is at most max_norm, as
 *  torch.nn.utils.clip_grad_norm_: norm = (sum over every gradient element of |g|^p)^(1/p),
 *  every gradient times min(1, max_norm / (norm + 1e-6)). A remedy for exploding gradients
 *  (recurrent networks): the direction is kept, only the step is shortened.
 *  @param ps        the parameters (tensors without a gradient are skipped)
 *  @param max_norm  the largest norm allowed
 *  @param norm_type p > 0: 2 for the Euclidean norm, 1 for the sum of |g|, INFINITY for the
 *                   largest |g|
 *  @return the norm before clipping (log it: a spike is an exploding gradient) */
MDLDEF double mdl_clip_grad_norm(mdl_params *ps, double max_norm, double norm_type);

/** @brief Clamp every gradient element of `ps` to [-clip, clip], as
 *  torch.nn.utils.clip_grad_value_. */
MDLDEF void mdl_clip_grad_value(mdl_params *ps, double clip);

/** @brief The global Euclidean norm of the gradients of `ps`, changing nothing. */
MDLDEF double mdl_grad_norm(const mdl_params *ps);

/** @brief An L2 penalty to add to the loss: lambda * sum of w^2 over the trainable tensors of
 *  `ps` whose name ends in "weight" (biases and normalisation shifts are usually not
 *  penalised; pass all = 1 to include every trainable tensor). Its gradient 2 lambda w is what
 *  SGD's weight_decay = 2 lambda adds without building the sum.
 *  @return a scalar from `ar`, differentiable */
MDLDEF mdl_tensor *mdl_l2_penalty(mdl_arena *ar, mdl_params *ps, double lambda, int all);

/** @brief An L1 penalty: lambda * sum of |w| over the same tensors as mdl_l2_penalty. It pushes
 *  small weights to exactly zero (a sparse model), where L2 only shrinks them.
 *  @return a scalar from `ar`, differentiable */
MDLDEF mdl_tensor *mdl_l1_penalty(mdl_arena *ar, mdl_params *ps, double lambda, int all);

/** How a learning-rate schedule changes the lr with the step count t (t = 0 before the first
 *  mdl_scheduler_step). Each follows the torch.optim.lr_scheduler class of the same name. */
typedef enum mdl_schedule_kind {
    MDL_LR_CONSTANT = 1, /**< lr (after the warm-up, if any) */
    MDL_LR_STEP,         /**< StepLR: lr * gamma^floor(t / step_size) */
    MDL_LR_MULTISTEP,    /**< MultiStepLR: lr * gamma^(number of milestones <= t) */
    MDL_LR_EXPONENTIAL,  /**< ExponentialLR: lr * gamma^t */
    MDL_LR_COSINE,       /**< CosineAnnealingLR: eta_min + (lr - eta_min)(1 + cos(pi t / t_max))/2 */
    MDL_LR_ONE_CYCLE,    /**< OneCycleLR: up from max_lr / div_factor to max_lr, then down */
    MDL_LR_PLATEAU       /**< ReduceLROnPlateau: lr * factor when a metric stops improving */
} mdl_schedule_kind;

/** A schedule's settings under PyTorch's names; mdl_schedule_defaults(kind) fills in PyTorch's
 *  defaults. Any kind may start with a linear warm-up (LinearLR chained before it by
 *  SequentialLR): for t < warmup_steps the lr is lr * (warmup_start_factor + (1 -
 *  warmup_start_factor) t / warmup_steps), and the schedule proper then runs with t counted
 *  from the end of the warm-up. */
typedef struct mdl_schedule_opts {
    mdl_schedule_kind kind;
    long step_size;          /**< STEP: steps between decays */
    double gamma;            /**< STEP, MULTISTEP (0.1), EXPONENTIAL: the factor */
    long milestones[16];     /**< MULTISTEP: increasing steps at which lr *= gamma */
    int num_milestones;      /**< MULTISTEP: how many of milestones[] are used */
    long t_max;              /**< COSINE: steps of one half cosine */
    double eta_min;          /**< COSINE: the lowest lr (0) */
    double max_lr;           /**< ONE_CYCLE: the peak (the group's lr if 0) */
    long total_steps;        /**< ONE_CYCLE: length of the cycle */
    double pct_start;        /**< ONE_CYCLE: fraction of the cycle spent rising (0.3) */
    double div_factor;       /**< ONE_CYCLE: start at max_lr / div_factor (25) */
    double final_div_factor; /**< ONE_CYCLE: end at start / final_div_factor (1e4) */
    int cycle_momentum;      /**< ONE_CYCLE: move momentum (SGD) or beta1 (Adam) against the lr,
                                  between max_momentum and base_momentum (1) */
    double base_momentum;    /**< ONE_CYCLE (0.85) */
    double max_momentum;     /**< ONE_CYCLE (0.95) */
    int mode_max;            /**< PLATEAU: 1 if a larger metric is better (accuracy), 0 (loss) */
    double factor;           /**< PLATEAU: lr *= factor on a plateau (0.1) */
    int patience;            /**< PLATEAU: steps without improvement tolerated (10) */
    double threshold;        /**< PLATEAU: relative improvement that counts (1e-4) */
    int cooldown;            /**< PLATEAU: steps to wait after a reduction (0) */
    double min_lr;           /**< PLATEAU: no lower than this (0) */
    long warmup_steps;       /**< steps of linear warm-up before the schedule (0: none) */
    double warmup_start_factor; /**< the warm-up starts at lr * this (1/3, LinearLR's) */
} mdl_schedule_opts;

/** A learning-rate schedule attached to an optimizer. */
typedef struct mdl_scheduler mdl_scheduler;

/** @brief PyTorch's defaults for `kind`. Required settings (step_size, t_max, total_steps,
 *  milestones) are left 0 for you to set. */
MDLDEF mdl_schedule_opts mdl_schedule_defaults(mdl_schedule_kind kind);

/** @brief The lr a closed-form schedule gives at step t for a base lr, without an optimizer
 *  (to plot a schedule). For ONE_CYCLE, base_lr is max_lr. PLATEAU depends on the metric and has
 *  no closed form: it returns base_lr.
 *  @return the lr, or NAN after a contract error */
MDLDEF double mdl_schedule_lr(const mdl_schedule_opts *opts, double base_lr, long t);

/** @brief Attach a schedule to an optimizer, as constructing a torch.optim.lr_scheduler does:
 *  each group's current lr becomes its base lr, and the lr for t = 0 is set at once.
 *  @code
 *  mdl_params *ps = mdl_params_new();
 *  int shape[1] = {3};
 *  mdl_params_add(ps, "w", 1, shape);
 *  mdl_optim *opt = mdl_sgd_new(ps, 0.1, 0.9);
 *  mdl_schedule_opts s = mdl_schedule_defaults(MDL_LR_COSINE);
 *  s.t_max = 100;                       // epochs of the cosine, down to eta_min = 0
 *  s.warmup_steps = 5;                  // after 5 epochs of linear warm-up from lr / 3
 *  mdl_scheduler *sch = mdl_scheduler_new(opt, &s);
 *  if (fabs(mdl_scheduler_lr(sch) - 0.1 / 3) > 1e-12) return 1;
 *  for (int epoch = 0; epoch < 55; epoch++) {
 *      // ... train one epoch ...
 *      mdl_scheduler_step(sch);
 *  }
 *  if (fabs(mdl_scheduler_lr(sch) - 0.05) > 1e-12) return 1;   // halfway down the cosine
 *  mdl_scheduler_free(sch);
 *  mdl_optim_free(opt);
 *  mdl_params_free(ps);
 *  @endcode
 *  @return freed by mdl_scheduler_free (the optimizer must outlive it); NULL after a contract
 *          error */
MDLDEF mdl_scheduler *mdl_scheduler_new(mdl_optim *opt, const mdl_schedule_opts *opts);

/** @brief Advance the schedule by one step (call it after mdl_optim_step, per epoch or per
 *  batch as the schedule was planned) and set each group's lr for the new t. For PLATEAU use
 *  mdl_scheduler_step_metric. */
MDLDEF void mdl_scheduler_step(mdl_scheduler *sch);

/** @brief ReduceLROnPlateau's step: give the metric it watches (validation loss, or accuracy
 *  with mode_max). Other kinds ignore the metric and step as mdl_scheduler_step. */
MDLDEF void mdl_scheduler_step_metric(mdl_scheduler *sch, double metric);

/** @brief The current step t (0 before the first mdl_scheduler_step); a checkpoint saves it. */
MDLDEF long mdl_scheduler_t(const mdl_scheduler *sch);

/** @brief Move the schedule to step t and set the lrs for it, as resuming from a checkpoint
 *  needs (not for PLATEAU, whose state is more than t). */
MDLDEF void mdl_scheduler_set_t(mdl_scheduler *sch, long t);

/** @brief The lr of group 0 now (what the schedule last set). */
MDLDEF double mdl_scheduler_lr(const mdl_scheduler *sch);

/** @brief Free the scheduler (not the optimizer). NULL is allowed. */
MDLDEF void mdl_scheduler_free(mdl_scheduler *sch);

/** @} */

/** @defgroup data Data sets, splits and mini-batches
 *  @brief Features and targets as tensors: shuffle, split, batch, standardise, one-hot, augment.
 *
 *  What torch.utils.data (Dataset, random_split, DataLoader), sklearn's train_test_split
 *  (stratify=) and StandardScaler, torch.nn.functional.one_hot and torchvision's
 *  RandomHorizontalFlip and RandomCrop give, at the scale of one header:
 *  - an ::mdl_dataset holds a copy of features x [N, ...] and targets y [N] or [N, ...]
 *    (or none), with the id of each row, and is freed by one call, mdl_dataset_free;
 *  - mdl_dataset_split cuts it into train / validation / test parts by fractions or counts,
 *    stratified by class if asked;
 *  - ::mdl_batches walks one part in mini-batches: each mdl_batches_next gives the next batch
 *    as views into the data set (no copy), made in the arena, so the mdl_arena_reset that ends
 *    the training step frees them with everything else; with shuffling, the data set's rows
 *    are reshuffled in place at the start of each epoch;
 *  - an ::mdl_scaler standardises features with the training part's mean and standard
 *    deviation, kept in a parameter set beside the model's parameters;
 *  - mdl_one_hot, and mdl_random_hflip, mdl_random_crop and mdl_gaussian_noise to augment a
 *    batch of images; nothing here is recorded on the autograd tape.
 *
 *  A whole program: split, standardise, train a linear classifier in shuffled mini-batches,
 *  evaluate in order.
 *  @code
 *  #define MINIDL_IMPLEMENTATION
 *  #include "minidl.h"
 *
 *  int main(void) {
 *      mdl_arena *ar = mdl_arena_new(0);
 *      mdl_params *ps = mdl_params_new();     // the model's parameters, and the scaler's
 *      mdl_rng rng;
 *      mdl_dataset *all, *parts[2];           // parts[0] training, parts[1] validation
 *      mdl_batches it;
 *      mdl_tensor *xb, *yb;
 *      int xs[2] = {200, 2}, ys[1] = {200}, i, epoch, correct = 0;
 *      double sizes[2] = {0.8, 0.2};
 *      mdl_rng_seed(&rng, 42);
 *
 *      // 200 points around (50, 50), class 1 above the line x0 + x1 = 100
 *      mdl_tensor *x = mdl_randn(ar, &rng, 2, xs, 50, 10), *y = mdl_zeros(ar, 1, ys);
 *      for (i = 0; i < 200; i++) y->data[i] = x->data[2 * i] + x->data[2 * i + 1] > 100;
 *      all = mdl_dataset_new(x, y);                    // copies x and y
 *      mdl_arena_reset(ar);                            // so x and y may go
 *      mdl_dataset_split(all, 2, sizes, 1, &rng, parts); // 160 and 40 rows, same class mix
 *      mdl_dataset_free(all);
 *
 *      // standardise with the training part's statistics, the same for validation
 *      mdl_scaler sc = mdl_scaler_fit(ps, "scaler", parts[0]->x);
 *      mdl_scaler_apply(&sc, parts[0]->x);
 *      mdl_scaler_apply(&sc, parts[1]->x);
 *
 *      mdl_layer fc = mdl_linear_layer(ps, "fc", 2, 2, 1, &rng);
 *      mdl_batches_init(&it, parts[0], 16, 1, 0, &rng); // shuffled, 10 batches an epoch
 *      for (epoch = 0; epoch < 20; epoch++) {
 *          while (mdl_batches_next(&it, ar, &xb, &yb)) {  // xb [16,2], yb [16]
 *              mdl_backward(mdl_cross_entropy_loss(ar, mdl_layer_forward(ar, &fc, xb), yb, NULL));
 *              for (i = 0; i < mdl_params_count(ps); i++) { // SGD; the scaler has no grad
 *                  mdl_tensor *p = mdl_params_get(ps, i);
 *                  size_t j;
 *                  for (j = 0; p->grad && j < p->numel; j++) p->data[j] -= 0.5f * p->grad[j];
 *              }
 *              mdl_params_zero_grad(ps);
 *              mdl_arena_reset(ar);                    // frees xb, yb and the step's tensors
 *          }
 *      }
 *
 *      mdl_batches_init(&it, parts[1], 32, 0, 0, NULL);  // in order: batches of 32 and 8
 *      while (mdl_batches_next(&it, ar, &xb, &yb)) {
 *          mdl_tensor *pred = mdl_argmax(ar, mdl_layer_forward(ar, &fc, xb), 1, 0);
 *          for (i = 0; i < xb->shape[0]; i++) correct += pred->data[i] == yb->data[i];
 *          mdl_arena_reset(ar);
 *      }
 *      printf("validation accuracy %d/40\n", correct);
 *      mdl_dataset_free(parts[0]);
 *      mdl_dataset_free(parts[1]);
 *      mdl_params_free(ps);
 *      mdl_arena_free(ar);
 *      return correct >= 36 ? 0 : 1;
 *  }
 *  @endcode
 *  @{ */

/* -- data sets -- */
/** A data set: N rows of features, and of targets if it has them. Make one with
 *  mdl_dataset_new (or mdl_dataset_subset, mdl_dataset_split), free it with mdl_dataset_free.
 *  Read the fields freely; write only the values of x and y (mdl_scaler_apply standardises x
 *  in place, say), never the pointers or n. */
typedef struct mdl_dataset {
    mdl_tensor *x;        /**< features [N, ...], persistent, owned by the data set */
    mdl_tensor *y;        /**< targets [N] or [N, ...], persistent, owned; NULL if none */
    int n;                /**< N, the number of rows */
    int *ids;             /**< ids[i]: the row of the tensors given to mdl_dataset_new that row
                               i is a copy of; subsets and splits keep them, shuffling moves
                               them with their rows */
    mdl_params *storage;  /**< the set that owns x ("x") and y ("y"); the data set's own */
} mdl_dataset;

/** @brief A data set holding copies of x and y (as torch.utils.data.TensorDataset): row i is
 *  x[i] with its target y[i]. The copies are persistent, so x and y may come from an arena
 *  that is reset right after, or from a loader.
 *  @param x features [N, ...], rank 1 or more; N may be 0
 *  @param y targets [N] or [N, ...] (class indices for classification), or NULL
 *  @return the data set, freed by mdl_dataset_free; NULL after a contract error (x NULL, y
 *          with another N) or when memory runs out (MDL_ERR_NOMEM, see mdl_last_error) */
MDLDEF mdl_dataset *mdl_dataset_new(const mdl_tensor *x, const mdl_tensor *y);

/** @brief Free a data set: its tensors, ids and storage. NULL is allowed. */
MDLDEF void mdl_dataset_free(mdl_dataset *ds);

/** @brief A new data set of some rows of ds, copied in the order given (torch.utils.data.Subset,
 *  but a copy). Rows may repeat. The ids come along: the subset's ids[i] is ds->ids[rows[i]].
 *  @param ds   the data set
 *  @param n    how many rows, 0 or more
 *  @param rows their numbers in ds, each in 0..ds->n-1
 *  @return freed by mdl_dataset_free; NULL after an error */
MDLDEF mdl_dataset *mdl_dataset_subset(const mdl_dataset *ds, int n, const int *rows);

/** @brief Shuffle the rows of a data set in place, features, targets and ids together
 *  (Fisher-Yates with the caller's generator: the same seed gives the same order).
 *  @return MDL_OK; MDL_ERR_NOMEM if the N ints and the row it needs for a moment cannot be
 *          had (see mdl_last_error; ds is then unchanged); or a contract error's code */
MDLDEF mdl_error mdl_dataset_shuffle(mdl_dataset *ds, mdl_rng *rng);

/** @brief Split a data set at random into parts, as torch.utils.data.random_split, or by class
 *  as sklearn's train_test_split(stratify=y).
 *
 *  Sizes: whole numbers that add up to N are row counts; otherwise they are fractions that
 *  must add up to 1 (within 1e-9), and part p gets floor(N sizes[p]) rows, and then the
 *  rows left over go one each to parts 0, 1, 2, ... in turn: PyTorch's rule. (One difference:
 *  a product a relative 1e-12 or less below a whole number counts as that number. 0.29 * 100
 *  is 28.999999999999996 in binary, so PyTorch splits 100 rows {0.71, 0.29} into 72 and 28;
 *  minidl into 71 and 29.) 10 rows split {0.7, 0.15, 0.15}: floors 7, 1, 1, and the one
 *  left over goes to part 0, so 8, 1, 1.
 *
 *  Without stratify, the rows are shuffled and cut in that order into parts of those sizes.
 *  With stratify, y holds one class index per row (whole numbers 0 or more, as
 *  mdl_cross_entropy_loss takes them), the parts have the same sizes T_p as without, and each
 *  class is split in the parts' proportions: class c, with n_c rows, puts floor(n_c T_p / N)
 *  or that plus one rows into part p, never further from n_c T_p / N, and which shares are
 *  rounded up is chosen so that every part gets exactly T_p rows (such a rounding always
 *  exists; a small max-flow finds it, and the choice depends on the class counts only, where
 *  sklearn breaks ties at random). Each class's rows are shuffled before they are dealt
 *  out, and each part is shuffled at the end, so the classes are mixed within it.
 *  @param ds       the data set (not changed)
 *  @param n_parts  how many parts, at least 1 (2: train and test; 3: train, validation, test)
 *  @param sizes    n_parts fractions or row counts, 0 or more, as above
 *  @param stratify 1: keep each class's share in every part (y must be class indices)
 *  @param rng      the generator: the same seed gives the same split
 *  @param parts    receives n_parts new data sets, each freed by mdl_dataset_free; all NULL
 *                  after an error
 *  @return n_parts, or 0 after an error */
MDLDEF int mdl_dataset_split(const mdl_dataset *ds, int n_parts, const double *sizes,
                             int stratify, mdl_rng *rng, mdl_dataset **parts);

/* -- mini-batches -- */
/** Mini-batches over a data set, as torch.utils.data.DataLoader(ds, batch_size, shuffle,
 *  drop_last): set up once with mdl_batches_init, then each epoch is a loop of
 *  mdl_batches_next until it returns 0; the next call after that starts a new epoch. Nothing
 *  to free. The fields may be read (epoch, batch, per_epoch for a progress line). */
typedef struct mdl_batches {
    mdl_dataset *ds;  /**< the data set (not owned) */
    mdl_rng *rng;     /**< the generator that shuffles (not owned); NULL without shuffling */
    int batch_size;   /**< rows per batch; the last one may have fewer unless drop_last */
    int shuffle;      /**< 1: the rows are reshuffled at the start of every epoch */
    int drop_last;    /**< 1: an epoch skips its last batch if that has fewer rows */
    int per_epoch;    /**< batches in one epoch: N / batch_size rounded up (down with
                           drop_last) */
    int epoch;        /**< epochs begun: 0 before the first batch, 1 during the first epoch */
    int batch;        /**< batches given out in this epoch: 1 while the first is in use */
    int row;          /**< the first row of the next batch; -1 before an epoch begins */
} mdl_batches;

/** @brief Set up mini-batches over a data set.
 *  @param it         the iterator to set up
 *  @param ds         the data set; with shuffling, its rows are reordered in place at the
 *                    start of each epoch (ids and targets move with them)
 *  @param batch_size rows per batch, at least 1
 *  @param shuffle    1: a new random order every epoch (training); 0: rows in order
 *                    (evaluation), and ds is never changed
 *  @param drop_last  1: skip an epoch's last batch when it has fewer than batch_size rows
 *  @param rng        the generator that shuffles; may be NULL without shuffling
 *  @return 1, or 0 after a contract error (it is then empty: mdl_batches_next returns 0) */
MDLDEF int mdl_batches_init(mdl_batches *it, mdl_dataset *ds, int batch_size, int shuffle,
                            int drop_last, mdl_rng *rng);

/** @brief The next mini-batch of an epoch.
 *  The first call of an epoch shuffles the data set when shuffling is on. A batch is rows
 *  row .. row+B-1 of the data set: xb [B, ...] and yb [B] or [B, ...] are views of those
 *  rows, headers from `ar` over the data set's memory (no copy), so mdl_arena_reset(ar)
 *  frees them and an op given one afterwards reports MDL_ERR_STALE. Treat them as read-only:
 *  writing into a view writes into the data set. Not recorded on the tape; no gradient.
 *  Because shuffling reorders the data set itself, give a data set to one shuffling
 *  iterator at a time (any number may read it in order between its epochs).
 *  @param it the iterator
 *  @param ar the arena for the views' headers
 *  @param xb receives the features [B, ...]
 *  @param yb receives the targets [B] or [B, ...], or NULL if the data set has none; may be
 *            NULL if you do not want them
 *  @return 1 with a batch; 0 at the end of the epoch (xb, yb set to NULL; the next call
 *          begins the next epoch), or after an error */
MDLDEF int mdl_batches_next(mdl_batches *it, mdl_arena *ar, mdl_tensor **xb, mdl_tensor **yb);

/* -- standardisation -- */
/** A standard scaler (sklearn's StandardScaler): the mean and the standard deviation of each
 *  feature, fitted on training data and applied unchanged to any data after. Both tensors
 *  live in the parameter set given to mdl_scaler_fit, as buffers named "<name>.mean" and
 *  "<name>.scale", so they are saved and freed with the model; after loading a checkpoint,
 *  mdl_params_find(ps, "scaler.mean") and "scaler.scale" give them back. */
typedef struct mdl_scaler {
    mdl_tensor *mean;  /**< [F]: the mean of each feature (or channel) */
    mdl_tensor *scale; /**< [F]: its standard deviation (ddof 0), 1 for a constant feature */
} mdl_scaler;

/** @brief Fit a standard scaler: per feature (column) of x [N, F], or per channel of x
 *  [N, C, ...] (over the rows and every position, as BatchNorm takes its statistics), or over
 *  all of x [N]. mean = sum / m, scale = sqrt(sum (x - mean)^2 / m) (the population standard
 *  deviation, as numpy's std and sklearn's scale_), m the number of values of the feature,
 *  computed in double. A feature whose variance is no more than rounding noise (sklearn's
 *  test: var <= m eps var + (m mean eps)^2, eps = 2^-52) is constant: its scale is 1, so
 *  it is centred and not divided by 0.
 *  Fit on the training rows only: see the >>data section for why.
 *  @param ps   the set that keeps mean and scale (the model's, so they go where it goes)
 *  @param name 1 to 63 characters, the prefix of their names, e.g. "scaler"
 *  @param x    the training data, N >= 1 rows
 *  @return the scaler, its tensors owned by ps; both NULL after an error */
MDLDEF mdl_scaler mdl_scaler_fit(mdl_params *ps, const char *name, const mdl_tensor *x);

/** @brief Standardise: (x - mean) / scale for each feature (channel). Not recorded on the
 *  tape.
 *  @param ar the arena for the result
 *  @param s  a fitted scaler
 *  @param x  [M, F, ...] with the F features (channels) the scaler was fitted on, on axis 1,
 *            any number of rows M; or x [M] for a scaler fitted on one feature
 *  @return a new tensor from `ar`, x's shape; x is not changed */
MDLDEF mdl_tensor *mdl_scaler_transform(mdl_arena *ar, const mdl_scaler *s, mdl_tensor *x);

/** @brief Undo the standardisation: x * scale + mean, e.g. to read a regression model's
 *  predictions in the units of its targets. Not recorded on the tape.
 *  @param ar the arena for the result
 *  @param s  a fitted scaler
 *  @param x  standardised values, laid out as for mdl_scaler_transform ([M, 1] predictions
 *            for targets fitted as y [N], say)
 *  @return a new tensor from `ar`, x's shape */
MDLDEF mdl_tensor *mdl_scaler_inverse_transform(mdl_arena *ar, const mdl_scaler *s,
                                                mdl_tensor *x);

/** @brief Standardise x in place, as mdl_scaler_transform computes: for a data set's features
 *  (mdl_scaler_apply(&sc, ds->x)), standardised once instead of batch by batch.
 *  @param s a fitted scaler
 *  @param x the values to standardise, laid out as for mdl_scaler_transform */
MDLDEF void mdl_scaler_apply(const mdl_scaler *s, mdl_tensor *x);

/* -- one-hot -- */
/** @brief One-hot encoding, as torch.nn.functional.one_hot: out[..., k] = 1 where
 *  index[...] == k, else 0.
 *  @code
 *  mdl_scalar labels[3] = {2, 0, 1};
 *  int s3[1] = {3};
 *  mdl_tensor *oh = mdl_one_hot(ar, mdl_from_array(ar, 1, s3, labels), 4);   // [3,4]
 *  // 0 0 1 0
 *  // 1 0 0 0
 *  // 0 1 0 0
 *  if (oh->shape[1] != 4 || oh->data[2] != 1 || oh->data[4] != 1 || oh->data[9] != 1) return 1;
 *  @endcode
 *  @param ar          the arena for the result
 *  @param index       an index tensor of any shape up to rank 5: whole numbers
 *                     0..num_classes-1 (a value that is not is an error naming its element)
 *  @param num_classes the length of each one-hot vector, or -1: the largest index plus one
 *  @return from `ar`, shape [index's shape..., num_classes], 0 and 1 (not differentiable) */
MDLDEF mdl_tensor *mdl_one_hot(mdl_arena *ar, mdl_tensor *index, int num_classes);

/* -- augmentation of a batch of images (each image drawn for separately; results from the
      arena; the input is not changed; not recorded on the tape) -- */
/** @brief Random horizontal flip, as torchvision's RandomHorizontalFlip(p) on each image:
 *  each sample of x [B, ..., W] ([B,C,H,W], say) is mirrored along its last axis (left and
 *  right swap) with probability p, one uniform draw per sample in order.
 *  @param ar  the arena for the result
 *  @param x   a batch, rank 2 or more
 *  @param p   probability of a flip, 0..1 (torchvision's default is 0.5)
 *  @param rng the generator
 *  @return from `ar`, x's shape */
MDLDEF mdl_tensor *mdl_random_hflip(mdl_arena *ar, mdl_tensor *x, double p, mdl_rng *rng);

/** @brief Random crop with zero padding, as torchvision's RandomCrop(size=(H, W),
 *  padding): each image of x [B,C,H,W] (or [B,H,W]) is padded with `padding` zeros on every
 *  side, and an H x W window is cut from it at an offset (top, left) drawn uniformly from
 *  0..2 padding each (top first), so the image moves by up to `padding` pixels in each
 *  direction and zeros come in at the edges. Every channel of an image moves alike.
 *  @param ar      the arena for the result
 *  @param x       images [B,C,H,W] or [B,H,W]
 *  @param padding 0 or more (0 gives x back unchanged, as a copy); CIFAR-10's usual is 4
 *  @param rng     the generator
 *  @return from `ar`, x's shape */
MDLDEF mdl_tensor *mdl_random_crop(mdl_arena *ar, mdl_tensor *x, int padding, mdl_rng *rng);

/** @brief Additive Gaussian noise: x + N(0, std^2), an independent draw for each element.
 *  No clipping (torchvision.transforms.v2.GaussianNoise clips to [0, 1] by default, which
 *  would be wrong for standardised data).
 *  @param ar  the arena for the result
 *  @param x   any shape
 *  @param std the noise's standard deviation, 0 or more (small: 0.01 to 0.1 of the data's)
 *  @param rng the generator
 *  @return from `ar`, x's shape */
MDLDEF mdl_tensor *mdl_gaussian_noise(mdl_arena *ar, mdl_tensor *x, double std, mdl_rng *rng);

/** @} */

/** @defgroup loaders Loading data: CSV, IDX (MNIST), text
 *  @brief Read files into tensors; a bad file is an error return naming the file and the line
 *  or byte.
 *
 *  Loaded data is persistent: a loader puts its tensors into the mdl_params set you pass, as
 *  buffers (requires_grad 0, no gradient) under the name you give, and mdl_params_free frees
 *  them with everything else in the set. Strings live in an mdl_vocab (class names, the tokens
 *  of a text), freed by mdl_vocab_free; byte buffers (mdl_read_file, mdl_read_text,
 *  mdl_gunzip) are freed by mdl_free.
 *
 *  Every loader reads gzip files too (it looks for the magic bytes 1f 8b, whatever the file is
 *  called), so MNIST's train-images-idx3-ubyte.gz and scikit-learn's digits.csv.gz load as they
 *  are distributed. Each has a twin that reads from memory (`_mem`, with a display name for the
 *  messages), which the file loaders use too.
 *
 *  Errors. A file that cannot be used is not a bug in your program: the loader returns an
 *  error code (MDL_ERR_IO: cannot open or read; MDL_ERR_FORMAT: the content is wrong;
 *  MDL_ERR_SIZE: larger than the limit you set; MDL_ERR_NOMEM), adds nothing to the set (but
 *  for memory running out between a CSV's x and y, when x stays in the set, which frees it),
 *  and mdl_last_error() names the file, the line (text) or byte (binary), and what was wrong:
 *      minidl: error: mdl_load_csv: penguins.csv:17: column 'bill_length_mm' (3): 'abc' is not
 *      a number
 *  Only mistakes in the call itself (a NULL argument, a name already in the set) go to the
 *  error handler, as everywhere in minidl.
 *
 *  Palmer penguins, four measurements and the species, rows with a missing value dropped:
 *  @code
 *  mdl_params *data = mdl_params_new();
 *  mdl_csv_opts opts = {0};
 *  mdl_csv csv;
 *  opts.columns = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g";
 *  opts.target = "species";
 *  opts.classes = 1;       // species names -> class indices 0, 1, 2 in sorted order
 *  opts.drop_missing = 1;  // the two penguins measured as NA
 *  if (mdl_load_csv(data, "penguins", "tutorials/data/penguins.csv", &opts, &csv) != MDL_OK) {
 *      printf("%s\n", mdl_last_error());
 *      return 1;
 *  }
 *  // csv.x [342,4] and csv.y [342] are "penguins.x" and "penguins.y" in the set
 *  if (csv.x->shape[0] != 342 || csv.x->shape[1] != 4 || csv.dropped != 2) return 1;
 *  if (strcmp(mdl_vocab_token(csv.classes, 2), "Gentoo") != 0) return 1;
 *  mdl_vocab_free(csv.classes);
 *  mdl_params_free(data);
 *  @endcode
 *  @{ */

/** A vocabulary: an ordered list of distinct tokens (single bytes, words, or class names),
 *  token i being the one that index i stands for. Made by mdl_vocab_chars, mdl_vocab_words or
 *  mdl_load_csv (class names); freed by mdl_vocab_free. */
typedef struct mdl_vocab mdl_vocab;

/* -- files and gzip -- */

/** @brief Free a buffer that minidl allocated for you (mdl_read_file, mdl_read_text,
 *  mdl_gunzip) with MINIDL_FREE. NULL is allowed. */
MDLDEF void mdl_free(void *p);

/** @brief Read a whole file into memory, as it is (no decompression).
 *  @param path      the file
 *  @param max_bytes the largest size accepted (MDL_ERR_SIZE beyond it); 0 for 1 GiB
 *  @param data      receives the bytes, followed by one zero byte that `size` does not count;
 *                   free it with mdl_free. NULL on failure.
 *  @param size      receives the number of bytes
 *  @return MDL_OK, or MDL_ERR_IO, MDL_ERR_SIZE, MDL_ERR_NOMEM with mdl_last_error() naming the
 *          file */
MDLDEF mdl_error mdl_read_file(const char *path, size_t max_bytes, unsigned char **data,
                               size_t *size);

/** @brief Decompress gzip data (RFC 1952 around RFC 1951's deflate), as `gzip -d` does: every
 *  member of a multi-member file, in turn; the header's flags (FEXTRA, FNAME, FCOMMENT, FHCRC)
 *  understood; each member's CRC-32 and length checked.
 *  @param data      the compressed bytes, starting with 1f 8b
 *  @param size      their number
 *  @param name      the name messages give the data (a file name); NULL for "gzip data"
 *  @param max_bytes the largest decompressed size accepted, so that a small malicious file
 *                   (a "zip bomb") cannot fill memory; 0 for 1 GiB. Raise it to read more.
 *  @param out       receives the decompressed bytes plus one zero byte that `out_size` does not
 *                   count; free it with mdl_free. NULL on failure.
 *  @param out_size  receives the number of decompressed bytes
 *  @return MDL_OK; MDL_ERR_FORMAT for a malformed stream, the message naming the byte offset
 *          in `data` ("digits.csv.gz: byte 4512: distance 3001 reaches back before the start
 *          of the data"); MDL_ERR_SIZE past max_bytes; MDL_ERR_NOMEM */
MDLDEF mdl_error mdl_gunzip(const void *data, size_t size, const char *name, size_t max_bytes,
                            unsigned char **out, size_t *out_size);

/* -- CSV -- */

/** Options of mdl_load_csv; a zeroed struct (or NULL) reads every column as a number, with a
 *  header line, no target, and a missing value as an error. */
typedef struct mdl_csv_opts {
    const char *columns; /**< the feature columns by name, comma-separated, in the order x gets
                              them ("bill_length_mm,body_mass_g"); NULL: every column but the
                              target, in the file's order; "": none (x is NULL) */
    const char *target;  /**< the target column's name; NULL: no target (y is NULL) */
    int classes;         /**< 1: the target is categorical: y holds class indices 0..K-1 in the
                              sorted order of the class names, as scikit-learn's LabelEncoder
                              numbers them (by strcmp, or by value when every name is a
                              number, so "9" < "10"), and mdl_csv.classes holds the names;
                              0: the target is a number */
    int drop_missing;    /**< 1: a row with a missing value in a column used (an empty field,
                              NA, N/A, NaN or nan) is dropped and counted in mdl_csv.dropped;
                              0: it is an error naming the line and the column */
    int no_header;       /**< 1: the first line is data, and the columns are named by their
                              position from 0, "0", "1", ..., as pandas names them (so the label
                              of digits.csv, its 65th column, is "64") */
    char delimiter;      /**< the field separator; 0 for ',' */
    size_t max_bytes;    /**< the largest file (and decompressed size) accepted; 0 for 1 GiB */
} mdl_csv_opts;

/** What mdl_load_csv read. */
typedef struct mdl_csv {
    mdl_tensor *x;        /**< [N, F] the feature columns, in the set as "<name>.x"; NULL when
                               no feature column is chosen */
    mdl_tensor *y;        /**< [N] the target, in the set as "<name>.y"; NULL without a target */
    mdl_vocab *classes;   /**< with opts.classes, the class names: mdl_vocab_token(classes, k)
                               is the name of class k. Yours: free it with mdl_vocab_free. NULL
                               otherwise */
    int rows;             /**< N, the rows kept */
    int dropped;          /**< rows dropped for a missing value (opts.drop_missing) */
} mdl_csv;

/** @brief Load a CSV file as features x [N, F] and a target y [N].
 *
 *  The format is RFC 4180's with the usual freedoms: fields separated by commas (or
 *  opts.delimiter), lines ended by LF or CRLF, blank lines skipped, a UTF-8 byte-order mark
 *  skipped; a field may be quoted ("a,b"), a quote inside it doubled ("say ""hi"""), and a
 *  quoted field may span lines. Every line must have as many fields as the header (or the
 *  first line). Numbers are read by strtod (spaces around them allowed) and must be finite in
 *  mdl_scalar; a field that is not a number is an error whose message names the file, the
 *  line, the column (name and position from 1) and the text:
 *      penguins.csv:17: column 'bill_length_mm' (3): 'abc' is not a number
 *  Columns not chosen are never read, so they may hold anything (text, NA).
 *
 *  @param ps    the set that receives x and y (as buffers: no gradient)
 *  @param name  prefix of their names in the set: "<name>.x" and "<name>.y"; neither may be in
 *               the set yet
 *  @param path  the file (plain or gzip)
 *  @param opts  options; NULL for the defaults
 *  @param out   receives the tensors, the class names and the counts; zeroed on failure
 *  @return MDL_OK, or an error code with mdl_last_error() naming the file and the line; on
 *          failure nothing is added to the set */
MDLDEF mdl_error mdl_load_csv(mdl_params *ps, const char *name, const char *path,
                              const mdl_csv_opts *opts, mdl_csv *out);

/** @brief mdl_load_csv from memory: `size` bytes of CSV text (or gzip data) at `data`, called
 *  `display_name` in messages (NULL: "csv"). The data is not changed, and not kept. */
MDLDEF mdl_error mdl_load_csv_mem(mdl_params *ps, const char *name, const void *data,
                                  size_t size, const char *display_name,
                                  const mdl_csv_opts *opts, mdl_csv *out);

/* -- IDX (MNIST) -- */

/** Options of mdl_load_idx; a zeroed struct (or NULL) gives raw values and the file's shape. */
typedef struct mdl_idx_opts {
    int scale;        /**< 1: images (files of 2 or more dimensions) are divided by 255, so
                           pixels lie in [0, 1] as torchvision's ToTensor makes them; 0: raw
                           0..255. Labels (1 dimension) are never scaled */
    int channel;      /**< 1: images [N, H, W] become [N, 1, H, W], the layout conv layers take */
    size_t max_bytes; /**< the largest file, and decompressed size, accepted; 0 for 1 GiB */
} mdl_idx_opts;

/** @brief Load an IDX file, the format of MNIST and Fashion-MNIST, gzipped or not: images
 *  [N, H, W] (or [N, 1, H, W] with opts.channel) from an idx3 file, labels [N] (whole numbers,
 *  the class indices) from an idx1 file. Unsigned bytes (type 0x08) only, the type of every
 *  MNIST file; other types are a clear error. The header is checked against the data: the
 *  magic number, each size (at most INT_MAX, their product at most 2^36), and the file's
 *  length, which must be exactly the header plus the items.
 *  @code
 *  mdl_params *data = mdl_params_new();
 *  mdl_idx_opts opts = {0};
 *  mdl_tensor *images, *labels;
 *  opts.scale = 1;    // pixels in [0, 1]
 *  opts.channel = 1;  // [N, 1, 28, 28] for a CNN
 *  if (mdl_load_idx(data, "train.images", "tutorials/data/fashion-train-images-idx3-ubyte",
 *                   &opts, &images) != MDL_OK ||
 *      mdl_load_idx(data, "train.labels", "tutorials/data/fashion-train-labels-idx1-ubyte",
 *                   &opts, &labels) != MDL_OK) {
 *      printf("%s\n", mdl_last_error());
 *      return 1;
 *  }
 *  if (images->ndim != 4 || images->shape[0] != 8000 || images->shape[3] != 28) return 1;
 *  if (labels->ndim != 1 || labels->data[0] != 9) return 1;    // an ankle boot
 *  mdl_params_free(data);
 *  @endcode
 *  @param ps    the set that receives the tensor (as a buffer: no gradient)
 *  @param name  its name in the set, not in the set yet
 *  @param path  the file (plain, or gzip as MNIST is distributed)
 *  @param opts  options; NULL for the defaults
 *  @param out   receives the tensor, owned by the set; NULL on failure
 *  @return MDL_OK, or an error code with mdl_last_error() naming the file and the byte; on
 *          failure nothing is added to the set */
MDLDEF mdl_error mdl_load_idx(mdl_params *ps, const char *name, const char *path,
                              const mdl_idx_opts *opts, mdl_tensor **out);

/** @brief mdl_load_idx from memory: `size` bytes (IDX or gzipped IDX) at `data`, called
 *  `display_name` in messages (NULL: "idx"). */
MDLDEF mdl_error mdl_load_idx_mem(mdl_params *ps, const char *name, const void *data,
                                  size_t size, const char *display_name,
                                  const mdl_idx_opts *opts, mdl_tensor **out);

/* -- text and vocabularies -- */

/** @brief Read a whole text file (gzip is decompressed) as one C string.
 *  @param path      the file
 *  @param max_bytes the largest size accepted, of the file and of its decompressed text; 0 for
 *                   1 GiB
 *  @param text      receives the text, ended by a zero byte; free it with mdl_free. NULL on
 *                   failure.
 *  @param len       receives its length in bytes
 *  @return MDL_OK, or an error code with mdl_last_error() naming the file; a zero byte in
 *          the file is MDL_ERR_FORMAT (it is not text) */
MDLDEF mdl_error mdl_read_text(const char *path, size_t max_bytes, char **text, size_t *len);

/** @brief The characters of a text: its distinct bytes in increasing order (a UTF-8 character
 *  outside ASCII is several bytes, each its own token), as a character-level model takes them.
 *  @code
 *  mdl_params *data = mdl_params_new();
 *  mdl_vocab *v = mdl_vocab_chars("hello", 5);             // e h l o
 *  mdl_tensor *ids;
 *  char back[16];
 *  if (mdl_vocab_encode(data, "ids", v, "hole", 4, &ids) != MDL_OK) return 1;
 *  // ids = [1, 3, 2, 0]: h is token 1, o 3, l 2, e 0
 *  mdl_vocab_decode(v, ids, back, sizeof back);            // "hole"
 *  if (mdl_vocab_size(v) != 4 || ids->data[0] != 1 || strcmp(back, "hole") != 0) return 1;
 *  mdl_vocab_free(v);
 *  mdl_params_free(data);
 *  @endcode
 *  @param text the text (any bytes; zero bytes too)
 *  @param len  its length in bytes
 *  @return a new vocabulary, yours (mdl_vocab_free); NULL (MDL_ERR_NOMEM) if memory ran out */
MDLDEF mdl_vocab *mdl_vocab_chars(const char *text, size_t len);

/** @brief The words of a text: lowercased, split at every byte that is not an ASCII letter
 *  ("Don't!" gives "don" and "t"), counted. Token 0 is "<unk>", which stands for every word
 *  not kept; then the words by decreasing count, ties in alphabetical order (torchtext's order).
 *  @param text      the text
 *  @param len       its length in bytes
 *  @param min_count keep only the words seen at least this often (0 or 1: all)
 *  @param max_size  at most this many tokens, "<unk>" included (0: no limit)
 *  @return a new vocabulary, yours (mdl_vocab_free); NULL (MDL_ERR_NOMEM) if memory ran out */
MDLDEF mdl_vocab *mdl_vocab_words(const char *text, size_t len, int min_count, int max_size);

/** @brief Free a vocabulary. NULL is allowed. */
MDLDEF void mdl_vocab_free(mdl_vocab *v);

/** @brief The number of tokens (0 for NULL). */
MDLDEF int mdl_vocab_size(const mdl_vocab *v);

/** @brief Token i: "e" in a character vocabulary, "the" in a word vocabulary, "Gentoo" in
 *  class names. @return a string owned by the vocabulary; NULL (MDL_ERR_ARG) for i out of
 *  range */
MDLDEF const char *mdl_vocab_token(const mdl_vocab *v, int i);

/** @brief The index of a token, matched exactly (a word vocabulary holds lowercase words).
 *  @return 0 .. size-1, or -1 if the vocabulary does not have it */
MDLDEF int mdl_vocab_index(const mdl_vocab *v, const char *token);

/** @brief Encode a text as token indices: one per byte with a character vocabulary, one per
 *  word (split and lowercased as mdl_vocab_words does, unknown words as "<unk>") with a word
 *  vocabulary. The indices are whole numbers stored as mdl_scalar, ready for mdl_embedding or
 *  mdl_cross_entropy.
 *  @param ps   the set that receives the indices, a buffer [count]
 *  @param name its name in the set, not in the set yet
 *  @param v    a character or word vocabulary
 *  @param text the text
 *  @param len  its length in bytes
 *  @param out  receives the tensor, owned by the set; NULL on failure
 *  @return MDL_OK; MDL_ERR_ARG if a byte is not in a character vocabulary (the message names
 *          its offset), MDL_ERR_NOMEM */
MDLDEF mdl_error mdl_vocab_encode(mdl_params *ps, const char *name, const mdl_vocab *v,
                                  const char *text, size_t len, mdl_tensor **out);

/** @brief Decode indices back to text: the tokens one after another with a character
 *  vocabulary, separated by single spaces otherwise. `ids` may have any shape and lifetime;
 *  each value must be a whole number 0 .. size-1.
 *  @param v    the vocabulary
 *  @param ids  the indices
 *  @param buf  receives the text, always ended by a zero byte (cut short if it does not fit)
 *  @param size the size of buf
 *  @return the length of the whole text, as snprintf counts it: a result >= size means the
 *          text was cut; 0 after reporting a bad index */
MDLDEF size_t mdl_vocab_decode(const mdl_vocab *v, const mdl_tensor *ids, char *buf,
                               size_t size);

/** @} */

/** @defgroup metrics Metrics
 *  @brief Accuracy, confusion matrix, precision/recall/F1, regression errors, perplexity.
 *
 *  How good a model is, as numbers people read rather than numbers that train it: each metric
 *  returns a double, computed in double, and records nothing on the tape. The arguments come
 *  in the order of the losses, the model's output first and the target second (sklearn's
 *  order is the other way round). Targets are class indices held as whole-number values, the
 *  index-tensor convention of the ops, and are checked: a value that is not a whole number or
 *  not a class is a contract error naming the function, the tensor's shape, the element and
 *  its value, as is a pair of shapes that do not fit. After a contract error a metric returns
 *  NaN (mdl_confusion_matrix: NULL). A metric of no samples at all is NaN too (0 / 0), without
 *  an error, as a mean of nothing is in PyTorch.
 *
 *  Classification: scores [N,C] (logits or probabilities: the class is the argmax, and a tie
 *  goes to the first class, as torch.argmax) or predicted classes [N], against targets [N]:
 *  @code
 *  int ls[2] = {4, 3}, ts[1] = {4};
 *  mdl_scalar logits[12] = {2, 1, 0,   0, 3, 1,   1, 1, 0,   0, 0, 5};
 *  mdl_scalar labels[4] = {0, 1, 1, 2};
 *  mdl_tensor *x = mdl_from_array(ar, 2, ls, logits), *y = mdl_from_array(ar, 1, ts, labels);
 *  // the argmaxes are 0, 1, 0 (row 2 ties 0 and 1: the first wins) and 2: 3 of 4 right
 *  if (mdl_accuracy(x, y) != 0.75) return 1;
 *  mdl_tensor *cm = mdl_confusion_matrix(ar, x, y, 0);   // [3,3], rows: the true class
 *  mdl_confusion_matrix_fprint(stdout, cm, NULL);
 *  // class 1: 2 samples, 1 found (recall 1/2); class 0: predicted twice, once right (1/2)
 *  if (mdl_recall(cm, 1) != 0.5 || mdl_precision(cm, 0) != 0.5) return 1;
 *  @endcode
 *  @{ */

/** Pass as `cls` to mdl_precision, mdl_recall and mdl_f1_score for the unweighted mean over
 *  the classes (sklearn's average='macro'). */
#define MDL_MACRO_AVG (-1)
/** Pass as `cls` for the mean over the classes weighted by their number of samples (sklearn's
 *  average='weighted'). The micro average of a single-label problem is the accuracy. */
#define MDL_WEIGHTED_AVG (-2)

/** @brief The fraction of samples whose predicted class is the target, as sklearn's
 *  accuracy_score.
 *  @param input  scores [N,C] (logits or probabilities; the argmax of each row is its class,
 *                the first one on a tie, as torch.argmax, and NaN counts as the largest), or
 *                predicted classes [N] (whole numbers >= 0)
 *  @param target classes [N], whole numbers in 0..C-1 (>= 0 for predicted classes)
 *  @return in [0, 1]; NaN for N = 0 or after a contract error */
MDLDEF double mdl_accuracy(const mdl_tensor *input, const mdl_tensor *target);

/** @brief The accuracy of yes/no predictions: an element is predicted 1 where input >
 *  threshold (0 elsewhere, also where it is NaN), and right where that equals its target.
 *  Use threshold 0.5 for probabilities and 0 for logits (sigmoid(x) > 0.5 exactly where x > 0).
 *  @param input     probabilities or logits, any shape ([N], or [N,L] for L labels each)
 *  @param target    the same shape, each 0 or 1
 *  @param threshold the boundary between 0 and 1
 *  @return the fraction of elements right; NaN for no elements or after a contract error */
MDLDEF double mdl_binary_accuracy(const mdl_tensor *input, const mdl_tensor *target,
                                  double threshold);

/** @brief The fraction of samples whose target is among the k classes with the highest
 *  scores, as sklearn's top_k_accuracy_score. Ties are broken as for the argmax: of equal
 *  scores the first class ranks higher, so k = 1 is mdl_accuracy.
 *  @param scores [N,C]
 *  @param target classes [N], whole numbers in 0..C-1
 *  @param k      how many of the best classes count, 1..C
 *  @return in [0, 1]; NaN for N = 0 or after a contract error */
MDLDEF double mdl_top_k_accuracy(const mdl_tensor *scores, const mdl_tensor *target, int k);

/** @brief The confusion matrix: cm[i,j] counts the samples of true class i predicted as class
 *  j (rows are the truth, as in sklearn's confusion_matrix), so its diagonal holds the right
 *  answers, row i sums to the number of samples of class i, and column j to the number of
 *  predictions of class j. Counts are exact up to 2^24 per cell in float.
 *  For yes/no predictions, threshold them first: mdl_gt_scalar(ar, probs, 0.5) with 2 classes.
 *  @param ar          the arena for the result
 *  @param input       scores [N,C] (argmax as in mdl_accuracy) or predicted classes [N]
 *  @param target      classes [N], whole numbers in 0..C-1
 *  @param num_classes C; 0 takes it from scores [N,C] (predicted classes [N] need it)
 *  @return [C,C] from `ar`, lives until its reset; NULL after a contract error */
MDLDEF mdl_tensor *mdl_confusion_matrix(mdl_arena *ar, const mdl_tensor *input,
                                        const mdl_tensor *target, int num_classes);

/** @brief Print a confusion matrix as a table with a header row and a name on each row:
 *  @code{.txt}
 *  true \ predicted  Adelie  Chinstrap  Gentoo
 *            Adelie      30          1       0
 *         Chinstrap       0         13       0
 *            Gentoo       0          0      25
 *  @endcode
 *  @param f     the stream, e.g. stdout
 *  @param cm    [C,C], from mdl_confusion_matrix
 *  @param names C class names, or NULL for 0, 1, ... */
MDLDEF void mdl_confusion_matrix_fprint(FILE *f, const mdl_tensor *cm,
                                        const char *const *names);

/** @brief Precision: of the samples predicted as class c, the fraction that are of class c,
 *  TP / (TP + FP) = cm[c,c] / (sum of column c). A class never predicted has precision 0, as
 *  sklearn's default zero_division gives (sklearn also warns). The averages leave out the
 *  classes that appear neither in the targets nor in the predictions (a row and a column of
 *  zeros), as sklearn does with its default labels; a class absent from the targets but
 *  predicted counts, with its precision 0.
 *  @param cm  [C,C], from mdl_confusion_matrix (rows are the true class)
 *  @param cls a class 0..C-1, MDL_MACRO_AVG or MDL_WEIGHTED_AVG
 *  @return in [0, 1]; NaN for an empty matrix's average or after a contract error */
MDLDEF double mdl_precision(const mdl_tensor *cm, int cls);

/** @brief Recall: of the samples of class c, the fraction predicted as c, TP / (TP + FN) =
 *  cm[c,c] / (sum of row c). A class absent from the targets has recall 0 (sklearn: 0 and a
 *  warning). Averages as in mdl_precision.
 *  @param cm  [C,C], from mdl_confusion_matrix
 *  @param cls a class 0..C-1, MDL_MACRO_AVG or MDL_WEIGHTED_AVG
 *  @return in [0, 1]; NaN for an empty matrix's average or after a contract error */
MDLDEF double mdl_recall(const mdl_tensor *cm, int cls);

/** @brief F1: the harmonic mean of precision and recall, 2 P R / (P + R), computed as sklearn
 *  does as 2 TP / (2 TP + FP + FN) = 2 cm[c,c] / (row c + column c); 0 when the class is
 *  neither in the targets nor predicted. The macro average is the mean of the classes' F1
 *  (not the F1 of the mean precision and recall), as in sklearn. Averages as in mdl_precision.
 *  @param cm  [C,C], from mdl_confusion_matrix
 *  @param cls a class 0..C-1, MDL_MACRO_AVG or MDL_WEIGHTED_AVG
 *  @return in [0, 1]; NaN for an empty matrix's average or after a contract error */
MDLDEF double mdl_f1_score(const mdl_tensor *cm, int cls);

/** @brief Print precision, recall, F1 and the number of samples of each class, then the
 *  accuracy and the macro and weighted averages, laid out as sklearn's
 *  classification_report.
 *  @param f     the stream, e.g. stdout
 *  @param cm    [C,C], from mdl_confusion_matrix
 *  @param names C class names, or NULL for 0, 1, ... */
MDLDEF void mdl_classification_report_fprint(FILE *f, const mdl_tensor *cm,
                                             const char *const *names);

/** @brief The coefficient of determination, as sklearn's r2_score: R^2 = 1 - SS_res / SS_tot
 *  with SS_res = sum (target - input)^2 and SS_tot = sum (target - mean(target))^2. 1 is a
 *  perfect fit, 0 is no better than predicting the mean, and it is negative when worse. A
 *  constant target (SS_tot = 0) gives 1 if the fit is exact and 0 if not (sklearn's
 *  force_finite). For [N,K], R^2 of each of the K outputs, then their mean (sklearn's
 *  'uniform_average').
 *  @param input  predictions [N] or [N,K]
 *  @param target the same shape
 *  @return R^2; NaN for fewer than 2 samples (undefined, as in sklearn) or after an error */
MDLDEF double mdl_r2_score(const mdl_tensor *input, const mdl_tensor *target);

/** @brief Mean absolute error, mean |input - target| over all elements (sklearn's
 *  mean_absolute_error; the value of mdl_l1_loss, without the tape).
 *  @param input  predictions, any shape
 *  @param target the same shape
 *  @return in the target's units; NaN for no elements or after a contract error */
MDLDEF double mdl_mae(const mdl_tensor *input, const mdl_tensor *target);

/** @brief Root mean squared error, sqrt(mean (input - target)^2) over all elements, so in the
 *  target's units (sqrt of mdl_mse_loss). For [N,K] this is the RMSE of all N K values, as
 *  torchmetrics computes it; sklearn's root_mean_squared_error averages the K columns' RMSEs.
 *  @param input  predictions, any shape
 *  @param target the same shape
 *  @return >= 0; NaN for no elements or after a contract error */
MDLDEF double mdl_rmse(const mdl_tensor *input, const mdl_tensor *target);

/** @brief Log-loss: the mean negative log-likelihood of the true classes in nats,
 *  mean_i -log softmax(x_i)[y_i], computed stably from the logits as logsumexp(x_i) - x_i[y_i]
 *  with the row's maximum taken out of the exponentials (so logits of 1000 do not overflow).
 *  It is the value of mdl_cross_entropy_loss (and of sklearn's log_loss of the softmax
 *  probabilities), in double.
 *  @param logits [N,C]
 *  @param target classes [N], whole numbers in 0..C-1
 *  @return >= 0; NaN for N = 0 or after a contract error */
MDLDEF double mdl_log_loss(const mdl_tensor *logits, const mdl_tensor *target);

/** @brief Perplexity, exp(mean NLL): the number of equally likely choices that would leave a
 *  model as unsure as it is; a uniform guess among V tokens has perplexity V. It takes the
 *  mean negative log-likelihood in nats, from mdl_log_loss or the value of a cross-entropy
 *  loss (averaged over the batches of a whole text), so a training loop need not compute it
 *  twice.
 *  @param mean_nll mean negative log-likelihood per token, in nats
 *  @return exp(mean_nll) */
MDLDEF double mdl_perplexity(double mean_nll);

/** @brief Bits per character, mean NLL / ln 2: the mean NLL per character in bits, the size
 *  per character an ideal coder driven by the model would compress the text to. Takes the
 *  mean NLL in nats, as mdl_perplexity; 2^bpc is the perplexity.
 *  @param mean_nll mean negative log-likelihood per character, in nats
 *  @return mean_nll / ln 2 */
MDLDEF double mdl_bits_per_char(double mean_nll);

/** @} */

/** @defgroup plot Plots as SVG files
 *  @brief Line plots, scatter plots, heat maps and image grids that any browser shows.
 *
 *  A figure is built up with calls and written with one. mdl_plot_new makes it with one panel;
 *  each call draws into the current panel; mdl_plot_panel starts the next one, to the right
 *  of the last (the fit loop's loss and accuracy side by side); mdl_plot_save writes the SVG
 *  file. The figure copies what it is given, so the tensors may die (mdl_arena_reset) before it
 *  is saved, and it is freed by mdl_plot_free.
 *
 *  What comes out: SVG 1.1 with a viewBox, so it scales; axes whose ticks are "nice" numbers
 *  (1, 2 or 5 times a power of ten) and cover the data; the series in the colours of the
 *  Okabe-Ito palette, which people with the common kinds of colour blindness tell apart, in
 *  the order they were added (blue, orange, green, vermillion, purple, sky blue, yellow,
 *  black, then again), except that class c is always colour c; every text XML-escaped (and
 *  bytes that are not UTF-8 replaced by '?'); coordinates with one decimal. A point with a NaN
 *  or infinite coordinate, or with y <= 0 on a log axis, is left out (a line has a gap there)
 *  and does not count for the axes' ranges.
 *
 *  Environmental errors (out of memory, a file that cannot be written) are returned as an
 *  mdl_error with mdl_last_error naming what failed, never an abort; contract errors (a NULL
 *  plot, tensors of the wrong shape) go to the error handler and the call adds nothing.
 *
 *  Training and validation loss by epoch, on a log axis:
 *  @code
 *  double epoch[5] = {1, 2, 3, 4, 5};
 *  double train[5] = {2.3, 1.1, 0.62, 0.41, 0.33}, valid[5] = {2.2, 1.2, 0.80, 0.71, 0.74};
 *  mdl_plot *p = mdl_plot_new("Loss of a small MLP");
 *  mdl_plot_labels(p, "epoch", "cross-entropy");
 *  mdl_plot_log_y(p, 1);
 *  mdl_plot_line(p, "training", 5, epoch, train);
 *  mdl_plot_line(p, "validation", 5, epoch, valid);
 *  mdl_error e = mdl_plot_save(p, "loss.svg");            // open it in a browser
 *  if (e != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
 *  mdl_plot_free(p);
 *  remove("loss.svg");                                     // (this example is a test: tidy up)
 *  if (e != MDL_OK) return 1;
 *  @endcode
 *  @{ */

typedef struct mdl_plot mdl_plot; /**< A figure: one or more panels side by side. */

/** @brief Make a figure with one empty panel, which becomes the current panel.
 *  @param title the panel's title, or NULL for none
 *  @return the figure, freed by mdl_plot_free; NULL if out of memory (mdl_last_error says so) */
MDLDEF mdl_plot *mdl_plot_new(const char *title);

/** @brief Free a figure and everything it copied. NULL is allowed. */
MDLDEF void mdl_plot_free(mdl_plot *p);

/** @brief Start a new panel to the right of the others; the calls that follow draw into it.
 *  @param p     the figure
 *  @param title the new panel's title, or NULL
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_panel(mdl_plot *p, const char *title);

/** @brief Name the current panel's axes (for a heat map: its columns and its rows).
 *  @param p      the figure
 *  @param xlabel the label under the x axis, or NULL
 *  @param ylabel the label beside the y axis, or NULL
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_labels(mdl_plot *p, const char *xlabel, const char *ylabel);

/** @brief Make the current panel's y axis logarithmic or linear, for losses that fall over
 *  several powers of ten. Points with y <= 0 are then left out.
 *  @param p  the figure
 *  @param on 1: logarithmic; 0: linear (the default)
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_log_y(mdl_plot *p, int on);

/** @brief Add a line through n points, in the next colour.
 *  @param p    the figure
 *  @param name the name in the legend, or NULL to leave it out of the legend
 *  @param n    number of points, >= 0
 *  @param x    n x values, or NULL for 0, 1, ..., n-1
 *  @param y    n y values
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_line(mdl_plot *p, const char *name, int n, const double *x,
                               const double *y);

/** @brief Add n points as dots, in the next colour. Parameters as mdl_plot_line, but x is
 *  required. @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_scatter(mdl_plot *p, const char *name, int n, const double *x,
                                  const double *y);

/** @brief Add the points of a tensor as dots, one series per class in the class's colour
 *  (class c in colour c, as in mdl_plot_regions), e.g. penguins by species. To plot two
 *  columns of a [N,F] feature tensor, pick them first with mdl_index_select along axis 1.
 *  @param p           the figure
 *  @param xy          [N,2]: x in column 0, y in column 1
 *  @param labels      classes [N], whole numbers in 0..num_classes-1; or NULL for one series
 *                     in the next colour
 *  @param num_classes the number of classes (ignored when labels is NULL)
 *  @param names       num_classes names for the legend (one with labels NULL), or NULL for
 *                     "class 0", "class 1", ... (no name with labels NULL)
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_scatter_classes(mdl_plot *p, const mdl_tensor *xy,
                                          const mdl_tensor *labels, int num_classes,
                                          const char *const *names);

/** @brief Add the straight line y = slope x + intercept across the panel (a fitted regression
 *  line over its data), in the next colour. It does not widen the x axis.
 *  @param p         the figure
 *  @param name      the name in the legend, or NULL
 *  @param slope     the slope
 *  @param intercept y at x = 0
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_abline(mdl_plot *p, const char *name, double slope, double intercept);

/** @brief The centres of a rows x cols grid of cells covering [x0,x1] x [y0,y1], as the input
 *  of a model whose decision regions mdl_plot_regions then draws. Point i * cols + j is the
 *  centre of cell (i, j): x = x0 + (j + 0.5) (x1 - x0) / cols, y = y0 + (i + 0.5) (y1 - y0) /
 *  rows, so row 0 lies along y0, at the bottom of the plot.
 *  @code
 *  int ls[1] = {5};
 *  mdl_scalar lab[5] = {0, 0, 1, 1, 1};
 *  mdl_scalar pts[10] = {0.1f, 0.2f, 0.3f, 0.9f, 0.6f, 0.1f, 0.8f, 0.5f, 0.9f, 0.8f};
 *  int ps[2] = {5, 2}, gs[2] = {40, 50};
 *  mdl_tensor *xy = mdl_from_array(ar, 2, ps, pts), *y = mdl_from_array(ar, 1, ls, lab);
 *  mdl_tensor *grid = mdl_plot_grid_points(ar, 40, 50, 0, 1, 0, 1);     // [2000,2]
 *  // a "model": class 1 right of x = 0.5; a real one gives logits, and then
 *  // mdl_reshape(ar, mdl_argmax(ar, logits, 1, 0), 2, gs) is the [40,50] of classes
 *  mdl_tensor *cls = mdl_gt_scalar(ar, mdl_slice(ar, grid, 1, 0, 1), 0.5f);
 *  mdl_plot *p = mdl_plot_new("Decision regions");
 *  mdl_plot_regions(p, mdl_reshape(ar, cls, 2, gs), 0, 1, 0, 1);
 *  mdl_plot_scatter_classes(p, xy, y, 2, NULL);
 *  FILE *f = tmpfile();                      // or mdl_plot_save(p, "regions.svg")
 *  int ok = f && mdl_plot_write(p, f) == MDL_OK;
 *  if (f) fclose(f);
 *  mdl_plot_free(p);
 *  if (!ok) return 1;
 *  @endcode
 *  @param ar   the arena for the result
 *  @param rows cells along y, >= 1
 *  @param cols cells along x, >= 1
 *  @param x0   the left edge
 *  @param x1   the right edge
 *  @param y0   the bottom edge
 *  @param y1   the top edge
 *  @return [rows * cols, 2] from `ar` */
MDLDEF mdl_tensor *mdl_plot_grid_points(mdl_arena *ar, int rows, int cols, double x0, double x1,
                                        double y0, double y1);

/** @brief Fill a grid of cells covering [x0,x1] x [y0,y1] with the colours of their classes,
 *  pale, behind everything else in the panel: the decision regions of a classifier, drawn
 *  under its data with mdl_plot_scatter_classes. Cell (i, j) is the one whose centre is point
 *  i * cols + j of mdl_plot_grid_points (row 0 at the bottom); a class that is not a whole
 *  number >= 0 leaves its cell empty.
 *  @param p       the figure
 *  @param classes [rows, cols], class indices
 *  @param x0      the left edge
 *  @param x1      the right edge, > x0
 *  @param y0      the bottom edge
 *  @param y1      the top edge, > y0
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_regions(mdl_plot *p, const mdl_tensor *classes, double x0, double x1,
                                  double y0, double y1);

/** @brief Draw a matrix as a heat map, row 0 at the top, in shades from white (the smallest
 *  value, or 0 if none is negative) to blue (the largest), with each value written in its cell
 *  if asked: a confusion matrix with mdl_plot_labels(p, "predicted", "true"). A NaN or
 *  infinite cell is left grey and unwritten. It needs a panel of its own (a new figure, or
 *  mdl_plot_panel).
 *  @param p           the figure
 *  @param values      [R,C]
 *  @param row_names   R names down the left side, or NULL for 0, 1, ...
 *  @param col_names   C names along the bottom, or NULL for 0, 1, ...
 *  @param show_values 1: write each value in its cell (whole numbers as such, others with 3
 *                     significant digits)
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_heatmap(mdl_plot *p, const mdl_tensor *values,
                                  const char *const *row_names, const char *const *col_names,
                                  int show_values);

/** @brief Draw images in grey in a grid, each with an optional caption below it: digits,
 *  Fashion-MNIST samples, the filters of a convolution. Values from lo (black) to hi (white),
 *  clamped; lo == hi scales each image from its own minimum to its maximum (for filters,
 *  whose scale is their own). A NaN or infinite pixel is drawn in vermillion, to stand out.
 *  It needs a panel of its own.
 *  @param p        the figure
 *  @param images   [N,H,W], [N,1,H,W] (one channel), or one image [H,W]
 *  @param cols     images per row; 0 picks a near-square grid
 *  @param lo       the value drawn black
 *  @param hi       the value drawn white
 *  @param captions N short texts (a label, "pred 3"), or NULL
 *  @return MDL_OK, or an error code */
MDLDEF mdl_error mdl_plot_images(mdl_plot *p, const mdl_tensor *images, int cols, double lo,
                                 double hi, const char *const *captions);

/** @brief Write the figure as SVG to a stream.
 *  @return MDL_OK; MDL_ERR_IO if writing failed (mdl_last_error says so) */
MDLDEF mdl_error mdl_plot_write(const mdl_plot *p, FILE *f);

/** @brief Write the figure as an SVG file, replacing the file if it exists.
 *  @param p    the figure
 *  @param path where, e.g. "loss.svg"
 *  @return MDL_OK; MDL_ERR_IO if the file cannot be opened or written, with mdl_last_error
 *          naming it */
MDLDEF mdl_error mdl_plot_save(const mdl_plot *p, const char *path);

/** @} */

/** @defgroup fit The fit loop
 *  @brief Keras-style training: epochs, validation, progress, history, early stopping.
 *  @{ */

/** A model as mdl_fit sees it: compute the output for a batch x. `training` is 1 during the
 *  training epochs (dropout on, BatchNorm's batch statistics) and 0 for evaluation. */
typedef mdl_tensor *(*mdl_forward_fn)(mdl_arena *ar, mdl_tensor *x, int training, void *model);

/** A loss of your own for mdl_fit: a scalar from the model's output and the batch's targets. */
typedef mdl_tensor *(*mdl_loss_fn)(mdl_arena *ar, mdl_tensor *out, mdl_tensor *y, void *user);

/** The loss mdl_fit minimises when no mdl_loss_fn is given. */
typedef enum mdl_fit_loss {
    MDL_FIT_CROSS_ENTROPY = 1, /**< logits [B, C], class indices [B] (the default) */
    MDL_FIT_MSE,               /**< regression: output and targets of the same shape */
    MDL_FIT_BCE_WITH_LOGITS    /**< two classes: logits [B] or [B, 1], targets 0 or 1 alike */
} mdl_fit_loss;

/** The metric mdl_fit reports beside the loss, over each epoch's rows. */
typedef enum mdl_fit_metric {
    MDL_FIT_NO_METRIC = 0,
    MDL_FIT_ACCURACY,        /**< argmax of the logits [B, C] against class indices */
    MDL_FIT_BINARY_ACCURACY, /**< logit > 0 against targets 0 or 1 */
    MDL_FIT_R2,              /**< coefficient of determination of a regression */
    MDL_FIT_MAE              /**< mean absolute error of a regression */
} mdl_fit_metric;

/** Where a training run is, for a callback and the progress line. */
typedef struct mdl_fit_progress {
    int epoch, epochs;     /**< the epoch in progress (from 1) and how many were asked for */
    int batch, batches;    /**< the batch just done (from 1) and how many an epoch has */
    double loss;           /**< the mean loss of this epoch's batches so far */
    double metric;         /**< the metric over this epoch's rows so far (NAN without one) */
    double seconds;        /**< since mdl_fit began */
    const struct mdl_history *history; /**< the epochs finished so far */
} mdl_fit_progress;

/** A callback: return nonzero to stop training (after the current batch or epoch). */
typedef int (*mdl_fit_callback)(const mdl_fit_progress *progress, void *user);

/** How mdl_fit trains: Keras's `fit` arguments, in C. Start from mdl_fit_defaults(). */
typedef struct mdl_fit_opts {
    mdl_sequential *seq;        /**< the model, as a Sequential... */
    mdl_forward_fn forward;     /**< ...or as a forward function (used if seq is NULL) */
    void *model;                /**< passed to forward */
    mdl_params *params;         /**< the model's parameters and buffers: needed for
                                     restore_best and clip_grad_norm */
    mdl_optim *optim;           /**< the optimizer (required) */
    mdl_scheduler *scheduler;   /**< stepped after every epoch; PLATEAU watches the monitored
                                     value (NULL: none) */
    mdl_fit_loss loss;          /**< the loss (MDL_FIT_CROSS_ENTROPY) */
    mdl_loss_fn loss_fn;        /**< a loss of your own instead (NULL) */
    void *loss_user;            /**< passed to loss_fn */
    mdl_fit_metric metric;      /**< reported beside the loss (MDL_FIT_ACCURACY) */
    int epochs;                 /**< (10) */
    int batch_size;             /**< (32) */
    int shuffle;                /**< reshuffle the training rows every epoch (1) */
    int drop_last;              /**< skip a last, smaller training batch (0) */
    mdl_rng *rng;               /**< the generator for shuffling (required if shuffle) */
    double clip_grad_norm;      /**< clip the gradients' global norm to this; 0: no clipping */
    int patience;               /**< early stopping: epochs without improvement of the
                                     monitored value before training stops; 0: never */
    double min_delta;           /**< the smallest change that counts as an improvement (0) */
    int monitor_metric;         /**< 1: watch the validation metric; 0: the validation loss
                                     (or the training ones without validation data) (0) */
    int restore_best;           /**< 1: put back the parameters of the best epoch at the end */
    int verbose;                /**< 1: a line per epoch, and a progress bar on a terminal;
                                     0: silent (1) */
    FILE *out;                  /**< where the progress goes (NULL: stdout) */
    mdl_fit_callback on_batch;  /**< called after every training batch (NULL) */
    mdl_fit_callback on_epoch;  /**< called after every epoch, history updated (NULL) */
    void *callback_user;        /**< passed to the callbacks */
    mdl_arena *arena;           /**< the arena for the steps; NULL: mdl_fit makes its own */
} mdl_fit_opts;

/** What mdl_fit did, epoch by epoch (Keras's History): arrays of `epochs` values. */
typedef struct mdl_history {
    int epochs;            /**< epochs run (fewer than asked if it stopped early) */
    double *loss;          /**< mean training loss of each epoch (over its batches) */
    double *metric;        /**< training metric of each epoch (NAN without one) */
    double *val_loss;      /**< validation loss after each epoch (NAN without validation) */
    double *val_metric;    /**< validation metric after each epoch */
    double *lr;            /**< group 0's learning rate during each epoch */
    double *seconds;       /**< time since the start at the end of each epoch */
    int best_epoch;        /**< the epoch (from 0) with the best monitored value */
    int stopped_early;     /**< 1 if early stopping (or a callback) ended training */
    const char *metric_name; /**< "accuracy", "r2", ... or "" */
} mdl_history;

/** @brief The defaults listed with each field of ::mdl_fit_opts. */
MDLDEF mdl_fit_opts mdl_fit_defaults(void);

/** @brief Train a model on a data set, as Keras's `model.fit(x, y, validation_data=...)`.
 *  Each epoch: the training rows in mini-batches (shuffled), forward in training mode, the
 *  loss, mdl_backward, clipping if asked, mdl_optim_step, mdl_optim_zero_grad and an arena
 *  reset; then the validation rows in evaluation mode without a tape; then the history, the
 *  progress line, early stopping, the scheduler and the callbacks.
 *  @code
 *  // 200 points of two classes split 160 / 40, an MLP trained by fit with early stopping
 *  int xs[2] = {200, 2}, ys[1] = {200};
 *  double sizes[2] = {0.8, 0.2};
 *  mdl_tensor *x = mdl_randn(ar, &rng, 2, xs, 0, 1), *y = mdl_zeros(ar, 1, ys);
 *  for (int i = 0; i < 200; i++) y->data[i] = x->data[2 * i] * x->data[2 * i + 1] > 0;
 *  mdl_dataset *all = mdl_dataset_new(x, y), *parts[2];
 *  mdl_dataset_split(all, 2, sizes, 1, &rng, parts);
 *  mdl_params *ps = mdl_params_new();
 *  mdl_sequential *net = mdl_sequential_new();
 *  mdl_sequential_add(net, mdl_linear_layer(ps, "0", 2, 16, 1, &rng));
 *  mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_TANH));
 *  mdl_sequential_add(net, mdl_linear_layer(ps, "2", 16, 2, 1, &rng));
 *  mdl_fit_opts f = mdl_fit_defaults();
 *  f.seq = net;
 *  f.params = ps;
 *  f.optim = mdl_adam_new(ps, 0.02);
 *  f.rng = &rng;
 *  f.epochs = 60;
 *  f.patience = 10;          // stop when the validation loss has not improved for 10 epochs
 *  f.restore_best = 1;       // and go back to the best epoch's weights
 *  f.verbose = 0;
 *  mdl_history *h = mdl_fit(&f, parts[0], parts[1]);
 *  printf("best epoch %d: validation accuracy %.3f\n", h->best_epoch + 1,
 *         h->val_metric[h->best_epoch]);
 *  if (h->val_metric[h->best_epoch] < 0.85) return 1;
 *  mdl_history_free(h);
 *  mdl_optim_free(f.optim);
 *  mdl_sequential_free(net);
 *  mdl_params_free(ps);
 *  mdl_dataset_free(all);
 *  mdl_dataset_free(parts[0]);
 *  mdl_dataset_free(parts[1]);
 *  @endcode
 *  @param opts  how to train
 *  @param train the training data (x and y); shuffling reorders its rows
 *  @param val   validation data, or NULL
 *  @return the history, freed by mdl_history_free; NULL after a contract error or if memory
 *          ran out */
MDLDEF mdl_history *mdl_fit(const mdl_fit_opts *opts, mdl_dataset *train, mdl_dataset *val);

/** @brief The loss and metric of the model over a data set, in evaluation mode, without a
 *  tape, in batches of opts->batch_size (Keras's `evaluate`).
 *  @param opts   the model, loss and metric as for mdl_fit (the optimizer is not used)
 *  @param data   the rows
 *  @param loss   receives the mean loss over the rows (may be NULL)
 *  @param metric receives the metric (may be NULL; NAN without one)
 *  @return MDL_OK, or the code of the error reported */
MDLDEF mdl_error mdl_evaluate(const mdl_fit_opts *opts, mdl_dataset *data, double *loss,
                              double *metric);

/** @brief Write the history as CSV: a header row, then one row per epoch (epoch, loss, the
 *  metric, val_loss, the validation metric, lr, seconds).
 *  @return MDL_OK, or MDL_ERR_IO (see mdl_last_error) */
MDLDEF mdl_error mdl_history_save_csv(const mdl_history *h, const char *path);

/** @brief Draw the training curves as an SVG file: the loss panel (training and validation)
 *  and the metric panel side by side, with the best epoch marked: TensorBoard's picture of a
 *  run, for any browser. @return MDL_OK, or MDL_ERR_IO (see mdl_last_error) */
MDLDEF mdl_error mdl_history_plot(const mdl_history *h, const char *path);

/** @brief Free a history. NULL is allowed. */
MDLDEF void mdl_history_free(mdl_history *h);

/** @} */

/** @defgroup io Saving and loading models
 *  @brief Safetensors files that PyTorch reads and writes; checkpoints that resume training.
 *  @{ */

/** @} */

/** @defgroup diagnostics Diagnostics
 *  @brief Check gradients, catch NaN/Inf, look at the graph.
 *  @{ */

/** A function of tensors for mdl_gradcheck: compute and return an output from `inputs`, taking
 *  every temporary from `ar`. */
typedef mdl_tensor *(*mdl_fn)(mdl_arena *ar, mdl_tensor *const *inputs, void *user);

/** What mdl_gradcheck found. */
typedef struct mdl_gradcheck_report {
    size_t checked;     /**< input elements checked */
    size_t failed;      /**< elements outside the tolerance */
    int worst_input;    /**< input holding the worst element (-1 if nothing was checked) */
    size_t worst_index; /**< its flat index */
    double analytic;    /**< backward's value there */
    double numeric;     /**< central difference there */
    double max_abs_err; /**< |analytic - numeric| there */
} mdl_gradcheck_report;

/** @brief Check f's gradient against central differences, as torch.autograd.gradcheck does.
 *  @code
 *  #define MINIDL_IMPLEMENTATION
 *  #include "minidl.h"
 *
 *  // f(x) = sum(tanh(x) * x) along the last axis
 *  static mdl_tensor *f(mdl_arena *ar, mdl_tensor *const *in, void *user) {
 *      (void)user;
 *      return mdl_sum(ar, mdl_mul(ar, mdl_tanh(ar, in[0]), in[0]), -1, 0);
 *  }
 *
 *  int main(void) {
 *      mdl_arena *ar = mdl_arena_new(0);
 *      mdl_rng rng;
 *      int shape[2] = {2, 3};
 *      mdl_gradcheck_report report;
 *      mdl_rng_seed(&rng, 7);
 *      mdl_tensor *x = mdl_randn(ar, &rng, 2, shape, 0, 1);
 *      int ok = mdl_gradcheck(f, NULL, 1, &x, 0, 0, 0, &report);  // 0: default tolerances
 *      printf("gradcheck %s: %zu elements, worst error %.2g\n", ok ? "passed" : "FAILED",
 *             report.checked, report.max_abs_err);
 *      mdl_arena_free(ar);
 *      return ok ? 0 : 1;
 *  }
 *  @endcode
 *  With a fixed random vector v, L = sum(v * f(inputs)); for each element x_i of each input,
 *  backward's dL/dx_i must match (L(x_i + eps) - L(x_i - eps)) / (2 eps) within
 *  atol + rtol * |numeric|. f sees copies of the inputs, so the inputs are not changed.
 *  Float32 differences are noisy: build with MINIDL_DOUBLE for a tight check.
 *  @param f      the function to check
 *  @param user   passed to f
 *  @param n      number of inputs
 *  @param inputs the points at which to check (each element of each is checked)
 *  @param eps    the step of the central differences; 0 picks 1e-6 with MINIDL_DOUBLE, 1e-2
 *                with float
 *  @param atol   absolute tolerance; 0 picks 1e-5 (MINIDL_DOUBLE) or 1e-2 (float)
 *  @param rtol   relative tolerance; 0 picks 1e-3 (MINIDL_DOUBLE) or 5e-2 (float)
 *  @param report filled in if not NULL
 *  @return 1 if every element matched, 0 if not (or on an error) */
MDLDEF int mdl_gradcheck(mdl_fn f, void *user, int n, mdl_tensor *const *inputs, double eps,
                         double atol, double rtol, mdl_gradcheck_report *report);

/** @brief Write the graph behind `t` in Graphviz DOT: one box per tensor with its op, shape,
 *  and value and gradient summary (min, mean, max). Render with `dot -Tsvg g.dot -o g.svg`.
 *  @return MDL_OK, or MDL_ERR_IO (see mdl_last_error) */
MDLDEF mdl_error mdl_graph_dot(const mdl_tensor *t, const char *path);
/** @brief mdl_graph_dot to a stream. */
MDLDEF mdl_error mdl_graph_dot_file(const mdl_tensor *t, FILE *f);

/** @} */

/** @defgroup kernels Kernels: the matrix multiply behind every layer
 *  @brief A BLAS-like single-precision GEMM (not in MINIDL_DOUBLE builds), and the choice of
 *  micro-kernel: the fastest this CPU runs is picked at the first call.
 *  @{ */

#ifndef MINIDL_DOUBLE
/** @brief C = alpha op(A) op(B) + beta C, row-major, as cblas_sgemm(CblasRowMajor, ...).
 *  op(A) is [m,k]: A itself (trans_a = 0, a is [m,k] with row stride lda) or A^T (trans_a = 1,
 *  a is [k,m]); likewise op(B) is [k,n]. beta == 0 writes C without reading it (NaN in C does
 *  not leak through). m, n or k may be 0. With -fopenmp it uses every thread OpenMP allows, and
 *  the result is the same to the bit whatever the thread count.
 *  @code
 *  float a[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3 * 2] = {1, 0, 0, 1, 1, 1}, c[2 * 2];
 *  mdl_sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);   // c = a @ b
 *  if (c[0] != 4 || c[1] != 5 || c[2] != 10 || c[3] != 11) return 1;
 *  @endcode */
MDLDEF void mdl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc);
#endif

/** @brief The name of the GEMM micro-kernel in use: "avx512", "avx2", "neon" or "plain". */
MDLDEF const char *mdl_gemm_kernel(void);

/** @brief Use another GEMM micro-kernel, e.g. "plain" to see what SIMD buys.
 *  @param name a name as mdl_gemm_kernel returns, or "auto" (or NULL) for the best one
 *  @return 1 if this build and CPU have it, 0 if not (the choice is then unchanged) */
MDLDEF int mdl_set_gemm_kernel(const char *name);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* MINIDL_H */

/* ============================================================================================ */
/*                                     IMPLEMENTATION                                           */
/* ============================================================================================ */

#if defined(MINIDL_IMPLEMENTATION) && !defined(MINIDL__IMPLEMENTATION_DONE)
#define MINIDL__IMPLEMENTATION_DONE

// >>prelude

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/time.h> /* gettimeofday: the fit loop's wall clock */
#include <unistd.h>   /* isatty: a progress bar only on a terminal */
#else
#include <time.h>
#endif

#if defined(MINIDL_MALLOC) != defined(MINIDL_FREE)
#error "minidl: define MINIDL_MALLOC and MINIDL_FREE together, or neither"
#endif
#ifndef MINIDL_MALLOC
#define MINIDL_MALLOC(n) malloc(n)
#define MINIDL_FREE(p) free(p)
#endif
#ifndef MINIDL_ASSERT
#include <assert.h>
#define MINIDL_ASSERT(c) assert(c)
#endif

/* libm in the precision of mdl_scalar: expf for float, exp for double. */
#ifdef MINIDL_DOUBLE
#define MDL__EXP(x) exp(x)
#define MDL__EXPM1(x) expm1(x)
#define MDL__LOG(x) log(x)
#define MDL__LOG1P(x) log1p(x)
#define MDL__SQRT(x) sqrt(x)
#define MDL__FABS(x) fabs(x)
#define MDL__POW(x, p) pow(x, p)
#define MDL__TANH(x) tanh(x)
#define MDL__ERF(x) erf(x)
#define MDL__NEXTAFTER(x, y) nextafter(x, y)
#else
#define MDL__EXP(x) expf(x)
#define MDL__EXPM1(x) expm1f(x)
#define MDL__LOG(x) logf(x)
#define MDL__LOG1P(x) log1pf(x)
#define MDL__SQRT(x) sqrtf(x)
#define MDL__FABS(x) fabsf(x)
#define MDL__POW(x, p) powf(x, p)
#define MDL__TANH(x) tanhf(x)
#define MDL__ERF(x) erff(x)
#define MDL__NEXTAFTER(x, y) nextafterf(x, y)
#endif

/* SIMD: x86 kernels are compiled with target attributes and chosen at run time, so a plain
   `gcc -O2` build still uses AVX2 or AVX-512 where the CPU has them. */
#if !defined(MINIDL_NO_SIMD) && !defined(MINIDL_DOUBLE) && (defined(__GNUC__) || defined(__clang__))
#if defined(__x86_64__) || defined(__i386__)
#define MDL__X86 1
#include <immintrin.h>
#elif defined(__aarch64__)
#define MDL__NEON 1
#include <arm_neon.h>
#endif
#endif

#define MDL__PI 3.14159265358979323846 /* M_PI is not ISO C */

/* restrict: the pointer is the only way to its memory in this scope, which lets a compiler
   vectorize a loop over several arrays (C99 has the keyword; C++ compilers spell it so). */
#ifdef __cplusplus
#define MDL__RESTRICT __restrict
#else
#define MDL__RESTRICT restrict
#endif

/* For the few small helpers called once per short row in the hottest loops (a row of im2col is
   10 values in LeNet's conv2), where a call would cost as much as the work. */
#if defined(__GNUC__) || defined(__clang__)
#define MDL__ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define MDL__ALWAYS_INLINE static
#endif
#define MDL__ALIGN 64                  /* every arena allocation starts on a cache line */
#define MDL__LIVE 0x4c495645u          /* "LIVE": a tensor that may be used */
#define MDL__DEAD 0x44454144u          /* "DEAD": its arena was reset (the stale check) */

/* The stale-tensor check: on unless the program opts out. Each arena tensor's header is then
   a malloc of its own that outlives the arena's reset, marked dead, so that an op given it can
   say so; without the check the header lives in the arena and is reused after a reset, and a
   dead tensor gives wrong numbers or a crash instead of an error. */
#if !defined(MINIDL_NO_STALE_CHECK) || defined(MINIDL_DEBUG)
#define MDL__STALE_CHECK 1
#endif
#define MDL__MAX_NUMEL 68719476736.0   /* 2^36 elements: anything larger is a mistake */

#ifdef __cplusplus
extern "C" {
#endif

/* A block of arena memory; allocations are carved from `base` upward. */
typedef struct mdl__block {
    struct mdl__block *next;
    size_t size, used;
    char *base; /* first MDL__ALIGN-aligned byte after this header */
} mdl__block;

struct mdl_arena {
    mdl__block *blocks;     /* newest first; allocations come from the first */
    size_t initial;         /* size of the first block */
    size_t used;            /* bytes handed out this step */
    size_t high_water;      /* most bytes any step has used */
    size_t reserved;        /* bytes held in blocks */
    long step;              /* resets so far */
    int grad_enabled;       /* record the tape? */
    int anomaly;            /* check every value for NaN/Inf? */
    struct mdl__node *tape; /* newest node of this step (the tape, see >>autograd) */
    unsigned mark;          /* bumped by every backward pass to mark the nodes it needs */
    mdl_tensor *tensors;    /* this step's tensors, newest first (the stale check) */
    mdl_tensor *dead_first; /* dead tensors' headers, oldest first (the stale check) */
    mdl_tensor *dead_last;
    size_t dead_count;
};

// >>errors

static mdl_error_handler mdl__handler;
static void *mdl__handler_user;
static mdl_error mdl__last_code;
static char mdl__last_message[512];

#define MDL__NAME_ITEM(code, text) #code,
static const char *const mdl__error_names[] = {MDL_ERRORS(MDL__NAME_ITEM)};
#undef MDL__NAME_ITEM

MDLDEF const char *mdl_error_name(mdl_error code) {
    if ((int)code < 0 || (int)code >= (int)MDL_ERROR_COUNT) return "MDL_ERR_UNKNOWN";
    return mdl__error_names[code];
}

MDLDEF mdl_error_handler mdl_set_error_handler(mdl_error_handler handler, void *user) {
    mdl_error_handler previous = mdl__handler;
    mdl__handler = handler;
    mdl__handler_user = user;
    return previous;
}

MDLDEF mdl_error mdl_last_error_code(void) { return mdl__last_code; }
MDLDEF const char *mdl_last_error(void) { return mdl__last_message; }
MDLDEF void mdl_clear_error(void) {
    mdl__last_code = MDL_OK;
    mdl__last_message[0] = 0;
}

/* Write "minidl: error: <fn>: <what>" into the last-error buffer. */
static void mdl__set_message(mdl_error code, const char *fn, const char *fmt, va_list ap) {
    int n = snprintf(mdl__last_message, sizeof mdl__last_message, "minidl: error: %s: ", fn);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof mdl__last_message)
        vsnprintf(mdl__last_message + n, sizeof mdl__last_message - (size_t)n, fmt, ap);
    mdl__last_code = code;
}

/* A contract error: the calling program is wrong. Goes to the handler; the default aborts. */
static void mdl__fail(mdl_error code, const char *fn, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mdl__set_message(code, fn, fmt, ap);
    va_end(ap);
    if (mdl__handler) {
        mdl__handler(code, mdl__last_message, mdl__handler_user);
        return;
    }
    fprintf(stderr, "%s\n", mdl__last_message);
    abort();
}

/* An environmental error: remembered for mdl_last_error, never aborts. Returns the code. */
static mdl_error mdl__env_error(mdl_error code, const char *fn, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mdl__set_message(code, fn, fmt, ap);
    va_end(ap);
    return code;
}

/* "[2,3,4]" from a rank and sizes. */
static char *mdl__shape_fmt(int ndim, const int *shape, char *buf, size_t size) {
    size_t n = 0;
    int i;
    if (size == 0) return buf;
    buf[0] = 0;
    if (ndim < 0 || ndim > MDL_MAX_DIMS || (ndim > 0 && !shape)) {
        snprintf(buf, size, "[?]");
        return buf;
    }
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%d" : "%d", shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

MDLDEF char *mdl_shape_str(const mdl_tensor *t, char *buf, size_t size) {
    if (!t) {
        if (size) snprintf(buf, size, "(null)");
        return buf;
    }
    return mdl__shape_fmt(t->ndim, t->shape, buf, size);
}

/* Is `t` usable as input `what` of `fn`? A NULL after an earlier error is passed on quietly
   (the first error was already reported); a NULL out of nowhere is a mistake of its own. */
static int mdl__usable(const char *fn, const char *what, const mdl_tensor *t) {
    if (!t) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", what);
        return 0;
    }
#ifdef MDL__STALE_CHECK
    if (t->magic != MDL__LIVE) {
        if (t->magic == MDL__DEAD)
            mdl__fail(MDL_ERR_STALE, fn,
                      "%s was made in step %ld of its arena, which mdl_arena_reset has since "
                      "freed (the arena is at step %ld); make it again in this step, or keep it "
                      "in a persistent tensor (mdl_params_add_buffer + mdl_copy)",
                      what, t->step, t->arena ? t->arena->step : -1L);
        else
            mdl__fail(MDL_ERR_STALE, fn, "%s is not a live minidl tensor (freed or garbage)",
                      what);
        return 0;
    }
#endif
    return 1;
}

static int mdl__usable_arena(const char *fn, const mdl_arena *ar) {
    if (!ar) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the arena is NULL");
        return 0;
    }
    return 1;
}

// >>memory

static size_t mdl__round_up(size_t n) { return (n + (MDL__ALIGN - 1)) & ~(size_t)(MDL__ALIGN - 1); }

static mdl__block *mdl__block_new(size_t size) {
    size_t total = sizeof(mdl__block) + MDL__ALIGN + size;
    mdl__block *b;
    if (total < size) return NULL; /* size_t overflow */
    b = (mdl__block *)MINIDL_MALLOC(total);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    b->base = (char *)(b + 1);
    b->base += (MDL__ALIGN - (size_t)((uintptr_t)b->base % MDL__ALIGN)) % MDL__ALIGN;
    return b;
}

static void mdl__blocks_free(mdl__block *b) {
    while (b) {
        mdl__block *next = b->next;
        MINIDL_FREE(b);
        b = next;
    }
}

/* Hand out `bytes` from the arena, aligned; a new block (twice the last) when the current one
   is full. NULL with MDL_ERR_NOMEM in mdl_last_error when the system has no more memory. */
static void *mdl__alloc(mdl_arena *ar, size_t bytes) {
    size_t padded = mdl__round_up(bytes);
    mdl__block *b = ar->blocks;
    char *p;
    if (padded < bytes) {
        mdl__env_error(MDL_ERR_NOMEM, "mdl_arena", "cannot allocate %zu bytes", bytes);
        return NULL;
    }
    if (!b || b->size - b->used < padded) {
        size_t size = b ? 2 * b->size : (ar->high_water > ar->initial ? ar->high_water : ar->initial);
        mdl__block *nb;
        if (size < padded) size = padded;
        nb = mdl__block_new(size);
        if (!nb) {
            mdl__env_error(MDL_ERR_NOMEM, "mdl_arena", "out of memory: a step needs %zu more "
                           "bytes (the arena holds %zu)", padded, ar->reserved);
            return NULL;
        }
        nb->next = ar->blocks;
        ar->blocks = nb;
        ar->reserved += size;
        b = nb;
    }
    p = b->base + b->used;
    b->used += padded;
    ar->used += padded;
    if (ar->used > ar->high_water) ar->high_water = ar->used;
    return p;
}

static void *mdl__alloc_zero(mdl_arena *ar, size_t bytes) {
    void *p = mdl__alloc(ar, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

MDLDEF mdl_arena *mdl_arena_new(size_t initial_bytes) {
    mdl_arena *ar = (mdl_arena *)MINIDL_MALLOC(sizeof(mdl_arena));
    if (!ar) {
        mdl__env_error(MDL_ERR_NOMEM, "mdl_arena_new", "out of memory");
        return NULL;
    }
    memset(ar, 0, sizeof *ar);
    ar->initial = initial_bytes ? mdl__round_up(initial_bytes) : (size_t)1 << 20;
    ar->grad_enabled = 1;
    ar->blocks = mdl__block_new(ar->initial);
    if (!ar->blocks) {
        MINIDL_FREE(ar);
        mdl__env_error(MDL_ERR_NOMEM, "mdl_arena_new", "out of memory for %zu bytes",
                       initial_bytes);
        return NULL;
    }
    ar->reserved = ar->initial;
    return ar;
}

#ifdef MDL__STALE_CHECK
/* With the stale check, tensor headers live outside the arena, one malloc each, so that a header
   stays readable after its arena's reset: an op given it sees the DEAD mark and the step it
   came from. The newest MDL__GRAVEYARD dead headers are kept; older ones are freed (a use that
   late is left to AddressSanitizer or valgrind). */
#define MDL__GRAVEYARD 65536

static void mdl__headers_free(mdl_tensor *t) {
    while (t) {
        mdl_tensor *next = t->next_in_arena;
        MINIDL_FREE(t);
        t = next;
    }
}
#endif

MDLDEF void mdl_arena_free(mdl_arena *ar) {
    if (!ar) return;
    mdl__blocks_free(ar->blocks);
#ifdef MDL__STALE_CHECK
    mdl__headers_free(ar->tensors);
    mdl__headers_free(ar->dead_first);
#endif
    MINIDL_FREE(ar);
}

MDLDEF void mdl_arena_reset(mdl_arena *ar) {
    if (!ar) return;
#ifdef MDL__STALE_CHECK
    /* The stale check: mark this step's tensors dead and move their headers to the graveyard. */
    while (ar->tensors) {
        mdl_tensor *t = ar->tensors;
        ar->tensors = t->next_in_arena;
        t->magic = MDL__DEAD;
        t->next_in_arena = NULL;
        if (ar->dead_last)
            ar->dead_last->next_in_arena = t;
        else
            ar->dead_first = t;
        ar->dead_last = t;
        if (++ar->dead_count > MDL__GRAVEYARD) { /* forget the oldest */
            mdl_tensor *oldest = ar->dead_first;
            ar->dead_first = oldest->next_in_arena;
            MINIDL_FREE(oldest);
            ar->dead_count--;
        }
    }
#endif
    if (ar->blocks && ar->blocks->next) {
        /* The step outgrew the first block: trade the blocks for one that holds a whole step,
           so that from now on a reset is just "used = 0" and memory stays flat. */
        mdl__blocks_free(ar->blocks);
        ar->blocks = mdl__block_new(ar->high_water);
        ar->reserved = ar->blocks ? ar->high_water : 0;
    } else if (ar->blocks) {
        ar->blocks->used = 0;
    }
    ar->tape = NULL;
    ar->used = 0;
    ar->step++;
}

MDLDEF size_t mdl_arena_used(const mdl_arena *ar) { return ar ? ar->used : 0; }
MDLDEF size_t mdl_arena_high_water(const mdl_arena *ar) { return ar ? ar->high_water : 0; }
MDLDEF size_t mdl_arena_reserved(const mdl_arena *ar) { return ar ? ar->reserved : 0; }
MDLDEF long mdl_arena_step(const mdl_arena *ar) { return ar ? ar->step : 0; }

MDLDEF int mdl_set_grad_enabled(mdl_arena *ar, int enabled) {
    int previous;
    if (!mdl__usable_arena("mdl_set_grad_enabled", ar)) return 0;
    previous = ar->grad_enabled;
    ar->grad_enabled = enabled != 0;
    return previous;
}

MDLDEF int mdl_set_detect_anomaly(mdl_arena *ar, int enabled) {
    int previous;
    if (!mdl__usable_arena("mdl_set_detect_anomaly", ar)) return 0;
    previous = ar->anomaly;
    ar->anomaly = enabled != 0;
    return previous;
}

/* Validate a shape and count its elements; reports MDL_ERR_SIZE and returns 0 with *ok = 0
   for a negative size, a rank out of range or an absurd element count. */
static size_t mdl__numel_checked(const char *fn, int ndim, const int *shape, int *ok) {
    double total = 1;
    size_t numel = 1;
    char buf[128];
    int i;
    *ok = 0;
    if (ndim < 0 || ndim > MDL_MAX_DIMS) {
        mdl__fail(MDL_ERR_SIZE, fn, "rank %d is outside 0..%d", ndim, MDL_MAX_DIMS);
        return 0;
    }
    if (ndim > 0 && !shape) {
        mdl__fail(MDL_ERR_NULL, fn, "shape is NULL for a rank-%d tensor", ndim);
        return 0;
    }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            mdl__fail(MDL_ERR_SIZE, fn, "shape %s: size %d of axis %d is negative",
                      mdl__shape_fmt(ndim, shape, buf, sizeof buf), shape[i], i);
            return 0;
        }
        total *= (double)shape[i];
        numel *= (size_t)shape[i];
    }
    if (total > MDL__MAX_NUMEL) {
        mdl__fail(MDL_ERR_SIZE, fn, "shape %s has %.0f elements, more than minidl allows (2^36)",
                  mdl__shape_fmt(ndim, shape, buf, sizeof buf), total);
        return 0;
    }
    *ok = 1;
    return numel;
}

/* Fill in shape, strides and numel of a header. */
static void mdl__set_shape(mdl_tensor *t, int ndim, const int *shape, size_t numel) {
    int i;
    size_t stride = 1;
    t->ndim = ndim;
    t->numel = numel;
    for (i = MDL_MAX_DIMS - 1; i >= 0; i--) {
        t->shape[i] = i < ndim ? shape[i] : 1;
        t->stride[i] = 0;
    }
    for (i = ndim - 1; i >= 0; i--) {
        t->stride[i] = stride;
        stride *= (size_t)shape[i];
    }
}

/* A new arena tensor: header always, data from the arena unless `data` is given (a view or a
   borrowed buffer). zero = 1 clears the new data. NULL after reporting on a bad shape. */
static mdl_tensor *mdl__make(mdl_arena *ar, const char *fn, int ndim, const int *shape,
                             mdl_scalar *data, int zero) {
    int ok;
    size_t numel = mdl__numel_checked(fn, ndim, shape, &ok);
    mdl_tensor *t;
    if (!ok) return NULL;
#ifdef MDL__STALE_CHECK
    t = (mdl_tensor *)MINIDL_MALLOC(sizeof(mdl_tensor));
    if (!t) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a tensor header");
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->next_in_arena = ar->tensors; /* linked first, so the arena frees it whatever happens */
    ar->tensors = t;
#else
    t = (mdl_tensor *)mdl__alloc_zero(ar, sizeof(mdl_tensor));
    if (!t) return NULL;
#endif
    mdl__set_shape(t, ndim, shape, numel);
    if (data) {
        t->data = data;
    } else {
        t->data = (mdl_scalar *)(zero ? mdl__alloc_zero(ar, numel * sizeof(mdl_scalar))
                                      : mdl__alloc(ar, numel * sizeof(mdl_scalar)));
        if (!t->data) return NULL;
    }
    t->lifetime = MDL_ARENA;
    t->arena = ar;
    t->step = ar->step;
    t->magic = MDL__LIVE;
    return t;
}

/* Parameter sets: each tensor is one malloc block, header + data + room for the gradient. */
struct mdl_params {
    mdl_tensor **items;
    int count, capacity;
};

MDLDEF mdl_params *mdl_params_new(void) {
    mdl_params *ps = (mdl_params *)MINIDL_MALLOC(sizeof(mdl_params));
    if (!ps) {
        mdl__env_error(MDL_ERR_NOMEM, "mdl_params_new", "out of memory");
        return NULL;
    }
    ps->items = NULL;
    ps->count = ps->capacity = 0;
    return ps;
}

MDLDEF void mdl_params_free(mdl_params *ps) {
    int i;
    if (!ps) return;
    for (i = 0; i < ps->count; i++) MINIDL_FREE(ps->items[i]);
    MINIDL_FREE(ps->items);
    MINIDL_FREE(ps);
}

MDLDEF mdl_tensor *mdl_params_find(const mdl_params *ps, const char *name) {
    int i;
    if (!ps || !name) return NULL;
    for (i = 0; i < ps->count; i++)
        if (strcmp(ps->items[i]->name, name) == 0) return ps->items[i];
    return NULL;
}

/* The gradient's room in a persistent block: right after the data, aligned. */
static mdl_scalar *mdl__persistent_grad(mdl_tensor *t) {
    return (mdl_scalar *)((char *)t->data + mdl__round_up(t->numel * sizeof(mdl_scalar)));
}

static mdl_tensor *mdl__params_add(mdl_params *ps, const char *fn, const char *name, int ndim,
                                   const int *shape, int requires_grad) {
    int ok;
    size_t numel, data_bytes, name_len, total;
    char *block;
    mdl_tensor *t;
    if (!ps) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the parameter set is NULL");
        return NULL;
    }
    if (!name || !name[0]) {
        mdl__fail(name ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "a parameter needs a non-empty name");
        return NULL;
    }
    if (mdl_params_find(ps, name)) {
        mdl__fail(MDL_ERR_ARG, fn, "the set already has a tensor named \"%s\"", name);
        return NULL;
    }
    numel = mdl__numel_checked(fn, ndim, shape, &ok);
    if (!ok) return NULL;
    if (ps->count == ps->capacity) { /* grow the list: twice the room, copied over */
        int cap = ps->capacity ? 2 * ps->capacity : 16;
        mdl_tensor **items = (mdl_tensor **)MINIDL_MALLOC((size_t)cap * sizeof(mdl_tensor *));
        if (!items) {
            mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory adding \"%s\"", name);
            return NULL;
        }
        if (ps->count) memcpy(items, ps->items, (size_t)ps->count * sizeof(mdl_tensor *));
        MINIDL_FREE(ps->items);
        ps->items = items;
        ps->capacity = cap;
    }
    /* header | pad to 64 | data | pad | grad | pad | name */
    data_bytes = mdl__round_up(numel * sizeof(mdl_scalar));
    name_len = strlen(name) + 1;
    total = mdl__round_up(sizeof(mdl_tensor)) + MDL__ALIGN + 2 * data_bytes + name_len;
    block = (char *)MINIDL_MALLOC(total);
    if (!block) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for \"%s\" (%zu bytes)", name, total);
        return NULL;
    }
    memset(block, 0, total);
    t = (mdl_tensor *)block;
    mdl__set_shape(t, ndim, shape, numel);
    {
        char *data = block + sizeof(mdl_tensor);
        data += (MDL__ALIGN - (size_t)((uintptr_t)data % MDL__ALIGN)) % MDL__ALIGN;
        t->data = (mdl_scalar *)data;
        memcpy(data + 2 * data_bytes, name, name_len);
        t->name = data + 2 * data_bytes;
    }
    t->requires_grad = requires_grad;
    t->grad = requires_grad ? mdl__persistent_grad(t) : NULL;
    t->lifetime = MDL_PERSISTENT;
    t->magic = MDL__LIVE;
    ps->items[ps->count++] = t;
    return t;
}

MDLDEF mdl_tensor *mdl_params_add(mdl_params *ps, const char *name, int ndim, const int *shape) {
    return mdl__params_add(ps, "mdl_params_add", name, ndim, shape, 1);
}

MDLDEF mdl_tensor *mdl_params_add_buffer(mdl_params *ps, const char *name, int ndim,
                                         const int *shape) {
    return mdl__params_add(ps, "mdl_params_add_buffer", name, ndim, shape, 0);
}

MDLDEF int mdl_params_count(const mdl_params *ps) { return ps ? ps->count : 0; }

MDLDEF mdl_tensor *mdl_params_get(const mdl_params *ps, int i) {
    if (!ps || i < 0 || i >= ps->count) {
        mdl__fail(MDL_ERR_ARG, "mdl_params_get", "index %d is outside 0..%d", i,
                  ps ? ps->count - 1 : -1);
        return NULL;
    }
    return ps->items[i];
}

MDLDEF void mdl_params_zero_grad(mdl_params *ps) {
    int i;
    if (!ps) return;
    for (i = 0; i < ps->count; i++) mdl_zero_grad(ps->items[i]);
}

// >>random

/* PCG32 (O'Neill, 2014): a 64-bit linear congruential step, and an output that xors the high
   bits together and rotates by an amount the state itself chooses. Small, fast and good. */
MDLDEF uint32_t mdl_rng_u32(mdl_rng *rng) {
    uint64_t old = rng->state;
    uint32_t xorshifted, rot;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

MDLDEF void mdl_rng_seed(mdl_rng *rng, uint64_t seed) {
    rng->state = 0;
    rng->inc = ((seed ^ 0x9e3779b97f4a7c15ULL) << 1) | 1u; /* the stream; must be odd */
    mdl_rng_u32(rng);
    rng->state += seed;
    mdl_rng_u32(rng);
    rng->has_spare = 0;
    rng->spare = 0;
}

MDLDEF double mdl_rng_uniform(mdl_rng *rng) {
    /* 53 random bits, the precision of a double: 27 from one draw, 26 from the next */
    uint32_t hi = mdl_rng_u32(rng) >> 5, lo = mdl_rng_u32(rng) >> 6;
    return ((double)hi * 67108864.0 + (double)lo) / 9007199254740992.0;
}

MDLDEF double mdl_rng_normal(mdl_rng *rng) {
    /* Box-Muller: two uniforms become two independent normals; keep the second for later. */
    double u1, u2, r;
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    u1 = 1.0 - mdl_rng_uniform(rng); /* in (0, 1]: log(u1) is finite */
    u2 = mdl_rng_uniform(rng);
    r = sqrt(-2.0 * log(u1));
    rng->spare = r * sin(2.0 * MDL__PI * u2);
    rng->has_spare = 1;
    return r * cos(2.0 * MDL__PI * u2);
}

// >>tensors

MDLDEF mdl_tensor *mdl_full(mdl_arena *ar, int ndim, const int *shape, mdl_scalar value) {
    mdl_tensor *t;
    size_t i;
    if (!mdl__usable_arena("mdl_full", ar)) return NULL;
    t = mdl__make(ar, "mdl_full", ndim, shape, NULL, 0);
    if (t)
        for (i = 0; i < t->numel; i++) t->data[i] = value;
    return t;
}

MDLDEF mdl_tensor *mdl_zeros(mdl_arena *ar, int ndim, const int *shape) {
    if (!mdl__usable_arena("mdl_zeros", ar)) return NULL;
    return mdl__make(ar, "mdl_zeros", ndim, shape, NULL, 1);
}

MDLDEF mdl_tensor *mdl_ones(mdl_arena *ar, int ndim, const int *shape) {
    mdl_tensor *t;
    size_t i;
    if (!mdl__usable_arena("mdl_ones", ar)) return NULL;
    t = mdl__make(ar, "mdl_ones", ndim, shape, NULL, 0);
    if (t)
        for (i = 0; i < t->numel; i++) t->data[i] = 1;
    return t;
}

MDLDEF mdl_tensor *mdl_from_array(mdl_arena *ar, int ndim, const int *shape,
                                  const mdl_scalar *values) {
    mdl_tensor *t;
    if (!mdl__usable_arena("mdl_from_array", ar)) return NULL;
    if (!values) {
        mdl__fail(MDL_ERR_NULL, "mdl_from_array", "values is NULL");
        return NULL;
    }
    t = mdl__make(ar, "mdl_from_array", ndim, shape, NULL, 0);
    if (t && t->numel) memcpy(t->data, values, t->numel * sizeof(mdl_scalar));
    return t;
}

MDLDEF mdl_tensor *mdl_wrap(mdl_arena *ar, int ndim, const int *shape, mdl_scalar *data) {
    mdl_tensor *t;
    if (!mdl__usable_arena("mdl_wrap", ar)) return NULL;
    if (!data) {
        mdl__fail(MDL_ERR_NULL, "mdl_wrap", "data is NULL");
        return NULL;
    }
    t = mdl__make(ar, "mdl_wrap", ndim, shape, data, 0);
    if (t) t->lifetime = MDL_BORROWED;
    return t;
}

MDLDEF mdl_tensor *mdl_arange(mdl_arena *ar, double start, double stop, double step) {
    double count;
    int n;
    mdl_tensor *t;
    if (!mdl__usable_arena("mdl_arange", ar)) return NULL;
    if (step == 0 || step != step || start != start || stop != stop) {
        mdl__fail(MDL_ERR_ARG, "mdl_arange", "step must be a non-zero number (start %g, stop "
                  "%g, step %g)", start, stop, step);
        return NULL;
    }
    count = ceil((stop - start) / step);
    if (count < 0) count = 0;
    if (count > (double)INT_MAX) {
        mdl__fail(MDL_ERR_SIZE, "mdl_arange", "%.0f elements are too many", count);
        return NULL;
    }
    n = (int)count;
    t = mdl__make(ar, "mdl_arange", 1, &n, NULL, 0);
    if (t) {
        int i;
        for (i = 0; i < n; i++) t->data[i] = (mdl_scalar)(start + i * step);
    }
    return t;
}

MDLDEF void mdl_fill(mdl_tensor *t, mdl_scalar value) {
    size_t i;
    if (!mdl__usable("mdl_fill", "t", t)) return;
    for (i = 0; i < t->numel; i++) t->data[i] = value;
}

MDLDEF void mdl_fill_uniform(mdl_tensor *t, mdl_rng *rng, double lo, double hi) {
    size_t i;
    if (!mdl__usable("mdl_fill_uniform", "t", t)) return;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, "mdl_fill_uniform", "rng is NULL");
        return;
    }
    for (i = 0; i < t->numel; i++) {
        mdl_scalar v = (mdl_scalar)(lo + (hi - lo) * mdl_rng_uniform(rng));
        /* a draw just below 1 can round up to hi in float: step back inside [lo, hi) */
        if (hi > lo && v >= (mdl_scalar)hi) v = MDL__NEXTAFTER((mdl_scalar)hi, (mdl_scalar)lo);
        t->data[i] = v;
    }
}

MDLDEF void mdl_fill_normal(mdl_tensor *t, mdl_rng *rng, double mean, double std) {
    size_t i;
    if (!mdl__usable("mdl_fill_normal", "t", t)) return;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, "mdl_fill_normal", "rng is NULL");
        return;
    }
    for (i = 0; i < t->numel; i++) t->data[i] = (mdl_scalar)(mean + std * mdl_rng_normal(rng));
}

MDLDEF mdl_tensor *mdl_rand(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape, double lo,
                            double hi) {
    mdl_tensor *t;
    if (!mdl__usable_arena("mdl_rand", ar)) return NULL;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, "mdl_rand", "rng is NULL");
        return NULL;
    }
    t = mdl__make(ar, "mdl_rand", ndim, shape, NULL, 0);
    if (t) mdl_fill_uniform(t, rng, lo, hi);
    return t;
}

MDLDEF mdl_tensor *mdl_randn(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape,
                             double mean, double std) {
    mdl_tensor *t;
    if (!mdl__usable_arena("mdl_randn", ar)) return NULL;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, "mdl_randn", "rng is NULL");
        return NULL;
    }
    t = mdl__make(ar, "mdl_randn", ndim, shape, NULL, 0);
    if (t) mdl_fill_normal(t, rng, mean, std);
    return t;
}

MDLDEF void mdl_copy(mdl_tensor *dst, const mdl_tensor *src) {
    char a[96], b[96];
    if (!mdl__usable("mdl_copy", "dst", dst) || !mdl__usable("mdl_copy", "src", src)) return;
    if (dst->numel != src->numel) {
        mdl__fail(MDL_ERR_SHAPE, "mdl_copy", "dst %s and src %s differ in size (%zu vs %zu "
                  "elements)", mdl_shape_str(dst, a, sizeof a), mdl_shape_str(src, b, sizeof b),
                  dst->numel, src->numel);
        return;
    }
    if (dst->data != src->data && src->numel)
        memmove(dst->data, src->data, src->numel * sizeof(mdl_scalar));
}

MDLDEF size_t mdl_numel(const mdl_tensor *t) { return t ? t->numel : 0; }

MDLDEF double mdl_item(const mdl_tensor *t) {
    if (!t) return 0;
    if (!mdl__usable("mdl_item", "t", t)) return 0;
    if (t->numel != 1) {
        char buf[96];
        mdl__fail(MDL_ERR_SHAPE, "mdl_item", "t %s has %zu elements, not one",
                  mdl_shape_str(t, buf, sizeof buf), t->numel);
        return 0;
    }
    return (double)t->data[0];
}

/* Printing, PyTorch style: nested brackets, 4 decimals, and for more than 1000 elements only
   the first and last 3 entries of each axis with "..." between. */
static void mdl__print_axis(FILE *f, const mdl_tensor *t, int axis, size_t offset, int shorten,
                            const char *format) {
    int n = t->shape[axis], i;
    fputc('[', f);
    for (i = 0; i < n; i++) {
        if (shorten && n > 6 && i == 3) {
            fputs(axis == t->ndim - 1 ? "..., " : "...,\n", f);
            if (axis != t->ndim - 1) fprintf(f, "%*s", axis + 1, "");
            i = n - 3;
        }
        if (axis == t->ndim - 1) {
            fprintf(f, format, (double)t->data[offset + (size_t)i]);
        } else {
            mdl__print_axis(f, t, axis + 1, offset + (size_t)i * t->stride[axis], shorten,
                            format);
        }
        if (i < n - 1) {
            if (axis == t->ndim - 1) {
                fputs(", ", f);
            } else {
                int blank;
                fputs(",\n", f);
                for (blank = 0; blank < t->ndim - axis - 2; blank++) fputc('\n', f);
                fprintf(f, "%*s", axis + 1, "");
            }
        }
    }
    fputc(']', f);
}

MDLDEF void mdl_fprint(FILE *f, const mdl_tensor *t) {
    char buf[128];
    double big = 0, small = 0;
    size_t i;
    const char *format;
    if (!f || !mdl__usable("mdl_print", "t", t)) return;
    for (i = 0; i < t->numel; i++) {
        double v = fabs((double)t->data[i]);
        if (v > big) big = v;
        if (v > 0 && (small == 0 || v < small)) small = v;
    }
    /* fixed point unless the values would not show in it */
    format = (big >= 1e5 || (small > 0 && small < 1e-4)) ? "%11.4e" : "%8.4f";
    fprintf(f, "tensor %s%s\n", mdl_shape_str(t, buf, sizeof buf),
            t->requires_grad ? " requires_grad" : "");
    if (t->ndim == 0) {
        fprintf(f, format, (double)t->data[0]);
    } else if (t->numel == 0) {
        fputs("[]", f);
    } else {
        mdl__print_axis(f, t, 0, 0, t->numel > 1000, format);
    }
    fputc('\n', f);
}

MDLDEF void mdl_print(const mdl_tensor *t) { mdl_fprint(stdout, t); }

// >>autograd

/* One recorded op on the autograd tape. The tape is a linked list, newest first; because an
   op can only use tensors that already exist, walking it from newest to oldest visits every
   node after all the nodes that consumed its output: a reverse topological order for free. */
typedef struct mdl__node {
    mdl_op op;
    mdl_tensor *out;       /* the tensor this op computed */
    mdl_tensor **in;       /* its inputs */
    int n_in;
    double f[2];           /* scalar arguments: s of add_scalar, p of pow, lo and hi of clamp */
    int arg[4];            /* integer arguments: an axis, a slice start, keepdim ... */
    void *saved;           /* what else backward needs: argmax positions, index lists */
    struct mdl__node *prev; /* the node recorded before this one */
    unsigned mark;         /* equals the arena's mark while a backward pass needs this node */
} mdl__node;

#define MDL__OP_NAME_ITEM(name, fn, backward) fn,
static const char *const mdl__op_names[] = {MDL_OPS(MDL__OP_NAME_ITEM)};
#undef MDL__OP_NAME_ITEM

MDLDEF const char *mdl_op_name(mdl_op op) {
    if ((int)op < 0 || (int)op >= (int)MDL_OP_COUNT) return "mdl_unknown_op";
    return mdl__op_names[op];
}

/* The gradient buffer of an input during backward, made (zeroed) on first use; NULL when the
   input does not want a gradient. Arena tensors get theirs from their arena; parameters have
   theirs already. */
static mdl_scalar *mdl__grad_of(mdl_tensor *t) {
    if (!t->requires_grad) return NULL;
    if (!t->grad) {
        if (t->lifetime == MDL_PERSISTENT) {
            t->grad = mdl__persistent_grad(t);
            memset(t->grad, 0, t->numel * sizeof(mdl_scalar));
        } else {
            t->grad = (mdl_scalar *)mdl__alloc_zero(t->arena, t->numel * sizeof(mdl_scalar));
        }
    }
    return t->grad;
}

/* With anomaly detection on: is every value finite? If not, report which op, pass and
   element made the first NaN or Inf. */
static int mdl__check_finite(const char *fn, const char *pass, const char *what,
                             const mdl_tensor *t, const mdl_scalar *v) {
    size_t i;
    char buf[96];
    for (i = 0; i < t->numel; i++) {
        if (!isfinite(v[i])) {
            mdl__fail(MDL_ERR_NONFINITE, fn, "%s produced %s at element %zu of %s %s "
                      "(anomaly detection)", pass, v[i] != v[i] ? "NaN" : (v[i] > 0 ? "+inf" : "-inf"),
                      i, what, mdl_shape_str(t, buf, sizeof buf));
            return 0;
        }
    }
    return 1;
}

/* Every op ends here: check the output when anomaly detection is on, then, if grad mode is on
   and some input requires grad, record a tape node for the backward pass. Returns 0 after an
   error. The caller fills in the node's arguments when out->node is set. */
static int mdl__finish(mdl_arena *ar, const char *fn, mdl_op op, mdl_tensor *out, int n,
                       mdl_tensor *const *in) {
    mdl__node *node;
    int i, needed = 0;
    if (ar->anomaly && !mdl__check_finite(fn, "forward", "the output", out, out->data)) return 0;
    if (!ar->grad_enabled) return 1;
    for (i = 0; i < n; i++) {
        if (in[i]->requires_grad) needed = 1;
        if (in[i]->node && in[i]->arena != ar) {
            mdl__fail(MDL_ERR_GRAPH, fn, "input %d was computed in another arena; one graph must "
                      "live in one arena (mdl_detach the input, or use the same arena)", i);
            return 0;
        }
    }
    if (!needed) return 1;
    node = (mdl__node *)mdl__alloc_zero(ar, sizeof(mdl__node));
    if (!node) return 0;
    node->in = (mdl_tensor **)mdl__alloc(ar, (size_t)n * sizeof(mdl_tensor *));
    if (!node->in) return 0;
    for (i = 0; i < n; i++) node->in[i] = in[i];
    node->n_in = n;
    node->op = op;
    node->out = out;
    node->prev = ar->tape;
    ar->tape = node;
    out->node = node;
    out->requires_grad = 1;
    return 1;
}

/* One backward per op, in MDL_OPS order: node->op indexes it. Each is defined in its op's
   block in >>ops, beside the forward; these declarations let the table come first. */
typedef void (*mdl__backward_fn)(mdl__node *node);
#define MDL__BACKWARD_DECL(name, fn, backward) static void backward(mdl__node *node);
MDL_OPS(MDL__BACKWARD_DECL)
#undef MDL__BACKWARD_DECL
#define MDL__BACKWARD_ITEM(name, fn, backward) backward,
static const mdl__backward_fn mdl__backward_table[] = {MDL_OPS(MDL__BACKWARD_ITEM)};
#undef MDL__BACKWARD_ITEM

/* Mark every node that y depends on with a fresh mark, walking the tape from y's node back.
   Because the tape is newest first, a node's consumers are always met before the node itself:
   by the time we reach it, it is marked if anything marked uses it. */
static unsigned mdl__mark_graph(mdl_tensor *y) {
    mdl_arena *ar = y->arena;
    unsigned mark = ++ar->mark;
    mdl__node *node;
    int i;
    y->node->mark = mark;
    for (node = y->node; node; node = node->prev) {
        if (node->mark != mark) continue;
        for (i = 0; i < node->n_in; i++)
            if (node->in[i]->node) node->in[i]->node->mark = mark;
    }
    return mark;
}

static mdl_error mdl__backward(const char *fn, mdl_tensor *y, const mdl_scalar *dy) {
    mdl_arena *ar;
    mdl__node *node;
    unsigned mark;
    size_t i;
    int k;
    if (!y->requires_grad) {
        mdl__fail(MDL_ERR_GRAPH, fn, "y does not require grad: nothing it was computed from "
                  "asked for a gradient (use mdl_params_add or mdl_set_requires_grad, and keep "
                  "grad mode on)");
        return MDL_ERR_GRAPH;
    }
    if (!y->node) { /* y is a leaf: its gradient is dy itself */
        mdl_scalar *g = mdl__grad_of(y);
        if (!g) return mdl__last_code;
        for (i = 0; i < y->numel; i++) g[i] += dy ? dy[i] : 1;
        return MDL_OK;
    }
    ar = y->arena;
    /* Pass 1: mark what y depends on, and forget the gradients that an earlier backward left
       in intermediate results (leaves keep theirs: they accumulate). */
    mark = mdl__mark_graph(y);
    for (node = y->node; node; node = node->prev)
        if (node->mark == mark) node->out->grad = NULL;
    /* Seed: d(y)/d(y) = 1, or the given dy. */
    if (!mdl__grad_of(y)) return mdl__last_code;
    if (dy)
        memcpy(y->grad, dy, y->numel * sizeof(mdl_scalar));
    else
        for (i = 0; i < y->numel; i++) y->grad[i] = 1;
    /* Pass 2: run each marked node's backward, newest first (reverse topological order). */
    for (node = y->node; node; node = node->prev) {
        if (node->mark != mark || !node->out->grad) continue;
        mdl__backward_table[node->op](node);
        if (ar->anomaly) {
            for (k = 0; k < node->n_in; k++) {
                char what[48];
                snprintf(what, sizeof what, "the gradient of input %d", k);
                if (node->in[k]->grad &&
                    !mdl__check_finite(mdl__op_names[node->op], "backward", what, node->in[k],
                                       node->in[k]->grad))
                    return MDL_ERR_NONFINITE;
            }
        }
    }
    return MDL_OK;
}

MDLDEF mdl_error mdl_backward(mdl_tensor *y) {
    if (!mdl__usable("mdl_backward", "y", y)) return y ? mdl__last_code : MDL_ERR_NULL;
    if (y->numel != 1) {
        char buf[96];
        mdl__fail(MDL_ERR_SHAPE, "mdl_backward", "y %s has %zu elements; backward starts from one "
                  "number (a loss: mdl_sum or mdl_mean it, or use mdl_backward_with)",
                  mdl_shape_str(y, buf, sizeof buf), y->numel);
        return MDL_ERR_SHAPE;
    }
    return mdl__backward("mdl_backward", y, NULL);
}

MDLDEF mdl_error mdl_backward_with(mdl_tensor *y, const mdl_tensor *dy) {
    const char *fn = "mdl_backward_with";
    if (!mdl__usable(fn, "y", y) || !mdl__usable(fn, "dy", dy))
        return mdl__last_code ? mdl__last_code : MDL_ERR_NULL;
    if (dy->numel != y->numel) {
        char by[96], bd[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "y %s and dy %s differ in size",
                  mdl_shape_str(y, by, sizeof by), mdl_shape_str(dy, bd, sizeof bd));
        return MDL_ERR_SHAPE;
    }
    return mdl__backward(fn, y, dy->data);
}

MDLDEF mdl_tensor *mdl_detach(mdl_arena *ar, mdl_tensor *x) {
    if (!mdl__usable_arena("mdl_detach", ar) || !mdl__usable("mdl_detach", "x", x)) return NULL;
    return mdl__make(ar, "mdl_detach", x->ndim, x->shape, x->data, 0);
}

MDLDEF void mdl_set_requires_grad(mdl_tensor *t, int requires_grad) {
    if (!mdl__usable("mdl_set_requires_grad", "t", t)) return;
    if (t->node) {
        mdl__fail(MDL_ERR_GRAPH, "mdl_set_requires_grad", "t was computed by %s; only leaf "
                  "tensors (made directly, not by an op) can change requires_grad "
                  "(mdl_detach it first)", mdl__op_names[t->node->op]);
        return;
    }
    t->requires_grad = requires_grad != 0;
    if (t->requires_grad && t->lifetime == MDL_PERSISTENT && !t->grad) mdl__grad_of(t);
}

MDLDEF void mdl_zero_grad(mdl_tensor *t) {
    if (!mdl__usable("mdl_zero_grad", "t", t)) return;
    if (t->grad) memset(t->grad, 0, t->numel * sizeof(mdl_scalar));
}

// >>ops

/* Turn a possibly negative axis into 0..ndim-1; report MDL_ERR_ARG and return -1 if it is out
   of range. MDL_ALL is passed through when allow_all is set. */
static int mdl__axis(const char *fn, const mdl_tensor *x, int axis, int allow_all) {
    char buf[96];
    if (allow_all && axis == MDL_ALL) return MDL_ALL;
    if (axis < -x->ndim || axis >= x->ndim) {
        mdl__fail(MDL_ERR_ARG, fn, "axis %d is out of range for x %s (valid: %d..%d%s)", axis,
                  mdl_shape_str(x, buf, sizeof buf), -x->ndim, x->ndim - 1,
                  allow_all ? " or MDL_ALL" : "");
        return -1;
    }
    return axis < 0 ? axis + x->ndim : axis;
}

/* View x as [outer, n, inner] around `axis` (MDL_ALL: [1, numel, 1]). Reductions, softmax,
   slicing and concatenation all work on this three-axis picture. */
static void mdl__split(const mdl_tensor *x, int axis, size_t *outer, size_t *n, size_t *inner) {
    int i;
    if (axis == MDL_ALL) {
        *outer = 1;
        *n = x->numel;
        *inner = 1;
        return;
    }
    *outer = 1;
    *inner = 1;
    for (i = 0; i < axis; i++) *outer *= (size_t)x->shape[i];
    for (i = axis + 1; i < x->ndim; i++) *inner *= (size_t)x->shape[i];
    *n = (size_t)x->shape[axis];
}

/* "[1,2]": where flat element i of t is. */
static char *mdl__index_fmt(const mdl_tensor *t, size_t i, char *buf, size_t size) {
    int idx[MDL_MAX_DIMS] = {0}, d;
    for (d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? (int)(i % (size_t)t->shape[d]) : 0;
        i = t->shape[d] ? i / (size_t)t->shape[d] : 0;
    }
    return mdl__shape_fmt(t->ndim, idx, buf, size);
}

/* Check an index tensor (see the ops group's documentation): every value a whole number in
   0..limit-1. Reports the first that is not as MDL_ERR_ARG, with its flat position, its
   multi-index and its value; `range` says where the limit comes from ("axis 1 of x [4,5]").
   Returns 1 if every value is good. */
static int mdl__check_index(const char *fn, const mdl_tensor *index, int limit,
                            const char *range) {
    size_t i;
    for (i = 0; i < index->numel; i++) {
        double v = (double)index->data[i];
        int whole = v == floor(v); /* false for NaN; infinities fail the range test */
        if (!whole || v < 0 || v >= (double)limit) {
            char shape[96], pos[96];
            mdl_shape_str(index, shape, sizeof shape);
            mdl__index_fmt(index, i, pos, sizeof pos);
            if (!whole)
                mdl__fail(MDL_ERR_ARG, fn, "index %s: element %zu (index%s) is %g, not a whole "
                          "number (an index tensor holds integers as values)", shape, i, pos, v);
            else
                mdl__fail(MDL_ERR_ARG, fn, "index %s: element %zu (index%s) is %g, outside "
                          "0..%d (%s)", shape, i, pos, v, limit - 1, range);
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
   Binary elementwise ops with broadcasting             a:[..] b:[..] -> out:[broadcast shape]
   Broadcasting lines the shapes up from the right; an axis of size 1 (or a missing one) is
   stretched by reading the same element again: its step is 0. In backward, every output
   element adds into the input element it read, so a stretched axis sums its gradients, which
   is exactly the reduction the chain rule asks for. Saved for backward: a and b.
   The walk over the broadcast output is shared; each op below is one loop over a row of the
   last axis for forward and one for backward.
   --------------------------------------------------------------------------------------------- */

/* The walk over a broadcast output: rows of the last axis, with each input's step per axis. */
typedef struct mdl__bcast {
    int nd;                    /* output rank, at least 1 */
    int shape[MDL_MAX_DIMS];   /* output shape */
    size_t sa[MDL_MAX_DIMS];   /* step in a along each output axis; 0 where a is stretched */
    size_t sb[MDL_MAX_DIMS];
} mdl__bcast;

static void mdl__bcast_init(mdl__bcast *bc, const mdl_tensor *a, const mdl_tensor *b,
                            const mdl_tensor *out) {
    int d;
    memset(bc, 0, sizeof *bc);
    if (out->ndim == 0 || (a->ndim == b->ndim && memcmp(a->shape, b->shape,
                                                         sizeof(int) * (size_t)a->ndim) == 0)) {
        /* the same shape (or scalars): one flat row */
        bc->nd = 1;
        bc->shape[0] = (int)out->numel;
        bc->sa[0] = bc->sb[0] = 1;
        return;
    }
    bc->nd = out->ndim;
    for (d = 0; d < out->ndim; d++) {
        int da = d - (out->ndim - a->ndim), db = d - (out->ndim - b->ndim);
        bc->shape[d] = out->shape[d];
        bc->sa[d] = (da >= 0 && a->shape[da] != 1) ? a->stride[da] : 0;
        bc->sb[d] = (db >= 0 && b->shape[db] != 1) ? b->stride[db] : 0;
    }
}

/* Where row r of the output starts in a and in b. */
static void mdl__bcast_row(const mdl__bcast *bc, size_t r, size_t *oa, size_t *ob) {
    int d;
    *oa = *ob = 0;
    for (d = bc->nd - 2; d >= 0; d--) {
        size_t i = r % (size_t)bc->shape[d];
        r /= (size_t)bc->shape[d];
        *oa += i * bc->sa[d];
        *ob += i * bc->sb[d];
    }
}

/* One row of a binary op: n outputs; element j reads a[j * ia] and b[j * ib] (a step of 0 is a
   stretched input). Forward writes out; backward reads g (d loss / d out) and adds into
   ga[j * ia] and gb[j * ib], each NULL when that input needs no gradient. */
typedef struct mdl__binary_row {
    const mdl_scalar *a, *b;
    size_t ia, ib, n;
    mdl_scalar *out;
    const mdl_scalar *g;
    mdl_scalar *ga, *gb;
} mdl__binary_row;
typedef void (*mdl__binary_row_fn)(mdl__binary_row r);

/* Run a row function over every row of the broadcast output of a and b. */
static void mdl__binary_rows(const mdl_tensor *A, const mdl_tensor *B, const mdl_tensor *out,
                             mdl__binary_row_fn fn, mdl_scalar *ga, mdl_scalar *gb) {
    mdl__bcast bc;
    mdl__binary_row row;
    size_t rows, r;
    mdl__bcast_init(&bc, A, B, out);
    row.n = (size_t)bc.shape[bc.nd - 1];
    row.ia = bc.sa[bc.nd - 1];
    row.ib = bc.sb[bc.nd - 1];
    rows = row.n ? out->numel / row.n : 0;
    for (r = 0; r < rows; r++) {
        size_t oa, ob;
        mdl__bcast_row(&bc, r, &oa, &ob);
        row.a = A->data + oa;
        row.b = B->data + ob;
        row.ga = ga ? ga + oa : NULL;
        row.gb = gb ? gb + ob : NULL;
        row.out = out->data + r * row.n;
        row.g = out->grad ? out->grad + r * row.n : NULL;
        fn(row);
    }
}

/* Backward of every binary op: the op's gradient row function over the rows of the output. */
static void mdl__binary_backward(mdl__node *node, mdl__binary_row_fn grad_row) {
    mdl_scalar *ga = mdl__grad_of(node->in[0]), *gb = mdl__grad_of(node->in[1]);
    if (ga || gb) mdl__binary_rows(node->in[0], node->in[1], node->out, grad_row, ga, gb);
}

/* The shape that two shapes broadcast to, into *nd and shape[]; 0 after reporting
   MDL_ERR_SHAPE, with the names (name_a, name_b) and the shapes of both. */
static int mdl__broadcast_shape(const char *fn, const char *name_a, int nda, const int *sa,
                                const char *name_b, int ndb, const int *sb, int *nd,
                                int *shape) {
    int d;
    *nd = nda > ndb ? nda : ndb;
    for (d = 0; d < *nd; d++) { /* line the shapes up from the right */
        int da = d - (*nd - nda), db = d - (*nd - ndb);
        int a = da >= 0 ? sa[da] : 1, b = db >= 0 ? sb[db] : 1;
        if (a != b && a != 1 && b != 1) {
            char bufa[96], bufb[96];
            mdl__fail(MDL_ERR_SHAPE, fn, "%s %s and %s %s do not broadcast: axis %d has %d vs %d "
                      "(sizes must be equal, or one of them 1)", name_a,
                      mdl__shape_fmt(nda, sa, bufa, sizeof bufa), name_b,
                      mdl__shape_fmt(ndb, sb, bufb, sizeof bufb), d - *nd, a, b);
            return 0;
        }
        shape[d] = a == 1 ? b : a;
    }
    return 1;
}

/* Forward of every binary op: check that the shapes broadcast, make the output, run the op's
   row function over it, record the node. */
static mdl_tensor *mdl__binary(mdl_arena *ar, const char *fn, mdl_op op, mdl__binary_row_fn row,
                               mdl_tensor *a, mdl_tensor *b) {
    int shape[MDL_MAX_DIMS] = {0}, nd;
    mdl_tensor *out, *in[2];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "a", a) || !mdl__usable(fn, "b", b))
        return NULL;
    if (!mdl__broadcast_shape(fn, "a", a->ndim, a->shape, "b", b->ndim, b->shape, &nd, shape))
        return NULL;
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    if (!out) return NULL;
    mdl__binary_rows(a, b, out, row, NULL, NULL);
    in[0] = a;
    in[1] = b;
    return mdl__finish(ar, fn, op, out, 2, in) ? out : NULL;
}

/* add        out = a + b          da += g            db += g */
static void mdl__add_rows(mdl__binary_row r) {
    size_t j;
    for (j = 0; j < r.n; j++) r.out[j] = r.a[j * r.ia] + r.b[j * r.ib];
}
static void mdl__add_grad_rows(mdl__binary_row r) {
    size_t j;
    if (r.ga) for (j = 0; j < r.n; j++) r.ga[j * r.ia] += r.g[j];
    if (r.gb) for (j = 0; j < r.n; j++) r.gb[j * r.ib] += r.g[j];
}
static void mdl__add_backward(mdl__node *node) { mdl__binary_backward(node, mdl__add_grad_rows); }
MDLDEF mdl_tensor *mdl_add(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__binary(ar, "mdl_add", MDL_OP_ADD, mdl__add_rows, a, b);
}

/* sub        out = a - b          da += g            db -= g */
static void mdl__sub_rows(mdl__binary_row r) {
    size_t j;
    for (j = 0; j < r.n; j++) r.out[j] = r.a[j * r.ia] - r.b[j * r.ib];
}
static void mdl__sub_grad_rows(mdl__binary_row r) {
    size_t j;
    if (r.ga) for (j = 0; j < r.n; j++) r.ga[j * r.ia] += r.g[j];
    if (r.gb) for (j = 0; j < r.n; j++) r.gb[j * r.ib] -= r.g[j];
}
static void mdl__sub_backward(mdl__node *node) { mdl__binary_backward(node, mdl__sub_grad_rows); }
MDLDEF mdl_tensor *mdl_sub(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__binary(ar, "mdl_sub", MDL_OP_SUB, mdl__sub_rows, a, b);
}

/* mul        out = a * b          da += g * b        db += g * a */
static void mdl__mul_rows(mdl__binary_row r) {
    size_t j;
    for (j = 0; j < r.n; j++) r.out[j] = r.a[j * r.ia] * r.b[j * r.ib];
}
static void mdl__mul_grad_rows(mdl__binary_row r) {
    size_t j;
    if (r.ga) for (j = 0; j < r.n; j++) r.ga[j * r.ia] += r.g[j] * r.b[j * r.ib];
    if (r.gb) for (j = 0; j < r.n; j++) r.gb[j * r.ib] += r.g[j] * r.a[j * r.ia];
}
static void mdl__mul_backward(mdl__node *node) { mdl__binary_backward(node, mdl__mul_grad_rows); }
MDLDEF mdl_tensor *mdl_mul(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__binary(ar, "mdl_mul", MDL_OP_MUL, mdl__mul_rows, a, b);
}

/* div        out = a / b          da += g / b        db -= g * a / b^2 */
static void mdl__div_rows(mdl__binary_row r) {
    size_t j;
    for (j = 0; j < r.n; j++) r.out[j] = r.a[j * r.ia] / r.b[j * r.ib];
}
static void mdl__div_grad_rows(mdl__binary_row r) {
    size_t j;
    if (r.ga) for (j = 0; j < r.n; j++) r.ga[j * r.ia] += r.g[j] / r.b[j * r.ib];
    if (r.gb)
        for (j = 0; j < r.n; j++) {
            mdl_scalar b = r.b[j * r.ib];
            r.gb[j * r.ib] -= r.g[j] * r.a[j * r.ia] / (b * b);
        }
}
static void mdl__div_backward(mdl__node *node) { mdl__binary_backward(node, mdl__div_grad_rows); }
MDLDEF mdl_tensor *mdl_div(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__binary(ar, "mdl_div", MDL_OP_DIV, mdl__div_rows, a, b);
}

/* maximum    out = max(a, b)      da += g if a > b   db += g if a < b
   At a tie (a == b) each gets g / 2, as PyTorch does: max(a, b) has no derivative there, and
   half to each is the average of the two one-sided ones. Where a NaN makes a > b, a < b and
   a == b all false, forward picks b, and b gets the gradient. */
static void mdl__maximum_rows(mdl__binary_row r) {
    size_t j;
    for (j = 0; j < r.n; j++) {
        mdl_scalar a = r.a[j * r.ia], b = r.b[j * r.ib];
        r.out[j] = a >= b ? a : b;
    }
}
static void mdl__maximum_grad_rows(mdl__binary_row r) {
    const mdl_scalar half = (mdl_scalar)0.5;
    size_t j;
    if (r.ga)
        for (j = 0; j < r.n; j++) {
            mdl_scalar a = r.a[j * r.ia], b = r.b[j * r.ib];
            r.ga[j * r.ia] += a > b ? r.g[j] : (a == b ? half * r.g[j] : 0);
        }
    if (r.gb)
        for (j = 0; j < r.n; j++) {
            mdl_scalar a = r.a[j * r.ia], b = r.b[j * r.ib];
            r.gb[j * r.ib] += a > b ? 0 : (a == b ? half * r.g[j] : r.g[j]);
        }
}
static void mdl__maximum_backward(mdl__node *node) {
    mdl__binary_backward(node, mdl__maximum_grad_rows);
}
MDLDEF mdl_tensor *mdl_maximum(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__binary(ar, "mdl_maximum", MDL_OP_MAXIMUM, mdl__maximum_rows, a, b);
}

/* minimum    out = min(a, b)      da += g if a < b   db += g if a > b
   maximum's mirror: at a tie each gets g / 2; where a NaN makes every comparison false,
   forward picks b, and b gets the gradient. */
static void mdl__minimum_rows(mdl__binary_row r) {
    size_t j;
    for (j = 0; j < r.n; j++) {
        mdl_scalar a = r.a[j * r.ia], b = r.b[j * r.ib];
        r.out[j] = a <= b ? a : b;
    }
}
static void mdl__minimum_grad_rows(mdl__binary_row r) {
    const mdl_scalar half = (mdl_scalar)0.5;
    size_t j;
    if (r.ga)
        for (j = 0; j < r.n; j++) {
            mdl_scalar a = r.a[j * r.ia], b = r.b[j * r.ib];
            r.ga[j * r.ia] += a < b ? r.g[j] : (a == b ? half * r.g[j] : 0);
        }
    if (r.gb)
        for (j = 0; j < r.n; j++) {
            mdl_scalar a = r.a[j * r.ia], b = r.b[j * r.ib];
            r.gb[j * r.ib] += a < b ? 0 : (a == b ? half * r.g[j] : r.g[j]);
        }
}
static void mdl__minimum_backward(mdl__node *node) {
    mdl__binary_backward(node, mdl__minimum_grad_rows);
}
MDLDEF mdl_tensor *mdl_minimum(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__binary(ar, "mdl_minimum", MDL_OP_MINIMUM, mdl__minimum_rows, a, b);
}

/* ---------------------------------------------------------------------------------------------
   The broadcast walk: an odometer over the indices of one shape, in row-major order, that
   carries along the offset of the same element in up to three other tensors. Each offset
   moves by its own step along each axis: the tensor's stride there, or 0 where the tensor is
   stretched (an axis of size 1, or a missing one in front). The binary ops above walk two
   inputs a row at a time; where (three inputs), expand and sum_axes use this general form.
   --------------------------------------------------------------------------------------------- */

typedef struct mdl__walk {
    int nd;                       /* rank of the shape walked */
    int shape[MDL_MAX_DIMS];
    int idx[MDL_MAX_DIMS];        /* the current index, starting from all zeros */
    int n;                        /* how many offsets are carried */
    size_t step[3][MDL_MAX_DIMS]; /* step[t][d]: how offset t moves when idx[d] grows by one */
    size_t off[3];                /* offset t of the current index */
} mdl__walk;

static void mdl__walk_init(mdl__walk *w, int nd, const int *shape) {
    memset(w, 0, sizeof *w);
    w->nd = nd;
    if (nd > 0) memcpy(w->shape, shape, (size_t)nd * sizeof(int));
}

/* Carry the offset in x, which broadcasts to the walked shape (the shapes line up from the
   right). Returns the number t of the offset, to read as w->off[t]. */
static int mdl__walk_bcast(mdl__walk *w, const mdl_tensor *x) {
    int t = w->n++, d;
    for (d = 0; d < w->nd; d++) {
        int dx = d - (w->nd - x->ndim);
        w->step[t][d] = (dx >= 0 && x->shape[dx] != 1) ? x->stride[dx] : 0;
    }
    return t;
}

/* Move to the next index: bump the last axis, carry into the ones before, and move every
   offset with it (back to the start of an axis that wraps around). */
static void mdl__walk_next(mdl__walk *w) {
    int d, t;
    for (d = w->nd - 1; d >= 0; d--) {
        w->idx[d]++;
        for (t = 0; t < w->n; t++) w->off[t] += w->step[t][d];
        if (w->idx[d] < w->shape[d]) return;
        for (t = 0; t < w->n; t++) w->off[t] -= (size_t)w->idx[d] * w->step[t][d];
        w->idx[d] = 0;
    }
}

/* ---------------------------------------------------------------------------------------------
   Comparisons                           a:[..] b:[..] -> out:[broadcast shape], 1 where true
     eq  a == b    ne  a != b    lt  a < b    le  a <= b    gt  a > b    ge  a >= b
   A comparison is a step function: where it has a derivative at all, it is 0. So comparisons
   are not differentiable, record no tape node, and their result never requires grad; they
   make the conditions and masks of where and masked_fill. A NaN compares as IEEE says (and
   PyTorch does): every comparison with it is false, except !=, which is true. The _scalar
   forms compare with a scalar tensor made on the spot.
   --------------------------------------------------------------------------------------------- */

typedef enum mdl__cmp { MDL__EQ, MDL__NE, MDL__LT, MDL__LE, MDL__GT, MDL__GE } mdl__cmp;

static int mdl__compare1(mdl__cmp c, mdl_scalar a, mdl_scalar b) {
    switch (c) {
    case MDL__EQ: return a == b;
    case MDL__NE: return a != b;
    case MDL__LT: return a < b;
    case MDL__LE: return a <= b;
    case MDL__GT: return a > b;
    case MDL__GE: return a >= b;
    }
    return 0;
}

static mdl_tensor *mdl__compare(mdl_arena *ar, const char *fn, mdl__cmp c, mdl_tensor *a,
                                mdl_tensor *b) {
    int shape[MDL_MAX_DIMS] = {0}, nd, ta, tb;
    mdl__walk w;
    mdl_tensor *out;
    size_t i;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "a", a) || !mdl__usable(fn, "b", b))
        return NULL;
    if (!mdl__broadcast_shape(fn, "a", a->ndim, a->shape, "b", b->ndim, b->shape, &nd, shape))
        return NULL;
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    if (!out) return NULL;
    mdl__walk_init(&w, nd, shape);
    ta = mdl__walk_bcast(&w, a);
    tb = mdl__walk_bcast(&w, b);
    for (i = 0; i < out->numel; i++, mdl__walk_next(&w))
        out->data[i] = (mdl_scalar)mdl__compare1(c, a->data[w.off[ta]], b->data[w.off[tb]]);
    return out; /* no mdl__finish: nothing to record */
}

static mdl_tensor *mdl__compare_scalar(mdl_arena *ar, const char *fn, mdl__cmp c, mdl_tensor *x,
                                       mdl_scalar s) {
    mdl_tensor *b;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    b = mdl__make(ar, fn, 0, NULL, NULL, 0);
    if (!b) return NULL;
    b->data[0] = s;
    return mdl__compare(ar, fn, c, x, b);
}

MDLDEF mdl_tensor *mdl_eq(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__compare(ar, "mdl_eq", MDL__EQ, a, b);
}
MDLDEF mdl_tensor *mdl_ne(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__compare(ar, "mdl_ne", MDL__NE, a, b);
}
MDLDEF mdl_tensor *mdl_lt(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__compare(ar, "mdl_lt", MDL__LT, a, b);
}
MDLDEF mdl_tensor *mdl_le(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__compare(ar, "mdl_le", MDL__LE, a, b);
}
MDLDEF mdl_tensor *mdl_gt(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__compare(ar, "mdl_gt", MDL__GT, a, b);
}
MDLDEF mdl_tensor *mdl_ge(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl__compare(ar, "mdl_ge", MDL__GE, a, b);
}
MDLDEF mdl_tensor *mdl_eq_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__compare_scalar(ar, "mdl_eq_scalar", MDL__EQ, x, s);
}
MDLDEF mdl_tensor *mdl_ne_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__compare_scalar(ar, "mdl_ne_scalar", MDL__NE, x, s);
}
MDLDEF mdl_tensor *mdl_lt_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__compare_scalar(ar, "mdl_lt_scalar", MDL__LT, x, s);
}
MDLDEF mdl_tensor *mdl_le_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__compare_scalar(ar, "mdl_le_scalar", MDL__LE, x, s);
}
MDLDEF mdl_tensor *mdl_gt_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__compare_scalar(ar, "mdl_gt_scalar", MDL__GT, x, s);
}
MDLDEF mdl_tensor *mdl_ge_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__compare_scalar(ar, "mdl_ge_scalar", MDL__GE, x, s);
}

/* ---------------------------------------------------------------------------------------------
   where                    cond:[..] a:[..] b:[..] -> out:[the shape all three broadcast to]
     out = a if cond != 0 else b          da += g where cond != 0      db += g where cond == 0
   A choice, not arithmetic: a m + b (1 - m) with m = (cond != 0) gives the same values while
   both branches are finite, but an inf or NaN in the branch not taken would poison the sum
   (inf * 0 = NaN), and where(x > 0, log(x), 0) is exactly the use that meets one. (Its
   gradient is another matter: the branch not taken gets 0, which log's backward turns into
   0 / 0 at x = 0; mdl_where's documentation says how to avoid that.) cond gets no gradient
   (it enters only through a comparison), so it is not an input of the tape node: forward
   saves which branch each output element took, one byte each, and backward walks the output
   with a's and b's offsets as forward did. masked_fill is a where.
   --------------------------------------------------------------------------------------------- */

static void mdl__where_backward(mdl__node *node) {
    mdl_tensor *A = node->in[0], *B = node->in[1], *out = node->out;
    mdl_scalar *da = mdl__grad_of(A), *db = mdl__grad_of(B);
    const unsigned char *took_a = (const unsigned char *)node->saved;
    const mdl_scalar *g = out->grad;
    mdl__walk w;
    size_t i;
    int ta, tb;
    if (!da && !db) return;
    mdl__walk_init(&w, out->ndim, out->shape);
    ta = mdl__walk_bcast(&w, A);
    tb = mdl__walk_bcast(&w, B);
    for (i = 0; i < out->numel; i++, mdl__walk_next(&w)) {
        if (took_a[i] && da) da[w.off[ta]] += g[i];
        if (!took_a[i] && db) db[w.off[tb]] += g[i];
    }
}

MDLDEF mdl_tensor *mdl_where(mdl_arena *ar, mdl_tensor *cond, mdl_tensor *a, mdl_tensor *b) {
    const char *fn = "mdl_where";
    int ab[MDL_MAX_DIMS] = {0}, shape[MDL_MAX_DIMS] = {0}, nd_ab, nd, tc, ta, tb;
    unsigned char *took_a;
    mdl_tensor *out, *in[2];
    mdl__walk w;
    size_t i;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "cond", cond) ||
        !mdl__usable(fn, "a", a) || !mdl__usable(fn, "b", b))
        return NULL;
    if (!mdl__broadcast_shape(fn, "a", a->ndim, a->shape, "b", b->ndim, b->shape, &nd_ab, ab) ||
        !mdl__broadcast_shape(fn, "cond", cond->ndim, cond->shape, "the shape of a and b",
                              nd_ab, ab, &nd, shape))
        return NULL;
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    if (!out) return NULL;
    took_a = (unsigned char *)mdl__alloc(ar, out->numel);
    if (!took_a) return NULL;
    mdl__walk_init(&w, nd, shape);
    tc = mdl__walk_bcast(&w, cond);
    ta = mdl__walk_bcast(&w, a);
    tb = mdl__walk_bcast(&w, b);
    for (i = 0; i < out->numel; i++, mdl__walk_next(&w)) {
        took_a[i] = cond->data[w.off[tc]] != 0;
        out->data[i] = took_a[i] ? a->data[w.off[ta]] : b->data[w.off[tb]];
    }
    in[0] = a;
    in[1] = b;
    if (!mdl__finish(ar, fn, MDL_OP_WHERE, out, 2, in)) return NULL;
    if (out->node) out->node->saved = took_a;
    return out;
}

/* masked_fill = where(mask, value, x), value a scalar tensor that needs no gradient; checked
   first so that mask stretches to x's shape but never x to mask's. */
MDLDEF mdl_tensor *mdl_masked_fill(mdl_arena *ar, mdl_tensor *x, mdl_tensor *mask,
                                   mdl_scalar value) {
    const char *fn = "mdl_masked_fill";
    int shape[MDL_MAX_DIMS] = {0}, nd;
    mdl_tensor *v;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || !mdl__usable(fn, "mask", mask))
        return NULL;
    if (!mdl__broadcast_shape(fn, "x", x->ndim, x->shape, "mask", mask->ndim, mask->shape, &nd,
                              shape))
        return NULL;
    if (nd != x->ndim || memcmp(shape, x->shape, (size_t)nd * sizeof(int)) != 0) {
        char bx[96], bm[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "mask %s would stretch x %s (the result has x's shape: only "
                  "mask may broadcast)", mdl_shape_str(mask, bm, sizeof bm),
                  mdl_shape_str(x, bx, sizeof bx));
        return NULL;
    }
    v = mdl__make(ar, fn, 0, NULL, NULL, 0);
    if (!v) return NULL;
    v->data[0] = value;
    return mdl_where(ar, mask, v, x);
}

/* ---------------------------------------------------------------------------------------------
   Unary elementwise ops and activations                  x:[..] -> y:[same]   dx += g * dy/dx
   Each op below is a forward loop and a backward loop over all the elements, with its formula
   and derivative above them. Where dy/dx is cheaper from y than from x (exp, sqrt, sigmoid,
   tanh, elu), backward reads the saved output. Saved: x, y and the scalar arguments.
   --------------------------------------------------------------------------------------------- */

/* What a unary op's loops see: n elements of x and y, and in backward g = d loss / d y and dx,
   where the gradient adds up; s0 and s1 are the op's scalar arguments (s, p, slope, lo, hi). */
typedef struct mdl__unary_io {
    const mdl_scalar *x;
    mdl_scalar *y;
    const mdl_scalar *g;
    mdl_scalar *dx;
    size_t n;
    mdl_scalar s0, s1;
} mdl__unary_io;
typedef void (*mdl__unary_fn)(mdl__unary_io u);

/* Forward of every unary op: make y like x, run the op's loop, record the node with the scalar
   arguments. */
static mdl_tensor *mdl__unary(mdl_arena *ar, const char *fn, mdl_op op, mdl__unary_fn forward,
                              mdl_tensor *x, mdl_scalar s0, mdl_scalar s1) {
    mdl__unary_io u;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (!out) return NULL;
    memset(&u, 0, sizeof u);
    u.x = x->data;
    u.y = out->data;
    u.n = x->numel;
    u.s0 = s0;
    u.s1 = s1;
    forward(u);
    if (!mdl__finish(ar, fn, op, out, 1, &x)) return NULL;
    if (out->node) {
        out->node->f[0] = (double)s0;
        out->node->f[1] = (double)s1;
    }
    return out;
}

/* Backward of every unary op: the op's gradient loop, if x wants a gradient. */
static void mdl__unary_backward(mdl__node *node, mdl__unary_fn grad) {
    mdl__unary_io u;
    u.dx = mdl__grad_of(node->in[0]);
    if (!u.dx) return;
    u.x = node->in[0]->data;
    u.y = node->out->data;
    u.g = node->out->grad;
    u.n = node->in[0]->numel;
    u.s0 = (mdl_scalar)node->f[0];
    u.s1 = (mdl_scalar)node->f[1];
    grad(u);
}

/* add_scalar  y = x + s                          dy/dx = 1   (sub_scalar adds -s) */
static void mdl__add_scalar_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] + u.s0;
}
static void mdl__add_scalar_grad(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i];
}
static void mdl__add_scalar_backward(mdl__node *node) {
    mdl__unary_backward(node, mdl__add_scalar_grad);
}
MDLDEF mdl_tensor *mdl_add_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__unary(ar, "mdl_add_scalar", MDL_OP_ADD_SCALAR, mdl__add_scalar_forward, x, s, 0);
}
MDLDEF mdl_tensor *mdl_sub_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__unary(ar, "mdl_sub_scalar", MDL_OP_ADD_SCALAR, mdl__add_scalar_forward, x, -s, 0);
}

/* mul_scalar  y = x * s                          dy/dx = s   (div_scalar multiplies by 1/s,
                                                               neg by -1) */
static void mdl__mul_scalar_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] * u.s0;
}
static void mdl__mul_scalar_grad(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * u.s0;
}
static void mdl__mul_scalar_backward(mdl__node *node) {
    mdl__unary_backward(node, mdl__mul_scalar_grad);
}
MDLDEF mdl_tensor *mdl_mul_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__unary(ar, "mdl_mul_scalar", MDL_OP_MUL_SCALAR, mdl__mul_scalar_forward, x, s, 0);
}
MDLDEF mdl_tensor *mdl_div_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    return mdl__unary(ar, "mdl_div_scalar", MDL_OP_MUL_SCALAR, mdl__mul_scalar_forward, x,
                      (mdl_scalar)1 / s, 0);
}
MDLDEF mdl_tensor *mdl_neg(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_neg", MDL_OP_MUL_SCALAR, mdl__mul_scalar_forward, x, -1, 0);
}

/* rsub_scalar  y = s - x = (-x) + s: neg, then add_scalar; its gradient, -1, comes from neg. */
MDLDEF mdl_tensor *mdl_rsub_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s) {
    if (!mdl__usable_arena("mdl_rsub_scalar", ar) || !mdl__usable("mdl_rsub_scalar", "x", x))
        return NULL;
    return mdl_add_scalar(ar, mdl_neg(ar, x), s);
}

/* exp         y = e^x                            dy/dx = y */
static void mdl__exp_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__EXP(u.x[i]);
}
static void mdl__exp_grad(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * u.y[i];
}
static void mdl__exp_backward(mdl__node *node) { mdl__unary_backward(node, mdl__exp_grad); }
MDLDEF mdl_tensor *mdl_exp(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_exp", MDL_OP_EXP, mdl__exp_forward, x, 0, 0);
}

/* expm1       y = e^x - 1                        dy/dx = e^x = y + 1
   Why not exp(x) - 1: for small x, e^x = 1 + x + x^2/2 + ..., and rounding it to a float next
   to 1 keeps only the digits of x above 2^-24, which the subtraction then exposes (in float,
   exp(1e-8) - 1 is 0, and exp(1e-4) - 1 is wrong from the fifth digit). expm1 computes the
   difference without ever forming the 1, so every digit of x survives. */
static void mdl__expm1_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__EXPM1(u.x[i]);
}
static void mdl__expm1_grad(mdl__unary_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * (u.y[i] + one);
}
static void mdl__expm1_backward(mdl__node *node) { mdl__unary_backward(node, mdl__expm1_grad); }
MDLDEF mdl_tensor *mdl_expm1(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_expm1", MDL_OP_EXPM1, mdl__expm1_forward, x, 0, 0);
}

/* log         y = ln x                           dy/dx = 1 / x */
static void mdl__log_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__LOG(u.x[i]);
}
static void mdl__log_grad(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] / u.x[i];
}
static void mdl__log_backward(mdl__node *node) { mdl__unary_backward(node, mdl__log_grad); }
MDLDEF mdl_tensor *mdl_log(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_log", MDL_OP_LOG, mdl__log_forward, x, 0, 0);
}

/* log1p       y = ln(1 + x)                      dy/dx = 1 / (1 + x)
   Why not log(1 + x): for small x the sum 1 + x, rounded to a float, keeps only the digits of
   x above 2^-24 (1 + 1e-8 is exactly 1, so log gives 0 instead of 1e-8). log1p never forms
   the sum and keeps full relative precision; losses such as log(1 + e^-z) need it. */
static void mdl__log1p_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__LOG1P(u.x[i]);
}
static void mdl__log1p_grad(mdl__unary_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] / (one + u.x[i]);
}
static void mdl__log1p_backward(mdl__node *node) { mdl__unary_backward(node, mdl__log1p_grad); }
MDLDEF mdl_tensor *mdl_log1p(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_log1p", MDL_OP_LOG1P, mdl__log1p_forward, x, 0, 0);
}

/* sqrt        y = sqrt(x)                        dy/dx = 1 / (2 y) */
static void mdl__sqrt_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__SQRT(u.x[i]);
}
static void mdl__sqrt_grad(mdl__unary_io u) {
    const mdl_scalar half = (mdl_scalar)0.5;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * half / u.y[i];
}
static void mdl__sqrt_backward(mdl__node *node) { mdl__unary_backward(node, mdl__sqrt_grad); }
MDLDEF mdl_tensor *mdl_sqrt(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_sqrt", MDL_OP_SQRT, mdl__sqrt_forward, x, 0, 0);
}

/* abs         y = |x|                            dy/dx = sign(x)   (0 at 0, as PyTorch) */
static void mdl__abs_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__FABS(u.x[i]);
}
static void mdl__abs_grad(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++)
        u.dx[i] += u.x[i] > zero ? u.g[i] : (u.x[i] < zero ? -u.g[i] : zero);
}
static void mdl__abs_backward(mdl__node *node) { mdl__unary_backward(node, mdl__abs_grad); }
MDLDEF mdl_tensor *mdl_abs(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_abs", MDL_OP_ABS, mdl__abs_forward, x, 0, 0);
}

/* pow         y = x^p                            dy/dx = p x^(p-1) */
static void mdl__pow_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__POW(u.x[i], u.s0);
}
static void mdl__pow_grad(mdl__unary_io u) {
    const mdl_scalar one = 1, zero = 0;
    size_t i;
    if (u.s0 == zero) return; /* x^0 is constant; 0 * 0^-1 would make a NaN at x = 0 */
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * u.s0 * MDL__POW(u.x[i], u.s0 - one);
}
static void mdl__pow_backward(mdl__node *node) { mdl__unary_backward(node, mdl__pow_grad); }
MDLDEF mdl_tensor *mdl_pow(mdl_arena *ar, mdl_tensor *x, mdl_scalar p) {
    return mdl__unary(ar, "mdl_pow", MDL_OP_POW, mdl__pow_forward, x, p, 0);
}

/* clamp       y = min(max(x, lo), hi)            dy/dx = 1 if lo <= x <= hi else 0 */
static void mdl__clamp_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] < u.s0 ? u.s0 : (u.x[i] > u.s1 ? u.s1 : u.x[i]);
}
static void mdl__clamp_grad(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += (u.x[i] >= u.s0 && u.x[i] <= u.s1) ? u.g[i] : zero;
}
static void mdl__clamp_backward(mdl__node *node) { mdl__unary_backward(node, mdl__clamp_grad); }
MDLDEF mdl_tensor *mdl_clamp(mdl_arena *ar, mdl_tensor *x, mdl_scalar lo, mdl_scalar hi) {
    if (lo > hi) {
        mdl__fail(MDL_ERR_ARG, "mdl_clamp", "lo %g is greater than hi %g", (double)lo, (double)hi);
        return NULL;
    }
    return mdl__unary(ar, "mdl_clamp", MDL_OP_CLAMP, mdl__clamp_forward, x, lo, hi);
}

/* relu        y = max(x, 0)                      dy/dx = 1 if x > 0 else 0 */
static void mdl__relu_forward(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] > zero ? u.x[i] : zero;
}
static void mdl__relu_grad(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.x[i] > zero ? u.g[i] : zero;
}
static void mdl__relu_backward(mdl__node *node) { mdl__unary_backward(node, mdl__relu_grad); }
MDLDEF mdl_tensor *mdl_relu(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_relu", MDL_OP_RELU, mdl__relu_forward, x, 0, 0);
}

/* leaky_relu  y = x if x > 0 else a x            dy/dx = 1 if x > 0 else a */
static void mdl__leaky_relu_forward(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] > zero ? u.x[i] : u.s0 * u.x[i];
}
static void mdl__leaky_relu_grad(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.x[i] > zero ? u.g[i] : u.s0 * u.g[i];
}
static void mdl__leaky_relu_backward(mdl__node *node) {
    mdl__unary_backward(node, mdl__leaky_relu_grad);
}
MDLDEF mdl_tensor *mdl_leaky_relu(mdl_arena *ar, mdl_tensor *x, mdl_scalar slope) {
    return mdl__unary(ar, "mdl_leaky_relu", MDL_OP_LEAKY_RELU, mdl__leaky_relu_forward, x, slope,
                      0);
}

/* sigmoid     y = 1 / (1 + e^-x)                 dy/dx = y (1 - y) */

/* sigmoid that never overflows: for x < 0, e^x / (1 + e^x) keeps e^x small */
static mdl_scalar mdl__sigmoid1(mdl_scalar x) {
    if (x >= 0) return (mdl_scalar)1 / ((mdl_scalar)1 + MDL__EXP(-x));
    {
        mdl_scalar e = MDL__EXP(x);
        return e / ((mdl_scalar)1 + e);
    }
}
static void mdl__sigmoid_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = mdl__sigmoid1(u.x[i]);
}
static void mdl__sigmoid_grad(mdl__unary_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * u.y[i] * (one - u.y[i]);
}
static void mdl__sigmoid_backward(mdl__node *node) { mdl__unary_backward(node, mdl__sigmoid_grad); }
MDLDEF mdl_tensor *mdl_sigmoid(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_sigmoid", MDL_OP_SIGMOID, mdl__sigmoid_forward, x, 0, 0);
}

/* logsigmoid  y = log(sigmoid(x)) = -log(1 + e^-x) = min(x, 0) - log1p(e^-|x|)
               dy/dx = 1 - sigmoid(x) = sigmoid(-x)
   Why this form: log(sigmoid(x)) takes the log of a number that rounds to 0 below x = -104
   in float, giving -inf where the answer is about x; -log(1 + e^-x) overflows e^-x below
   x = -88. Splitting at 0 (for x < 0, log(e^x / (1 + e^x)) = x - log(1 + e^x)) leaves an
   exponent e^-|x| <= 1 that cannot overflow, and log1p keeps it when it is tiny next to 1
   (y(30) = -9.4e-14, where log(1 + e^-30) would round to 0). Binary cross-entropy on logits
   is built on this. */
static void mdl__logsigmoid_forward(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar x = u.x[i];
        u.y[i] = (x < zero ? x : zero) - MDL__LOG1P(MDL__EXP(-MDL__FABS(x)));
    }
}
static void mdl__logsigmoid_grad(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * mdl__sigmoid1(-u.x[i]);
}
static void mdl__logsigmoid_backward(mdl__node *node) {
    mdl__unary_backward(node, mdl__logsigmoid_grad);
}
MDLDEF mdl_tensor *mdl_logsigmoid(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_logsigmoid", MDL_OP_LOGSIGMOID, mdl__logsigmoid_forward, x, 0, 0);
}

/* tanh        y = tanh x                         dy/dx = 1 - y^2 */
static void mdl__tanh_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = MDL__TANH(u.x[i]);
}
static void mdl__tanh_grad(mdl__unary_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.g[i] * (one - u.y[i] * u.y[i]);
}
static void mdl__tanh_backward(mdl__node *node) { mdl__unary_backward(node, mdl__tanh_grad); }
MDLDEF mdl_tensor *mdl_tanh(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_tanh", MDL_OP_TANH, mdl__tanh_forward, x, 0, 0);
}

/* gelu        y = x Phi(x)                       dy/dx = Phi(x) + x phi(x)
   Phi is the standard normal CDF, (1 + erf(x / sqrt 2)) / 2, and phi its density
   e^(-x^2/2) / sqrt(2 pi). */
static void mdl__gelu_forward(mdl__unary_io u) {
    const mdl_scalar one = 1, half = (mdl_scalar)0.5;
    const mdl_scalar rsqrt2 = (mdl_scalar)0.70710678118654752440;
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] * half * (one + MDL__ERF(u.x[i] * rsqrt2));
}
static void mdl__gelu_grad(mdl__unary_io u) {
    const mdl_scalar one = 1, half = (mdl_scalar)0.5;
    const mdl_scalar rsqrt2 = (mdl_scalar)0.70710678118654752440;
    const mdl_scalar rsqrt2pi = (mdl_scalar)0.39894228040143267794;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar cdf = half * (one + MDL__ERF(u.x[i] * rsqrt2));
        mdl_scalar pdf = rsqrt2pi * MDL__EXP(-half * u.x[i] * u.x[i]);
        u.dx[i] += u.g[i] * (cdf + u.x[i] * pdf);
    }
}
static void mdl__gelu_backward(mdl__node *node) { mdl__unary_backward(node, mdl__gelu_grad); }
MDLDEF mdl_tensor *mdl_gelu(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_gelu", MDL_OP_GELU, mdl__gelu_forward, x, 0, 0);
}

/* gelu_tanh   y = x/2 (1 + t),  t = tanh(k (x + c x^3)),  k = sqrt(2 / pi),  c = 0.044715
               dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2)
   The tanh approximation of x Phi(x) from the GELU paper (Hendrycks and Gimpel), within 5e-4
   of the erf form; GPT-2 was trained with it, so loading its weights needs this one. The
   derivative is the product rule on x/2 (1 + t), with dt/dx = (1 - t^2) k (1 + 3 c x^2). */
static void mdl__gelu_tanh_forward(mdl__unary_io u) {
    const mdl_scalar one = 1, half = (mdl_scalar)0.5, c = (mdl_scalar)0.044715;
    const mdl_scalar k = (mdl_scalar)0.79788456080286535588; /* sqrt(2 / pi) */
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar x = u.x[i];
        u.y[i] = half * x * (one + MDL__TANH(k * (x + c * x * x * x)));
    }
}
static void mdl__gelu_tanh_grad(mdl__unary_io u) {
    const mdl_scalar one = 1, three = 3, half = (mdl_scalar)0.5, c = (mdl_scalar)0.044715;
    const mdl_scalar k = (mdl_scalar)0.79788456080286535588;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar x = u.x[i], t = MDL__TANH(k * (x + c * x * x * x));
        mdl_scalar dt = (one - t * t) * k * (one + three * c * x * x);
        u.dx[i] += u.g[i] * (half * (one + t) + half * x * dt);
    }
}
static void mdl__gelu_tanh_backward(mdl__node *node) {
    mdl__unary_backward(node, mdl__gelu_tanh_grad);
}
MDLDEF mdl_tensor *mdl_gelu_tanh(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_gelu_tanh", MDL_OP_GELU_TANH, mdl__gelu_tanh_forward, x, 0, 0);
}

/* silu        y = x sigmoid(x)                   dy/dx = s (1 + x (1 - s)),  s = sigmoid(x) */
static void mdl__silu_forward(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] * mdl__sigmoid1(u.x[i]);
}
static void mdl__silu_grad(mdl__unary_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar s = mdl__sigmoid1(u.x[i]);
        u.dx[i] += u.g[i] * s * (one + u.x[i] * (one - s));
    }
}
static void mdl__silu_backward(mdl__node *node) { mdl__unary_backward(node, mdl__silu_grad); }
MDLDEF mdl_tensor *mdl_silu(mdl_arena *ar, mdl_tensor *x) {
    return mdl__unary(ar, "mdl_silu", MDL_OP_SILU, mdl__silu_forward, x, 0, 0);
}

/* elu         y = x if x > 0 else a (e^x - 1)    dy/dx = 1 if x > 0 else y + a */
static void mdl__elu_forward(mdl__unary_io u) {
    const mdl_scalar one = 1, zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.y[i] = u.x[i] > zero ? u.x[i] : u.s0 * (MDL__EXP(u.x[i]) - one);
}
static void mdl__elu_grad(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) u.dx[i] += u.x[i] > zero ? u.g[i] : u.g[i] * (u.y[i] + u.s0);
}
static void mdl__elu_backward(mdl__node *node) { mdl__unary_backward(node, mdl__elu_grad); }
MDLDEF mdl_tensor *mdl_elu(mdl_arena *ar, mdl_tensor *x, mdl_scalar alpha) {
    return mdl__unary(ar, "mdl_elu", MDL_OP_ELU, mdl__elu_forward, x, alpha, 0);
}

/* softplus    y = log(1 + e^z) / b,  z = b x;   y = x where z > threshold
               dy/dx = sigmoid(z);               1 where z > threshold
   The threshold is PyTorch's rule: above it, log(1 + e^z) equals z to within e^-z (2e-9 at
   the default 20, below float's resolution of z), so y = x. Below it this computes the same
   log(1 + e^z) as max(z, 0) + log1p(e^-|z|), which is why it is stable: e^-|z| <= 1 cannot
   overflow whatever the threshold (log(1 + e^z) itself overflows for z > 88 in float), and
   log1p keeps a tiny e^-|z| that 1 + e^z would round away (softplus(-30) = 9.4e-14, not 0).
   The scalars: s0 = beta, s1 = threshold. */
static void mdl__softplus_forward(mdl__unary_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar z = u.s0 * u.x[i];
        u.y[i] = z > u.s1 ? u.x[i]
                          : ((z > zero ? z : zero) + MDL__LOG1P(MDL__EXP(-MDL__FABS(z)))) / u.s0;
    }
}
static void mdl__softplus_grad(mdl__unary_io u) {
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar z = u.s0 * u.x[i];
        u.dx[i] += z > u.s1 ? u.g[i] : u.g[i] * mdl__sigmoid1(z);
    }
}
static void mdl__softplus_backward(mdl__node *node) {
    mdl__unary_backward(node, mdl__softplus_grad);
}
MDLDEF mdl_tensor *mdl_softplus(mdl_arena *ar, mdl_tensor *x, mdl_scalar beta,
                                mdl_scalar threshold) {
    if (beta == 0 || beta != beta) {
        mdl__fail(MDL_ERR_ARG, "mdl_softplus", "beta is %g; it must be a nonzero number (it "
                  "divides; PyTorch's default is 1)", (double)beta);
        return NULL;
    }
    return mdl__unary(ar, "mdl_softplus", MDL_OP_SOFTPLUS, mdl__softplus_forward, x, beta,
                      threshold);
}

/* ---------------------------------------------------------------------------------------------
   softmax and log_softmax along an axis                  x:[outer, n, inner] -> y:[same]
     softmax      y_k = e^(x_k - m) / sum_j e^(x_j - m)         m = max_j x_j
                  dx_k += y_k (g_k - sum_j g_j y_j)
     log_softmax  y_k = x_k - m - log(sum_j e^(x_j - m))
                  dx_k += g_k - e^(y_k) sum_j g_j
   Subtracting the maximum changes nothing mathematically (it cancels between numerator and
   denominator) but keeps every exponent <= 0, so e^x cannot overflow even for x = 1000.
   The sums run in double. Saved for backward: y.
   --------------------------------------------------------------------------------------------- */

static void mdl__softmax_forward(int log_form, const mdl_scalar *x, mdl_scalar *y, size_t outer,
                                 size_t n, size_t inner) {
    size_t o, i, k;
    for (o = 0; o < outer; o++) {
        for (i = 0; i < inner; i++) {
            const mdl_scalar *xs = x + o * n * inner + i;
            mdl_scalar *ys = y + o * n * inner + i;
            mdl_scalar m = xs[0];
            double total = 0;
            for (k = 1; k < n; k++) m = xs[k * inner] > m ? xs[k * inner] : m;
            for (k = 0; k < n; k++) total += exp((double)(xs[k * inner] - m));
            if (log_form) { /* (x - m) - log(total): x - m is exact near the maximum, where
                               m + log(total) first would round away the small part */
                mdl_scalar log_total = (mdl_scalar)log(total);
                for (k = 0; k < n; k++) ys[k * inner] = (xs[k * inner] - m) - log_total;
            } else {
                for (k = 0; k < n; k++)
                    ys[k * inner] = (mdl_scalar)(exp((double)(xs[k * inner] - m)) / total);
            }
        }
    }
}

static void mdl__softmax_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *y = node->out->data, *g = node->out->grad;
    size_t outer, n, inner, o, i, k;
    if (!dx) return;
    mdl__split(X, node->arg[0], &outer, &n, &inner);
    for (o = 0; o < outer; o++) {
        for (i = 0; i < inner; i++) {
            size_t base = o * n * inner + i;
            double dot = 0;
            if (node->op == MDL_OP_SOFTMAX) {
                for (k = 0; k < n; k++) dot += (double)g[base + k * inner] * y[base + k * inner];
                for (k = 0; k < n; k++) {
                    size_t at = base + k * inner;
                    dx[at] += y[at] * (g[at] - (mdl_scalar)dot);
                }
            } else {
                for (k = 0; k < n; k++) dot += g[base + k * inner];
                for (k = 0; k < n; k++) {
                    size_t at = base + k * inner;
                    dx[at] += g[at] - MDL__EXP(y[at]) * (mdl_scalar)dot;
                }
            }
        }
    }
}

static mdl_tensor *mdl__softmax(mdl_arena *ar, const char *fn, mdl_op op, mdl_tensor *x,
                                int axis) {
    mdl_tensor *out;
    size_t outer, n, inner;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (x->ndim == 0) {
        mdl__fail(MDL_ERR_ARG, fn, "x is a scalar: softmax needs an axis to normalize along");
        return NULL;
    }
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return NULL;
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (!out) return NULL;
    mdl__split(x, axis, &outer, &n, &inner);
    mdl__softmax_forward(op == MDL_OP_LOG_SOFTMAX, x->data, out->data, outer, n, inner);
    if (!mdl__finish(ar, fn, op, out, 1, &x)) return NULL;
    if (out->node) out->node->arg[0] = axis;
    return out;
}

MDLDEF mdl_tensor *mdl_softmax(mdl_arena *ar, mdl_tensor *x, int axis) {
    return mdl__softmax(ar, "mdl_softmax", MDL_OP_SOFTMAX, x, axis);
}
MDLDEF mdl_tensor *mdl_log_softmax(mdl_arena *ar, mdl_tensor *x, int axis) {
    return mdl__softmax(ar, "mdl_log_softmax", MDL_OP_LOG_SOFTMAX, x, axis);
}

/* ---------------------------------------------------------------------------------------------
   Reductions along an axis                      x:[outer, n, inner] -> y:[outer, inner]
     sum   y = sum_k x_k          dx_k += g
     max   y = max_k x_k          dx_k += g for the first k that is the maximum, 0 elsewhere;
                                  over MDL_ALL, g / t for each of the t elements equal to the
                                  maximum (PyTorch's rules for max(dim) and for max())
   keepdim keeps the reduced axis with size 1, as PyTorch does; MDL_ALL reduces everything.
   Sums run in double so a long sum of floats does not drift. Saved: for max, the position k of
   each maximum. mean and var are built from these (see below).
   --------------------------------------------------------------------------------------------- */

/* The output shape of a reduction over `axis` (already checked; MDL_ALL allowed). */
static int mdl__reduced_shape(const mdl_tensor *x, int axis, int keepdim, int *shape) {
    int d, nd = 0;
    for (d = 0; d < x->ndim; d++) {
        if (axis == MDL_ALL || d == axis) {
            if (keepdim) shape[nd++] = 1;
        } else {
            shape[nd++] = x->shape[d];
        }
    }
    return nd;
}

static void mdl__sum_forward(const mdl_scalar *x, mdl_scalar *y, size_t outer, size_t n,
                             size_t inner) {
    size_t o, i, k;
    for (o = 0; o < outer; o++)
        for (i = 0; i < inner; i++) {
            double total = 0;
            for (k = 0; k < n; k++) total += x[(o * n + k) * inner + i];
            y[o * inner + i] = (mdl_scalar)total;
        }
}

static void mdl__sum_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *g = node->out->grad;
    size_t outer, n, inner, o, i, k;
    if (!dx) return;
    mdl__split(X, node->arg[0], &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < n; k++)
            for (i = 0; i < inner; i++) dx[(o * n + k) * inner + i] += g[o * inner + i];
}

/* Position of the first maximum along the axis for each (o, i); NaN counts as the largest. */
static void mdl__argmax_forward(const mdl_scalar *x, mdl_scalar *y, size_t *pos, size_t outer,
                                size_t n, size_t inner) {
    size_t o, i, k;
    for (o = 0; o < outer; o++)
        for (i = 0; i < inner; i++) {
            const mdl_scalar *xs = x + o * n * inner + i;
            size_t best = 0;
            for (k = 1; k < n; k++) {
                if (xs[best * inner] != xs[best * inner]) break; /* a NaN wins */
                if (xs[k * inner] > xs[best * inner] || xs[k * inner] != xs[k * inner]) best = k;
            }
            if (y) y[o * inner + i] = xs[best * inner];
            pos[o * inner + i] = best;
        }
}

static void mdl__max_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *g = node->out->grad;
    const size_t *pos = (const size_t *)node->saved;
    size_t outer, n, inner, o, i;
    if (!dx) return;
    if (node->arg[0] == MDL_ALL) { /* every element equal to the maximum gets an equal share */
        const mdl_scalar *x = X->data, y = node->out->data[0];
        size_t ties = 0;
        for (i = 0; i < X->numel; i++) ties += x[i] == y || (x[i] != x[i] && y != y);
        for (i = 0; i < X->numel; i++)
            if (x[i] == y || (x[i] != x[i] && y != y)) dx[i] += g[0] / (mdl_scalar)ties;
        return;
    }
    mdl__split(X, node->arg[0], &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (i = 0; i < inner; i++)
            dx[(o * n + pos[o * inner + i]) * inner + i] += g[o * inner + i];
}

/* sum, max and argmax share their checks and shapes. */
static mdl_tensor *mdl__reduce(mdl_arena *ar, const char *fn, mdl_op op, int want_argmax,
                               mdl_tensor *x, int axis, int keepdim) {
    int shape[MDL_MAX_DIMS] = {0}, nd;
    size_t outer, n, inner, *pos = NULL;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    axis = mdl__axis(fn, x, axis, 1);
    if (axis == -1) return NULL;
    if (x->ndim == 0) axis = MDL_ALL;
    mdl__split(x, axis, &outer, &n, &inner);
    if (op == MDL_OP_MAX && n == 0) {
        char buf[96];
        mdl__fail(MDL_ERR_ARG, fn, "x %s is empty along the axis: no maximum to take",
                  mdl_shape_str(x, buf, sizeof buf));
        return NULL;
    }
    nd = mdl__reduced_shape(x, axis, keepdim, shape);
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    if (!out) return NULL;
    if (op == MDL_OP_SUM) {
        mdl__sum_forward(x->data, out->data, outer, n, inner);
    } else {
        pos = (size_t *)mdl__alloc(ar, outer * inner * sizeof(size_t));
        if (!pos) return NULL;
        mdl__argmax_forward(x->data, out->data, pos, outer, n, inner);
        if (want_argmax) {
            size_t i;
            for (i = 0; i < outer * inner; i++) out->data[i] = (mdl_scalar)pos[i];
            return out; /* an index is not differentiable: no tape node */
        }
    }
    if (!mdl__finish(ar, fn, op, out, 1, &x)) return NULL;
    if (out->node) {
        out->node->arg[0] = axis;
        out->node->saved = pos;
    }
    return out;
}

MDLDEF mdl_tensor *mdl_sum(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim) {
    return mdl__reduce(ar, "mdl_sum", MDL_OP_SUM, 0, x, axis, keepdim);
}
MDLDEF mdl_tensor *mdl_max(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim) {
    return mdl__reduce(ar, "mdl_max", MDL_OP_MAX, 0, x, axis, keepdim);
}
MDLDEF mdl_tensor *mdl_argmax(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim) {
    return mdl__reduce(ar, "mdl_argmax", MDL_OP_MAX, 1, x, axis, keepdim);
}

/* ---------------------------------------------------------------------------------------------
   logsumexp along an axis                            x:[outer, n, inner] -> y:[outer, inner]
     y = m + log(sum_k e^(x_k - m)),  m = max_k x_k      dx_k += g e^(x_k - y) = g softmax(x)_k
   Why subtract m: e^x overflows float for x > 88, but every x_k - m is <= 0, so no term
   exceeds 1, and the largest is exactly 1, so the sum lies in [1, n] and its log is tame;
   m comes back outside the log exactly. An infinite m (all -inf, none at all, or a +inf) is
   not subtracted, since inf - inf is NaN; the plain sum then gives the right -inf or +inf.
   The sum runs in double. keepdim and MDL_ALL as for the reductions above. Saved: y.
   --------------------------------------------------------------------------------------------- */

static void mdl__logsumexp_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *y = node->out->data, *g = node->out->grad;
    size_t outer, n, inner, o, k, i;
    if (!dx) return;
    mdl__split(X, node->arg[0], &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < n; k++)
            for (i = 0; i < inner; i++) {
                size_t at = (o * n + k) * inner + i;
                dx[at] += g[o * inner + i] * MDL__EXP(X->data[at] - y[o * inner + i]);
            }
}

MDLDEF mdl_tensor *mdl_logsumexp(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim) {
    const char *fn = "mdl_logsumexp";
    int shape[MDL_MAX_DIMS] = {0}, nd;
    size_t outer, n, inner, o, i, k;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    axis = mdl__axis(fn, x, axis, 1);
    if (axis == -1) return NULL;
    if (x->ndim == 0) axis = MDL_ALL;
    nd = mdl__reduced_shape(x, axis, keepdim, shape);
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    if (!out) return NULL;
    mdl__split(x, axis, &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (i = 0; i < inner; i++) {
            const mdl_scalar *xs = x->data + o * n * inner + i;
            double m = -HUGE_VAL, total = 0;
            for (k = 0; k < n; k++) /* the maximum (a NaN is skipped here, but not by the sum) */
                if (xs[k * inner] > m) m = xs[k * inner];
            if (!isfinite(m)) m = 0;
            for (k = 0; k < n; k++) total += exp((double)xs[k * inner] - m);
            out->data[o * inner + i] = (mdl_scalar)(m + log(total));
        }
    if (!mdl__finish(ar, fn, MDL_OP_LOGSUMEXP, out, 1, &x)) return NULL;
    if (out->node) out->node->arg[0] = axis;
    return out;
}

/* ---------------------------------------------------------------------------------------------
   sum over several axes               x:[N,C,H,W] axes {0,2,3} -> y:[C] (keepdim: [1,C,1,1])
     y[c] = sum over n, h, w of x[n,c,h,w]                dx[n,c,h,w] += g[c]
   One pass over x in order, adding each element into its output. Laid out as x's shape with
   the reduced axes set to 1, the output broadcasts to x, so the broadcast walk over x carries
   the output's offset: it moves along the kept axes and stands still (step 0) along the
   reduced ones. Backward is the same walk reading instead of adding, expand's forward. Going
   through permute (reduced axes last), reshape and one mdl_sum would give the same values but
   copy all of x first; this reads x once. Sums run in double, in a buffer from the arena.
   Saved: the reduced axes, as the bits of arg[0].
   --------------------------------------------------------------------------------------------- */

/* Steps of the output's offset along each axis of x, for a sum over the axes in `mask` (bit d
   for axis d): the output's stride along a kept axis, 0 along a reduced one. */
static void mdl__reduced_steps(const mdl_tensor *x, unsigned mask, size_t *step) {
    size_t stride = 1;
    int d;
    for (d = x->ndim - 1; d >= 0; d--) {
        if (mask >> d & 1u) {
            step[d] = 0;
        } else {
            step[d] = stride;
            stride *= (size_t)x->shape[d];
        }
    }
}

static void mdl__sum_axes_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *g = node->out->grad;
    mdl__walk w;
    size_t i;
    if (!dx) return;
    mdl__walk_init(&w, X->ndim, X->shape);
    mdl__reduced_steps(X, (unsigned)node->arg[0], w.step[0]);
    w.n = 1;
    for (i = 0; i < X->numel; i++, mdl__walk_next(&w)) dx[i] += g[w.off[0]];
}

/* The axes of a list as bits (bit d for axis d), each checked: in range (negative ones count
   from the end) and not given twice. 0 after reporting. */
static unsigned mdl__axes_mask(const char *fn, const mdl_tensor *x, int n_axes, const int *axes) {
    unsigned mask = 0;
    char buf[96];
    int j;
    mdl_shape_str(x, buf, sizeof buf);
    if (n_axes > 0 && !axes) {
        mdl__fail(MDL_ERR_NULL, fn, "axes is NULL (n_axes = %d)", n_axes);
        return 0;
    }
    if (n_axes < 1 || n_axes > x->ndim) {
        mdl__fail(MDL_ERR_ARG, fn, "n_axes = %d for x %s: reduce 1 to %d axes (for a scalar of "
                  "everything, mdl_sum with MDL_ALL)", n_axes, buf, x->ndim);
        return 0;
    }
    for (j = 0; j < n_axes; j++) {
        int a = mdl__axis(fn, x, axes[j], 0);
        if (a < 0) return 0;
        if (mask >> a & 1u) {
            mdl__fail(MDL_ERR_ARG, fn, "axes[%d] = %d names axis %d of x %s a second time (each "
                      "axis at most once)", j, axes[j], a, buf);
            return 0;
        }
        mask |= 1u << a;
    }
    return mask;
}

/* How many elements of x go into each output of a reduction over the axes in `mask`. */
static size_t mdl__mask_count(const mdl_tensor *x, unsigned mask) {
    size_t count = 1;
    int d;
    for (d = 0; d < x->ndim; d++)
        if (mask >> d & 1u) count *= (size_t)x->shape[d];
    return count;
}

MDLDEF mdl_tensor *mdl_sum_axes(mdl_arena *ar, mdl_tensor *x, int n_axes, const int *axes,
                                int keepdim) {
    const char *fn = "mdl_sum_axes";
    int shape[MDL_MAX_DIMS] = {0}, nd = 0, d;
    unsigned mask;
    double *total;
    mdl_tensor *out;
    mdl__walk w;
    size_t i;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mask = mdl__axes_mask(fn, x, n_axes, axes);
    if (!mask) return NULL;
    for (d = 0; d < x->ndim; d++) {
        if (!(mask >> d & 1u))
            shape[nd++] = x->shape[d];
        else if (keepdim)
            shape[nd++] = 1;
    }
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    if (!out) return NULL;
    total = (double *)mdl__alloc_zero(ar, out->numel * sizeof(double));
    if (!total) return NULL;
    mdl__walk_init(&w, x->ndim, x->shape);
    mdl__reduced_steps(x, mask, w.step[0]);
    w.n = 1;
    for (i = 0; i < x->numel; i++, mdl__walk_next(&w)) total[w.off[0]] += x->data[i];
    for (i = 0; i < out->numel; i++) out->data[i] = (mdl_scalar)total[i];
    if (!mdl__finish(ar, fn, MDL_OP_SUM_AXES, out, 1, &x)) return NULL;
    if (out->node) out->node->arg[0] = (int)mask;
    return out;
}

/* mean = sum / n, built from sum and mul_scalar, so it needs no backward of its own. */
static size_t mdl__axis_count(const mdl_tensor *x, int axis) {
    return axis == MDL_ALL ? x->numel : (size_t)x->shape[axis];
}

MDLDEF mdl_tensor *mdl_mean(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim) {
    mdl_tensor *s;
    if (!mdl__usable_arena("mdl_mean", ar) || !mdl__usable("mdl_mean", "x", x)) return NULL;
    axis = mdl__axis("mdl_mean", x, axis, 1);
    if (axis == -1) return NULL;
    s = mdl_sum(ar, x, axis, keepdim);
    return mdl_mul_scalar(ar, s, (mdl_scalar)(1.0 / (double)mdl__axis_count(x, axis)));
}

/* var = sum((x - mean)^2) / (n - correction): two passes (first the mean, then the squared
   distances from it), which is more accurate in floating point than E[x^2] - E[x]^2. */
MDLDEF mdl_tensor *mdl_var(mdl_arena *ar, mdl_tensor *x, int axis, int correction, int keepdim) {
    mdl_tensor *m, *d, *s;
    if (!mdl__usable_arena("mdl_var", ar) || !mdl__usable("mdl_var", "x", x)) return NULL;
    axis = mdl__axis("mdl_var", x, axis, 1);
    if (axis == -1) return NULL;
    if (correction < 0) {
        mdl__fail(MDL_ERR_ARG, "mdl_var", "correction %d is negative", correction);
        return NULL;
    }
    m = mdl_mean(ar, x, axis, 1);
    d = mdl_sub(ar, x, m);
    s = mdl_sum(ar, mdl_mul(ar, d, d), axis, keepdim);
    return mdl_mul_scalar(ar, s, (mdl_scalar)(1.0 / ((double)mdl__axis_count(x, axis) -
                                                     (double)correction)));
}

/* mean_axes = sum_axes / n and var_axes = sum_axes((x - mean)^2) / (n - correction), n the
   number of elements in each output, built from sum_axes as mean and var are from sum. */
MDLDEF mdl_tensor *mdl_mean_axes(mdl_arena *ar, mdl_tensor *x, int n_axes, const int *axes,
                                 int keepdim) {
    const char *fn = "mdl_mean_axes";
    unsigned mask;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mask = mdl__axes_mask(fn, x, n_axes, axes);
    if (!mask) return NULL;
    return mdl_mul_scalar(ar, mdl_sum_axes(ar, x, n_axes, axes, keepdim),
                          (mdl_scalar)(1.0 / (double)mdl__mask_count(x, mask)));
}

MDLDEF mdl_tensor *mdl_var_axes(mdl_arena *ar, mdl_tensor *x, int n_axes, const int *axes,
                                int correction, int keepdim) {
    const char *fn = "mdl_var_axes";
    mdl_tensor *m, *d, *s;
    unsigned mask;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mask = mdl__axes_mask(fn, x, n_axes, axes);
    if (!mask) return NULL;
    if (correction < 0) {
        mdl__fail(MDL_ERR_ARG, fn, "correction %d is negative", correction);
        return NULL;
    }
    m = mdl_mean_axes(ar, x, n_axes, axes, 1);
    d = mdl_sub(ar, x, m);
    s = mdl_sum_axes(ar, mdl_mul(ar, d, d), n_axes, axes, keepdim);
    return mdl_mul_scalar(ar, s, (mdl_scalar)(1.0 / ((double)mdl__mask_count(x, mask) -
                                                     (double)correction)));
}

/* ---------------------------------------------------------------------------------------------
   matmul                                  C = A @ B   A:[M,K] B:[K,N] -> C:[M,N]
     dA += dC @ B^T     dB += A^T @ dC
   As torch.matmul: a 1-D A is a row [1,K] and a 1-D B a column [K,1], that axis dropped from
   C again; the axes before the last two are batch axes, which broadcast as elementwise ops do
   ([B,H,T,D] @ [B,H,D,T], [M,K] @ [B,K,N]). An input shared across a batch (a broadcast axis)
   gets the sum of its gradients over that batch: the GEMM's beta = 1 does the adding.
   mdl_matmul_t also takes op(A) = A^T or op(B) = B^T (the last two axes swapped) without
   copying them, since the GEMM reads a transposed operand as it is: x @ W^T for a linear layer
   whose weight is [out, in]. With transposes, in the stored layouts:
     C = op(A) op(B)    dop(A) = dC op(B)^T    dop(B) = op(A)^T dC
   and dA = dop(A)^T when A is stored transposed, likewise dB.
   When B has no batch axes and A is not transposed, A's batch is folded into its rows: one
   product [batch*M, K] @ op(B), a wider and faster GEMM than batch small ones.
   Saved for backward: A, B and the geometry.
   --------------------------------------------------------------------------------------------- */

/* The GEMM every matrix product goes through, as BLAS's sgemm:
       C = alpha op(A) op(B) + beta C      op(A):[M,K] op(B):[K,N] C:[M,N], row-major,
   op(X) is X or X^T (trans_a, trans_b), and lda, ldb, ldc are the row strides. beta == 0 means
   C is written without being read. This plain kernel is three loops, ordered so that the
   innermost walks rows of B and C contiguously. */
static void mdl__gemm_plain(int trans_a, int trans_b, int m, int n, int k, mdl_scalar alpha,
                            const mdl_scalar *a, int lda, const mdl_scalar *b, int ldb,
                            mdl_scalar beta, mdl_scalar *c, int ldc) {
    int i, j, p;
    for (i = 0; i < m; i++) { /* C = beta C first; beta == 0 must not read C (it may be NaN) */
        mdl_scalar *ci = c + (size_t)i * (size_t)ldc;
        if (beta == 0) {
            for (j = 0; j < n; j++) ci[j] = 0;
        } else if (beta != 1) {
            for (j = 0; j < n; j++) ci[j] *= beta;
        }
    }
    if (alpha == 0 || k == 0) return;
    for (i = 0; i < m; i++) {
        mdl_scalar *ci = c + (size_t)i * (size_t)ldc;
        if (!trans_b) { /* C[i,:] += alpha A[i,p] B[p,:] for each p: rows of B, contiguous */
            for (p = 0; p < k; p++) {
                mdl_scalar aip = alpha * (trans_a ? a[(size_t)p * (size_t)lda + (size_t)i]
                                                  : a[(size_t)i * (size_t)lda + (size_t)p]);
                const mdl_scalar *bp = b + (size_t)p * (size_t)ldb;
                for (j = 0; j < n; j++) ci[j] += aip * bp[j];
            }
        } else { /* C[i,j] += alpha dot(A[i,:], B[j,:]): rows of B^T are rows of B */
            for (j = 0; j < n; j++) {
                const mdl_scalar *bj = b + (size_t)j * (size_t)ldb;
                mdl_scalar total = 0;
                for (p = 0; p < k; p++)
                    total += (trans_a ? a[(size_t)p * (size_t)lda + (size_t)i]
                                      : a[(size_t)i * (size_t)lda + (size_t)p]) * bj[p];
                ci[j] += alpha * total;
            }
        }
    }
}

#ifndef MINIDL_DOUBLE
/* The fast GEMM (packing, SIMD micro-kernels, threads), in >>kernels at the end: it computes
   what mdl__gemm_plain computes, and tests/test_gemm.c holds one against the other. */
static void mdl__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc);
#endif

/* The entry point every op uses: the fast GEMM, or the plain one where there is no other. */
static void mdl__gemm(int trans_a, int trans_b, int m, int n, int k, mdl_scalar alpha,
                      const mdl_scalar *a, int lda, const mdl_scalar *b, int ldb, mdl_scalar beta,
                      mdl_scalar *c, int ldc) {
#ifdef MINIDL_DOUBLE
    mdl__gemm_plain(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    mdl__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* The geometry of one matmul: the product sizes, the transposes, and for each of the `batch`
   products which matrix of A and of B it reads. */
typedef struct mdl__matmul_geom {
    int m, k, n, ta, tb;
    int batch, fold;          /* products; fold: A's batch folded into one product */
    int nd;                   /* batch rank */
    int shape[MDL_MAX_DIMS];  /* batch shape */
    size_t sa[MDL_MAX_DIMS];  /* matrices to step in A along each batch axis (0: broadcast) */
    size_t sb[MDL_MAX_DIMS];
} mdl__matmul_geom;

/* Which matrix of A and of B product i reads. */
static void mdl__matmul_pick(const mdl__matmul_geom *g, int i, size_t *ia, size_t *ib) {
    int d;
    size_t r = (size_t)i;
    *ia = *ib = 0;
    for (d = g->nd - 1; d >= 0; d--) {
        size_t q = r % (size_t)g->shape[d];
        r /= (size_t)g->shape[d];
        *ia += q * g->sa[d];
        *ib += q * g->sb[d];
    }
}

static void mdl__matmul_backward(mdl__node *node) {
    const mdl__matmul_geom *g = (const mdl__matmul_geom *)node->saved;
    mdl_tensor *A = node->in[0], *B = node->in[1];
    mdl_scalar *da = mdl__grad_of(A), *db = mdl__grad_of(B);
    const mdl_scalar *dc = node->out->grad;
    const int m = g->fold ? g->m * g->batch : g->m, k = g->k, n = g->n, ta = g->ta, tb = g->tb;
    const int lda = ta ? m : k, ldb = tb ? k : n; /* row strides of A and B as stored */
    const size_t a_size = (size_t)m * (size_t)k, b_size = (size_t)k * (size_t)n;
    int i;
    for (i = 0; i < (g->fold ? 1 : g->batch); i++) {
        size_t ia, ib;
        const mdl_scalar *dci = dc + (size_t)i * (size_t)m * (size_t)n, *ai, *bi;
        mdl__matmul_pick(g, i, &ia, &ib);
        ai = A->data + ia * a_size;
        bi = B->data + ib * b_size;
        if (da && !ta) /* dA[M,K] += dC @ op(B)^T */
            mdl__gemm(0, !tb, m, k, n, 1, dci, n, bi, ldb, 1, da + ia * a_size, lda);
        if (da && ta) /* dA[K,M] += op(B) @ dC^T */
            mdl__gemm(tb, 1, k, m, n, 1, bi, ldb, dci, n, 1, da + ia * a_size, lda);
        if (db && !tb) /* dB[K,N] += op(A)^T @ dC */
            mdl__gemm(!ta, 0, k, n, m, 1, ai, lda, dci, n, 1, db + ib * b_size, ldb);
        if (db && tb) /* dB[N,K] += dC^T @ op(A) */
            mdl__gemm(1, ta, n, k, m, 1, dci, n, ai, lda, 1, db + ib * b_size, ldb);
    }
}

/* The sizes of op(x) as a matrix, [rows, cols], with a 1-D x as a row (is_a) or a column. */
static void mdl__matmul_operand(const mdl_tensor *x, int trans, int is_a, int *rows, int *cols) {
    if (x->ndim == 1) {
        *rows = is_a ? 1 : x->shape[0];
        *cols = is_a ? x->shape[0] : 1;
    } else {
        *rows = x->shape[x->ndim - (trans ? 1 : 2)];
        *cols = x->shape[x->ndim - (trans ? 2 : 1)];
    }
}

/* Check the shapes of op(a) @ op(b) and fill in the geometry and the output shape; 0 after
   reporting an error. */
static int mdl__matmul_shapes(const char *fn, const mdl_tensor *a, const mdl_tensor *b, int ta,
                              int tb, mdl__matmul_geom *g, int *nd_out, int *shape) {
    char bufa[96], bufb[96];
    int ka, nda = a->ndim > 2 ? a->ndim - 2 : 0, ndb = b->ndim > 2 ? b->ndim - 2 : 0, d;
    size_t step_a = 1, step_b = 1;
    mdl_shape_str(a, bufa, sizeof bufa);
    mdl_shape_str(b, bufb, sizeof bufb);
    if (a->ndim == 0 || b->ndim == 0) {
        mdl__fail(MDL_ERR_SHAPE, fn, "a %s @ b %s: a scalar has no rows to multiply (use mdl_mul)",
                  bufa, bufb);
        return 0;
    }
    memset(g, 0, sizeof *g);
    g->ta = ta && a->ndim > 1;
    g->tb = tb && b->ndim > 1;
    mdl__matmul_operand(a, g->ta, 1, &g->m, &ka);
    mdl__matmul_operand(b, g->tb, 0, &g->k, &g->n);
    if (ka != g->k) {
        if (!g->ta && !g->tb)
            mdl__fail(MDL_ERR_SHAPE, fn, "a %s @ b %s: a.shape[%d]=%d != b.shape[%d]=%d", bufa,
                      bufb, a->ndim - 1, ka, b->ndim > 1 ? b->ndim - 2 : 0, g->k);
        else
            mdl__fail(MDL_ERR_SHAPE, fn, "%s %s @ %s %s: op(a) has %d columns, op(b) %d rows",
                      g->ta ? "a^T of" : "a", bufa, g->tb ? "b^T of" : "b", bufb, ka, g->k);
        return 0;
    }
    g->nd = nda > ndb ? nda : ndb; /* the batch axes, lined up from the right */
    for (d = g->nd - 1; d >= 0; d--) {
        int da = d - (g->nd - nda), db = d - (g->nd - ndb);
        int sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            mdl__fail(MDL_ERR_SHAPE, fn, "a %s @ b %s: the batch axes do not broadcast: axis %d "
                      "has %d vs %d (sizes must be equal, or one of them 1)", bufa, bufb, d - g->nd,
                      sa, sb);
            return 0;
        }
        g->shape[d] = sa == 1 ? sb : sa;
        g->sa[d] = sa == 1 ? 0 : step_a;
        g->sb[d] = sb == 1 ? 0 : step_b;
        step_a *= (size_t)sa;
        step_b *= (size_t)sb;
    }
    g->batch = 1;
    for (d = 0; d < g->nd; d++) {
        shape[d] = g->shape[d];
        g->batch *= g->shape[d];
    }
    *nd_out = g->nd;
    if (a->ndim > 1) shape[(*nd_out)++] = g->m;
    if (b->ndim > 1) shape[(*nd_out)++] = g->n;
    g->fold = g->batch > 1 && ndb == 0 && !g->ta && step_a == (size_t)g->batch;
    return 1;
}

MDLDEF mdl_tensor *mdl_matmul_t(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b, int trans_a,
                                int trans_b) {
    const char *fn = trans_a || trans_b ? "mdl_matmul_t" : "mdl_matmul";
    mdl__matmul_geom g, *saved;
    int nd, shape[MDL_MAX_DIMS], i, m, lda, ldb;
    mdl_tensor *out, *in[2];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "a", a) || !mdl__usable(fn, "b", b))
        return NULL;
    if (!mdl__matmul_shapes(fn, a, b, trans_a != 0, trans_b != 0, &g, &nd, shape)) return NULL;
    out = mdl__make(ar, fn, nd, shape, NULL, 0);
    saved = (mdl__matmul_geom *)mdl__alloc(ar, sizeof g);
    if (!out || !saved) return NULL;
    m = g.fold ? g.m * g.batch : g.m;
    lda = g.ta ? m : g.k;
    ldb = g.tb ? g.k : g.n;
    for (i = 0; i < (g.fold ? 1 : g.batch); i++) { /* C_i = op(A_ia) @ op(B_ib) */
        size_t ia, ib;
        mdl__matmul_pick(&g, i, &ia, &ib);
        mdl__gemm(g.ta, g.tb, m, g.n, g.k, 1, a->data + ia * (size_t)m * (size_t)g.k, lda,
                  b->data + ib * (size_t)g.k * (size_t)g.n, ldb, 0,
                  out->data + (size_t)i * (size_t)m * (size_t)g.n, g.n);
    }
    *saved = g;
    in[0] = a;
    in[1] = b;
    if (!mdl__finish(ar, fn, MDL_OP_MATMUL, out, 2, in)) return NULL;
    if (out->node) out->node->saved = saved;
    return out;
}

MDLDEF mdl_tensor *mdl_matmul(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b) {
    return mdl_matmul_t(ar, a, b, 0, 0);
}

/* dst[0..n) = src[0..n), for short rows (im2col's, a last strip of B): copies of a constant
   size compile to a few vector moves, where memcpy of a variable size is a library call that
   costs more than a row of 10 or 28 values (the last piece may overlap the one before it) */
MDL__ALWAYS_INLINE void mdl__copy_row(mdl_scalar *dst, const mdl_scalar *src, int n) {
    int i = 0;
    if (n >= 8) {
        for (; i + 8 <= n; i += 8) memcpy(dst + i, src + i, 8 * sizeof(mdl_scalar));
        if (i < n) memcpy(dst + n - 8, src + n - 8, 8 * sizeof(mdl_scalar));
    } else if (n >= 4) {
        memcpy(dst, src, 4 * sizeof(mdl_scalar));
        memcpy(dst + n - 4, src + n - 4, 4 * sizeof(mdl_scalar));
    } else {
        for (; i < n; i++) dst[i] = src[i];
    }
}

/* ---------------------------------------------------------------------------------------------
   conv2d                x:[B,C,H,W] w:[O,C/G,KH,KW] bias:[O] -> y:[B,O,OH,OW]
     y[b,o,oy,ox] = bias[o] + sum_{c,i,j} w[o,c,i,j] x[b, g C/G + c, oy s - p + i d, ox s - p + j d]
     (G groups: output channel o sees only the C/G input channels of its group g = o / (O/G);
     s stride, p zero padding, d dilation; OH = (H + 2p - d (KH-1) - 1) / s + 1, likewise OW)
   How: im2col + GEMM. im2col copies, for a run of images, every input patch into a column of a
   matrix cols:[C/G*KH*KW, L] (L = images * OH*OW output positions), so the convolution of a
   group is one matrix product
       Y_g:[O/G, L] = W_g:[O/G, C/G*KH*KW] @ cols      (then Y is scattered back into [B,O,...])
   and the backward pass two more:
       dW_g += dY_g @ cols^T        dcols = W_g^T @ dY_g, added back into dx by col2im
       dbias[o] += sum of dY over images and positions
       (dY_g:[O/G, L] is dY of the run's images gathered from [B,O,OH,OW], a plane at a time)
   Why this scheme: the products are large and regular, so they run on the SIMD GEMM at most of
   its speed, while a direct convolution would need its own SIMD kernel for every shape of
   filter. Putting several images side by side in one cols (L = images x positions) makes the
   products wide even when one image is small (LeNet: 6 x 25 x 784 per image). The images go in
   runs that keep cols within 512 KiB, so that it is still in the L2 cache when the GEMM reads
   what im2col wrote. When w needs a gradient, forward keeps every run's cols (up to 32 MiB) for
   backward's dW: reading them back is cheaper than building them again.
   Y_g = W_g @ cols and dcols = W_g^T @ dY_g (B not transposed) go to mdl__gemm's unpacked
   kernels, which read cols (or dY_g) where im2col left it; dW = dY_g @ cols^T is a small matrix
   (O/G x C/G*KH*KW) with a long shared dimension L, which mdl__gemm computes as dot products
   of rows, reading dY_g and cols in place (the unpacked path's with 8 output channels or
   more; the 4 x 3 kernels' with fewer).
   dx is computed only when x requires grad (the first layer's input never does).
   Saved for backward: x and w, the geometry, and the kept cols.
   --------------------------------------------------------------------------------------------- */

static mdl_tensor *mdl__reshape(mdl_arena *ar, const char *fn, mdl_tensor *x, int ndim,
                                const int *shape); /* below, with the shape ops */

typedef struct mdl__conv {
    int B, C, H, W;      /* input */
    int O, KH, KW;       /* filters */
    int OH, OW;          /* output */
    int sh, sw, ph, pw, dh, dw, groups;
    mdl_scalar *kept; /* every run's cols, kept by forward for backward's dW, or NULL */
} mdl__conv;

/* cols[(c*KH + i)*KW + j][(b-b0)*OH*OW + oy*OW + ox] = x[b, c0 + c, oy*sh - ph + i*dh,
   ox*sw - pw + j*dw], or 0 where that falls in the padding, for images b0..b0+nb-1 and the input
   channels c0..c0+C/G-1 of one group. With padding, each input plane is first copied into the
   middle of `pad`, a plane of (H + 2ph) x (W + 2pw) whose border stays zero, so that every row
   of cols is a plain copy, with no test for the border in the inner loops. */
static void mdl__im2col(const mdl__conv *cv, const mdl_scalar *x, int b0, int nb, int c0,
                        mdl_scalar *cols, mdl_scalar *pad) {
    const int cg = cv->C / cv->groups, plane = cv->OH * cv->OW, padded = cv->ph || cv->pw;
    const int wp = cv->W + 2 * cv->pw, hp = cv->H + 2 * cv->ph;
    const size_t L = (size_t)nb * (size_t)plane;
    int c, i, j, b, oy, ox, iy;
    if (padded) memset(pad, 0, (size_t)hp * (size_t)wp * sizeof(mdl_scalar));
    for (b = 0; b < nb; b++)
        for (c = 0; c < cg; c++) {
            const mdl_scalar *src = x + ((size_t)(b0 + b) * (size_t)cv->C + (size_t)(c0 + c)) *
                                            (size_t)cv->H * (size_t)cv->W;
            if (padded) { /* the plane into the middle of pad */
                for (iy = 0; iy < cv->H; iy++)
                    mdl__copy_row(pad + (size_t)(iy + cv->ph) * (size_t)wp + (size_t)cv->pw,
                                  src + (size_t)iy * (size_t)cv->W, cv->W);
                src = pad;
            }
            for (i = 0; i < cv->KH; i++)
                for (j = 0; j < cv->KW; j++) { /* this image's part of row (c, i, j) of cols */
                    mdl_scalar *dst = cols + ((size_t)(c * cv->KH + i) * (size_t)cv->KW + (size_t)j) * L +
                                      (size_t)b * (size_t)plane;
                    for (oy = 0; oy < cv->OH; oy++) {
                        const mdl_scalar *s_row = src + (size_t)(oy * cv->sh + i * cv->dh) * (size_t)wp +
                                                  (size_t)(j * cv->dw);
                        mdl_scalar *d = dst + (size_t)oy * (size_t)cv->OW;
                        if (cv->sw == 1)
                            mdl__copy_row(d, s_row, cv->OW);
                        else
                            for (ox = 0; ox < cv->OW; ox++) d[ox] = s_row[ox * cv->sw];
                    }
                }
        }
}

/* d[0..n) += s[0..n), eight at a time: each group of eight is loaded whole before it is stored,
   which lets the compiler use vector instructions without proving d and s apart. */
MDL__ALWAYS_INLINE void mdl__add_row(mdl_scalar *d, const mdl_scalar *s, int n) {
    int i = 0, t;
    for (; i + 8 <= n; i += 8) {
        mdl_scalar v[8];
        for (t = 0; t < 8; t++) v[t] = d[i + t] + s[i + t];
        for (t = 0; t < 8; t++) d[i + t] = v[t];
    }
    for (; i < n; i++) d[i] += s[i];
}

/* dst[0..n) = src[0..n) + add, eight at a time like mdl__add_row. */
static void mdl__shift_row(mdl_scalar *dst, const mdl_scalar *src, mdl_scalar add, int n) {
    int i = 0, t;
    for (; i + 8 <= n; i += 8) {
        mdl_scalar v[8];
        for (t = 0; t < 8; t++) v[t] = src[i + t] + add;
        for (t = 0; t < 8; t++) dst[i + t] = v[t];
    }
    for (; i < n; i++) dst[i] = src[i] + add;
}

/* The adjoint of im2col: add every entry of cols back into the input element it came from.
   With padding, the sums go into `pad` first, and only its middle is added into dx: what lands
   on the border came from the zeros of the padding, which have no gradient. */
static void mdl__col2im(const mdl__conv *cv, const mdl_scalar *cols, int b0, int nb, int c0,
                        mdl_scalar *dx, mdl_scalar *pad) {
    const int cg = cv->C / cv->groups, plane = cv->OH * cv->OW, padded = cv->ph || cv->pw;
    const int wp = cv->W + 2 * cv->pw, hp = cv->H + 2 * cv->ph;
    const size_t L = (size_t)nb * (size_t)plane;
    int c, i, j, b, oy, ox, iy;
    for (b = 0; b < nb; b++)
        for (c = 0; c < cg; c++) {
            mdl_scalar *dxp = dx + ((size_t)(b0 + b) * (size_t)cv->C + (size_t)(c0 + c)) *
                                       (size_t)cv->H * (size_t)cv->W;
            mdl_scalar *acc = padded ? pad : dxp;
            if (padded) memset(pad, 0, (size_t)hp * (size_t)wp * sizeof(mdl_scalar));
            for (i = 0; i < cv->KH; i++)
                for (j = 0; j < cv->KW; j++) {
                    const mdl_scalar *src = cols + ((size_t)(c * cv->KH + i) * (size_t)cv->KW + (size_t)j) * L +
                                            (size_t)b * (size_t)plane;
                    for (oy = 0; oy < cv->OH; oy++) {
                        mdl_scalar *a_row = acc + (size_t)(oy * cv->sh + i * cv->dh) * (size_t)wp +
                                            (size_t)(j * cv->dw);
                        const mdl_scalar *s_row = src + (size_t)oy * (size_t)cv->OW;
                        if (cv->sw == 1)
                            mdl__add_row(a_row, s_row, cv->OW);
                        else
                            for (ox = 0; ox < cv->OW; ox++) a_row[ox * cv->sw] += s_row[ox];
                    }
                }
            if (padded) /* the middle of pad into dx */
                for (iy = 0; iy < cv->H; iy++) {
                    const mdl_scalar *s_row = pad + (size_t)(iy + cv->ph) * (size_t)wp + (size_t)cv->pw;
                    mdl__add_row(dxp + (size_t)iy * (size_t)cv->W, s_row, cv->W);
                }
        }
}

/* How many images go into one cols: as many as keep it within 128K values (512 KiB in float,
   half of a 1 MiB L2 cache); at least one. */
static size_t mdl__conv_per_image(const mdl__conv *cv) { /* values of cols per image */
    return (size_t)(cv->C / cv->groups) * (size_t)cv->KH * (size_t)cv->KW * (size_t)cv->OH *
           (size_t)cv->OW;
}

static int mdl__conv_run(const mdl__conv *cv) {
    size_t per_image = mdl__conv_per_image(cv);
    size_t n = per_image ? ((size_t)1 << 17) / per_image : (size_t)cv->B;
    if (n < 1) n = 1;
    return n > (size_t)cv->B ? cv->B : (int)n;
}

/* Where the kept cols of group grp for the run of nb images from b0 start: after the b0 images'
   worth of all groups before it, then grp groups of this run. */
static mdl_scalar *mdl__conv_kept(const mdl__conv *cv, int b0, int nb, int grp) {
    size_t per_image = mdl__conv_per_image(cv);
    return cv->kept + ((size_t)b0 * (size_t)cv->groups + (size_t)grp * (size_t)nb) * per_image;
}

/* With OpenMP, the runs of images are shared among the threads; each thread has its own
   scratch (cols, dY_g or Y_g, pad). The GEMMs inside then run on their thread alone (OpenMP
   does not nest teams by default), which for these small products is where the time goes
   anyway. How many threads for n runs: */
static int mdl__conv_threads(int n) {
#ifdef _OPENMP
    int t = omp_get_max_threads();
    (void)mdl_gemm_kernel(); /* let the GEMM choose its kernel now, not in every thread at once */
    return t < n ? t : n;
#else
    (void)n;
    return 1;
#endif
}

static int mdl__thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* One thread's scratch: a cols matrix, Y_g (forward) or dY_g (backward), and a padded plane. */
typedef struct mdl__conv_scratch {
    mdl_scalar *cols, *yg, *pad;
} mdl__conv_scratch;

/* Forward of the run of nb images from b0, group grp:
       cols = im2col(x)      Y_g = W_g @ cols      y[b, the group's channels] = Y_g + bias */
static void mdl__conv2d_forward_run(const mdl__conv *cv, const mdl_scalar *x, const mdl_scalar *w,
                                    const mdl_scalar *bias, mdl_scalar *y, int b0, int nb, int grp,
                                    mdl__conv_scratch s) {
    const int og = cv->O / cv->groups, kg = cv->C / cv->groups * cv->KH * cv->KW;
    const int plane = cv->OH * cv->OW, L = nb * plane;
    mdl_scalar *cg = cv->kept ? mdl__conv_kept(cv, b0, nb, grp) : s.cols;
    int o, b;
    mdl__im2col(cv, x, b0, nb, grp * (cv->C / cv->groups), cg, s.pad);
    mdl__gemm(0, 0, og, L, kg, 1, w + (size_t)grp * (size_t)og * (size_t)kg, kg, cg, L, 0, s.yg,
              L);
    for (o = 0; o < og; o++)
        for (b = 0; b < nb; b++) {
            mdl_scalar *dst = y + ((size_t)(b0 + b) * (size_t)cv->O + (size_t)(grp * og + o)) *
                                      (size_t)plane;
            const mdl_scalar *src = s.yg + (size_t)o * (size_t)L + (size_t)b * (size_t)plane;
            mdl__shift_row(dst, src, bias ? bias[grp * og + o] : 0, plane);
        }
}

/* Backward of the run of nb images from b0, group grp: dY_g gathered from g, then
       dbias += the row sums of dY_g
       dW_g  += dY_g @ cols^T
       dx    += col2im(W_g^T @ dY_g)
   into dw and db (whole-weight buffers, NULL when not wanted) and dx (NULL when not wanted). */
static void mdl__conv2d_backward_run(const mdl__conv *cv, const mdl_scalar *x, const mdl_scalar *w,
                                     const mdl_scalar *g, mdl_scalar *dx, mdl_scalar *dw,
                                     double *db, int b0, int nb, int grp, mdl__conv_scratch s) {
    const int og = cv->O / cv->groups, cgin = cv->C / cv->groups, kg = cgin * cv->KH * cv->KW;
    const int plane = cv->OH * cv->OW, L = nb * plane;
    const mdl_scalar *wg = w + (size_t)grp * (size_t)og * (size_t)kg;
    int o, b, q;
    for (o = 0; o < og; o++) /* dY_g:[O/G, L], a plane of each image at a time */
        for (b = 0; b < nb; b++)
            memcpy(s.yg + (size_t)o * (size_t)L + (size_t)b * (size_t)plane,
                   g + ((size_t)(b0 + b) * (size_t)cv->O + (size_t)(grp * og + o)) * (size_t)plane,
                   (size_t)plane * sizeof(mdl_scalar));
    if (db) /* the sum of each row of dY_g, in double; four running sums, so that each addition
               need not wait for the one before it to finish */
        for (o = 0; o < og; o++) {
            const mdl_scalar *row = s.yg + (size_t)o * (size_t)L;
            double t0 = 0, t1 = 0, t2 = 0, t3 = 0;
            for (q = 0; q + 4 <= L; q += 4)
                t0 += row[q], t1 += row[q + 1], t2 += row[q + 2], t3 += row[q + 3];
            for (; q < L; q++) t0 += row[q];
            db[grp * og + o] += (t0 + t1) + (t2 + t3);
        }
    if (dw) { /* dW_g += dY_g @ cols^T (beta = 1 adds) */
        const mdl_scalar *cg = cv->kept ? mdl__conv_kept(cv, b0, nb, grp) : s.cols;
        if (!cv->kept) mdl__im2col(cv, x, b0, nb, grp * cgin, s.cols, s.pad);
        mdl__gemm(0, 1, og, kg, L, 1, s.yg, L, cg, L, 1, dw + (size_t)grp * (size_t)og * (size_t)kg,
                  kg);
    }
    if (dx) { /* dcols = W_g^T @ dY_g, then back into dx (this run's images only) */
        mdl__gemm(1, 0, kg, L, og, 1, wg, kg, s.yg, L, 0, s.cols, L);
        mdl__col2im(cv, s.cols, b0, nb, grp * cgin, dx, s.pad);
    }
}

/* One thread's scratch out of arrays of `threads` of each, made with mdl__conv_scratch_new. */
static mdl__conv_scratch mdl__conv_scratch_of(const mdl__conv *cv, mdl__conv_scratch all, int run,
                                              int tid) {
    const size_t plane = (size_t)cv->OH * (size_t)cv->OW;
    const size_t n_cols = (size_t)(cv->C / cv->groups * cv->KH * cv->KW) * (size_t)run * plane;
    const size_t n_yg = (size_t)(cv->O / cv->groups) * (size_t)run * plane;
    const size_t n_pad = (size_t)(cv->H + 2 * cv->ph) * (size_t)(cv->W + 2 * cv->pw);
    mdl__conv_scratch s;
    s.cols = all.cols + (size_t)tid * n_cols;
    s.yg = all.yg + (size_t)tid * n_yg;
    s.pad = all.pad + (size_t)tid * n_pad;
    return s;
}

/* Scratch for `threads` threads with runs of `run` images; 0 if out of memory. */
static int mdl__conv_scratch_new(mdl_arena *ar, const mdl__conv *cv, int run, int threads,
                                 mdl__conv_scratch *all) {
    const size_t plane = (size_t)cv->OH * (size_t)cv->OW;
    const size_t n_cols = (size_t)(cv->C / cv->groups * cv->KH * cv->KW) * (size_t)run * plane;
    const size_t n_yg = (size_t)(cv->O / cv->groups) * (size_t)run * plane;
    const size_t n_pad = (size_t)(cv->H + 2 * cv->ph) * (size_t)(cv->W + 2 * cv->pw);
    all->cols = (mdl_scalar *)mdl__alloc(ar, (size_t)threads * n_cols * sizeof(mdl_scalar));
    all->yg = (mdl_scalar *)mdl__alloc(ar, (size_t)threads * n_yg * sizeof(mdl_scalar));
    all->pad = (mdl_scalar *)mdl__alloc(ar, (size_t)threads * n_pad * sizeof(mdl_scalar));
    return all->cols && all->yg && all->pad;
}

/* Backward sums dW and dbias over the runs in MDL__CONV_PARTS parts of consecutive runs, each
   part into its own buffer, then the parts in order: the same additions in the same order
   whatever the number of threads (at most MDL__CONV_PARTS of them share the work). */
#define MDL__CONV_PARTS 8

static void mdl__conv2d_backward(mdl__node *node) {
    const mdl__conv *cv = (const mdl__conv *)node->saved;
    mdl_tensor *X = node->in[0], *Wt = node->in[1], *bias = node->n_in > 2 ? node->in[2] : NULL;
    mdl_scalar *dx = mdl__grad_of(X), *dw = mdl__grad_of(Wt), *db = bias ? mdl__grad_of(bias) : NULL;
    const int run = mdl__conv_run(cv), runs = (cv->B + run - 1) / run;
    const int parts = runs < MDL__CONV_PARTS ? runs : MDL__CONV_PARTS;
    const int threads = mdl__conv_threads(parts);
    const size_t n_w = Wt->numel;
    mdl_arena *ar = node->out->arena;
    mdl__conv_scratch all;
    mdl_scalar *dw_part;
    double *db_part;
    size_t e;
    int part, i;
    if (!dx && !dw && !db) return;
    dw_part = (mdl_scalar *)mdl__alloc_zero(ar, (size_t)parts * n_w * sizeof(mdl_scalar));
    db_part = (double *)mdl__alloc_zero(ar, (size_t)parts * (size_t)cv->O * sizeof(double));
    if (!mdl__conv_scratch_new(ar, cv, run, threads, &all) || !dw_part || !db_part) return;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
    for (part = 0; part < parts; part++) {
        mdl__conv_scratch s = mdl__conv_scratch_of(cv, all, run, mdl__thread_id());
        int r, grp;
        for (r = part * runs / parts; r < (part + 1) * runs / parts; r++) {
            const int b0 = r * run, nb = cv->B - b0 < run ? cv->B - b0 : run;
            for (grp = 0; grp < cv->groups; grp++)
                mdl__conv2d_backward_run(cv, X->data, Wt->data, node->out->grad, dx,
                                         dw ? dw_part + (size_t)part * n_w : NULL,
                                         db ? db_part + (size_t)part * (size_t)cv->O : NULL, b0,
                                         nb, grp, s);
        }
    }
    if (dw) /* the parts, in order */
        for (part = 0; part < parts; part++)
            for (e = 0; e < n_w; e++) dw[e] += dw_part[(size_t)part * n_w + e];
    if (db)
        for (i = 0; i < cv->O; i++) {
            double total = 0;
            for (part = 0; part < parts; part++)
                total += db_part[(size_t)part * (size_t)cv->O + (size_t)i];
            db[i] += (mdl_scalar)total;
        }
}

/* conv2d with separate vertical and horizontal settings; conv1d uses it with H = 1. */
static mdl_tensor *mdl__conv2d(mdl_arena *ar, const char *fn, mdl_tensor *x, mdl_tensor *w,
                               mdl_tensor *bias, int sh, int sw, int ph, int pw, int dh, int dw,
                               int groups) {
    char bx[96], bw[96], bb[96];
    mdl__conv cv, *saved;
    mdl__conv_scratch all;
    mdl_tensor *out, *in[3];
    int shape[4], kg, plane, run, runs, threads, r;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || !mdl__usable(fn, "w", w))
        return NULL;
    if (bias && !mdl__usable(fn, "bias", bias)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    mdl_shape_str(w, bw, sizeof bw);
    if (x->ndim != 4 || w->ndim != 4) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s and w %s: x must be [B,C,H,W] and w [O,C/groups,KH,KW]",
                  bx, bw);
        return NULL;
    }
    if (sh < 1 || sw < 1 || ph < 0 || pw < 0 || dh < 1 || dw < 1 || groups < 1) {
        mdl__fail(MDL_ERR_ARG, fn, "stride %d,%d, padding %d,%d, dilation %d,%d, groups %d: stride, "
                  "dilation and groups must be >= 1 and padding >= 0", sh, sw, ph, pw, dh, dw, groups);
        return NULL;
    }
    cv.B = x->shape[0], cv.C = x->shape[1], cv.H = x->shape[2], cv.W = x->shape[3];
    cv.O = w->shape[0], cv.KH = w->shape[2], cv.KW = w->shape[3];
    cv.sh = sh, cv.sw = sw, cv.ph = ph, cv.pw = pw, cv.dh = dh, cv.dw = dw, cv.groups = groups;
    if (cv.C % groups != 0 || cv.O % groups != 0) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, w %s: groups %d must divide the input channels %d and "
                  "the output channels %d", bx, bw, groups, cv.C, cv.O);
        return NULL;
    }
    if (w->shape[1] != cv.C / groups) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, w %s: w.shape[1]=%d != input channels / groups = %d",
                  bx, bw, w->shape[1], cv.C / groups);
        return NULL;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != cv.O)) {
        mdl__fail(MDL_ERR_SHAPE, fn, "bias %s must be [%d], one per output channel",
                  mdl_shape_str(bias, bb, sizeof bb), cv.O);
        return NULL;
    }
    cv.OH = (cv.H + 2 * ph - dh * (cv.KH - 1) - 1) / sh + 1;
    cv.OW = (cv.W + 2 * pw - dw * (cv.KW - 1) - 1) / sw + 1;
    if (cv.H + 2 * ph - dh * (cv.KH - 1) - 1 < 0 || cv.W + 2 * pw - dw * (cv.KW - 1) - 1 < 0 ||
        cv.KH < 1 || cv.KW < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, w %s: the (dilated) kernel is larger than the padded "
                  "input (padding %d,%d, dilation %d,%d)", bx, bw, ph, pw, dh, dw);
        return NULL;
    }
    shape[0] = cv.B, shape[1] = cv.O, shape[2] = cv.OH, shape[3] = cv.OW;
    out = mdl__make(ar, fn, 4, shape, NULL, 0);
    saved = (mdl__conv *)mdl__alloc(ar, sizeof(mdl__conv));
    kg = cv.C / groups * cv.KH * cv.KW, plane = cv.OH * cv.OW;
    run = mdl__conv_run(&cv);
    /* when w will need a gradient, keep each run's cols for backward (up to 8M values, 32 MiB
       in float): reading them back is cheaper than building them again */
    cv.kept = NULL;
    if (w->requires_grad && ar->grad_enabled &&
        (double)groups * kg * cv.B * plane <= (double)(1 << 23))
        cv.kept = (mdl_scalar *)mdl__alloc(ar, (size_t)groups * (size_t)kg * (size_t)cv.B *
                                                   (size_t)plane * sizeof(mdl_scalar));
    runs = (cv.B + run - 1) / run;
    threads = mdl__conv_threads(runs);
    if (!mdl__conv_scratch_new(ar, &cv, run, threads, &all) || !out || !saved) return NULL;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
    for (r = 0; r < runs; r++) { /* each run of images on its own (see mdl__conv_threads) */
        const int b0 = r * run, nb = cv.B - b0 < run ? cv.B - b0 : run;
        mdl__conv_scratch sc = mdl__conv_scratch_of(&cv, all, run, mdl__thread_id());
        int grp;
        for (grp = 0; grp < groups; grp++)
            mdl__conv2d_forward_run(&cv, x->data, w->data, bias ? bias->data : NULL, out->data,
                                    b0, nb, grp, sc);
    }
    *saved = cv;
    in[0] = x;
    in[1] = w;
    in[2] = bias;
    if (!mdl__finish(ar, fn, MDL_OP_CONV2D, out, bias ? 3 : 2, in)) return NULL;
    if (out->node) out->node->saved = saved;
    return out;
}

/* The options of a convolution, checked, with PyTorch's defaults for the fields left 0:
   stride, padding and dilation along H and W in s[0..1], p[0..1], d[0..1], and the groups.
   0 after reporting a negative value, or a per-axis pair given to conv1d. */
static int mdl__conv_opts(const char *fn, const mdl_conv_opts *o, int two_d, int *s, int *p,
                          int *d, int *groups) {
    static const mdl_conv_opts none = {0, 0, 0, 0, {0, 0}, {0, 0}, {0, 0}};
    int i, pairs;
    if (!o) o = &none;
    pairs = o->stride_hw[0] || o->stride_hw[1] || o->padding_hw[0] || o->padding_hw[1] ||
            o->dilation_hw[0] || o->dilation_hw[1];
    if (!two_d && pairs) {
        mdl__fail(MDL_ERR_ARG, fn, "stride_hw, padding_hw and dilation_hw are for conv2d: set "
                  "stride, padding and dilation");
        return 0;
    }
    for (i = 0; i < 2; i++) {
        s[i] = o->stride_hw[0] || o->stride_hw[1] ? o->stride_hw[i] : o->stride;
        p[i] = o->padding_hw[0] || o->padding_hw[1] ? o->padding_hw[i] : o->padding;
        d[i] = o->dilation_hw[0] || o->dilation_hw[1] ? o->dilation_hw[i] : o->dilation;
    }
    if (s[0] < 0 || s[1] < 0 || p[0] < 0 || p[1] < 0 || d[0] < 0 || d[1] < 0 || o->groups < 0) {
        mdl__fail(MDL_ERR_ARG, fn, "stride %d,%d, padding %d,%d, dilation %d,%d, groups %d: none "
                  "may be negative (0 means PyTorch's default)", s[0], s[1], p[0], p[1], d[0],
                  d[1], o->groups);
        return 0;
    }
    for (i = 0; i < 2; i++) {
        if (s[i] == 0) s[i] = 1;
        if (d[i] == 0) d[i] = 1;
    }
    *groups = o->groups == 0 ? 1 : o->groups;
    return 1;
}

MDLDEF mdl_tensor *mdl_conv2d(mdl_arena *ar, mdl_tensor *x, mdl_tensor *w, mdl_tensor *bias,
                              const mdl_conv_opts *opts) {
    int s[2], p[2], d[2], groups;
    if (!mdl__conv_opts("mdl_conv2d", opts, 1, s, p, d, &groups)) return NULL;
    return mdl__conv2d(ar, "mdl_conv2d", x, w, bias, s[0], s[1], p[0], p[1], d[0], d[1], groups);
}

/* conv1d is conv2d on images one pixel high: x [B,C,L] -> [B,C,1,L], w [O,C/G,K] -> [O,C/G,1,K],
   padding only along the length. The reshapes are views, so this costs nothing extra. */
MDLDEF mdl_tensor *mdl_conv1d(mdl_arena *ar, mdl_tensor *x, mdl_tensor *w, mdl_tensor *bias,
                              const mdl_conv_opts *opts) {
    const char *fn = "mdl_conv1d";
    int xs[4], ws[4], ys[3], st[2], pd[2], dl[2], groups;
    mdl_tensor *y;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || !mdl__usable(fn, "w", w))
        return NULL;
    if (x->ndim != 3 || w->ndim != 3) {
        char bx[96], bw[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s and w %s: x must be [B,C,L] and w [O,C/groups,K]",
                  mdl_shape_str(x, bx, sizeof bx), mdl_shape_str(w, bw, sizeof bw));
        return NULL;
    }
    if (!mdl__conv_opts(fn, opts, 0, st, pd, dl, &groups)) return NULL;
    if ((x->shape[1] % groups != 0 || w->shape[0] % groups != 0 ||
                        w->shape[1] != x->shape[1] / groups)) { /* say it in 1-D shapes */
        char bx[96], bw[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, w %s: w.shape[1]=%d must be the input channels %d / "
                  "groups %d, and groups must divide the output channels %d",
                  mdl_shape_str(x, bx, sizeof bx), mdl_shape_str(w, bw, sizeof bw), w->shape[1],
                  x->shape[1], groups, w->shape[0]);
        return NULL;
    }
    xs[0] = x->shape[0], xs[1] = x->shape[1], xs[2] = 1, xs[3] = x->shape[2];
    ws[0] = w->shape[0], ws[1] = w->shape[1], ws[2] = 1, ws[3] = w->shape[2];
    y = mdl__conv2d(ar, fn, mdl__reshape(ar, fn, x, 4, xs), mdl__reshape(ar, fn, w, 4, ws), bias,
                    1, st[1], 0, pd[1], 1, dl[1], groups);
    if (!y) return NULL;
    ys[0] = y->shape[0], ys[1] = y->shape[1], ys[2] = y->shape[3];
    return mdl__reshape(ar, fn, y, 3, ys);
}

/* ---------------------------------------------------------------------------------------------
   max_pool2d and avg_pool2d        x:[B,C,H,W] -> y:[B,C,OH,OW]
     Output (oy, ox) looks at rows oy*sh - ph + i*dh (i = 0..kh-1) and columns ox*sw - pw + j*dw
     (j = 0..kw-1); positions outside x are padding. How many windows, along each axis (n = H,
     k = kh, s = sh, p = ph, d = dh; W likewise):
       floor mode (the default): the windows that fit in the padded input,
           OH = floor((n + 2p - d (k - 1) - 1) / s) + 1
       ceil mode: windows are added while the last one ends before the padded input does,
           OH = ceil((n + 2p - d (k - 1) - 1) / s) + 1, less one if that last window would
           start in the right padding ((OH - 1) s >= n + p): every window starts inside x or
           its left padding, and the last may hang past the end of the padded input.
     max: y = the largest x in the window (padding counts as -inf; a NaN propagates)
          dx[the first position holding that maximum] += g
          (when the output will need a gradient, forward records that position, the argmax,
          for every output, and backward only adds each g there. A window with no position
          inside x, which only dilation can make, gives -inf and records -1: no gradient.)
     avg: y = the sum of the window / N            dx[every window position inside x] += g / N
          N = the window's positions inside the padded input, padding counted as zeros (as
          PyTorch's default count_include_pad=True; a ceil-mode window is cut where the padded
          input ends), or with exclude_padding only those inside x. No dilation.
   Options left 0 take PyTorch's defaults (stride = the kernel, no padding, dilation 1).
   Saved: the geometry (and max's positions).
   --------------------------------------------------------------------------------------------- */

typedef struct mdl__pool {
    int B, C, H, W, OH, OW;
    int kh, kw, sh, sw, ph, pw, dh, dw; /* kernel, stride, padding, dilation along H and W */
    int exclude;                        /* avg: padding left out of the divisor */
    int *arg; /* max: for each output, where in its input plane its maximum is (or NULL) */
} mdl__pool;

/* For window column j, the output columns ox whose input column ox*sw + j*dw - pw is inside the
   image: span[2j] <= ox < span[2j+1]. NULL if out of memory. */
static int *mdl__pool_spans(mdl_arena *ar, const mdl__pool *pl) {
    int *span = (int *)mdl__alloc(ar, 2 * (size_t)pl->kw * sizeof(int)), j;
    if (!span) return NULL;
    for (j = 0; j < pl->kw; j++) {
        int first = j * pl->dw - pl->pw, lo = 0, hi;
        while (lo < pl->OW && lo * pl->sw + first < 0) lo++;
        hi = lo;
        while (hi < pl->OW && hi * pl->sw + first < pl->W) hi++;
        span[2 * j] = lo;
        span[2 * j + 1] = hi;
    }
    return span;
}

/* Max pooling of one input plane xp into one output plane yp, any window: for each output
   row, visit the window positions (i, j) in the outer loops and the output columns in the
   inner one: the columns are independent, so the CPU overlaps them, where one window at a
   time would wait on each comparison before starting the next. nan and at are scratch rows of
   OW ints; arg (or NULL) receives the position of each maximum. */
static void mdl__max_pool_plane(const mdl__pool *pl, const int *span, const mdl_scalar *xp,
                                mdl_scalar *yp, int *arg, int *nan, int *at) {
    int oy, ox, i, j;
    for (oy = 0; oy < pl->OH; oy++) {
        mdl_scalar *orow = yp + (size_t)oy * (size_t)pl->OW;
        for (ox = 0; ox < pl->OW; ox++) { /* max starts at -inf, at at -1: no pixel yet (and
                                             none ever, if the window has no pixel of x) */
            orow[ox] = -(mdl_scalar)INFINITY;
            nan[ox] = 0;
            at[ox] = -1;
        }
        for (i = 0; i < pl->kh; i++) {
            int iy = oy * pl->sh - pl->ph + i * pl->dh;
            const mdl_scalar *row = xp + (size_t)(iy < 0 ? 0 : iy) * (size_t)pl->W;
            if (iy < 0 || iy >= pl->H) continue; /* a padding row */
            for (j = 0; j < pl->kw; j++) {
                int first = j * pl->dw - pl->pw, lo = span[2 * j], hi = span[2 * j + 1];
                for (ox = lo; ox < hi; ox++) {
                    /* y: the maximum so far (a max instruction; NaN is flagged and put in at
                       the end). at: the window's first pixel, then any larger one, or the
                       first NaN, after which none: the first place holding y. Written so the
                       compiler needs no branch (the select is arithmetic): on real data "is it
                       larger?" is a coin toss that the CPU would guess wrong half the time. */
                    mdl_scalar v = row[ox * pl->sw + first], m = orow[ox];
                    int is_nan = v != v;
                    int take = (nan[ox] == 0) & ((at[ox] < 0) | (v > m) | is_nan);
                    orow[ox] = v > m ? v : m;
                    at[ox] += take * (iy * pl->W + ox * pl->sw + first - at[ox]);
                    nan[ox] |= is_nan;
                }
            }
        }
        for (ox = 0; ox < pl->OW; ox++) /* a NaN in the window makes the maximum NaN */
            if (nan[ox]) orow[ox] = (mdl_scalar)NAN;
        if (arg) memcpy(arg + (size_t)oy * (size_t)pl->OW, at, (size_t)pl->OW * sizeof(int));
    }
}

#if defined(MDL__X86) && defined(__SSE2__)
/* in >>kernels: windows ox0, ox0 + 1, ... of one output row of mdl__max_pool_2x2, four at a
   time; returns the first window it did not compute */
static int mdl__max_pool_2x2_sse(const mdl_scalar *r0, const mdl_scalar *r1, int W, int base,
                                 int OW, mdl_scalar *yrow, int *arow);
#endif

/* One plane of max pooling 2 x 2, stride 2, no padding, as mdl__max_pool_plane computes it
   (y the maximum, NaN if the window has one; arg the first place holding it), each window's
   four pixels at once: the pooling most networks use gets a loop of its own. */
static void mdl__max_pool_2x2(const mdl_scalar *x, int W, int OH, int OW, mdl_scalar *y,
                              int *arg) {
    int oy, ox;
    for (oy = 0; oy < OH; oy++) {
        const mdl_scalar *r0 = x + (size_t)(2 * oy) * (size_t)W, *r1 = r0 + W;
        mdl_scalar *yrow = y + (size_t)oy * (size_t)OW;
        int *arow = arg ? arg + (size_t)oy * (size_t)OW : NULL, base = 2 * oy * W;
        ox = 0;
#if defined(MDL__X86) && defined(__SSE2__)
        ox = mdl__max_pool_2x2_sse(r0, r1, W, base, OW, yrow, arow);
#endif
        for (; ox < OW; ox++) {
            mdl_scalar a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            mdl_scalar ab = b > a ? b : a, cd = d > c ? d : c, m = cd > ab ? cd : ab;
            int nan = (a != a) | (b != b) | (c != c) | (d != d);
            yrow[ox] = nan ? (mdl_scalar)NAN : m;
            if (arow) { /* the first NaN, or without one the first pixel equal to m; the
                           selects in arithmetic, as the general loop's */
                int none = nan == 0, at = W + 1;
                at += ((c != c) | ((c == m) & none)) * (W - at);
                at += ((b != b) | ((b == m) & none)) * (1 - at);
                at -= ((a != a) | ((a == m) & none)) * at;
                arow[ox] = base + 2 * ox + at;
            }
        }
    }
}

/* Of a window's k positions from `start` along an axis of n (padded by p at both ends), how
   many average pooling divides by: those inside the padded input, -p .. n+p-1 (a window never
   starts before -p, so only its end can hang past), or with exclude those inside x, 0 .. n-1.
   The divisor of a 2-D window is its rows' count times its columns'. */
static int mdl__pool_count(int start, int k, int n, int p, int exclude) {
    int end = start + k < n + p ? start + k : n + p;
    if (exclude) {
        if (start < 0) start = 0;
        if (end > n) end = n;
    }
    return end - start;
}

/* Average pooling of one plane: each output the sum of its window over its divisor (see
   mdl__pool_count), padding counted as zeros. Same loop order as max. */
static void mdl__avg_pool_plane(const mdl__pool *pl, const int *span, const mdl_scalar *xp,
                                mdl_scalar *yp) {
    int oy, ox, i, j;
    for (oy = 0; oy < pl->OH; oy++) {
        mdl_scalar *orow = yp + (size_t)oy * (size_t)pl->OW;
        int rows = mdl__pool_count(oy * pl->sh - pl->ph, pl->kh, pl->H, pl->ph, pl->exclude);
        for (ox = 0; ox < pl->OW; ox++) orow[ox] = 0;
        for (i = 0; i < pl->kh; i++) {
            int iy = oy * pl->sh - pl->ph + i;
            const mdl_scalar *row = xp + (size_t)(iy < 0 ? 0 : iy) * (size_t)pl->W;
            if (iy < 0 || iy >= pl->H) continue; /* a padding row */
            for (j = 0; j < pl->kw; j++) {
                int first = j - pl->pw, lo = span[2 * j], hi = span[2 * j + 1];
                for (ox = lo; ox < hi; ox++) orow[ox] += row[ox * pl->sw + first];
            }
        }
        for (ox = 0; ox < pl->OW; ox++)
            orow[ox] /= (mdl_scalar)(rows * mdl__pool_count(ox * pl->sw - pl->pw, pl->kw, pl->W,
                                                            pl->pw, pl->exclude));
    }
}

static void mdl__pool_backward(mdl__node *node) {
    const mdl__pool *pl = (const mdl__pool *)node->saved;
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    const mdl_scalar *g = node->out->grad;
    const size_t in_plane = (size_t)pl->H * (size_t)pl->W;
    const size_t out_plane = (size_t)pl->OH * (size_t)pl->OW;
    size_t bc, o;
    int oy, ox, i, j;
    if (!dx) return;
    for (bc = 0; bc < (size_t)pl->B * (size_t)pl->C; bc++) {
        mdl_scalar *dxp = dx + bc * in_plane;
        const mdl_scalar *gp = g + bc * out_plane;
        if (node->op == MDL_OP_MAX_POOL2D) { /* each g to the maximum forward found (if any) */
            const int *at = pl->arg + bc * out_plane;
            for (o = 0; o < out_plane; o++)
                if (at[o] >= 0) dxp[at[o]] += gp[o];
            continue;
        }
        for (oy = 0; oy < pl->OH; oy++) { /* avg: g / N to every pixel of the window */
            int rows = mdl__pool_count(oy * pl->sh - pl->ph, pl->kh, pl->H, pl->ph, pl->exclude);
            for (ox = 0; ox < pl->OW; ox++) {
                int n = rows * mdl__pool_count(ox * pl->sw - pl->pw, pl->kw, pl->W, pl->pw,
                                               pl->exclude);
                mdl_scalar gq = gp[(size_t)oy * (size_t)pl->OW + (size_t)ox] / (mdl_scalar)n;
                for (i = 0; i < pl->kh; i++) {
                    int iy = oy * pl->sh - pl->ph + i;
                    if (iy < 0 || iy >= pl->H) continue;
                    for (j = 0; j < pl->kw; j++) {
                        int ix = ox * pl->sw - pl->pw + j;
                        if (ix >= 0 && ix < pl->W)
                            dxp[(size_t)iy * (size_t)pl->W + (size_t)ix] += gq;
                    }
                }
            }
        }
    }
}

/* The options of a pooling, checked, with PyTorch's defaults for the fields left 0: kernel,
   stride, padding and dilation along H and W into pl, and pl->exclude, *ceil_mode, and in set
   the settings as messages name them ("kernel 3,3, stride 2,2, ..."; one number each in 1-D).
   1-D pooling (two_d 0) pools [B,C,1,L]: along H a window of 1, step 1, no padding.
   0 after reporting an error: a negative value, a per-axis pair given to 1-D pooling, the
   kernel given twice or not at all, dilation for avg or exclude_padding for max, or padding
   over half the kernel. */
static int mdl__pool_opts(const char *fn, int is_max, int two_d, int kernel,
                          const mdl_pool_opts *o, mdl__pool *pl, int *ceil_mode, char *set,
                          size_t set_size) {
    static const mdl_pool_opts none = {0, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0};
    int k[2], s[2], p[2], d[2], i, kernel_pair;
    if (!o) o = &none;
    kernel_pair = o->kernel_hw[0] || o->kernel_hw[1];
    if (!two_d && (kernel_pair || o->stride_hw[0] || o->stride_hw[1] || o->padding_hw[0] ||
                   o->padding_hw[1] || o->dilation_hw[0] || o->dilation_hw[1])) {
        mdl__fail(MDL_ERR_ARG, fn, "kernel_hw, stride_hw, padding_hw and dilation_hw are for 2-D "
                  "pooling: give the kernel argument and set stride, padding and dilation");
        return 0;
    }
    if (kernel != 0 && kernel_pair) {
        mdl__fail(MDL_ERR_ARG, fn, "kernel %d and kernel_hw %d,%d: give the window once, as the "
                  "kernel argument, or as kernel_hw with kernel 0", kernel, o->kernel_hw[0],
                  o->kernel_hw[1]);
        return 0;
    }
    for (i = 0; i < 2; i++) {
        k[i] = kernel ? kernel : o->kernel_hw[i];
        s[i] = o->stride_hw[0] || o->stride_hw[1] ? o->stride_hw[i] : o->stride;
        p[i] = o->padding_hw[0] || o->padding_hw[1] ? o->padding_hw[i] : o->padding;
        d[i] = o->dilation_hw[0] || o->dilation_hw[1] ? o->dilation_hw[i] : o->dilation;
        if (s[i] == 0 && k[i] > 0) s[i] = k[i];
        if (d[i] == 0) d[i] = 1;
    }
    if (!two_d) k[0] = 1, s[0] = 1, p[0] = 0, d[0] = 1;
    if (two_d)
        snprintf(set, set_size, "kernel %d,%d, stride %d,%d, padding %d,%d, dilation %d,%d, "
                 "ceil_mode %d, exclude_padding %d", k[0], k[1], s[0], s[1], p[0], p[1], d[0],
                 d[1], o->ceil_mode, o->exclude_padding);
    else
        snprintf(set, set_size, "kernel %d, stride %d, padding %d, dilation %d, ceil_mode %d, "
                 "exclude_padding %d", k[1], s[1], p[1], d[1], o->ceil_mode, o->exclude_padding);
    if (k[0] < 0 || k[1] < 0 || s[0] < 0 || s[1] < 0 || p[0] < 0 || p[1] < 0 || d[0] < 0 ||
        d[1] < 0 || o->ceil_mode < 0 || o->exclude_padding < 0) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: none may be negative (0 means PyTorch's default)", set);
        return 0;
    }
    if (k[0] == 0 || k[1] == 0) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: the kernel must be at least 1%s", set,
                  two_d ? " along H and W (kernel 0 takes both from kernel_hw)" : "");
        return 0;
    }
    if (!is_max && (d[0] != 1 || d[1] != 1)) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: dilation is for max pooling (average pooling has none, "
                  "as in PyTorch)", set);
        return 0;
    }
    if (is_max && o->exclude_padding) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: exclude_padding is for average pooling (max pooling "
                  "never counts padding)", set);
        return 0;
    }
    if (2 * p[0] > k[0] || 2 * p[1] > k[1]) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: padding must be at most half the kernel (PyTorch's rule)",
                  set);
        return 0;
    }
    pl->kh = k[0], pl->kw = k[1], pl->sh = s[0], pl->sw = s[1];
    pl->ph = p[0], pl->pw = p[1], pl->dh = d[0], pl->dw = d[1];
    pl->exclude = o->exclude_padding != 0;
    *ceil_mode = o->ceil_mode != 0;
    return 1;
}

/* The number of windows along an axis of n (as the banner says; PyTorch's
   pooling_output_shape), or 0 if not even one fits. In 64 bits: d (k - 1) may be large. */
static int mdl__pool_out_size(int n, int k, int s, int p, int d, int ceil_mode) {
    int64_t room = (int64_t)n + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1, out;
    if (ceil_mode) room += s - 1; /* one more window for what floor mode leaves out */
    if (room < 0) return 0;
    out = room / s + 1;
    if (ceil_mode && (out - 1) * s >= (int64_t)n + p) out--; /* not one in the right padding */
    return (int)out;
}

/* The geometry of a pooling of x [B,C,H,W] (1-D: [B,C,1,L]), with pl's window settings: the
   sizes in pl, 1; or 0 after reporting an input with no room for one window. shown is x's
   shape as the caller gave it, set the settings (see mdl__pool_opts). */
static int mdl__pool_geometry(const char *fn, int B, int C, int H, int W, int ceil_mode,
                              const char *shown, const char *set, mdl__pool *pl) {
    pl->B = B, pl->C = C, pl->H = H, pl->W = W;
    pl->OH = mdl__pool_out_size(H, pl->kh, pl->sh, pl->ph, pl->dh, ceil_mode);
    pl->OW = mdl__pool_out_size(W, pl->kw, pl->sw, pl->pw, pl->dw, ceil_mode);
    pl->arg = NULL;
    if (H < 1 || W < 1 || pl->OH < 1 || pl->OW < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, %s: the (dilated) window is larger than the padded "
                  "input: no output", shown, set);
        return 0;
    }
    return 1;
}

/* The pooling itself, on x [B,C,H,W] with the geometry pl. */
static mdl_tensor *mdl__pool2d(mdl_arena *ar, const char *fn, mdl_op op, mdl_tensor *x,
                               mdl__pool pl) {
    mdl__pool *saved;
    mdl_tensor *out;
    int shape[4], *span, *nan;
    size_t bc, in_plane, out_plane;
    /* the 2 x 2 loop: windows side by side, each inside x (ceil mode may add one that is not) */
    const int two_by_two = op == MDL_OP_MAX_POOL2D && pl.kh == 2 && pl.kw == 2 && pl.sh == 2 &&
                           pl.sw == 2 && pl.ph == 0 && pl.pw == 0 && pl.dh == 1 && pl.dw == 1 &&
                           2 * pl.OH <= pl.H && 2 * pl.OW <= pl.W;
    shape[0] = pl.B, shape[1] = pl.C, shape[2] = pl.OH, shape[3] = pl.OW;
    out = mdl__make(ar, fn, 4, shape, NULL, 0);
    saved = (mdl__pool *)mdl__alloc(ar, sizeof(mdl__pool));
    nan = (int *)mdl__alloc(ar, 2 * (size_t)pl.OW * sizeof(int)); /* max's two scratch rows */
    span = mdl__pool_spans(ar, &pl);
    if (!out || !saved || !nan || !span) return NULL;
    /* the positions of the maxima, when backward will need them (as mdl__finish decides) */
    if (op == MDL_OP_MAX_POOL2D && ar->grad_enabled && x->requires_grad) {
        pl.arg = (int *)mdl__alloc(ar, (size_t)pl.B * (size_t)pl.C * (size_t)pl.OH *
                                           (size_t)pl.OW * sizeof(int));
        if (!pl.arg) return NULL;
    }
    in_plane = (size_t)pl.H * (size_t)pl.W;
    out_plane = (size_t)pl.OH * (size_t)pl.OW;
    for (bc = 0; bc < (size_t)pl.B * (size_t)pl.C; bc++) {
        const mdl_scalar *xp = x->data + bc * in_plane;
        mdl_scalar *yp = out->data + bc * out_plane;
        int *arg = pl.arg ? pl.arg + bc * out_plane : NULL;
        if (op == MDL_OP_AVG_POOL2D)
            mdl__avg_pool_plane(&pl, span, xp, yp);
        else if (two_by_two)
            mdl__max_pool_2x2(xp, pl.W, pl.OH, pl.OW, yp, arg);
        else
            mdl__max_pool_plane(&pl, span, xp, yp, arg, nan, nan + pl.OW);
    }
    *saved = pl;
    if (!mdl__finish(ar, fn, op, out, 1, &x)) return NULL;
    if (out->node) out->node->saved = saved;
    return out;
}

/* max or avg pooling from the public functions: 2-D on x [B,C,H,W], or 1-D on x [B,C,L] as
   2-D on [B,C,1,L] (the reshapes are views, as in conv1d). */
static mdl_tensor *mdl__pool_entry(mdl_arena *ar, const char *fn, mdl_op op, int two_d,
                                   mdl_tensor *x, int kernel, const mdl_pool_opts *opts) {
    char bx[96], set[200];
    mdl__pool pl;
    int ceil_mode, shape[4];
    mdl_tensor *y;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    if (x->ndim != (two_d ? 4 : 3)) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s must be %s", bx, two_d ? "[B,C,H,W]" : "[B,C,L]");
        return NULL;
    }
    if (!mdl__pool_opts(fn, op == MDL_OP_MAX_POOL2D, two_d, kernel, opts, &pl, &ceil_mode, set,
                        sizeof set))
        return NULL;
    if (two_d) {
        if (!mdl__pool_geometry(fn, x->shape[0], x->shape[1], x->shape[2], x->shape[3],
                                ceil_mode, bx, set, &pl))
            return NULL;
        return mdl__pool2d(ar, fn, op, x, pl);
    }
    if (!mdl__pool_geometry(fn, x->shape[0], x->shape[1], 1, x->shape[2], ceil_mode, bx, set,
                            &pl))
        return NULL;
    shape[0] = x->shape[0], shape[1] = x->shape[1], shape[2] = 1, shape[3] = x->shape[2];
    y = mdl__pool2d(ar, fn, op, mdl__reshape(ar, fn, x, 4, shape), pl);
    if (!y) return NULL;
    shape[2] = pl.OW;
    return mdl__reshape(ar, fn, y, 3, shape);
}

MDLDEF mdl_tensor *mdl_max_pool2d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts) {
    return mdl__pool_entry(ar, "mdl_max_pool2d", MDL_OP_MAX_POOL2D, 1, x, kernel, opts);
}
MDLDEF mdl_tensor *mdl_avg_pool2d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts) {
    return mdl__pool_entry(ar, "mdl_avg_pool2d", MDL_OP_AVG_POOL2D, 1, x, kernel, opts);
}
MDLDEF mdl_tensor *mdl_max_pool1d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts) {
    return mdl__pool_entry(ar, "mdl_max_pool1d", MDL_OP_MAX_POOL2D, 0, x, kernel, opts);
}
MDLDEF mdl_tensor *mdl_avg_pool1d(mdl_arena *ar, mdl_tensor *x, int kernel,
                                  const mdl_pool_opts *opts) {
    return mdl__pool_entry(ar, "mdl_avg_pool1d", MDL_OP_AVG_POOL2D, 0, x, kernel, opts);
}

/* ---------------------------------------------------------------------------------------------
   adaptive_avg_pool2d              x:[B,C,H,W] -> y:[B,C,OH,OW], any OH, OW >= 1
     Output row oy averages the input rows floor(oy H / OH) .. ceil((oy + 1) H / OH) - 1
     (PyTorch's rule), and output columns likewise: windows that together cover x, about
     H / OH rows each, neighbours sharing a row where that is not whole. One op for any output
     size, so a network ends in the same head whatever its input's size. When OH divides H, the
     windows are H / OH rows side by side, avg_pool2d's with kernel = stride = H / OH, and the
     same sums in the same order give the same values to the bit.
     y = the sum of the window / its size          dx[every window position] += g / its size
   Saved: the sizes.
   --------------------------------------------------------------------------------------------- */

/* The first input index of adaptive window i of `out` along an axis of n, and one past its
   last (in 64 bits: i n may be large). */
static int mdl__adaptive_start(int i, int n, int out) { return (int)((int64_t)i * n / out); }
static int mdl__adaptive_end(int i, int n, int out) {
    return (int)(((int64_t)(i + 1) * n + out - 1) / out);
}

static void mdl__adaptive_avg_pool_backward(mdl__node *node) {
    const mdl__pool *pl = (const mdl__pool *)node->saved;
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    const mdl_scalar *g = node->out->grad;
    const size_t in_plane = (size_t)pl->H * (size_t)pl->W;
    const size_t out_plane = (size_t)pl->OH * (size_t)pl->OW;
    size_t bc;
    int oy, ox, iy, ix;
    if (!dx) return;
    for (bc = 0; bc < (size_t)pl->B * (size_t)pl->C; bc++) {
        mdl_scalar *dxp = dx + bc * in_plane;
        const mdl_scalar *gp = g + bc * out_plane;
        for (oy = 0; oy < pl->OH; oy++) { /* g / (window size) to every pixel of the window */
            int y0 = mdl__adaptive_start(oy, pl->H, pl->OH);
            int y1 = mdl__adaptive_end(oy, pl->H, pl->OH);
            for (ox = 0; ox < pl->OW; ox++) {
                int x0 = mdl__adaptive_start(ox, pl->W, pl->OW);
                int x1 = mdl__adaptive_end(ox, pl->W, pl->OW);
                mdl_scalar gq = gp[(size_t)oy * (size_t)pl->OW + (size_t)ox] /
                                (mdl_scalar)((y1 - y0) * (x1 - x0));
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++)
                        dxp[(size_t)iy * (size_t)pl->W + (size_t)ix] += gq;
            }
        }
    }
}

MDLDEF mdl_tensor *mdl_adaptive_avg_pool2d(mdl_arena *ar, mdl_tensor *x, int out_h, int out_w) {
    const char *fn = "mdl_adaptive_avg_pool2d";
    char bx[96];
    mdl__pool pl, *saved;
    mdl_tensor *out;
    int shape[4], oy, ox, iy, ix;
    size_t bc, in_plane, out_plane;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    if (x->ndim != 4 || x->shape[2] < 1 || x->shape[3] < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s must be [B,C,H,W] with H and W at least 1", bx);
        return NULL;
    }
    if (out_h < 1 || out_w < 1) {
        mdl__fail(MDL_ERR_ARG, fn, "x %s, out_h %d, out_w %d: the output must be at least 1x1",
                  bx, out_h, out_w);
        return NULL;
    }
    memset(&pl, 0, sizeof pl);
    pl.B = x->shape[0], pl.C = x->shape[1], pl.H = x->shape[2], pl.W = x->shape[3];
    pl.OH = out_h, pl.OW = out_w;
    shape[0] = pl.B, shape[1] = pl.C, shape[2] = pl.OH, shape[3] = pl.OW;
    out = mdl__make(ar, fn, 4, shape, NULL, 0);
    saved = (mdl__pool *)mdl__alloc(ar, sizeof(mdl__pool));
    if (!out || !saved) return NULL;
    in_plane = (size_t)pl.H * (size_t)pl.W;
    out_plane = (size_t)pl.OH * (size_t)pl.OW;
    for (bc = 0; bc < (size_t)pl.B * (size_t)pl.C; bc++) { /* each window's sum / its size */
        const mdl_scalar *xp = x->data + bc * in_plane;
        mdl_scalar *yp = out->data + bc * out_plane;
        for (oy = 0; oy < pl.OH; oy++) {
            int y0 = mdl__adaptive_start(oy, pl.H, pl.OH), y1 = mdl__adaptive_end(oy, pl.H, pl.OH);
            for (ox = 0; ox < pl.OW; ox++) {
                int x0 = mdl__adaptive_start(ox, pl.W, pl.OW);
                int x1 = mdl__adaptive_end(ox, pl.W, pl.OW);
                mdl_scalar sum = 0;
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++)
                        sum += xp[(size_t)iy * (size_t)pl.W + (size_t)ix];
                yp[(size_t)oy * (size_t)pl.OW + (size_t)ox] =
                    sum / (mdl_scalar)((y1 - y0) * (x1 - x0));
            }
        }
    }
    *saved = pl;
    if (!mdl__finish(ar, fn, MDL_OP_ADAPTIVE_AVG_POOL2D, out, 1, &x)) return NULL;
    if (out->node) out->node->saved = saved;
    return out;
}

/* ---------------------------------------------------------------------------------------------
   reshape (a view)                    x:[..] -> y:[other shape, same count]   dx += g
   y shares x's data: row-major order does not care how the axes are cut. y has its own
   gradient buffer, which backward adds into x's, element for element. flatten, squeeze and
   unsqueeze are reshapes. Saved: nothing.
   --------------------------------------------------------------------------------------------- */

static void mdl__reshape_backward(mdl__node *node) {
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    const mdl_scalar *g = node->out->grad;
    size_t i;
    if (dx)
        for (i = 0; i < node->out->numel; i++) dx[i] += g[i];
}

static mdl_tensor *mdl__reshape(mdl_arena *ar, const char *fn, mdl_tensor *x, int ndim,
                                const int *shape) {
    int s[MDL_MAX_DIMS] = {0}, d, infer = -1;
    size_t known = 1;
    char bufx[96], bufs[96];
    mdl_tensor *out;
    if (ndim < 0 || ndim > MDL_MAX_DIMS || (ndim > 0 && !shape)) {
        mdl__fail(MDL_ERR_ARG, fn, "rank %d is outside 0..%d (or shape is NULL)", ndim,
                  MDL_MAX_DIMS);
        return NULL;
    }
    for (d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (s[d] == -1 && infer >= 0) {
            mdl__fail(MDL_ERR_ARG, fn, "shape %s has more than one -1 (only one size can be "
                      "inferred)", mdl__shape_fmt(ndim, shape, bufs, sizeof bufs));
            return NULL;
        } else if (s[d] == -1) {
            infer = d;
        } else if (s[d] < 0) {
            mdl__fail(MDL_ERR_SIZE, fn, "shape %s: size %d of axis %d is negative (only one -1 "
                      "means: infer)", mdl__shape_fmt(ndim, shape, bufs, sizeof bufs), s[d], d);
            return NULL;
        } else {
            known *= (size_t)s[d];
        }
    }
    mdl_shape_str(x, bufx, sizeof bufx);
    mdl__shape_fmt(ndim, shape, bufs, sizeof bufs);
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s has %zu elements: no size for the -1 in %s makes "
                      "them fit", bufx, x->numel, bufs);
            return NULL;
        }
        s[infer] = (int)(x->numel / known);
        known *= (size_t)s[infer];
    }
    if (known != x->numel) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s has %zu elements but shape %s has %zu", bufx,
                  x->numel, bufs, known);
        return NULL;
    }
    out = mdl__make(ar, fn, ndim, s, x->data, 0);
    if (!out) return NULL;
    return mdl__finish(ar, fn, MDL_OP_RESHAPE, out, 1, &x) ? out : NULL;
}

MDLDEF mdl_tensor *mdl_reshape(mdl_arena *ar, mdl_tensor *x, int ndim, const int *shape) {
    if (!mdl__usable_arena("mdl_reshape", ar) || !mdl__usable("mdl_reshape", "x", x)) return NULL;
    return mdl__reshape(ar, "mdl_reshape", x, ndim, shape);
}

MDLDEF mdl_tensor *mdl_flatten(mdl_arena *ar, mdl_tensor *x, int start, int end) {
    const char *fn = "mdl_flatten";
    int shape[MDL_MAX_DIMS] = {0}, nd = 0, d;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (x->ndim == 0) { /* a scalar flattens to one element */
        shape[0] = 1;
        return mdl__reshape(ar, fn, x, 1, shape);
    }
    start = mdl__axis(fn, x, start, 0);
    if (start < 0) return NULL;
    end = mdl__axis(fn, x, end, 0);
    if (end < 0) return NULL;
    if (start > end) {
        mdl__fail(MDL_ERR_ARG, fn, "start axis %d comes after end axis %d", start, end);
        return NULL;
    }
    for (d = 0; d < start; d++) shape[nd++] = x->shape[d];
    shape[nd] = 1;
    for (d = start; d <= end; d++) shape[nd] *= x->shape[d];
    nd++;
    for (d = end + 1; d < x->ndim; d++) shape[nd++] = x->shape[d];
    return mdl__reshape(ar, fn, x, nd, shape);
}

MDLDEF mdl_tensor *mdl_squeeze(mdl_arena *ar, mdl_tensor *x, int axis) {
    const char *fn = "mdl_squeeze";
    int shape[MDL_MAX_DIMS] = {0}, nd = 0, d;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return NULL;
    if (x->shape[axis] != 1) {
        char buf[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "axis %d of x %s has size %d, not 1", axis,
                  mdl_shape_str(x, buf, sizeof buf), x->shape[axis]);
        return NULL;
    }
    for (d = 0; d < x->ndim; d++)
        if (d != axis) shape[nd++] = x->shape[d];
    return mdl__reshape(ar, fn, x, nd, shape);
}

MDLDEF mdl_tensor *mdl_unsqueeze(mdl_arena *ar, mdl_tensor *x, int axis) {
    const char *fn = "mdl_unsqueeze";
    int shape[MDL_MAX_DIMS] = {0}, nd = 0, d;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (axis < 0) axis += x->ndim + 1;
    if (axis < 0 || axis > x->ndim || x->ndim == MDL_MAX_DIMS) {
        char buf[96];
        mdl__fail(MDL_ERR_ARG, fn, "cannot insert an axis at %d into x %s", axis,
                  mdl_shape_str(x, buf, sizeof buf));
        return NULL;
    }
    for (d = 0; d <= x->ndim; d++) {
        if (d == axis) shape[nd++] = 1;
        if (d < x->ndim) shape[nd++] = x->shape[d];
    }
    return mdl__reshape(ar, fn, x, nd, shape);
}

/* ---------------------------------------------------------------------------------------------
   permute (a copy)               y[i0,i1,..] = x[i_perm^-1 ...]: output axis d is input axis perm[d]
     dx[the same element] += g
   Walks the output in order with an odometer over its indices while stepping through x by
   x's stride of the matching axis. Saved: the permutation. transpose swaps two axes.
   --------------------------------------------------------------------------------------------- */

/* Copy (or, backward, add) between y in order and x through the permutation. */
static void mdl__permute_walk(const mdl_tensor *x, const mdl_tensor *y, const int *perm,
                              mdl_scalar *xs, mdl_scalar *ys, int backward) {
    int idx[MDL_MAX_DIMS] = {0}, d;
    size_t i, off = 0; /* offset in x of the current output element */
    for (i = 0; i < y->numel; i++) {
        if (backward)
            xs[off] += ys[i];
        else
            ys[i] = xs[off];
        for (d = y->ndim - 1; d >= 0; d--) { /* odometer: bump the last index, carry left */
            idx[d]++;
            off += x->stride[perm[d]];
            if (idx[d] < y->shape[d]) break;
            off -= (size_t)idx[d] * x->stride[perm[d]];
            idx[d] = 0;
        }
    }
}

static void mdl__permute_backward(mdl__node *node) {
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    if (dx)
        mdl__permute_walk(node->in[0], node->out, (const int *)node->saved, dx, node->out->grad, 1);
}

MDLDEF mdl_tensor *mdl_permute(mdl_arena *ar, mdl_tensor *x, const int *perm) {
    const char *fn = "mdl_permute";
    int shape[MDL_MAX_DIMS] = {0}, seen[MDL_MAX_DIMS] = {0}, d, *saved;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (!perm && x->ndim > 0) {
        mdl__fail(MDL_ERR_NULL, fn, "perm is NULL");
        return NULL;
    }
    for (d = 0; d < x->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= x->ndim || seen[perm[d]]) {
            char buf[96];
            mdl__fail(MDL_ERR_ARG, fn, "perm is not a permutation of 0..%d for x %s (perm[%d] = "
                      "%d)", x->ndim - 1, mdl_shape_str(x, buf, sizeof buf), d, perm[d]);
            return NULL;
        }
        seen[perm[d]] = 1;
        shape[d] = x->shape[perm[d]];
    }
    out = mdl__make(ar, fn, x->ndim, shape, NULL, 0);
    saved = (int *)mdl__alloc(ar, sizeof(int) * MDL_MAX_DIMS);
    if (!out || !saved) return NULL;
    for (d = 0; d < x->ndim; d++) saved[d] = perm[d];
    mdl__permute_walk(x, out, saved, x->data, out->data, 0);
    if (!mdl__finish(ar, fn, MDL_OP_PERMUTE, out, 1, &x)) return NULL;
    if (out->node) out->node->saved = saved;
    return out;
}

MDLDEF mdl_tensor *mdl_transpose(mdl_arena *ar, mdl_tensor *x, int axis0, int axis1) {
    const char *fn = "mdl_transpose";
    int perm[MDL_MAX_DIMS], d;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    axis0 = mdl__axis(fn, x, axis0, 0);
    if (axis0 < 0) return NULL;
    axis1 = mdl__axis(fn, x, axis1, 0);
    if (axis1 < 0) return NULL;
    for (d = 0; d < x->ndim; d++) perm[d] = d;
    perm[axis0] = axis1;
    perm[axis1] = axis0;
    return mdl_permute(ar, x, perm);
}

/* ---------------------------------------------------------------------------------------------
   expand (a copy)                   x:[3,1] to {2,3,4} -> y:[2,3,4]         y[i,j,k] = x[j,0]
     dx[j,0] += sum over i and k of g[i,j,k]: each stretched axis sums its gradients
   Broadcasting made explicit. Shapes line up from the right; an axis of size 1, or a missing
   one in front, stretches by reading the same element again: its step in the broadcast walk
   is 0. PyTorch returns a view with stride 0; minidl's tensors are contiguous, so expand
   copies. Backward runs the same walk and adds, which sums over the stretched axes, as the
   binary ops' backward does for their broadcast inputs. Saved: nothing.
   --------------------------------------------------------------------------------------------- */

static void mdl__expand_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0], *out = node->out;
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *g = out->grad;
    mdl__walk w;
    size_t i;
    if (!dx) return;
    mdl__walk_init(&w, out->ndim, out->shape);
    mdl__walk_bcast(&w, X);
    for (i = 0; i < out->numel; i++, mdl__walk_next(&w)) dx[w.off[0]] += g[i];
}

MDLDEF mdl_tensor *mdl_expand(mdl_arena *ar, mdl_tensor *x, int ndim, const int *shape) {
    const char *fn = "mdl_expand";
    int s[MDL_MAX_DIMS] = {0}, d;
    char bx[96], bs[96];
    mdl_tensor *out;
    mdl__walk w;
    size_t i;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    if (ndim < x->ndim || ndim > MDL_MAX_DIMS || (ndim > 0 && !shape)) {
        mdl__fail(shape || ndim == 0 ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "x %s cannot expand to "
                  "rank %d (from its own rank %d up to %d, with a shape)", bx, ndim, x->ndim,
                  MDL_MAX_DIMS);
        return NULL;
    }
    mdl__shape_fmt(ndim, shape, bs, sizeof bs);
    for (d = 0; d < ndim; d++) {
        int dx = d - (ndim - x->ndim); /* x's axis under output axis d; < 0 for a new one */
        if (dx >= 0 && shape[d] == -1) {
            s[d] = x->shape[dx];
        } else if (shape[d] < 0) {
            mdl__fail(MDL_ERR_ARG, fn, "x %s to %s: size %d for axis %d (-1 keeps a size of x, "
                      "so a new axis in front needs a size of its own)", bx, bs, shape[d], d);
            return NULL;
        } else if (dx >= 0 && x->shape[dx] != 1 && shape[d] != x->shape[dx]) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s to %s: axis %d has size %d, and only an axis of "
                      "size 1 can stretch (to %d)", bx, bs, d, x->shape[dx], shape[d]);
            return NULL;
        } else {
            s[d] = shape[d];
        }
    }
    out = mdl__make(ar, fn, ndim, s, NULL, 0);
    if (!out) return NULL;
    mdl__walk_init(&w, ndim, s);
    mdl__walk_bcast(&w, x);
    for (i = 0; i < out->numel; i++, mdl__walk_next(&w)) out->data[i] = x->data[w.off[0]];
    return mdl__finish(ar, fn, MDL_OP_EXPAND, out, 1, &x) ? out : NULL;
}

/* ---------------------------------------------------------------------------------------------
   slice                          x:[outer, n, inner] -> y:[outer, end - start, inner]
     y[o, j, i] = x[o, start + j, i]        dx[o, start + j, i] += g[o, j, i]
   When outer == 1 (the axes before `axis` are all 1, e.g. a batch of rows along axis 0) the
   slice is one contiguous run of x: a view, no copy. Saved: the axis and start.
   --------------------------------------------------------------------------------------------- */

static void mdl__slice_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *g = node->out->grad;
    size_t outer, n, inner, o, m = (size_t)node->out->shape[node->arg[0]];
    size_t start = (size_t)node->arg[1], i;
    if (!dx) return;
    mdl__split(X, node->arg[0], &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (i = 0; i < m * inner; i++) dx[(o * n + start) * inner + i] += g[o * m * inner + i];
}

MDLDEF mdl_tensor *mdl_slice(mdl_arena *ar, mdl_tensor *x, int axis, int start, int end) {
    const char *fn = "mdl_slice";
    int shape[MDL_MAX_DIMS] = {0}, dim;
    size_t outer, n, inner, o, m;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return NULL;
    dim = x->shape[axis];
    if (start < 0) start += dim; /* negative counts from the end, as in Python */
    if (end < 0) end += dim;
    if (start < 0 || end > dim || start > end) {
        char buf[96];
        mdl__fail(MDL_ERR_ARG, fn, "range %d:%d is outside axis %d of x %s (size %d)", start,
                  end, axis, mdl_shape_str(x, buf, sizeof buf), dim);
        return NULL;
    }
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = end - start;
    mdl__split(x, axis, &outer, &n, &inner);
    m = (size_t)(end - start);
    if (outer == 1) {
        out = mdl__make(ar, fn, x->ndim, shape, x->data + (size_t)start * inner, 0);
        if (!out) return NULL;
    } else {
        out = mdl__make(ar, fn, x->ndim, shape, NULL, 0);
        if (!out) return NULL;
        for (o = 0; o < outer; o++)
            memcpy(out->data + o * m * inner, x->data + (o * n + (size_t)start) * inner,
                   m * inner * sizeof(mdl_scalar));
    }
    if (!mdl__finish(ar, fn, MDL_OP_SLICE, out, 1, &x)) return NULL;
    if (out->node) {
        out->node->arg[0] = axis;
        out->node->arg[1] = start;
    }
    return out;
}

/* split and chunk cut along an axis, each part an mdl_slice: a view when the axes before
   `axis` all have size 1 (a batch cut along axis 0), a copy otherwise. chunk's sizes follow
   torch.chunk: ceil(size / chunks) each, the last one what is left, so 5 in 4 chunks gives
   2, 2, 1, three parts; an empty axis gives `chunks` empty parts. */
MDLDEF int mdl_split(mdl_arena *ar, mdl_tensor *x, int axis, int n_sizes, const int *sizes,
                     mdl_tensor **out) {
    const char *fn = "mdl_split";
    double total = 0;
    int j, at = 0;
    char buf[96];
    if (out)
        for (j = 0; j < n_sizes; j++) out[j] = NULL;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return 0;
    if (!out || (n_sizes > 0 && !sizes)) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", out ? "sizes" : "out");
        return 0;
    }
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return 0;
    mdl_shape_str(x, buf, sizeof buf);
    if (n_sizes < 1) {
        mdl__fail(MDL_ERR_ARG, fn, "n_sizes = %d: x %s needs at least one part", n_sizes, buf);
        return 0;
    }
    for (j = 0; j < n_sizes; j++) {
        if (sizes[j] < 0) {
            mdl__fail(MDL_ERR_ARG, fn, "sizes[%d] = %d is negative (x %s)", j, sizes[j], buf);
            return 0;
        }
        total += sizes[j];
    }
    if (total != (double)x->shape[axis]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "the sizes add up to %.0f, but axis %d of x %s has %d",
                  total, axis, buf, x->shape[axis]);
        return 0;
    }
    for (j = 0; j < n_sizes; j++) {
        out[j] = mdl_slice(ar, x, axis, at, at + sizes[j]);
        if (!out[j]) return 0;
        at += sizes[j];
    }
    return n_sizes;
}

MDLDEF int mdl_chunk(mdl_arena *ar, mdl_tensor *x, int chunks, int axis, mdl_tensor **out) {
    const char *fn = "mdl_chunk";
    int j, n, size, dim;
    if (out)
        for (j = 0; j < chunks; j++) out[j] = NULL;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return 0;
    if (!out) {
        mdl__fail(MDL_ERR_NULL, fn, "out is NULL");
        return 0;
    }
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return 0;
    if (chunks < 1) {
        char buf[96];
        mdl__fail(MDL_ERR_ARG, fn, "chunks = %d for x %s: at least 1", chunks,
                  mdl_shape_str(x, buf, sizeof buf));
        return 0;
    }
    dim = x->shape[axis];
    size = dim / chunks + (dim % chunks != 0); /* ceil(dim / chunks), without overflow */
    n = dim == 0 ? chunks : dim / size + (dim % size != 0);
    for (j = 0; j < n; j++) {
        int start = j * size, end = dim - start < size ? dim : start + size;
        out[j] = mdl_slice(ar, x, axis, start, end);
        if (!out[j]) return 0;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------
   concat                 xs[t]:[outer, n_t, inner] -> y:[outer, sum_t n_t, inner]
     each input's block of rows is copied into its place; backward hands each input its block
     of the gradient back. stack = unsqueeze every input, then concat. Saved: the axis.
   --------------------------------------------------------------------------------------------- */

static void mdl__concat_backward(mdl__node *node) {
    const mdl_scalar *g = node->out->grad;
    size_t outer, total, inner, o, at = 0;
    int t;
    mdl__split(node->out, node->arg[0], &outer, &total, &inner);
    for (t = 0; t < node->n_in; t++) {
        mdl_tensor *X = node->in[t];
        mdl_scalar *dx = mdl__grad_of(X);
        size_t n = (size_t)X->shape[node->arg[0]], i;
        if (dx)
            for (o = 0; o < outer; o++)
                for (i = 0; i < n * inner; i++)
                    dx[o * n * inner + i] += g[(o * total + at) * inner + i];
        at += n;
    }
}

static mdl_tensor *mdl__concat(mdl_arena *ar, const char *fn, int n_in, mdl_tensor *const *xs,
                               int axis) {
    int shape[MDL_MAX_DIMS] = {0}, t, d;
    size_t outer, total, inner, o, at = 0;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar)) return NULL;
    if (n_in < 1 || !xs) {
        mdl__fail(n_in < 1 ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "needs at least one tensor (n = %d)",
                  n_in);
        return NULL;
    }
    for (t = 0; t < n_in; t++) {
        char what[32];
        snprintf(what, sizeof what, "xs[%d]", t);
        if (!mdl__usable(fn, what, xs[t])) return NULL;
    }
    axis = mdl__axis(fn, xs[0], axis, 0);
    if (axis < 0) return NULL;
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[axis] = 0;
    for (t = 0; t < n_in; t++) {
        int fits = xs[t]->ndim == xs[0]->ndim;
        for (d = 0; fits && d < xs[0]->ndim; d++)
            if (d != axis && xs[t]->shape[d] != xs[0]->shape[d]) fits = 0;
        if (!fits) {
            char b0[96], bt[96];
            mdl__fail(MDL_ERR_SHAPE, fn, "xs[0] %s and xs[%d] %s differ in an axis other than "
                      "axis %d", mdl_shape_str(xs[0], b0, sizeof b0), t,
                      mdl_shape_str(xs[t], bt, sizeof bt), axis);
            return NULL;
        }
        shape[axis] += xs[t]->shape[axis];
    }
    out = mdl__make(ar, fn, xs[0]->ndim, shape, NULL, 0);
    if (!out) return NULL;
    mdl__split(out, axis, &outer, &total, &inner);
    for (t = 0; t < n_in; t++) { /* copy each input's rows into its place along the axis */
        size_t n = (size_t)xs[t]->shape[axis];
        for (o = 0; o < outer; o++)
            memcpy(out->data + (o * total + at) * inner, xs[t]->data + o * n * inner,
                   n * inner * sizeof(mdl_scalar));
        at += n;
    }
    if (!mdl__finish(ar, fn, MDL_OP_CONCAT, out, n_in, xs)) return NULL;
    if (out->node) out->node->arg[0] = axis;
    return out;
}

MDLDEF mdl_tensor *mdl_concat(mdl_arena *ar, int n, mdl_tensor *const *xs, int axis) {
    return mdl__concat(ar, "mdl_concat", n, xs, axis);
}

MDLDEF mdl_tensor *mdl_stack(mdl_arena *ar, int n, mdl_tensor *const *xs, int axis) {
    const char *fn = "mdl_stack";
    mdl_tensor **parts;
    int t;
    if (!mdl__usable_arena(fn, ar)) return NULL;
    if (n < 1 || !xs) {
        mdl__fail(n < 1 ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "needs at least one tensor (n = %d)", n);
        return NULL;
    }
    if (!mdl__usable(fn, "xs[0]", xs[0])) return NULL;
    if (axis < -(xs[0]->ndim + 1) || axis > xs[0]->ndim || xs[0]->ndim == MDL_MAX_DIMS) {
        char buf[96];
        mdl__fail(MDL_ERR_ARG, fn, "cannot stack along a new axis %d of xs[0] %s (valid: %d..%d)",
                  axis, mdl_shape_str(xs[0], buf, sizeof buf), -(xs[0]->ndim + 1), xs[0]->ndim);
        return NULL;
    }
    parts = (mdl_tensor **)mdl__alloc(ar, (size_t)n * sizeof(mdl_tensor *));
    if (!parts) return NULL;
    for (t = 0; t < n; t++) {
        char what[32];
        snprintf(what, sizeof what, "xs[%d]", t);
        if (!mdl__usable(fn, what, xs[t])) return NULL;
        if (xs[t]->ndim != xs[0]->ndim ||
            memcmp(xs[t]->shape, xs[0]->shape, sizeof(int) * (size_t)xs[0]->ndim) != 0) {
            char b0[96], bt[96];
            mdl__fail(MDL_ERR_SHAPE, fn, "xs[0] %s and xs[%d] %s must have one shape",
                      mdl_shape_str(xs[0], b0, sizeof b0), t, mdl_shape_str(xs[t], bt, sizeof bt));
            return NULL;
        }
        parts[t] = mdl_unsqueeze(ar, xs[t], axis);
        if (!parts[t]) return NULL;
    }
    if (axis < 0) axis += xs[0]->ndim + 1;
    return mdl__concat(ar, fn, n, parts, axis);
}

/* repeat (tiling), built from reshape, concat and slice: x gains leading axes of size 1 up to
   rank n, then along each axis d, concat joins repeats[d] copies of it (a repeat of 0 is an
   empty slice). concat's backward hands each copy its block of the gradient, and since every
   copy is the same tensor the blocks add up in dx: the sum of the tiles, with no backward of
   its own. Each concat copies what it joins, in all less than twice the result. */
MDLDEF mdl_tensor *mdl_repeat(mdl_arena *ar, mdl_tensor *x, int n, const int *repeats) {
    const char *fn = "mdl_repeat";
    int shape[MDL_MAX_DIMS] = {0}, d, t, most = 1;
    mdl_tensor *y, **copies;
    char bx[96];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    if (n < x->ndim || n > MDL_MAX_DIMS || (n > 0 && !repeats)) {
        mdl__fail(repeats || n == 0 ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "x %s: n = %d, but repeat "
                  "needs one count per axis of x (%d), at most %d, in a list that is not NULL",
                  bx, n, x->ndim, MDL_MAX_DIMS);
        return NULL;
    }
    for (d = 0; d < n; d++) {
        shape[d] = d < n - x->ndim ? 1 : x->shape[d - (n - x->ndim)];
        if (repeats[d] < 0 || (double)repeats[d] * shape[d] > (double)INT_MAX) {
            mdl__fail(repeats[d] < 0 ? MDL_ERR_ARG : MDL_ERR_SIZE, fn, "x %s: repeats[%d] = %d "
                      "(0 or more, and at most INT_MAX elements along an axis)", bx, d,
                      repeats[d]);
            return NULL;
        }
        if (repeats[d] > most) most = repeats[d];
    }
    copies = (mdl_tensor **)mdl__alloc(ar, (size_t)most * sizeof(mdl_tensor *));
    if (!copies) return NULL;
    y = mdl__reshape(ar, fn, x, n, shape);
    for (d = 0; y && d < n; d++) {
        if (repeats[d] == 1) continue;
        if (repeats[d] == 0) {
            y = mdl_slice(ar, y, d, 0, 0);
            continue;
        }
        for (t = 0; t < repeats[d]; t++) copies[t] = y;
        y = mdl__concat(ar, fn, repeats[d], copies, d);
    }
    return y;
}

/* ---------------------------------------------------------------------------------------------
   index_select           x:[outer, n, inner], index[m] -> y:[outer, m, inner]
     y[o, j, i] = x[o, index[j], i]         dx[o, index[j], i] += g[o, j, i]
   An index may repeat; its gradients then add up (the += matters here). Along axis 0 of a
   [vocab, dim] table this is an embedding lookup; mdl_embedding may name one index (its
   padding_idx, kept in arg[1] plus one) whose row gets no gradient. Saved: the axis and a copy
   of the indices.
   --------------------------------------------------------------------------------------------- */

static void mdl__index_select_backward(mdl__node *node) {
    mdl_tensor *X = node->in[0];
    mdl_scalar *dx = mdl__grad_of(X);
    const mdl_scalar *g = node->out->grad;
    const int *index = (const int *)node->saved;
    size_t outer, n, inner, o, j, i, m = (size_t)node->out->shape[node->arg[0]];
    if (!dx) return;
    mdl__split(X, node->arg[0], &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (j = 0; j < m; j++) {
            if (index[j] == node->arg[1] - 1) continue; /* mdl_embedding's padding_idx */
            for (i = 0; i < inner; i++)
                dx[(o * n + (size_t)index[j]) * inner + i] += g[(o * m + j) * inner + i];
        }
}

MDLDEF mdl_tensor *mdl_index_select(mdl_arena *ar, mdl_tensor *x, int axis, int n_index,
                                    const int *index) {
    const char *fn = "mdl_index_select";
    int shape[MDL_MAX_DIMS] = {0}, j, *saved;
    size_t outer, n, inner, o;
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return NULL;
    if (n_index < 0 || (n_index > 0 && !index)) {
        mdl__fail(n_index < 0 ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "bad index list (n = %d%s)",
                  n_index, index ? "" : ", index NULL");
        return NULL;
    }
    for (j = 0; j < n_index; j++) {
        if (index[j] < 0 || index[j] >= x->shape[axis]) {
            char buf[96];
            mdl__fail(MDL_ERR_ARG, fn, "index[%d] = %d is outside axis %d of x %s (0..%d)", j,
                      index[j], axis, mdl_shape_str(x, buf, sizeof buf), x->shape[axis] - 1);
            return NULL;
        }
    }
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = n_index;
    out = mdl__make(ar, fn, x->ndim, shape, NULL, 0);
    saved = (int *)mdl__alloc(ar, (size_t)n_index * sizeof(int));
    if (!out || !saved) return NULL;
    if (n_index) memcpy(saved, index, (size_t)n_index * sizeof(int));
    mdl__split(x, axis, &outer, &n, &inner);
    for (o = 0; o < outer; o++)
        for (j = 0; j < n_index; j++)
            memcpy(out->data + (o * (size_t)n_index + (size_t)j) * inner,
                   x->data + (o * n + (size_t)index[j]) * inner, inner * sizeof(mdl_scalar));
    if (!mdl__finish(ar, fn, MDL_OP_INDEX_SELECT, out, 1, &x)) return NULL;
    if (out->node) {
        out->node->arg[0] = axis;
        out->node->saved = saved;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
   gather            x:[..], index:[..] of x's rank -> y:[index's shape]   (axis 1 of 3-D:)
     y[i,j,k] = x[i, index[i,j,k], k]                 dx[i, index[i,j,k], k] += g[i,j,k]
   Each output element reads x at its own position, except along `axis`, where the index
   value says where to read. index may be smaller than x along the other axes (it then sees
   only their first entries) and of any size along `axis`. The classic use picks each row's
   target-class score: gather(log_probs [B,C], 1, targets [B,1]) -> [B,1]. An element of x
   read twice gets both gradients (a scatter-add: the += matters). Forward works out the
   offset in x of every output element once, walking index with x's strides (0 along `axis`,
   where the index value takes over), and backward reuses them. index is not an input of the
   tape node, so it gets no gradient. Saved: the offsets, one size_t per output element.
   --------------------------------------------------------------------------------------------- */

static void mdl__gather_backward(mdl__node *node) {
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    const mdl_scalar *g = node->out->grad;
    const size_t *from = (const size_t *)node->saved;
    size_t i;
    if (!dx) return;
    for (i = 0; i < node->out->numel; i++) dx[from[i]] += g[i];
}

MDLDEF mdl_tensor *mdl_gather(mdl_arena *ar, mdl_tensor *x, int axis, mdl_tensor *index) {
    const char *fn = "mdl_gather";
    char bx[96], bi[96], range[128];
    size_t *from, i;
    mdl_tensor *out;
    mdl__walk w;
    int d;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) ||
        !mdl__usable(fn, "index", index))
        return NULL;
    axis = mdl__axis(fn, x, axis, 0);
    if (axis < 0) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    mdl_shape_str(index, bi, sizeof bi);
    if (index->ndim != x->ndim) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s and index %s: index must have x's rank %d, not %d",
                  bx, bi, x->ndim, index->ndim);
        return NULL;
    }
    for (d = 0; d < x->ndim; d++) {
        if (d != axis && index->shape[d] > x->shape[d]) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s and index %s: index.shape[%d]=%d > x.shape[%d]=%d "
                      "(only along axis %d may index be larger)", bx, bi, d, index->shape[d], d,
                      x->shape[d], axis);
            return NULL;
        }
    }
    snprintf(range, sizeof range, "axis %d of x %s", axis, bx);
    if (!mdl__check_index(fn, index, x->shape[axis], range)) return NULL;
    out = mdl__make(ar, fn, index->ndim, index->shape, NULL, 0);
    if (!out) return NULL;
    from = (size_t *)mdl__alloc(ar, out->numel * sizeof(size_t));
    if (!from) return NULL;
    mdl__walk_init(&w, index->ndim, index->shape);
    for (d = 0; d < x->ndim; d++) w.step[0][d] = d == axis ? 0 : x->stride[d];
    w.n = 1;
    for (i = 0; i < out->numel; i++, mdl__walk_next(&w)) {
        from[i] = w.off[0] + (size_t)index->data[i] * x->stride[axis];
        out->data[i] = x->data[from[i]];
    }
    if (!mdl__finish(ar, fn, MDL_OP_GATHER, out, 1, &x)) return NULL;
    if (out->node) out->node->saved = from;
    return out;
}

// >>layers

/* ---------------------------------------------------------------------------------------------
   Initialisation, as torch.nn.init computes it
     fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field,
     receptive field = product of shape[2:] (1 for a Linear weight)
     xavier:  Var(w) = gain^2 * 2 / (fan_in + fan_out)   keeps the variance of activations and
              of gradients alike from layer to layer when both directions matter
     kaiming: Var(w) = gain^2 / fan, gain^2 = 2 / (1 + a^2)   keeps the variance of activations
              through (leaky) ReLUs, which zero half of their inputs
   A uniform U(-b, b) has variance b^2 / 3, hence the sqrt(3) in the uniform bounds.
   --------------------------------------------------------------------------------------------- */

static int mdl__receptive(const mdl_tensor *w) {
    int d, r = 1;
    for (d = 2; d < w->ndim; d++) r *= w->shape[d];
    return r;
}
MDLDEF int mdl_fan_in(const mdl_tensor *w) {
    if (!w || w->ndim < 1) return 0;
    return (w->ndim > 1 ? w->shape[1] : 1) * mdl__receptive(w);
}
MDLDEF int mdl_fan_out(const mdl_tensor *w) {
    if (!w || w->ndim < 1) return 0;
    return w->shape[0] * mdl__receptive(w);
}

/* The fans of w, checked: 0 after reporting a tensor they do not exist for. */
static int mdl__fans(const char *fn, const mdl_tensor *w, mdl_rng *rng, double *fi, double *fo) {
    if (!mdl__usable(fn, "w", w)) return 0;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, fn, "rng is NULL");
        return 0;
    }
    if (w->ndim < 2 || w->numel == 0) {
        char buf[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "w %s: fan in and fan out need at least 2 axes and some "
                  "elements", mdl_shape_str(w, buf, sizeof buf));
        return 0;
    }
    *fi = mdl_fan_in(w);
    *fo = mdl_fan_out(w);
    return 1;
}

MDLDEF void mdl_init_xavier_uniform(mdl_tensor *w, mdl_rng *rng, double gain) {
    double fi, fo, b;
    if (!mdl__fans("mdl_init_xavier_uniform", w, rng, &fi, &fo)) return;
    b = gain * sqrt(6.0 / (fi + fo));
    mdl_fill_uniform(w, rng, -b, b);
}
MDLDEF void mdl_init_xavier_normal(mdl_tensor *w, mdl_rng *rng, double gain) {
    double fi, fo;
    if (!mdl__fans("mdl_init_xavier_normal", w, rng, &fi, &fo)) return;
    mdl_fill_normal(w, rng, 0, gain * sqrt(2.0 / (fi + fo)));
}
MDLDEF void mdl_init_kaiming_uniform(mdl_tensor *w, mdl_rng *rng, double a, int fan_out) {
    double fi, fo, b;
    if (!mdl__fans("mdl_init_kaiming_uniform", w, rng, &fi, &fo)) return;
    b = sqrt(2.0 / (1 + a * a)) * sqrt(3.0 / (fan_out ? fo : fi));
    mdl_fill_uniform(w, rng, -b, b);
}
MDLDEF void mdl_init_kaiming_normal(mdl_tensor *w, mdl_rng *rng, double a, int fan_out) {
    double fi, fo;
    if (!mdl__fans("mdl_init_kaiming_normal", w, rng, &fi, &fo)) return;
    mdl_fill_normal(w, rng, 0, sqrt(2.0 / (1 + a * a)) / sqrt(fan_out ? fo : fi));
}

/* orthogonal: a normal matrix [rows, cols] made orthonormal along its shorter side by
   Gram-Schmidt in double (what a QR decomposition's Q is), each vector's sign fixed as
   PyTorch fixes it from R's diagonal, so that the result is uniformly distributed. */
MDLDEF void mdl_init_orthogonal(mdl_tensor *w, mdl_rng *rng, double gain) {
    const char *fn = "mdl_init_orthogonal";
    double fi, fo, *q;
    size_t rows, cols, n, len, i, j, k;
    int by_rows;
    if (!mdl__fans(fn, w, rng, &fi, &fo)) return;
    rows = (size_t)w->shape[0];
    cols = w->numel / rows;
    by_rows = rows <= cols; /* the shorter side's vectors are the ones made orthonormal */
    n = by_rows ? rows : cols;
    len = by_rows ? cols : rows;
    q = (double *)MINIDL_MALLOC(n * len * sizeof(double));
    if (!q) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a %zu x %zu matrix", rows, cols);
        return;
    }
    for (i = 0; i < n * len; i++) q[i] = mdl_rng_normal(rng);
    for (i = 0; i < n; i++) { /* vector i minus its parts along vectors 0..i-1, then unit */
        double *v = q + i * len, norm = 0;
        for (j = 0; j < i; j++) {
            const double *u = q + j * len;
            double dot = 0;
            for (k = 0; k < len; k++) dot += u[k] * v[k];
            for (k = 0; k < len; k++) v[k] -= dot * u[k];
        }
        for (k = 0; k < len; k++) norm += v[k] * v[k];
        norm = sqrt(norm);
        for (k = 0; k < len; k++) v[k] /= norm > 0 ? norm : 1;
    }
    for (i = 0; i < n; i++)
        for (k = 0; k < len; k++) {
            size_t at = by_rows ? i * cols + k : k * cols + i;
            w->data[at] = (mdl_scalar)(gain * q[i * len + k]);
        }
    MINIDL_FREE(q);
}

/* ---------------------------------------------------------------------------------------------
   Linear                 y = x @ W^T + b      x:[..., in] W:[out, in] b:[out] -> y:[..., out]
   The weight is stored [out, in] as PyTorch stores it, so one row is one output's weights;
   mdl_matmul_t reads it transposed where it is. The gradients come from matmul's and add's.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_linear(mdl_arena *ar, mdl_tensor *x, mdl_tensor *weight, mdl_tensor *bias) {
    const char *fn = "mdl_linear";
    char bx[96], bw[96];
    mdl_tensor *y;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || !mdl__usable(fn, "weight", weight))
        return NULL;
    if (bias && !mdl__usable(fn, "bias", bias)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    mdl_shape_str(weight, bw, sizeof bw);
    if (weight->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != weight->shape[1]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, weight %s: weight must be [out, in] and x [..., in]",
                  bx, bw);
        return NULL;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != weight->shape[0])) {
        mdl__fail(MDL_ERR_SHAPE, fn, "weight %s, bias %s: bias must be [%d]", bw,
                  mdl_shape_str(bias, bx, sizeof bx), weight->shape[0]);
        return NULL;
    }
    y = mdl_matmul_t(ar, x, weight, 0, 1);
    return bias ? mdl_add(ar, y, bias) : y;
}

/* ---------------------------------------------------------------------------------------------
   Dropout                y = x * mask / (1 - p),  mask_i = 1 with probability 1 - p, else 0
   Zeroing random units keeps a network from relying on any one of them; the scale keeps the
   expected value of each unit, so nothing changes between training and evaluation, where
   dropout does nothing. dx = g * mask / (1 - p), through mul. Saved: the mask (by mul).
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_dropout(mdl_arena *ar, mdl_tensor *x, double p, int training,
                               mdl_rng *rng) {
    const char *fn = "mdl_dropout";
    mdl_tensor *mask;
    size_t i;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (!(p >= 0 && p <= 1)) {
        mdl__fail(MDL_ERR_ARG, fn, "p = %g: a probability must be between 0 and 1", p);
        return NULL;
    }
    if (!training || p == 0) return x;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, fn, "rng is NULL: dropout in training draws its mask from it");
        return NULL;
    }
    mask = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (!mask) return NULL;
    for (i = 0; i < x->numel; i++) /* p = 1 drops everything (the scale is then never used) */
        mask->data[i] = mdl_rng_uniform(rng) < p ? 0 : (mdl_scalar)(1.0 / (1.0 - p));
    return mdl_mul(ar, x, mask);
}

/* ---------------------------------------------------------------------------------------------
   Embedding              y[..., :] = W[index[...], :]    index:[...] W:[num, dim] -> [..., dim]
   A lookup table: index_select along W's rows. dW[row] += g for every place the row was
   picked, except padding_idx's row, which learns nothing (a padding token means "no word").
   --------------------------------------------------------------------------------------------- */

/* The values of an index tensor as ints, checked (mdl__check_index); NULL after an error. */
static int *mdl__index_values(mdl_arena *ar, const char *fn, const mdl_tensor *index, int limit,
                              const char *range) {
    int *out;
    size_t i;
    if (!mdl__check_index(fn, index, limit, range)) return NULL;
    out = (int *)mdl__alloc(ar, (index->numel ? index->numel : 1) * sizeof(int));
    if (out)
        for (i = 0; i < index->numel; i++) out[i] = (int)index->data[i];
    return out;
}

MDLDEF mdl_tensor *mdl_embedding(mdl_arena *ar, mdl_tensor *index, mdl_tensor *weight,
                                 int padding_idx) {
    const char *fn = "mdl_embedding";
    int shape[MDL_MAX_DIMS], *rows;
    mdl_tensor *y;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "index", index) ||
        !mdl__usable(fn, "weight", weight))
        return NULL;
    if (weight->ndim != 2 || index->ndim >= MDL_MAX_DIMS) {
        char bi[96], bw[96];
        mdl__fail(MDL_ERR_SHAPE, fn, "index %s, weight %s: weight must be [num, dim], and index "
                  "have fewer than %d axes", mdl_shape_str(index, bi, sizeof bi),
                  mdl_shape_str(weight, bw, sizeof bw), MDL_MAX_DIMS);
        return NULL;
    }
    rows = mdl__index_values(ar, fn, index, weight->shape[0], "the rows of the weight");
    if (!rows) return NULL;
    y = mdl_index_select(ar, weight, 0, (int)index->numel, rows);
    if (!y) return NULL;
    if (y->node && padding_idx >= 0) y->node->arg[1] = padding_idx + 1; /* skipped in backward */
    memcpy(shape, index->shape, sizeof(int) * (size_t)index->ndim);
    shape[index->ndim] = weight->shape[1];
    return mdl_reshape(ar, y, index->ndim + 1, shape);
}

/* ---------------------------------------------------------------------------------------------
   LayerNorm              y = (x - mean) / sqrt(var + eps) * w + b
   mean and the biased variance (divided by n, as PyTorch) over the last n_axes axes, for each
   leading index: every sample is normalized on its own, so the batch size does not matter.
   Built from reshape, mean, var, sub, div, mul and add: their backwards give the gradient.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_layer_norm(mdl_arena *ar, mdl_tensor *x, int n_axes, mdl_tensor *weight,
                                  mdl_tensor *bias, double eps) {
    const char *fn = "mdl_layer_norm";
    int flat[2], d;
    size_t inner = 1;
    mdl_tensor *x2, *mean, *centred, *var, *y;
    char bx[96], bp[96];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if ((weight && !mdl__usable(fn, "weight", weight)) || (bias && !mdl__usable(fn, "bias", bias)))
        return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    if (n_axes < 1 || n_axes > x->ndim) {
        mdl__fail(MDL_ERR_ARG, fn, "x %s: n_axes %d must be between 1 and %d", bx, n_axes,
                  x->ndim);
        return NULL;
    }
    for (d = x->ndim - n_axes; d < x->ndim; d++) inner *= (size_t)x->shape[d];
    for (d = 0; d < 2; d++) {
        const mdl_tensor *p = d ? bias : weight;
        if (p && (p->ndim != n_axes || memcmp(p->shape, x->shape + x->ndim - n_axes,
                                              sizeof(int) * (size_t)n_axes) != 0)) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s, %s %s: it must have the shape of x's last %d "
                      "axes", bx, d ? "bias" : "weight", mdl_shape_str(p, bp, sizeof bp), n_axes);
            return NULL;
        }
    }
    flat[0] = inner ? (int)(x->numel / inner) : 0;
    flat[1] = (int)inner;
    x2 = mdl_reshape(ar, x, 2, flat);
    mean = mdl_mean(ar, x2, 1, 1);
    centred = mdl_sub(ar, x2, mean); /* x - mean, once: for the variance and for y */
    var = mdl_mean(ar, mdl_mul(ar, centred, centred), 1, 1);
    y = mdl_div(ar, centred, mdl_sqrt(ar, mdl_add_scalar(ar, var, (mdl_scalar)eps)));
    y = mdl_reshape(ar, y, x->ndim, x->shape);
    if (weight) y = mdl_mul(ar, y, weight);
    if (bias) y = mdl_add(ar, y, bias);
    return y;
}

/* ---------------------------------------------------------------------------------------------
   BatchNorm              y = (x - mean_c) / sqrt(var_c + eps) * w_c + b_c    x:[N,C,...]
   In training, mean_c and var_c are channel c's over the batch and every position (the biased
   variance, as PyTorch), and the running statistics move towards them:
       running_mean = (1 - momentum) running_mean + momentum mean_c
       running_var  = (1 - momentum) running_var  + momentum var_c * n / (n - 1)   (unbiased)
   In evaluation the running statistics stand in for the batch's, so one sample's output does
   not depend on the others in its batch. The statistics are reductions over every axis but
   C's, kept as [1,C,1,...]; the gradient flows through them as through any composite.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_batch_norm(mdl_arena *ar, mdl_tensor *x, mdl_tensor *running_mean,
                                  mdl_tensor *running_var, mdl_tensor *weight, mdl_tensor *bias,
                                  int training, double momentum, double eps) {
    const char *fn = "mdl_batch_norm";
    int axes[MDL_MAX_DIMS], cshape[MDL_MAX_DIMS], d, c;
    mdl_tensor *mean, *centred, *var, *y;
    const mdl_tensor *check[4];
    char bx[96], bp[96];
    size_t n;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    check[0] = running_mean, check[1] = running_var, check[2] = weight, check[3] = bias;
    mdl_shape_str(x, bx, sizeof bx);
    if (x->ndim < 2 || x->ndim > 4) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s must be [N,C], [N,C,L] or [N,C,H,W]", bx);
        return NULL;
    }
    c = x->shape[1];
    for (d = 0; d < 4; d++) {
        static const char *const what[4] = {"running_mean", "running_var", "weight", "bias"};
        if (check[d] && !mdl__usable(fn, what[d], check[d])) return NULL;
        if (check[d] && (check[d]->ndim != 1 || check[d]->shape[0] != c)) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s, %s %s: it must be [%d], one per channel", bx,
                      what[d], mdl_shape_str(check[d], bp, sizeof bp), c);
            return NULL;
        }
    }
    if (!training && (!running_mean || !running_var)) {
        mdl__fail(MDL_ERR_NULL, fn, "evaluation mode needs running_mean and running_var");
        return NULL;
    }
    n = c ? x->numel / (size_t)c : 0;
    for (d = 0; d < x->ndim; d++) cshape[d] = d == 1 ? c : 1; /* [1,C,1,...]: broadcasts */
    for (d = 0; d < x->ndim - 1; d++) axes[d] = d ? d + 1 : 0;  /* every axis but C's */
    if (training) {
        if (n < 2) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s: training needs more than one value per channel",
                      bx);
            return NULL;
        }
        mean = mdl_mean_axes(ar, x, x->ndim - 1, axes, 1); /* [1,C,1,...] */
        centred = mdl_sub(ar, x, mean); /* x - mean, once: for the variance and for y */
        var = mdl_mean_axes(ar, mdl_mul(ar, centred, centred), x->ndim - 1, axes, 1);
        if (!mean || !var) return NULL;
        if (running_mean && running_var) { /* no tape: plain arithmetic on the buffers */
            for (d = 0; d < c; d++) {
                double m = (double)mean->data[d], v = (double)var->data[d] * (double)n / (n - 1.0);
                running_mean->data[d] =
                    (mdl_scalar)((1 - momentum) * (double)running_mean->data[d] + momentum * m);
                running_var->data[d] =
                    (mdl_scalar)((1 - momentum) * (double)running_var->data[d] + momentum * v);
            }
        }
    } else {
        centred = mdl_sub(ar, x, mdl_reshape(ar, mdl_detach(ar, running_mean), x->ndim, cshape));
        var = mdl_reshape(ar, mdl_detach(ar, running_var), x->ndim, cshape);
    }
    y = mdl_div(ar, centred, mdl_sqrt(ar, mdl_add_scalar(ar, var, (mdl_scalar)eps)));
    if (weight) y = mdl_mul(ar, y, mdl_reshape(ar, weight, x->ndim, cshape));
    if (bias) y = mdl_add(ar, y, mdl_reshape(ar, bias, x->ndim, cshape));
    return y;
}

/* ---------------------------------------------------------------------------------------------
   Layer objects: an mdl_layer is a kind, a name, parameters and settings; the constructors
   register the parameters under "name.weight" (PyTorch's state_dict names) and initialise them
   as PyTorch does, and mdl_layer_forward checks the input against the layer, so that a
   mistake is reported with the layer's name, kind and sizes, then calls the functional form.
   --------------------------------------------------------------------------------------------- */

#define MDL__LAYER_NAME_ITEM(name, torch) torch,
static const char *const mdl__layer_names[] = {"(none)", MDL_LAYERS(MDL__LAYER_NAME_ITEM)};
#undef MDL__LAYER_NAME_ITEM

MDLDEF const char *mdl_layer_kind_name(mdl_layer_kind kind) {
    if ((int)kind < 0 || (int)kind >= (int)MDL_LAYER_COUNT) return "(unknown)";
    return mdl__layer_names[kind];
}

/* A layer of a kind with no parameters yet, in training mode. */
static mdl_layer mdl__layer_new(mdl_layer_kind kind, const char *name) {
    mdl_layer l;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    l.training = 1;
    l.padding_idx = -1;
    if (name) {
        strncpy(l.name, name, MDL_NAME_MAX - 1);
        l.name[MDL_NAME_MAX - 1] = 0;
    }
    return l;
}

/* Register "prefix.what" in ps (a parameter, or a buffer when !trainable). */
static mdl_tensor *mdl__layer_param(mdl_params *ps, const mdl_layer *l, const char *what,
                                    int ndim, const int *shape, int trainable) {
    char full[MDL_NAME_MAX + 32];
    sprintf(full, "%s.%s", l->name, what);
    return trainable ? mdl_params_add(ps, full, ndim, shape)
                     : mdl_params_add_buffer(ps, full, ndim, shape);
}

/* The checks every constructor with parameters makes: a set, a name that fits, sizes >= 1. */
static int mdl__layer_args(const char *fn, mdl_params *ps, const char *name, int a, int b,
                           int need_rng, const mdl_rng *rng) {
    if (!ps || !name || (need_rng && !rng)) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !ps ? "the parameter set" : !name ? "name" : "rng");
        return 0;
    }
    if (!name[0] || strlen(name) >= MDL_NAME_MAX) {
        mdl__fail(MDL_ERR_ARG, fn, "name \"%s\": a layer needs a name of 1 to %d characters", name,
                  MDL_NAME_MAX - 1);
        return 0;
    }
    if (a < 1 || b < 1) {
        mdl__fail(MDL_ERR_SIZE, fn, "%s: sizes %d and %d must be at least 1", name, a, b);
        return 0;
    }
    return 1;
}

/* weight and bias of a Linear or Conv layer, initialised as PyTorch's reset_parameters:
   kaiming_uniform(a = sqrt(5)), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from
   the same range. */
static int mdl__layer_weight_bias(mdl_layer *l, mdl_params *ps, int ndim, const int *wshape,
                                  int bias, mdl_rng *rng) {
    double bound;
    l->weight = mdl__layer_param(ps, l, "weight", ndim, wshape, 1);
    if (!l->weight) return 0;
    mdl_init_kaiming_uniform(l->weight, rng, sqrt(5.0), 0);
    bound = 1.0 / sqrt((double)mdl_fan_in(l->weight));
    if (bias) {
        l->bias = mdl__layer_param(ps, l, "bias", 1, wshape, 1);
        if (!l->bias) return 0;
        mdl_fill_uniform(l->bias, rng, -bound, bound);
    }
    return 1;
}

MDLDEF mdl_layer mdl_linear_layer(mdl_params *ps, const char *name, int in, int out, int bias,
                                  mdl_rng *rng) {
    mdl_layer l = mdl__layer_new(MDL_LAYER_LINEAR, name);
    int shape[2];
    shape[0] = out, shape[1] = in;
    l.in = in, l.out = out;
    if (!mdl__layer_args("mdl_linear_layer", ps, name, in, out, 1, rng) ||
        !mdl__layer_weight_bias(&l, ps, 2, shape, bias, rng))
        l.kind = MDL_LAYER_NONE;
    return l;
}

static mdl_layer mdl__conv_layer(const char *fn, mdl_layer_kind kind, mdl_params *ps,
                                 const char *name, int in, int out, int kh, int kw,
                                 const mdl_conv_opts *opts, int bias, mdl_rng *rng) {
    mdl_layer l = mdl__layer_new(kind, name);
    int shape[4], s[2], p[2], d[2], groups, two_d = kind == MDL_LAYER_CONV2D;
    l.in = in, l.out = out, l.kernel[0] = kh, l.kernel[1] = kw;
    if (opts) l.conv = *opts;
    if (!mdl__layer_args(fn, ps, name, in, out, 1, rng) ||
        !mdl__conv_opts(fn, opts, two_d, s, p, d, &groups)) {
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    if (kh < 1 || kw < 1 || in % groups || out % groups) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: kernel %dx%d must be at least 1x1, and groups %d must "
                  "divide in %d and out %d", name, kh, kw, groups, in, out);
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    shape[0] = out, shape[1] = in / groups, shape[2] = kh, shape[3] = kw;
    if (!two_d) shape[2] = kw;
    if (!mdl__layer_weight_bias(&l, ps, two_d ? 4 : 3, shape, bias, rng)) l.kind = MDL_LAYER_NONE;
    return l;
}

MDLDEF mdl_layer mdl_conv2d_layer(mdl_params *ps, const char *name, int in, int out, int kh,
                                  int kw, const mdl_conv_opts *opts, int bias, mdl_rng *rng) {
    return mdl__conv_layer("mdl_conv2d_layer", MDL_LAYER_CONV2D, ps, name, in, out, kh, kw, opts,
                           bias, rng);
}
MDLDEF mdl_layer mdl_conv1d_layer(mdl_params *ps, const char *name, int in, int out, int k,
                                  const mdl_conv_opts *opts, int bias, mdl_rng *rng) {
    return mdl__conv_layer("mdl_conv1d_layer", MDL_LAYER_CONV1D, ps, name, in, out, 1, k, opts,
                           bias, rng);
}

static mdl_layer mdl__batch_norm_layer(const char *fn, mdl_layer_kind kind, mdl_params *ps,
                                       const char *name, int channels) {
    mdl_layer l = mdl__layer_new(kind, name);
    int one = 1;
    l.in = l.out = channels;
    l.eps = 1e-5;
    l.momentum = 0.1;
    if (!mdl__layer_args(fn, ps, name, channels, 1, 0, NULL) ||
        !(l.weight = mdl__layer_param(ps, &l, "weight", 1, &channels, 1)) ||
        !(l.bias = mdl__layer_param(ps, &l, "bias", 1, &channels, 1)) ||
        !(l.running_mean = mdl__layer_param(ps, &l, "running_mean", 1, &channels, 0)) ||
        !(l.running_var = mdl__layer_param(ps, &l, "running_var", 1, &channels, 0)) ||
        !(l.num_batches_tracked = mdl__layer_param(ps, &l, "num_batches_tracked", 0, &one, 0))) {
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    mdl_fill(l.weight, 1);
    mdl_fill(l.running_var, 1);
    return l;
}
MDLDEF mdl_layer mdl_batch_norm1d_layer(mdl_params *ps, const char *name, int channels) {
    return mdl__batch_norm_layer("mdl_batch_norm1d_layer", MDL_LAYER_BATCH_NORM1D, ps, name,
                                 channels);
}
MDLDEF mdl_layer mdl_batch_norm2d_layer(mdl_params *ps, const char *name, int channels) {
    return mdl__batch_norm_layer("mdl_batch_norm2d_layer", MDL_LAYER_BATCH_NORM2D, ps, name,
                                 channels);
}

MDLDEF mdl_layer mdl_layer_norm_layer(mdl_params *ps, const char *name, int n_axes,
                                      const int *shape) {
    const char *fn = "mdl_layer_norm_layer";
    mdl_layer l = mdl__layer_new(MDL_LAYER_LAYER_NORM, name);
    l.axis[0] = n_axes;
    l.eps = 1e-5;
    if (!mdl__layer_args(fn, ps, name, n_axes, 1, 0, NULL)) {
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    if (n_axes >= MDL_MAX_DIMS || !shape) {
        mdl__fail(shape ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "%s: n_axes %d must be below %d, with "
                  "their sizes in shape", name, n_axes, MDL_MAX_DIMS);
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    if (!(l.weight = mdl__layer_param(ps, &l, "weight", n_axes, shape, 1)) ||
        !(l.bias = mdl__layer_param(ps, &l, "bias", n_axes, shape, 1))) {
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    l.in = l.out = (int)l.weight->numel;
    mdl_fill(l.weight, 1);
    return l;
}

MDLDEF mdl_layer mdl_embedding_layer(mdl_params *ps, const char *name, int num, int dim,
                                     int padding_idx, mdl_rng *rng) {
    const char *fn = "mdl_embedding_layer";
    mdl_layer l = mdl__layer_new(MDL_LAYER_EMBEDDING, name);
    int shape[2];
    l.in = num, l.out = dim;
    l.padding_idx = padding_idx < 0 ? -1 : padding_idx;
    shape[0] = num, shape[1] = dim;
    if (!mdl__layer_args(fn, ps, name, num, dim, 1, rng)) {
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    if (padding_idx >= num) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: padding_idx %d is not a row of the %d", name, padding_idx,
                  num);
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    if (!(l.weight = mdl__layer_param(ps, &l, "weight", 2, shape, 1))) {
        l.kind = MDL_LAYER_NONE;
        return l;
    }
    mdl_fill_normal(l.weight, rng, 0, 1);
    if (l.padding_idx >= 0)
        memset(l.weight->data + (size_t)l.padding_idx * (size_t)dim, 0,
               (size_t)dim * sizeof(mdl_scalar));
    return l;
}

MDLDEF mdl_layer mdl_pool_layer(mdl_layer_kind kind, int kernel, const mdl_pool_opts *opts) {
    mdl_layer l = mdl__layer_new(kind, NULL);
    l.kernel[0] = l.kernel[1] = kernel;
    if (opts) l.pool = *opts;
    if (kind != MDL_LAYER_MAX_POOL2D && kind != MDL_LAYER_AVG_POOL2D &&
        kind != MDL_LAYER_MAX_POOL1D && kind != MDL_LAYER_AVG_POOL1D) {
        mdl__fail(MDL_ERR_ARG, "mdl_pool_layer", "%s is not a pooling layer",
                  mdl_layer_kind_name(kind));
        l.kind = MDL_LAYER_NONE;
    }
    return l;
}

MDLDEF mdl_layer mdl_adaptive_avg_pool2d_layer(int out_h, int out_w) {
    mdl_layer l = mdl__layer_new(MDL_LAYER_ADAPTIVE_AVG_POOL2D, NULL);
    l.kernel[0] = out_h;
    l.kernel[1] = out_w;
    return l;
}

MDLDEF mdl_layer mdl_dropout_layer(double p, mdl_rng *rng) {
    mdl_layer l = mdl__layer_new(MDL_LAYER_DROPOUT, NULL);
    l.p = p;
    l.rng = rng;
    if (!(p >= 0 && p <= 1) || !rng) {
        mdl__fail(rng ? MDL_ERR_ARG : MDL_ERR_NULL, "mdl_dropout_layer",
                  rng ? "p = %g: a probability must be between 0 and 1" : "rng is NULL (p = %g)", p);
        l.kind = MDL_LAYER_NONE;
    }
    return l;
}

MDLDEF mdl_layer mdl_flatten_layer(int start, int end) {
    mdl_layer l = mdl__layer_new(MDL_LAYER_FLATTEN, NULL);
    l.axis[0] = start;
    l.axis[1] = end;
    return l;
}

MDLDEF mdl_layer mdl_activation_layer(mdl_layer_kind kind) {
    mdl_layer l = mdl__layer_new(kind, NULL);
    switch (kind) {
    case MDL_LAYER_LEAKY_RELU: l.p = 0.01; break;
    case MDL_LAYER_ELU: l.p = 1; break;
    case MDL_LAYER_SOFTMAX: case MDL_LAYER_LOG_SOFTMAX: l.axis[0] = -1; break;
    case MDL_LAYER_RELU: case MDL_LAYER_GELU: case MDL_LAYER_SILU: case MDL_LAYER_SIGMOID:
    case MDL_LAYER_TANH: break;
    default:
        mdl__fail(MDL_ERR_ARG, "mdl_activation_layer", "%s is not an activation",
                  mdl_layer_kind_name(kind));
        l.kind = MDL_LAYER_NONE;
        break;
    }
    return l;
}

MDLDEF void mdl_layer_train(mdl_layer *layer, int training) {
    if (layer) layer->training = training != 0;
}

MDLDEF size_t mdl_layer_param_count(const mdl_layer *layer) {
    if (!layer) return 0;
    return (layer->weight ? layer->weight->numel : 0) + (layer->bias ? layer->bias->numel : 0);
}

/* "fc2 (Linear 128->10)": the layer, as error messages name it. */
static const char *mdl__layer_label(const mdl_layer *l, char *buf, size_t size) {
    const char *kind = mdl_layer_kind_name(l->kind);
    switch (l->kind) {
    case MDL_LAYER_LINEAR:
        snprintf(buf, size, "%s (%s %d->%d)", l->name, kind, l->in, l->out);
        break;
    case MDL_LAYER_CONV2D:
        snprintf(buf, size, "%s (%s %d->%d, %dx%d)", l->name, kind, l->in, l->out, l->kernel[0],
                 l->kernel[1]);
        break;
    case MDL_LAYER_CONV1D:
        snprintf(buf, size, "%s (%s %d->%d, %d)", l->name, kind, l->in, l->out, l->kernel[1]);
        break;
    case MDL_LAYER_BATCH_NORM1D: case MDL_LAYER_BATCH_NORM2D:
        snprintf(buf, size, "%s (%s %d)", l->name, kind, l->in);
        break;
    case MDL_LAYER_EMBEDDING:
        snprintf(buf, size, "%s (%s %dx%d)", l->name, kind, l->in, l->out);
        break;
    default:
        snprintf(buf, size, "%s%s%s%s", l->name, l->name[0] ? " (" : "", kind,
                 l->name[0] ? ")" : "");
        break;
    }
    return buf;
}

/* Does x fit the layer? If not, report it in the layer's own terms. */
static int mdl__layer_input_ok(const mdl_layer *l, const mdl_tensor *x) {
    char lb[MDL_NAME_MAX + 64], bx[96];
    const char *want = NULL;
    int bad = 0, features = 0;
    switch (l->kind) {
    case MDL_LAYER_LINEAR:
        bad = x->ndim < 1 || x->shape[x->ndim - 1] != l->in;
        features = l->in;
        break;
    case MDL_LAYER_CONV2D:
        bad = x->ndim != 4 || x->shape[1] != l->in;
        want = "[B,%d,H,W]";
        break;
    case MDL_LAYER_CONV1D:
        bad = x->ndim != 3 || x->shape[1] != l->in;
        want = "[B,%d,L]";
        break;
    case MDL_LAYER_BATCH_NORM1D:
        bad = (x->ndim != 2 && x->ndim != 3) || x->shape[1] != l->in;
        want = "[N,%d] or [N,%d,L]";
        break;
    case MDL_LAYER_BATCH_NORM2D:
        bad = x->ndim != 4 || x->shape[1] != l->in;
        want = "[N,%d,H,W]";
        break;
    default: break;
    }
    if (!bad) return 1;
    mdl__layer_label(l, lb, sizeof lb);
    mdl_shape_str(x, bx, sizeof bx);
    if (want) {
        char w[64];
        snprintf(w, sizeof w, want, l->in, l->in);
        mdl__fail(MDL_ERR_SHAPE, "mdl_layer_forward", "%s: x %s: expected %s", lb, bx, w);
    } else {
        mdl__fail(MDL_ERR_SHAPE, "mdl_layer_forward", "%s: x %s: expected %d features", lb, bx,
                  features);
    }
    return 0;
}

MDLDEF mdl_tensor *mdl_layer_forward(mdl_arena *ar, const mdl_layer *l, mdl_tensor *x) {
    const char *fn = "mdl_layer_forward";
    mdl_tensor *y;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (!l || l->kind <= MDL_LAYER_NONE || l->kind >= MDL_LAYER_COUNT) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(l ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "%s", l ? "the layer was not made (its "
                      "constructor reported an error)" : "the layer is NULL");
        return NULL;
    }
    if (!mdl__layer_input_ok(l, x)) return NULL;
    switch (l->kind) {
    case MDL_LAYER_LINEAR: return mdl_linear(ar, x, l->weight, l->bias);
    case MDL_LAYER_CONV2D: return mdl_conv2d(ar, x, l->weight, l->bias, &l->conv);
    case MDL_LAYER_CONV1D: return mdl_conv1d(ar, x, l->weight, l->bias, &l->conv);
    case MDL_LAYER_MAX_POOL2D: return mdl_max_pool2d(ar, x, l->kernel[1], &l->pool);
    case MDL_LAYER_AVG_POOL2D: return mdl_avg_pool2d(ar, x, l->kernel[1], &l->pool);
    case MDL_LAYER_MAX_POOL1D: return mdl_max_pool1d(ar, x, l->kernel[1], &l->pool);
    case MDL_LAYER_AVG_POOL1D: return mdl_avg_pool1d(ar, x, l->kernel[1], &l->pool);
    case MDL_LAYER_ADAPTIVE_AVG_POOL2D:
        return mdl_adaptive_avg_pool2d(ar, x, l->kernel[0], l->kernel[1]);
    case MDL_LAYER_FLATTEN: return mdl_flatten(ar, x, l->axis[0], l->axis[1]);
    case MDL_LAYER_DROPOUT: return mdl_dropout(ar, x, l->p, l->training, l->rng);
    case MDL_LAYER_BATCH_NORM1D:
    case MDL_LAYER_BATCH_NORM2D:
        y = mdl_batch_norm(ar, x, l->running_mean, l->running_var, l->weight, l->bias,
                           l->training, l->momentum, l->eps);
        if (y && l->training) l->num_batches_tracked->data[0] += 1;
        return y;
    case MDL_LAYER_LAYER_NORM: return mdl_layer_norm(ar, x, l->axis[0], l->weight, l->bias, l->eps);
    case MDL_LAYER_EMBEDDING: return mdl_embedding(ar, x, l->weight, l->padding_idx);
    case MDL_LAYER_RELU: return mdl_relu(ar, x);
    case MDL_LAYER_LEAKY_RELU: return mdl_leaky_relu(ar, x, (mdl_scalar)l->p);
    case MDL_LAYER_ELU: return mdl_elu(ar, x, (mdl_scalar)l->p);
    case MDL_LAYER_GELU: return mdl_gelu(ar, x);
    case MDL_LAYER_SILU: return mdl_silu(ar, x);
    case MDL_LAYER_SIGMOID: return mdl_sigmoid(ar, x);
    case MDL_LAYER_TANH: return mdl_tanh(ar, x);
    case MDL_LAYER_SOFTMAX: return mdl_softmax(ar, x, l->axis[0]);
    case MDL_LAYER_LOG_SOFTMAX: return mdl_log_softmax(ar, x, l->axis[0]);
    default: return NULL; /* (MDL_LAYER_NONE and COUNT were refused above) */
    }
}

/* ---------------------------------------------------------------------------------------------
   Sequential: a growing array of layers, run in order.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_sequential *mdl_sequential_new(void) {
    mdl_sequential *s = (mdl_sequential *)MINIDL_MALLOC(sizeof(mdl_sequential));
    if (!s) {
        mdl__env_error(MDL_ERR_NOMEM, "mdl_sequential_new", "out of memory");
        return NULL;
    }
    memset(s, 0, sizeof *s);
    return s;
}

MDLDEF void mdl_sequential_free(mdl_sequential *seq) {
    if (!seq) return;
    MINIDL_FREE(seq->layers);
    MINIDL_FREE(seq);
}

MDLDEF mdl_layer *mdl_sequential_add(mdl_sequential *seq, mdl_layer layer) {
    const char *fn = "mdl_sequential_add";
    if (!seq) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the list is NULL");
        return NULL;
    }
    if (layer.kind <= MDL_LAYER_NONE || layer.kind >= MDL_LAYER_COUNT) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(MDL_ERR_ARG, fn, "layer %d was not made (its constructor reported an "
                      "error)", seq->count);
        return NULL;
    }
    if (seq->count == seq->capacity) {
        int cap = seq->capacity ? 2 * seq->capacity : 8;
        mdl_layer *grown = (mdl_layer *)MINIDL_MALLOC((size_t)cap * sizeof(mdl_layer));
        if (!grown) {
            mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for %d layers", cap);
            return NULL;
        }
        if (seq->count) memcpy(grown, seq->layers, (size_t)seq->count * sizeof(mdl_layer));
        MINIDL_FREE(seq->layers);
        seq->layers = grown;
        seq->capacity = cap;
    }
    seq->layers[seq->count] = layer;
    return &seq->layers[seq->count++];
}

MDLDEF mdl_tensor *mdl_sequential_forward(mdl_arena *ar, const mdl_sequential *seq,
                                          mdl_tensor *x) {
    int i;
    if (!seq) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(MDL_ERR_NULL, "mdl_sequential_forward", "the list is NULL");
        return NULL;
    }
    for (i = 0; i < seq->count && x; i++) x = mdl_layer_forward(ar, &seq->layers[i], x);
    return x;
}

MDLDEF void mdl_sequential_train(mdl_sequential *seq, int training) {
    int i;
    if (seq)
        for (i = 0; i < seq->count; i++) mdl_layer_train(&seq->layers[i], training);
}

MDLDEF mdl_error mdl_sequential_summary(FILE *f, const mdl_sequential *seq, int ndim,
                                        const int *shape) {
    const char *fn = "mdl_sequential_summary";
    mdl_arena *ar;
    mdl_tensor *x;
    mdl_error e = MDL_OK;
    size_t total = 0;
    char lb[MDL_NAME_MAX + 64], bx[96];
    int i;
    if (!f || !seq) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", f ? "the list" : "the stream");
        return MDL_ERR_NULL;
    }
    ar = mdl_arena_new(0);
    if (!ar) return MDL_ERR_NOMEM;
    mdl_set_grad_enabled(ar, 0);
    x = mdl_zeros(ar, ndim, shape);
    fprintf(f, "%-30s %-20s %12s\n", "Layer (type)", "Output shape", "Param #");
    fprintf(f, "%.64s\n", "================================================================");
    for (i = 0; i < seq->count && x; i++) {
        mdl_layer eval = seq->layers[i]; /* a copy in evaluation mode: no drops, no updates */
        size_t n = mdl_layer_param_count(&eval);
        eval.training = 0;
        x = mdl_layer_forward(ar, &eval, x);
        if (!x) break;
        if (!eval.name[0]) snprintf(eval.name, MDL_NAME_MAX, "%d", i);
        fprintf(f, "%-30s %-20s %12zu\n", mdl__layer_label(&eval, lb, sizeof lb),
                mdl_shape_str(x, bx, sizeof bx), n);
        total += n;
    }
    if (!x) e = mdl_last_error_code() != MDL_OK ? mdl_last_error_code() : MDL_ERR_SHAPE;
    fprintf(f, "%.64s\n", "================================================================");
    fprintf(f, "Total params: %zu\n", total);
    mdl_arena_free(ar);
    return e;
}

// >>recurrent

/* =============================================================================================
   Recurrent layers: RNN, LSTM, GRU
   A recurrent layer reads a sequence one step at a time and carries a state from each step to
   the next: h_t = cell(x_t, h_{t-1}). Its gradient flows back through the same chain of steps
   (backpropagation through time), so it is a product of T Jacobians: it shrinks or grows
   exponentially with T. The LSTM's and the GRU's gates let the state pass through a step
   almost unchanged (c' = f * c + ..., h' = ... + z * h), so the gradient can too; plain RNNs
   lose it within some ten steps, and gradient clipping (mdl_clip_grad_norm) tames the
   explosions all three can have.
   In this order: the three cells, composed of ops as a student would write them; then
   mdl_rnn_scan, the same recurrence over a whole sequence as one op with a backward of its
   own, the fast path; then the sequence layers, which run either (rnn->composed chooses; the
   composed one is the readable reference, and tests/test_rnn.c holds the two together).
   Weights are stored as PyTorch stores them, the G gates of a cell stacked along the rows:
   W_ih [G*H, I] is [W_i; W_f; W_g; W_o] for an LSTM, so x @ W_ih^T computes every gate's input
   part in one product, and h @ W_hh^T every gate's recurrent part in another.
   ============================================================================================= */

static int mdl__rnn_gates(mdl_rnn_mode mode) {
    return mode == MDL_LSTM ? 4 : mode == MDL_GRU ? 3 : 1;
}

/* Check a cell's operands, G gates: x [B,I], h and c [B,H] or NULL, w_ih [G*H,I], w_hh [G*H,H],
   biases [G*H] or NULL. H comes from w_hh. A NULL state is replaced by zeros from `ar`. */
static int mdl__cell_args(const char *fn, int G, mdl_arena *ar, mdl_tensor *x, mdl_tensor **h,
                          mdl_tensor **c, mdl_tensor *w_ih, mdl_tensor *w_hh, mdl_tensor *b_ih,
                          mdl_tensor *b_hh) {
    char bx[96], bw[96], bo[96];
    int H, B, k, shape[2];
    const mdl_tensor *bias[2];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || !mdl__usable(fn, "w_ih", w_ih) ||
        !mdl__usable(fn, "w_hh", w_hh) || (*h && !mdl__usable(fn, "h", *h)) ||
        (c && *c && !mdl__usable(fn, "c", *c)) || (b_ih && !mdl__usable(fn, "b_ih", b_ih)) ||
        (b_hh && !mdl__usable(fn, "b_hh", b_hh)))
        return 0;
    mdl_shape_str(x, bx, sizeof bx);
    if (w_hh->ndim != 2 || w_hh->shape[0] != G * w_hh->shape[1]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "w_hh %s must be [%d*H, H] (%d gate%s stacked)",
                  mdl_shape_str(w_hh, bw, sizeof bw), G, G, G > 1 ? "s" : "");
        return 0;
    }
    H = w_hh->shape[1];
    if (x->ndim != 2 || w_ih->ndim != 2 || w_ih->shape[0] != G * H ||
        w_ih->shape[1] != x->shape[1]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, w_ih %s: x must be [B, I] and w_ih [%d, I] (%d*H, "
                  "H = %d from w_hh)", bx, mdl_shape_str(w_ih, bw, sizeof bw), G * H, G, H);
        return 0;
    }
    B = x->shape[0];
    bias[0] = b_ih, bias[1] = b_hh;
    for (k = 0; k < 2; k++)
        if (bias[k] && (bias[k]->ndim != 1 || bias[k]->shape[0] != G * H)) {
            mdl__fail(MDL_ERR_SHAPE, fn, "%s %s must be [%d] (%d*H)", k ? "b_hh" : "b_ih",
                      mdl_shape_str(bias[k], bo, sizeof bo), G * H, G);
            return 0;
        }
    shape[0] = B, shape[1] = H;
    for (k = 0; k < 2; k++) {
        mdl_tensor **s = k ? c : h;
        if (!s) continue;
        if (*s && ((*s)->ndim != 2 || (*s)->shape[0] != B || (*s)->shape[1] != H)) {
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s, %s %s: the state must be [B, H] = [%d,%d]", bx,
                      k ? "c" : "h", mdl_shape_str(*s, bo, sizeof bo), B, H);
            return 0;
        }
        if (!*s && !(*s = mdl_zeros(ar, 2, shape))) return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
   RNN cell (Elman)       h' = tanh(x @ W_ih^T + b_ih + h @ W_hh^T + b_hh)     (or relu)
     x:[B,I] h:[B,H] W_ih:[H,I] W_hh:[H,H] -> h':[B,H]
   Two linear maps, an add and the activation; their backwards give the gradient.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_rnn_cell(mdl_arena *ar, mdl_tensor *x, mdl_tensor *h, mdl_tensor *w_ih,
                                mdl_tensor *w_hh, mdl_tensor *b_ih, mdl_tensor *b_hh, int relu) {
    mdl_tensor *a;
    if (!mdl__cell_args("mdl_rnn_cell", 1, ar, x, &h, NULL, w_ih, w_hh, b_ih, b_hh)) return NULL;
    /* a = W_ih x + b_ih + W_hh h + b_hh */
    a = mdl_add(ar, mdl_linear(ar, x, w_ih, b_ih), mdl_linear(ar, h, w_hh, b_hh));
    /* h' = tanh(a), or relu(a) */
    return relu ? mdl_relu(ar, a) : mdl_tanh(ar, a);
}

/* ---------------------------------------------------------------------------------------------
   LSTM cell (Hochreiter and Schmidhuber, 1997; the forget gate of Gers et al., 2000)
     x:[B,I] h,c:[B,H] W_ih:[4H,I] W_hh:[4H,H] b_ih,b_hh:[4H] -> h',c':[B,H]
   The cell state c is the memory: each step keeps a part of it (f), writes a part of a
   candidate into it (i * g), and shows a part of it as h (o). Because c' = f * c + ..., the
   gradient reaches c from c' multiplied by f alone, with no squashing on the way: where the
   forget gate stays near 1, it travels back through many steps.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_lstm_cell(mdl_arena *ar, mdl_tensor *x, mdl_tensor *h, mdl_tensor *c,
                                 mdl_tensor *w_ih, mdl_tensor *w_hh, mdl_tensor *b_ih,
                                 mdl_tensor *b_hh, mdl_tensor **c_next) {
    mdl_tensor *gates, *part[4], *i, *f, *g, *o, *c2, *h2;
    if (c_next) *c_next = NULL;
    if (!mdl__cell_args("mdl_lstm_cell", 4, ar, x, &h, &c, w_ih, w_hh, b_ih, b_hh)) return NULL;
    /* all four gates' pre-activations at once, [B,4H]: i, f, g, o side by side */
    gates = mdl_add(ar, mdl_linear(ar, x, w_ih, b_ih), mdl_linear(ar, h, w_hh, b_hh));
    if (!gates || mdl_chunk(ar, gates, 4, 1, part) != 4) return NULL;
    /* i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)   input gate: how much of g goes in */
    i = mdl_sigmoid(ar, part[0]);
    /* f = sigmoid(W_if x + b_if + W_hf h + b_hf)   forget gate: how much of c stays */
    f = mdl_sigmoid(ar, part[1]);
    /* g = tanh(W_ig x + b_ig + W_hg h + b_hg)      candidate values */
    g = mdl_tanh(ar, part[2]);
    /* o = sigmoid(W_io x + b_io + W_ho h + b_ho)   output gate: how much of c shows in h */
    o = mdl_sigmoid(ar, part[3]);
    /* c' = f * c + i * g */
    c2 = mdl_add(ar, mdl_mul(ar, f, c), mdl_mul(ar, i, g));
    /* h' = o * tanh(c') */
    h2 = mdl_mul(ar, o, mdl_tanh(ar, c2));
    if (c_next) *c_next = h2 ? c2 : NULL;
    return h2;
}

/* ---------------------------------------------------------------------------------------------
   GRU cell (Cho et al., 2014), as PyTorch computes it
     x:[B,I] h:[B,H] W_ih:[3H,I] W_hh:[3H,H] b_ih,b_hh:[3H] -> h':[B,H]
   Two gates instead of the LSTM's three, and no separate cell state: z interpolates between
   the old state and a candidate n, and r decides how much of the old state the candidate sees.
   PyTorch (and cuDNN) apply r to W_hn h + b_hn, after the product, where the paper applied it
   to h before: the r * (...) below. The gradient reaches h from h' through z * h, unsquashed.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_gru_cell(mdl_arena *ar, mdl_tensor *x, mdl_tensor *h, mdl_tensor *w_ih,
                                mdl_tensor *w_hh, mdl_tensor *b_ih, mdl_tensor *b_hh) {
    mdl_tensor *gi, *gh, *pi[3], *ph[3], *r, *z, *n;
    if (!mdl__cell_args("mdl_gru_cell", 3, ar, x, &h, NULL, w_ih, w_hh, b_ih, b_hh)) return NULL;
    gi = mdl_linear(ar, x, w_ih, b_ih); /* [B,3H]: W_ir x + b_ir, W_iz x + b_iz, W_in x + b_in */
    gh = mdl_linear(ar, h, w_hh, b_hh); /* [B,3H]: W_hr h + b_hr, W_hz h + b_hz, W_hn h + b_hn */
    if (!gi || !gh || mdl_chunk(ar, gi, 3, 1, pi) != 3 || mdl_chunk(ar, gh, 3, 1, ph) != 3)
        return NULL;
    /* r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)       reset gate */
    r = mdl_sigmoid(ar, mdl_add(ar, pi[0], ph[0]));
    /* z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)       update gate */
    z = mdl_sigmoid(ar, mdl_add(ar, pi[1], ph[1]));
    /* n = tanh(W_in x + b_in + r * (W_hn h + b_hn))    candidate */
    n = mdl_tanh(ar, mdl_add(ar, pi[2], mdl_mul(ar, r, ph[2])));
    /* h' = (1 - z) * n + z * h */
    return mdl_add(ar, mdl_mul(ar, mdl_rsub_scalar(ar, z, 1), n), mdl_mul(ar, z, h));
}

/* ---------------------------------------------------------------------------------------------
   rnn_scan     one layer's recurrence in one direction, over all T steps, as one op
     x:[T,B,I] h0,c0:[B,H] W_ih:[G*H,I] W_hh:[G*H,H] b_ih,b_hh:[G*H] -> [T,B,H]
                                                           (LSTM: [2,T,B,H], the h then the c)
   First, before the time loop, the input parts of every step's gates in one matrix product:
     xg = x @ W_ih^T                               [T*B, G*H]: one wide GEMM, not T narrow ones
   Then for t = 0 .. T-1 (T-1 .. 0 reversed), h_prev the state of the step before (h0 first):
     a_t = xg_t + b_ih + h_prev @ W_hh^T + b_hh    [B,G*H], the gates' pre-activations
     RNN:   h_t = tanh(a_t)  (or relu)
     LSTM:  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of a_t's four parts
            c_t = f * c_prev + i * g             h_t = o * tanh(c_t)
     GRU:   r, z = sigmoid of a_t's first two parts; with hn = W_hn h_prev + b_hn,
            n = tanh(xg_n + b_in + r * hn)        h_t = (1 - z) * n + z * h_prev
   exactly the cells above. Backward goes through time from the last step processed to the
   first, carrying dh (and the LSTM's dc) from each step to the one before:
     dh_t = dout_t + (what step t+1 sent back)    -> the cell's local derivatives give da_t
     step t sends back  dh_prev = da_t @ W_hh     (GRU: + dh_t * z; LSTM: dc_prev = dc_t * f)
   and adds its terms of the other gradients while its numbers are in the cache:
     dW_hh += da_t^T @ h_prev     dW_ih += da_t^T @ x_t     dx_t = da_t @ W_ih
     db_hh += sum over b of da_t  db_ih likewise
   where for the GRU the input side (W_ih, b_ih, x) sees dn in the n part and the recurrent
   side r * dn. (T products [G*H,B] @ [B,H] of one step each, rather than one [G*H,T*B] @
   [T*B,H] at the end: both read a transposed operand, and the small ones run faster here.)
   Why one op: composed, each step records some fifteen ops and their temporaries; here the
   T steps record one node, W_hh is transposed once for all of them, and each step's gates are
   a few passes over [B,G*H] in blocks that the compiler vectorizes. Saved for backward: the
   gates after their activations (LSTM i, f, g, o and tanh(c); GRU r, z, n and hn); the
   output holds every h (and c).
   --------------------------------------------------------------------------------------------- */

typedef struct mdl__scan {
    mdl_rnn_mode mode;
    int T, B, I, H, reverse;
    mdl_scalar *gates; /* [T,B,G*H]: LSTM i, f, g, o; GRU r, z, n (RNN: unused) */
    mdl_scalar *aux;   /* [T,B,H]: LSTM tanh(c_t); GRU hn = W_hn h_prev + b_hn */
} mdl__scan;

/* The activations over a row, y[k] = sigmoid(x[k]) or tanh(x[k]) for k < n (y may be x): the
   plain loops of mdl_sigmoid and mdl_tanh, or with isa 1 or 2 their AVX2 or AVX-512 versions
   (at the end of this section; skip them on a first reading). */
static void mdl__sigmoid_row(int isa, mdl_scalar *y, const mdl_scalar *x, int n);
static void mdl__tanh_row(int isa, mdl_scalar *y, const mdl_scalar *x, int n);
static int mdl__gates_isa(void);

/* The elementwise passes go over a row in spans of MDL__SPAN values: a loop with a fixed trip
   count over restrict pointers is one that gcc and clang vectorize at plain -O2 (the last,
   shorter span runs the same code one value at a time). MDL__SPANS(n, j, call) runs `call`
   with j at each span's start and `n_` its length. */
#define MDL__SPAN 16
#define MDL__SPANS(n, j, call)                                                               \
    do {                                                                                     \
        int n_ = MDL__SPAN;                                                                  \
        for ((j) = 0; (j) + MDL__SPAN <= (n); (j) += MDL__SPAN) call;                        \
        n_ = (n) - (j);                                                                      \
        if (n_ > 0) call;                                                                    \
    } while (0)

/* y += x */
MDL__ALWAYS_INLINE void mdl__span_add(int n, mdl_scalar *MDL__RESTRICT y,
                                      const mdl_scalar *MDL__RESTRICT x) {
    int k;
    for (k = 0; k < n; k++) y[k] += x[k];
}
static void mdl__scan_add(mdl_scalar *y, const mdl_scalar *x, int n) {
    int j;
    MDL__SPANS(n, j, mdl__span_add(n_, y + j, x + j));
}

/* LSTM forward, once the activations are in: c = f c_prev + i g, and h = o tanh(c) */
MDL__ALWAYS_INLINE void mdl__span_lstm_c(int n, const mdl_scalar *MDL__RESTRICT i,
                                         const mdl_scalar *MDL__RESTRICT f,
                                         const mdl_scalar *MDL__RESTRICT g,
                                         const mdl_scalar *MDL__RESTRICT c_prev,
                                         mdl_scalar *MDL__RESTRICT c) {
    int k;
    for (k = 0; k < n; k++) c[k] = f[k] * c_prev[k] + i[k] * g[k];
}
MDL__ALWAYS_INLINE void mdl__span_mul(int n, const mdl_scalar *MDL__RESTRICT a,
                                      const mdl_scalar *MDL__RESTRICT b,
                                      mdl_scalar *MDL__RESTRICT y) {
    int k;
    for (k = 0; k < n; k++) y[k] = a[k] * b[k];
}

/* GRU forward: hn = m + b_hn (kept), n's pre-activation xn + b_in + r hn; after the tanh,
   h = (1 - z) n + z h_prev */
MDL__ALWAYS_INLINE void mdl__span_gru_n(int n, const mdl_scalar *MDL__RESTRICT r,
                                        const mdl_scalar *MDL__RESTRICT bi,
                                        const mdl_scalar *MDL__RESTRICT bh,
                                        const mdl_scalar *MDL__RESTRICT m,
                                        mdl_scalar *MDL__RESTRICT hn, mdl_scalar *MDL__RESTRICT a) {
    int k;
    for (k = 0; k < n; k++) {
        hn[k] = m[k] + bh[k];
        a[k] = a[k] + bi[k] + r[k] * hn[k];
    }
}
MDL__ALWAYS_INLINE void mdl__span_gru_h(int n, const mdl_scalar *MDL__RESTRICT z,
                                        const mdl_scalar *MDL__RESTRICT nn,
                                        const mdl_scalar *MDL__RESTRICT h_prev,
                                        mdl_scalar *MDL__RESTRICT h) {
    const mdl_scalar one = 1;
    int k;
    for (k = 0; k < n; k++) h[k] = (one - z[k]) * nn[k] + z[k] * h_prev[k];
}

/* One forward step, a row of the batch at a time, in passes: the sums, the activations, the
   products. For the RNN and the LSTM, a [B,G*H] holds xg_t + h_prev @ W_hh^T on entry and the
   activated gates on exit, and bs = b_ih + b_hh. */
static void mdl__scan_rnn_step(int isa, int relu, int B, int H, const mdl_scalar *bs,
                               mdl_scalar *a, mdl_scalar *h) {
    int b, j;
    for (b = 0; b < B; b++) {
        mdl_scalar *g = a + (size_t)b * (size_t)H, *hb = h + (size_t)b * (size_t)H;
        MDL__SPANS(H, j, mdl__span_add(n_, g + j, bs + j));
        if (relu)
            for (j = 0; j < H; j++) hb[j] = g[j] > 0 ? g[j] : 0;
        else
            mdl__tanh_row(isa, hb, g, H);
    }
}

static void mdl__scan_lstm_step(int isa, int B, int H, const mdl_scalar *bs, mdl_scalar *a,
                                const mdl_scalar *c_prev, mdl_scalar *c, mdl_scalar *tc,
                                mdl_scalar *h) {
    int b, j;
    for (b = 0; b < B; b++) {
        mdl_scalar *i = a + (size_t)b * 4 * (size_t)H, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const size_t row = (size_t)b * (size_t)H;
        MDL__SPANS(4 * H, j, mdl__span_add(n_, i + j, bs + j)); /* i, f, g, o pre-activations */
        mdl__sigmoid_row(isa, i, i, 2 * H);                     /* i, f */
        mdl__tanh_row(isa, g, g, H);                            /* g */
        mdl__sigmoid_row(isa, o, o, H);                         /* o */
        MDL__SPANS(H, j, mdl__span_lstm_c(n_, i + j, f + j, g + j, c_prev + row + j,
                                          c + row + j));        /* c = f c_prev + i g */
        mdl__tanh_row(isa, tc + row, c + row, H);               /* tanh(c), kept */
        MDL__SPANS(H, j, mdl__span_mul(n_, o + j, tc + row + j, h + row + j)); /* h = o tanh(c) */
    }
}

/* The GRU's r needs W_hn h_prev apart from xg's n part, so its product comes in m [B,3H]
   (a [B,3H] holds xg_t); bs = b_ih + b_hh for r and z, bi and bh the biases themselves. */
static void mdl__scan_gru_step(int isa, int B, int H, const mdl_scalar *bs, const mdl_scalar *bi,
                               const mdl_scalar *bh, mdl_scalar *a, const mdl_scalar *m,
                               const mdl_scalar *h_prev, mdl_scalar *hn, mdl_scalar *h) {
    int b, j;
    for (b = 0; b < B; b++) {
        mdl_scalar *r = a + (size_t)b * 3 * (size_t)H, *z = r + H, *n = r + 2 * H;
        const mdl_scalar *mb = m + (size_t)b * 3 * (size_t)H;
        const size_t row = (size_t)b * (size_t)H;
        MDL__SPANS(2 * H, j, mdl__span_add(n_, r + j, mb + j)); /* r, z pre-activations */
        MDL__SPANS(2 * H, j, mdl__span_add(n_, r + j, bs + j));
        mdl__sigmoid_row(isa, r, r, 2 * H);                     /* r, z */
        MDL__SPANS(H, j, mdl__span_gru_n(n_, r + j, bi + 2 * H + j, bh + 2 * H + j,
                                         mb + 2 * H + j, hn + row + j, n + j));
        mdl__tanh_row(isa, n, n, H);                            /* n */
        MDL__SPANS(H, j, mdl__span_gru_h(n_, z + j, n + j, h_prev + row + j, h + row + j));
    }
}

/* One backward step: from dh (and dc) at h_t, the pre-activation gradients da [B,G*H] of the
   recurrent side. The LSTM turns dc into dc_prev in place. The GRU also writes the input
   side's [B,3H] into dai (its n part dn, where da has r * dn), and dh's direct path to h_prev
   (dh * z) into dhp. */
MDL__ALWAYS_INLINE void mdl__span_tanh_back(int n, const mdl_scalar *MDL__RESTRICT h,
                                            const mdl_scalar *MDL__RESTRICT dh,
                                            mdl_scalar *MDL__RESTRICT da) {
    const mdl_scalar one = 1;
    int k;
    for (k = 0; k < n; k++) da[k] = dh[k] * (one - h[k] * h[k]); /* tanh' = 1 - h^2 */
}

MDL__ALWAYS_INLINE void mdl__span_lstm_back(int n, const mdl_scalar *MDL__RESTRICT i,
                                            const mdl_scalar *MDL__RESTRICT f,
                                            const mdl_scalar *MDL__RESTRICT g,
                                            const mdl_scalar *MDL__RESTRICT o,
                                            const mdl_scalar *MDL__RESTRICT tc,
                                            const mdl_scalar *MDL__RESTRICT c_prev,
                                            const mdl_scalar *MDL__RESTRICT dh,
                                            mdl_scalar *MDL__RESTRICT dc,
                                            mdl_scalar *MDL__RESTRICT di,
                                            mdl_scalar *MDL__RESTRICT df,
                                            mdl_scalar *MDL__RESTRICT dg,
                                            mdl_scalar *MDL__RESTRICT dout) {
    const mdl_scalar one = 1;
    int k;
    for (k = 0; k < n; k++) {
        const mdl_scalar t = tc[k], d = dh[k];
        const mdl_scalar dcc = dc[k] + d * o[k] * (one - t * t); /* h = o tanh(c) */
        di[k] = dcc * g[k] * i[k] * (one - i[k]);                 /* c = f c_prev + i g */
        df[k] = dcc * c_prev[k] * f[k] * (one - f[k]);
        dg[k] = dcc * i[k] * (one - g[k] * g[k]);
        dout[k] = d * t * o[k] * (one - o[k]);
        dc[k] = dcc * f[k];                                       /* on to c_prev */
    }
}

MDL__ALWAYS_INLINE void mdl__span_gru_back(int n, const mdl_scalar *MDL__RESTRICT r,
                                           const mdl_scalar *MDL__RESTRICT z,
                                           const mdl_scalar *MDL__RESTRICT nn,
                                           const mdl_scalar *MDL__RESTRICT hn,
                                           const mdl_scalar *MDL__RESTRICT h_prev,
                                           const mdl_scalar *MDL__RESTRICT dh,
                                           mdl_scalar *MDL__RESTRICT dr,
                                           mdl_scalar *MDL__RESTRICT dz,
                                           mdl_scalar *MDL__RESTRICT dhn,
                                           mdl_scalar *MDL__RESTRICT dxr,
                                           mdl_scalar *MDL__RESTRICT dxz,
                                           mdl_scalar *MDL__RESTRICT dxn,
                                           mdl_scalar *MDL__RESTRICT dhp) {
    const mdl_scalar one = 1;
    int k;
    for (k = 0; k < n; k++) {
        const mdl_scalar d = dh[k];
        const mdl_scalar dn = d * (one - z[k]) * (one - nn[k] * nn[k]); /* h = (1-z) n + z hp */
        dz[k] = dxz[k] = d * (h_prev[k] - nn[k]) * z[k] * (one - z[k]);
        dr[k] = dxr[k] = dn * hn[k] * r[k] * (one - r[k]);             /* n = tanh(xn + r hn) */
        dhn[k] = dn * r[k]; /* the recurrent side sees r * dn */
        dxn[k] = dn;        /* the input side dn */
        dhp[k] = d * z[k];
    }
}

static void mdl__scan_back(mdl_rnn_mode mode, int B, int H, const mdl_scalar *gates,
                           const mdl_scalar *aux, const mdl_scalar *h, const mdl_scalar *h_prev,
                           const mdl_scalar *c_prev, const mdl_scalar *dh, mdl_scalar *dc,
                           mdl_scalar *da, mdl_scalar *dai, mdl_scalar *dhp) {
    const int GH = mdl__rnn_gates(mode) * H;
    int b, j;
    for (b = 0; b < B; b++) {
        const mdl_scalar *g = gates + (size_t)b * (size_t)GH;
        mdl_scalar *d = da + (size_t)b * (size_t)GH, *dx = dai + (size_t)b * (size_t)GH;
        const size_t row = (size_t)b * (size_t)H;
        switch (mode) {
        case MDL_RNN_TANH:
            MDL__SPANS(H, j, mdl__span_tanh_back(n_, h + row + j, dh + row + j, d + j));
            break;
        case MDL_RNN_RELU: /* relu' = 1 where h > 0 */
            for (j = 0; j < H; j++) d[j] = h[row + j] > 0 ? dh[row + j] : 0;
            break;
        case MDL_LSTM:
            MDL__SPANS(H, j, mdl__span_lstm_back(n_, g + j, g + H + j, g + 2 * H + j,
                                                 g + 3 * H + j, aux + row + j, c_prev + row + j,
                                                 dh + row + j, dc + row + j, d + j, d + H + j,
                                                 d + 2 * H + j, d + 3 * H + j));
            break;
        case MDL_GRU:
            MDL__SPANS(H, j, mdl__span_gru_back(n_, g + j, g + H + j, g + 2 * H + j,
                                                aux + row + j, h_prev + row + j, dh + row + j,
                                                d + j, d + H + j, d + 2 * H + j, dx + j,
                                                dx + H + j, dx + 2 * H + j, dhp + row + j));
            break;
        }
    }
}

/* col[j] += x[b, j], summed over the rows b of x [rows, n] */
static void mdl__scan_colsum(mdl_scalar *col, const mdl_scalar *x, int rows, int n) {
    int b, j;
    for (b = 0; b < rows; b++) MDL__SPANS(n, j, mdl__span_add(n_, col + j, x + (size_t)b * (size_t)n + j));
}

/* dst[k][j] += src[j][k]: a gradient kept transposed, [cols, rows], added to its tensor */
static void mdl__scan_add_transposed(mdl_scalar *dst, const mdl_scalar *src, int rows, int cols) {
    int k, j;
    for (k = 0; k < rows; k++)
        for (j = 0; j < cols; j++) dst[(size_t)k * (size_t)cols + (size_t)j] += src[(size_t)j * (size_t)rows + (size_t)k];
}

static void mdl__rnn_scan_backward(mdl__node *node) {
    const mdl__scan *sc = (const mdl__scan *)node->saved;
    mdl_tensor *x = node->in[0], *w_ih = node->in[1], *w_hh = node->in[2], *h0 = node->in[3];
    mdl_tensor *c0 = node->n_in > 6 ? node->in[6] : NULL;
    mdl_arena *ar = node->out->arena;
    const mdl_rnn_mode mode = sc->mode;
    const int T = sc->T, B = sc->B, I = sc->I, H = sc->H, GH = mdl__rnn_gates(mode) * H;
    const size_t BH = (size_t)B * (size_t)H, BG = (size_t)B * (size_t)GH;
    mdl_scalar *dx = mdl__grad_of(x), *dwi = mdl__grad_of(w_ih), *dwh = mdl__grad_of(w_hh);
    mdl_scalar *dh0 = mdl__grad_of(h0), *dbi = mdl__grad_of(node->in[4]);
    mdl_scalar *dbh = mdl__grad_of(node->in[5]), *dc0 = c0 ? mdl__grad_of(c0) : NULL;
    const mdl_scalar *y = node->out->data, *gy = node->out->grad;
    const mdl_scalar *cy = y + (size_t)T * BH, *gcy = gy + (size_t)T * BH; /* LSTM: c */
    mdl_scalar *da, *dai, *dh, *dhp, *dc = NULL, *dwiT = NULL, *dwhT = NULL, *sbi, *sbh, *tmp;
    int s;
    /* scratch: one step's da (and the GRU's input side), the carried dh (dc), the weights'
       gradients transposed, [I,G*H] and [H,G*H], and the biases' sums */
    da = (mdl_scalar *)mdl__alloc(ar, BG * sizeof(mdl_scalar));
    dai = mode == MDL_GRU ? (mdl_scalar *)mdl__alloc(ar, BG * sizeof(mdl_scalar)) : da;
    dh = (mdl_scalar *)mdl__alloc_zero(ar, BH * sizeof(mdl_scalar));
    dhp = (mdl_scalar *)mdl__alloc_zero(ar, BH * sizeof(mdl_scalar));
    sbi = (mdl_scalar *)mdl__alloc_zero(ar, (size_t)GH * sizeof(mdl_scalar));
    sbh = mode == MDL_GRU ? (mdl_scalar *)mdl__alloc_zero(ar, (size_t)GH * sizeof(mdl_scalar)) : sbi;
    if (mode == MDL_LSTM) dc = (mdl_scalar *)mdl__alloc_zero(ar, BH * sizeof(mdl_scalar));
    if (dwi) dwiT = (mdl_scalar *)mdl__alloc_zero(ar, (size_t)I * (size_t)GH * sizeof(mdl_scalar));
    if (dwh) dwhT = (mdl_scalar *)mdl__alloc_zero(ar, (size_t)H * (size_t)GH * sizeof(mdl_scalar));
    if (!da || !dai || !dh || !dhp || !sbi || !sbh || (mode == MDL_LSTM && !dc) ||
        (dwi && !dwiT) || (dwh && !dwhT))
        return;
    for (s = T - 1; s >= 0; s--) { /* back through time: the last step processed first */
        const int t = sc->reverse ? T - 1 - s : s, tp = sc->reverse ? t + 1 : t - 1;
        const mdl_scalar *hp = s ? y + (size_t)tp * BH : h0->data;
        const mdl_scalar *xt = x->data + (size_t)t * (size_t)B * (size_t)I;
        mdl__scan_add(dh, gy + (size_t)t * BH, (int)BH);             /* the output's share */
        if (mode == MDL_LSTM) mdl__scan_add(dc, gcy + (size_t)t * BH, (int)BH);
        mdl__scan_back(mode, B, H, sc->gates + (size_t)t * BG, sc->aux ? sc->aux + (size_t)t * BH
                       : NULL, y + (size_t)t * BH, hp, s ? cy + (size_t)tp * BH
                       : (c0 ? c0->data : NULL), dh, dc, da, dai, dhp);
        /* step t's terms: dW_ih^T += x_t^T @ dai, dW_hh^T += h_prev^T @ da, the biases' sums,
           dx_t += dai @ W_ih */
        if (dwiT) mdl__gemm(1, 0, I, GH, B, 1, xt, I, dai, GH, 1, dwiT, GH);
        if (dwhT) mdl__gemm(1, 0, H, GH, B, 1, hp, H, da, GH, 1, dwhT, GH);
        mdl__scan_colsum(sbi, dai, B, GH);
        if (mode == MDL_GRU) mdl__scan_colsum(sbh, da, B, GH);
        if (dx) mdl__gemm(0, 0, B, I, GH, 1, dai, GH, w_ih->data, I, 1,
                          dx + (size_t)t * (size_t)B * (size_t)I, I);
        if (s > 0 || dh0) { /* dh_prev = da @ W_hh (+ the GRU's direct dh * z, in dhp) */
            mdl__gemm(0, 0, B, H, GH, 1, da, GH, w_hh->data, H, mode == MDL_GRU ? 1 : 0, dhp, H);
            tmp = dh, dh = dhp, dhp = tmp;
        }
    }
    if (dh0) mdl__scan_add(dh0, dh, (int)BH);
    if (dc0) mdl__scan_add(dc0, dc, (int)BH);
    if (dwi) mdl__scan_add_transposed(dwi, dwiT, GH, I);
    if (dwh) mdl__scan_add_transposed(dwh, dwhT, GH, H);
    if (dbi) mdl__scan_add(dbi, sbi, GH);
    if (dbh) mdl__scan_add(dbh, sbh, GH);
}

MDLDEF mdl_tensor *mdl_rnn_scan(mdl_arena *ar, mdl_rnn_mode mode, mdl_tensor *x, mdl_tensor *h0,
                                mdl_tensor *c0, mdl_tensor *w_ih, mdl_tensor *w_hh,
                                mdl_tensor *b_ih, mdl_tensor *b_hh, int reverse) {
    const char *fn = "mdl_rnn_scan";
    char bx[96], bo[96];
    int T, B, I, H, G, GH, s, k, shape[4], sh[2], isa = mdl__gates_isa();
    size_t BH, BG;
    mdl_tensor *out, *in[7], *check[4];
    mdl_scalar *wt, *bs, *m = NULL;
    mdl__scan *sc;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || !mdl__usable(fn, "w_ih", w_ih) ||
        !mdl__usable(fn, "w_hh", w_hh) || (h0 && !mdl__usable(fn, "h0", h0)) ||
        (c0 && !mdl__usable(fn, "c0", c0)) || (b_ih && !mdl__usable(fn, "b_ih", b_ih)) ||
        (b_hh && !mdl__usable(fn, "b_hh", b_hh)))
        return NULL;
    if ((int)mode < (int)MDL_RNN_TANH || (int)mode > (int)MDL_GRU) {
        mdl__fail(MDL_ERR_ARG, fn, "mode %d is not an mdl_rnn_mode", (int)mode);
        return NULL;
    }
    if (c0 && mode != MDL_LSTM) {
        mdl__fail(MDL_ERR_ARG, fn, "c0 is given, but only an LSTM has a cell state");
        return NULL;
    }
    G = mdl__rnn_gates(mode);
    mdl_shape_str(x, bx, sizeof bx);
    if (w_hh->ndim != 2 || w_hh->shape[1] < 1 || w_hh->shape[0] != G * w_hh->shape[1]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "w_hh %s must be [%d*H, H] with H >= 1",
                  mdl_shape_str(w_hh, bo, sizeof bo), G);
        return NULL;
    }
    H = w_hh->shape[1];
    GH = G * H;
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] < 1 ||
        w_ih->ndim != 2 || w_ih->shape[0] != GH || w_ih->shape[1] != x->shape[2]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s, w_ih %s: x must be [T, B, I] (none of them 0) and "
                  "w_ih [%d, I] (%d*H, H = %d from w_hh)", bx, mdl_shape_str(w_ih, bo, sizeof bo),
                  GH, G, H);
        return NULL;
    }
    T = x->shape[0], B = x->shape[1], I = x->shape[2];
    BH = (size_t)B * (size_t)H, BG = (size_t)B * (size_t)GH;
    check[0] = b_ih, check[1] = b_hh, check[2] = h0, check[3] = c0;
    for (k = 0; k < 4; k++) {
        static const char *const what[4] = {"b_ih", "b_hh", "h0", "c0"};
        const mdl_tensor *t = check[k];
        if (!t || (k < 2 ? t->ndim == 1 && t->shape[0] == GH
                         : t->ndim == 2 && t->shape[0] == B && t->shape[1] == H))
            continue;
        if (k < 2)
            mdl__fail(MDL_ERR_SHAPE, fn, "%s %s must be [%d]", what[k],
                      mdl_shape_str(t, bo, sizeof bo), GH);
        else
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s, %s %s: the state must be [B, H] = [%d,%d]", bx,
                      what[k], mdl_shape_str(t, bo, sizeof bo), B, H);
        return NULL;
    }
    /* absent states and biases are zeros that want no gradient */
    sh[0] = B, sh[1] = H;
    if (!h0 && !(h0 = mdl_zeros(ar, 2, sh))) return NULL;
    if (mode == MDL_LSTM && !c0 && !(c0 = mdl_zeros(ar, 2, sh))) return NULL;
    if (!b_ih && !(b_ih = mdl_zeros(ar, 1, &GH))) return NULL;
    if (!b_hh && !(b_hh = mdl_zeros(ar, 1, &GH))) return NULL;
    shape[0] = 2, shape[1] = T, shape[2] = B, shape[3] = H;
    out = mode == MDL_LSTM ? mdl__make(ar, fn, 4, shape, NULL, 0)
                           : mdl__make(ar, fn, 3, shape + 1, NULL, 0);
    sc = (mdl__scan *)mdl__alloc(ar, sizeof *sc);
    wt = (mdl_scalar *)mdl__alloc(ar, (size_t)GH * (size_t)H * sizeof(mdl_scalar));
    bs = (mdl_scalar *)mdl__alloc(ar, (size_t)GH * sizeof(mdl_scalar));
    if (mode == MDL_GRU) m = (mdl_scalar *)mdl__alloc(ar, BG * sizeof(mdl_scalar));
    if (!out || !sc || !wt || !bs || (mode == MDL_GRU && !m)) return NULL;
    sc->mode = mode, sc->T = T, sc->B = B, sc->I = I, sc->H = H, sc->reverse = reverse != 0;
    sc->gates = (mdl_scalar *)mdl__alloc(ar, (size_t)T * BG * sizeof(mdl_scalar));
    sc->aux = mode == MDL_LSTM || mode == MDL_GRU
                  ? (mdl_scalar *)mdl__alloc(ar, (size_t)T * BH * sizeof(mdl_scalar)) : NULL;
    if (!sc->gates || ((mode == MDL_LSTM || mode == MDL_GRU) && !sc->aux)) return NULL;
    /* before the loop: every step's input part, gates = x @ W_ih^T [T*B, G*H]; W_hh^T [H,G*H],
       so that each step's product is h_prev @ W_hh^T with both operands as stored; and the
       biases' sum */
    mdl__gemm(0, 1, T * B, GH, I, 1, x->data, I, w_ih->data, I, 0, sc->gates, GH);
    for (k = 0; k < GH; k++) {
        int j;
        for (j = 0; j < H; j++)
            wt[(size_t)j * (size_t)GH + (size_t)k] = w_hh->data[(size_t)k * (size_t)H + (size_t)j];
        bs[k] = b_ih->data[k] + b_hh->data[k];
    }
    for (s = 0; s < T; s++) { /* forward in time (backward in the sequence when reversed) */
        const int t = sc->reverse ? T - 1 - s : s, tp = sc->reverse ? t + 1 : t - 1;
        const mdl_scalar *hp = s ? out->data + (size_t)tp * BH : h0->data;
        mdl_scalar *a = sc->gates + (size_t)t * BG, *ht = out->data + (size_t)t * BH;
        mdl_scalar *cy = out->data + (size_t)T * BH; /* LSTM: the c half */
        switch (mode) {
        case MDL_RNN_TANH:
        case MDL_RNN_RELU:
            mdl__gemm(0, 0, B, GH, H, 1, hp, H, wt, GH, 1, a, GH); /* a += h_prev @ W_hh^T */
            mdl__scan_rnn_step(isa, mode == MDL_RNN_RELU, B, H, bs, a, ht);
            break;
        case MDL_LSTM:
            mdl__gemm(0, 0, B, GH, H, 1, hp, H, wt, GH, 1, a, GH);
            mdl__scan_lstm_step(isa, B, H, bs, a, s ? cy + (size_t)tp * BH : c0->data,
                                cy + (size_t)t * BH, sc->aux + (size_t)t * BH, ht);
            break;
        case MDL_GRU:
            mdl__gemm(0, 0, B, GH, H, 1, hp, H, wt, GH, 0, m, GH); /* m = h_prev @ W_hh^T */
            mdl__scan_gru_step(isa, B, H, bs, b_ih->data, b_hh->data, a, m, hp,
                               sc->aux + (size_t)t * BH, ht);
            break;
        }
    }
    in[0] = x, in[1] = w_ih, in[2] = w_hh, in[3] = h0, in[4] = b_ih, in[5] = b_hh, in[6] = c0;
    if (!mdl__finish(ar, fn, MDL_OP_RNN_SCAN, out, mode == MDL_LSTM ? 7 : 6, in)) return NULL;
    if (out->node) out->node->saved = sc;
    return out;
}

/* ---------------------------------------------------------------------------------------------
   Sequence layers: nn.RNN, nn.LSTM, nn.GRU
     x:[T,B,I] -> output:[T,B,D*H], h_n (and c_n):[L*D,B,H]
   Layer l runs its cell over the sequence its input is (x for l = 0, layer l-1's output after
   dropout for the others), once forward in time and, when bidirectional, once backward; the
   two directions' outputs are joined along the features. h_n holds every layer's and
   direction's last state (the reverse direction's "last" is the state at t = 0), in the order
   layer 0 forward, layer 0 reverse, layer 1 forward, ...
   Two paths compute the same numbers: composed (rnn->composed = 1), the cells above step by
   step; and mdl_rnn_scan (the default), with the input projections of all T steps in one
   matrix product before the time loop.
   --------------------------------------------------------------------------------------------- */

/* "lstm (LSTM 75->128, 2 layers, bidirectional)": the layer, as error messages name it. */
static const char *mdl__rnn_label(const mdl_rnn *r, char *buf, size_t size) {
    static const char *const kinds[4] = {"RNN", "RNN", "LSTM", "GRU"};
    char layers[32] = "";
    if (r->num_layers > 1) snprintf(layers, sizeof layers, ", %d layers", r->num_layers);
    snprintf(buf, size, "%s (%s%s%s %d->%d%s%s)", r->name,
             (unsigned)r->mode < 4 ? kinds[r->mode] : "?", r->cell ? "Cell" : "",
             r->mode == MDL_RNN_RELU ? " relu" : "", r->input_size, r->hidden_size, layers,
             r->directions > 1 ? ", bidirectional" : "");
    return buf;
}

/* One direction of one layer, fast: the scan. seq [T,B,In] -> [T,B,H]; the last state
   processed into *h_last (and *c_last). */
static mdl_tensor *mdl__rnn_direction_fast(mdl_arena *ar, const mdl_rnn *r, int k,
                                           mdl_tensor *seq, mdl_tensor *h, mdl_tensor *c,
                                           int reverse, mdl_tensor **h_last,
                                           mdl_tensor **c_last) {
    const int T = seq->shape[0], B = seq->shape[1], H = r->hidden_size;
    const int last = reverse ? 0 : T - 1;
    int sh3[3], sh2[2];
    mdl_tensor *out = mdl_rnn_scan(ar, r->mode, seq, h, c, r->weight_ih[k], r->weight_hh[k],
                                   r->bias_ih[k], r->bias_hh[k], reverse), *both;
    if (!out) return NULL;
    sh2[0] = B, sh2[1] = H;
    sh3[0] = 2 * T, sh3[1] = B, sh3[2] = H;
    both = r->mode == MDL_LSTM ? mdl_reshape(ar, out, 3, sh3) : out; /* [2T,B,H]: h, then c */
    *h_last = mdl_reshape(ar, mdl_slice(ar, both, 0, last, last + 1), 2, sh2);
    if (r->mode != MDL_LSTM) return out;
    *c_last = mdl_reshape(ar, mdl_slice(ar, both, 0, T + last, T + last + 1), 2, sh2);
    return mdl_slice(ar, both, 0, 0, T); /* a view: the h half */
}

/* One direction of one layer, composed: the cell at each step, the states stacked. */
static mdl_tensor *mdl__rnn_direction_composed(mdl_arena *ar, const mdl_rnn *r, int k,
                                               mdl_tensor *seq, mdl_tensor *h, mdl_tensor *c,
                                               int reverse, mdl_tensor **h_last,
                                               mdl_tensor **c_last) {
    const int T = seq->shape[0];
    int s, sh2[2];
    mdl_tensor **hs = (mdl_tensor **)mdl__alloc(ar, (size_t)T * sizeof(mdl_tensor *));
    if (!hs) return NULL;
    sh2[0] = seq->shape[1], sh2[1] = seq->shape[2];
    for (s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s;
        mdl_tensor *xt = mdl_reshape(ar, mdl_slice(ar, seq, 0, t, t + 1), 2, sh2); /* [B,In] */
        mdl_tensor *w_ih = r->weight_ih[k], *w_hh = r->weight_hh[k];
        mdl_tensor *b_ih = r->bias_ih[k], *b_hh = r->bias_hh[k];
        switch (r->mode) {
        case MDL_RNN_TANH:
        case MDL_RNN_RELU:
            h = mdl_rnn_cell(ar, xt, h, w_ih, w_hh, b_ih, b_hh, r->mode == MDL_RNN_RELU);
            break;
        case MDL_LSTM:
            h = mdl_lstm_cell(ar, xt, h, c, w_ih, w_hh, b_ih, b_hh, &c);
            break;
        case MDL_GRU:
            h = mdl_gru_cell(ar, xt, h, w_ih, w_hh, b_ih, b_hh);
            break;
        }
        if (!h) return NULL;
        hs[t] = h;
    }
    *h_last = h;
    *c_last = c;
    return mdl_stack(ar, T, hs, 0);
}

/* Is a state (h0 or c0) [L*D,B,H] (unbatched [L*D,H])? Reports the shape it should have. */
static int mdl__rnn_state_ok(const mdl_rnn *r, const char *what, const mdl_tensor *s, int B,
                             int unbatched) {
    int want[3], nd = unbatched ? 2 : 3;
    char lb[MDL_NAME_MAX + 96], bs[96], bw[96];
    want[0] = r->num_layers * r->directions;
    want[1] = unbatched ? r->hidden_size : B;
    want[2] = r->hidden_size;
    if (s->ndim == nd && memcmp(s->shape, want, (size_t)nd * sizeof(int)) == 0) return 1;
    mdl__fail(MDL_ERR_SHAPE, "mdl_rnn_forward", "%s: %s %s: expected [layers*directions, %sH] "
              "= %s", mdl__rnn_label(r, lb, sizeof lb), what, mdl_shape_str(s, bs, sizeof bs),
              unbatched ? "" : "B, ", mdl__shape_fmt(nd, want, bw, sizeof bw));
    return 0;
}

MDLDEF mdl_tensor *mdl_rnn_forward(mdl_arena *ar, const mdl_rnn *rnn, mdl_tensor *x,
                                   mdl_tensor *h0, mdl_tensor *c0, mdl_tensor **h_n,
                                   mdl_tensor **c_n) {
    const char *fn = "mdl_rnn_forward";
    char lb[MDL_NAME_MAX + 96], bx[96];
    mdl_tensor *seq, *hl[2 * MDL_RNN_MAX_LAYERS], *cl[2 * MDL_RNN_MAX_LAYERS], *y;
    int unbatched, T, B, L, D, l, d, sh[3];
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x) || (h0 && !mdl__usable(fn, "h0", h0))
        || (c0 && !mdl__usable(fn, "c0", c0)))
        return NULL;
    if (!rnn || !rnn->weight_ih[0] || rnn->cell) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(rnn ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "%s", !rnn ? "the layer is NULL"
                      : rnn->cell ? "this is a cell: run it with mdl_rnn_cell_forward"
                      : "the layer was not made (its constructor reported an error)");
        return NULL;
    }
    mdl__rnn_label(rnn, lb, sizeof lb);
    L = rnn->num_layers, D = rnn->directions;
    unbatched = x->ndim == 2;
    if ((x->ndim != 2 && x->ndim != 3) || x->shape[x->ndim - 1] != rnn->input_size ||
        x->shape[0] < 1 || (x->ndim == 3 && x->shape[1] < 1)) {
        mdl__fail(MDL_ERR_SHAPE, fn, "%s: x %s: expected %s with %d features and T, B >= 1 "
                  "(or [T,%d] unbatched)", lb, mdl_shape_str(x, bx, sizeof bx),
                  rnn->batch_first ? "[B,T,I]" : "[T,B,I]", rnn->input_size, rnn->input_size);
        return NULL;
    }
    if (c0 && rnn->mode != MDL_LSTM) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: c0 is given, but only an LSTM has a cell state", lb);
        return NULL;
    }
    B = unbatched ? 1 : x->shape[rnn->batch_first ? 0 : 1];
    if ((h0 && !mdl__rnn_state_ok(rnn, "h0", h0, B, unbatched)) ||
        (c0 && !mdl__rnn_state_ok(rnn, "c0", c0, B, unbatched)))
        return NULL;
    /* everything below works on time-major [T,B,*] sequences and [L*D,B,H] states */
    if (unbatched) {
        sh[0] = x->shape[0], sh[1] = 1, sh[2] = x->shape[1];
        seq = mdl_reshape(ar, x, 3, sh);
        sh[0] = L * D, sh[1] = 1, sh[2] = rnn->hidden_size;
        if (h0) h0 = mdl_reshape(ar, h0, 3, sh);
        if (c0) c0 = mdl_reshape(ar, c0, 3, sh);
    } else {
        seq = rnn->batch_first ? mdl_transpose(ar, x, 0, 1) : x;
    }
    if (!seq) return NULL;
    T = seq->shape[0];
    sh[0] = B, sh[1] = rnn->hidden_size;
    for (l = 0; l < L; l++) {
        mdl_tensor *outs[2];
        for (d = 0; d < D; d++) {
            const int k = l * D + d;
            mdl_tensor *h = h0 ? mdl_reshape(ar, mdl_slice(ar, h0, 0, k, k + 1), 2, sh) : NULL;
            mdl_tensor *c = c0 ? mdl_reshape(ar, mdl_slice(ar, c0, 0, k, k + 1), 2, sh) : NULL;
            hl[k] = cl[k] = NULL;
            outs[d] = rnn->composed
                          ? mdl__rnn_direction_composed(ar, rnn, k, seq, h, c, d, &hl[k], &cl[k])
                          : mdl__rnn_direction_fast(ar, rnn, k, seq, h, c, d, &hl[k], &cl[k]);
            if (!outs[d]) return NULL;
        }
        seq = D == 2 ? mdl_concat(ar, 2, outs, 2) : outs[0]; /* [T,B,D*H] */
        if (l < L - 1 && rnn->training && rnn->dropout > 0)
            seq = mdl_dropout(ar, seq, rnn->dropout, 1, rnn->rng);
        if (!seq) return NULL;
    }
    if (unbatched) {
        sh[0] = T, sh[1] = D * rnn->hidden_size;
        y = mdl_reshape(ar, seq, 2, sh);
    } else {
        y = rnn->batch_first ? mdl_transpose(ar, seq, 0, 1) : seq;
    }
    sh[0] = L * D, sh[1] = rnn->hidden_size;
    if (h_n) {
        *h_n = mdl_stack(ar, L * D, hl, 0);
        if (unbatched && *h_n) *h_n = mdl_reshape(ar, *h_n, 2, sh);
    }
    if (c_n && rnn->mode == MDL_LSTM) {
        *c_n = mdl_stack(ar, L * D, cl, 0);
        if (unbatched && *c_n) *c_n = mdl_reshape(ar, *c_n, 2, sh);
    }
    return y;
}

/* ---------------------------------------------------------------------------------------------
   Layer objects: the constructors register the parameters under the state_dict's names and
   draw them all from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's reset_parameters does.
   --------------------------------------------------------------------------------------------- */

/* The checks of both constructors; fills in what they share. 0 after reporting an error. */
static int mdl__rnn_begin(const char *fn, mdl_rnn *r, mdl_params *ps, const char *name,
                          mdl_rnn_mode mode, int input_size, int hidden_size, mdl_rng *rng) {
    memset(r, 0, sizeof *r);
    r->mode = mode;
    r->input_size = input_size;
    r->hidden_size = hidden_size;
    r->num_layers = r->directions = 1;
    r->bias = 1;
    r->training = 1;
    r->rng = rng;
    if (!mdl__layer_args(fn, ps, name, input_size, hidden_size, 1, rng)) return 0;
    strcpy(r->name, name); /* (its length was checked) */
    if ((int)mode < (int)MDL_RNN_TANH || (int)mode > (int)MDL_GRU) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: mode %d is not an mdl_rnn_mode", name, (int)mode);
        return 0;
    }
    return 1;
}

/* Register the four tensors of slot k ("weight_ih" + suffix, ...) and draw their values. */
static int mdl__rnn_params(mdl_rnn *r, mdl_params *ps, int k, int in, const char *suffix) {
    const int GH = mdl__rnn_gates(r->mode) * r->hidden_size;
    const double bound = 1.0 / sqrt((double)r->hidden_size);
    static const char *const what[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    mdl_tensor **slot[4];
    char full[MDL_NAME_MAX + 48];
    int shape[2], j;
    slot[0] = &r->weight_ih[k], slot[1] = &r->weight_hh[k];
    slot[2] = &r->bias_ih[k], slot[3] = &r->bias_hh[k];
    for (j = 0; j < (r->bias ? 4 : 2); j++) {
        shape[0] = GH, shape[1] = j == 0 ? in : r->hidden_size;
        snprintf(full, sizeof full, "%s.%s%s", r->name, what[j], suffix);
        *slot[j] = j < 2 ? mdl_params_add(ps, full, 2, shape) : mdl_params_add(ps, full, 1, shape);
        if (!*slot[j]) return 0;
        mdl_fill_uniform(*slot[j], r->rng, -bound, bound);
    }
    return 1;
}

MDLDEF mdl_rnn mdl_rnn_layer(mdl_params *ps, const char *name, mdl_rnn_mode mode, int input_size,
                             int hidden_size, const mdl_rnn_opts *opts, mdl_rng *rng) {
    const char *fn = "mdl_rnn_layer";
    mdl_rnn r;
    int l, d;
    if (!mdl__rnn_begin(fn, &r, ps, name, mode, input_size, hidden_size, rng)) return r;
    if (opts) {
        r.num_layers = opts->num_layers ? opts->num_layers : 1;
        r.directions = opts->bidirectional ? 2 : 1;
        r.batch_first = opts->batch_first != 0;
        r.bias = !opts->no_bias;
        r.dropout = opts->dropout;
    }
    if (r.num_layers < 1 || r.num_layers > MDL_RNN_MAX_LAYERS || !(r.dropout >= 0 && r.dropout <= 1)) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: num_layers %d must be 1 to %d, and dropout %g between 0 "
                  "and 1", name, r.num_layers, MDL_RNN_MAX_LAYERS, r.dropout);
        r.weight_ih[0] = NULL;
        return r;
    }
    for (l = 0; l < r.num_layers; l++)
        for (d = 0; d < r.directions; d++) {
            char suffix[24];
            snprintf(suffix, sizeof suffix, "_l%d%s", l, d ? "_reverse" : "");
            if (!mdl__rnn_params(&r, ps, l * r.directions + d,
                                 l ? r.directions * hidden_size : input_size, suffix)) {
                r.weight_ih[0] = NULL;
                return r;
            }
        }
    return r;
}

MDLDEF mdl_rnn mdl_rnn_cell_layer(mdl_params *ps, const char *name, mdl_rnn_mode mode,
                                  int input_size, int hidden_size, int bias, mdl_rng *rng) {
    mdl_rnn r;
    if (!mdl__rnn_begin("mdl_rnn_cell_layer", &r, ps, name, mode, input_size, hidden_size, rng))
        return r;
    r.cell = 1;
    r.bias = bias != 0;
    if (!mdl__rnn_params(&r, ps, 0, input_size, "")) r.weight_ih[0] = NULL;
    return r;
}

MDLDEF mdl_tensor *mdl_rnn_cell_forward(mdl_arena *ar, const mdl_rnn *cell, mdl_tensor *x,
                                        mdl_tensor *h, mdl_tensor *c, mdl_tensor **c_next) {
    const char *fn = "mdl_rnn_cell_forward";
    char lb[MDL_NAME_MAX + 96], bx[96];
    if (c_next) *c_next = NULL;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (!cell || !cell->weight_ih[0] || !cell->cell) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(cell ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "%s", !cell ? "the cell is NULL"
                      : !cell->cell ? "this is a sequence layer: run it with mdl_rnn_forward"
                      : "the cell was not made (its constructor reported an error)");
        return NULL;
    }
    mdl__rnn_label(cell, lb, sizeof lb);
    if (x->ndim != 2 || x->shape[1] != cell->input_size) {
        mdl__fail(MDL_ERR_SHAPE, fn, "%s: x %s: expected [B,%d]", lb,
                  mdl_shape_str(x, bx, sizeof bx), cell->input_size);
        return NULL;
    }
    if (c && cell->mode != MDL_LSTM) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: c is given, but only an LSTM has a cell state", lb);
        return NULL;
    }
    switch (cell->mode) {
    case MDL_LSTM:
        return mdl_lstm_cell(ar, x, h, c, cell->weight_ih[0], cell->weight_hh[0],
                             cell->bias_ih[0], cell->bias_hh[0], c_next);
    case MDL_GRU:
        return mdl_gru_cell(ar, x, h, cell->weight_ih[0], cell->weight_hh[0], cell->bias_ih[0],
                            cell->bias_hh[0]);
    default:
        return mdl_rnn_cell(ar, x, h, cell->weight_ih[0], cell->weight_hh[0], cell->bias_ih[0],
                            cell->bias_hh[0], cell->mode == MDL_RNN_RELU);
    }
}

MDLDEF void mdl_rnn_train(mdl_rnn *rnn, int training) {
    if (rnn) rnn->training = training != 0;
}

MDLDEF size_t mdl_rnn_param_count(const mdl_rnn *rnn) {
    size_t n = 0;
    int k;
    if (!rnn) return 0;
    for (k = 0; k < 2 * MDL_RNN_MAX_LAYERS; k++)
        n += mdl_numel(rnn->weight_ih[k]) + mdl_numel(rnn->weight_hh[k]) +
             mdl_numel(rnn->bias_ih[k]) + mdl_numel(rnn->bias_hh[k]);
    return n;
}

/* =============================================================================================
   Attention and the transformer encoder layer
   Attention lets every position look at every other directly, where a recurrence passes what
   it knows along one step at a time: each query scores every key, the scores become weights by
   a softmax, and the output is the weighted mean of the values. All of it is composed of ops
   (matmul, softmax, masked_fill, dropout, layer_norm), so autograd gives the gradients.
   ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
   Scaled dot-product attention    out = softmax(q @ k^T * scale + mask) @ v
     q:[..,Tq,D] k:[..,Tk,D] v:[..,Tk,Dv] -> [..,Tq,Dv]      weights:[..,Tq,Tk]
   scale = 1/sqrt(D): with q and k of unit variance, q . k has variance D; dividing by sqrt(D)
   keeps the scores near unit variance whatever D is, so the softmax does not saturate (where
   its gradient vanishes). A blocked position gets -inf, whose e^-inf = 0 takes it out of the
   softmax's sum; its gradient is then 0 too.
   --------------------------------------------------------------------------------------------- */

/* Does `mask` broadcast to `scores` without stretching the scores (as masked_fill needs)? If
   not, report it with both shapes. */
static int mdl__mask_fits(const char *fn, const char *what, const mdl_tensor *mask,
                          const mdl_tensor *scores) {
    int d, ok = mask->ndim <= scores->ndim;
    char bm[96], bs[96];
    for (d = 1; ok && d <= mask->ndim; d++) {
        int a = mask->shape[mask->ndim - d], b = scores->shape[scores->ndim - d];
        ok = a == b || a == 1;
    }
    if (ok) return 1;
    mdl__fail(MDL_ERR_SHAPE, fn, "%s %s does not broadcast to the scores %s ([..., Tq, Tk])",
              what, mdl_shape_str(mask, bm, sizeof bm), mdl_shape_str(scores, bs, sizeof bs));
    return 0;
}

/* scores with a mask of the given kind applied */
static mdl_tensor *mdl__apply_mask(mdl_arena *ar, mdl_tensor *scores, mdl_tensor *mask,
                                   mdl_mask_kind kind) {
    const mdl_scalar ninf = (mdl_scalar)-INFINITY;
    switch (kind) {
    case MDL_MASK_KEEP: return mdl_masked_fill(ar, scores, mdl_eq_scalar(ar, mask, 0), ninf);
    case MDL_MASK_BLOCK: return mdl_masked_fill(ar, scores, mask, ninf);
    default: return mdl_add(ar, scores, mask);
    }
}

MDLDEF mdl_tensor *mdl_scaled_dot_product_attention(mdl_arena *ar, mdl_tensor *q, mdl_tensor *k,
                                                    mdl_tensor *v, const mdl_attention_opts *opts,
                                                    mdl_tensor **weights) {
    const char *fn = "mdl_scaled_dot_product_attention";
    char bq[96], bk[96], bv[96];
    mdl_attention_opts o;
    mdl_tensor *scores, *w;
    double scale;
    if (weights) *weights = NULL;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "q", q) || !mdl__usable(fn, "k", k) ||
        !mdl__usable(fn, "v", v))
        return NULL;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    if (o.mask && !mdl__usable(fn, "mask", o.mask)) return NULL;
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2 || q->shape[q->ndim - 1] != k->shape[k->ndim - 1]
        || k->shape[k->ndim - 2] != v->shape[v->ndim - 2] || q->shape[q->ndim - 1] < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "q %s, k %s, v %s: expected [..., Tq, D], [..., Tk, D] and "
                  "[..., Tk, Dv]", mdl_shape_str(q, bq, sizeof bq), mdl_shape_str(k, bk, sizeof bk),
                  mdl_shape_str(v, bv, sizeof bv));
        return NULL;
    }
    if (!(o.dropout >= 0 && o.dropout <= 1) || (int)o.mask_kind < 0 || (int)o.mask_kind > 2) {
        mdl__fail(MDL_ERR_ARG, fn, "dropout %g must be between 0 and 1, and mask_kind %d one of "
                  "MDL_MASK_ADD, MDL_MASK_KEEP, MDL_MASK_BLOCK", o.dropout, (int)o.mask_kind);
        return NULL;
    }
    /* (q * scale) @ k^T: the scale on q, which is smaller than the scores when D < Tk */
    scale = o.scale != 0 ? o.scale : 1.0 / sqrt((double)q->shape[q->ndim - 1]);
    scores = mdl_matmul_t(ar, mdl_mul_scalar(ar, q, (mdl_scalar)scale), k, 0, 1); /* [..,Tq,Tk] */
    if (!scores) return NULL;
    if (o.causal) { /* query i sees keys j <= i: the upper triangle blocked */
        int sh[2], i, j;
        mdl_tensor *upper;
        sh[0] = scores->shape[scores->ndim - 2], sh[1] = scores->shape[scores->ndim - 1];
        upper = mdl_zeros(ar, 2, sh);
        if (!upper) return NULL;
        for (i = 0; i < sh[0]; i++)
            for (j = i + 1; j < sh[1]; j++) upper->data[(size_t)i * (size_t)sh[1] + (size_t)j] = 1;
        scores = mdl_masked_fill(ar, scores, upper, (mdl_scalar)-INFINITY);
    }
    if (o.mask) {
        if (!mdl__mask_fits(fn, "mask", o.mask, scores)) return NULL;
        scores = mdl__apply_mask(ar, scores, o.mask, o.mask_kind);
    }
    w = mdl_softmax(ar, scores, -1);
    if (o.dropout > 0) w = mdl_dropout(ar, w, o.dropout, 1, o.rng);
    if (weights) *weights = w;
    return mdl_matmul(ar, w, v);
}

/* ---------------------------------------------------------------------------------------------
   Multi-head attention (nn.MultiheadAttention)
     q = query @ W_q^T + b_q, k = key @ W_k^T + b_k, v = value @ W_v^T + b_v     [B,T,E]
     each split into `heads` heads of E/heads features: [B,heads,T,E/heads]
     out = concat over heads of attention(q_h, k_h, v_h) @ W_o^T + b_o             [B,Tq,E]
   W_q, W_k, W_v are the three row blocks of in_proj_weight [3E,E], taken as views, so their
   gradients land in it. Each head attends in a subspace of its own: one may follow syntax,
   another position. The weights returned are averaged over the heads, as PyTorch's default.
   --------------------------------------------------------------------------------------------- */

/* Register "prefix.what" in ps (a trainable parameter). */
static mdl_tensor *mdl__named_param(mdl_params *ps, const char *prefix, const char *what, int ndim,
                                    const int *shape) {
    char full[MDL_NAME_MAX + 32];
    snprintf(full, sizeof full, "%s.%s", prefix, what);
    return mdl_params_add(ps, full, ndim, shape);
}

MDLDEF mdl_mha mdl_mha_layer(mdl_params *ps, const char *name, int embed_dim, int num_heads,
                             const mdl_mha_opts *opts, mdl_rng *rng) {
    const char *fn = "mdl_mha_layer";
    mdl_mha m;
    int s3[2], s1[2];
    memset(&m, 0, sizeof m);
    m.embed_dim = embed_dim, m.num_heads = num_heads, m.training = 1, m.rng = rng;
    if (opts) m.dropout = opts->dropout, m.batch_first = opts->batch_first != 0;
    if (!mdl__layer_args(fn, ps, name, embed_dim, num_heads, 1, rng)) return m;
    strcpy(m.name, name);
    if (embed_dim % num_heads || !(m.dropout >= 0 && m.dropout <= 1)) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: embed_dim %d must be divisible by num_heads %d, and "
                  "dropout %g between 0 and 1", name, embed_dim, num_heads, m.dropout);
        return m;
    }
    s3[0] = 3 * embed_dim, s3[1] = embed_dim;
    s1[0] = s1[1] = embed_dim;
    if (!(m.in_proj_weight = mdl__named_param(ps, name, "in_proj_weight", 2, s3)) ||
        (!(opts && opts->no_bias) &&
         !(m.in_proj_bias = mdl__named_param(ps, name, "in_proj_bias", 1, s3))) ||
        !(m.out_proj_weight = mdl__named_param(ps, name, "out_proj.weight", 2, s1)) ||
        (!(opts && opts->no_bias) &&
         !(m.out_proj_bias = mdl__named_param(ps, name, "out_proj.bias", 1, s1)))) {
        m.in_proj_weight = NULL;
        return m;
    }
    /* PyTorch's _reset_parameters: xavier_uniform_ on the [3E,E] block, zero biases; out_proj
       keeps Linear's kaiming_uniform(a = sqrt(5)), U(-1/sqrt(E), 1/sqrt(E)) */
    mdl_init_xavier_uniform(m.in_proj_weight, rng, 1.0);
    mdl_init_kaiming_uniform(m.out_proj_weight, rng, sqrt(5.0), 0);
    return m;
}

/* [B,T,E] -> [B,heads,T,E/heads] */
static mdl_tensor *mdl__split_heads(mdl_arena *ar, mdl_tensor *x, int heads) {
    static const int perm[4] = {0, 2, 1, 3};
    int sh[4];
    if (!x) return NULL;
    sh[0] = x->shape[0], sh[1] = x->shape[1], sh[2] = heads, sh[3] = x->shape[2] / heads;
    return mdl_permute(ar, mdl_reshape(ar, x, 4, sh), perm);
}

MDLDEF mdl_tensor *mdl_mha_forward(mdl_arena *ar, const mdl_mha *m, mdl_tensor *query,
                                   mdl_tensor *key, mdl_tensor *value, const mdl_mha_args *args,
                                   mdl_tensor **weights) {
    static const int perm[4] = {0, 2, 1, 3};
    const char *fn = "mdl_mha_forward";
    char lb[MDL_NAME_MAX + 64], b1[96], b2[96], b3[96];
    mdl_mha_args a;
    mdl_attention_opts o;
    mdl_tensor *qb, *kb, *vb, *q, *k, *v, *mask = NULL, *w, *y;
    int E, H, B, Tq, Tk, sh[4];
    if (weights) *weights = NULL;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "query", query) ||
        !mdl__usable(fn, "key", key) || !mdl__usable(fn, "value", value))
        return NULL;
    if (!m || !m->in_proj_weight) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(m ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "%s", m ? "the layer was not made (its "
                      "constructor reported an error)" : "the layer is NULL");
        return NULL;
    }
    memset(&a, 0, sizeof a);
    if (args) a = *args;
    E = m->embed_dim, H = m->num_heads;
    snprintf(lb, sizeof lb, "%s (MultiheadAttention %d, %d heads)", m->name, E, H);
    if (query->ndim != 3 || key->ndim != 3 || value->ndim != 3 || query->shape[2] != E ||
        key->shape[2] != E || value->shape[2] != E ||
        query->shape[m->batch_first ? 0 : 1] != key->shape[m->batch_first ? 0 : 1] ||
        memcmp(key->shape, value->shape, 3 * sizeof(int)) != 0) {
        mdl__fail(MDL_ERR_SHAPE, fn, "%s: query %s, key %s, value %s: expected %s with E = %d, "
                  "one B, and key and value of one shape", lb, mdl_shape_str(query, b1, sizeof b1),
                  mdl_shape_str(key, b2, sizeof b2), mdl_shape_str(value, b3, sizeof b3),
                  m->batch_first ? "[B,T,E]" : "[T,B,E]", E);
        return NULL;
    }
    /* batch first inside: [B,T,E] (one transpose for a tensor given twice) */
    qb = m->batch_first ? query : mdl_transpose(ar, query, 0, 1);
    kb = key == query ? qb : m->batch_first ? key : mdl_transpose(ar, key, 0, 1);
    vb = value == key ? kb : m->batch_first ? value : mdl_transpose(ar, value, 0, 1);
    if (!qb || !kb || !vb) return NULL;
    B = qb->shape[0], Tq = qb->shape[1], Tk = kb->shape[1];
    /* the masks, each to a shape that broadcasts to the scores [B,heads,Tq,Tk], then one */
    if (a.attn_mask) {
        mdl_tensor *am = a.attn_mask;
        if (!mdl__usable(fn, "attn_mask", am)) return NULL;
        if (am->ndim == 2 && am->shape[0] == Tq && am->shape[1] == Tk) {
            mask = am;
        } else if (am->ndim == 3 && am->shape[0] == B * H && am->shape[1] == Tq &&
                   am->shape[2] == Tk) {
            sh[0] = B, sh[1] = H, sh[2] = Tq, sh[3] = Tk;
            mask = mdl_reshape(ar, am, 4, sh);
        } else {
            mdl__fail(MDL_ERR_SHAPE, fn, "%s: attn_mask %s: expected [Tq,Tk] = [%d,%d] or "
                      "[B*heads,Tq,Tk] = [%d,%d,%d]", lb, mdl_shape_str(am, b1, sizeof b1), Tq,
                      Tk, B * H, Tq, Tk);
            return NULL;
        }
    }
    if (a.key_padding_mask) {
        mdl_tensor *kp = a.key_padding_mask, *kp4;
        if (!mdl__usable(fn, "key_padding_mask", kp)) return NULL;
        if (kp->ndim != 2 || kp->shape[0] != B || kp->shape[1] != Tk) {
            mdl__fail(MDL_ERR_SHAPE, fn, "%s: key_padding_mask %s: expected [B,Tk] = [%d,%d]", lb,
                      mdl_shape_str(kp, b1, sizeof b1), B, Tk);
            return NULL;
        }
        sh[0] = B, sh[1] = 1, sh[2] = 1, sh[3] = Tk;
        kp4 = mdl_reshape(ar, kp, 4, sh);
        /* two masks of one kind in one: added (additive), "either blocks" (block), "both
           allow" (keep) */
        if (!mask) mask = kp4;
        else if (a.mask_kind == MDL_MASK_ADD) mask = mdl_add(ar, mask, kp4);
        else if (a.mask_kind == MDL_MASK_BLOCK)
            mask = mdl_maximum(ar, mdl_ne_scalar(ar, mask, 0), mdl_ne_scalar(ar, kp4, 0));
        else mask = mdl_mul(ar, mdl_ne_scalar(ar, mask, 0), mdl_ne_scalar(ar, kp4, 0));
    }
    /* the projections, with the three row blocks of in_proj_weight (views) */
    q = mdl_linear(ar, qb, mdl_slice(ar, m->in_proj_weight, 0, 0, E),
                   m->in_proj_bias ? mdl_slice(ar, m->in_proj_bias, 0, 0, E) : NULL);
    k = mdl_linear(ar, kb, mdl_slice(ar, m->in_proj_weight, 0, E, 2 * E),
                   m->in_proj_bias ? mdl_slice(ar, m->in_proj_bias, 0, E, 2 * E) : NULL);
    v = mdl_linear(ar, vb, mdl_slice(ar, m->in_proj_weight, 0, 2 * E, 3 * E),
                   m->in_proj_bias ? mdl_slice(ar, m->in_proj_bias, 0, 2 * E, 3 * E) : NULL);
    memset(&o, 0, sizeof o);
    o.mask = mask, o.mask_kind = a.mask_kind, o.causal = a.causal, o.rng = m->rng;
    o.dropout = m->training ? m->dropout : 0;
    y = mdl_scaled_dot_product_attention(ar, mdl__split_heads(ar, q, H), mdl__split_heads(ar, k, H),
                                         mdl__split_heads(ar, v, H), &o, &w); /* [B,H,Tq,Dh] */
    if (!y) return NULL;
    sh[0] = B, sh[1] = Tq, sh[2] = E;
    y = mdl_reshape(ar, mdl_permute(ar, y, perm), 3, sh); /* the heads side by side [B,Tq,E] */
    y = mdl_linear(ar, y, m->out_proj_weight, m->out_proj_bias);
    if (weights) *weights = a.per_head_weights ? w : mdl_mean(ar, w, 1, 0);
    return m->batch_first ? y : mdl_transpose(ar, y, 0, 1);
}

/* ---------------------------------------------------------------------------------------------
   Transformer encoder layer (nn.TransformerEncoderLayer; Vaswani et al., 2017)
     post-norm (the paper's):  x = norm1(x + sa(x));   x = norm2(x + ff(x))
     pre-norm:                 x = x + sa(norm1(x));   x = x + ff(norm2(x))
     sa(x) = dropout(self_attn(x, x, x)),  ff(x) = dropout(linear2(dropout(act(linear1(x)))))
   The residual connections let each block learn a correction to its input; pre-norm keeps the
   residual path free of normalization, which trains deep stacks without a warm-up.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_transformer_opts mdl_transformer_defaults(void) {
    mdl_transformer_opts o;
    memset(&o, 0, sizeof o);
    o.dim_feedforward = 2048;
    o.dropout = 0.1;
    o.layer_norm_eps = 1e-5;
    return o;
}

MDLDEF mdl_transformer_layer mdl_transformer_encoder_layer(mdl_params *ps, const char *name,
                                                           int d_model, int nhead,
                                                           const mdl_transformer_opts *opts,
                                                           mdl_rng *rng) {
    const char *fn = "mdl_transformer_encoder_layer";
    mdl_transformer_layer l;
    mdl_mha_opts mo;
    char sub[MDL_NAME_MAX + 16];
    memset(&l, 0, sizeof l);
    l.opts = opts ? *opts : mdl_transformer_defaults();
    l.training = 1, l.rng = rng;
    if (!mdl__layer_args(fn, ps, name, d_model, nhead, 1, rng)) return l;
    strcpy(l.name, name);
    if (l.opts.dim_feedforward < 1 || !(l.opts.dropout >= 0 && l.opts.dropout <= 1) ||
        !(l.opts.layer_norm_eps > 0) || strlen(name) + 16 >= MDL_NAME_MAX) {
        mdl__fail(MDL_ERR_ARG, fn, "%s: dim_feedforward %d must be at least 1, dropout %g between "
                  "0 and 1, layer_norm_eps %g above 0, and the name shorter than %d", name,
                  l.opts.dim_feedforward, l.opts.dropout, l.opts.layer_norm_eps, MDL_NAME_MAX - 16);
        return l;
    }
    memset(&mo, 0, sizeof mo);
    mo.dropout = l.opts.dropout, mo.batch_first = l.opts.batch_first;
    snprintf(sub, sizeof sub, "%s.self_attn", name);
    l.self_attn = mdl_mha_layer(ps, sub, d_model, nhead, &mo, rng);
    if (!l.self_attn.in_proj_weight) return l;
    snprintf(sub, sizeof sub, "%s.linear1", name);
    l.linear1 = mdl_linear_layer(ps, sub, d_model, l.opts.dim_feedforward, 1, rng);
    snprintf(sub, sizeof sub, "%s.linear2", name);
    l.linear2 = mdl_linear_layer(ps, sub, l.opts.dim_feedforward, d_model, 1, rng);
    snprintf(sub, sizeof sub, "%s.norm1", name);
    l.norm1 = mdl_layer_norm_layer(ps, sub, 1, &d_model);
    snprintf(sub, sizeof sub, "%s.norm2", name);
    l.norm2 = mdl_layer_norm_layer(ps, sub, 1, &d_model);
    if (!l.linear1.kind || !l.linear2.kind || !l.norm1.kind || !l.norm2.kind) {
        l.self_attn.in_proj_weight = NULL;
        return l;
    }
    l.norm1.eps = l.norm2.eps = l.opts.layer_norm_eps;
    return l;
}

MDLDEF mdl_tensor *mdl_transformer_encoder_layer_forward(mdl_arena *ar,
                                                         const mdl_transformer_layer *l,
                                                         mdl_tensor *x, const mdl_mha_args *args) {
    const char *fn = "mdl_transformer_encoder_layer_forward";
    const double p = l && l->training ? l->opts.dropout : 0;
    mdl_mha sa;
    mdl_mha_args a;
    mdl_tensor *h;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return NULL;
    if (!l || !l->self_attn.in_proj_weight) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(l ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "%s", l ? "the layer was not made (its "
                      "constructor reported an error)" : "the layer is NULL");
        return NULL;
    }
    memset(&a, 0, sizeof a);
    if (args) a = *args;
    a.per_head_weights = 0;
    sa = l->self_attn;
    sa.training = l->training;
#define MDL__SA(y) mdl_dropout(ar, mdl_mha_forward(ar, &sa, (y), (y), (y), &a, NULL), p, 1, l->rng)
#define MDL__FF(y)                                                                           \
    mdl_dropout(ar, mdl_layer_forward(ar, &l->linear2,                                       \
                                      mdl_dropout(ar, l->opts.gelu                           \
                                          ? mdl_gelu(ar, mdl_layer_forward(ar, &l->linear1, (y))) \
                                          : mdl_relu(ar, mdl_layer_forward(ar, &l->linear1, (y))), \
                                      p, 1, l->rng)),                                        \
                p, 1, l->rng)
    if (l->opts.norm_first) {
        h = mdl_layer_forward(ar, &l->norm1, x);
        x = mdl_add(ar, x, MDL__SA(h));                       /* x + sa(norm1(x)) */
        h = mdl_layer_forward(ar, &l->norm2, x);
        return mdl_add(ar, x, MDL__FF(h));                    /* x + ff(norm2(x)) */
    }
    x = mdl_layer_forward(ar, &l->norm1, mdl_add(ar, x, MDL__SA(x)));  /* norm1(x + sa(x)) */
    return mdl_layer_forward(ar, &l->norm2, mdl_add(ar, x, MDL__FF(x))); /* norm2(x + ff(x)) */
#undef MDL__SA
#undef MDL__FF
}

MDLDEF void mdl_transformer_train(mdl_transformer_layer *l, int training) {
    if (l) l->training = training != 0;
}

/* ---------------------------------------------------------------------------------------------
   Positional encodings: attention treats its inputs as a set; adding a vector per position
   tells it the order. Sinusoidal (fixed): each pair of features (2i, 2i+1) is a sin/cos wave
   of wavelength 2 pi 10000^(2i/d), so that pe(t + k) is a rotation of pe(t), the same for
   every t; learned: a table of one row per position, trained.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_sinusoidal_positions(mdl_arena *ar, int T, int d) {
    const char *fn = "mdl_sinusoidal_positions";
    int sh[2], t, i;
    mdl_tensor *pe;
    if (!mdl__usable_arena(fn, ar)) return NULL;
    if (T < 1 || d < 2 || d % 2) {
        mdl__fail(MDL_ERR_ARG, fn, "T = %d must be at least 1 and d = %d even", T, d);
        return NULL;
    }
    sh[0] = T, sh[1] = d;
    pe = mdl__make(ar, fn, 2, sh, NULL, 0);
    if (!pe) return NULL;
    for (t = 0; t < T; t++)
        for (i = 0; i < d; i += 2) { /* t / 10000^(i/d), in double */
            double angle = (double)t * exp(-log(10000.0) * (double)i / (double)d);
            pe->data[(size_t)t * (size_t)d + (size_t)i] = (mdl_scalar)sin(angle);
            pe->data[(size_t)t * (size_t)d + (size_t)i + 1] = (mdl_scalar)cos(angle);
        }
    return pe;
}

MDLDEF mdl_tensor *mdl_learned_positions(mdl_arena *ar, mdl_tensor *table, int T) {
    const char *fn = "mdl_learned_positions";
    char bt[96];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "table", table)) return NULL;
    if (table->ndim != 2 || T < 1 || T > table->shape[0]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "table %s, T = %d: the table must be [max_len, d] with "
                  "max_len >= T >= 1", mdl_shape_str(table, bt, sizeof bt), T);
        return NULL;
    }
    return mdl_slice(ar, table, 0, 0, T);
}

/* ---------------------------------------------------------------------------------------------
   Fast gates (skip on a first reading): sigmoid and tanh over a row, for mdl_rnn_scan's
   forward steps. The plain loops are mdl_sigmoid's and mdl_tanh's own; on x86 the AVX-512 and
   AVX2 versions compute 16 or 8 values at once with Cephes's single-precision formulas
   (Moshier, as in sse_mathfun): e^x as 2^n times a degree-6 polynomial on
   [-ln2/2, ln2/2], n = round(x / ln2), with ln2 split in two parts so that x - n ln2 is exact;
       sigmoid(x) = 1 / (1 + e^-x)
       tanh(x)    = x + x^3 P(x^2)               for |x| < 0.625 (no cancellation near 0)
                  = sign(x) (1 - 2 / (e^(2|x|) + 1))  otherwise, |x| clamped to 9 (tanh = 1
                                                      to float precision beyond)
   Both are within a few float ulps of libm's (tests/test_rnn.c holds them to it). A libm call
   per value costs some 15 ns for tanhf; these cost well under one, and the forward pass of a
   character LSTM makes 5 of them per unit per step. They follow the GEMM kernel choice:
   mdl_set_gemm_kernel("plain") runs the plain loops, "avx2" the AVX2 versions.
   --------------------------------------------------------------------------------------------- */

#if defined(MDL__X86)
#define MDL__EXP_HI 88.0f            /* e^88 < FLT_MAX: 2^n stays a normal float */
#define MDL__EXP_LO -87.33654475f    /* about ln(FLT_MIN) */
#define MDL__LOG2E 1.44269504088896341f
#define MDL__LN2_HI 0.693359375f     /* ln2 = LN2_HI + LN2_LO, LN2_HI with few bits */
#define MDL__LN2_LO -2.12194440e-4f
#define MDL__TANH_SMALL 0.625f
#define MDL__TANH_BIG 9.0f

/* (the masked forms of the intrinsics, all lanes on: g++ 12 warns that the plain ones read an
   undefined register) */
__attribute__((target("avx512f"))) static __m512 mdl__exp_avx512(__m512 x) {
    const __mmask16 all = (__mmask16)0xffff;
    __m512 n, p;
    __m512i e;
    x = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, x, _mm512_set1_ps(MDL__EXP_LO)),
                             _mm512_set1_ps(MDL__EXP_HI));
    n = _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(x, _mm512_set1_ps(MDL__LOG2E)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(MDL__LN2_HI), x); /* r = x - n ln2, in two parts */
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(MDL__LN2_LO), x);
    p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1))); /* e^r */
    e = _mm512_maskz_slli_epi32(all, _mm512_add_epi32(_mm512_maskz_cvtps_epi32(all, n),
                                                      _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e)); /* e^r 2^n */
}

__attribute__((target("avx512f"))) static __m512 mdl__sigmoid_avx512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1);
    return _mm512_div_ps(one, _mm512_add_ps(one, mdl__exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

__attribute__((target("avx512f"))) static __m512 mdl__tanh_avx512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1), two = _mm512_set1_ps(2);
    const __m512i abs_bits = _mm512_set1_epi32(0x7fffffff);
    const __mmask16 all = (__mmask16)0xffff;
    __m512 ax = _mm512_castsi512_ps(_mm512_maskz_and_epi32(all, _mm512_castps_si512(x), abs_bits));
    __m512 s = _mm512_mul_ps(ax, ax), p, e, big, y;
    __mmask16 small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(MDL__TANH_SMALL), _CMP_LT_OQ);
    p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-3.33332819422e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, s), ax, ax);
    e = mdl__exp_avx512(_mm512_mul_ps(two, _mm512_maskz_min_ps(all, ax, _mm512_set1_ps(MDL__TANH_BIG))));
    big = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(e, one)));
    y = _mm512_mask_blend_ps(small, big, p); /* |tanh x|, then x's sign */
    return _mm512_castsi512_ps(_mm512_maskz_or_epi32(
        all, _mm512_castps_si512(y), _mm512_maskz_andnot_epi32(all, abs_bits, _mm512_castps_si512(x))));
}

__attribute__((target("avx512f"))) static void mdl__gate_row_avx512(int tanh_, float *y,
                                                                  const float *x, int n) {
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        _mm512_storeu_ps(y + k, tanh_ ? mdl__tanh_avx512(v) : mdl__sigmoid_avx512(v));
    }
    if (k < n) { /* the last few, through a mask */
        __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        _mm512_mask_storeu_ps(y + k, m, tanh_ ? mdl__tanh_avx512(v) : mdl__sigmoid_avx512(v));
    }
}

__attribute__((target("avx2,fma"))) static __m256 mdl__exp_avx2(__m256 x) {
    __m256 n, p;
    __m256i e;
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(MDL__EXP_LO)), _mm256_set1_ps(MDL__EXP_HI));
    n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(MDL__LOG2E)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(MDL__LN2_HI), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(MDL__LN2_LO), x);
    p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1)));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) static __m256 mdl__sigmoid_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1);
    return _mm256_div_ps(one, _mm256_add_ps(one, mdl__exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

__attribute__((target("avx2,fma"))) static __m256 mdl__tanh_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1), two = _mm256_set1_ps(2);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign, x), s = _mm256_mul_ps(ax, ax), p, e, big, y;
    __m256 small = _mm256_cmp_ps(ax, _mm256_set1_ps(MDL__TANH_SMALL), _CMP_LT_OQ);
    p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-3.33332819422e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, s), ax, ax);
    e = mdl__exp_avx2(_mm256_mul_ps(two, _mm256_min_ps(ax, _mm256_set1_ps(MDL__TANH_BIG))));
    big = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(e, one)));
    y = _mm256_blendv_ps(big, p, small);
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}

__attribute__((target("avx2,fma"))) static void mdl__gate_row_avx2(int tanh_, float *y,
                                                                 const float *x, int n) {
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 v = _mm256_loadu_ps(x + k);
        _mm256_storeu_ps(y + k, tanh_ ? mdl__tanh_avx2(v) : mdl__sigmoid_avx2(v));
    }
    if (k < n) { /* the last few, through a buffer */
        float buf[8] = {0};
        __m256 v;
        int j;
        for (j = 0; j < n - k; j++) buf[j] = x[k + j];
        v = _mm256_loadu_ps(buf);
        _mm256_storeu_ps(buf, tanh_ ? mdl__tanh_avx2(v) : mdl__sigmoid_avx2(v));
        for (j = 0; j < n - k; j++) y[k + j] = buf[j];
    }
}
#endif /* MDL__X86 */

/* 2: AVX-512, 1: AVX2, 0: the plain loops; the choice of mdl_gemm_kernel, which is made for
   this CPU (and which mdl_set_gemm_kernel changes) */
static int mdl__gates_isa(void) {
#if defined(MDL__X86)
    const char *k = mdl_gemm_kernel();
    return strcmp(k, "avx512") == 0 ? 2 : strcmp(k, "avx2") == 0 ? 1 : 0;
#else
    return 0;
#endif
}

static void mdl__sigmoid_row(int isa, mdl_scalar *y, const mdl_scalar *x, int n) {
    int k;
#if defined(MDL__X86)
    if (isa == 2) {
        mdl__gate_row_avx512(0, y, x, n);
        return;
    }
    if (isa == 1) {
        mdl__gate_row_avx2(0, y, x, n);
        return;
    }
#endif
    (void)isa;
    for (k = 0; k < n; k++) y[k] = mdl__sigmoid1(x[k]);
}

static void mdl__tanh_row(int isa, mdl_scalar *y, const mdl_scalar *x, int n) {
    int k;
#if defined(MDL__X86)
    if (isa == 2) {
        mdl__gate_row_avx512(1, y, x, n);
        return;
    }
    if (isa == 1) {
        mdl__gate_row_avx2(1, y, x, n);
        return;
    }
#endif
    (void)isa;
    for (k = 0; k < n; k++) y[k] = MDL__TANH(x[k]);
}

// >>losses

/* ---------------------------------------------------------------------------------------------
   Losses: how far a model's output is from its target, as the number that training lowers.
   Each takes (input, target) in PyTorch's order, computes PyTorch's formula, and reduces:
     MDL_MEAN  the mean over the elements (PyTorch's default; 0, so a zeroed struct asks for it)
     MDL_SUM   the sum
     MDL_NONE  the loss of each element, or of each sample for cross-entropy and nll
   MSE, L1, smooth L1 and Huber are composites of ops: autograd and gradcheck cover them with no
   backward of their own, and at their kinks they inherit the ops' conventions, which are
   PyTorch's (abs' = 0 at 0). Binary cross-entropy, cross-entropy, nll and KL are primitives
   whose backward is written out, where a composite would compute 0 * inf or pick the wrong
   side of a kink, or where the fused formula is the lesson (cross-entropy).
   Targets are never broadcast (PyTorch warns and broadcasts, and an output [N,1] against a
   target [N] becomes an [N,N] loss that trains the wrong thing); weights are constants.
   --------------------------------------------------------------------------------------------- */

/* Is `reduction` one that `fn` takes? MDL_BATCHMEAN is kl_div's alone, as in PyTorch. */
static int mdl__reduction_ok(const char *fn, int reduction, int batchmean_ok) {
    if (reduction >= (int)MDL_MEAN && reduction <= (int)MDL_NONE) return 1;
    if (reduction == (int)MDL_BATCHMEAN && batchmean_ok) return 1;
    mdl__fail(MDL_ERR_ARG, fn, "reduction %d is not one of %s", reduction,
              batchmean_ok ? "MDL_MEAN, MDL_SUM, MDL_NONE, MDL_BATCHMEAN"
                           : "MDL_MEAN, MDL_SUM, MDL_NONE (MDL_BATCHMEAN is mdl_kl_div_loss's)");
    return 0;
}

/* The checks of every loss of two same-shaped tensors: usable arguments, a reduction it takes,
   and one shape. */
static int mdl__loss_pair_ok(const char *fn, mdl_arena *ar, const mdl_tensor *input,
                             const mdl_tensor *target, int reduction, int batchmean_ok) {
    char bi[96], bt[96];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "input", input) ||
        !mdl__usable(fn, "target", target) || !mdl__reduction_ok(fn, reduction, batchmean_ok))
        return 0;
    if (input->ndim != target->ndim ||
        memcmp(input->shape, target->shape, sizeof(int) * (size_t)input->ndim) != 0) {
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and target %s must have the same shape (a loss "
                  "does not broadcast its target: [N,1] against [N] would make [N,N] losses)",
                  mdl_shape_str(input, bi, sizeof bi), mdl_shape_str(target, bt, sizeof bt));
        return 0;
    }
    return 1;
}

/* Does a weight broadcast to x's shape without growing it ([C] or [N,1] for x [N,C])? */
static int mdl__loss_weight_ok(const char *fn, const mdl_tensor *x, const mdl_tensor *w) {
    char bx[96], bw[96];
    int d, ok;
    if (!w) return 1;
    if (!mdl__usable(fn, "weight", w)) return 0;
    ok = w->ndim <= x->ndim;
    for (d = 1; ok && d <= w->ndim; d++)
        ok = w->shape[w->ndim - d] == 1 || w->shape[w->ndim - d] == x->shape[x->ndim - d];
    if (!ok)
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and weight %s: the weight must broadcast to the "
                  "input's shape (each of its axes, lined up from the right, the same size or 1)",
                  mdl_shape_str(x, bx, sizeof bx), mdl_shape_str(w, bw, sizeof bw));
    return ok;
}

/* The reduction, with the ops, whose backward does the rest: mean, sum, or the sum over the
   batch size (kl_div's batchmean). */
static mdl_tensor *mdl__loss_reduce(mdl_arena *ar, mdl_tensor *loss, int reduction) {
    if (!loss) return NULL;
    switch ((mdl_reduction)reduction) {
    case MDL_NONE: return loss;
    case MDL_SUM: return mdl_sum(ar, loss, MDL_ALL, 0);
    case MDL_BATCHMEAN:
        return mdl_mul_scalar(ar, mdl_sum(ar, loss, MDL_ALL, 0),
                              (mdl_scalar)(loss->ndim ? 1.0 / loss->shape[0] : 1.0));
    case MDL_MEAN: break;
    }
    return mdl_mean(ar, loss, MDL_ALL, 0);
}

/* ---------------------------------------------------------------------------------------------
   Regression losses                 input:[..] target:[same] -> [same], d = input - target
     mse        d^2                                          dd = 2 d
     l1         |d|                                          dd = sign(d), 0 at d = 0
     smooth_l1  0.5 d^2 / beta    if |d| < beta              dd = d / beta
                |d| - 0.5 beta    otherwise                  dd = sign(d)
     huber      delta smooth_l1 with beta = delta:
                0.5 d^2 if |d| < delta, else delta (|d| - 0.5 delta)
   Squares make big errors count a lot (the mean of the target is the best constant); absolute
   values count every unit the same (the median); smooth L1 and Huber are quadratic near 0, for
   a gradient that shrinks as the error does, and linear beyond, so that outliers pull no
   harder than beta away. Composites: with z = |d| and m = clamp(z, 0, beta), the part of z
   inside the quadratic zone,
       smooth_l1 = 0.5 m^2 / beta + (z - m)        huber = 0.5 m^2 + delta (z - m)
   with no branch: z - m is 0 inside the zone, and m is beta beyond it. The chain rule gives
   dz = m / beta inside and 1 beyond (at z = beta both: clamp passes the gradient at its
   bounds, and the two pieces meet with slope 1), times abs's sign(d), 0 at d = 0: PyTorch's
   gradient at every kink. beta = 0 is l1, as in PyTorch (the formula would divide 0 by 0).
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_mse_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                mdl_reduction reduction) {
    mdl_tensor *d;
    if (!mdl__loss_pair_ok("mdl_mse_loss", ar, input, target, (int)reduction, 0)) return NULL;
    d = mdl_sub(ar, input, target);
    return mdl__loss_reduce(ar, mdl_mul(ar, d, d), (int)reduction);
}

MDLDEF mdl_tensor *mdl_l1_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                               mdl_reduction reduction) {
    if (!mdl__loss_pair_ok("mdl_l1_loss", ar, input, target, (int)reduction, 0)) return NULL;
    return mdl__loss_reduce(ar, mdl_abs(ar, mdl_sub(ar, input, target)), (int)reduction);
}

/* quad 0.5 m^2 + lin (z - m), m = clamp(z, 0, beta), z = |input - target|: smooth_l1 with
   quad = 1 / beta and lin = 1, huber with quad = 1 and lin = delta. */
static mdl_tensor *mdl__smooth_l1_terms(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                        double beta, double quad, double lin) {
    mdl_tensor *z = mdl_abs(ar, mdl_sub(ar, input, target));
    mdl_tensor *m = mdl_clamp(ar, z, 0, (mdl_scalar)beta);
    mdl_tensor *q = mdl_mul_scalar(ar, mdl_mul(ar, m, m), (mdl_scalar)(0.5 * quad));
    mdl_tensor *l = mdl_sub(ar, z, m);
    if (lin != 1) l = mdl_mul_scalar(ar, l, (mdl_scalar)lin);
    return mdl_add(ar, q, l);
}

MDLDEF mdl_tensor *mdl_smooth_l1_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                      double beta, mdl_reduction reduction) {
    const char *fn = "mdl_smooth_l1_loss";
    if (!mdl__loss_pair_ok(fn, ar, input, target, (int)reduction, 0)) return NULL;
    if (!(beta >= 0)) {
        mdl__fail(MDL_ERR_ARG, fn, "beta %g must be >= 0 (0 is the L1 loss)", beta);
        return NULL;
    }
    if (beta == 0) return mdl__loss_reduce(ar, mdl_abs(ar, mdl_sub(ar, input, target)),
                                           (int)reduction);
    return mdl__loss_reduce(ar, mdl__smooth_l1_terms(ar, input, target, beta, 1 / beta, 1),
                            (int)reduction);
}

MDLDEF mdl_tensor *mdl_huber_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                  double delta, mdl_reduction reduction) {
    const char *fn = "mdl_huber_loss";
    if (!mdl__loss_pair_ok(fn, ar, input, target, (int)reduction, 0)) return NULL;
    if (!(delta > 0)) {
        mdl__fail(MDL_ERR_ARG, fn, "delta %g must be > 0", delta);
        return NULL;
    }
    return mdl__loss_reduce(ar, mdl__smooth_l1_terms(ar, input, target, delta, 1, delta),
                            (int)reduction);
}

/* The elementwise loss primitives below (bce, bce_with_logits, kl_div) share their plumbing,
   as the unary ops do: each is a forward loop and a gradient loop over n elements of input x
   and target t. In backward, g = d(loss)/d(y), and dx and dt receive the gradients (each NULL
   when not wanted). pw is bce_with_logits's pos_weight, c values for the c indices of the last
   axis (NULL: all 1); flag is kl_div's log_target. */
typedef struct mdl__pair_io {
    const mdl_scalar *x, *t, *g, *pw;
    mdl_scalar *y, *dx, *dt;
    size_t n, c;
    int flag;
} mdl__pair_io;
typedef void (*mdl__pair_fn)(mdl__pair_io u);

/* Forward of the elementwise losses: y shaped like x, the op's loop, then the node, which keeps
   pw (from the arena) in `saved`, c in arg[1] and the flag in arg[0]. */
static mdl_tensor *mdl__pair_loss(mdl_arena *ar, const char *fn, mdl_op op, mdl__pair_fn forward,
                                  mdl_tensor *x, mdl_tensor *t, const mdl_scalar *pw, size_t c,
                                  int flag) {
    mdl__pair_io u;
    mdl_tensor *out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0), *in[2];
    if (!out) return NULL;
    memset(&u, 0, sizeof u);
    u.x = x->data;
    u.t = t->data;
    u.y = out->data;
    u.n = x->numel;
    u.pw = pw;
    u.c = c;
    u.flag = flag;
    forward(u);
    in[0] = x;
    in[1] = t;
    if (!mdl__finish(ar, fn, op, out, 2, in)) return NULL;
    if (out->node) {
        out->node->saved = (void *)pw;
        out->node->arg[0] = flag;
        out->node->arg[1] = (int)c;
    }
    return out;
}

/* Backward of the elementwise losses: the op's gradient loop, if x or t wants a gradient. */
static void mdl__pair_backward(mdl__node *node, mdl__pair_fn grad) {
    mdl__pair_io u;
    memset(&u, 0, sizeof u);
    u.dx = mdl__grad_of(node->in[0]);
    u.dt = mdl__grad_of(node->in[1]);
    if (!u.dx && !u.dt) return;
    u.x = node->in[0]->data;
    u.t = node->in[1]->data;
    u.y = node->out->data;
    u.g = node->out->grad;
    u.n = node->out->numel;
    u.pw = (const mdl_scalar *)node->saved;
    u.c = (size_t)node->arg[1];
    u.flag = node->arg[0];
    grad(u);
}

/* ---------------------------------------------------------------------------------------------
   Binary cross-entropy of probabilities                  x:[..] t:[same] -> L:[same]
     L   = -(t log x + (1 - t) log(1 - x)),   each log clamped at -100, as PyTorch
     dx += g (x - t) / max(x (1 - x), 1e-12)
     dt += g (log(1 - x) - log x)             (the clamped logs)
   -log x is the surprise at a 1 when the model said "1 with probability x"; L is the expected
   surprise when the truth is 1 with probability t. At x = 0 or 1 a log is -inf: PyTorch clamps
   it at -100 in the forward, and the denominator of dx at 1e-12, so that a saturated output
   gives a large finite gradient rather than inf or NaN; elsewhere dx is the exact derivative
   -t / x + (1 - t) / (1 - x) = (x - t) / (x (1 - x)). dt is the exact derivative of the
   clamped forward (PyTorch's uses the unclamped logs: infinite at x = 0 or 1). A composite of
   log, clamp and mul would give 0 * inf = NaN at x = 0 or 1: this is a primitive. The weight
   and the reduction come after it, from mul and sum or mean. Saved: x and t.
   --------------------------------------------------------------------------------------------- */

/* log x and log(1 - x), each at least -100 (log1p: 1 - x would lose a small x's digits) */
static void mdl__bce_logs(mdl_scalar x, mdl_scalar *lx, mdl_scalar *l1x) {
    const mdl_scalar lowest = -100;
    *lx = MDL__LOG(x);
    *l1x = MDL__LOG1P(-x);
    if (*lx < lowest) *lx = lowest;
    if (*l1x < lowest) *l1x = lowest;
}
static void mdl__bce_forward(mdl__pair_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar lx, l1x;
        mdl__bce_logs(u.x[i], &lx, &l1x);
        u.y[i] = -(u.t[i] * lx + (one - u.t[i]) * l1x);
    }
}
static void mdl__bce_grad(mdl__pair_io u) {
    const mdl_scalar one = 1, tiny = (mdl_scalar)1e-12;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar x = u.x[i], lx, l1x, den = x * (one - x);
        if (u.dx) u.dx[i] += u.g[i] * (x - u.t[i]) / (den > tiny ? den : tiny);
        if (u.dt) {
            mdl__bce_logs(x, &lx, &l1x);
            u.dt[i] += u.g[i] * (l1x - lx);
        }
    }
}
static void mdl__bce_backward(mdl__node *node) { mdl__pair_backward(node, mdl__bce_grad); }

MDLDEF mdl_tensor *mdl_bce_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                mdl_tensor *weight, mdl_reduction reduction) {
    const char *fn = "mdl_bce_loss";
    mdl_tensor *loss;
    size_t i;
    if (!mdl__loss_pair_ok(fn, ar, input, target, (int)reduction, 0) ||
        !mdl__loss_weight_ok(fn, input, weight))
        return NULL;
    for (i = 0; i < input->numel; i++) {
        double v = (double)input->data[i];
        if (!(v >= 0 && v <= 1)) { /* NaN too */
            char bs[96], bi[96];
            mdl__fail(MDL_ERR_ARG, fn, "input %s: element %s is %g, not a probability in "
                      "[0, 1] (for logits, use mdl_bce_with_logits_loss)",
                      mdl_shape_str(input, bs, sizeof bs), mdl__index_fmt(input, i, bi, sizeof bi),
                      v);
            return NULL;
        }
    }
    loss = mdl__pair_loss(ar, fn, MDL_OP_BCE, mdl__bce_forward, input, target, NULL, 0, 0);
    if (loss && weight) loss = mdl_mul(ar, loss, mdl_detach(ar, weight));
    return mdl__loss_reduce(ar, loss, (int)reduction);
}

/* ---------------------------------------------------------------------------------------------
   Binary cross-entropy of logits       x:[.., C] t:[same] pos_weight:[C] -> L:[same]
     L   = (1 - t) x + l sp(-x),   l = 1 + (pw - 1) t,   sp(-x) = log(1 + e^-x)
         = (1 - t) sp(x) + pw t sp(-x)                   (sp(x) = x + sp(-x))
     dx += g ((1 - t) + l (sigmoid(x) - 1)) = g ((1 - t) sigmoid(x) - pw t sigmoid(-x))
     dt += g (-x + (pw - 1) sp(-x))         = g (pw sp(-x) - sp(x))
   This is bce(sigmoid(x), t) with the positive term weighted by pw, written in x: since
   log sigmoid(x) = -sp(-x) and log(1 - sigmoid(x)) = -sp(x), no probability is ever rounded to
   0 or 1 (in float, sigmoid(17) is exactly 1 already, and bce would clamp its log at -100).
   sp(x) = max(x, 0) + log1p(e^-|x|) never overflows. Each line is computed in its second form,
   a sum of terms of one sign where the first form subtracts nearly equal numbers (x + sp(-x)
   for a very negative x, sigmoid(x) - 1 for a large one); sp' = sigmoid gives the gradients.
   pw > 1 counts the positives of a class more (recall), pw < 1 less (precision).
   A primitive: written as a composite with relu for max(-x, 0) and abs for |x|, the gradient
   would be exact everywhere but at x = 0, where relu' and abs' are 0 by convention and the
   composite's sp'(0) would be 0, not 1/2 -- and x = 0 is where a zero-initialised output layer
   starts. The weight and the reduction come after it. Saved: x, t, and pw (copied).
   --------------------------------------------------------------------------------------------- */

/* sp(x) and sp(-x) for one x: max(+-x, 0) + log(1 + e^-|x|), which shares its log */
static void mdl__softplus2(mdl_scalar x, mdl_scalar *sp_pos, mdl_scalar *sp_neg) {
    const mdl_scalar zero = 0;
    mdl_scalar tail = MDL__LOG1P(MDL__EXP(-MDL__FABS(x)));
    *sp_pos = (x > zero ? x : zero) + tail;
    *sp_neg = (x < zero ? -x : zero) + tail;
}
static void mdl__bce_with_logits_forward(mdl__pair_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar pw = u.pw ? u.pw[i % u.c] : one, sp_pos, sp_neg;
        mdl__softplus2(u.x[i], &sp_pos, &sp_neg);
        u.y[i] = (one - u.t[i]) * sp_pos + pw * u.t[i] * sp_neg;
    }
}
static void mdl__bce_with_logits_grad(mdl__pair_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar x = u.x[i], t = u.t[i], pw = u.pw ? u.pw[i % u.c] : one, sp_pos, sp_neg;
        if (u.dx) u.dx[i] += u.g[i] * ((one - t) * mdl__sigmoid1(x) - pw * t * mdl__sigmoid1(-x));
        if (u.dt) {
            mdl__softplus2(x, &sp_pos, &sp_neg);
            u.dt[i] += u.g[i] * (pw * sp_neg - sp_pos);
        }
    }
}
static void mdl__bce_with_logits_backward(mdl__node *node) {
    mdl__pair_backward(node, mdl__bce_with_logits_grad);
}

MDLDEF mdl_tensor *mdl_bce_with_logits_loss(mdl_arena *ar, mdl_tensor *logits,
                                            mdl_tensor *target, mdl_tensor *weight,
                                            mdl_tensor *pos_weight, mdl_reduction reduction) {
    const char *fn = "mdl_bce_with_logits_loss";
    mdl_scalar *pw = NULL;
    mdl_tensor *loss;
    size_t c = 1, k;
    if (!mdl__loss_pair_ok(fn, ar, logits, target, (int)reduction, 0) ||
        !mdl__loss_weight_ok(fn, logits, weight))
        return NULL;
    if (logits->ndim) c = (size_t)logits->shape[logits->ndim - 1];
    if (pos_weight) {
        char bx[96], bp[96];
        if (!mdl__usable(fn, "pos_weight", pos_weight)) return NULL;
        if (pos_weight->ndim != 1 ||
            (pos_weight->shape[0] != (int)c && pos_weight->shape[0] != 1)) {
            mdl__fail(MDL_ERR_SHAPE, fn, "logits %s and pos_weight %s: pos_weight must be [%zu], "
                      "one per index of the last axis (or [1])",
                      mdl_shape_str(logits, bx, sizeof bx),
                      mdl_shape_str(pos_weight, bp, sizeof bp), c);
            return NULL;
        }
        pw = (mdl_scalar *)mdl__alloc(ar, (c ? c : 1) * sizeof(mdl_scalar)); /* a [1] repeats */
        if (!pw) return NULL;
        for (k = 0; k < c; k++) pw[k] = pos_weight->data[pos_weight->shape[0] == 1 ? 0 : k];
    }
    loss = mdl__pair_loss(ar, fn, MDL_OP_BCE_WITH_LOGITS, mdl__bce_with_logits_forward, logits,
                          target, pw, c, 0);
    if (loss && weight) loss = mdl_mul(ar, loss, mdl_detach(ar, weight));
    return mdl__loss_reduce(ar, loss, (int)reduction);
}

/* ---------------------------------------------------------------------------------------------
   Cross-entropy of logits and class indices       x:[N, C, ..] target:[N, ..] -> L:[N, ..]
                                                   (reduced: one value)
     log p_c = (x_c - m) - log sum_k e^(x_k - m)     m = max_k x_k   (log-softmax)
     q_c     = (1 - eps) w_y [c = y] + (eps / C) w_c  the target distribution: y's one-hot,
                                                     smoothed by eps, times the class weights
     L       = -sum_c q_c log p_c                    (0 for an ignored target)
     dx_c   += g (Q p_c - q_c)                       Q = sum_c q_c = (1 - eps) w_y + eps/C sum w
   THE LESSON. Without weights Q = 1, and the gradient of the mean loss is
       dlogits = (softmax - onehot) / N
   (onehot smoothed to 1 - eps + eps/C on the class and eps/C elsewhere): the model's
   distribution minus the target's, nothing else. The log undoes the exp of the softmax, so
   neither the softmax's Jacobian nor 1/p is ever formed: split into log_softmax and a pick,
   backward would compute both and multiply them back to this. Fused, forward is one pass per
   sample and backward another, and only each sample's log-sum-exp m + log sum e^(x - m) is
   saved (the max subtracted so that no e^x overflows). Class weights scale a sample's row by
   its class's weight (and the smoothing term by each class's): dlogits = (Q p - q) / W.
   The mean divides by W, the sum of w_y over the targets not ignored, as PyTorch does: N
   without weights or ignored targets, the number of targets kept with ignore_index, the sum of
   their weights with weights. With smoothing and weights both, PyTorch's result is
       (1 - eps) nll_loss(log p, y, w) + (eps / C) sum_i sum_c w_c (-log p_ic) / W
   which is L above summed over the samples and divided by the same W. Saved: the classes,
   weights and normalizer read from the target, and each sample's log-sum-exp.
   nll_loss is the same without the softmax: L = -w_y x_y, dx_y += -g w_y.
   --------------------------------------------------------------------------------------------- */

/* What cross-entropy and nll know once the target is read: the input seen as [outer, C, inner]
   around its class axis 1 (a 1-D input [C] is one sample: outer = inner = 1), and for each
   position p = o * inner + i (a sample, and a place of its extra axes) its class and weight. */
typedef struct mdl__class_loss {
    size_t outer, C, inner;
    int reduction;
    int *cls;      /* class of each position, -1 if ignored */
    double *w;     /* weight of each position: the class's weight (1 without), 0 if ignored */
    double *cw;    /* the class weights [C] (a copy), or NULL: all 1 */
    double cw_sum; /* their sum (C without weights) */
    double eps;    /* label smoothing */
    double norm;   /* what the mean divides by: the sum of w */
    double *lse;   /* cross-entropy: each position's log-sum-exp, for backward */
} mdl__class_loss;

/* Check x, target and the options, and read the target: NULL after reporting a mistake. */
static mdl__class_loss *mdl__class_loss_new(mdl_arena *ar, const char *fn, const mdl_tensor *x,
                                            const mdl_tensor *target,
                                            const mdl_cross_entropy_opts *opts, int smoothing) {
    mdl_cross_entropy_opts o;
    mdl__class_loss *cl;
    char bx[96], bt[96], bw[96];
    size_t n, p, c;
    int d, ok;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "input", x) ||
        !mdl__usable(fn, "target", target))
        return NULL;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    if (!mdl__reduction_ok(fn, (int)o.reduction, 0)) return NULL;
    if (o.weight && !mdl__usable(fn, "opts->weight", o.weight)) return NULL;
    mdl_shape_str(x, bx, sizeof bx);
    mdl_shape_str(target, bt, sizeof bt);
    /* target: x's shape without the class axis 1 ([N] for [N,C]; a scalar for [C]) */
    ok = x->ndim >= 1 && target->ndim == x->ndim - 1 &&
         (x->ndim < 2 || target->shape[0] == x->shape[0]);
    for (d = 2; ok && d < x->ndim; d++) ok = target->shape[d - 1] == x->shape[d];
    if (!ok) {
        int want[MDL_MAX_DIMS] = {0};
        for (d = 0; d < x->ndim; d++)
            if (d != 1) want[d < 1 ? d : d - 1] = x->shape[d];
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and target %s: %s%s%s", bx, bt,
                  x->ndim ? "the target must be " : "the input needs a class axis",
                  x->ndim ? mdl__shape_fmt(x->ndim - 1, want, bw, sizeof bw) : "",
                  x->ndim ? ", the input's shape without its class axis 1 (class indices; "
                  "class probabilities as targets are not supported)" : "");
        return NULL;
    }
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1) ||
        (!smoothing && o.label_smoothing != 0)) {
        mdl__fail(MDL_ERR_ARG, fn, "label_smoothing %g %s", o.label_smoothing, smoothing ?
                  "must be between 0 and 1" : "must be 0: nll_loss has none (smooth with "
                  "mdl_cross_entropy_loss)");
        return NULL;
    }
    cl = (mdl__class_loss *)mdl__alloc_zero(ar, sizeof *cl);
    if (!cl) return NULL;
    cl->C = (size_t)x->shape[x->ndim == 1 ? 0 : 1];
    cl->outer = x->ndim == 1 ? 1 : (size_t)x->shape[0];
    cl->inner = 1;
    for (d = 2; d < x->ndim; d++) cl->inner *= (size_t)x->shape[d];
    cl->reduction = (int)o.reduction;
    cl->eps = o.label_smoothing;
    if (o.weight) {
        if (o.weight->ndim != 1 || (size_t)o.weight->shape[0] != cl->C) {
            mdl__fail(MDL_ERR_SHAPE, fn, "input %s and weight %s: the weight must be [%zu], one "
                      "per class", bx, mdl_shape_str(o.weight, bw, sizeof bw), cl->C);
            return NULL;
        }
        cl->cw = (double *)mdl__alloc(ar, (cl->C ? cl->C : 1) * sizeof(double));
        if (!cl->cw) return NULL;
        for (c = 0; c < cl->C; c++) {
            cl->cw[c] = (double)o.weight->data[c];
            cl->cw_sum += cl->cw[c];
        }
    } else {
        cl->cw_sum = (double)cl->C;
    }
    n = target->numel; /* = outer * inner */
    cl->cls = (int *)mdl__alloc(ar, (n ? n : 1) * sizeof(int));
    cl->w = (double *)mdl__alloc(ar, (n ? n : 1) * sizeof(double));
    if (!cl->cls || !cl->w) return NULL;
    for (p = 0; p < n; p++) {
        double v = (double)target->data[p];
        if (o.ignore && v == (double)o.ignore_index) {
            cl->cls[p] = -1;
            cl->w[p] = 0;
            continue;
        }
        if (!(v >= 0 && v < (double)cl->C && v == floor(v))) {
            char where[96] = "", ign[48] = "";
            if (x->ndim > 2) { /* the row, and the place along the extra axes */
                int at[MDL_MAX_DIMS];
                size_t r = p % cl->inner;
                for (d = x->ndim - 1; d >= 2; d--) {
                    at[d - 2] = (int)(r % (size_t)x->shape[d]);
                    r /= (size_t)x->shape[d];
                }
                snprintf(where, sizeof where, " at %s", mdl__shape_fmt(x->ndim - 2, at, bw,
                                                                        sizeof bw));
            }
            if (o.ignore) snprintf(ign, sizeof ign, ", or ignore_index %d", o.ignore_index);
            if (x->ndim == 1)
                mdl__fail(MDL_ERR_ARG, fn, "target %s is %g, not a class index (a whole number "
                          "in 0..%d%s)", bt, v, (int)cl->C - 1, ign);
            else
                mdl__fail(MDL_ERR_ARG, fn, "target %s: row %zu%s is %g, not a class index (a "
                          "whole number in 0..%d%s)", bt, p / cl->inner, where, v,
                          (int)cl->C - 1, ign);
            return NULL;
        }
        cl->cls[p] = (int)v;
        cl->w[p] = cl->cw ? cl->cw[cl->cls[p]] : 1.0;
        cl->norm += cl->w[p];
    }
    return cl;
}

/* Write the losses of the positions: each into out (MDL_NONE) or their sum or mean. */
static void mdl__class_loss_store(const mdl__class_loss *cl, const double *loss, mdl_scalar *out) {
    size_t p, n = cl->outer * cl->inner;
    double total = 0;
    for (p = 0; p < n; p++) {
        if (cl->reduction == MDL_NONE) out[p] = (mdl_scalar)loss[p];
        total += loss[p];
    }
    if (cl->reduction == MDL_SUM) out[0] = (mdl_scalar)total;
    if (cl->reduction == MDL_MEAN) out[0] = (mdl_scalar)(total / cl->norm); /* 0/0: NaN, as
                                                                    PyTorch, if all are ignored */
}

/* The gradient of position p's loss: g[p], or g of the sum, or of the mean over norm. */
static double mdl__class_loss_grad(const mdl__class_loss *cl, const mdl_scalar *g, size_t p) {
    if (cl->reduction == MDL_NONE) return (double)g[p];
    return cl->reduction == MDL_SUM ? (double)g[0] : (double)g[0] / cl->norm;
}

static void mdl__cross_entropy_forward(mdl__class_loss *cl, const mdl_scalar *x, double *loss) {
    const size_t C = cl->C, inner = cl->inner;
    size_t o, i, c;
    for (o = 0; o < cl->outer; o++)
        for (i = 0; i < inner; i++) {
            const mdl_scalar *xs = x + o * C * inner + i; /* class c at xs[c * inner] */
            size_t p = o * inner + i;
            double m, total = 0, logsum, smooth = 0;
            int y = cl->cls[p];
            loss[p] = 0;
            cl->lse[p] = 0;
            if (y < 0) continue; /* ignored: no loss, no gradient */
            m = (double)xs[0];
            for (c = 1; c < C; c++) m = (double)xs[c * inner] > m ? (double)xs[c * inner] : m;
            for (c = 0; c < C; c++) total += exp((double)xs[c * inner] - m);
            logsum = log(total);
            cl->lse[p] = m + logsum;
            /* -log p_c = (m - x_c) + log sum: exact near the maximum, where it matters */
            loss[p] = (1 - cl->eps) * cl->w[p] * ((m - (double)xs[(size_t)y * inner]) + logsum);
            if (cl->eps > 0) {
                for (c = 0; c < C; c++)
                    smooth += (cl->cw ? cl->cw[c] : 1.0) * ((m - (double)xs[c * inner]) + logsum);
                loss[p] += cl->eps / (double)C * smooth;
            }
        }
}

static void mdl__cross_entropy_backward(mdl__node *node) {
    const mdl__class_loss *cl = (const mdl__class_loss *)node->saved;
    const size_t C = cl->C, inner = cl->inner;
    const mdl_scalar *x = node->in[0]->data, *g = node->out->grad;
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    size_t o, i, c;
    if (!dx) return;
    for (o = 0; o < cl->outer; o++)
        for (i = 0; i < inner; i++) {
            size_t p = o * inner + i, base = o * C * inner + i;
            int y = cl->cls[p];
            double gp, on_y, Q;
            if (y < 0) continue;
            gp = mdl__class_loss_grad(cl, g, p);
            on_y = (1 - cl->eps) * cl->w[p];            /* q's one-hot part, on class y */
            Q = on_y + cl->eps / (double)C * cl->cw_sum; /* sum_c q_c: 1 without weights */
            for (c = 0; c < C; c++) {
                double prob = exp((double)x[base + c * inner] - cl->lse[p]); /* softmax */
                double q = cl->eps / (double)C * (cl->cw ? cl->cw[c] : 1.0) +
                           ((int)c == y ? on_y : 0);
                dx[base + c * inner] += (mdl_scalar)(gp * (Q * prob - q));
            }
        }
}

static void mdl__nll_forward(const mdl__class_loss *cl, const mdl_scalar *x, double *loss) {
    size_t o, i;
    for (o = 0; o < cl->outer; o++)
        for (i = 0; i < cl->inner; i++) {
            size_t p = o * cl->inner + i;
            int y = cl->cls[p];
            loss[p] = y < 0 ? 0 : -cl->w[p] * (double)x[(o * cl->C + (size_t)y) * cl->inner + i];
        }
}

static void mdl__nll_loss_backward(mdl__node *node) {
    const mdl__class_loss *cl = (const mdl__class_loss *)node->saved;
    const mdl_scalar *g = node->out->grad;
    mdl_scalar *dx = mdl__grad_of(node->in[0]);
    size_t o, i;
    if (!dx) return;
    for (o = 0; o < cl->outer; o++)
        for (i = 0; i < cl->inner; i++) {
            size_t p = o * cl->inner + i;
            int y = cl->cls[p];
            if (y >= 0)
                dx[(o * cl->C + (size_t)y) * cl->inner + i] -=
                    (mdl_scalar)(mdl__class_loss_grad(cl, g, p) * cl->w[p]);
        }
}

/* cross-entropy and nll: read the target, make the output (target's shape, or one value),
   compute, record. */
static mdl_tensor *mdl__class_loss_op(mdl_arena *ar, const char *fn, mdl_op op, mdl_tensor *x,
                                      mdl_tensor *target, const mdl_cross_entropy_opts *opts) {
    mdl__class_loss *cl = mdl__class_loss_new(ar, fn, x, target, opts,
                                              op == MDL_OP_CROSS_ENTROPY);
    size_t n;
    double *loss;
    mdl_tensor *out;
    if (!cl) return NULL;
    n = cl->outer * cl->inner;
    out = cl->reduction == MDL_NONE ? mdl__make(ar, fn, target->ndim, target->shape, NULL, 0)
                                    : mdl__make(ar, fn, 0, NULL, NULL, 0);
    loss = (double *)mdl__alloc(ar, (n ? n : 1) * sizeof(double));
    if (!out || !loss) return NULL;
    if (op == MDL_OP_CROSS_ENTROPY) {
        cl->lse = (double *)mdl__alloc(ar, (n ? n : 1) * sizeof(double));
        if (!cl->lse) return NULL;
        mdl__cross_entropy_forward(cl, x->data, loss);
    } else {
        mdl__nll_forward(cl, x->data, loss);
    }
    mdl__class_loss_store(cl, loss, out->data);
    if (!mdl__finish(ar, fn, op, out, 1, &x)) return NULL;
    if (out->node) out->node->saved = cl;
    return out;
}

MDLDEF mdl_tensor *mdl_cross_entropy_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                          const mdl_cross_entropy_opts *opts) {
    return mdl__class_loss_op(ar, "mdl_cross_entropy_loss", MDL_OP_CROSS_ENTROPY, input, target,
                              opts);
}

MDLDEF mdl_tensor *mdl_nll_loss(mdl_arena *ar, mdl_tensor *log_probs, mdl_tensor *target,
                                const mdl_cross_entropy_opts *opts) {
    return mdl__class_loss_op(ar, "mdl_nll_loss", MDL_OP_NLL_LOSS, log_probs, target, opts);
}

/* ---------------------------------------------------------------------------------------------
   KL divergence        input:[..] (log q)  target:[same] (p; log p with log_target) -> L:[same]
     L   = p (log p - input)           0 where p = 0 (the limit of p log p)
     dx += -g p                        dt += g (log p + 1 - input)
   log_target:
     L   = e^t (t - input)             dx += -g e^t        dt += g e^t (t - input + 1)
   Summed over a distribution's classes, sum p log(p / q) is how many extra nats a code built
   for q costs when the data follow p: 0 when q = p, positive otherwise. The input is log q
   (mdl_log_softmax's output) so that no log of a rounded-to-0 probability is taken. A
   primitive because p log p needs its branch at p = 0 (the composite t * log t would give
   0 * -inf = NaN); a p < 0 gives NaN, as in PyTorch. At p = 0, dt is -inf (the slope of
   p log p there), where PyTorch's autograd gives NaN. MDL_MEAN is PyTorch's 'mean', over all
   the elements; the divergence per sample is MDL_BATCHMEAN, the sum over shape[0].
   Saved: input, target and log_target (arg[0]).
   --------------------------------------------------------------------------------------------- */

static void mdl__kl_div_forward(mdl__pair_io u) {
    const mdl_scalar zero = 0;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar t = u.t[i];
        if (u.flag)
            u.y[i] = MDL__EXP(t) * (t - u.x[i]);
        else
            u.y[i] = t == zero ? zero : t * (MDL__LOG(t) - u.x[i]);
    }
}
static void mdl__kl_div_grad(mdl__pair_io u) {
    const mdl_scalar one = 1;
    size_t i;
    for (i = 0; i < u.n; i++) {
        mdl_scalar t = u.t[i], p = u.flag ? MDL__EXP(t) : t;
        if (u.dx) u.dx[i] -= u.g[i] * p;
        if (u.dt)
            u.dt[i] += u.flag ? u.g[i] * p * (t - u.x[i] + one)
                              : u.g[i] * (MDL__LOG(t) + one - u.x[i]);
    }
}
static void mdl__kl_div_backward(mdl__node *node) { mdl__pair_backward(node, mdl__kl_div_grad); }

MDLDEF mdl_tensor *mdl_kl_div_loss(mdl_arena *ar, mdl_tensor *input, mdl_tensor *target,
                                   mdl_reduction reduction, int log_target) {
    const char *fn = "mdl_kl_div_loss";
    if (!mdl__loss_pair_ok(fn, ar, input, target, (int)reduction, 1)) return NULL;
    return mdl__loss_reduce(ar, mdl__pair_loss(ar, fn, MDL_OP_KL_DIV, mdl__kl_div_forward, input,
                                               target, NULL, 0, log_target != 0),
                            (int)reduction);
}

// >>optim

/* ---------------------------------------------------------------------------------------------
   Optimizers: how a parameter w moves, given its gradient g = dL/dw
   Each rule is torch.optim's, term for term and in the same order of float operations, so a
   step here and a step in PyTorch agree to rounding. Hyperparameters are doubles, as Python's
   floats; like PyTorch's kernels, the update uses them rounded to mdl_scalar. The state (the
   momentum, the running means) lives in a parameter set of the optimizer's own, under PyTorch's
   state_dict names, so that a checkpoint saves it like any other tensor.

   Speed: an update is a few multiply-adds per element of every parameter at every step, as
   much work as a small model's forward pass if it runs one element at a time. So each rule is
   written for one block of MDL__OPT_BLOCK elements, with a fixed trip count and restrict
   pointers, which gcc and clang vectorize at plain -O2; mdl__opt_run feeds it the blocks (the
   short last one through a zero-padded copy). A compiler will not vectorize a loop that calls
   sqrt, which may set errno, so mdl__opt_sqrt takes a block's square roots with the vector
   instruction where the CPU has one: correctly rounded like sqrtf, so the bits are the same.
   --------------------------------------------------------------------------------------------- */

#define MDL__OPT_BLOCK 16
#define MDL__OPT_ARRAYS 5 /* w, g and up to three state tensors */

/* y = sqrt(y) for one block. */
static void mdl__opt_sqrt(mdl_scalar *MDL__RESTRICT y) {
    int j;
#if defined(MDL__X86) && defined(__SSE__)
    for (j = 0; j < MDL__OPT_BLOCK; j += 4) _mm_storeu_ps(y + j, _mm_sqrt_ps(_mm_loadu_ps(y + j)));
#elif defined(MDL__NEON)
    for (j = 0; j < MDL__OPT_BLOCK; j += 4) vst1q_f32(y + j, vsqrtq_f32(vld1q_f32(y + j)));
#else
    for (j = 0; j < MDL__OPT_BLOCK; j++) y[j] = MDL__SQRT(y[j]);
#endif
}

/* One step's constants for one parameter, already rounded to mdl_scalar. */
typedef struct mdl__opt_k {
    mdl_scalar lr, sign, wd;        /* sign: -1 to maximize */
    mdl_scalar decay;               /* AdamW: 1 - lr * wd */
    mdl_scalar r1, one_minus_r1;    /* a running mean's rate (Adam's beta1, RMSProp's alpha) */
    mdl_scalar r2, one_minus_r2;    /* a second one (Adam's beta2) */
    mdl_scalar mom, one_minus_damp; /* momentum, and SGD's 1 - dampening */
    mdl_scalar bc2_sqrt, eps;       /* Adam's sqrt(1 - beta2^t); the denominator's eps */
    int has_wd, first, nesterov, amsgrad, centered, has_mom;
} mdl__opt_k;

/* A rule's update of one block: w, g and up to three state arrays (NULL where unused). The
   pointers are restrict parameters, which compilers trust more than restrict locals. */
typedef void (*mdl__opt_block_fn)(const mdl__opt_k *k, mdl_scalar *MDL__RESTRICT w,
                                  const mdl_scalar *MDL__RESTRICT g, mdl_scalar *MDL__RESTRICT s0,
                                  mdl_scalar *MDL__RESTRICT s1, mdl_scalar *MDL__RESTRICT s2);

/* Run `block` over n elements of the arrays in blocks; the short tail goes through zero-padded
   copies (zeros are harmless to every rule), which are copied back but for g. */
static void mdl__opt_run(mdl__opt_block_fn block, const mdl__opt_k *k, size_t n,
                         mdl_scalar *const *arrays) {
    mdl_scalar *at[MDL__OPT_ARRAYS];
    mdl_scalar pad[MDL__OPT_ARRAYS][MDL__OPT_BLOCK];
    size_t i, rest;
    int a;
    for (i = 0; i + MDL__OPT_BLOCK <= n; i += MDL__OPT_BLOCK) {
        for (a = 0; a < MDL__OPT_ARRAYS; a++) at[a] = arrays[a] ? arrays[a] + i : NULL;
        block(k, at[0], at[1], at[2], at[3], at[4]);
    }
    rest = n - i;
    if (rest == 0) return;
    for (a = 0; a < MDL__OPT_ARRAYS; a++) {
        at[a] = arrays[a] ? pad[a] : NULL;
        if (!arrays[a]) continue;
        memset(pad[a], 0, sizeof pad[a]);
        memcpy(pad[a], arrays[a] + i, rest * sizeof(mdl_scalar));
    }
    block(k, at[0], at[1], at[2], at[3], at[4]);
    for (a = 0; a < MDL__OPT_ARRAYS; a++)
        if (arrays[a] && a != 1) memcpy(arrays[a] + i, pad[a], rest * sizeof(mdl_scalar));
}

/* d = sign * g, plus wd * w when there is weight decay (added only then, as PyTorch: 0 * w
   would turn an infinite weight into NaN). The L2 form of SGD, AdaGrad, RMSProp and Adam.
   The constants are copied into locals in every block function: read through k inside a loop
   they might alias the arrays, and the compiler would not vectorize. */
static void mdl__opt_grad(const mdl__opt_k *k, const mdl_scalar *MDL__RESTRICT w,
                          const mdl_scalar *MDL__RESTRICT g, mdl_scalar *MDL__RESTRICT d) {
    const mdl_scalar sign = k->sign, wd = k->wd;
    int j;
    for (j = 0; j < MDL__OPT_BLOCK; j++) d[j] = sign * g[j];
    if (k->has_wd)
        for (j = 0; j < MDL__OPT_BLOCK; j++) d[j] = d[j] + wd * w[j];
}

/* SGD, with momentum mu, dampening tau and Nesterov:
     d   = g + wd w
     buf = d                        at the first step (no dampening yet)
     buf = mu buf + (1 - tau) d     after it: a running sum of past gradients, a velocity
     d   = d + mu buf  (Nesterov)   look ahead along the velocity
     d   = buf         (otherwise)
     w   = w - lr d                                                                           */
static void mdl__sgd_block(const mdl__opt_k *k, mdl_scalar *MDL__RESTRICT w,
                           const mdl_scalar *MDL__RESTRICT g, mdl_scalar *MDL__RESTRICT buf,
                           mdl_scalar *MDL__RESTRICT unused1, mdl_scalar *MDL__RESTRICT unused2) {
    const mdl_scalar lr = k->lr, mu = k->mom, keep = k->one_minus_damp;
    mdl_scalar d[MDL__OPT_BLOCK];
    int j;
    (void)unused1;
    (void)unused2;
    mdl__opt_grad(k, w, g, d);
    if (k->has_mom) {
        if (k->first)
            for (j = 0; j < MDL__OPT_BLOCK; j++) buf[j] = d[j];
        else
            for (j = 0; j < MDL__OPT_BLOCK; j++) buf[j] = buf[j] * mu + keep * d[j];
        if (k->nesterov)
            for (j = 0; j < MDL__OPT_BLOCK; j++) d[j] = d[j] + mu * buf[j];
        else
            for (j = 0; j < MDL__OPT_BLOCK; j++) d[j] = buf[j];
    }
    for (j = 0; j < MDL__OPT_BLOCK; j++) w[j] = w[j] - lr * d[j];
}

/* AdaGrad: each weight's step shrinks with the sum of its squared gradients so far, so weights
   that get large gradients often slow down and rare ones keep a larger step.
     d   = g + wd w
     sum = sum + d^2
     w   = w - clr d / (sqrt(sum) + eps)       clr = lr / (1 + (t - 1) lr_decay), in k->lr     */
static void mdl__adagrad_block(const mdl__opt_k *k, mdl_scalar *MDL__RESTRICT w,
                               const mdl_scalar *MDL__RESTRICT g, mdl_scalar *MDL__RESTRICT sum,
                               mdl_scalar *MDL__RESTRICT unused1,
                               mdl_scalar *MDL__RESTRICT unused2) {
    const mdl_scalar lr = k->lr, eps = k->eps;
    mdl_scalar d[MDL__OPT_BLOCK], den[MDL__OPT_BLOCK];
    int j;
    (void)unused1;
    (void)unused2;
    mdl__opt_grad(k, w, g, d);
    for (j = 0; j < MDL__OPT_BLOCK; j++) sum[j] = sum[j] + d[j] * d[j];
    for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = sum[j];
    mdl__opt_sqrt(den);
    for (j = 0; j < MDL__OPT_BLOCK; j++) w[j] = w[j] + (-lr * d[j]) / (den[j] + eps);
}

/* RMSProp: AdaGrad with a running mean of the squares (rate alpha) in place of their sum, so
   the step does not shrink for ever.
     d   = g + wd w
     sq  = alpha sq + (1 - alpha) d^2
     ga  = alpha ga + (1 - alpha) d                  (centered: the mean gradient)
     den = sqrt(sq - ga^2) + eps  (centered)  or  sqrt(sq) + eps
     buf = mu buf + d / den,  w = w - lr buf         (with momentum mu > 0)
     w   = w - lr d / den                            (without)                                */
static void mdl__rmsprop_block(const mdl__opt_k *k, mdl_scalar *MDL__RESTRICT w,
                               const mdl_scalar *MDL__RESTRICT g, mdl_scalar *MDL__RESTRICT sq,
                               mdl_scalar *MDL__RESTRICT ga, mdl_scalar *MDL__RESTRICT buf) {
    const mdl_scalar lr = k->lr, alpha = k->r1, rest = k->one_minus_r1, mu = k->mom;
    const mdl_scalar eps = k->eps;
    mdl_scalar d[MDL__OPT_BLOCK], den[MDL__OPT_BLOCK];
    int j;
    mdl__opt_grad(k, w, g, d);
    for (j = 0; j < MDL__OPT_BLOCK; j++) sq[j] = sq[j] * alpha + rest * d[j] * d[j];
    if (k->centered) {
        for (j = 0; j < MDL__OPT_BLOCK; j++) ga[j] = ga[j] * alpha + rest * d[j];
        for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = sq[j] + -ga[j] * ga[j];
    } else {
        for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = sq[j];
    }
    mdl__opt_sqrt(den);
    for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = den[j] + eps;
    if (k->has_mom) {
        for (j = 0; j < MDL__OPT_BLOCK; j++) buf[j] = buf[j] * mu + d[j] / den[j];
        for (j = 0; j < MDL__OPT_BLOCK; j++) w[j] = w[j] - lr * buf[j];
    } else {
        for (j = 0; j < MDL__OPT_BLOCK; j++) w[j] = w[j] + (-lr * d[j]) / den[j];
    }
}

/* Adam: momentum (a running mean m of the gradient) divided by the root of a running mean v of
   its square, so that every weight moves about lr per step whatever its gradient's scale.
     w   = (1 - lr wd) w                  (AdamW: weight decay applied to w directly)
     d   = g + wd w                       (Adam: weight decay added to the gradient)
     m   = beta1 m + (1 - beta1) d
     v   = beta2 v + (1 - beta2) d^2
     vm  = max(vm, v)                     (AMSGrad: the largest v so far, used in place of v)
     w   = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
   m and v start at 0, so early on they are too small by the factors 1 - beta^t: dividing by
   them (the bias correction) makes them unbiased estimates from the first step. k->lr holds
   lr / (1 - beta1^t) and k->bc2_sqrt sqrt(1 - beta2^t).                                      */
static void mdl__adam_block(const mdl__opt_k *k, mdl_scalar *MDL__RESTRICT w,
                            const mdl_scalar *MDL__RESTRICT g, mdl_scalar *MDL__RESTRICT m,
                            mdl_scalar *MDL__RESTRICT v, mdl_scalar *MDL__RESTRICT vm) {
    const mdl_scalar step = k->lr, decay = k->decay, eps = k->eps, c2 = k->bc2_sqrt;
    const mdl_scalar b1 = k->r1, rest1 = k->one_minus_r1, b2 = k->r2, rest2 = k->one_minus_r2;
    mdl_scalar d[MDL__OPT_BLOCK], den[MDL__OPT_BLOCK];
    int j;
    if (decay != 1)
        for (j = 0; j < MDL__OPT_BLOCK; j++) w[j] = w[j] * decay;
    mdl__opt_grad(k, w, g, d);
    for (j = 0; j < MDL__OPT_BLOCK; j++) m[j] = m[j] * b1 + rest1 * d[j];
    for (j = 0; j < MDL__OPT_BLOCK; j++) v[j] = v[j] * b2 + rest2 * d[j] * d[j];
    if (k->amsgrad) {
        for (j = 0; j < MDL__OPT_BLOCK; j++) vm[j] = vm[j] < v[j] ? v[j] : vm[j];
        for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = vm[j];
    } else {
        for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = v[j];
    }
    mdl__opt_sqrt(den);
    for (j = 0; j < MDL__OPT_BLOCK; j++) den[j] = den[j] / c2 + eps;
    for (j = 0; j < MDL__OPT_BLOCK; j++) w[j] = w[j] + (-step * m[j]) / den[j];
}

/* ---- the optimizer object: groups of parameters, each with its settings, and the state ---- */

typedef struct mdl__opt_slot {
    mdl_tensor *param;
    int index;               /* the parameter's number in the state's names */
    mdl_tensor *step;        /* state.<i>.step (NULL for SGD) */
    mdl_tensor *state[3];    /* the rule's state tensors, in the order of its block's a[2..] */
} mdl__opt_slot;

typedef struct mdl__opt_group {
    mdl_optim_opts opts;
    int first, count; /* its slots */
} mdl__opt_group;

struct mdl_optim {
    mdl_optim_opts defaults;
    mdl__opt_group *groups;
    int ngroups;
    mdl__opt_slot *slots;
    int nslots;
    mdl_params *state;
    long steps;
};

/* The state keys of each rule, as PyTorch names them, in block order (a[2], a[3], a[4]). */
static const char *mdl__opt_key(mdl_optim_kind kind, int s, const mdl_optim_opts *o) {
    switch (kind) {
    case MDL_SGD: return s == 0 && o->momentum != 0 ? "momentum_buffer" : NULL;
    case MDL_ADAGRAD: return s == 0 ? "sum" : NULL;
    case MDL_RMSPROP:
        if (s == 0) return "square_avg";
        if (s == 1) return o->centered ? "grad_avg" : NULL;
        return o->momentum > 0 ? "momentum_buffer" : NULL;
    case MDL_ADAM:
    case MDL_ADAMW:
        if (s == 0) return "exp_avg";
        if (s == 1) return "exp_avg_sq";
        return o->amsgrad ? "max_exp_avg_sq" : NULL;
    }
    return NULL;
}

MDLDEF mdl_optim_opts mdl_optim_defaults(mdl_optim_kind kind) {
    mdl_optim_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.lr = kind == MDL_ADAGRAD || kind == MDL_RMSPROP ? 1e-2 : 1e-3;
    o.weight_decay = kind == MDL_ADAMW ? 1e-2 : 0;
    o.alpha = 0.99;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = kind == MDL_ADAGRAD ? 1e-10 : 1e-8;
    return o;
}

/* The checks of torch.optim's constructors. */
static int mdl__optim_opts_ok(const char *fn, const mdl_optim_opts *o) {
    const char *bad = NULL;
    double value = 0;
    if (o->kind < MDL_SGD || o->kind > MDL_ADAMW) {
        mdl__fail(MDL_ERR_ARG, fn, "kind %d is not an optimizer (MDL_SGD ... MDL_ADAMW)",
                  (int)o->kind);
        return 0;
    }
#define MDL__CHECK(cond, name, v)                                                             \
    if (!bad && !(cond)) {                                                                    \
        bad = name;                                                                           \
        value = v;                                                                            \
    }
    MDL__CHECK(o->lr >= 0, "lr", o->lr)
    MDL__CHECK(o->weight_decay >= 0, "weight_decay", o->weight_decay)
    MDL__CHECK(o->eps >= 0, "eps", o->eps)
    MDL__CHECK(o->momentum >= 0, "momentum", o->momentum)
    MDL__CHECK(o->alpha >= 0, "alpha", o->alpha)
    MDL__CHECK(o->lr_decay >= 0, "lr_decay", o->lr_decay)
    MDL__CHECK(o->initial_accumulator_value >= 0, "initial_accumulator_value",
               o->initial_accumulator_value)
    MDL__CHECK(o->beta1 >= 0 && o->beta1 < 1, "beta1", o->beta1)
    MDL__CHECK(o->beta2 >= 0 && o->beta2 < 1, "beta2", o->beta2)
#undef MDL__CHECK
    if (bad) {
        mdl__fail(MDL_ERR_ARG, fn, "invalid %s: %g (%s)", bad, value,
                  bad[0] == 'b' ? "must be in [0, 1)" : "must be >= 0");
        return 0;
    }
    if (o->kind == MDL_SGD && o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
        mdl__fail(MDL_ERR_ARG, fn,
                  "Nesterov momentum requires a momentum and zero dampening (momentum %g, "
                  "dampening %g)", o->momentum, o->dampening);
        return 0;
    }
    return 1;
}

MDLDEF mdl_optim *mdl_optim_new(mdl_params *ps, const mdl_optim_opts *opts) {
    const char *fn = "mdl_optim_new";
    mdl_optim_opts o = opts ? *opts : mdl_optim_defaults(MDL_SGD);
    mdl_optim *opt;
    if (!mdl__optim_opts_ok(fn, &o)) return NULL;
    opt = (mdl_optim *)MINIDL_MALLOC(sizeof(mdl_optim));
    if (!opt) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    memset(opt, 0, sizeof *opt);
    opt->defaults = o;
    opt->state = mdl_params_new();
    if (!opt->state) {
        MINIDL_FREE(opt);
        return NULL;
    }
    if (ps) { /* group 0: every tensor that requires grad */
        int i, n = 0, count = mdl_params_count(ps);
        mdl_tensor **list =
            (mdl_tensor **)MINIDL_MALLOC((size_t)(count ? count : 1) * sizeof(mdl_tensor *));
        if (!list) {
            mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory");
            mdl_optim_free(opt);
            return NULL;
        }
        for (i = 0; i < count; i++)
            if (ps->items[i]->requires_grad) list[n++] = ps->items[i];
        i = mdl_optim_add_group(opt, n, list, &o);
        MINIDL_FREE(list);
        if (i < 0) {
            mdl_optim_free(opt);
            return NULL;
        }
    }
    return opt;
}

MDLDEF mdl_optim *mdl_sgd_new(mdl_params *ps, double lr, double momentum) {
    mdl_optim_opts o = mdl_optim_defaults(MDL_SGD);
    o.lr = lr;
    o.momentum = momentum;
    return mdl_optim_new(ps, &o);
}

MDLDEF mdl_optim *mdl_adam_new(mdl_params *ps, double lr) {
    mdl_optim_opts o = mdl_optim_defaults(MDL_ADAM);
    o.lr = lr;
    return mdl_optim_new(ps, &o);
}

MDLDEF int mdl_optim_add_group(mdl_optim *opt, int n, mdl_tensor *const *tensors,
                               const mdl_optim_opts *opts) {
    const char *fn = "mdl_optim_add_group";
    mdl_optim_opts o;
    mdl__opt_group *groups;
    mdl__opt_slot *slots;
    int i, j;
    if (!opt || (n > 0 && !tensors) || n < 0) {
        mdl__fail(n < 0 ? MDL_ERR_ARG : MDL_ERR_NULL, fn,
                  !opt ? "the optimizer is NULL" : "a group of %d tensors from a NULL list", n);
        return -1;
    }
    o = opts ? *opts : opt->defaults;
    if (!mdl__optim_opts_ok(fn, &o)) return -1;
    if (o.kind != opt->defaults.kind) {
        mdl__fail(MDL_ERR_ARG, fn, "a group of kind %d in an optimizer of kind %d: one optimizer "
                  "applies one rule", (int)o.kind, (int)opt->defaults.kind);
        return -1;
    }
    for (i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "tensors[%d]", i);
        if (!mdl__usable(fn, what, tensors[i])) return -1;
        if (tensors[i]->lifetime != MDL_PERSISTENT) {
            mdl__fail(MDL_ERR_ARG, fn, "tensors[%d] is not a parameter (not from an mdl_params "
                      "set): an optimizer updates persistent tensors only", i);
            return -1;
        }
        for (j = 0; j < opt->nslots; j++)
            if (opt->slots[j].param == tensors[i]) {
                mdl__fail(MDL_ERR_ARG, fn, "tensors[%d] (\"%s\") is already in the optimizer: "
                          "a tensor belongs to one group only", i, tensors[i]->name);
                return -1;
            }
        for (j = 0; j < i; j++)
            if (tensors[j] == tensors[i]) {
                mdl__fail(MDL_ERR_ARG, fn, "tensors[%d] and tensors[%d] are the same tensor "
                          "(\"%s\")", j, i, tensors[i]->name);
                return -1;
            }
    }
    groups = (mdl__opt_group *)MINIDL_MALLOC((size_t)(opt->ngroups + 1) * sizeof *groups);
    slots = (mdl__opt_slot *)MINIDL_MALLOC((size_t)(opt->nslots + n + 1) * sizeof *slots);
    if (!groups || !slots) {
        MINIDL_FREE(groups);
        MINIDL_FREE(slots);
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory");
        return -1;
    }
    if (opt->ngroups) memcpy(groups, opt->groups, (size_t)opt->ngroups * sizeof *groups);
    if (opt->nslots) memcpy(slots, opt->slots, (size_t)opt->nslots * sizeof *slots);
    MINIDL_FREE(opt->groups);
    MINIDL_FREE(opt->slots);
    opt->groups = groups;
    opt->slots = slots;
    groups[opt->ngroups].opts = o;
    groups[opt->ngroups].first = opt->nslots;
    groups[opt->ngroups].count = n;
    for (i = 0; i < n; i++) {
        mdl__opt_slot *s = &slots[opt->nslots + i];
        memset(s, 0, sizeof *s);
        s->param = tensors[i];
        s->index = opt->nslots + i;
    }
    opt->nslots += n;
    return opt->ngroups++;
}

/* The state tensor state.<i>.<key> of a slot, made (zeros, or `init`) the first time. */
static mdl_tensor *mdl__opt_state(mdl_optim *opt, const mdl__opt_slot *s, const char *key,
                                  int scalar, double init, int *made) {
    char name[96];
    mdl_tensor *t;
    snprintf(name, sizeof name, "state.%d.%s", s->index, key);
    t = mdl_params_find(opt->state, name);
    *made = 0;
    if (t) return t;
    t = mdl_params_add_buffer(opt->state, name, scalar ? 0 : s->param->ndim, s->param->shape);
    if (t && init != 0) {
        size_t i;
        for (i = 0; i < t->numel; i++) t->data[i] = (mdl_scalar)init;
    }
    *made = 1;
    return t;
}

/* One parameter's step: its state, this step's constants, then the rule over its blocks. */
static void mdl__opt_update(mdl_optim *opt, mdl__opt_slot *s, const mdl_optim_opts *o) {
    static const mdl__opt_block_fn blocks[] = {NULL, mdl__sgd_block, mdl__adagrad_block,
                                               mdl__rmsprop_block, mdl__adam_block,
                                               mdl__adam_block};
    mdl_tensor *p = s->param;
    mdl_scalar *arrays[MDL__OPT_ARRAYS];
    mdl__opt_k k;
    double t = 0;
    int i, made = 0;
    memset(&k, 0, sizeof k);
    for (i = 0; i < 3; i++) { /* the state, made at the first step that needs it */
        const char *key = mdl__opt_key(o->kind, i, o);
        int fresh = 0;
        arrays[2 + i] = NULL;
        if (!key) continue;
        if (!s->state[i]) /* looked up once, then kept */
            s->state[i] = mdl__opt_state(opt, s, key, 0,
                                         o->kind == MDL_ADAGRAD ? o->initial_accumulator_value : 0,
                                         &fresh);
        if (!s->state[i]) return; /* out of memory, reported */
        if (i == 0) made = fresh;
        arrays[2 + i] = s->state[i]->data;
    }
    if (o->kind != MDL_SGD) { /* the step count t, a scalar tensor as PyTorch keeps it */
        int fresh;
        if (!s->step) s->step = mdl__opt_state(opt, s, "step", 1, 0, &fresh);
        if (!s->step) return;
        s->step->data[0] += 1;
        t = (double)s->step->data[0];
    }
    k.lr = (mdl_scalar)o->lr;
    k.sign = o->maximize ? -1 : 1;
    k.wd = (mdl_scalar)o->weight_decay;
    k.has_wd = o->weight_decay != 0 && o->kind != MDL_ADAMW;
    k.decay = 1;
    k.eps = (mdl_scalar)o->eps;
    switch (o->kind) {
    case MDL_SGD:
        k.mom = (mdl_scalar)o->momentum;
        k.one_minus_damp = (mdl_scalar)(1 - o->dampening);
        k.has_mom = o->momentum != 0;
        k.first = made; /* no momentum buffer yet: it starts as the gradient itself */
        k.nesterov = o->nesterov;
        break;
    case MDL_ADAGRAD: k.lr = (mdl_scalar)(o->lr / (1 + (t - 1) * o->lr_decay)); break;
    case MDL_RMSPROP:
        k.r1 = (mdl_scalar)o->alpha;
        k.one_minus_r1 = (mdl_scalar)(1 - o->alpha);
        k.mom = (mdl_scalar)o->momentum;
        k.has_mom = o->momentum > 0;
        k.centered = o->centered;
        break;
    case MDL_ADAM:
    case MDL_ADAMW:
        if (o->kind == MDL_ADAMW) k.decay = (mdl_scalar)(1 - o->lr * o->weight_decay);
        k.r1 = (mdl_scalar)o->beta1;
        k.one_minus_r1 = (mdl_scalar)(1 - o->beta1);
        k.r2 = (mdl_scalar)o->beta2;
        k.one_minus_r2 = (mdl_scalar)(1 - o->beta2);
        k.lr = (mdl_scalar)(o->lr / (1 - pow(o->beta1, t)));
        k.bc2_sqrt = (mdl_scalar)sqrt(1 - pow(o->beta2, t));
        k.amsgrad = o->amsgrad;
        break;
    }
    arrays[0] = p->data;
    arrays[1] = p->grad;
    mdl__opt_run(blocks[o->kind], &k, p->numel, arrays);
}

MDLDEF void mdl_optim_step(mdl_optim *opt) {
    int g, i;
    if (!opt) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, "mdl_optim_step", "the optimizer is NULL");
        return;
    }
    for (g = 0; g < opt->ngroups; g++) {
        const mdl_optim_opts *o = &opt->groups[g].opts;
        if (!mdl__optim_opts_ok("mdl_optim_step", o)) return; /* changed between steps */
        for (i = 0; i < opt->groups[g].count; i++) {
            mdl__opt_slot *s = &opt->slots[opt->groups[g].first + i];
            if (!s->param->requires_grad || !s->param->grad) continue;
            mdl__opt_update(opt, s, o);
        }
    }
    opt->steps++;
}

MDLDEF void mdl_optim_zero_grad(mdl_optim *opt) {
    int i;
    if (!opt) return;
    for (i = 0; i < opt->nslots; i++) mdl_zero_grad(opt->slots[i].param);
}

MDLDEF int mdl_optim_group_count(const mdl_optim *opt) { return opt ? opt->ngroups : 0; }

MDLDEF mdl_optim_opts *mdl_optim_group(mdl_optim *opt, int g) {
    if (!opt || g < 0 || g >= opt->ngroups) {
        mdl__fail(MDL_ERR_ARG, "mdl_optim_group", "group %d is outside 0..%d", g,
                  opt ? opt->ngroups - 1 : -1);
        return NULL;
    }
    return &opt->groups[g].opts;
}

MDLDEF void mdl_optim_set_lr(mdl_optim *opt, double lr) {
    int g;
    if (!opt) return;
    for (g = 0; g < opt->ngroups; g++) opt->groups[g].opts.lr = lr;
}

MDLDEF long mdl_optim_steps(const mdl_optim *opt) { return opt ? opt->steps : 0; }

MDLDEF mdl_params *mdl_optim_state(mdl_optim *opt) { return opt ? opt->state : NULL; }

MDLDEF void mdl_optim_free(mdl_optim *opt) {
    if (!opt) return;
    mdl_params_free(opt->state);
    MINIDL_FREE(opt->groups);
    MINIDL_FREE(opt->slots);
    MINIDL_FREE(opt);
}

/* ---------------------------------------------------------------------------------------------
   Gradient clipping and penalties
     clip by norm:  n = (sum_i |g_i|^p)^(1/p) over every gradient element of every tensor
                    g = g * min(1, max_norm / (n + 1e-6))       the direction is kept
     clip by value: g = clamp(g, -c, c)                         each element on its own
     L2 penalty:    lambda sum w^2   (gradient 2 lambda w: weight decay)
     L1 penalty:    lambda sum |w|   (gradient lambda sign(w): drives small weights to 0)
   The norm is summed in double: a million squares in float lose the small ones.
   --------------------------------------------------------------------------------------------- */

static double mdl__grad_norm(const mdl_params *ps, double p) {
    double total = 0;
    int i;
    size_t j;
    for (i = 0; ps && i < ps->count; i++) {
        const mdl_tensor *t = ps->items[i];
        if (!t->grad) continue;
        for (j = 0; j < t->numel; j++) {
            double a = fabs((double)t->grad[j]);
            if (isinf(p))
                total = a > total || a != a ? a : total; /* NaN wins, as torch's max */
            else
                total += p == 2 ? a * a : p == 1 ? a : pow(a, p);
        }
    }
    if (isinf(p)) return total;
    return p == 2 ? sqrt(total) : p == 1 ? total : pow(total, 1 / p);
}

MDLDEF double mdl_clip_grad_norm(mdl_params *ps, double max_norm, double norm_type) {
    const char *fn = "mdl_clip_grad_norm";
    double norm, coef;
    int i;
    size_t j;
    if (!ps) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the parameter set is NULL");
        return NAN;
    }
    if (!(norm_type > 0) || !(max_norm >= 0)) {
        mdl__fail(MDL_ERR_ARG, fn, "max_norm %g and norm_type %g: need max_norm >= 0 and "
                  "norm_type > 0 (INFINITY for the largest element)", max_norm, norm_type);
        return NAN;
    }
    norm = mdl__grad_norm(ps, norm_type);
    coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
        mdl_scalar c = (mdl_scalar)coef;
        for (i = 0; i < ps->count; i++) {
            mdl_tensor *t = ps->items[i];
            if (!t->grad) continue;
            for (j = 0; j < t->numel; j++) t->grad[j] *= c;
        }
    }
    return norm;
}

MDLDEF void mdl_clip_grad_value(mdl_params *ps, double clip) {
    mdl_scalar c = (mdl_scalar)clip;
    int i;
    size_t j;
    if (!ps) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(MDL_ERR_NULL, "mdl_clip_grad_value", "the parameter set is NULL");
        return;
    }
    if (!(clip >= 0)) {
        mdl__fail(MDL_ERR_ARG, "mdl_clip_grad_value", "clip %g must be >= 0", clip);
        return;
    }
    for (i = 0; i < ps->count; i++) {
        mdl_tensor *t = ps->items[i];
        if (!t->grad) continue;
        for (j = 0; j < t->numel; j++)
            t->grad[j] = t->grad[j] < -c ? -c : t->grad[j] > c ? c : t->grad[j];
    }
}

MDLDEF double mdl_grad_norm(const mdl_params *ps) { return mdl__grad_norm(ps, 2); }

/* Does the name end in "weight" (fc1.weight, conv.weight; not bias, not a BatchNorm buffer)? */
static int mdl__is_weight(const char *name) {
    size_t n = strlen(name);
    return n >= 6 && strcmp(name + n - 6, "weight") == 0;
}

static mdl_tensor *mdl__penalty(mdl_arena *ar, mdl_params *ps, double lambda, int all, int l1,
                                const char *fn) {
    mdl_tensor *total = NULL;
    int i;
    if (!mdl__usable_arena(fn, ar)) return NULL;
    if (!ps) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the parameter set is NULL");
        return NULL;
    }
    for (i = 0; i < ps->count; i++) {
        mdl_tensor *w = ps->items[i], *term;
        if (!w->requires_grad || (!all && !mdl__is_weight(w->name))) continue;
        term = mdl_sum(ar, l1 ? mdl_abs(ar, w) : mdl_mul(ar, w, w), MDL_ALL, 0);
        total = total ? mdl_add(ar, total, term) : term;
    }
    if (!total) return mdl_zeros(ar, 0, NULL);
    return mdl_mul_scalar(ar, total, (mdl_scalar)lambda);
}

MDLDEF mdl_tensor *mdl_l2_penalty(mdl_arena *ar, mdl_params *ps, double lambda, int all) {
    return mdl__penalty(ar, ps, lambda, all, 0, "mdl_l2_penalty");
}

MDLDEF mdl_tensor *mdl_l1_penalty(mdl_arena *ar, mdl_params *ps, double lambda, int all) {
    return mdl__penalty(ar, ps, lambda, all, 1, "mdl_l1_penalty");
}

/* ---------------------------------------------------------------------------------------------
   Learning-rate schedules: the lr as a function of the step count t (epochs or batches)
     STEP         lr gamma^floor(t / step_size)
     MULTISTEP    lr gamma^(number of milestones <= t)
     EXPONENTIAL  lr gamma^t
     COSINE       eta_min + (lr - eta_min) (1 + cos(pi t / t_max)) / 2
     ONE_CYCLE    a half cosine from max_lr / div_factor up to max_lr over the first
                  pct_start * total_steps - 1 steps, another down to that / final_div_factor
                  by step total_steps - 1 (momentum moves the other way)
     warm-up      lr (f + (1 - f) t / warmup_steps) for t < warmup_steps, then the schedule
                  with t - warmup_steps
     PLATEAU      lr factor when the metric has not improved for more than `patience` steps
   Large steps early explore; small steps late settle into a minimum. A warm-up avoids the
   large first updates Adam makes while its running means know little.
   PyTorch computes most of these step by step (lr_t from lr_{t-1}); the closed forms here give
   the same values to rounding (about 1e-16 relative).
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_schedule_opts mdl_schedule_defaults(mdl_schedule_kind kind) {
    mdl_schedule_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.gamma = 0.1;
    o.pct_start = 0.3;
    o.div_factor = 25;
    o.final_div_factor = 1e4;
    o.cycle_momentum = 1;
    o.base_momentum = 0.85;
    o.max_momentum = 0.95;
    o.factor = 0.1;
    o.patience = 10;
    o.threshold = 1e-4;
    o.warmup_start_factor = 1.0 / 3;
    return o;
}

static int mdl__schedule_ok(const char *fn, const mdl_schedule_opts *o) {
    const char *why = NULL;
    int i;
    if (!o) {
        mdl__fail(MDL_ERR_NULL, fn, "the schedule's options are NULL");
        return 0;
    }
    switch (o->kind) {
    case MDL_LR_CONSTANT: break;
    case MDL_LR_STEP:
        if (o->step_size <= 0) why = "STEP needs step_size > 0";
        break;
    case MDL_LR_MULTISTEP:
        if (o->num_milestones < 0 || o->num_milestones > 16)
            why = "MULTISTEP needs 0 <= num_milestones <= 16";
        for (i = 1; !why && i < o->num_milestones; i++)
            if (o->milestones[i] <= o->milestones[i - 1]) why = "milestones must increase";
        break;
    case MDL_LR_EXPONENTIAL: break;
    case MDL_LR_COSINE:
        if (o->t_max <= 0) why = "COSINE needs t_max > 0";
        break;
    case MDL_LR_ONE_CYCLE:
        if (o->total_steps <= 0) why = "ONE_CYCLE needs total_steps > 0";
        else if (!(o->pct_start > 0 && o->pct_start < 1)) why = "pct_start must be in (0, 1)";
        else if (!(o->div_factor > 0 && o->final_div_factor > 0))
            why = "div_factor and final_div_factor must be > 0";
        break;
    case MDL_LR_PLATEAU:
        if (!(o->factor >= 0 && o->factor < 1)) why = "PLATEAU needs 0 <= factor < 1";
        else if (o->patience < 0 || o->cooldown < 0) why = "patience and cooldown must be >= 0";
        break;
    default:
        mdl__fail(MDL_ERR_ARG, fn, "kind %d is not a schedule (MDL_LR_CONSTANT ... "
                  "MDL_LR_PLATEAU)", (int)o->kind);
        return 0;
    }
    if (!why && o->warmup_steps < 0) why = "warmup_steps must be >= 0";
    if (why) {
        mdl__fail(MDL_ERR_ARG, fn, "%s", why);
        return 0;
    }
    return 1;
}

/* ONE_CYCLE at step t: the lr (and in *momentum the momentum) from a peak lr max_lr. */
static double mdl__one_cycle(const mdl_schedule_opts *o, double max_lr, long t, double *momentum) {
    double initial = max_lr / o->div_factor, min_lr = initial / o->final_div_factor;
    double up_end = o->pct_start * (double)o->total_steps - 1, end = (double)o->total_steps - 1;
    double pct, c;
    if ((double)t <= up_end) { /* rising: initial -> max_lr, momentum max -> base */
        pct = (double)t / up_end;
        c = cos(MDL__PI * pct) + 1;
        if (momentum) *momentum = o->base_momentum + (o->max_momentum - o->base_momentum) / 2 * c;
        return max_lr + (initial - max_lr) / 2 * c;
    }
    pct = ((double)t - up_end) / (end - up_end); /* falling: max_lr -> min_lr, momentum back up */
    c = cos(MDL__PI * pct) + 1;
    if (momentum) *momentum = o->max_momentum + (o->base_momentum - o->max_momentum) / 2 * c;
    return min_lr + (max_lr - min_lr) / 2 * c;
}

/* The closed form without the checks. */
static double mdl__schedule_lr(const mdl_schedule_opts *o, double lr, long t) {
    long passed = 0;
    int i;
    if (o->warmup_steps > 0 && o->kind != MDL_LR_PLATEAU) {
        if (t < o->warmup_steps) {
            double f = o->warmup_start_factor;
            return lr * (f + (1 - f) * (double)t / (double)o->warmup_steps);
        }
        t -= o->warmup_steps;
    }
    switch (o->kind) {
    case MDL_LR_STEP: return lr * pow(o->gamma, (double)(t / o->step_size));
    case MDL_LR_MULTISTEP:
        for (i = 0; i < o->num_milestones; i++) passed += o->milestones[i] <= t;
        return lr * pow(o->gamma, (double)passed);
    case MDL_LR_EXPONENTIAL: return lr * pow(o->gamma, (double)t);
    case MDL_LR_COSINE:
        return o->eta_min +
               (lr - o->eta_min) * (1 + cos(MDL__PI * (double)t / (double)o->t_max)) / 2;
    case MDL_LR_ONE_CYCLE: return mdl__one_cycle(o, o->max_lr > 0 ? o->max_lr : lr, t, NULL);
    default: return lr;
    }
}

MDLDEF double mdl_schedule_lr(const mdl_schedule_opts *opts, double base_lr, long t) {
    if (!mdl__schedule_ok("mdl_schedule_lr", opts)) return NAN;
    if (t < 0) {
        mdl__fail(MDL_ERR_ARG, "mdl_schedule_lr", "step %ld is negative", t);
        return NAN;
    }
    return mdl__schedule_lr(opts, base_lr, t);
}

struct mdl_scheduler {
    mdl_optim *opt;
    mdl_schedule_opts o;
    double *base_lrs; /* each group's lr when the schedule was attached */
    long t;
    double best;      /* PLATEAU: the best metric so far */
    int bad, cooldown; /* PLATEAU: steps without improvement; steps left to wait */
};

/* Set every group's lr (and ONE_CYCLE's momentum) for the scheduler's t. */
static void mdl__scheduler_apply(mdl_scheduler *sch) {
    int g;
    for (g = 0; g < sch->opt->ngroups; g++) {
        mdl_optim_opts *o = &sch->opt->groups[g].opts;
        if (sch->o.kind == MDL_LR_ONE_CYCLE) {
            double momentum = 0;
            double peak = sch->o.max_lr > 0 ? sch->o.max_lr : sch->base_lrs[g];
            long t = sch->t - sch->o.warmup_steps;
            if (t < 0) {
                o->lr = mdl__schedule_lr(&sch->o, peak, sch->t);
                continue;
            }
            o->lr = mdl__one_cycle(&sch->o, peak, t, &momentum);
            if (sch->o.cycle_momentum) {
                if (o->kind == MDL_ADAM || o->kind == MDL_ADAMW)
                    o->beta1 = momentum;
                else
                    o->momentum = momentum;
            }
        } else if (sch->o.kind != MDL_LR_PLATEAU) {
            o->lr = mdl__schedule_lr(&sch->o, sch->base_lrs[g], sch->t);
        }
    }
}

MDLDEF mdl_scheduler *mdl_scheduler_new(mdl_optim *opt, const mdl_schedule_opts *opts) {
    const char *fn = "mdl_scheduler_new";
    mdl_scheduler *sch;
    int g;
    if (!opt) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the optimizer is NULL");
        return NULL;
    }
    if (!mdl__schedule_ok(fn, opts)) return NULL;
    if (opts->kind == MDL_LR_ONE_CYCLE && opts->cycle_momentum &&
        opt->defaults.kind == MDL_ADAGRAD) {
        mdl__fail(MDL_ERR_ARG, fn, "cycle_momentum needs an optimizer with a momentum or beta1 "
                  "(AdaGrad has neither): set cycle_momentum = 0");
        return NULL;
    }
    sch = (mdl_scheduler *)MINIDL_MALLOC(sizeof(mdl_scheduler));
    if (sch)
        sch->base_lrs =
            (double *)MINIDL_MALLOC((size_t)(opt->ngroups ? opt->ngroups : 1) * sizeof(double));
    if (!sch || !sch->base_lrs) {
        MINIDL_FREE(sch);
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    sch->opt = opt;
    sch->o = *opts;
    sch->t = 0;
    sch->best = opts->mode_max ? -INFINITY : INFINITY;
    sch->bad = sch->cooldown = 0;
    for (g = 0; g < opt->ngroups; g++) sch->base_lrs[g] = opt->groups[g].opts.lr;
    mdl__scheduler_apply(sch);
    return sch;
}

MDLDEF void mdl_scheduler_set_t(mdl_scheduler *sch, long t) {
    if (!sch) return;
    if (t < 0 || (sch->o.kind == MDL_LR_ONE_CYCLE && t > sch->o.total_steps + sch->o.warmup_steps)) {
        mdl__fail(MDL_ERR_ARG, "mdl_scheduler_step",
                  "step %ld is outside the schedule (ONE_CYCLE's total_steps is %ld: "
                  "it has no lr beyond them)", t, sch->o.total_steps);
        return;
    }
    sch->t = t;
    mdl__scheduler_apply(sch);
}

MDLDEF void mdl_scheduler_step(mdl_scheduler *sch) {
    if (!sch) return;
    mdl_scheduler_set_t(sch, sch->t + 1);
}

/* ReduceLROnPlateau: count the steps since the metric last improved by more than the relative
   threshold; after more than `patience` of them, multiply every lr by `factor` (not below
   min_lr) and wait `cooldown` steps before counting again. */
MDLDEF void mdl_scheduler_step_metric(mdl_scheduler *sch, double metric) {
    int g, better;
    if (!sch) return;
    if (sch->o.kind != MDL_LR_PLATEAU) {
        mdl_scheduler_step(sch);
        return;
    }
    sch->t++;
    better = sch->o.mode_max ? metric > sch->best * (1 + sch->o.threshold)
                             : metric < sch->best * (1 - sch->o.threshold);
    if (better) {
        sch->best = metric;
        sch->bad = 0;
    } else {
        sch->bad++;
    }
    if (sch->cooldown > 0) {
        sch->cooldown--;
        sch->bad = 0;
    }
    if (sch->bad > sch->o.patience) {
        for (g = 0; g < sch->opt->ngroups; g++) {
            mdl_optim_opts *o = &sch->opt->groups[g].opts;
            double lr = o->lr * sch->o.factor;
            if (lr < sch->o.min_lr) lr = sch->o.min_lr;
            if (o->lr - lr > 1e-8) o->lr = lr; /* PyTorch's eps: ignore negligible changes */
        }
        sch->cooldown = sch->o.cooldown;
        sch->bad = 0;
    }
}

MDLDEF long mdl_scheduler_t(const mdl_scheduler *sch) { return sch ? sch->t : 0; }

MDLDEF double mdl_scheduler_lr(const mdl_scheduler *sch) {
    return sch && sch->opt->ngroups ? sch->opt->groups[0].opts.lr : NAN;
}

MDLDEF void mdl_scheduler_free(mdl_scheduler *sch) {
    if (!sch) return;
    MINIDL_FREE(sch->base_lrs);
    MINIDL_FREE(sch);
}

// >>data

/* ---------------------------------------------------------------------------------------------
   Data sets                          x [N, ...]   y [N] or [N, ...] (or none)   ids [N]
   A data set is a table of N rows: row i is the features x[i] and the target y[i]. Both are
   row-major, so a row is one contiguous run of values (x's row has x.shape[1] * ... values),
   and everything below moves whole rows: memcpy for a copy or a shuffle, a pointer for a
   mini-batch. The tensors are copied into a parameter set of the data set's own, so that one
   call, mdl_dataset_free, frees everything whatever x and y came from (an arena reset right
   after, a loader, a wrapped buffer), and so that a model's parameter set, which a checkpoint
   saves, never holds a copy of the data. ids[i] is the row of the original tensors that row i
   is: shuffles, subsets and splits carry it along, so a row can always be traced back.
   --------------------------------------------------------------------------------------------- */

/* Values in one row of a data set's tensor [N, ...]: the product of shape[1:]. */
static size_t mdl__row_numel(const mdl_tensor *t) {
    size_t m = 1;
    int d;
    for (d = 1; d < t->ndim; d++) m *= (size_t)t->shape[d];
    return m;
}

/* A uniform integer in 0..n-1 (n >= 1). r % n alone would favour the small values when 2^32
   is not a multiple of n; dropping the 2^32 mod n lowest draws leaves a multiple of n. */
static uint32_t mdl__rng_below(mdl_rng *rng, uint32_t n) {
    uint32_t threshold = (0u - n) % n; /* (2^32 - n) mod n == 2^32 mod n */
    for (;;) {
        uint32_t r = mdl_rng_u32(rng);
        if (r >= threshold) return r % n;
    }
}

/* Fisher-Yates: for i from n-1 down to 1, swap a[i] with a[j], j uniform in 0..i. Each of the
   n! orders comes out with the same probability. */
static void mdl__shuffle_ints(int *a, int n, mdl_rng *rng) {
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)mdl__rng_below(rng, (uint32_t)i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* An array of count (>= 0) items of `size` bytes from MINIDL_MALLOC, the product checked;
   NULL (MDL_ERR_NOMEM, in fn's name) if it does not fit or memory runs out. */
static void *mdl__array(const char *fn, size_t count, size_t size) {
    void *a;
    if (count > ((size_t)-1 - MDL__ALIGN) / size) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "%zu items of %zu bytes do not fit in memory", count,
                       size);
        return NULL;
    }
    a = MINIDL_MALLOC((count ? count : 1) * size);
    if (!a) mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for %zu items of %zu bytes", count,
                           size);
    return a;
}

static int *mdl__ints(const char *fn, size_t n) { return (int *)mdl__array(fn, n, sizeof(int)); }

MDLDEF void mdl_dataset_free(mdl_dataset *ds) {
    if (!ds) return;
    mdl_params_free(ds->storage);
    MINIDL_FREE(ds->ids);
    MINIDL_FREE(ds);
}

/* A data set of n rows shaped like x's and y's rows (y may be NULL), values not yet set. */
static mdl_dataset *mdl__dataset_alloc(const char *fn, int n, const mdl_tensor *x,
                                       const mdl_tensor *y) {
    int shape[MDL_MAX_DIMS];
    mdl_dataset *ds = (mdl_dataset *)MINIDL_MALLOC(sizeof(mdl_dataset));
    if (!ds) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a data set");
        return NULL;
    }
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->ids = mdl__ints(fn, (size_t)n);
    ds->storage = ds->ids ? mdl_params_new() : NULL;
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = n;
    if (ds->storage) ds->x = mdl_params_add_buffer(ds->storage, "x", x->ndim, shape);
    if (ds->x && y) {
        int ys[MDL_MAX_DIMS];
        memcpy(ys, y->shape, sizeof ys);
        ys[0] = n;
        ds->y = mdl_params_add_buffer(ds->storage, "y", y->ndim, ys);
    }
    if (!ds->x || (y && !ds->y)) { /* out of memory: say so in fn's name, for the caller */
        char bx[96];
        mdl_dataset_free(ds);
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a data set x %s%s",
                       mdl__shape_fmt(x->ndim, shape, bx, sizeof bx),
                       y ? " with its targets" : "");
        return NULL;
    }
    return ds;
}

MDLDEF mdl_dataset *mdl_dataset_new(const mdl_tensor *x, const mdl_tensor *y) {
    const char *fn = "mdl_dataset_new";
    char bx[96], by[96];
    mdl_dataset *ds;
    int i;
    if (!mdl__usable(fn, "x", x) || (y && !mdl__usable(fn, "y", y))) return NULL;
    if (x->ndim < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s is a scalar: a data set needs rows, x [N, ...]",
                  mdl_shape_str(x, bx, sizeof bx));
        return NULL;
    }
    if (y && (y->ndim < 1 || y->shape[0] != x->shape[0])) {
        mdl_shape_str(x, bx, sizeof bx);
        mdl_shape_str(y, by, sizeof by);
        if (y->ndim < 1)
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s and y %s: y is a scalar; a data set needs one "
                      "target per row, y [N] or [N, ...]", bx, by);
        else
            mdl__fail(MDL_ERR_SHAPE, fn, "x %s and y %s: x.shape[0]=%d != y.shape[0]=%d (a "
                      "data set needs one target per row)", bx, by, x->shape[0], y->shape[0]);
        return NULL;
    }
    ds = mdl__dataset_alloc(fn, x->shape[0], x, y);
    if (!ds) return NULL;
    if (x->numel) memcpy(ds->x->data, x->data, x->numel * sizeof(mdl_scalar));
    if (y && y->numel) memcpy(ds->y->data, y->data, y->numel * sizeof(mdl_scalar));
    for (i = 0; i < ds->n; i++) ds->ids[i] = i;
    return ds;
}

/* Is ds a data set `fn` can use? A NULL after an earlier error is passed on quietly. */
static int mdl__dataset_usable(const char *fn, const mdl_dataset *ds) {
    if (!ds) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the data set is NULL");
        return 0;
    }
    return mdl__usable(fn, "the data set's x", ds->x) &&
           (!ds->y || mdl__usable(fn, "the data set's y", ds->y));
}

/* The rows `rows` of ds (checked by the caller), copied into a new data set. */
static mdl_dataset *mdl__dataset_rows(const char *fn, const mdl_dataset *ds, int n,
                                      const int *rows) {
    size_t rx = mdl__row_numel(ds->x), ry = ds->y ? mdl__row_numel(ds->y) : 0;
    mdl_dataset *sub = mdl__dataset_alloc(fn, n, ds->x, ds->y);
    int i;
    if (!sub) return NULL;
    for (i = 0; i < n; i++) {
        size_t r = (size_t)rows[i];
        memcpy(sub->x->data + (size_t)i * rx, ds->x->data + r * rx, rx * sizeof(mdl_scalar));
        if (ry)
            memcpy(sub->y->data + (size_t)i * ry, ds->y->data + r * ry, ry * sizeof(mdl_scalar));
        sub->ids[i] = ds->ids[r];
    }
    return sub;
}

MDLDEF mdl_dataset *mdl_dataset_subset(const mdl_dataset *ds, int n, const int *rows) {
    const char *fn = "mdl_dataset_subset";
    int i;
    if (!mdl__dataset_usable(fn, ds)) return NULL;
    if (n < 0 || (n > 0 && !rows)) {
        if (n < 0)
            mdl__fail(MDL_ERR_SIZE, fn, "n = %d rows: must be 0 or more", n);
        else
            mdl__fail(MDL_ERR_NULL, fn, "rows is NULL for n = %d rows", n);
        return NULL;
    }
    for (i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= ds->n) {
            mdl__fail(MDL_ERR_ARG, fn, "rows[%d] = %d is outside 0..%d (the data set has %d "
                      "rows)", i, rows[i], ds->n - 1, ds->n);
            return NULL;
        }
    return mdl__dataset_rows(fn, ds, n, rows);
}

/* Copy row `from` of t [N, ...] (`row` values) to row `to`, or to/from a buffer. */
static void mdl__row_copy(mdl_scalar *dst, const mdl_scalar *src, size_t row) {
    if (row) memcpy(dst, src, row * sizeof(mdl_scalar));
}

MDLDEF mdl_error mdl_dataset_shuffle(mdl_dataset *ds, mdl_rng *rng) {
    const char *fn = "mdl_dataset_shuffle";
    size_t rx, ry;
    int *perm, i, id;
    mdl_scalar *tmp;
    if (!mdl__dataset_usable(fn, ds)) return mdl__last_code;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, fn, "rng is NULL");
        return MDL_ERR_NULL;
    }
    rx = mdl__row_numel(ds->x);
    ry = ds->y ? mdl__row_numel(ds->y) : 0;
    perm = mdl__ints(fn, (size_t)ds->n);
    tmp = perm ? (mdl_scalar *)mdl__array(fn, rx + ry, sizeof(mdl_scalar)) : NULL;
    if (!tmp) {
        MINIDL_FREE(perm);
        return mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a row and %d ints: the "
                              "data set is not shuffled", ds->n);
    }
    /* The new order: row k of the shuffled data set is row perm[k] of the old one. */
    for (i = 0; i < ds->n; i++) perm[i] = i;
    mdl__shuffle_ints(perm, ds->n, rng);
    /* Move the rows there in place, one cycle of perm at a time: row k takes the values of row
       perm[k], which takes those of perm[perm[k]], ... until the cycle comes back to where it
       began, whose values wait in tmp. Each row is read and written once (swapping rows as
       Fisher-Yates draws them moves each row twice: bench/bench_data.c measured 62 ms against
       30 ms for MNIST's 188 MB); perm[k] = k marks row k done. */
    for (i = 0; i < ds->n; i++) {
        int k = i;
        if (perm[i] == i) continue;
        mdl__row_copy(tmp, ds->x->data + (size_t)i * rx, rx);
        if (ry) mdl__row_copy(tmp + rx, ds->y->data + (size_t)i * ry, ry);
        id = ds->ids[i];
        for (;;) {
            int next = perm[k];
            perm[k] = k;
            if (next == i) break;
            mdl__row_copy(ds->x->data + (size_t)k * rx, ds->x->data + (size_t)next * rx, rx);
            if (ry)
                mdl__row_copy(ds->y->data + (size_t)k * ry, ds->y->data + (size_t)next * ry, ry);
            ds->ids[k] = ds->ids[next];
            k = next;
        }
        mdl__row_copy(ds->x->data + (size_t)k * rx, tmp, rx);
        if (ry) mdl__row_copy(ds->y->data + (size_t)k * ry, tmp + rx, ry);
        ds->ids[k] = id;
    }
    MINIDL_FREE(perm);
    MINIDL_FREE(tmp);
    return MDL_OK;
}

/* ---------------------------------------------------------------------------------------------
   Splits: train / validation / test
   A model is judged on rows it never trained on: the test part is the exam, the validation
   part is the mock exam used to choose settings (epochs, learning rate, size), the training
   part is what it learns from. Files are often sorted (by class, by date), so the rows are
   shuffled before they are cut; the generator is the caller's, so a seed gives the same split.
   Part sizes, PyTorch's rule (torch.utils.data.random_split):
     counts:    used as they are (they must add up to N)
     fractions: T_p = floor(N f_p), then the R = N - sum T_p rows left over go one each to
                parts 0, 1, ..., R-1 (R < number of parts)
   Stratified (sklearn's stratify=y): class c, with n_c of the N rows, should put its share
     t_cp = n_c T_p / N   rows into part p
   into every part. t_cp is rarely whole, and rounding class by class goes wrong: cut 70/15/15,
   a class of 10 rows has shares 7, 1.5, 1.5; rounded on their own they make 11 rows, and
   rounding the class's cut points (at 7 and 8.5) gives 7, 2, 1 to every class alike, so 10
   such classes make parts of 70, 20 and 10 rows. Instead each share is rounded down,
   M_cp = floor(t_cp), and the rows still to place (n_c - sum_p M_cp for class c, T_p - sum_c
   M_cp for part p) go one by one, each to a part where its class's share was not whole and
   that still has room. The t_cp add up to whole numbers both ways (n_c and T_p), so their
   fractional parts are a "fractional" way to do this placement, and then a whole one exists
   (a transportation problem with whole totals has whole solutions); an augmenting path, as in
   bipartite matching or max-flow, finds it: when every part open to a class is full, a class
   placed in one of them earlier moves on to another part, making room. Then every M_cp is
   floor(t_cp) or floor(t_cp) + 1, and every part has exactly T_p rows.
   --------------------------------------------------------------------------------------------- */

/* The part sizes T_p from fractions or counts, as documented at mdl_dataset_split. */
static int mdl__part_sizes(const char *fn, int n, int n_parts, const double *sizes, int *T) {
    double sum = 0;
    long long total = 0;
    int p, whole = 1;
    for (p = 0; p < n_parts; p++) {
        if (!(sizes[p] >= 0) || !isfinite(sizes[p])) {
            mdl__fail(MDL_ERR_ARG, fn, "sizes[%d] = %g: a size must be a number, 0 or more", p,
                      sizes[p]);
            return 0;
        }
        if (sizes[p] != floor(sizes[p]) || sizes[p] > (double)n) whole = 0;
        sum += sizes[p];
    }
    if (whole && sum == (double)n) { /* row counts */
        for (p = 0; p < n_parts; p++) T[p] = (int)sizes[p];
        return 1;
    }
    if (fabs(sum - 1) > 1e-9) {
        mdl__fail(MDL_ERR_ARG, fn, "the %d sizes add up to %.12g: give fractions that add up to "
                  "1, or whole row counts that add up to the data set's N = %d", n_parts, sum, n);
        return 0;
    }
    for (p = 0; p < n_parts; p++) {
        double v = (double)n * sizes[p];
        T[p] = (int)floor(v + v * 1e-12); /* 0.29 * 100 = 28.999999999999996 counts as 29 */
        total += T[p];
    }
    /* fractions a hair over 1 may floor to one row too many: take it from the last part */
    for (p = n_parts - 1; total > n && p >= 0; p--)
        while (total > n && T[p] > 0) T[p]--, total--;
    for (p = 0; total < n; p = (p + 1) % n_parts) T[p]++, total++; /* the rest, in turn */
    return 1;
}

/* One more row of class c into some part (the augmenting path of the stratified split): a
   part open to c (its share there not whole, and not rounded up yet) with room, or a full one
   where another class c2 was rounded up and can move its row on. seen marks the parts this
   search has tried. up[c*P+p] = 1: class c's share in part p is rounded up. */
static int mdl__stratify_place(int c, int K, int P, const unsigned char *open,
                               unsigned char *up, int *room, unsigned char *seen) {
    int p, c2;
    for (p = 0; p < P; p++) {
        if (!open[c * P + p] || up[c * P + p] || seen[p]) continue;
        seen[p] = 1;
        if (room[p] > 0) {
            room[p]--;
            up[c * P + p] = 1;
            return 1;
        }
        for (c2 = 0; c2 < K; c2++)
            if (up[c2 * P + p] && mdl__stratify_place(c2, K, P, open, up, room, seen)) {
                up[c2 * P + p] = 0; /* c2 moved on; its place in p goes to c */
                up[c * P + p] = 1;
                return 1;
            }
    }
    return 0;
}

/* (class, row) pairs, sorted by class then row: each class's rows in one run. */
typedef struct mdl__class_row {
    int cls, row;
} mdl__class_row;

static int mdl__class_row_cmp(const void *a, const void *b) {
    const mdl__class_row *u = (const mdl__class_row *)a, *v = (const mdl__class_row *)b;
    if (u->cls != v->cls) return u->cls < v->cls ? -1 : 1;
    return u->row < v->row ? -1 : u->row > v->row;
}

/* Stratified: fill order[] with the rows of part 0, then part 1, ..., each part T_p long. */
static int mdl__stratified_order(const char *fn, const mdl_dataset *ds, int P, const int *T,
                                 mdl_rng *rng, int *order) {
    int n = ds->n, K = 0, i, c, p, ok = 0;
    mdl__class_row *cr = NULL;
    int *start = NULL, *rows = NULL, *M = NULL, *room = NULL, *fill = NULL;
    unsigned char *open = NULL, *up = NULL, *seen = NULL;
    char by[96];
    if (!ds->y || ds->y->numel != (size_t)n) {
        if (ds->y)
            mdl__fail(MDL_ERR_SHAPE, fn, "stratify needs one class index per row, but y is %s "
                      "for %d rows", mdl_shape_str(ds->y, by, sizeof by), n);
        else
            mdl__fail(MDL_ERR_ARG, fn, "stratify needs class indices in y, and the data set "
                      "has no y");
        return 0;
    }
    for (i = 0; i < n; i++) { /* the index-tensor convention: whole numbers, here below 2^24 */
        double v = (double)ds->y->data[i];
        if (!(v == floor(v) && v >= 0 && v < 16777216.0)) {
            mdl__fail(MDL_ERR_ARG, fn, "y %s: row %d's target is %g; stratify needs class "
                      "indices, whole numbers 0..16777215", mdl_shape_str(ds->y, by, sizeof by),
                      i, v);
            return 0;
        }
    }
    cr = (mdl__class_row *)mdl__array(fn, (size_t)n, sizeof(mdl__class_row));
    start = mdl__ints(fn, (size_t)n + 1);
    rows = mdl__ints(fn, (size_t)n);
    fill = mdl__ints(fn, (size_t)P);
    if (!cr || !start || !rows || !fill) goto done;
    /* sort the rows by class (then by row, so the result does not depend on qsort's order) */
    for (i = 0; i < n; i++) cr[i].cls = (int)ds->y->data[i], cr[i].row = i;
    qsort(cr, (size_t)n, sizeof *cr, mdl__class_row_cmp);
    for (i = 0; i < n; i++) { /* class c's rows are rows[start[c]] .. rows[start[c+1]-1] */
        if (i == 0 || cr[i].cls != cr[i - 1].cls) start[K++] = i;
        rows[i] = cr[i].row;
    }
    start[K] = n;
    if ((size_t)K > ((size_t)-1 / sizeof(int)) / (size_t)P) { /* K * P ints must fit */
        mdl__env_error(MDL_ERR_NOMEM, fn, "%d classes in %d parts do not fit in memory", K, P);
        goto done;
    }
    M = mdl__ints(fn, (size_t)K * (size_t)P);
    room = mdl__ints(fn, (size_t)P);
    open = (unsigned char *)mdl__array(fn, (size_t)K * (size_t)P, 1);
    up = (unsigned char *)mdl__array(fn, (size_t)K * (size_t)P, 1);
    seen = (unsigned char *)mdl__array(fn, (size_t)P, 1);
    if (!M || !room || !open || !up || !seen) goto done;
    /* the floors of the shares t_cp = n_c T_p / N, in integers: exact */
    for (p = 0; p < P; p++) room[p] = T[p];
    for (c = 0; c < K; c++)
        for (p = 0; p < P; p++) {
            long long share = (long long)(start[c + 1] - start[c]) * T[p];
            M[c * P + p] = (int)(share / n);
            open[c * P + p] = share % n != 0;
            up[c * P + p] = 0;
            room[p] -= M[c * P + p];
        }
    /* the rows each class has left over, one at a time, each along an augmenting path */
    for (c = 0; c < K; c++) {
        int left = start[c + 1] - start[c];
        for (p = 0; p < P; p++) left -= M[c * P + p];
        while (left-- > 0) {
            memset(seen, 0, (size_t)P);
            if (!mdl__stratify_place(c, K, P, open, up, room, seen)) {
                /* cannot happen: a whole placement always exists (see the banner) */
                mdl__fail(MDL_ERR_GRAPH, fn, "minidl's own error: no place for a row of class "
                          "%d in the stratified split; please report it", cr[start[c]].cls);
                MINIDL_ASSERT(0);
                goto done;
            }
        }
    }
    /* deal each class's rows, shuffled, into the parts: M_cp (+ 1 if rounded up) to part p */
    for (p = 0, i = 0; p < P; i += T[p], p++) fill[p] = i;
    for (c = 0; c < K; c++) {
        int k = start[c];
        mdl__shuffle_ints(rows + k, start[c + 1] - k, rng);
        for (p = 0; p < P; p++) {
            int m = M[c * P + p] + up[c * P + p];
            memcpy(order + fill[p], rows + k, (size_t)m * sizeof(int));
            fill[p] += m;
            k += m;
        }
    }
    /* and mix the classes within each part */
    for (p = 0, i = 0; p < P; i += T[p], p++) mdl__shuffle_ints(order + i, T[p], rng);
    ok = 1;
done:
    MINIDL_FREE(cr);
    MINIDL_FREE(start);
    MINIDL_FREE(rows);
    MINIDL_FREE(M);
    MINIDL_FREE(room);
    MINIDL_FREE(fill);
    MINIDL_FREE(open);
    MINIDL_FREE(up);
    MINIDL_FREE(seen);
    return ok;
}

MDLDEF int mdl_dataset_split(const mdl_dataset *ds, int n_parts, const double *sizes,
                             int stratify, mdl_rng *rng, mdl_dataset **parts) {
    const char *fn = "mdl_dataset_split";
    int *T = NULL, *order = NULL, p, i, ok = 0;
    if (parts)
        for (p = 0; p < n_parts; p++) parts[p] = NULL;
    if (!mdl__dataset_usable(fn, ds)) return 0;
    if (!sizes || !rng || !parts) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !sizes ? "sizes" : !rng ? "rng" : "parts");
        return 0;
    }
    if (n_parts < 1) {
        mdl__fail(MDL_ERR_ARG, fn, "n_parts = %d: a split needs at least 1 part", n_parts);
        return 0;
    }
    T = mdl__ints(fn, (size_t)n_parts);
    order = mdl__ints(fn, (size_t)ds->n);
    if (!T || !order || !mdl__part_sizes(fn, ds->n, n_parts, sizes, T)) goto done;
    if (stratify) {
        if (!mdl__stratified_order(fn, ds, n_parts, T, rng, order)) goto done;
    } else { /* a random order, cut into consecutive parts */
        for (i = 0; i < ds->n; i++) order[i] = i;
        mdl__shuffle_ints(order, ds->n, rng);
    }
    for (p = 0, i = 0; p < n_parts; i += T[p], p++) {
        parts[p] = mdl__dataset_rows(fn, ds, T[p], order + i);
        if (!parts[p]) {
            while (p-- > 0) {
                mdl_dataset_free(parts[p]);
                parts[p] = NULL;
            }
            goto done;
        }
    }
    ok = 1;
done:
    MINIDL_FREE(T);
    MINIDL_FREE(order);
    return ok ? n_parts : 0;
}

/* ---------------------------------------------------------------------------------------------
   Mini-batches                                    batch b: rows b*B .. b*B+B-1 of the data set
   Training takes one gradient step per mini-batch of B rows rather than per whole data set:
   many cheap, noisy steps go further than a few exact ones, and memory holds one batch at a
   time. A new order each epoch keeps the batches from repeating, so their noise averages out.
   How a batch is made: the data set's rows are reshuffled in place at the start of each epoch
   (mdl_dataset_shuffle), and batch b is then rows b*B .. b*B+B-1, which are contiguous in
   memory: xb and yb are views, two headers in the arena pointing into the data set, so that
   mdl_arena_reset frees them with the step and no row is ever copied into a batch. The other
   way, PyTorch's, keeps the data set as it is, shuffles a list of row numbers and copies each
   batch's rows into the arena: it moves as many bytes per epoch (each row read and written
   once), but needs a batch of arena memory and a list that the iterator would own and someone
   would have to free. bench/bench_data.c, on MNIST's 60000 x 784 values (188 MB), batches of
   64, one thread: the in-place shuffle 30 ms an epoch, the gathers 27 ms, handing out the
   views 0.2 ms, against 380 ms for an epoch of even a small MLP (784-128-10) on those batches.
   (Swapping rows as Fisher-Yates draws them moves each row twice: 62 ms.)
   --------------------------------------------------------------------------------------------- */

MDLDEF int mdl_batches_init(mdl_batches *it, mdl_dataset *ds, int batch_size, int shuffle,
                            int drop_last, mdl_rng *rng) {
    const char *fn = "mdl_batches_init";
    if (!it) {
        mdl__fail(MDL_ERR_NULL, fn, "it is NULL");
        return 0;
    }
    memset(it, 0, sizeof *it);
    it->row = -1;
    if (!mdl__dataset_usable(fn, ds)) return 0;
    if (batch_size < 1) {
        mdl__fail(MDL_ERR_ARG, fn, "batch_size = %d: a batch needs at least 1 row", batch_size);
        return 0;
    }
    if (shuffle && !rng) {
        mdl__fail(MDL_ERR_NULL, fn, "rng is NULL, and shuffling needs a generator");
        return 0;
    }
    it->ds = ds;
    it->rng = rng;
    it->batch_size = batch_size;
    it->shuffle = shuffle != 0;
    it->drop_last = drop_last != 0;
    it->per_epoch = ds->n / batch_size + (!drop_last && ds->n % batch_size != 0);
    return 1;
}

/* Rows row .. row+b-1 of t [N, ...] as a view [b, ...] with its header from ar. */
static mdl_tensor *mdl__rows_view(mdl_arena *ar, const char *fn, mdl_tensor *t, int row, int b) {
    int shape[MDL_MAX_DIMS];
    mdl_tensor *v;
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = b;
    v = mdl__make(ar, fn, t->ndim, shape, t->data + (size_t)row * mdl__row_numel(t), 0);
    if (v) v->lifetime = MDL_BORROWED; /* the data set's memory, the arena's header */
    return v;
}

MDLDEF int mdl_batches_next(mdl_batches *it, mdl_arena *ar, mdl_tensor **xb, mdl_tensor **yb) {
    const char *fn = "mdl_batches_next";
    mdl_dataset *ds;
    int b;
    if (xb) *xb = NULL;
    if (yb) *yb = NULL;
    if (!it || !xb) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !it ? "it" : "xb");
        return 0;
    }
    if (!it->ds) return 0; /* mdl_batches_init failed and reported why */
    if (!mdl__usable_arena(fn, ar) || !mdl__dataset_usable(fn, it->ds)) return 0;
    ds = it->ds;
    if (it->row < 0) { /* a new epoch */
        if (it->shuffle && mdl_dataset_shuffle(ds, it->rng) != MDL_OK) return 0;
        it->epoch++;
        it->batch = 0;
        it->row = 0;
    }
    if (it->batch >= it->per_epoch) { /* the epoch is over; the next call begins another */
        it->row = -1;
        return 0;
    }
    b = ds->n - it->row < it->batch_size ? ds->n - it->row : it->batch_size;
    *xb = mdl__rows_view(ar, fn, ds->x, it->row, b);
    if (*xb && yb && ds->y) {
        *yb = mdl__rows_view(ar, fn, ds->y, it->row, b);
        if (!*yb) *xb = NULL;
    }
    if (!*xb) return 0;
    it->row += b;
    it->batch++;
    return 1;
}

/* ---------------------------------------------------------------------------------------------
   Standardisation (sklearn's StandardScaler)            z = (x - mean) / scale, per feature
     mean  = sum_i x_i / m                 over the m values of the feature in the training part
     scale = sqrt(sum_i (x_i - mean)^2 / m)   the population std (ddof = 0), 1 if constant
   Features in different units (metres and grams, pixel values 0..255) make the loss a long,
   narrow valley that gradient descent crosses in zigzags; centred features of unit spread make
   it round, and one learning rate suits every weight.
   Fit on the training part only, then apply the same mean and scale, unchanged, to the
   validation and test parts and to every new input. Statistics taken over all rows would carry
   information from the test rows into training (leakage): the test score would then measure a
   model that has seen a little of its exam, and promise more than new data will give. The
   scaler is part of the model: it lives in the model's parameter set and is saved with it.
   Sums are taken in double and in two passes (the mean first, then the squared deviations from
   it), which is exact for a constant feature and loses nothing to cancellation, unlike
   sum(x^2)/m - mean^2. A constant feature (variance within rounding noise, sklearn's test) has
   scale 1: it becomes 0 rather than 0/0.
   --------------------------------------------------------------------------------------------- */

/* How x lays out its features for a scaler: x [N] is one feature of N values; x [N, F, ...]
   has F features (channels) on axis 1, each with `inner` values per row. */
static void mdl__feature_layout(const mdl_tensor *x, size_t *rows, size_t *f, size_t *inner) {
    int d;
    *rows = (size_t)x->shape[0];
    *f = x->ndim >= 2 ? (size_t)x->shape[1] : 1;
    *inner = 1;
    for (d = 2; d < x->ndim; d++) *inner *= (size_t)x->shape[d];
}

MDLDEF mdl_scaler mdl_scaler_fit(mdl_params *ps, const char *name, const mdl_tensor *x) {
    const char *fn = "mdl_scaler_fit";
    mdl_scaler s;
    char full[MDL_NAME_MAX + 16], bx[96];
    size_t rows, nf, inner, f, r, k;
    int shape[1];
    s.mean = s.scale = NULL;
    if (!ps || !name) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !ps ? "the parameter set" : "name");
        return s;
    }
    if (!name[0] || strlen(name) >= MDL_NAME_MAX) {
        mdl__fail(MDL_ERR_ARG, fn, "name \"%s\": a scaler needs a name of 1 to %d characters",
                  name, MDL_NAME_MAX - 1);
        return s;
    }
    if (!mdl__usable(fn, "x", x)) return s;
    if (x->ndim < 1 || x->shape[0] < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s: fitting needs rows, x [N, ...] with N >= 1",
                  mdl_shape_str(x, bx, sizeof bx));
        return s;
    }
    sprintf(full, "%s.mean", name);
    if (mdl_params_find(ps, full)) {
        mdl__fail(MDL_ERR_ARG, fn, "the parameter set already has \"%s\": give this scaler "
                  "another name", full);
        return s;
    }
    mdl__feature_layout(x, &rows, &nf, &inner);
    shape[0] = (int)nf;
    s.mean = mdl_params_add_buffer(ps, full, 1, shape);
    sprintf(full, "%s.scale", name);
    s.scale = s.mean ? mdl_params_add_buffer(ps, full, 1, shape) : NULL;
    if (!s.scale) {
        s.mean = NULL;
        return s;
    }
    for (f = 0; f < nf; f++) {
        double m = (double)rows * (double)inner, sum = 0, ss = 0, mean, var;
        const double eps = 2.220446049250313e-16; /* DBL_EPSILON, 2^-52 */
        for (r = 0; r < rows; r++) /* pass 1: the mean */
            for (k = 0; k < inner; k++) sum += (double)x->data[(r * nf + f) * inner + k];
        mean = sum / m;
        for (r = 0; r < rows; r++) /* pass 2: the mean squared deviation */
            for (k = 0; k < inner; k++) {
                double d = (double)x->data[(r * nf + f) * inner + k] - mean;
                ss += d * d;
            }
        var = ss / m;
        s.mean->data[f] = (mdl_scalar)mean;
        /* sklearn's _is_constant_feature: a variance no bigger than its rounding error */
        s.scale->data[f] = (mdl_scalar)(var <= m * eps * var + (m * mean * eps) * (m * mean * eps)
                                            ? 1.0
                                            : sqrt(var));
    }
    return s;
}

/* Can scaler s work on x? Reports a mismatch of the feature counts; NULL-safe. */
static int mdl__scaler_usable(const char *fn, const mdl_scaler *s, const mdl_tensor *x) {
    char bx[96];
    size_t rows, nf, inner;
    if (!s || !s->mean || !s->scale) {
        if (mdl__last_code == MDL_OK)
            mdl__fail(MDL_ERR_NULL, fn, s ? "the scaler is empty (not fitted)" : "s is NULL");
        return 0;
    }
    if (!mdl__usable(fn, "the scaler's mean", s->mean) ||
        !mdl__usable(fn, "the scaler's scale", s->scale) || !mdl__usable(fn, "x", x))
        return 0;
    if (x->ndim < 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s is a scalar: a scaler works on rows, x [N, ...]",
                  mdl_shape_str(x, bx, sizeof bx));
        return 0;
    }
    mdl__feature_layout(x, &rows, &nf, &inner);
    if (nf != s->mean->numel || s->scale->numel != s->mean->numel) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s has %zu feature%s (axis 1, or 1 for x [N]), but the "
                  "scaler was fitted on %zu", mdl_shape_str(x, bx, sizeof bx), nf,
                  nf == 1 ? "" : "s", s->mean->numel);
        return 0;
    }
    return 1;
}

/* out = (x - mean) / scale, or x * scale + mean for the inverse; out may be x itself. */
static void mdl__scale(const mdl_scaler *s, const mdl_tensor *x, mdl_tensor *out, int inverse) {
    size_t rows, nf, inner, r, f, k;
    mdl__feature_layout(x, &rows, &nf, &inner);
    for (r = 0; r < rows; r++)
        for (f = 0; f < nf; f++) {
            mdl_scalar m = s->mean->data[f], sd = s->scale->data[f];
            size_t at = (r * nf + f) * inner;
            for (k = 0; k < inner; k++)
                out->data[at + k] = inverse ? x->data[at + k] * sd + m : (x->data[at + k] - m) / sd;
        }
}

MDLDEF mdl_tensor *mdl_scaler_transform(mdl_arena *ar, const mdl_scaler *s, mdl_tensor *x) {
    const char *fn = "mdl_scaler_transform";
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__scaler_usable(fn, s, x)) return NULL;
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (out) mdl__scale(s, x, out, 0);
    return out;
}

MDLDEF mdl_tensor *mdl_scaler_inverse_transform(mdl_arena *ar, const mdl_scaler *s,
                                                mdl_tensor *x) {
    const char *fn = "mdl_scaler_inverse_transform";
    mdl_tensor *out;
    if (!mdl__usable_arena(fn, ar) || !mdl__scaler_usable(fn, s, x)) return NULL;
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (out) mdl__scale(s, x, out, 1);
    return out;
}

MDLDEF void mdl_scaler_apply(const mdl_scaler *s, mdl_tensor *x) {
    if (mdl__scaler_usable("mdl_scaler_apply", s, x)) mdl__scale(s, x, x, 0);
}

/* ---------------------------------------------------------------------------------------------
   One-hot                 index [...] -> out [..., K]   out[..., k] = 1 if index[...] == k else 0
   A class index is a label, not a quantity: class 2 is not twice class 1. As a vector with a
   single 1 it becomes a target for mse or bce, or an input a Linear layer can weigh class by
   class (x @ W then picks W's row for that class, which is what mdl_embedding does directly).
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_tensor *mdl_one_hot(mdl_arena *ar, mdl_tensor *index, int num_classes) {
    const char *fn = "mdl_one_hot";
    char bi[96], range[64];
    int shape[MDL_MAX_DIMS];
    mdl_tensor *out;
    size_t i;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "index", index)) return NULL;
    if (index->ndim >= MDL_MAX_DIMS) {
        mdl__fail(MDL_ERR_SHAPE, fn, "index %s has rank %d: the result's rank %d would be more "
                  "than MDL_MAX_DIMS = %d", mdl_shape_str(index, bi, sizeof bi), index->ndim,
                  index->ndim + 1, MDL_MAX_DIMS);
        return NULL;
    }
    if (num_classes == -1) { /* PyTorch's default: the largest index plus one */
        if (index->numel == 0) {
            mdl__fail(MDL_ERR_ARG, fn, "index %s is empty: num_classes = -1 cannot be inferred "
                      "from it (as in PyTorch); give num_classes", mdl_shape_str(index, bi,
                                                                                    sizeof bi));
            return NULL;
        }
        if (!mdl__check_index(fn, index, 16777216, "num_classes = -1: class indices below 2^24"))
            return NULL;
        for (i = 0; i < index->numel; i++)
            if ((int)index->data[i] >= num_classes) num_classes = (int)index->data[i] + 1;
    } else if (num_classes < 1) {
        mdl__fail(MDL_ERR_ARG, fn, "num_classes = %d: must be at least 1, or -1 to take the "
                  "largest index plus one", num_classes);
        return NULL;
    } else {
        sprintf(range, "num_classes = %d", num_classes);
        if (!mdl__check_index(fn, index, num_classes, range)) return NULL;
    }
    memcpy(shape, index->shape, sizeof(int) * (size_t)index->ndim);
    shape[index->ndim] = num_classes;
    out = mdl__make(ar, fn, index->ndim + 1, shape, NULL, 1);
    if (!out) return NULL;
    for (i = 0; i < index->numel; i++) /* row i of the output, its class's column */
        out->data[i * (size_t)num_classes + (size_t)index->data[i]] = 1;
    return out;
}

/* ---------------------------------------------------------------------------------------------
   Augmentation                        x [B,C,H,W] -> out [B,C,H,W], a new random draw per image
   A mirrored cat is still a cat, and so is one moved by a few pixels: showing the network
   such variants of the training images, new ones each epoch, teaches it that invariance
   and makes a small data set go further (it overfits later). Only for training batches:
   validation and test images are used as they are. Each image gets its own draws, from the
   caller's generator in a fixed order, so a seed repeats the whole run.
     flip   out[b,c,h,w] = x[b,c,h,W-1-w]  with probability p (one uniform draw per image)
     crop   top, left uniform in 0..2P (top drawn first), then
            out[b,c,h,w] = x[b,c,h+top-P,w+left-P], 0 where that is outside x:
            x padded with P zeros on every side, cut back to H x W (torchvision's RandomCrop)
     noise  out = x + std * N(0, 1), a draw for each element
   --------------------------------------------------------------------------------------------- */

/* The checks of an augmentation: an arena, a usable x of rank >= min_rank, a generator. */
static int mdl__augment_ok(const char *fn, mdl_arena *ar, const mdl_tensor *x, mdl_rng *rng,
                           int min_rank, int max_rank, const char *shapes) {
    char bx[96];
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "x", x)) return 0;
    if (!rng) {
        mdl__fail(MDL_ERR_NULL, fn, "rng is NULL");
        return 0;
    }
    if (x->ndim < min_rank || x->ndim > max_rank) {
        mdl__fail(MDL_ERR_SHAPE, fn, "x %s: expected %s", mdl_shape_str(x, bx, sizeof bx), shapes);
        return 0;
    }
    return 1;
}

MDLDEF mdl_tensor *mdl_random_hflip(mdl_arena *ar, mdl_tensor *x, double p, mdl_rng *rng) {
    const char *fn = "mdl_random_hflip";
    mdl_tensor *out;
    size_t per, W, r, w;
    int b;
    if (!mdl__augment_ok(fn, ar, x, rng, 2, MDL_MAX_DIMS, "a batch [B, ..., W] of rank 2 or more"))
        return NULL;
    if (!(p >= 0 && p <= 1)) {
        mdl__fail(MDL_ERR_ARG, fn, "p = %g: a probability must be in 0..1", p);
        return NULL;
    }
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (!out) return NULL;
    W = (size_t)x->shape[x->ndim - 1];
    per = x->shape[0] ? x->numel / (size_t)x->shape[0] : 0; /* values per sample */
    for (b = 0; b < x->shape[0]; b++) {
        const mdl_scalar *src = x->data + (size_t)b * per;
        mdl_scalar *dst = out->data + (size_t)b * per;
        if (mdl_rng_uniform(rng) < p) {
            for (r = 0; W && r < per / W; r++) /* each row of the sample, mirrored */
                for (w = 0; w < W; w++) dst[r * W + w] = src[r * W + W - 1 - w];
        } else if (per) {
            memcpy(dst, src, per * sizeof(mdl_scalar));
        }
    }
    return out;
}

MDLDEF mdl_tensor *mdl_random_crop(mdl_arena *ar, mdl_tensor *x, int padding, mdl_rng *rng) {
    const char *fn = "mdl_random_crop";
    mdl_tensor *out;
    int b, plane, planes, H, W, h, w;
    if (!mdl__augment_ok(fn, ar, x, rng, 3, 4, "images [B,C,H,W] or [B,H,W]")) return NULL;
    if (padding < 0 || padding > 1 << 20) {
        mdl__fail(MDL_ERR_ARG, fn, "padding = %d: must be in 0..%d", padding, 1 << 20);
        return NULL;
    }
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (!out) return NULL;
    H = x->shape[x->ndim - 2];
    W = x->shape[x->ndim - 1];
    planes = x->ndim == 4 ? x->shape[1] : 1;
    for (b = 0; b < x->shape[0]; b++) {
        /* the window's corner in the padded image, 0..2P each, as an offset in x: -P..P */
        int dy = (int)mdl__rng_below(rng, 2u * (uint32_t)padding + 1) - padding;
        int dx = (int)mdl__rng_below(rng, 2u * (uint32_t)padding + 1) - padding;
        for (plane = 0; plane < planes; plane++) {
            size_t at = ((size_t)b * (size_t)planes + (size_t)plane) * (size_t)H * (size_t)W;
            const mdl_scalar *src = x->data + at;
            mdl_scalar *dst = out->data + at;
            for (h = 0; h < H; h++)
                for (w = 0; w < W; w++) {
                    int sh = h + dy, sw = w + dx; /* where the value comes from */
                    int inside = sh >= 0 && sh < H && sw >= 0 && sw < W;
                    dst[(size_t)h * (size_t)W + (size_t)w] =
                        inside ? src[(size_t)sh * (size_t)W + (size_t)sw] : 0;
                }
        }
    }
    return out;
}

MDLDEF mdl_tensor *mdl_gaussian_noise(mdl_arena *ar, mdl_tensor *x, double std, mdl_rng *rng) {
    const char *fn = "mdl_gaussian_noise";
    mdl_tensor *out;
    size_t i;
    if (!mdl__augment_ok(fn, ar, x, rng, 0, MDL_MAX_DIMS, "any shape")) return NULL;
    if (!(std >= 0) || !isfinite(std)) {
        mdl__fail(MDL_ERR_ARG, fn, "std = %g: must be a number, 0 or more", std);
        return NULL;
    }
    out = mdl__make(ar, fn, x->ndim, x->shape, NULL, 0);
    if (!out) return NULL;
    for (i = 0; i < x->numel; i++)
        out->data[i] = (mdl_scalar)(x->data[i] + std * mdl_rng_normal(rng));
    return out;
}

// >>loaders

/* ---------------------------------------------------------------------------------------------
   Loaders: files into persistent tensors
     file -> bytes in memory (mdl__read_all, bounded) -> gunzip if it starts 1f 8b -> parse
     -> check everything -> only then add the tensors to the caller's mdl_params set
   A loader parses into temporary memory of its own and adds to the set last, so that a bad
   file leaves the set as it was and frees what the loader took. Sizes from a file are never
   trusted: each is checked against the bytes that are really there, and each product that
   sizes an allocation is checked for overflow. Every message starts "<file>:<line>:" (text)
   or "<file>: byte <offset>:" (binary), so an editor or hexdump takes you to the spot.
   --------------------------------------------------------------------------------------------- */

#include <errno.h>
#include <float.h>

#ifdef MINIDL_DOUBLE
#define MDL__SCALAR_MAX DBL_MAX
#else
#define MDL__SCALAR_MAX FLT_MAX
#endif

#define MDL__LOAD_MAX ((size_t)1 << 30) /* the default limit of a file or its decompressed size */

/* The limit a caller asked for: 0 means the default; a huge one is trimmed so that adding a
   few bytes to it cannot overflow. */
static size_t mdl__limit(size_t max_bytes) {
    if (max_bytes == 0) return MDL__LOAD_MAX;
    return max_bytes > (size_t)-1 / 4 ? (size_t)-1 / 4 : max_bytes;
}

MDLDEF void mdl_free(void *p) {
    if (p) MINIDL_FREE(p);
}

/* A new buffer of `cap` bytes holding the first `n` bytes of `old`, which is freed. */
static unsigned char *mdl__regrow(unsigned char *old, size_t n, size_t cap) {
    unsigned char *b = (unsigned char *)MINIDL_MALLOC(cap);
    if (b && n) memcpy(b, old, n);
    if (b) MINIDL_FREE(old);
    return b;
}

/* The whole file, plus a zero byte after it; at most `limit` bytes. Reads in doubling chunks
   rather than trusting a size from ftell, so that a pipe or a growing file is read right. */
static mdl_error mdl__read_all(const char *fn, const char *path, size_t limit,
                               unsigned char **data, size_t *size) {
    FILE *f;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    *data = NULL;
    *size = 0;
    f = fopen(path, "rb");
    if (!f) return mdl__env_error(MDL_ERR_IO, fn, "cannot open '%s': %s", path, strerror(errno));
    for (;;) {
        size_t got;
        if (cap - n < 2) { /* room for at least one byte and the final zero */
            size_t want = cap ? 2 * cap : 65536;
            unsigned char *nb;
            if (want > limit + 2) want = limit + 2; /* limit + 1 bytes show that it is too big */
            nb = mdl__regrow(buf, n, want);
            if (!nb) {
                MINIDL_FREE(buf);
                fclose(f);
                return mdl__env_error(MDL_ERR_NOMEM, fn, "'%s': out of memory after %zu bytes",
                                      path, n);
            }
            buf = nb;
            cap = want;
        }
        got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n > limit) {
            MINIDL_FREE(buf);
            fclose(f);
            return mdl__env_error(MDL_ERR_SIZE, fn, "'%s' is larger than the limit of %zu bytes "
                                  "(raise max_bytes to read it)", path, limit);
        }
        if (got == 0) {
            int failed = ferror(f);
            fclose(f);
            if (failed) {
                MINIDL_FREE(buf);
                return mdl__env_error(MDL_ERR_IO, fn, "'%s': read error after %zu bytes", path,
                                      n);
            }
            break;
        }
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return MDL_OK;
}

MDLDEF mdl_error mdl_read_file(const char *path, size_t max_bytes, unsigned char **data,
                               size_t *size) {
    const char *fn = "mdl_read_file";
    if (!path || !data || !size) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !path ? "path" : !data ? "data" : "size");
        return MDL_ERR_NULL;
    }
    return mdl__read_all(fn, path, mdl__limit(max_bytes), data, size);
}

/* ---------------------------------------------------------------------------------------------
   gzip (RFC 1952): a header, a deflate stream, and a trailer that checks what came out

     offset  bytes  field
     0       2      ID1 ID2 = 1f 8b            the magic number
     2       1      CM = 8                     compression method: deflate
     3       1      FLG                        bit 0 FTEXT, 1 FHCRC, 2 FEXTRA, 3 FNAME,
                                               4 FCOMMENT; bits 5-7 must be zero
     4       4      MTIME                      modification time       (read past)
     8       1      XFL                        how hard it compressed  (read past)
     9       1      OS                         the system it was made on (read past)
     10             if FEXTRA:   XLEN (2 bytes), then XLEN bytes of extra fields
                    if FNAME:    the original file name, ended by a zero byte
                    if FCOMMENT: a comment, ended by a zero byte
                    if FHCRC:    2 bytes, the low half of the CRC-32 of the header before them
     ...            the compressed data: a deflate stream (below)
     end-8   4      CRC32                      CRC-32 of the uncompressed data
     end-4   4      ISIZE                      the uncompressed size mod 2^32
   Numbers are little-endian. A file may be several such members one after another
   (`cat a.gz b.gz`): their data follow each other, as gzip -d writes them.

   CRC-32 (the one of gzip, zip and PNG): the remainder of the data, as a polynomial over GF(2),
   divided by 0x104C11DB7; computed bit-reversed (0xEDB88320) a byte at a time through a table
   of the 256 byte values, starting from all ones and inverted at the end.
   --------------------------------------------------------------------------------------------- */

static void mdl__crc_table(uint32_t table[256]) {
    uint32_t i, c;
    int k;
    for (i = 0; i < 256; i++) {
        for (c = i, k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t mdl__crc32(const uint32_t table[256], uint32_t crc, const unsigned char *p,
                           size_t n) {
    crc = ~crc;
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---------------------------------------------------------------------------------------------
   deflate (RFC 1951): LZ77 (repeat what came before) with Huffman codes (short codes for
   frequent symbols). A stream is a sequence of blocks; bits are taken from each byte lowest
   bit first. Each block starts with 3 bits:
     BFINAL (1 bit)   1 on the last block
     BTYPE  (2 bits)  00 stored, 01 fixed Huffman codes, 10 dynamic Huffman codes, 11 an error
   stored block: skip to the next byte boundary; LEN (2 bytes, little-endian), NLEN = ~LEN
     (2 bytes), then LEN bytes copied as they are
   Huffman block: symbols from the literal/length code until end-of-block:
     0..255    a literal byte, written out
     256       end of the block
     257..285  a length 3..258 (a base and extra bits, the tables below), followed by a symbol
               of the distance code, 0..29, giving a distance 1..32768 (base + extra bits):
               copy `length` bytes starting `distance` bytes back. The copy may overlap what it
               writes: "ab" then length 6 at distance 2 gives "abababab".
   fixed codes: literal/length code lengths 8 (0..143), 9 (144..255), 7 (256..279), 8 (280..287);
     distance codes 5 bits each
   dynamic codes, sent at the start of the block:
     HLIT - 257 (5 bits), HDIST - 1 (5 bits), HCLEN - 4 (4 bits);
     HCLEN lengths (3 bits each) of the code-length code, in the order
       16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15 (the rarely used lengths come last);
     then HLIT + HDIST code lengths written with the code-length code:
       0..15  a length;  16  the previous length 3..6 times (2 extra bits);
       17  zero 3..10 times (3 bits);  18  zero 11..138 times (7 bits)
   A Huffman code is canonical: its code lengths alone define it. The codes of one length are
   consecutive numbers given to the symbols in increasing order, and the first code of each
   length is (last code of the length before + 1) * 2. A code is stored from its highest bit.
   Extra bits and the fields above are stored from their lowest bit.
   --------------------------------------------------------------------------------------------- */

#define MDL__MAX_BITS 15 /* the longest Huffman code deflate allows */

/* The lengths of symbols 257..285 and the distances of symbols 0..29: base + extra bits. */
static const unsigned short mdl__len_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                                 15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                                 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char mdl__len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
                                                 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                                 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const unsigned short mdl__dist_base[30] = {1,    2,    3,    4,     5,     7,    9,    13,
                                                  17,   25,   33,   49,    65,    97,   129,  193,
                                                  257,  385,  513,  769,   1025,  1537, 2049, 3073,
                                                  4097, 6145, 8193, 12289, 16385, 24577};
static const unsigned char mdl__dist_extra[30] = {0, 0, 0,  0,  1,  1,  2,  2,  3,  3,
                                                  4, 4, 5,  5,  6,  6,  7,  7,  8,  8,
                                                  9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* A canonical Huffman code as the decoder walks it: how many codes each length has, and the
   symbols in code order (by length, then by symbol). */
typedef struct mdl__huffman {
    short count[MDL__MAX_BITS + 1];
    short symbol[288];
} mdl__huffman;

/* The state of one decompression: the input bits, the output bytes, where errors are. */
typedef struct mdl__inflate {
    const unsigned char *in;
    size_t in_size, pos;   /* pos: the next byte to take bits from */
    uint32_t bits;         /* bits taken from the input and not used yet, lowest first */
    int nbits;             /* how many (fewer than 8 between reads) */
    unsigned char *out;
    size_t out_size, cap;  /* bytes written, bytes allocated */
    size_t limit;          /* the most output allowed */
    size_t start;          /* where the current gzip member's output starts */
    const char *fn, *name; /* for messages */
} mdl__inflate;

/* The offset of the byte that holds the next bit. */
static size_t mdl__inflate_at(const mdl__inflate *s) {
    return s->pos - (size_t)(s->nbits + 7) / 8;
}

/* Report a malformed stream at the byte being read. Returns -1, so `return mdl__bad(...)`. */
static int mdl__bad(mdl__inflate *s, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mdl__env_error(MDL_ERR_FORMAT, s->fn, "%s: byte %zu: %s", s->name, mdl__inflate_at(s), what);
    return -1;
}

/* The next n bits (n <= 16) as a number, the first one lowest; -1 at the end of the input. */
static int mdl__bits(mdl__inflate *s, int n) {
    int v;
    while (s->nbits < n) {
        if (s->pos == s->in_size)
            return mdl__bad(s, "the deflate data end in the middle of a block");
        s->bits |= (uint32_t)s->in[s->pos++] << s->nbits;
        s->nbits += 8;
    }
    v = (int)(s->bits & ((1u << n) - 1));
    s->bits >>= n;
    s->nbits -= n;
    return v;
}

/* Build a code from the lengths of n symbols (0: the symbol has no code). A code whose codes
   do not fit in the code space (over-subscribed) is an error; so is one that leaves part of
   the space unused (incomplete), unless `complete` is 0 (the literal/length and distance
   codes) and it has no code or a single one of one bit, as RFC 1951 allows for a block that
   uses one distance or none (zlib draws the line at the same place). Returns 0, or -1 after
   reporting. */
static int mdl__huffman_build(mdl__inflate *s, mdl__huffman *h, const unsigned char *length,
                              int n, const char *what, int complete) {
    short offset[MDL__MAX_BITS + 2];
    int len, sym, left = 1, codes = 0;
    for (len = 0; len <= MDL__MAX_BITS; len++) h->count[len] = 0;
    for (sym = 0; sym < n; sym++) h->count[length[sym]]++;
    for (len = 1; len <= MDL__MAX_BITS; len++) { /* the code space left after each length */
        left = 2 * left - h->count[len];
        codes += h->count[len];
        if (left < 0) return mdl__bad(s, "the %s code is over-subscribed", what);
    }
    if (left > 0 && (complete || codes > h->count[1] || h->count[1] > 1))
        return mdl__bad(s, "the %s code is incomplete", what);
    offset[1] = 0; /* where each length's symbols start in h->symbol */
    for (len = 1; len <= MDL__MAX_BITS; len++)
        offset[len + 1] = (short)(offset[len] + h->count[len]);
    for (sym = 0; sym < n; sym++)
        if (length[sym]) h->symbol[offset[length[sym]]++] = (short)sym;
    return 0;
}

/* Decode one symbol, a bit at a time: after taking `len` bits, `code` is a code of that
   length if it lies among that length's count[len] codes, which start at `first`. */
static int mdl__decode(mdl__inflate *s, const mdl__huffman *h) {
    int code = 0, first = 0, index = 0, len, bit;
    for (len = 1; len <= MDL__MAX_BITS; len++) {
        if ((bit = mdl__bits(s, 1)) < 0) return -1;
        code |= bit;
        if (code - first < h->count[len]) return h->symbol[index + (code - first)];
        index += h->count[len];
        first = (first + h->count[len]) << 1;
        code <<= 1;
    }
    return mdl__bad(s, "a bit sequence that is no code of the block");
}

/* Make room for n more output bytes, within the limit (and for the final zero byte). */
static int mdl__room(mdl__inflate *s, size_t n) {
    size_t need = s->out_size + n, cap;
    unsigned char *b;
    if (need > s->limit) {
        mdl__env_error(MDL_ERR_SIZE, s->fn, "%s: byte %zu: the decompressed data would be "
                       "larger than the limit of %zu bytes (raise max_bytes to read it)",
                       s->name, mdl__inflate_at(s), s->limit);
        return -1;
    }
    if (need < s->cap) return 0;
    cap = s->cap > s->limit / 2 ? s->limit + 1 : 2 * s->cap;
    if (cap < need + 1) cap = need + 1;
    b = mdl__regrow(s->out, s->out_size, cap);
    if (!b) {
        mdl__env_error(MDL_ERR_NOMEM, s->fn, "%s: out of memory for %zu decompressed bytes",
                       s->name, cap);
        return -1;
    }
    s->out = b;
    s->cap = cap;
    return 0;
}

/* A stored block: LEN bytes as they are. */
static int mdl__stored(mdl__inflate *s) {
    size_t len, nlen;
    s->bits = 0; /* skip to the byte boundary (fewer than 8 bits are waiting) */
    s->nbits = 0;
    if (s->in_size - s->pos < 4) return mdl__bad(s, "the data end inside a stored block's header");
    len = (size_t)s->in[s->pos] | (size_t)s->in[s->pos + 1] << 8;
    nlen = (size_t)s->in[s->pos + 2] | (size_t)s->in[s->pos + 3] << 8;
    if (len != (~nlen & 0xffff))
        return mdl__bad(s, "a stored block's LEN %zu and NLEN %zu do not match", len, nlen);
    s->pos += 4;
    if (s->in_size - s->pos < len)
        return mdl__bad(s, "a stored block of %zu bytes has only %zu", len, s->in_size - s->pos);
    if (mdl__room(s, len) < 0) return -1;
    memcpy(s->out + s->out_size, s->in + s->pos, len);
    s->out_size += len;
    s->pos += len;
    return 0;
}

/* The symbols of a Huffman block, until end-of-block. */
static int mdl__codes(mdl__inflate *s, const mdl__huffman *lencode, const mdl__huffman *distcode) {
    for (;;) {
        int sym = mdl__decode(s, lencode), extra;
        size_t len, dist, i;
        if (sym < 0) return -1;
        if (sym < 256) { /* a literal */
            if (mdl__room(s, 1) < 0) return -1;
            s->out[s->out_size++] = (unsigned char)sym;
            continue;
        }
        if (sym == 256) return 0; /* end of block */
        sym -= 257;               /* a length, then a distance */
        if (sym >= 29) return mdl__bad(s, "length symbol %d does not exist", sym + 257);
        if ((extra = mdl__bits(s, mdl__len_extra[sym])) < 0) return -1;
        len = mdl__len_base[sym] + (size_t)extra;
        if ((sym = mdl__decode(s, distcode)) < 0) return -1;
        if (sym >= 30) return mdl__bad(s, "distance symbol %d does not exist", sym);
        if ((extra = mdl__bits(s, mdl__dist_extra[sym])) < 0) return -1;
        dist = mdl__dist_base[sym] + (size_t)extra;
        if (dist > s->out_size - s->start)
            return mdl__bad(s, "distance %zu reaches back before the start of the data (%zu "
                            "bytes so far)", dist, s->out_size - s->start);
        if (mdl__room(s, len) < 0) return -1;
        for (i = 0; i < len; i++) /* byte by byte: the copy may read what it just wrote */
            s->out[s->out_size + i] = s->out[s->out_size + i - dist];
        s->out_size += len;
    }
}

/* A block with the fixed codes. */
static int mdl__fixed(mdl__inflate *s) {
    mdl__huffman lencode, distcode;
    unsigned char length[288];
    int sym;
    for (sym = 0; sym < 144; sym++) length[sym] = 8;
    for (; sym < 256; sym++) length[sym] = 9;
    for (; sym < 280; sym++) length[sym] = 7;
    for (; sym < 288; sym++) length[sym] = 8;
    if (mdl__huffman_build(s, &lencode, length, 288, "fixed literal/length", 1) < 0) return -1;
    for (sym = 0; sym < 32; sym++) length[sym] = 5; /* 30 and 31 complete the code, unused */
    if (mdl__huffman_build(s, &distcode, length, 32, "fixed distance", 1) < 0) return -1;
    return mdl__codes(s, &lencode, &distcode);
}

/* A block with dynamic codes: read the codes, then the symbols. */
static int mdl__dynamic(mdl__inflate *s) {
    static const unsigned char order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                            11, 4,  12, 3, 13, 2, 14, 1, 15};
    mdl__huffman lencode, distcode;
    unsigned char length[286 + 30];
    int nlen, ndist, ncode, index, v;
    if ((nlen = mdl__bits(s, 5)) < 0 || (ndist = mdl__bits(s, 5)) < 0 ||
        (ncode = mdl__bits(s, 4)) < 0)
        return -1;
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > 286 || ndist > 30)
        return mdl__bad(s, "a dynamic block claims %d literal/length and %d distance codes "
                        "(at most 286 and 30)", nlen, ndist);
    memset(length, 0, sizeof length);
    for (index = 0; index < ncode; index++) { /* the code-length code */
        if ((v = mdl__bits(s, 3)) < 0) return -1;
        length[order[index]] = (unsigned char)v;
    }
    if (mdl__huffman_build(s, &lencode, length, 19, "code-length", 1) < 0) return -1;
    index = 0; /* then the lengths of both codes, in one sequence */
    while (index < nlen + ndist) {
        int sym = mdl__decode(s, &lencode), repeat;
        unsigned char value = 0;
        if (sym < 0) return -1;
        if (sym < 16) {
            length[index++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16) { /* the previous length again, 3..6 times */
            if (index == 0) return mdl__bad(s, "a repeat of the previous code length before any");
            value = length[index - 1];
            repeat = mdl__bits(s, 2);
            repeat = repeat < 0 ? -1 : 3 + repeat;
        } else if (sym == 17) { /* zeros, 3..10 times */
            repeat = mdl__bits(s, 3);
            repeat = repeat < 0 ? -1 : 3 + repeat;
        } else { /* zeros, 11..138 times */
            repeat = mdl__bits(s, 7);
            repeat = repeat < 0 ? -1 : 11 + repeat;
        }
        if (repeat < 0) return -1;
        if (index + repeat > nlen + ndist)
            return mdl__bad(s, "code lengths repeated past the %d the block declared",
                            nlen + ndist);
        while (repeat--) length[index++] = value;
    }
    if (length[256] == 0) return mdl__bad(s, "a dynamic block without an end-of-block code");
    if (mdl__huffman_build(s, &lencode, length, nlen, "literal/length", 0) < 0 ||
        mdl__huffman_build(s, &distcode, length + nlen, ndist, "distance", 0) < 0)
        return -1;
    return mdl__codes(s, &lencode, &distcode);
}

/* A whole deflate stream, block after block, from s->pos; leaves s->pos after its last byte. */
static int mdl__inflate_stream(mdl__inflate *s) {
    int last;
    do {
        int type;
        if ((last = mdl__bits(s, 1)) < 0 || (type = mdl__bits(s, 2)) < 0) return -1;
        if (type == 0) {
            if (mdl__stored(s) < 0) return -1;
        } else if (type == 1) {
            if (mdl__fixed(s) < 0) return -1;
        } else if (type == 2) {
            if (mdl__dynamic(s) < 0) return -1;
        } else {
            return mdl__bad(s, "block type 3 does not exist (deflate has 0, 1 and 2)");
        }
    } while (!last);
    s->bits = 0; /* the rest of the last byte is padding */
    s->nbits = 0;
    return 0;
}

/* Read a little-endian 32-bit number. */
static uint32_t mdl__le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The gzip members of `in`, one after another, into a new buffer (*out, with a zero byte
   after its *out_size bytes). On failure *out is NULL and the message is set. */
static mdl_error mdl__gunzip(const char *fn, const char *name, const unsigned char *in,
                             size_t size, size_t limit, unsigned char **out, size_t *out_size) {
    mdl__inflate s;
    uint32_t table[256];
    size_t at = 0;
    mdl__crc_table(table);
    memset(&s, 0, sizeof s);
    s.in = in;
    s.in_size = size;
    s.fn = fn;
    s.name = name;
    s.limit = limit;
    *out = NULL;
    *out_size = 0;
    /* A first guess of the size: the last member's ISIZE, if deflate could reach it (it
       shrinks data at most 1032 times); the buffer grows if the guess was low. */
    s.cap = 1024;
    if (size >= 18) {
        size_t isize = mdl__le32(in + size - 4);
        if (isize <= limit && isize / 1032 <= size) s.cap = isize + 1;
    }
    s.out = (unsigned char *)MINIDL_MALLOC(s.cap);
    if (!s.out) return mdl__env_error(MDL_ERR_NOMEM, fn, "%s: out of memory", name);
    do { /* one member */
        const unsigned char *h = in + at;
        size_t left = size - at, hlen = 10;
        unsigned flags;
        uint32_t crc;
        s.pos = at;
        if (left < 2 || h[0] != 0x1f || h[1] != 0x8b) {
            if (at > 0)
                mdl__bad(&s, "%zu bytes after the end of the gzip data are not another gzip "
                         "member", left);
            else if (left < 2)
                mdl__bad(&s, "%zu bytes are not gzip data", left);
            else
                mdl__bad(&s, "not gzip data: it starts %02x %02x, not 1f 8b", h[0], h[1]);
            goto fail;
        }
        if (left < 10) goto cut;
        if (h[2] != 8) {
            s.pos = at + 2;
            mdl__bad(&s, "compression method %d is not deflate (8)", h[2]);
            goto fail;
        }
        flags = h[3];
        if (flags & 0xe0) {
            s.pos = at + 3;
            mdl__bad(&s, "reserved header flags are set (FLG = 0x%02x)", flags);
            goto fail;
        }
        if (flags & 4) { /* FEXTRA: XLEN, then that many bytes */
            size_t xlen;
            if (left - hlen < 2) goto cut;
            xlen = (size_t)h[hlen] | (size_t)h[hlen + 1] << 8;
            if (left - hlen - 2 < xlen) goto cut;
            hlen += 2 + xlen;
        }
        if (flags & 8) { /* FNAME, then FCOMMENT: zero-terminated */
            while (hlen < left && h[hlen]) hlen++;
            if (hlen++ == left) goto cut;
        }
        if (flags & 16) {
            while (hlen < left && h[hlen]) hlen++;
            if (hlen++ == left) goto cut;
        }
        if (flags & 2) { /* FHCRC: the low 16 bits of the CRC-32 of the header so far */
            uint32_t want;
            if (left - hlen < 2) goto cut;
            want = (uint32_t)h[hlen] | (uint32_t)h[hlen + 1] << 8;
            if ((mdl__crc32(table, 0, h, hlen) & 0xffff) != want) {
                s.pos = at + hlen;
                mdl__bad(&s, "the header's CRC-16 is wrong");
                goto fail;
            }
            hlen += 2;
        }
        s.pos = at + hlen;
        s.start = s.out_size;
        if (mdl__inflate_stream(&s) < 0) goto fail;
        if (size - s.pos < 8) {
            mdl__bad(&s, "the gzip trailer (CRC-32 and size, 8 bytes) is cut short");
            goto fail;
        }
        crc = mdl__crc32(table, 0, s.out + s.start, s.out_size - s.start);
        if (mdl__le32(in + s.pos) != crc) {
            mdl__bad(&s, "CRC-32 mismatch: the trailer says %08lx, the data give %08lx",
                     (unsigned long)mdl__le32(in + s.pos), (unsigned long)crc);
            goto fail;
        }
        if (mdl__le32(in + s.pos + 4) != (uint32_t)(s.out_size - s.start)) {
            s.pos += 4;
            mdl__bad(&s, "the trailer gives the size %lu, the data have %zu bytes",
                     (unsigned long)mdl__le32(in + s.pos), s.out_size - s.start);
            goto fail;
        }
        at = s.pos + 8;
    } while (at < size);
    s.out[s.out_size] = 0;
    *out = s.out;
    *out_size = s.out_size;
    return MDL_OK;
cut:
    s.pos = size;
    mdl__bad(&s, "the data end inside the gzip header");
fail:
    MINIDL_FREE(s.out);
    return mdl__last_code;
}

MDLDEF mdl_error mdl_gunzip(const void *data, size_t size, const char *name, size_t max_bytes,
                            unsigned char **out, size_t *out_size) {
    const char *fn = "mdl_gunzip";
    if (!data || !out || !out_size) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !data ? "data" : !out ? "out" : "out_size");
        return MDL_ERR_NULL;
    }
    return mdl__gunzip(fn, name ? name : "gzip data", (const unsigned char *)data, size,
                       mdl__limit(max_bytes), out, out_size);
}

/* Does the data start with gzip's magic number? */
static int mdl__is_gzip(const unsigned char *p, size_t n) {
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* The bytes a loader parses: `data` itself, or a decompressed copy when it is gzip. *own is
   the copy to free (NULL when none), *gz says which, for messages. */
static mdl_error mdl__maybe_gunzip(const char *fn, const char *name, const unsigned char *data,
                                   size_t size, size_t limit, const unsigned char **bytes,
                                   size_t *n, unsigned char **own) {
    *own = NULL;
    *bytes = data;
    *n = size;
    if (!mdl__is_gzip(data, size)) return MDL_OK;
    if (mdl__gunzip(fn, name, data, size, limit, own, n) != MDL_OK) return mdl__last_code;
    *bytes = *own;
    return MDL_OK;
}

/* Check that a loader's arguments are usable and that `name` (and `name2`, if given) is free
   in the set: these are mistakes in the call, for the error handler. */
static int mdl__load_args(const char *fn, mdl_params *ps, const char *name, const char *name2,
                          const void *src, const char *src_what, const void *out) {
    const char *null = !ps ? "the parameter set" : !name ? "name" : !src ? src_what
                     : !out ? "out" : NULL;
    if (null) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", null);
        return 0;
    }
    if (!name[0]) {
        mdl__fail(MDL_ERR_ARG, fn, "the name is empty");
        return 0;
    }
    if (mdl_params_find(ps, name) || (name2 && mdl_params_find(ps, name2))) {
        mdl__fail(MDL_ERR_ARG, fn, "the set already has a tensor named \"%s\"",
                  mdl_params_find(ps, name) ? name : name2);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
   IDX, the format of MNIST and Fashion-MNIST: a header of big-endian 32-bit numbers, the data

     offset  bytes  field
     0       2      00 00
     2       1      type: 08 unsigned byte (every MNIST file); 09 signed byte, 0B int16,
                    0C int32, 0D float32, 0E float64 (not read by minidl)
     3       1      d, the number of dimensions: 3 for images, 1 for labels
     4       4 * d  the size of each dimension, big-endian, outermost first
     4 + 4d  ...    the items, row-major, one byte each: N * H * W pixels for images
   train-images-idx3-ubyte:  00 00 08 03 | 00 00 ea 60 (60000) | 00 00 00 1c (28) | 00 00 00 1c
                             (28) | 47,040,000 pixels, 0 the background, 255 the ink
   train-labels-idx1-ubyte:  00 00 08 01 | 00 00 ea 60 (60000) | 60,000 labels 0..9
   The length of the file follows from the header, and must be exactly that.
   --------------------------------------------------------------------------------------------- */

/* Parse IDX bytes (already decompressed) into a buffer of the set. `where` names the data in
   messages ("train.gz (decompressed)"). */
static mdl_error mdl__parse_idx(const char *fn, mdl_params *ps, const char *name,
                                const unsigned char *p, size_t n, const char *where,
                                const mdl_idx_opts *opts, mdl_tensor **out) {
    static const char *const types[] = {"unsigned byte", "signed byte", "", "int16", "int32",
                                        "float32", "float64"};
    int shape[MDL_MAX_DIMS], ndim, d, add_channel;
    size_t items = 1, header, i;
    mdl_tensor *t;
    if (n < 4)
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: %zu bytes: too short for an IDX file "
                              "(a 4-byte magic number first)", where, n);
    if (p[0] != 0 || p[1] != 0)
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte 0: the magic number %02x %02x %02x "
                              "%02x does not start with 00 00: not an IDX file", where, p[0],
                              p[1], p[2], p[3]);
    if (p[2] != 0x08) {
        if (p[2] >= 0x09 && p[2] <= 0x0e && p[2] != 0x0a)
            return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte 2: type 0x%02X (%s) is not "
                                  "supported: minidl reads unsigned bytes (0x08), as in MNIST",
                                  where, p[2], types[p[2] - 0x08]);
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte 2: 0x%02X is not an IDX type "
                              "(0x08 for unsigned bytes)", where, p[2]);
    }
    ndim = p[3];
    add_channel = opts && opts->channel && ndim == 3;
    if (ndim < 1 || ndim + add_channel > MDL_MAX_DIMS)
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte 3: %d dimensions: minidl reads 1 "
                              "to %d", where, ndim, MDL_MAX_DIMS - add_channel);
    header = 4 + 4 * (size_t)ndim;
    if (n < header)
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte %zu: the header of %d dimensions "
                              "needs %zu bytes, the file has %zu", where, n, ndim, header, n);
    for (d = 0; d < ndim; d++) { /* each size, and their product checked as it grows */
        const unsigned char *q = p + 4 + 4 * d;
        uint32_t size = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        if (size > (uint32_t)INT_MAX)
            return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte %d: size %lu of dimension %d "
                                  "is larger than %d", where, 4 + 4 * d, (unsigned long)size,
                                  d, INT_MAX);
        if (size && (double)items * size > MDL__MAX_NUMEL)
            return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte %d: the sizes multiply to more "
                                  "than 2^36 items", where, 4 + 4 * d);
        items *= size;
        shape[d + (add_channel && d > 0)] = (int)size;
    }
    if (n - header != items)
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s: byte %zu: the header announces %zu "
                              "items (one byte each) after its %zu bytes, but %zu bytes follow "
                              "(%s)", where, n < header + items ? n : header + items, items,
                              header, n - header,
                              n - header < items ? "the file is truncated"
                                                 : "extra bytes at the end");
    if (add_channel) shape[1] = 1;
    t = mdl_params_add_buffer(ps, name, ndim + add_channel, shape);
    if (!t) return mdl__last_code;
    if (opts && opts->scale && ndim > 1) { /* as torchvision's ToTensor: byte / 255 */
        for (i = 0; i < items; i++) t->data[i] = (mdl_scalar)p[header + i] / (mdl_scalar)255;
    } else {
        for (i = 0; i < items; i++) t->data[i] = (mdl_scalar)p[header + i];
    }
    *out = t;
    return MDL_OK;
}

MDLDEF mdl_error mdl_load_idx_mem(mdl_params *ps, const char *name, const void *data,
                                  size_t size, const char *display_name,
                                  const mdl_idx_opts *opts, mdl_tensor **out) {
    const char *fn = "mdl_load_idx_mem";
    const char *where = display_name ? display_name : "idx";
    const unsigned char *bytes;
    unsigned char *own;
    char label[320];
    size_t n;
    mdl_error e;
    if (out) *out = NULL;
    if (!mdl__load_args(fn, ps, name, NULL, data, "data", out)) return mdl__last_code;
    e = mdl__maybe_gunzip(fn, where, (const unsigned char *)data, size,
                          mdl__limit(opts ? opts->max_bytes : 0), &bytes, &n, &own);
    if (e != MDL_OK) return e;
    if (own) snprintf(label, sizeof label, "%s (decompressed)", where);
    e = mdl__parse_idx(fn, ps, name, bytes, n, own ? label : where, opts, out);
    MINIDL_FREE(own);
    return e;
}

MDLDEF mdl_error mdl_load_idx(mdl_params *ps, const char *name, const char *path,
                              const mdl_idx_opts *opts, mdl_tensor **out) {
    const char *fn = "mdl_load_idx";
    unsigned char *data;
    size_t size;
    mdl_error e;
    if (out) *out = NULL;
    if (!mdl__load_args(fn, ps, name, NULL, path, "path", out)) return mdl__last_code;
    e = mdl__read_all(fn, path, mdl__limit(opts ? opts->max_bytes : 0), &data, &size);
    if (e != MDL_OK) return e;
    e = mdl_load_idx_mem(ps, name, data, size, path, opts, out);
    MINIDL_FREE(data);
    return e;
}

/* ---------------------------------------------------------------------------------------------
   CSV (RFC 4180, and what spreadsheets and pandas write)

     species,island,bill_length_mm,...\n       a header line: the column names
     Adelie,Torgersen,39.1,...\n               a record: fields separated by commas
     "Gentoo, big","say ""hi""",NA,...\r\n     a quoted field may hold commas, line breaks and
                                               doubled quotes; CRLF ends a line as LF does

   The text is parsed in a private copy: a record reader finds the fields (where each starts,
   how long, quoted or not, on which line) without changing anything, so that a record can be
   read twice (the first, to count the columns); then each field is made a C string in place
   (the doubled quotes halved, a zero byte written over the delimiter after it).
   --------------------------------------------------------------------------------------------- */

typedef struct mdl__field {
    size_t start, len, line; /* content without the quotes; the line it starts on */
    int quoted, ready;       /* ready: made a C string already */
} mdl__field;

typedef struct mdl__csv {
    char *buf;     /* the text, with a zero byte after it */
    size_t size, pos, line;
    char delim;
    const char *fn, *name;
} mdl__csv;

/* Read the next record into f[0..cap); *nf gets its number of fields (it may exceed cap: the
   rest are only counted). Returns 1 for a record, 0 at the end, -1 after reporting an error. */
static int mdl__csv_record(mdl__csv *c, mdl__field *f, int cap, int *nf, size_t *line) {
    const char *b = c->buf;
    int n = 0;
    while (c->pos < c->size && (b[c->pos] == '\n' || b[c->pos] == '\r')) { /* blank lines */
        if (b[c->pos] == '\n' || c->pos + 1 == c->size || b[c->pos + 1] != '\n') c->line++;
        c->pos++;
    }
    if (c->pos == c->size) return 0;
    *line = c->line;
    for (;;) { /* one field */
        mdl__field field;
        char end;
        field.line = c->line;
        field.ready = 0;
        field.quoted = b[c->pos] == '"';
        if (field.quoted) {
            size_t open_line = c->line;
            field.start = ++c->pos;
            for (;;) {
                if (c->pos == c->size) {
                    mdl__env_error(MDL_ERR_FORMAT, c->fn, "%s:%zu: column %d: a quoted field "
                                   "opened on this line is never closed", c->name, open_line,
                                   n + 1);
                    return -1;
                }
                if (b[c->pos] == '"') {
                    if (c->pos + 1 < c->size && b[c->pos + 1] == '"') {
                        c->pos += 2; /* a doubled quote stands for one */
                        continue;
                    }
                    break;
                }
                if (b[c->pos] == '\n') c->line++;
                c->pos++;
            }
            field.len = c->pos - field.start;
            c->pos++; /* the closing quote */
            if (c->pos < c->size && b[c->pos] != c->delim && b[c->pos] != '\n' &&
                b[c->pos] != '\r') {
                mdl__env_error(MDL_ERR_FORMAT, c->fn, "%s:%zu: column %d: '%c' after a closing "
                               "quote (a quote inside a quoted field is written twice: \"\")",
                               c->name, c->line, n + 1, b[c->pos]);
                return -1;
            }
        } else {
            field.start = c->pos;
            while (c->pos < c->size && b[c->pos] != c->delim && b[c->pos] != '\n' &&
                   b[c->pos] != '\r')
                c->pos++;
            field.len = c->pos - field.start;
        }
        if (n < cap) f[n] = field;
        if (n == INT_MAX) {
            mdl__env_error(MDL_ERR_FORMAT, c->fn, "%s:%zu: too many fields", c->name, c->line);
            return -1;
        }
        n++;
        end = c->pos < c->size ? b[c->pos] : 0;
        if (end == c->delim && end) {
            c->pos++;
            continue;
        }
        if (end == '\r') c->pos++; /* CRLF, or a lone CR */
        if (c->pos < c->size && b[c->pos] == '\n' && (end == '\n' || end == '\r')) c->pos++;
        if (end) c->line++;
        break;
    }
    *nf = n;
    return 1;
}

/* Field i of the record just read as a C string, in place: doubled quotes halved, a zero byte
   after it (over the delimiter, the line end, or the closing quote). Once per field. */
static char *mdl__csv_text(mdl__csv *c, const mdl__field *f) {
    char *s = c->buf + f->start;
    if (f->quoted) {
        size_t r, w = 0;
        for (r = 0; r < f->len; r++, w++) {
            s[w] = s[r];
            if (s[r] == '"') r++; /* the second quote of a pair */
        }
        s[w] = 0;
    } else {
        s[f->len] = 0;
    }
    return s;
}

/* Is a field a missing value? Empty (or blank), NA, N/A, NaN or nan. */
static int mdl__csv_missing(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return !*s || !strcmp(s, "NA") || !strcmp(s, "N/A") || !strcmp(s, "NaN") || !strcmp(s, "nan");
}

/* A number, with spaces around it allowed and nothing else: 1 and *v, or 0. */
static int mdl__csv_number(const char *s, double *v) {
    char *end;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 0;
    *v = strtod(s, &end);
    if (end == s) return 0;
    while (*end == ' ' || *end == '\t') end++;
    return *end == 0;
}

/* The name of column j (from 0) for messages: the header's, or its position in a file without
   one. */
static const char *mdl__csv_colname(char **names, int j, char *buf, size_t size) {
    if (names) return names[j];
    snprintf(buf, size, "%d", j);
    return buf;
}

/* The column called `want` (len bytes, not zero-terminated): its index, or -1. */
static int mdl__csv_find(char **names, int ncols, const char *want, size_t len) {
    int j;
    if (!names) { /* a file without a header: the position, "0", "1", ... */
        size_t k;
        long v = 0;
        if (len == 0 || len > 9) return -1;
        for (k = 0; k < len; k++) {
            if (want[k] < '0' || want[k] > '9') return -1;
            v = 10 * v + (want[k] - '0');
        }
        return v < ncols ? (int)v : -1;
    }
    for (j = 0; j < ncols; j++)
        if (strlen(names[j]) == len && memcmp(names[j], want, len) == 0) return j;
    return -1;
}

/* Report a column that is not there, listing those that are (as many as the message holds). */
static mdl_error mdl__csv_no_column(mdl__csv *c, char **names, int ncols, const char *want,
                                    size_t len) {
    char list[200];
    size_t used = 0;
    int j;
    list[0] = 0;
    if (!names) {
        snprintf(list, sizeof list, "0 to %d (the file has no header)", ncols - 1);
    } else {
        for (j = 0; j < ncols && used + 8 < sizeof list; j++) {
            int k = snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", names[j]);
            used += k > 0 ? (size_t)k : 0;
        }
        if (used >= sizeof list - 1) strcpy(list + sizeof list - 5, "...");
    }
    return mdl__env_error(MDL_ERR_FORMAT, c->fn, "%s:%d: no column named '%.*s'; the columns "
                          "are %s", c->name, names ? 1 : 0, (int)(len > 64 ? 64 : len), want,
                          list);
}

/* Order of class names: by value when all are numbers, else by strcmp. */
typedef struct mdl__class_name {
    const char *s;
    double v;
} mdl__class_name;
static int mdl__class_by_text(const void *a, const void *b) {
    return strcmp(((const mdl__class_name *)a)->s, ((const mdl__class_name *)b)->s);
}
static int mdl__class_by_value(const void *a, const void *b) {
    double x = ((const mdl__class_name *)a)->v, y = ((const mdl__class_name *)b)->v;
    return x < y ? -1 : x > y ? 1 : mdl__class_by_text(a, b);
}

static mdl_vocab *mdl__vocab_list(const char *const *tokens, int n, int kind);
#define MDL__VOCAB_CHARS 1
#define MDL__VOCAB_WORDS 2
#define MDL__VOCAB_LIST 3

/* The class names of the kept rows: distinct, sorted, as a vocabulary; *ids gets each row's. */
static mdl_vocab *mdl__csv_classes(const char *fn, char **cls, size_t rows, mdl_scalar *ids) {
    mdl__class_name *all = (mdl__class_name *)MINIDL_MALLOC(rows * sizeof *all);
    const char **names;
    mdl_vocab *v = NULL;
    size_t i, k = 0;
    int numbers = 1;
    if (!all) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for %zu class names", rows);
        return NULL;
    }
    for (i = 0; i < rows; i++) all[i].s = cls[i];
    qsort(all, rows, sizeof *all, mdl__class_by_text);
    for (i = 0; i < rows; i++) /* the distinct names, first to last */
        if (i == 0 || strcmp(all[i].s, all[k - 1].s) != 0) all[k++] = all[i];
    for (i = 0; i < k && numbers; i++) /* ("-nan" is a number to strtod, not to a sort) */
        numbers = mdl__csv_number(all[i].s, &all[i].v) && isfinite(all[i].v);
    if (numbers) qsort(all, k, sizeof *all, mdl__class_by_value);
    names = (const char **)MINIDL_MALLOC(k * sizeof *names);
    if (names) {
        for (i = 0; i < k; i++) names[i] = all[i].s;
        v = mdl__vocab_list(names, (int)k, MDL__VOCAB_LIST);
        MINIDL_FREE(names);
    } else {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for %zu class names", k);
    }
    MINIDL_FREE(all);
    if (v)
        for (i = 0; i < rows; i++) ids[i] = (mdl_scalar)mdl_vocab_index(v, cls[i]);
    return v;
}

/* The parse proper, on a private copy `c->buf` that it may write into. */
static mdl_error mdl__csv_parse(mdl__csv *c, mdl_params *ps, const char *xname,
                                const char *yname, const mdl_csv_opts *o, mdl_csv *out) {
    const char *fn = c->fn;
    mdl__field *f = NULL;
    char **names = NULL, **cls = NULL, num[32];
    int *col = NULL, ncols = 0, nf, nx = 0, target = -1, j, r;
    size_t rows_max = 1, rows = 0, line = 0, ncol_room = 0, delims = 0, i;
    mdl_scalar *xs = NULL, *ys = NULL;
    mdl_vocab *classes = NULL;
    mdl_error e = MDL_OK;
    mdl_tensor *x = NULL, *y = NULL;

    /* 1. the first record: how many columns, and their names */
    r = mdl__csv_record(c, NULL, 0, &ncols, &line);
    if (r <= 0) {
        if (r == 0) mdl__env_error(MDL_ERR_FORMAT, fn, "%s:1: the file is empty", c->name);
        return mdl__last_code;
    }
    c->pos = 0; /* read it again, now that there is room for its fields */
    c->line = 1;
    if (c->size >= 3 && memcmp(c->buf, "\xef\xbb\xbf", 3) == 0) c->pos = 3;
    f = (mdl__field *)MINIDL_MALLOC((size_t)ncols * sizeof *f);
    if (o->columns) /* room for each name listed (a column may be named twice), or each column */
        for (i = 0, ncol_room = 1; o->columns[i]; i++) ncol_room += o->columns[i] == ',';
    if (ncol_room < (size_t)ncols) ncol_room = (size_t)ncols;
    col = (int *)MINIDL_MALLOC((ncol_room + 1) * sizeof *col);
    if (!o->no_header) names = (char **)MINIDL_MALLOC((size_t)ncols * sizeof *names);
    if (!f || !col || (!o->no_header && !names)) {
        e = mdl__env_error(MDL_ERR_NOMEM, fn, "%s: out of memory for %d columns", c->name, ncols);
        goto done;
    }
    if (!o->no_header) {
        mdl__csv_record(c, f, ncols, &nf, &line);
        for (j = 0; j < ncols; j++) names[j] = mdl__csv_text(c, &f[j]);
    }

    /* 2. the columns chosen: the target, then the features by name (or all but the target) */
    if (o->target) {
        target = mdl__csv_find(names, ncols, o->target, strlen(o->target));
        if (target < 0) {
            e = mdl__csv_no_column(c, names, ncols, o->target, strlen(o->target));
            goto done;
        }
    }
    if (!o->columns) {
        for (j = 0; j < ncols; j++)
            if (j != target) col[nx++] = j;
    } else {
        const char *p = o->columns;
        while (*p) { /* "a, b,c": names between commas, spaces around them ignored */
            const char *q = p, *a, *z;
            while (*q && *q != ',') q++;
            for (a = p; a < q && *a == ' '; a++) {}
            for (z = q; z > a && z[-1] == ' '; z--) {}
            j = mdl__csv_find(names, ncols, a, (size_t)(z - a));
            if (j < 0) {
                e = mdl__csv_no_column(c, names, ncols, a, (size_t)(z - a));
                goto done;
            }
            col[nx++] = j;
            p = *q ? q + 1 : q;
        }
    }
    /* 3. room for every row there could be: no more than the line endings plus one, nor than
       the delimiters allow (each row has ncols - 1 of them), so the room is never far beyond
       the size of the file, whatever its header claims */
    for (i = c->pos; i < c->size; i++) {
        rows_max += c->buf[i] == '\n' || c->buf[i] == '\r';
        delims += c->buf[i] == c->delim;
    }
    if (ncols > 1 && delims / (size_t)(ncols - 1) + 1 < rows_max)
        rows_max = delims / (size_t)(ncols - 1) + 1;
    if (nx && rows_max > (size_t)-1 / sizeof(mdl_scalar) / (size_t)nx) {
        e = mdl__env_error(MDL_ERR_SIZE, fn, "%s: %zu rows of %d columns are too many", c->name,
                           rows_max, nx);
        goto done;
    }
    xs = (mdl_scalar *)MINIDL_MALLOC(rows_max * (size_t)(nx ? nx : 1) * sizeof *xs);
    ys = (mdl_scalar *)MINIDL_MALLOC(rows_max * sizeof *ys);
    if (o->classes && target >= 0) cls = (char **)MINIDL_MALLOC(rows_max * sizeof *cls);
    if (!xs || !ys || (o->classes && target >= 0 && !cls)) {
        e = mdl__env_error(MDL_ERR_NOMEM, fn, "%s: out of memory for %zu rows", c->name, rows_max);
        goto done;
    }

    /* 4. the rows: check each field used, drop or report the missing, parse the numbers */
    col[nx] = target; /* the target is checked with the features, as column nx */
    while ((r = mdl__csv_record(c, f, ncols, &nf, &line)) > 0) {
        int missing = -1, k;
        const char *text;
        if (nf != ncols) {
            e = mdl__env_error(MDL_ERR_FORMAT, fn, "%s:%zu: %d fields, but the %s has %d",
                               c->name, line, nf, names ? "header" : "first line", ncols);
            goto done;
        }
        for (k = 0; k <= nx; k++) /* made C strings once each, then read */
            if (col[k] >= 0 && !f[col[k]].ready) {
                mdl__csv_text(c, &f[col[k]]);
                f[col[k]].ready = 1;
            }
        for (k = 0; k <= nx && missing < 0; k++)
            if (col[k] >= 0 && mdl__csv_missing(c->buf + f[col[k]].start)) missing = col[k];
        if (missing >= 0) {
            if (!o->drop_missing) {
                e = mdl__env_error(MDL_ERR_FORMAT, fn, "%s:%zu: column '%s' (%d): missing value "
                                   "'%s' (set drop_missing to drop such rows)", c->name,
                                   f[missing].line,
                                   mdl__csv_colname(names, missing, num, sizeof num),
                                   missing + 1, c->buf + f[missing].start);
                goto done;
            }
            out->dropped++;
            continue;
        }
        for (k = 0; k <= nx; k++) {
            double v;
            const mdl__field *fk;
            if (col[k] < 0) continue;
            fk = &f[col[k]];
            text = c->buf + fk->start;
            if (k == nx && cls) { /* a class name, kept as text */
                cls[rows] = c->buf + fk->start;
                continue;
            }
            if (!mdl__csv_number(text, &v) || !(fabs(v) <= MDL__SCALAR_MAX)) {
                e = mdl__env_error(MDL_ERR_FORMAT, fn, "%s:%zu: column '%s' (%d): '%.40s%s' is "
                                   "not a %snumber", c->name, fk->line,
                                   mdl__csv_colname(names, col[k], num, sizeof num), col[k] + 1,
                                   text, strlen(text) > 40 ? "..." : "",
                                   mdl__csv_number(text, &v) ? "finite " : "");
                goto done;
            }
            if (k < nx)
                xs[rows * (size_t)nx + (size_t)k] = (mdl_scalar)v;
            else
                ys[rows] = (mdl_scalar)v;
        }
        rows++;
    }
    if (r < 0) {
        e = mdl__last_code;
        goto done;
    }
    if (rows == 0) {
        e = mdl__env_error(MDL_ERR_FORMAT, fn, "%s: no rows of data (%d dropped for missing "
                           "values)", c->name, out->dropped);
        goto done;
    }
    if (rows > (size_t)INT_MAX) {
        e = mdl__env_error(MDL_ERR_SIZE, fn, "%s: %zu rows are too many", c->name, rows);
        goto done;
    }

    /* 5. the class names, sorted, and each row's index */
    if (cls && !(classes = mdl__csv_classes(fn, cls, rows, ys))) {
        e = mdl__last_code;
        goto done;
    }

    /* 6. into the set, now that nothing can go wrong with the file (only memory can run out,
       and then between x and y: x stays in the set, which frees it) */
    if (nx) {
        int shape[2];
        shape[0] = (int)rows;
        shape[1] = nx;
        if (!(x = mdl_params_add_buffer(ps, xname, 2, shape))) {
            e = mdl__last_code;
            goto done;
        }
        memcpy(x->data, xs, rows * (size_t)nx * sizeof *xs);
    }
    if (target >= 0) {
        int shape[1];
        shape[0] = (int)rows;
        if (!(y = mdl_params_add_buffer(ps, yname, 1, shape))) {
            e = mdl__last_code;
            goto done;
        }
        memcpy(y->data, ys, rows * sizeof *ys);
    }
    out->x = x;
    out->y = y;
    out->classes = classes;
    out->rows = (int)rows;
    classes = NULL;
done:
    mdl_vocab_free(classes);
    MINIDL_FREE(f);
    MINIDL_FREE(col);
    MINIDL_FREE(names);
    MINIDL_FREE(cls);
    MINIDL_FREE(xs);
    MINIDL_FREE(ys);
    return e;
}

/* The names "<name>.x" and "<name>.y" into xname and yname (256 bytes each), and the checks
   of mdl__load_args on them. */
static int mdl__csv_names(const char *fn, mdl_params *ps, const char *name, char *xname,
                          char *yname, const void *src, const char *src_what, const void *out) {
    if (name && strlen(name) > 250) {
        mdl__fail(MDL_ERR_ARG, fn, "name is longer than 250 bytes");
        return 0;
    }
    if (name) {
        snprintf(xname, 256, "%s.x", name);
        snprintf(yname, 256, "%s.y", name);
    }
    return mdl__load_args(fn, ps, name ? xname : NULL, yname, src, src_what, out);
}

MDLDEF mdl_error mdl_load_csv_mem(mdl_params *ps, const char *name, const void *data,
                                  size_t size, const char *display_name,
                                  const mdl_csv_opts *opts, mdl_csv *out) {
    const char *fn = "mdl_load_csv_mem";
    mdl_csv_opts defaults;
    char xname[256], yname[256];
    const unsigned char *bytes;
    unsigned char *own;
    const char *zero;
    mdl__csv c;
    size_t n;
    mdl_error e;
    if (out) memset(out, 0, sizeof *out);
    if (!mdl__csv_names(fn, ps, name, xname, yname, data, "data", out)) return mdl__last_code;
    if (!opts) {
        memset(&defaults, 0, sizeof defaults);
        opts = &defaults;
    }
    memset(&c, 0, sizeof c);
    c.fn = fn;
    c.name = display_name ? display_name : "csv";
    c.delim = opts->delimiter ? opts->delimiter : ',';
    c.line = 1;
    if (c.delim == '"' || c.delim == '\n' || c.delim == '\r') {
        mdl__fail(MDL_ERR_ARG, fn, "the delimiter cannot be a quote or a line end");
        return MDL_ERR_ARG;
    }
    e = mdl__maybe_gunzip(fn, c.name, (const unsigned char *)data, size,
                          mdl__limit(opts->max_bytes), &bytes, &n, &own);
    if (e != MDL_OK) return e;
    /* the parser writes into the text: its own copy (the decompressed one is already) */
    if (own) {
        c.buf = (char *)own;
    } else {
        c.buf = (char *)MINIDL_MALLOC(n + 1);
        if (!c.buf) return mdl__env_error(MDL_ERR_NOMEM, fn, "%s: out of memory", c.name);
        memcpy(c.buf, bytes, n);
        c.buf[n] = 0;
    }
    c.size = n;
    if ((zero = (const char *)memchr(c.buf, 0, n)) != NULL) {
        size_t at = (size_t)(zero - c.buf), k;
        for (k = 0; k < at; k++) c.line += c.buf[k] == '\n';
        e = mdl__env_error(MDL_ERR_FORMAT, fn, "%s:%zu: byte %zu is a zero byte: not a text "
                           "file", c.name, c.line, at);
    } else {
        if (n >= 3 && memcmp(c.buf, "\xef\xbb\xbf", 3) == 0) c.pos = 3; /* a UTF-8 BOM */
        e = mdl__csv_parse(&c, ps, xname, yname, opts, out);
    }
    MINIDL_FREE(c.buf);
    if (e != MDL_OK) memset(out, 0, sizeof *out);
    return e;
}

MDLDEF mdl_error mdl_load_csv(mdl_params *ps, const char *name, const char *path,
                              const mdl_csv_opts *opts, mdl_csv *out) {
    const char *fn = "mdl_load_csv";
    char xname[256], yname[256];
    unsigned char *data;
    size_t size;
    mdl_error e;
    if (out) memset(out, 0, sizeof *out);
    if (!mdl__csv_names(fn, ps, name, xname, yname, path, "path", out)) return mdl__last_code;
    e = mdl__read_all(fn, path, mdl__limit(opts ? opts->max_bytes : 0), &data, &size);
    if (e != MDL_OK) return e;
    e = mdl_load_csv_mem(ps, name, data, size, path, opts, out);
    MINIDL_FREE(data);
    return e;
}

/* ---------------------------------------------------------------------------------------------
   Text and vocabularies
     text      "It is a truth universally acknowledged..."
     chars     the distinct bytes, sorted: ' ' ',' '.' 'A' ... 'z'   index = rank of the byte
     words     "<unk>", then "the" "to" "of" ... by decreasing count; a word not kept -> 0
     encode    text -> indices [T]           decode    indices -> text
   A vocabulary keeps its tokens in one block, each ended by a zero byte, and an index of them
   sorted by strcmp for the lookup by name (binary search); a character vocabulary also has a
   table of the 256 byte values.
   --------------------------------------------------------------------------------------------- */

MDLDEF mdl_error mdl_read_text(const char *path, size_t max_bytes, char **text, size_t *len) {
    const char *fn = "mdl_read_text";
    unsigned char *data, *own;
    const unsigned char *bytes;
    const char *zero;
    size_t size, n;
    mdl_error e;
    if (!path || !text || !len) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL", !path ? "path" : !text ? "text" : "len");
        return MDL_ERR_NULL;
    }
    *text = NULL;
    *len = 0;
    e = mdl__read_all(fn, path, mdl__limit(max_bytes), &data, &size);
    if (e != MDL_OK) return e;
    e = mdl__maybe_gunzip(fn, path, data, size, mdl__limit(max_bytes), &bytes, &n, &own);
    if (own) MINIDL_FREE(data);
    if (e != MDL_OK) {
        MINIDL_FREE(data);
        return e;
    }
    data = own ? own : data;
    if ((zero = (const char *)memchr(data, 0, n)) != NULL) {
        size_t at = (size_t)(zero - (const char *)data);
        MINIDL_FREE(data);
        return mdl__env_error(MDL_ERR_FORMAT, fn, "%s%s: byte %zu is a zero byte: not a text "
                              "file", path, own ? " (decompressed)" : "", at);
    }
    *text = (char *)data;
    *len = n;
    return MDL_OK;
}

struct mdl_vocab {
    int kind;            /* MDL__VOCAB_CHARS, _WORDS or _LIST */
    int size;
    char **token;        /* token[i]: the string of index i, in `text` */
    int *by_name;        /* the indices in strcmp order of their tokens */
    int unk;             /* the index of "<unk>" (word vocabularies), else -1 */
    int of_byte[256];    /* character vocabularies: the index of each byte value, or -1 */
    unsigned char byte[256]; /* and the byte of each index (a zero byte's token is "") */
    char *text;          /* the tokens, each ended by a zero byte */
};

/* strcmp order of indices into one vocabulary, for qsort (ties cannot happen: tokens differ) */
typedef struct mdl__ranked {
    const char *s;
    int i;
} mdl__ranked;
static int mdl__ranked_cmp(const void *a, const void *b) {
    return strcmp(((const mdl__ranked *)a)->s, ((const mdl__ranked *)b)->s);
}

/* A vocabulary of n distinct tokens, copied. NULL after reporting if memory ran out. */
static mdl_vocab *mdl__vocab_list(const char *const *tokens, int n, int kind) {
    const char *fn = "mdl_vocab";
    mdl_vocab *v = (mdl_vocab *)MINIDL_MALLOC(sizeof(mdl_vocab));
    mdl__ranked *rank = NULL;
    size_t bytes = 0;
    char *p;
    int i;
    if (v) {
        memset(v, 0, sizeof *v);
        for (i = 0; i < n; i++) bytes += strlen(tokens[i]) + 1;
        v->token = (char **)MINIDL_MALLOC((size_t)(n ? n : 1) * sizeof(char *));
        v->by_name = (int *)MINIDL_MALLOC((size_t)(n ? n : 1) * sizeof(int));
        v->text = (char *)MINIDL_MALLOC(bytes ? bytes : 1);
        rank = (mdl__ranked *)MINIDL_MALLOC((size_t)(n ? n : 1) * sizeof *rank);
    }
    if (!v || !v->token || !v->by_name || !v->text || !rank) {
        MINIDL_FREE(rank);
        mdl_vocab_free(v);
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a vocabulary of %d tokens", n);
        return NULL;
    }
    v->kind = kind;
    v->size = n;
    v->unk = -1;
    for (i = 0, p = v->text; i < n; i++) {
        size_t len = strlen(tokens[i]) + 1;
        memcpy(p, tokens[i], len);
        v->token[i] = p;
        rank[i].s = p;
        rank[i].i = i;
        p += len;
    }
    qsort(rank, (size_t)n, sizeof *rank, mdl__ranked_cmp);
    for (i = 0; i < n; i++) v->by_name[i] = rank[i].i;
    MINIDL_FREE(rank);
    for (i = 0; i < 256; i++) v->of_byte[i] = -1;
    return v;
}

MDLDEF void mdl_vocab_free(mdl_vocab *v) {
    if (!v) return;
    MINIDL_FREE(v->token);
    MINIDL_FREE(v->by_name);
    MINIDL_FREE(v->text);
    MINIDL_FREE(v);
}

MDLDEF int mdl_vocab_size(const mdl_vocab *v) { return v ? v->size : 0; }

MDLDEF const char *mdl_vocab_token(const mdl_vocab *v, int i) {
    if (!v) {
        mdl__fail(MDL_ERR_NULL, "mdl_vocab_token", "the vocabulary is NULL");
        return NULL;
    }
    if (i < 0 || i >= v->size) {
        mdl__fail(MDL_ERR_ARG, "mdl_vocab_token", "index %d is outside 0..%d", i, v->size - 1);
        return NULL;
    }
    return v->token[i];
}

MDLDEF int mdl_vocab_index(const mdl_vocab *v, const char *token) {
    int lo = 0, hi;
    if (!v || !token) return -1;
    if (v->kind == MDL__VOCAB_CHARS) /* one byte exactly */
        return token[0] && !token[1] ? v->of_byte[(unsigned char)token[0]] : -1;
    hi = v->size - 1;
    while (lo <= hi) { /* binary search in strcmp order */
        int mid = lo + (hi - lo) / 2, cmp = strcmp(v->token[v->by_name[mid]], token);
        if (cmp == 0) return v->by_name[mid];
        if (cmp < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

MDLDEF mdl_vocab *mdl_vocab_chars(const char *text, size_t len) {
    char store[256][2];
    const char *tokens[256];
    int seen[256], n = 0, b;
    size_t i;
    mdl_vocab *v;
    if (!text && len) {
        mdl__fail(MDL_ERR_NULL, "mdl_vocab_chars", "text is NULL");
        return NULL;
    }
    memset(seen, 0, sizeof seen);
    for (i = 0; i < len; i++) seen[(unsigned char)text[i]] = 1;
    for (b = 0; b < 256; b++) /* in increasing byte order */
        if (seen[b]) {
            store[n][0] = (char)b;
            store[n][1] = 0;
            tokens[n] = store[n];
            n++;
        }
    v = mdl__vocab_list(tokens, n, MDL__VOCAB_CHARS);
    if (!v) return NULL;
    for (b = 0; b < n; b++) {
        v->byte[b] = (unsigned char)store[b][0];
        v->of_byte[(unsigned char)store[b][0]] = b;
    }
    return v;
}

/* Is c an ASCII letter? (Words are runs of them.) */
static int mdl__letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* The words of a text, lowercased, as C strings in `low` (a copy of the text with a zero byte
   written after each word); words[] gets them (may be NULL to count). Returns how many. */
static size_t mdl__words(const char *text, size_t len, char *low, char **words) {
    size_t i = 0, n = 0;
    while (i < len) {
        size_t start;
        while (i < len && !mdl__letter(text[i])) i++;
        if (i == len) break;
        start = i;
        while (i < len && mdl__letter(text[i])) {
            if (low) low[i] = (char)(text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
            i++;
        }
        if (low) low[i] = 0; /* over the separator (low has one byte more than the text) */
        if (words) words[n] = low + start;
        n++;
    }
    return n;
}

/* Words by decreasing count, ties alphabetical. */
typedef struct mdl__counted {
    const char *s;
    size_t count;
} mdl__counted;
static int mdl__by_text(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
static int mdl__by_count(const void *a, const void *b) {
    const mdl__counted *x = (const mdl__counted *)a, *y = (const mdl__counted *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->s, y->s);
}

MDLDEF mdl_vocab *mdl_vocab_words(const char *text, size_t len, int min_count, int max_size) {
    const char *fn = "mdl_vocab_words";
    size_t nwords, i, k = 0, keep;
    char *low, **words = NULL;
    mdl__counted *distinct = NULL;
    const char **tokens = NULL;
    mdl_vocab *v = NULL;
    if (!text && len) {
        mdl__fail(MDL_ERR_NULL, fn, "text is NULL");
        return NULL;
    }
    if (len == (size_t)-1 || !(low = (char *)MINIDL_MALLOC(len + 1))) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a text of %zu bytes", len);
        return NULL;
    }
    nwords = mdl__words(text, len, NULL, NULL);
    words = (char **)MINIDL_MALLOC((nwords ? nwords : 1) * sizeof *words);
    distinct = (mdl__counted *)MINIDL_MALLOC((nwords ? nwords : 1) * sizeof *distinct);
    tokens = (const char **)MINIDL_MALLOC((nwords + 1) * sizeof *tokens);
    if (!words || !distinct || !tokens) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for %zu words", nwords);
        goto done;
    }
    mdl__words(text, len, low, words);
    qsort(words, nwords, sizeof *words, mdl__by_text); /* equal words next to each other */
    for (i = 0; i < nwords; i++) {
        if (k && strcmp(words[i], distinct[k - 1].s) == 0) {
            distinct[k - 1].count++;
        } else {
            distinct[k].s = words[i];
            distinct[k++].count = 1;
        }
    }
    qsort(distinct, k, sizeof *distinct, mdl__by_count);
    tokens[0] = "<unk>";
    for (i = 0, keep = 1; i < k; i++) {
        if (distinct[i].count < (size_t)(min_count > 1 ? min_count : 1)) break; /* sorted */
        if (max_size > 0 && keep >= (size_t)max_size) break;
        tokens[keep++] = distinct[i].s;
    }
    v = mdl__vocab_list(tokens, (int)keep, MDL__VOCAB_WORDS);
    if (v) v->unk = 0;
done:
    MINIDL_FREE(low);
    MINIDL_FREE(words);
    MINIDL_FREE(distinct);
    MINIDL_FREE((void *)tokens);
    return v;
}

MDLDEF mdl_error mdl_vocab_encode(mdl_params *ps, const char *name, const mdl_vocab *v,
                                  const char *text, size_t len, mdl_tensor **out) {
    const char *fn = "mdl_vocab_encode";
    mdl_tensor *t;
    int shape[1];
    size_t i, n;
    if (out) *out = NULL;
    if (!mdl__load_args(fn, ps, name, NULL, v, "the vocabulary", out)) return mdl__last_code;
    if (!text && len) {
        mdl__fail(MDL_ERR_NULL, fn, "text is NULL");
        return MDL_ERR_NULL;
    }
    if (v->kind == MDL__VOCAB_LIST) {
        mdl__fail(MDL_ERR_ARG, fn, "a list of class names does not encode text (use "
                  "mdl_vocab_index for one name)");
        return MDL_ERR_ARG;
    }
    if (v->kind == MDL__VOCAB_CHARS) {
        for (i = 0; i < len; i++) /* every byte must be in the vocabulary */
            if (v->of_byte[(unsigned char)text[i]] < 0)
                return mdl__env_error(MDL_ERR_ARG, fn, "byte %zu of the text, 0x%02X ('%c'), is "
                                      "not in the vocabulary of %d characters", i,
                                      (unsigned char)text[i],
                                      text[i] >= 32 && text[i] < 127 ? text[i] : '?', v->size);
        if (len > (size_t)INT_MAX)
            return mdl__env_error(MDL_ERR_SIZE, fn, "a text of %zu bytes is too long", len);
        shape[0] = (int)len;
        if (!(t = mdl_params_add_buffer(ps, name, 1, shape))) return mdl__last_code;
        for (i = 0; i < len; i++) t->data[i] = (mdl_scalar)v->of_byte[(unsigned char)text[i]];
    } else {
        char *low, **words;
        if (len == (size_t)-1 || !(low = (char *)MINIDL_MALLOC(len + 1)))
            return mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for a text of %zu bytes", len);
        n = mdl__words(text, len, NULL, NULL);
        if (n > (size_t)INT_MAX || !(words = (char **)MINIDL_MALLOC((n ? n : 1) * sizeof *words))) {
            MINIDL_FREE(low);
            return mdl__env_error(n > (size_t)INT_MAX ? MDL_ERR_SIZE : MDL_ERR_NOMEM, fn,
                                  "cannot hold %zu words", n);
        }
        mdl__words(text, len, low, words);
        shape[0] = (int)n;
        t = mdl_params_add_buffer(ps, name, 1, shape);
        for (i = 0; t && i < n; i++) { /* an unknown word is "<unk>" */
            int id = mdl_vocab_index(v, words[i]);
            t->data[i] = (mdl_scalar)(id >= 0 ? id : v->unk);
        }
        MINIDL_FREE(low);
        MINIDL_FREE(words);
        if (!t) return mdl__last_code;
    }
    *out = t;
    return MDL_OK;
}

MDLDEF size_t mdl_vocab_decode(const mdl_vocab *v, const mdl_tensor *ids, char *buf,
                               size_t size) {
    const char *fn = "mdl_vocab_decode";
    size_t i, n = 0;
    if (buf && size) buf[0] = 0;
    if (!v) {
        mdl__fail(MDL_ERR_NULL, fn, "the vocabulary is NULL");
        return 0;
    }
    if (!mdl__usable(fn, "ids", ids)) return 0;
    if (!buf && size) {
        mdl__fail(MDL_ERR_NULL, fn, "buf is NULL");
        return 0;
    }
    for (i = 0; i < ids->numel; i++) { /* check every index before writing anything */
        mdl_scalar id = ids->data[i];
        if (!(id >= 0 && id < (mdl_scalar)v->size && id == (mdl_scalar)(int)id)) {
            char pos[96];
            mdl__fail(MDL_ERR_ARG, fn, "ids%s = %g is not a token index 0..%d",
                      mdl__index_fmt(ids, i, pos, sizeof pos), (double)id, v->size - 1);
            return 0;
        }
    }
    for (i = 0; i < ids->numel; i++) {
        int id = (int)ids->data[i];
        size_t k, len;
        const char *s = v->token[id];
        if (v->kind == MDL__VOCAB_CHARS) { /* one byte, even a zero byte */
            if (n + 1 < size) buf[n] = (char)v->byte[id];
            n++;
            continue;
        }
        if (i > 0) { /* words and names, separated by spaces */
            if (n + 1 < size) buf[n] = ' ';
            n++;
        }
        len = strlen(s);
        for (k = 0; k < len; k++, n++)
            if (n + 1 < size) buf[n] = s[k];
    }
    if (size) buf[n < size ? n : size - 1] = 0;
    return n;
}

// >>metrics

/* ---------------------------------------------------------------------------------------------
   Metrics: how good the predictions are, for people to read.
     accuracy     mean_i [argmax_c x[i,c] == y_i]                   x:[N,C] or [N]  y:[N]
     top-k        mean_i [rank of y_i in row i < k]                 x:[N,C]         y:[N]
     confusion    cm[t,p] = #{i : y_i = t, argmax x_i = p}          -> cm:[C,C]
     precision_c  cm[c,c] / sum_t cm[t,c]        (of the predicted c, how many are c)
     recall_c     cm[c,c] / sum_p cm[c,p]        (of the true c, how many were found)
     F1_c         2 cm[c,c] / (row c + column c) (= 2 P R / (P + R))
     R^2          1 - sum (y - x)^2 / sum (y - mean y)^2
     log-loss     mean_i logsumexp(x_i) - x_i[y_i]   (nats; perplexity e^that, bits / ln 2)
   None of them records anything on the tape: a metric is read, never differentiated. Every
   sum is in double, whatever mdl_scalar is, so a metric over a whole data set does not lose
   the last samples to rounding. Targets are checked as index tensors are, but with a message
   that names the tensor as the caller knows it ("target [5]: element 3 is 7, outside 0..2").
   --------------------------------------------------------------------------------------------- */

/* Are shapes a and b equal? */
static int mdl__metric_same_shape(const mdl_tensor *a, const mdl_tensor *b) {
    return a->ndim == b->ndim &&
           memcmp(a->shape, b->shape, sizeof(int) * (size_t)a->ndim) == 0;
}

/* Check a tensor of classes: every value a whole number in 0..limit-1 (limit INT_MAX: only
   >= 0). Reports the first bad element as MDL_ERR_ARG with `what` (the argument's name), the
   shape, the element and its value; `range` says where the limit comes from. */
static int mdl__metric_check_classes(const char *fn, const char *what, const mdl_tensor *t,
                                     int limit, const char *range) {
    size_t i;
    char shape[96], pos[96];
    for (i = 0; i < t->numel; i++) {
        double v = (double)t->data[i];
        if (v == floor(v) && v >= 0 && v < (double)limit) continue; /* NaN fails v == floor(v) */
        mdl_shape_str(t, shape, sizeof shape);
        mdl__index_fmt(t, i, pos, sizeof pos);
        if (v != floor(v))
            mdl__fail(MDL_ERR_ARG, fn, "%s %s: element %s is %g, not a whole number (classes "
                      "are held as whole-number values)", what, shape, pos, v);
        else if (limit == INT_MAX)
            mdl__fail(MDL_ERR_ARG, fn, "%s %s: element %s is %g, not a class (classes are 0 "
                      "or more)", what, shape, pos, v);
        else
            mdl__fail(MDL_ERR_ARG, fn, "%s %s: element %s is %g, outside 0..%d (%s)", what,
                      shape, pos, v, limit - 1, range);
        return 0;
    }
    return 1;
}

/* The checks of a classification metric: input scores [N,C] (scores_only: only those) or
   classes [N], target classes [N] in range. Sets *C to the number of classes of the scores
   (0 for predicted classes, whose range the caller knows: `limit`). */
static int mdl__metric_classes_ok(const char *fn, const mdl_tensor *input,
                                  const mdl_tensor *target, int scores_only, int limit, int *C) {
    char bi[96], bt[96], range[128];
    if (!mdl__usable(fn, "input", input) || !mdl__usable(fn, "target", target)) return 0;
    mdl_shape_str(input, bi, sizeof bi);
    mdl_shape_str(target, bt, sizeof bt);
    if (target->ndim != 1) {
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and target %s: the target must be [N], one "
                  "class per sample (reshape [N,1] to [N])", bi, bt);
        return 0;
    }
    if ((input->ndim != 2 && (scores_only || input->ndim != 1)) ||
        input->shape[0] != target->shape[0]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and target %s: the input must be %s with N = "
                  "target.shape[0] = %d", bi, bt, scores_only ? "scores [N,C]" :
                  "scores [N,C] or predicted classes [N]", target->shape[0]);
        return 0;
    }
    *C = input->ndim == 2 ? input->shape[1] : 0;
    if (input->ndim == 2) {
        snprintf(range, sizeof range, "the %d classes of input %s", *C, bi);
        return mdl__metric_check_classes(fn, "target", target, *C, range);
    }
    snprintf(range, sizeof range, "the %d classes", limit);
    return mdl__metric_check_classes(fn, "input", input, limit, range) &&
           mdl__metric_check_classes(fn, "target", target, limit, range);
}

/* The predicted class of sample i: the argmax of its row of scores (the first of equal
   maxima, NaN the largest, as mdl_argmax), or the class given. */
static int mdl__metric_predicted(const mdl_tensor *input, size_t i) {
    size_t best;
    if (input->ndim == 1) return (int)input->data[i];
    mdl__argmax_forward(input->data + i * (size_t)input->shape[1], NULL, &best, 1,
                        (size_t)input->shape[1], 1);
    return (int)best;
}

MDLDEF double mdl_accuracy(const mdl_tensor *input, const mdl_tensor *target) {
    int C;
    size_t i, right = 0;
    if (!mdl__metric_classes_ok("mdl_accuracy", input, target, 0, INT_MAX, &C)) return NAN;
    for (i = 0; i < target->numel; i++)
        right += mdl__metric_predicted(input, i) == (int)target->data[i];
    return (double)right / (double)target->numel; /* 0 / 0 = NaN for no samples */
}

MDLDEF double mdl_binary_accuracy(const mdl_tensor *input, const mdl_tensor *target,
                                  double threshold) {
    const char *fn = "mdl_binary_accuracy";
    char bi[96], bt[96];
    size_t i, right = 0;
    if (!mdl__usable(fn, "input", input) || !mdl__usable(fn, "target", target)) return NAN;
    if (!mdl__metric_same_shape(input, target)) {
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and target %s must have the same shape",
                  mdl_shape_str(input, bi, sizeof bi), mdl_shape_str(target, bt, sizeof bt));
        return NAN;
    }
    if (!mdl__metric_check_classes(fn, "target", target, 2, "a yes/no target is 0 or 1"))
        return NAN;
    for (i = 0; i < input->numel; i++) /* NaN > threshold is false: NaN predicts 0 */
        right += ((double)input->data[i] > threshold) == (target->data[i] == 1);
    return (double)right / (double)input->numel;
}

MDLDEF double mdl_top_k_accuracy(const mdl_tensor *scores, const mdl_tensor *target, int k) {
    const char *fn = "mdl_top_k_accuracy";
    int C, c;
    size_t i, hits = 0;
    if (!mdl__metric_classes_ok(fn, scores, target, 1, 0, &C)) return NAN;
    if (k < 1 || k > C) {
        char bs[96];
        mdl__fail(MDL_ERR_ARG, fn, "k = %d with scores %s: k must be in 1..%d", k,
                  mdl_shape_str(scores, bs, sizeof bs), C);
        return NAN;
    }
    for (i = 0; i < target->numel; i++) {
        /* The rank of the target's score: how many classes come before it, where c comes
           before t if its score is larger, or equal and c < t (the argmax's order; NaN counts
           as the largest). The target is a hit when fewer than k come before it. */
        const mdl_scalar *row = scores->data + i * (size_t)C;
        int t = (int)target->data[i], before = 0;
        mdl_scalar st = row[t];
        for (c = 0; c < C && before < k; c++) {
            mdl_scalar sc = row[c];
            if (c == t) continue;
            if (sc != sc) /* a NaN: before any number, and before a later NaN */
                before += st == st || c < t;
            else if (st == st)
                before += sc > st || (sc == st && c < t);
        }
        hits += before < k;
    }
    return (double)hits / (double)target->numel;
}

MDLDEF mdl_tensor *mdl_confusion_matrix(mdl_arena *ar, const mdl_tensor *input,
                                        const mdl_tensor *target, int num_classes) {
    const char *fn = "mdl_confusion_matrix";
    int C, shape[2];
    size_t i;
    mdl_tensor *cm;
    if (!mdl__usable_arena(fn, ar) || !mdl__usable(fn, "input", input)) return NULL;
    if (num_classes < 0 || (num_classes == 0 && input->ndim != 2) ||
        (num_classes > 0 && input->ndim == 2 && input->shape[1] != num_classes)) {
        char bi[96];
        mdl__fail(MDL_ERR_ARG, fn, "num_classes = %d with input %s: give the number of classes "
                  "(0 takes it from scores [N,C], and must be C for them)", num_classes,
                  mdl_shape_str(input, bi, sizeof bi));
        return NULL;
    }
    if (!mdl__metric_classes_ok(fn, input, target, 0, num_classes, &C)) return NULL;
    shape[0] = shape[1] = C ? C : num_classes;
    cm = mdl__make(ar, fn, 2, shape, NULL, 1);
    if (!cm) return NULL;
    /* one count per sample: row = the truth, column = the prediction */
    for (i = 0; i < target->numel; i++)
        cm->data[(size_t)target->data[i] * (size_t)shape[1] +
                 (size_t)mdl__metric_predicted(input, i)] += 1;
    return cm;
}

/* Is cm a usable confusion matrix: [C,C] of counts (finite and >= 0)? */
static int mdl__metric_cm_ok(const char *fn, const mdl_tensor *cm) {
    char bc[96];
    size_t i;
    if (!mdl__usable(fn, "cm", cm)) return 0;
    if (cm->ndim != 2 || cm->shape[0] != cm->shape[1]) {
        mdl__fail(MDL_ERR_SHAPE, fn, "cm %s: a confusion matrix is square, [C,C]",
                  mdl_shape_str(cm, bc, sizeof bc));
        return 0;
    }
    for (i = 0; i < cm->numel; i++)
        if (!(cm->data[i] >= 0) || !isfinite(cm->data[i])) {
            char pos[96];
            mdl__fail(MDL_ERR_ARG, fn, "cm %s: element %s is %g, not a count", mdl_shape_str(cm,
                      bc, sizeof bc), mdl__index_fmt(cm, i, pos, sizeof pos), (double)cm->data[i]);
            return 0;
        }
    return 1;
}

enum { MDL__PRECISION, MDL__RECALL, MDL__F1 };

/* Precision, recall or F1 of class c from its counts: tp = cm[c,c], true_c = row c's sum (the
   samples of class c), pred_c = column c's sum (the predictions of c). A zero denominator
   gives 0, sklearn's zero_division default. */
static double mdl__metric_prf_of(double tp, double true_c, double pred_c, int which) {
    double den = which == MDL__PRECISION ? pred_c : which == MDL__RECALL ? true_c
                                                                          : pred_c + true_c;
    double num = which == MDL__F1 ? 2 * tp : tp;
    return den > 0 ? num / den : 0;
}

/* The row and column sums of class c. */
static void mdl__metric_sums(const mdl_tensor *cm, int c, double *true_c, double *pred_c) {
    int C = cm->shape[0], j;
    *true_c = *pred_c = 0;
    for (j = 0; j < C; j++) {
        *true_c += (double)cm->data[(size_t)c * (size_t)C + (size_t)j];
        *pred_c += (double)cm->data[(size_t)j * (size_t)C + (size_t)c];
    }
}

static double mdl__metric_prf(const char *fn, const mdl_tensor *cm, int cls, int which) {
    int C, c;
    double total = 0, weight = 0, sum = 0;
    if (!mdl__metric_cm_ok(fn, cm)) return NAN;
    C = cm->shape[0];
    if (cls >= C || (cls < 0 && cls != MDL_MACRO_AVG && cls != MDL_WEIGHTED_AVG)) {
        char bc[96];
        mdl__fail(MDL_ERR_ARG, fn, "cls = %d with cm %s: a class 0..%d, MDL_MACRO_AVG or "
                  "MDL_WEIGHTED_AVG", cls, mdl_shape_str(cm, bc, sizeof bc), C - 1);
        return NAN;
    }
    if (cls >= 0) {
        double true_c, pred_c;
        mdl__metric_sums(cm, cls, &true_c, &pred_c);
        return mdl__metric_prf_of((double)cm->data[(size_t)cls * (size_t)C + (size_t)cls],
                                  true_c, pred_c, which);
    }
    /* macro: the plain mean over the classes seen in the targets or the predictions;
       weighted: each class's value times its number of samples, over all samples */
    for (c = 0; c < C; c++) {
        double true_c, pred_c, m;
        mdl__metric_sums(cm, c, &true_c, &pred_c);
        if (true_c + pred_c == 0) continue; /* neither a target nor a prediction */
        m = mdl__metric_prf_of((double)cm->data[(size_t)c * (size_t)C + (size_t)c], true_c,
                               pred_c, which);
        if (cls == MDL_MACRO_AVG) {
            sum += m;
            total += 1;
        } else {
            sum += true_c * m;
            weight += true_c;
        }
    }
    return cls == MDL_MACRO_AVG ? sum / total : sum / weight; /* 0 / 0: no samples */
}

MDLDEF double mdl_precision(const mdl_tensor *cm, int cls) {
    return mdl__metric_prf("mdl_precision", cm, cls, MDL__PRECISION);
}
MDLDEF double mdl_recall(const mdl_tensor *cm, int cls) {
    return mdl__metric_prf("mdl_recall", cm, cls, MDL__RECALL);
}
MDLDEF double mdl_f1_score(const mdl_tensor *cm, int cls) {
    return mdl__metric_prf("mdl_f1_score", cm, cls, MDL__F1);
}

/* The name of class c for a table: names[c], or its number written into buf. */
static const char *mdl__metric_name(const char *const *names, int c, char *buf, size_t size) {
    if (names && names[c]) return names[c];
    snprintf(buf, size, "%d", c);
    return buf;
}

/* The width of the widest class name (at least `least`). */
static int mdl__metric_name_width(const char *const *names, int C, int least) {
    char buf[16];
    int c, w = least;
    for (c = 0; c < C; c++) {
        int n = (int)strlen(mdl__metric_name(names, c, buf, sizeof buf));
        w = n > w ? n : w;
    }
    return w;
}

MDLDEF void mdl_confusion_matrix_fprint(FILE *f, const mdl_tensor *cm,
                                        const char *const *names) {
    const char *fn = "mdl_confusion_matrix_fprint", *corner = "true \\ predicted";
    char buf[32];
    int C, i, j, wrow, wcol = 1;
    if (!f) {
        mdl__fail(MDL_ERR_NULL, fn, "the stream is NULL");
        return;
    }
    if (!mdl__metric_cm_ok(fn, cm)) return;
    C = cm->shape[0];
    /* every column as wide as the widest name or count, the first as the widest row name */
    wcol = mdl__metric_name_width(names, C, 1);
    for (i = 0; i < (int)cm->numel; i++) {
        int n = snprintf(buf, sizeof buf, "%.0f", (double)cm->data[i]);
        wcol = n > wcol ? n : wcol;
    }
    wrow = mdl__metric_name_width(names, C, (int)strlen(corner));
    fprintf(f, "%*s", wrow, corner);
    for (j = 0; j < C; j++) fprintf(f, "  %*s", wcol, mdl__metric_name(names, j, buf, sizeof buf));
    fprintf(f, "\n");
    for (i = 0; i < C; i++) {
        fprintf(f, "%*s", wrow, mdl__metric_name(names, i, buf, sizeof buf));
        for (j = 0; j < C; j++) /* counts are whole; a matrix made by hand prints rounded */
            fprintf(f, "  %*.0f", wcol, (double)cm->data[(size_t)i * (size_t)C + (size_t)j]);
        fprintf(f, "\n");
    }
}

MDLDEF void mdl_classification_report_fprint(FILE *f, const mdl_tensor *cm,
                                             const char *const *names) {
    const char *fn = "mdl_classification_report_fprint";
    static const char *const avg_names[2] = {"macro avg", "weighted avg"};
    char buf[16];
    int C, c, w, a;
    double total = 0, right = 0;
    if (!f) {
        mdl__fail(MDL_ERR_NULL, fn, "the stream is NULL");
        return;
    }
    if (!mdl__metric_cm_ok(fn, cm)) return;
    C = cm->shape[0];
    w = mdl__metric_name_width(names, C, (int)strlen("weighted avg"));
    fprintf(f, "%*s  precision     recall   f1-score    support\n\n", w, "");
    for (c = 0; c < C; c++) {
        double true_c, pred_c;
        mdl__metric_sums(cm, c, &true_c, &pred_c);
        total += true_c;
        right += (double)cm->data[(size_t)c * (size_t)C + (size_t)c];
        fprintf(f, "%*s  %9.3f  %9.3f  %9.3f  %9.0f\n", w, mdl__metric_name(names, c, buf,
                sizeof buf), mdl_precision(cm, c), mdl_recall(cm, c), mdl_f1_score(cm, c),
                true_c);
    }
    fprintf(f, "\n%*s  %9s  %9s  %9.3f  %9.0f\n", w, "accuracy", "", "", right / total, total);
    for (a = 0; a < 2; a++) {
        int avg = a ? MDL_WEIGHTED_AVG : MDL_MACRO_AVG;
        fprintf(f, "%*s  %9.3f  %9.3f  %9.3f  %9.0f\n", w, avg_names[a], mdl_precision(cm, avg),
                mdl_recall(cm, avg), mdl_f1_score(cm, avg), total);
    }
}

/* The checks of a regression metric: two usable tensors of one shape, [N] or [N,K] for R^2. */
static int mdl__metric_pair_ok(const char *fn, const mdl_tensor *input,
                               const mdl_tensor *target, int r2) {
    char bi[96], bt[96];
    if (!mdl__usable(fn, "input", input) || !mdl__usable(fn, "target", target)) return 0;
    mdl_shape_str(input, bi, sizeof bi);
    mdl_shape_str(target, bt, sizeof bt);
    if (!mdl__metric_same_shape(input, target)) {
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s and target %s must have the same shape (a "
                  "metric does not broadcast: [N,1] against [N] would compare N^2 pairs)", bi,
                  bt);
        return 0;
    }
    if (r2 && input->ndim != 1 && input->ndim != 2) {
        mdl__fail(MDL_ERR_SHAPE, fn, "input %s: R^2 takes [N] or [N,K] (K outputs)", bi);
        return 0;
    }
    return 1;
}

MDLDEF double mdl_r2_score(const mdl_tensor *input, const mdl_tensor *target) {
    size_t N, K, i, k;
    double total = 0;
    if (!mdl__metric_pair_ok("mdl_r2_score", input, target, 1)) return NAN;
    N = (size_t)target->shape[0];
    K = target->ndim == 2 ? (size_t)target->shape[1] : 1;
    if (N < 2 || K == 0) return NAN; /* R^2 needs the target to vary: two samples at least */
    for (k = 0; k < K; k++) {
        /* each output on its own: its mean first, then both sums of squares around it */
        double mean = 0, ss_res = 0, ss_tot = 0;
        for (i = 0; i < N; i++) mean += (double)target->data[i * K + k];
        mean /= (double)N;
        for (i = 0; i < N; i++) {
            double t = (double)target->data[i * K + k], x = (double)input->data[i * K + k];
            ss_res += (t - x) * (t - x);
            ss_tot += (t - mean) * (t - mean);
        }
        /* a constant target: exact predictions score 1, anything else 0 (sklearn) */
        total += ss_tot != 0 ? 1 - ss_res / ss_tot : ss_res == 0 ? 1 : 0;
    }
    return total / (double)K;
}

/* Mean of |d| (power 1) or of d^2 (power 2), d = input - target, over all elements. */
static double mdl__metric_mean_error(const char *fn, const mdl_tensor *input,
                                     const mdl_tensor *target, int power) {
    size_t i;
    double sum = 0;
    if (!mdl__metric_pair_ok(fn, input, target, 0)) return NAN;
    for (i = 0; i < input->numel; i++) {
        double d = (double)input->data[i] - (double)target->data[i];
        sum += power == 1 ? fabs(d) : d * d;
    }
    return sum / (double)input->numel;
}

MDLDEF double mdl_mae(const mdl_tensor *input, const mdl_tensor *target) {
    return mdl__metric_mean_error("mdl_mae", input, target, 1);
}

MDLDEF double mdl_rmse(const mdl_tensor *input, const mdl_tensor *target) {
    return sqrt(mdl__metric_mean_error("mdl_rmse", input, target, 2));
}

MDLDEF double mdl_log_loss(const mdl_tensor *logits, const mdl_tensor *target) {
    int C, c;
    size_t i;
    double sum = 0;
    if (!mdl__metric_classes_ok("mdl_log_loss", logits, target, 1, 0, &C)) return NAN;
    for (i = 0; i < target->numel; i++) {
        /* -log softmax(x)[y] = logsumexp(x) - x[y], and logsumexp(x) = m + log sum e^(x - m)
           with m the row's maximum: every exponent is <= 0, so nothing overflows, and the
           largest term is e^0 = 1, so the log's argument is >= 1 and nothing underflows to
           log 0. A NaN anywhere in the row makes the sum, and so the result, NaN. */
        const mdl_scalar *x = logits->data + i * (size_t)C;
        double m = (double)x[0], s = 0;
        for (c = 1; c < C; c++) m = (double)x[c] > m ? (double)x[c] : m;
        for (c = 0; c < C; c++) s += exp((double)x[c] - m);
        sum += m + log(s) - (double)x[(int)target->data[i]];
    }
    return sum / (double)target->numel;
}

MDLDEF double mdl_perplexity(double mean_nll) { return exp(mean_nll); }

MDLDEF double mdl_bits_per_char(double mean_nll) { return mean_nll / log(2.0); }

// >>plot

/* ---------------------------------------------------------------------------------------------
   SVG plots. A figure (mdl_plot) is a row of panels; a panel is a list of items: lines, dots,
   straight lines, regions, or one heat map, or one grid of images. The calls that add items
   only copy their data in; mdl_plot_write lays out and draws everything at once, when the
   ranges of all the data are known.
   An axes panel, in pixels:
        +----------------------------------------------------+
        |                       title                        |
        |   y   ticks +--------------------------+  - name   |
        | label       |    plot area 360 x 240   |  o name   |
        |             +--------------------------+  legend   |
        |                  ticks, x label                    |
        +----------------------------------------------------+
   Ticks: the smallest step of 1, 2 or 5 times a power of ten that cuts the data's range into
   five intervals or fewer, and the axis widened to whole steps, so the first and the last tick
   enclose the data. SVG is XML: text must be escaped (& < > " ') and be valid UTF-8, or the browser shows
   an error instead of the picture; every number printed is finite and has one decimal at most.
   --------------------------------------------------------------------------------------------- */

#define MDL__PLOT_W 360.0      /* the plot area of an axes panel, in px */
#define MDL__PLOT_H 240.0
#define MDL__PLOT_BOX 56.0     /* the size of one image of an image grid, in px */
#define MDL__PLOT_MAX_TICKS 24

/* Okabe & Ito's palette, in the order series get it (its yellow is faint on white: late). */
static const char *const mdl__plot_palette[8] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                 "#CC79A7", "#56B4E9", "#F0E442", "#000000"};

enum { MDL__PLOT_LINE, MDL__PLOT_SCATTER, MDL__PLOT_ABLINE, MDL__PLOT_REGIONS,
       MDL__PLOT_HEATMAP, MDL__PLOT_IMAGES };

typedef struct mdl__plot_item {
    int kind;
    int colour;              /* index into the palette */
    char *name;              /* in the legend; NULL: not in it */
    size_t n;                /* line, scatter: points; images: images */
    double *x, *y;           /* line, scatter: the points */
    double slope, intercept; /* abline */
    int rows, cols;          /* regions, heat map: cells; images: the pixels of one image */
    double x0, x1, y0, y1;   /* regions: the area the cells cover */
    int *cls;                /* regions: the class of each cell (-1: none), row 0 at y0 */
    double *values;          /* heat map: row-major, row 0 at the top */
    short *grey;             /* images: 0 (black) .. 255 (white); -1 for NaN or Inf */
    char **labels;           /* heat map: row names, then column names; images: captions */
    size_t n_labels;
    int show_values;         /* heat map: write the values */
    int grid_cols;           /* images: images per row */
} mdl__plot_item;

typedef struct mdl__plot_panel {
    char *title, *xlabel, *ylabel;
    int log_y;
    int next_colour;
    mdl__plot_item *items;
    int n_items, cap_items;
} mdl__plot_panel;

struct mdl_plot {
    mdl__plot_panel *panels; /* the last one is the current one */
    int n_panels, cap_panels;
};

/* ---- building a figure: copies of the data ---- */

/* n * size bytes from MINIDL_MALLOC, the product checked; NULL (MDL_ERR_NOMEM) if it fails. */
static void *mdl__plot_alloc(const char *fn, size_t n, size_t size) {
    void *q;
    if (size && n > (size_t)-1 / size) {
        mdl__env_error(MDL_ERR_NOMEM, fn, "%zu items of %zu bytes do not fit in memory", n, size);
        return NULL;
    }
    q = MINIDL_MALLOC(n * size > 0 ? n * size : 1);
    if (!q) mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory (%zu bytes)", n * size);
    return q;
}

/* A copy of s in *out (NULL for NULL). Returns 0 if out of memory. */
static int mdl__plot_strdup(const char *fn, const char *s, char **out) {
    size_t n;
    *out = NULL;
    if (!s) return 1;
    n = strlen(s) + 1;
    *out = (char *)mdl__plot_alloc(fn, n, 1);
    if (*out) memcpy(*out, s, n);
    return *out != NULL;
}

/* Copies of n strings (entries may be NULL; names NULL gives n NULLs). 0 if out of memory. */
static int mdl__plot_strdup_n(const char *fn, const char *const *names, size_t n,
                              mdl__plot_item *it) {
    size_t i;
    it->labels = (char **)mdl__plot_alloc(fn, n, sizeof(char *));
    if (!it->labels) return 0;
    for (i = 0; i < n; i++) it->labels[i] = NULL;
    it->n_labels = n;
    for (i = 0; i < n; i++)
        if (names && !mdl__plot_strdup(fn, names[i], &it->labels[i])) return 0;
    return 1;
}

static void mdl__plot_item_free(mdl__plot_item *it) {
    size_t i;
    for (i = 0; it->labels && i < it->n_labels; i++) MINIDL_FREE(it->labels[i]);
    MINIDL_FREE(it->labels);
    MINIDL_FREE(it->name);
    MINIDL_FREE(it->x);
    MINIDL_FREE(it->y);
    MINIDL_FREE(it->cls);
    MINIDL_FREE(it->values);
    MINIDL_FREE(it->grey);
}

MDLDEF void mdl_plot_free(mdl_plot *p) {
    int i, j;
    if (!p) return;
    for (i = 0; i < p->n_panels; i++) {
        mdl__plot_panel *pn = &p->panels[i];
        for (j = 0; j < pn->n_items; j++) mdl__plot_item_free(&pn->items[j]);
        MINIDL_FREE(pn->items);
        MINIDL_FREE(pn->title);
        MINIDL_FREE(pn->xlabel);
        MINIDL_FREE(pn->ylabel);
    }
    MINIDL_FREE(p->panels);
    MINIDL_FREE(p);
}

/* The error a call given p == NULL returns: quietly the earlier error that made it NULL (the
   mdl_plot_new that ran out of memory), or MDL_ERR_NULL, reported, for a NULL from nowhere. */
static mdl_error mdl__plot_null(const char *fn) {
    if (mdl__last_code != MDL_OK) return mdl__last_code;
    mdl__fail(MDL_ERR_NULL, fn, "the plot is NULL");
    return MDL_ERR_NULL;
}

/* The current panel, if it can take an item of this kind: a heat map or an image grid has a
   panel to itself. NULL after reporting a contract error. */
static mdl__plot_panel *mdl__plot_room(const char *fn, mdl_plot *p, int kind) {
    static const char *const what[] = {"a line", "dots", "a straight line", "regions",
                                       "a heat map", "images"};
    mdl__plot_panel *pn = &p->panels[p->n_panels - 1];
    int own = kind == MDL__PLOT_HEATMAP || kind == MDL__PLOT_IMAGES;
    if (pn->n_items > 0 && (own || pn->items[0].kind == MDL__PLOT_HEATMAP ||
                            pn->items[0].kind == MDL__PLOT_IMAGES)) {
        mdl__fail(MDL_ERR_ARG, fn, "panel %d already holds %s, and %s needs a panel of its "
                  "own: start one with mdl_plot_panel", p->n_panels - 1,
                  what[pn->items[0].kind], own ? what[kind] : what[pn->items[0].kind]);
        return NULL;
    }
    return pn;
}

/* Append a finished item to the current panel; on failure free it. */
static mdl_error mdl__plot_push(const char *fn, mdl_plot *p, mdl__plot_item *it) {
    mdl__plot_panel *pn = &p->panels[p->n_panels - 1];
    if (pn->n_items == pn->cap_items) {
        int cap = pn->cap_items ? 2 * pn->cap_items : 8;
        mdl__plot_item *items = (mdl__plot_item *)mdl__plot_alloc(fn, (size_t)cap, sizeof *items);
        if (!items) {
            mdl__plot_item_free(it);
            return MDL_ERR_NOMEM;
        }
        if (pn->n_items) memcpy(items, pn->items, (size_t)pn->n_items * sizeof *items);
        MINIDL_FREE(pn->items);
        pn->items = items;
        pn->cap_items = cap;
    }
    pn->items[pn->n_items++] = *it;
    return MDL_OK;
}

/* A failed item: free what it holds, return the error of the allocation that failed. */
static mdl_error mdl__plot_drop(mdl__plot_item *it) {
    mdl__plot_item_free(it);
    return MDL_ERR_NOMEM;
}

MDLDEF mdl_error mdl_plot_panel(mdl_plot *p, const char *title) {
    const char *fn = "mdl_plot_panel";
    mdl__plot_panel *pn;
    if (!p) return mdl__plot_null(fn);
    if (p->n_panels == p->cap_panels) {
        int cap = p->cap_panels ? 2 * p->cap_panels : 2;
        mdl__plot_panel *panels = (mdl__plot_panel *)mdl__plot_alloc(fn, (size_t)cap,
                                                                    sizeof *panels);
        if (!panels) return MDL_ERR_NOMEM;
        if (p->n_panels) memcpy(panels, p->panels, (size_t)p->n_panels * sizeof *panels);
        MINIDL_FREE(p->panels);
        p->panels = panels;
        p->cap_panels = cap;
    }
    pn = &p->panels[p->n_panels];
    memset(pn, 0, sizeof *pn);
    if (!mdl__plot_strdup(fn, title, &pn->title)) return MDL_ERR_NOMEM;
    p->n_panels++;
    return MDL_OK;
}

MDLDEF mdl_plot *mdl_plot_new(const char *title) {
    mdl_plot *p = (mdl_plot *)mdl__plot_alloc("mdl_plot_new", 1, sizeof(mdl_plot));
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    if (mdl_plot_panel(p, title) != MDL_OK) {
        mdl_plot_free(p);
        return NULL;
    }
    return p;
}

MDLDEF mdl_error mdl_plot_labels(mdl_plot *p, const char *xlabel, const char *ylabel) {
    const char *fn = "mdl_plot_labels";
    mdl__plot_panel *pn;
    char *xl, *yl;
    if (!p) return mdl__plot_null(fn);
    pn = &p->panels[p->n_panels - 1];
    if (!mdl__plot_strdup(fn, xlabel, &xl)) return MDL_ERR_NOMEM;
    if (!mdl__plot_strdup(fn, ylabel, &yl)) {
        MINIDL_FREE(xl);
        return MDL_ERR_NOMEM;
    }
    MINIDL_FREE(pn->xlabel);
    MINIDL_FREE(pn->ylabel);
    pn->xlabel = xl;
    pn->ylabel = yl;
    return MDL_OK;
}

MDLDEF mdl_error mdl_plot_log_y(mdl_plot *p, int on) {
    if (!p) return mdl__plot_null("mdl_plot_log_y");
    p->panels[p->n_panels - 1].log_y = on != 0;
    return MDL_OK;
}

/* A line or dots from arrays of doubles. */
static mdl_error mdl__plot_points(const char *fn, int kind, mdl_plot *p, const char *name,
                                  int n, const double *x, const double *y) {
    mdl__plot_panel *pn;
    mdl__plot_item it;
    int i;
    if (!p) return mdl__plot_null(fn);
    if (n < 0) {
        mdl__fail(MDL_ERR_ARG, fn, "n = %d points: must be >= 0", n);
        return MDL_ERR_ARG;
    }
    if (n > 0 && (!y || (!x && kind == MDL__PLOT_SCATTER))) {
        mdl__fail(MDL_ERR_NULL, fn, "%s is NULL (with n = %d points)", y ? "x" : "y", n);
        return MDL_ERR_NULL;
    }
    if (!(pn = mdl__plot_room(fn, p, kind))) return MDL_ERR_ARG;
    memset(&it, 0, sizeof it);
    it.kind = kind;
    it.n = (size_t)n;
    it.x = (double *)mdl__plot_alloc(fn, it.n, sizeof(double));
    it.y = (double *)mdl__plot_alloc(fn, it.n, sizeof(double));
    if (!it.x || !it.y || !mdl__plot_strdup(fn, name, &it.name)) return mdl__plot_drop(&it);
    for (i = 0; i < n; i++) {
        it.x[i] = x ? x[i] : (double)i;
        it.y[i] = y[i];
    }
    it.colour = pn->next_colour++;
    return mdl__plot_push(fn, p, &it);
}

MDLDEF mdl_error mdl_plot_line(mdl_plot *p, const char *name, int n, const double *x,
                               const double *y) {
    return mdl__plot_points("mdl_plot_line", MDL__PLOT_LINE, p, name, n, x, y);
}

MDLDEF mdl_error mdl_plot_scatter(mdl_plot *p, const char *name, int n, const double *x,
                                  const double *y) {
    return mdl__plot_points("mdl_plot_scatter", MDL__PLOT_SCATTER, p, name, n, x, y);
}

MDLDEF mdl_error mdl_plot_scatter_classes(mdl_plot *p, const mdl_tensor *xy,
                                          const mdl_tensor *labels, int num_classes,
                                          const char *const *names) {
    const char *fn = "mdl_plot_scatter_classes";
    mdl__plot_panel *pn;
    char bx[96], bl[96], range[64];
    int c, C, N;
    size_t i;
    if (!p) return mdl__plot_null(fn);
    if (!mdl__usable(fn, "xy", xy) || (labels && !mdl__usable(fn, "labels", labels)))
        return mdl__last_code;
    mdl_shape_str(xy, bx, sizeof bx);
    if (xy->ndim != 2 || xy->shape[1] != 2) {
        mdl__fail(MDL_ERR_SHAPE, fn, "xy %s: the points must be [N,2], x then y (pick two "
                  "columns of [N,F] with mdl_index_select)", bx);
        return MDL_ERR_SHAPE;
    }
    N = xy->shape[0];
    if (labels) {
        if (labels->ndim != 1 || labels->shape[0] != N) {
            mdl__fail(MDL_ERR_SHAPE, fn, "xy %s and labels %s: the labels must be [N], one per "
                      "point", bx, mdl_shape_str(labels, bl, sizeof bl));
            return MDL_ERR_SHAPE;
        }
        if (num_classes < 1) {
            mdl__fail(MDL_ERR_ARG, fn, "num_classes = %d: must be >= 1", num_classes);
            return MDL_ERR_ARG;
        }
        snprintf(range, sizeof range, "num_classes = %d", num_classes);
        if (!mdl__metric_check_classes(fn, "labels", labels, num_classes, range))
            return MDL_ERR_ARG;
    }
    if (!(pn = mdl__plot_room(fn, p, MDL__PLOT_SCATTER))) return MDL_ERR_ARG;
    C = labels ? num_classes : 1;
    for (c = 0; c < C; c++) {
        /* one series per class: its points, in its colour */
        mdl__plot_item it;
        size_t n = 0, k = 0;
        char buf[32];
        const char *name = names ? names[c] : NULL;
        for (i = 0; i < (size_t)N; i++) n += !labels || (int)labels->data[i] == c;
        if (n == 0 && labels) continue; /* a class with no points gets no legend entry */
        memset(&it, 0, sizeof it);
        it.kind = MDL__PLOT_SCATTER;
        it.n = n;
        if (labels && !name) {
            snprintf(buf, sizeof buf, "class %d", c);
            name = buf;
        }
        it.x = (double *)mdl__plot_alloc(fn, n, sizeof(double));
        it.y = (double *)mdl__plot_alloc(fn, n, sizeof(double));
        if (!it.x || !it.y || !mdl__plot_strdup(fn, name, &it.name)) return mdl__plot_drop(&it);
        for (i = 0; i < (size_t)N; i++)
            if (!labels || (int)labels->data[i] == c) {
                it.x[k] = (double)xy->data[2 * i];
                it.y[k++] = (double)xy->data[2 * i + 1];
            }
        it.colour = labels ? c : pn->next_colour;
        if (mdl__plot_push(fn, p, &it) != MDL_OK) return MDL_ERR_NOMEM;
        pn = &p->panels[p->n_panels - 1];
    }
    /* later series take the colours after the classes' */
    if (labels) pn->next_colour = pn->next_colour > C ? pn->next_colour : C;
    else pn->next_colour++;
    return MDL_OK;
}

MDLDEF mdl_error mdl_plot_abline(mdl_plot *p, const char *name, double slope, double intercept) {
    const char *fn = "mdl_plot_abline";
    mdl__plot_panel *pn;
    mdl__plot_item it;
    if (!p) return mdl__plot_null(fn);
    if (!(pn = mdl__plot_room(fn, p, MDL__PLOT_ABLINE))) return MDL_ERR_ARG;
    memset(&it, 0, sizeof it);
    it.kind = MDL__PLOT_ABLINE;
    it.slope = slope;
    it.intercept = intercept;
    if (!mdl__plot_strdup(fn, name, &it.name)) return MDL_ERR_NOMEM;
    it.colour = pn->next_colour++;
    return mdl__plot_push(fn, p, &it);
}

/* Is [a, b] a usable extent: finite, a < b? Reports it if not. */
static int mdl__plot_extent_ok(const char *fn, const char *what, double a, double b) {
    if (isfinite(a) && isfinite(b) && a < b) return 1;
    mdl__fail(MDL_ERR_ARG, fn, "%s from %g to %g: the edges must be finite, the first smaller",
              what, a, b);
    return 0;
}

MDLDEF mdl_tensor *mdl_plot_grid_points(mdl_arena *ar, int rows, int cols, double x0, double x1,
                                        double y0, double y1) {
    const char *fn = "mdl_plot_grid_points";
    int shape[2], i, j;
    mdl_tensor *t;
    if (!mdl__usable_arena(fn, ar)) return NULL;
    if (rows < 1 || cols < 1 || (double)rows * (double)cols > (double)INT_MAX) {
        mdl__fail(MDL_ERR_SIZE, fn, "rows = %d, cols = %d: each must be >= 1, and rows * cols "
                  "fit in an int", rows, cols);
        return NULL;
    }
    if (!mdl__plot_extent_ok(fn, "x", x0, x1) || !mdl__plot_extent_ok(fn, "y", y0, y1))
        return NULL;
    shape[0] = rows * cols;
    shape[1] = 2;
    t = mdl__make(ar, fn, 2, shape, NULL, 0);
    if (!t) return NULL;
    /* point i * cols + j: the centre of cell (i, j), row 0 along y0 */
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++) {
            size_t k = (size_t)i * (size_t)cols + (size_t)j;
            t->data[2 * k] = (mdl_scalar)(x0 + (j + 0.5) * (x1 - x0) / cols);
            t->data[2 * k + 1] = (mdl_scalar)(y0 + (i + 0.5) * (y1 - y0) / rows);
        }
    return t;
}

MDLDEF mdl_error mdl_plot_regions(mdl_plot *p, const mdl_tensor *classes, double x0, double x1,
                                  double y0, double y1) {
    const char *fn = "mdl_plot_regions";
    mdl__plot_item it;
    char bc[96];
    size_t i;
    if (!p) return mdl__plot_null(fn);
    if (!mdl__usable(fn, "classes", classes)) return mdl__last_code;
    if (classes->ndim != 2) {
        mdl__fail(MDL_ERR_SHAPE, fn, "classes %s: must be [rows, cols] (mdl_reshape the "
                  "argmax over mdl_plot_grid_points)", mdl_shape_str(classes, bc, sizeof bc));
        return MDL_ERR_SHAPE;
    }
    if (!mdl__plot_extent_ok(fn, "x", x0, x1) || !mdl__plot_extent_ok(fn, "y", y0, y1))
        return MDL_ERR_ARG;
    if (!mdl__plot_room(fn, p, MDL__PLOT_REGIONS)) return MDL_ERR_ARG;
    memset(&it, 0, sizeof it);
    it.kind = MDL__PLOT_REGIONS;
    it.rows = classes->shape[0];
    it.cols = classes->shape[1];
    it.x0 = x0;
    it.x1 = x1;
    it.y0 = y0;
    it.y1 = y1;
    it.cls = (int *)mdl__plot_alloc(fn, classes->numel, sizeof(int));
    if (!it.cls) return MDL_ERR_NOMEM;
    for (i = 0; i < classes->numel; i++) {
        double v = (double)classes->data[i];
        it.cls[i] = v == floor(v) && v >= 0 && v < (double)INT_MAX ? (int)v : -1;
    }
    return mdl__plot_push(fn, p, &it);
}

MDLDEF mdl_error mdl_plot_heatmap(mdl_plot *p, const mdl_tensor *values,
                                  const char *const *row_names, const char *const *col_names,
                                  int show_values) {
    const char *fn = "mdl_plot_heatmap";
    mdl__plot_item it;
    char bv[96];
    size_t i, R, C;
    if (!p) return mdl__plot_null(fn);
    if (!mdl__usable(fn, "values", values)) return mdl__last_code;
    if (values->ndim != 2) {
        mdl__fail(MDL_ERR_SHAPE, fn, "values %s: a heat map is a matrix, [R,C]",
                  mdl_shape_str(values, bv, sizeof bv));
        return MDL_ERR_SHAPE;
    }
    if (!mdl__plot_room(fn, p, MDL__PLOT_HEATMAP)) return MDL_ERR_ARG;
    R = (size_t)values->shape[0];
    C = (size_t)values->shape[1];
    memset(&it, 0, sizeof it);
    it.kind = MDL__PLOT_HEATMAP;
    it.rows = (int)R;
    it.cols = (int)C;
    it.show_values = show_values != 0;
    it.values = (double *)mdl__plot_alloc(fn, values->numel, sizeof(double));
    if (!it.values || !mdl__plot_strdup_n(fn, NULL, R + C, &it)) return mdl__plot_drop(&it);
    for (i = 0; i < values->numel; i++) it.values[i] = (double)values->data[i];
    for (i = 0; i < R + C; i++) {
        const char *s = i < R ? (row_names ? row_names[i] : NULL)
                              : (col_names ? col_names[i - R] : NULL);
        if (!mdl__plot_strdup(fn, s, &it.labels[i])) return mdl__plot_drop(&it);
    }
    return mdl__plot_push(fn, p, &it);
}

MDLDEF mdl_error mdl_plot_images(mdl_plot *p, const mdl_tensor *images, int cols, double lo,
                                 double hi, const char *const *captions) {
    const char *fn = "mdl_plot_images";
    mdl__plot_item it;
    char bi[96];
    size_t N, HW, k, i;
    int nd;
    if (!p) return mdl__plot_null(fn);
    if (!mdl__usable(fn, "images", images)) return mdl__last_code;
    nd = images->ndim;
    if ((nd != 2 && nd != 3 && nd != 4) || (nd == 4 && images->shape[1] != 1)) {
        mdl__fail(MDL_ERR_SHAPE, fn, "images %s: must be [N,H,W], [N,1,H,W] or one image [H,W]",
                  mdl_shape_str(images, bi, sizeof bi));
        return MDL_ERR_SHAPE;
    }
    if (cols < 0 || !isfinite(lo) || !isfinite(hi)) {
        mdl__fail(MDL_ERR_ARG, fn, "cols = %d, lo = %g, hi = %g: cols must be >= 0 (0: a "
                  "near-square grid), lo and hi finite", cols, lo, hi);
        return MDL_ERR_ARG;
    }
    if (!mdl__plot_room(fn, p, MDL__PLOT_IMAGES)) return MDL_ERR_ARG;
    memset(&it, 0, sizeof it);
    it.kind = MDL__PLOT_IMAGES;
    it.rows = images->shape[nd - 2];
    it.cols = images->shape[nd - 1];
    N = nd == 2 ? 1 : (size_t)images->shape[0];
    HW = (size_t)it.rows * (size_t)it.cols;
    it.n = N;
    it.grid_cols = cols;
    it.grey = (short *)mdl__plot_alloc(fn, images->numel, sizeof(short));
    if (!it.grey || (captions && !mdl__plot_strdup_n(fn, captions, N, &it)))
        return mdl__plot_drop(&it);
    for (k = 0; k < N; k++) {
        /* the grey of each pixel: (v - lo) / (hi - lo) of the way from black to white,
           clamped; with lo == hi, lo and hi are this image's own minimum and maximum */
        const mdl_scalar *v = images->data + k * HW;
        double a = lo, b = hi;
        if (lo == hi) {
            a = HUGE_VAL;
            b = -HUGE_VAL;
            for (i = 0; i < HW; i++)
                if (isfinite(v[i])) {
                    a = (double)v[i] < a ? (double)v[i] : a;
                    b = (double)v[i] > b ? (double)v[i] : b;
                }
        }
        for (i = 0; i < HW; i++) {
            double t = b > a ? ((double)v[i] - a) / (b - a) : 0.5; /* a flat image: mid grey */
            if (!isfinite(v[i])) {
                it.grey[k * HW + i] = -1;
                continue;
            }
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            it.grey[k * HW + i] = (short)(t * 255 + 0.5);
        }
    }
    return mdl__plot_push(fn, p, &it);
}

/* ---- writing SVG ---- */

/* How many bytes the character at u takes if it is valid UTF-8 and allowed in XML, else 0.
   Overlong forms, surrogates, and U+FFFE and U+FFFF are not; the terminating 0 stops every
   check before a byte past it is read. */
static size_t mdl__svg_utf8_len(const unsigned char *u) {
    unsigned c = u[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (u[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (u[1] < lo || u[1] > hi || (u[2] & 0xC0) != 0x80) return 0;
        return c == 0xEF && u[1] == 0xBF && u[2] >= 0xBE ? 0 : 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (u[1] < lo || u[1] > hi || (u[2] & 0xC0) != 0x80 || (u[3] & 0xC0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

/* Text as XML character data: the five special characters as entities, control characters
   as spaces (tab, newline) or '?', and bytes that are not UTF-8 as '?'. */
static void mdl__svg_text(FILE *f, const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    while (u && *u) {
        size_t n = mdl__svg_utf8_len(u);
        if (n == 0) {
            putc('?', f);
            u++;
            continue;
        }
        if (n > 1) {
            fwrite(u, 1, n, f);
            u += n;
            continue;
        }
        switch (*u) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: putc(*u >= 0x20 ? *u : *u == '\t' || *u == '\n' || *u == '\r' ? ' ' : '?', f);
        }
        u++;
    }
}

/* A coordinate with one decimal at most: 12.25 -> "12.3", 12.0 -> "12", -0.04 -> "0". The
   layout keeps every coordinate within the figure; the clamp only guards that promise, so
   that nothing but a short finite number can ever reach the file. */
static void mdl__svg_num(FILE *f, double v) {
    char buf[32];
    size_t n;
    v = v > -1e6 ? (v < 1e6 ? v : 1e6) : -1e6; /* NaN too becomes -1e6 */
    snprintf(buf, sizeof buf, "%.1f", v);
    n = strlen(buf);
    if (n >= 2 && buf[n - 1] == '0' && buf[n - 2] == '.') buf[n -= 2] = 0;
    fputs(strcmp(buf, "-0") == 0 ? "0" : buf, f);
}

/* fprintf for SVG, with conversions of its own: %v a coordinate (mdl__svg_num), %g a double
   with 4 significant digits (scales), %t a string XML-escaped, %s a string as it is, %d an
   int, %% a percent sign. */
static void mdl__svg(FILE *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putc(*fmt, f);
            continue;
        }
        switch (*++fmt) {
        case 'v': mdl__svg_num(f, va_arg(ap, double)); break;
        case 'g': fprintf(f, "%.4g", va_arg(ap, double)); break;
        case 't': mdl__svg_text(f, va_arg(ap, const char *)); break;
        case 's': fputs(va_arg(ap, const char *), f); break;
        case 'd': fprintf(f, "%d", va_arg(ap, int)); break;
        default: putc('%', f); break;
        }
    }
    va_end(ap);
}

/* About how wide a text is in px: sans-serif letters average a little over half the size. */
static double mdl__plot_text_width(const char *s, double size) {
    size_t chars = 0;
    for (; s && *s; s++) chars += ((unsigned char)*s & 0xC0) != 0x80; /* count characters */
    return 0.58 * size * (double)chars;
}

/* An axis: the range it shows, from its first tick to its last, and the ticks. */
typedef struct mdl__plot_axis {
    double lo, hi;
    int log;
    int n;
    double tick[MDL__PLOT_MAX_TICKS];
} mdl__plot_axis;

/* Linear ticks for data in [lo, hi]: the step is 1, 2 or 5 times a power of ten, the
   smallest such step that cuts the range into 5 intervals or fewer (so 3 to 7 in all,
   after widening), and the axis runs from the last whole step at or below lo to the first
   at or above hi. Ticks are i * step for whole i, so 0 is exactly 0. */
static void mdl__plot_ticks(mdl__plot_axis *a, double lo, double hi) {
    double raw, mag, f, step, i0, i1, i;
    a->log = 0;
    a->n = 0;
    if (!(hi / 2 - lo / 2 > 0)) { /* one value: a small range around it */
        double d = lo != 0 ? fabs(lo) * 0.1 : 1;
        lo -= d;
        hi += d;
    }
    raw = (hi / 2 - lo / 2) / 2.5;   /* the range / 5, computed so that it cannot overflow */
    mag = pow(10, floor(log10(raw)));
    f = raw / mag;                   /* in [1, 10) */
    step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    i0 = floor(lo / step + 1e-9); /* a data end on a tick (up to rounding) is that tick */
    i1 = ceil(hi / step - 1e-9);
    if (!(step > 0) || !isfinite(step) || !isfinite(i0 * step) || !isfinite(i1 * step) ||
        i1 - i0 >= MDL__PLOT_MAX_TICKS) {
        a->lo = a->tick[0] = lo; /* a range too wide or too narrow for doubles: its ends */
        a->hi = a->tick[1] = hi;
        a->n = 2;
        return;
    }
    while (i0 * step > lo + 1e-9 * step) i0--; /* the ticks must enclose the data */
    while (i1 * step < hi - 1e-9 * step) i1++;
    for (i = i0; i <= i1 && a->n < MDL__PLOT_MAX_TICKS; i++) a->tick[a->n++] = i * step;
    a->lo = a->tick[0];
    a->hi = a->tick[a->n - 1];
}

/* Logarithmic ticks for data in [lo, hi], 0 < lo <= hi: 1, 2 and 5 times each power of ten
   over three decades or fewer, every power of ten over more, every k-th over more than 10.
   The axis runs from the largest of them <= lo to the smallest >= hi. */
static void mdl__plot_log_ticks(mdl__plot_axis *a, double lo, double hi) {
    static const double mant[3] = {1, 2, 5};
    int k0 = (int)floor(log10(lo)), k1 = (int)ceil(log10(hi)), k, m, every = 1, nm;
    double first = 0, last = 0;
    a->log = 1;
    a->n = 0;
    if (lo == hi) { /* one value: the candidates either side of it */
        lo /= 1.5;
        hi *= 1.5;
        k0 = (int)floor(log10(lo));
        k1 = (int)ceil(log10(hi));
    }
    if (k1 <= k0) k1 = k0 + 1;
    nm = k1 - k0 <= 3 ? 3 : 1;
    if (k1 - k0 > 10) {
        every = (k1 - k0 + 9) / 10;
        k1 = k0 + (k1 - k0 + every - 1) / every * every;
    }
    for (k = k0; k <= k1; k += every)       /* first: the largest candidate <= lo */
        for (m = 0; m < nm; m++)
            if (mant[m] * pow(10, k) <= lo) first = mant[m] * pow(10, k);
    for (k = k1; k >= k0; k -= every)       /* last: the smallest candidate >= hi */
        for (m = nm - 1; m >= 0; m--)
            if (mant[m] * pow(10, k) >= hi) last = mant[m] * pow(10, k);
    if (!(first > 0) || !(last >= first) || !isfinite(last)) { /* beyond doubles' range */
        a->lo = a->tick[0] = lo;
        a->hi = a->tick[1] = hi;
        a->n = 2;
        return;
    }
    for (k = k0; k <= k1; k += every)
        for (m = 0; m < nm; m++) {
            double v = mant[m] * pow(10, k);
            if (v >= first && v <= last && a->n < MDL__PLOT_MAX_TICKS) a->tick[a->n++] = v;
        }
    a->lo = first;
    a->hi = last;
}

/* Where value v of axis a lies between pixels p0 (at a->lo) and p1 (at a->hi). */
static double mdl__plot_map(const mdl__plot_axis *a, double v, double p0, double p1) {
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo))
                      : (v / 2 - a->lo / 2) / (a->hi / 2 - a->lo / 2);
    return p0 + t * (p1 - p0);
}

/* A tick's label: 6 significant digits are plenty and hide the rounding of i * step
   (0.30000000000000004 prints as 0.3). */
static void mdl__plot_tick_label(char *buf, size_t size, double v) {
    snprintf(buf, size, "%.6g", v);
}

/* How a panel is laid out, in px within the panel. */
typedef struct mdl__plot_layout {
    double w, h;           /* the panel */
    double px, py, pw, ph; /* the plot area, the heat map's cells, or the first image */
    mdl__plot_axis x, y;   /* axes panels */
    double cell;           /* heat map: a cell's side; images: the scale of a pixel */
    double cap;            /* images: the height of a caption line */
    int rows, cols;        /* images: the grid */
    int rotate;            /* heat map: column names at 45 degrees */
    int legend;            /* axes: the number of named series */
    double legend_w;
} mdl__plot_layout;

/* Can point (x, y) be drawn on these axes? */
static int mdl__plot_ok(double x, double y, int log_y) {
    return isfinite(x) && isfinite(y) && (!log_y || y > 0);
}

/* Where a straight line y = slope x + intercept crosses the box [x.lo,x.hi] x [y.lo,y.hi]:
   the x range [*xa, *xb] over which it is inside. Returns 0 if it misses the box. */
static int mdl__plot_abline_span(const mdl__plot_item *it, const mdl__plot_layout *L,
                                 double *xa, double *xb) {
    double a = L->x.lo, b = L->x.hi;
    if (!isfinite(it->slope) || !isfinite(it->intercept)) return 0;
    if (it->slope != 0) {
        double u = (L->y.lo - it->intercept) / it->slope;
        double v = (L->y.hi - it->intercept) / it->slope;
        double lo = u < v ? u : v, hi = u < v ? v : u;
        a = lo > a ? lo : a;
        b = hi < b ? hi : b;
    } else if (!(it->intercept >= L->y.lo && it->intercept <= L->y.hi)) {
        return 0;
    }
    *xa = a;
    *xb = b;
    return isfinite(a) && isfinite(b) && a < b;
}

static void mdl__plot_layout_axes(const mdl__plot_panel *pn, mdl__plot_layout *L) {
    double xlo = HUGE_VAL, xhi = -HUGE_VAL, ylo = HUGE_VAL, yhi = -HUGE_VAL, tw = 0, nw = 0;
    int i, k;
    size_t j;
    char buf[32];
    /* the ranges of the data: points, and the area of regions */
    for (i = 0; i < pn->n_items; i++) {
        const mdl__plot_item *it = &pn->items[i];
        if (it->kind == MDL__PLOT_LINE || it->kind == MDL__PLOT_SCATTER) {
            for (j = 0; j < it->n; j++)
                if (mdl__plot_ok(it->x[j], it->y[j], pn->log_y)) {
                    xlo = it->x[j] < xlo ? it->x[j] : xlo;
                    xhi = it->x[j] > xhi ? it->x[j] : xhi;
                    ylo = it->y[j] < ylo ? it->y[j] : ylo;
                    yhi = it->y[j] > yhi ? it->y[j] : yhi;
                }
        } else if (it->kind == MDL__PLOT_REGIONS) {
            xlo = it->x0 < xlo ? it->x0 : xlo;
            xhi = it->x1 > xhi ? it->x1 : xhi;
            if (!pn->log_y || it->y0 > 0) {
                ylo = it->y0 < ylo ? it->y0 : ylo;
                yhi = it->y1 > yhi ? it->y1 : yhi;
            }
        }
    }
    if (xlo > xhi) {
        xlo = 0;
        xhi = 1;
    }
    /* straight lines do not widen x, but y takes in their ends over the data's x range */
    for (i = 0; i < pn->n_items; i++) {
        const mdl__plot_item *it = &pn->items[i];
        if (it->kind != MDL__PLOT_ABLINE) continue;
        for (k = 0; k < 2; k++) {
            double y = it->slope * (k ? xhi : xlo) + it->intercept;
            if (mdl__plot_ok(0, y, pn->log_y)) {
                ylo = y < ylo ? y : ylo;
                yhi = y > yhi ? y : yhi;
            }
        }
    }
    if (ylo > yhi) {
        ylo = pn->log_y ? 1 : 0;
        yhi = pn->log_y ? 10 : 1;
    }
    mdl__plot_ticks(&L->x, xlo, xhi);
    if (pn->log_y) mdl__plot_log_ticks(&L->y, ylo, yhi);
    else mdl__plot_ticks(&L->y, ylo, yhi);
    /* margins: room for the y tick labels, the axis labels, the title and the legend */
    for (k = 0; k < L->y.n; k++) {
        double w;
        mdl__plot_tick_label(buf, sizeof buf, L->y.tick[k]);
        w = mdl__plot_text_width(buf, 12);
        tw = w > tw ? w : tw;
    }
    L->legend = 0;
    for (i = 0; i < pn->n_items; i++)
        if (pn->items[i].name) {
            double w = mdl__plot_text_width(pn->items[i].name, 12);
            nw = w > nw ? w : nw;
            L->legend++;
        }
    L->legend_w = L->legend ? 36 + nw : 0;
    L->px = 10 + (pn->ylabel ? 20 : 0) + tw + 8;
    L->py = pn->title ? 36 : 14;
    L->pw = MDL__PLOT_W;
    L->ph = MDL__PLOT_H;
    L->w = L->px + L->pw + 16 + L->legend_w;
    L->h = L->py + L->ph + 26 + (pn->xlabel ? 20 : 0);
    if (L->py + 18 * L->legend + 4 > L->h) L->h = L->py + 18 * L->legend + 4; /* a long legend */
    if (pn->title && mdl__plot_text_width(pn->title, 14) + 20 > L->w)
        L->w = mdl__plot_text_width(pn->title, 14) + 20;
}

static double mdl__plot_px(const mdl__plot_layout *L, double x) {
    return mdl__plot_map(&L->x, x, L->px, L->px + L->pw);
}
static double mdl__plot_py(const mdl__plot_layout *L, double y) {
    return mdl__plot_map(&L->y, y, L->py + L->ph, L->py);
}
/* a pixel edge rounded to the 0.1 px that is printed, so that cells side by side share it */
static double mdl__plot_round(double v) { return floor(v * 10 + 0.5) / 10; }

/* The palette's colour c mixed with white, t of the colour: "#rrggbb" into buf. */
static void mdl__plot_tint(char *buf, size_t size, int c, double t) {
    unsigned long rgb = strtoul(mdl__plot_palette[c % 8] + 1, NULL, 16);
    int r = (int)((rgb >> 16) & 255), g = (int)((rgb >> 8) & 255), b = (int)(rgb & 255);
    snprintf(buf, size, "#%02x%02x%02x", (unsigned)(255 - t * (255 - r) + 0.5),
             (unsigned)(255 - t * (255 - g) + 0.5), (unsigned)(255 - t * (255 - b) + 0.5));
}

static void mdl__plot_draw_regions(FILE *f, const mdl__plot_item *it, const mdl__plot_panel *pn,
                                   const mdl__plot_layout *L) {
    double dx = (it->x1 - it->x0) / it->cols, dy = (it->y1 - it->y0) / it->rows;
    int i, j, j1;
    char tint[16];
    mdl__svg(f, "<g class=\"regions\" shape-rendering=\"crispEdges\">\n");
    for (i = 0; i < it->rows; i++) {
        /* row i spans y0 + i dy .. y0 + (i + 1) dy; runs of one class become one rectangle */
        double ya = it->y0 + i * dy, yb = it->y0 + (i + 1) * dy, top, bottom;
        if (pn->log_y && !(ya > 0)) continue;
        top = mdl__plot_round(mdl__plot_py(L, yb));
        bottom = mdl__plot_round(mdl__plot_py(L, ya));
        for (j = 0; j < it->cols; j = j1) {
            int c = it->cls[(size_t)i * (size_t)it->cols + (size_t)j];
            double left, right;
            const int *row = it->cls + (size_t)i * (size_t)it->cols;
            for (j1 = j + 1; j1 < it->cols && row[j1] == c;) j1++;
            if (c < 0) continue;
            left = mdl__plot_round(mdl__plot_px(L, it->x0 + j * dx));
            right = mdl__plot_round(mdl__plot_px(L, it->x0 + j1 * dx));
            mdl__plot_tint(tint, sizeof tint, c, 0.3);
            mdl__svg(f, "<rect x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\" fill=\"%s\"/>\n", left,
                     top, right - left, bottom - top, tint);
        }
    }
    mdl__svg(f, "</g>\n");
}

static void mdl__plot_draw_item(FILE *f, const mdl__plot_item *it, const mdl__plot_panel *pn,
                                const mdl__plot_layout *L) {
    const char *col = mdl__plot_palette[it->colour % 8];
    size_t j;
    if (it->kind == MDL__PLOT_SCATTER) {
        mdl__svg(f, "<g class=\"scatter\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.5\">\n",
                 col);
        for (j = 0; j < it->n; j++)
            if (mdl__plot_ok(it->x[j], it->y[j], pn->log_y))
                mdl__svg(f, "<circle cx=\"%v\" cy=\"%v\" r=\"3.5\"/>\n",
                         mdl__plot_px(L, it->x[j]), mdl__plot_py(L, it->y[j]));
        mdl__svg(f, "</g>\n");
    } else if (it->kind == MDL__PLOT_LINE) {
        /* one path; a point that cannot be drawn lifts the pen, and a point alone between
           two gaps is a zero-length segment, which round caps draw as a dot */
        int pen = 0, any = 0;
        for (j = 0; j < it->n; j++) {
            int ok = mdl__plot_ok(it->x[j], it->y[j], pn->log_y);
            int next = j + 1 < it->n && mdl__plot_ok(it->x[j + 1], it->y[j + 1], pn->log_y);
            if (!ok) {
                pen = 0;
                continue;
            }
            if (!any)
                mdl__svg(f, "<path class=\"line\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                            "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"", col);
            mdl__svg(f, pen ? "L%v %v" : "M%v %v", mdl__plot_px(L, it->x[j]),
                     mdl__plot_py(L, it->y[j]));
            if (!pen && !next) mdl__svg(f, "h0");
            pen = any = 1;
        }
        if (any) mdl__svg(f, "\"/>\n");
    } else if (it->kind == MDL__PLOT_ABLINE) {
        /* the part of the line inside the axes; on a log axis it is a curve: 64 pieces */
        double xa, xb;
        int k, pieces = pn->log_y ? 64 : 1;
        if (!mdl__plot_abline_span(it, L, &xa, &xb)) return;
        mdl__svg(f, "<path class=\"abline\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"",
                 col);
        for (k = 0; k <= pieces; k++) {
            double x = xa + (xb - xa) * k / pieces, y = it->slope * x + it->intercept;
            if (pn->log_y && !(y > 0)) y = L->y.lo; /* only at an end, where it meets y.lo */
            mdl__svg(f, k ? "L%v %v" : "M%v %v", mdl__plot_px(L, x), mdl__plot_py(L, y));
        }
        mdl__svg(f, "\"/>\n");
    }
}

static void mdl__plot_title(FILE *f, const mdl__plot_panel *pn, const mdl__plot_layout *L) {
    if (pn->title)
        mdl__svg(f, "<text x=\"%v\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" "
                    "font-weight=\"bold\">%t</text>\n", L->w / 2, pn->title);
}

/* The axis labels: x centred under the plot area, y turned up beside it. */
static void mdl__plot_axis_labels(FILE *f, const mdl__plot_panel *pn, const mdl__plot_layout *L) {
    if (pn->xlabel)
        mdl__svg(f, "<text class=\"xlabel\" x=\"%v\" y=\"%v\" text-anchor=\"middle\">%t</text>\n",
                 L->px + L->pw / 2, L->h - 8, pn->xlabel);
    if (pn->ylabel)
        mdl__svg(f, "<text class=\"ylabel\" transform=\"translate(%v %v) rotate(-90)\" "
                    "text-anchor=\"middle\">%t</text>\n", 10.0 + 12, L->py + L->ph / 2,
                 pn->ylabel);
}

static void mdl__plot_draw_axes(FILE *f, const mdl__plot_panel *pn, const mdl__plot_layout *L) {
    int i, k, row = 0;
    char buf[32];
    double bottom = L->py + L->ph, right = L->px + L->pw;
    for (i = 0; i < pn->n_items; i++) /* regions first: behind the grid and the data */
        if (pn->items[i].kind == MDL__PLOT_REGIONS)
            mdl__plot_draw_regions(f, &pn->items[i], pn, L);
    /* the grid: a light line at every tick */
    mdl__svg(f, "<path class=\"grid\" stroke=\"#e3e3e3\" fill=\"none\" d=\"");
    for (k = 0; k < L->x.n; k++)
        mdl__svg(f, "M%v %vV%v", mdl__plot_px(L, L->x.tick[k]), L->py, bottom);
    for (k = 0; k < L->y.n; k++)
        mdl__svg(f, "M%v %vH%v", L->px, mdl__plot_py(L, L->y.tick[k]), right);
    mdl__svg(f, "\"/>\n");
    /* the data in the order it was added; nothing needs clipping: the axes cover every point
       and the regions, and a straight line is cut to the plot area where it is drawn */
    for (i = 0; i < pn->n_items; i++) mdl__plot_draw_item(f, &pn->items[i], pn, L);
    mdl__svg(f, "<rect x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\" fill=\"none\" "
                "stroke=\"#444\"/>\n", L->px, L->py, L->pw, L->ph);
    /* tick marks, then their labels: centred under x's, right-aligned left of y's */
    mdl__svg(f, "<path stroke=\"#444\" d=\"");
    for (k = 0; k < L->x.n; k++) mdl__svg(f, "M%v %vv5", mdl__plot_px(L, L->x.tick[k]), bottom);
    for (k = 0; k < L->y.n; k++) mdl__svg(f, "M%v %vh-5", L->px, mdl__plot_py(L, L->y.tick[k]));
    mdl__svg(f, "\"/>\n<g class=\"xticks\" text-anchor=\"middle\">\n");
    for (k = 0; k < L->x.n; k++) {
        mdl__plot_tick_label(buf, sizeof buf, L->x.tick[k]);
        mdl__svg(f, "<text x=\"%v\" y=\"%v\">%t</text>\n", mdl__plot_px(L, L->x.tick[k]),
                 bottom + 18, buf);
    }
    mdl__svg(f, "</g>\n<g class=\"yticks\" text-anchor=\"end\">\n");
    for (k = 0; k < L->y.n; k++) {
        mdl__plot_tick_label(buf, sizeof buf, L->y.tick[k]);
        mdl__svg(f, "<text x=\"%v\" y=\"%v\">%t</text>\n", L->px - 8,
                 mdl__plot_py(L, L->y.tick[k]) + 4, buf);
    }
    mdl__svg(f, "</g>\n");
    mdl__plot_axis_labels(f, pn, L);
    if (!L->legend) return;
    /* the legend, right of the plot area: a swatch and the name of each named series */
    mdl__svg(f, "<g class=\"legend\">\n");
    for (i = 0; i < pn->n_items; i++) {
        const mdl__plot_item *it = &pn->items[i];
        double x = right + 16, y = L->py + 10 + 18 * row;
        if (!it->name) continue;
        row++;
        if (it->kind == MDL__PLOT_SCATTER)
            mdl__svg(f, "<circle cx=\"%v\" cy=\"%v\" r=\"3.5\" fill=\"%s\"/>\n", x + 10, y,
                     mdl__plot_palette[it->colour % 8]);
        else
            mdl__svg(f, "<path d=\"M%v %vh20\" stroke=\"%s\" stroke-width=\"2\"/>\n", x, y,
                     mdl__plot_palette[it->colour % 8]);
        mdl__svg(f, "<text x=\"%v\" y=\"%v\">%t</text>\n", x + 26, y + 4, it->name);
    }
    mdl__svg(f, "</g>\n");
}

/* The name of row or column i of a heat map: its label, or its number. */
static const char *mdl__plot_heat_name(const mdl__plot_item *it, size_t i, size_t number,
                                       char *buf, size_t size) {
    if (it->labels[i]) return it->labels[i];
    snprintf(buf, size, "%d", (int)number);
    return buf;
}

static void mdl__plot_layout_heatmap(const mdl__plot_panel *pn, const mdl__plot_item *it,
                                     mdl__plot_layout *L) {
    double rw = 0, cw = 0;
    int most = it->rows > it->cols ? it->rows : it->cols, i;
    char buf[16];
    L->cell = most ? floor(320.0 / most) : 44;
    L->cell = L->cell < 12 ? 12 : L->cell > 44 ? 44 : L->cell;
    for (i = 0; i < it->rows + it->cols; i++) {
        double w = mdl__plot_text_width(mdl__plot_heat_name(it, (size_t)i, (size_t)(i < it->rows ?
                                        i : i - it->rows), buf, sizeof buf), 12);
        if (i < it->rows) rw = w > rw ? w : rw;
        else cw = w > cw ? w : cw;
    }
    L->rotate = cw > L->cell - 4;
    L->px = 10 + (pn->ylabel ? 20 : 0) + rw + 8;
    L->py = pn->title ? 36 : 14;
    L->pw = it->cols * L->cell;
    L->ph = it->rows * L->cell;
    L->w = L->px + L->pw + 16;
    L->h = L->py + L->ph + (L->rotate ? 0.71 * cw + 16 : 22) + (pn->xlabel ? 20 : 0) + 6;
    if (pn->title && mdl__plot_text_width(pn->title, 14) + 20 > L->w)
        L->w = mdl__plot_text_width(pn->title, 14) + 20;
}

static void mdl__plot_draw_heatmap(FILE *f, const mdl__plot_panel *pn, const mdl__plot_item *it,
                                   const mdl__plot_layout *L) {
    double lo = HUGE_VAL, hi = -HUGE_VAL, fs = L->cell * 0.38 < 12 ? L->cell * 0.38 : 12;
    size_t n = (size_t)it->rows * (size_t)it->cols, k;
    int i, j;
    char buf[32];
    for (k = 0; k < n; k++)
        if (isfinite(it->values[k])) {
            lo = it->values[k] < lo ? it->values[k] : lo;
            hi = it->values[k] > hi ? it->values[k] : hi;
        }
    if (lo > 0) lo = 0; /* counts and other positive values shade from 0 */
    /* grey behind the cells: a cell that is not finite is left out and shows it */
    mdl__svg(f, "<rect x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\" fill=\"#d9d9d9\"/>\n"
                "<g class=\"heatmap\" shape-rendering=\"crispEdges\">\n", L->px, L->py, L->pw,
             L->ph);
    for (i = 0; i < it->rows; i++)
        for (j = 0; j < it->cols; j++) {
            double v = it->values[(size_t)i * (size_t)it->cols + (size_t)j];
            double t = hi > lo ? (v - lo) / (hi - lo) : 0;
            if (!isfinite(v)) continue;
            /* white to the palette's blue, #0072B2, linearly in each of r, g, b */
            snprintf(buf, sizeof buf, "#%02x%02x%02x", (unsigned)(255 - t * 255 + 0.5),
                     (unsigned)(255 - t * (255 - 0x72) + 0.5),
                     (unsigned)(255 - t * (255 - 0xB2) + 0.5));
            mdl__svg(f, "<rect x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\" fill=\"%s\"/>\n",
                     L->px + j * L->cell, L->py + i * L->cell, L->cell, L->cell, buf);
        }
    mdl__svg(f, "</g>\n");
    if (it->show_values) {
        mdl__svg(f, "<g class=\"cells\" text-anchor=\"middle\" font-size=\"%v\">\n", fs);
        for (i = 0; i < it->rows; i++)
            for (j = 0; j < it->cols; j++) {
                double v = it->values[(size_t)i * (size_t)it->cols + (size_t)j];
                double t = hi > lo ? (v - lo) / (hi - lo) : 0;
                if (!isfinite(v)) continue;
                if (v == floor(v) && fabs(v) < 1e9) snprintf(buf, sizeof buf, "%.0f", v);
                else snprintf(buf, sizeof buf, "%.3g", v);
                /* white on the dark cells, black on the light ones */
                mdl__svg(f, "<text x=\"%v\" y=\"%v\"%s>%t</text>\n", L->px + (j + 0.5) * L->cell,
                         L->py + (i + 0.5) * L->cell + 0.35 * fs,
                         t > 0.55 ? " fill=\"#fff\"" : "", buf);
            }
        mdl__svg(f, "</g>\n");
    }
    mdl__svg(f, "<g class=\"rownames\" text-anchor=\"end\">\n");
    for (i = 0; i < it->rows; i++)
        mdl__svg(f, "<text x=\"%v\" y=\"%v\">%t</text>\n", L->px - 8,
                 L->py + (i + 0.5) * L->cell + 4,
                 mdl__plot_heat_name(it, (size_t)i, (size_t)i, buf, sizeof buf));
    mdl__svg(f, "</g>\n<g class=\"colnames\" text-anchor=\"%s\">\n", L->rotate ? "end" : "middle");
    for (j = 0; j < it->cols; j++) {
        const char *s = mdl__plot_heat_name(it, (size_t)(it->rows + j), (size_t)j, buf, sizeof buf);
        double x = L->px + (j + 0.5) * L->cell, y = L->py + L->ph;
        if (L->rotate)
            mdl__svg(f, "<text transform=\"translate(%v %v) rotate(-45)\">%t</text>\n", x + 4,
                     y + 10, s);
        else
            mdl__svg(f, "<text x=\"%v\" y=\"%v\">%t</text>\n", x, y + 16, s);
    }
    mdl__svg(f, "</g>\n");
    mdl__plot_axis_labels(f, pn, L);
}

static void mdl__plot_layout_images(const mdl__plot_panel *pn, const mdl__plot_item *it,
                                    mdl__plot_layout *L) {
    int big = it->rows > it->cols ? it->rows : it->cols, N = (int)it->n;
    L->cols = it->grid_cols ? it->grid_cols : 1;
    if (!it->grid_cols) /* near-square: the smallest number of columns c with c * c >= N */
        while (L->cols * L->cols < N) L->cols++;
    if (L->cols > N) L->cols = N > 0 ? N : 1;
    L->rows = (N + L->cols - 1) / L->cols;
    L->cell = big ? MDL__PLOT_BOX / big : 1; /* px per pixel */
    L->cap = it->labels ? 14 : 0;
    L->px = 12;
    L->py = pn->title ? 36 : 12;
    L->pw = it->cols * L->cell; /* one image */
    L->ph = it->rows * L->cell;
    L->w = 2 * L->px + L->cols * (L->pw + 8) - 8;
    L->h = L->py + L->rows * (L->ph + L->cap + 8) + 4;
    if (pn->title && mdl__plot_text_width(pn->title, 14) + 20 > L->w)
        L->w = mdl__plot_text_width(pn->title, 14) + 20;
}

static void mdl__plot_draw_images(FILE *f, const mdl__plot_item *it, const mdl__plot_layout *L) {
    size_t HW = (size_t)it->rows * (size_t)it->cols, k;
    int r, j, j1;
    for (k = 0; k < it->n; k++) {
        /* each image in pixel units, scaled: a black square, then a rectangle for every run
           of equal grey that is not black along each row */
        const short *g = it->grey + k * HW;
        double x = L->px + (double)(k % (size_t)L->cols) * (L->pw + 8);
        double y = L->py + (double)(k / (size_t)L->cols) * (L->ph + L->cap + 8);
        mdl__svg(f, "<g class=\"image\" transform=\"translate(%v %v) scale(%g)\" "
                    "shape-rendering=\"crispEdges\">\n<rect width=\"%d\" height=\"%d\"/>\n", x, y,
                 L->cell, it->cols, it->rows);
        for (r = 0; r < it->rows; r++)
            for (j = 0; j < it->cols; j = j1) {
                const short *row = g + (size_t)r * (size_t)it->cols;
                short v = row[j];
                for (j1 = j + 1; j1 < it->cols && row[j1] == v;) j1++;
                if (v == 0) continue;
                if (v < 0)
                    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\" fill=\"%s\"/>\n",
                            j, r, j1 - j, mdl__plot_palette[3]);
                else
                    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\" "
                               "fill=\"#%02x%02x%02x\"/>\n", j, r, j1 - j, (unsigned)v,
                            (unsigned)v, (unsigned)v);
            }
        mdl__svg(f, "</g>\n");
        if (it->labels && it->labels[k])
            mdl__svg(f, "<text class=\"caption\" x=\"%v\" y=\"%v\" text-anchor=\"middle\" "
                        "font-size=\"11\">%t</text>\n", x + L->pw / 2, y + L->ph + 12,
                     it->labels[k]);
    }
}

static void mdl__plot_lay_out(const mdl__plot_panel *pn, mdl__plot_layout *L) {
    memset(L, 0, sizeof *L);
    if (pn->n_items && pn->items[0].kind == MDL__PLOT_HEATMAP)
        mdl__plot_layout_heatmap(pn, &pn->items[0], L);
    else if (pn->n_items && pn->items[0].kind == MDL__PLOT_IMAGES)
        mdl__plot_layout_images(pn, &pn->items[0], L);
    else
        mdl__plot_layout_axes(pn, L);
}

MDLDEF mdl_error mdl_plot_write(const mdl_plot *p, FILE *f) {
    const char *fn = "mdl_plot_write";
    mdl__plot_layout L;
    double w = 0, h = 0, x = 0;
    int i;
    if (!p) return mdl__plot_null(fn);
    if (!f) {
        mdl__fail(MDL_ERR_NULL, fn, "the stream is NULL");
        return MDL_ERR_NULL;
    }
    /* the panels side by side: the figure is as wide as all, as high as the highest */
    for (i = 0; i < p->n_panels; i++) {
        mdl__plot_lay_out(&p->panels[i], &L);
        w += ceil(L.w);
        h = L.h > h ? L.h : h;
    }
    h = ceil(h);
    mdl__svg(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%v\" "
                "height=\"%v\" viewBox=\"0 0 %v %v\" font-family=\"Helvetica, Arial, sans-serif\" "
                "font-size=\"12\">\n<rect width=\"%v\" height=\"%v\" fill=\"#fff\"/>\n",
             w, h, w, h, w, h);
    for (i = 0; i < p->n_panels; i++) {
        const mdl__plot_panel *pn = &p->panels[i];
        mdl__plot_lay_out(pn, &L);
        mdl__svg(f, "<g class=\"panel\" transform=\"translate(%v 0)\">\n", x);
        mdl__plot_title(f, pn, &L);
        if (pn->n_items && pn->items[0].kind == MDL__PLOT_HEATMAP)
            mdl__plot_draw_heatmap(f, pn, &pn->items[0], &L);
        else if (pn->n_items && pn->items[0].kind == MDL__PLOT_IMAGES)
            mdl__plot_draw_images(f, &pn->items[0], &L);
        else
            mdl__plot_draw_axes(f, pn, &L);
        mdl__svg(f, "</g>\n");
        x += ceil(L.w);
    }
    mdl__svg(f, "</svg>\n");
    if (fflush(f) != 0 || ferror(f))
        return mdl__env_error(MDL_ERR_IO, fn, "writing the SVG failed");
    return MDL_OK;
}

MDLDEF mdl_error mdl_plot_save(const mdl_plot *p, const char *path) {
    const char *fn = "mdl_plot_save";
    FILE *f;
    mdl_error e;
    if (!p) return mdl__plot_null(fn);
    if (!path) {
        mdl__fail(MDL_ERR_NULL, fn, "path is NULL");
        return MDL_ERR_NULL;
    }
    f = fopen(path, "wb");
    if (!f) return mdl__env_error(MDL_ERR_IO, fn, "cannot open %s for writing", path);
    e = mdl_plot_write(p, f);
    if (fclose(f) != 0 || e != MDL_OK)
        e = mdl__env_error(MDL_ERR_IO, fn, "writing %s failed (disk full?)", path);
    return e;
}

// >>fit

/* ---------------------------------------------------------------------------------------------
   The fit loop: what every training program repeats, written once
     for each epoch:
         train:    for each shuffled mini-batch (x, y):
                       out = model(x, training)      loss = L(out, y)      backward(loss)
                       clip the gradients' norm      optimizer step        zero the gradients
                       reset the arena (the batch's tensors and tape are gone)
         validate: for each mini-batch, in evaluation mode and without a tape: loss, metric
         record:   the epoch's means in the history; print a line
         stop?:    early stopping when the monitored value has not improved for `patience`
                   epochs; the scheduler steps; the callbacks may stop it too
   The tutorials write this loop by hand, to show it; mdl_fit is for when it is known.
   --------------------------------------------------------------------------------------------- */

/* Wall-clock seconds: gettimeofday where there is one (clock() counts CPU time, which OpenMP's
   threads add up), clock() elsewhere. */
static double mdl__seconds(void) {
#if defined(__unix__) || defined(__APPLE__)
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

/* Is `f` a terminal (where a progress bar can redraw its line)? */
static int mdl__is_terminal(FILE *f) {
#if defined(__unix__) || defined(__APPLE__)
    return f == stdout && isatty(1);
#else
    (void)f;
    return 0;
#endif
}

MDLDEF mdl_fit_opts mdl_fit_defaults(void) {
    mdl_fit_opts o;
    memset(&o, 0, sizeof o);
    o.loss = MDL_FIT_CROSS_ENTROPY;
    o.metric = MDL_FIT_ACCURACY;
    o.epochs = 10;
    o.batch_size = 32;
    o.shuffle = 1;
    o.verbose = 1;
    return o;
}

static const char *mdl__fit_metric_name(mdl_fit_metric m) {
    switch (m) {
    case MDL_FIT_ACCURACY: return "accuracy";
    case MDL_FIT_BINARY_ACCURACY: return "accuracy";
    case MDL_FIT_R2: return "r2";
    case MDL_FIT_MAE: return "mae";
    default: return "";
    }
}

/* Sums over an epoch's rows from which the metric comes at the end (R^2 needs the whole
   epoch: 1 - sum (y - p)^2 / sum (y - mean y)^2, the mean known only at the end). */
typedef struct mdl__fit_sums {
    double loss, rows, batches, right, abs_err, sq_err, y, y2;
} mdl__fit_sums;

static void mdl__fit_count(const mdl_fit_opts *o, mdl__fit_sums *s, mdl_arena *ar,
                           mdl_tensor *out, mdl_tensor *y, double loss) {
    size_t i, rows = (size_t)out->shape[0];
    s->loss += loss;
    s->batches += 1;
    s->rows += (double)rows;
    switch (o->metric) {
    case MDL_FIT_ACCURACY: s->right += mdl_accuracy(out, y) * (double)rows; break;
    case MDL_FIT_BINARY_ACCURACY:
        for (i = 0; i < out->numel; i++) s->right += (out->data[i] > 0) == (y->data[i] > (mdl_scalar)0.5);
        s->rows += (double)out->numel - (double)rows; /* count elements, not rows */
        break;
    case MDL_FIT_R2:
    case MDL_FIT_MAE:
        for (i = 0; i < out->numel; i++) {
            double e = (double)out->data[i] - (double)y->data[i];
            s->abs_err += fabs(e);
            s->sq_err += e * e;
            s->y += y->data[i];
            s->y2 += (double)y->data[i] * y->data[i];
        }
        s->rows += (double)out->numel - (double)rows;
        break;
    default: break;
    }
    (void)ar;
}

static double mdl__fit_metric_value(const mdl_fit_opts *o, const mdl__fit_sums *s) {
    if (s->rows <= 0) return NAN;
    switch (o->metric) {
    case MDL_FIT_ACCURACY:
    case MDL_FIT_BINARY_ACCURACY: return s->right / s->rows;
    case MDL_FIT_MAE: return s->abs_err / s->rows;
    case MDL_FIT_R2: return 1 - s->sq_err / (s->y2 - s->y * s->y / s->rows);
    default: return NAN;
    }
}

static mdl_tensor *mdl__fit_forward(const mdl_fit_opts *o, mdl_arena *ar, mdl_tensor *x,
                                    int training) {
    if (o->seq) return mdl_sequential_forward(ar, o->seq, x);
    return o->forward(ar, x, training, o->model);
}

static mdl_tensor *mdl__fit_loss(const mdl_fit_opts *o, mdl_arena *ar, mdl_tensor *out,
                                 mdl_tensor *y) {
    if (o->loss_fn) return o->loss_fn(ar, out, y, o->loss_user);
    switch (o->loss) {
    case MDL_FIT_MSE: return mdl_mse_loss(ar, out, y, MDL_MEAN);
    case MDL_FIT_BCE_WITH_LOGITS:
        return mdl_bce_with_logits_loss(ar, out, mdl_reshape(ar, y, out->ndim, out->shape), NULL,
                                        NULL, MDL_MEAN);
    default: return mdl_cross_entropy_loss(ar, out, y, NULL);
    }
}

static void mdl__fit_mode(const mdl_fit_opts *o, int training) {
    if (o->seq) mdl_sequential_train(o->seq, training);
}

/* One pass over a data set: training (with the steps) or evaluation. Returns 0 after an error
   or when a callback asked to stop in the middle. */
static int mdl__fit_pass(const mdl_fit_opts *o, mdl_arena *ar, mdl_dataset *ds, int training,
                         mdl__fit_sums *s, mdl_fit_progress *pr, double t0, int bar) {
    mdl_batches it;
    mdl_tensor *x, *y;
    int grad = mdl_set_grad_enabled(ar, training), ok = 1;
    double last_draw = 0, start = mdl__seconds();
    memset(s, 0, sizeof *s);
    mdl__fit_mode(o, training);
    if (!mdl_batches_init(&it, ds, o->batch_size, training && o->shuffle,
                          training && o->drop_last, o->rng)) {
        mdl_set_grad_enabled(ar, grad);
        return 0;
    }
    if (pr) pr->batches = it.per_epoch;
    while (mdl_batches_next(&it, ar, &x, &y)) {
        mdl_tensor *out = mdl__fit_forward(o, ar, x, training);
        mdl_tensor *loss = out ? mdl__fit_loss(o, ar, out, y) : NULL;
        if (!loss) {
            ok = 0;
            break;
        }
        mdl__fit_count(o, s, ar, out, y, (double)loss->data[0]);
        if (training) {
            if (mdl_backward(loss) != MDL_OK) {
                ok = 0;
                break;
            }
            if (o->clip_grad_norm > 0) mdl_clip_grad_norm(o->params, o->clip_grad_norm, 2);
            mdl_optim_step(o->optim);
            mdl_optim_zero_grad(o->optim);
        }
        mdl_arena_reset(ar);
        if (training && pr) {
            pr->batch = it.batch;
            pr->loss = s->loss / s->batches;
            pr->metric = mdl__fit_metric_value(o, s);
            pr->seconds = mdl__seconds() - t0;
            if (bar && (pr->seconds - last_draw > 0.1 || pr->batch == pr->batches)) {
                /* epoch 3/20 [=========>          ] 12/47  loss 0.3421  accuracy 0.912
                   3.4s, 1.2s left (this epoch, at the pace of its batches so far) */
                double left = (mdl__seconds() - start) / pr->batch * (pr->batches - pr->batch);
                FILE *f = o->out ? o->out : stdout;
                int k, w = 24, done = pr->batch * w / (pr->batches ? pr->batches : 1);
                fprintf(f, "\repoch %d/%d [", pr->epoch, pr->epochs);
                for (k = 0; k < w; k++) fputc(k < done ? '=' : k == done ? '>' : ' ', f);
                fprintf(f, "] %d/%d  loss %.4f", pr->batch, pr->batches, pr->loss);
                if (o->metric) fprintf(f, "  %s %.4f", mdl__fit_metric_name(o->metric), pr->metric);
                fprintf(f, "  %.2fs, %.2fs left ", pr->seconds, left);
                fflush(f);
                last_draw = pr->seconds;
            }
            if (o->on_batch && o->on_batch(pr, o->callback_user)) {
                ok = 0;
                break;
            }
        }
    }
    if (!ok) mdl_arena_reset(ar); /* cut short: the batch's tensors go too */
    mdl_set_grad_enabled(ar, grad);
    return ok;
}

static int mdl__fit_opts_ok(const char *fn, const mdl_fit_opts *o, const mdl_dataset *train,
                            int need_optim) {
    const char *why = NULL;
    if (!o || !train) {
        mdl__fail(MDL_ERR_NULL, fn, !o ? "the options are NULL" : "the data set is NULL");
        return 0;
    }
    if (!o->seq && !o->forward) why = "no model: set opts.seq or opts.forward";
    else if (need_optim && !o->optim) why = "no optimizer: set opts.optim";
    else if (o->batch_size < 1) why = "batch_size must be at least 1";
    else if (need_optim && o->epochs < 1) why = "epochs must be at least 1";
    else if (need_optim && o->shuffle && !o->rng) why = "shuffling needs opts.rng";
    else if (!train->y) why = "the data set has no targets (y)";
    else if ((o->restore_best || o->clip_grad_norm > 0) && !o->params)
        why = "restore_best and clip_grad_norm need opts.params";
    if (why) {
        mdl__fail(MDL_ERR_ARG, fn, "%s", why);
        return 0;
    }
    return 1;
}

static mdl_history *mdl__history_new(int epochs, const char *metric_name) {
    mdl_history *h = (mdl_history *)MINIDL_MALLOC(sizeof(mdl_history));
    double *all = (double *)MINIDL_MALLOC(6 * (size_t)epochs * sizeof(double));
    if (!h || !all) {
        MINIDL_FREE(h);
        MINIDL_FREE(all);
        mdl__env_error(MDL_ERR_NOMEM, "mdl_fit", "out of memory for the history");
        return NULL;
    }
    memset(h, 0, sizeof *h);
    h->loss = all;
    h->metric = all + epochs;
    h->val_loss = all + 2 * epochs;
    h->val_metric = all + 3 * epochs;
    h->lr = all + 4 * epochs;
    h->seconds = all + 5 * epochs;
    h->metric_name = metric_name;
    return h;
}

MDLDEF void mdl_history_free(mdl_history *h) {
    if (!h) return;
    MINIDL_FREE(h->loss);
    MINIDL_FREE(h);
}

/* Copy every tensor of ps to or from a flat buffer (restore_best's snapshot). */
static void mdl__params_snapshot(mdl_params *ps, mdl_scalar *buf, int save) {
    size_t off = 0;
    int i;
    for (i = 0; i < ps->count; i++) {
        mdl_tensor *t = ps->items[i];
        if (save)
            memcpy(buf + off, t->data, t->numel * sizeof(mdl_scalar));
        else
            memcpy(t->data, buf + off, t->numel * sizeof(mdl_scalar));
        off += t->numel;
    }
}

MDLDEF mdl_history *mdl_fit(const mdl_fit_opts *opts, mdl_dataset *train, mdl_dataset *val) {
    const char *fn = "mdl_fit";
    mdl_arena *ar;
    mdl_history *h;
    mdl_scalar *best_params = NULL;
    mdl__fit_sums s;
    mdl_fit_progress pr;
    FILE *out;
    double t0 = mdl__seconds(), best = INFINITY;
    int e, bar, since_best = 0, lower_better, ok = 1;
    if (!mdl__fit_opts_ok(fn, opts, train, 1)) return NULL;
    out = opts->out ? opts->out : stdout;
    bar = opts->verbose && mdl__is_terminal(out);
    ar = opts->arena ? opts->arena : mdl_arena_new(0);
    h = ar ? mdl__history_new(opts->epochs, mdl__fit_metric_name(opts->metric)) : NULL;
    if (!h) {
        if (!opts->arena) mdl_arena_free(ar);
        return NULL;
    }
    if (opts->restore_best) {
        size_t total = 0;
        int i;
        for (i = 0; i < opts->params->count; i++) total += opts->params->items[i]->numel;
        best_params = (mdl_scalar *)MINIDL_MALLOC((total ? total : 1) * sizeof(mdl_scalar));
        if (!best_params) {
            mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory for the best parameters");
            mdl_history_free(h);
            if (!opts->arena) mdl_arena_free(ar);
            return NULL;
        }
    }
    /* the value watched for early stopping, the best epoch and PLATEAU: lower is better but
       for accuracy and R^2 */
    lower_better = !opts->monitor_metric || opts->metric == MDL_FIT_MAE;
    memset(&pr, 0, sizeof pr);
    pr.epochs = opts->epochs;
    pr.history = h;
    for (e = 0; e < opts->epochs && ok; e++) {
        double watched;
        pr.epoch = e + 1;
        h->lr[e] = mdl_optim_group_count(opts->optim) ? mdl_optim_group(opts->optim, 0)->lr : NAN;
        ok = mdl__fit_pass(opts, ar, train, 1, &s, &pr, t0, bar);
        h->loss[e] = s.batches ? s.loss / s.batches : NAN;
        h->metric[e] = mdl__fit_metric_value(opts, &s);
        h->val_loss[e] = h->val_metric[e] = NAN;
        if (ok && val) {
            ok = mdl__fit_pass(opts, ar, val, 0, &s, NULL, t0, 0);
            h->val_loss[e] = s.batches ? s.loss / s.batches : NAN;
            h->val_metric[e] = mdl__fit_metric_value(opts, &s);
        }
        h->seconds[e] = mdl__seconds() - t0;
        h->epochs = e + 1;
        if (mdl__last_code != MDL_OK && !ok) break; /* an error was reported: stop here */
        watched = opts->monitor_metric ? (val ? h->val_metric[e] : h->metric[e])
                                       : (val ? h->val_loss[e] : h->loss[e]);
        if (!lower_better) watched = -watched;
        if (e == 0 || watched < best - opts->min_delta) {
            best = watched;
            h->best_epoch = e;
            since_best = 0;
            if (best_params) mdl__params_snapshot(opts->params, best_params, 1);
        } else {
            since_best++;
        }
        if (opts->verbose) {
            if (bar) fputc('\r', out);
            fprintf(out, "epoch %d/%d  loss %.4f", e + 1, opts->epochs, h->loss[e]);
            if (opts->metric) fprintf(out, "  %s %.4f", h->metric_name, h->metric[e]);
            if (val) {
                fprintf(out, "  val_loss %.4f", h->val_loss[e]);
                if (opts->metric) fprintf(out, "  val_%s %.4f", h->metric_name, h->val_metric[e]);
            }
            fprintf(out, "  lr %.3g  %.2fs%s\n", h->lr[e], h->seconds[e], bar ? "          " : "");
            fflush(out);
        }
        if (opts->scheduler) mdl_scheduler_step_metric(opts->scheduler, lower_better ? watched : -watched);
        if (opts->on_epoch && opts->on_epoch(&pr, opts->callback_user)) {
            h->stopped_early = 1;
            break;
        }
        if (!ok) { /* a batch callback asked to stop */
            h->stopped_early = 1;
            break;
        }
        if (opts->patience > 0 && since_best >= opts->patience) {
            h->stopped_early = 1;
            if (opts->verbose)
                fprintf(out, "early stopping: no improvement for %d epochs; best epoch %d\n",
                        opts->patience, h->best_epoch + 1);
            break;
        }
    }
    if (best_params) {
        mdl__params_snapshot(opts->params, best_params, 0);
        MINIDL_FREE(best_params);
    }
    mdl__fit_mode(opts, 0);
    if (!opts->arena) mdl_arena_free(ar);
    return h;
}

MDLDEF mdl_error mdl_evaluate(const mdl_fit_opts *opts, mdl_dataset *data, double *loss,
                              double *metric) {
    mdl__fit_sums s;
    mdl_arena *ar;
    int ok;
    if (!mdl__fit_opts_ok("mdl_evaluate", opts, data, 0)) return mdl__last_code;
    ar = opts->arena ? opts->arena : mdl_arena_new(0);
    if (!ar) return MDL_ERR_NOMEM;
    ok = mdl__fit_pass(opts, ar, data, 0, &s, NULL, 0, 0);
    if (loss) *loss = s.batches ? s.loss / s.batches : NAN;
    if (metric) *metric = mdl__fit_metric_value(opts, &s);
    if (!opts->arena) mdl_arena_free(ar);
    return ok ? MDL_OK : (mdl__last_code != MDL_OK ? mdl__last_code : MDL_ERR_ARG);
}

MDLDEF mdl_error mdl_history_save_csv(const mdl_history *h, const char *path) {
    const char *fn = "mdl_history_save_csv";
    FILE *f;
    int e;
    if (!h || !path) {
        mdl__fail(MDL_ERR_NULL, fn, !h ? "the history is NULL" : "the path is NULL");
        return MDL_ERR_NULL;
    }
    f = fopen(path, "w");
    if (!f) return mdl__env_error(MDL_ERR_IO, fn, "cannot open %s for writing", path);
    fprintf(f, "epoch,loss,%s,val_loss,val_%s,lr,seconds\n",
            h->metric_name[0] ? h->metric_name : "metric",
            h->metric_name[0] ? h->metric_name : "metric");
    for (e = 0; e < h->epochs; e++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.4f\n", e + 1, h->loss[e], h->metric[e],
                h->val_loss[e], h->val_metric[e], h->lr[e], h->seconds[e]);
    if (fclose(f) != 0) return mdl__env_error(MDL_ERR_IO, fn, "error writing %s", path);
    return MDL_OK;
}

MDLDEF mdl_error mdl_history_plot(const mdl_history *h, const char *path) {
    const char *fn = "mdl_history_plot";
    mdl_plot *p;
    double *epoch;
    mdl_error err = MDL_OK;
    int e, has_val = 0, has_metric = 0;
    if (!h || !path) {
        mdl__fail(MDL_ERR_NULL, fn, !h ? "the history is NULL" : "the path is NULL");
        return MDL_ERR_NULL;
    }
    epoch = (double *)MINIDL_MALLOC((size_t)(h->epochs ? h->epochs : 1) * sizeof(double));
    p = epoch ? mdl_plot_new("loss") : NULL; /* the first panel: the loss */
    if (!p) {
        MINIDL_FREE(epoch);
        return mdl__env_error(MDL_ERR_NOMEM, fn, "out of memory");
    }
    memset(epoch, 0, (size_t)(h->epochs ? h->epochs : 1) * sizeof(double));
    for (e = 0; e < h->epochs; e++) {
        epoch[e] = e + 1;
        has_val |= !isnan(h->val_loss[e]);
        has_metric |= !isnan(h->metric[e]);
    }
    mdl_plot_labels(p, "epoch", "loss");
    mdl_plot_line(p, "training", h->epochs, epoch, h->loss);
    if (has_val) mdl_plot_line(p, "validation", h->epochs, epoch, h->val_loss);
    if (h->epochs > 0) /* a marker on the best epoch's loss */
        mdl_plot_scatter(p, "best epoch", 1, &epoch[h->best_epoch],
                         has_val ? &h->val_loss[h->best_epoch] : &h->loss[h->best_epoch]);
    if (has_metric) {
        mdl_plot_panel(p, h->metric_name);
        mdl_plot_labels(p, "epoch", h->metric_name);
        mdl_plot_line(p, "training", h->epochs, epoch, h->metric);
        if (has_val) mdl_plot_line(p, "validation", h->epochs, epoch, h->val_metric);
    }
    err = mdl_plot_save(p, path);
    mdl_plot_free(p);
    MINIDL_FREE(epoch);
    return err;
}

// >>io

/* Saving and loading: safetensors, checkpoints */

// >>diagnostics

/* ---------------------------------------------------------------------------------------------
   gradcheck: backward against central differences
     L(inputs) = sum_k v_k f(inputs)_k, v a fixed random vector, so one backward gives dL/dx
     analytic:  dL/dx_i from mdl_backward_with(f, v)
     numeric:   (L(x_i + eps) - L(x_i - eps)) / (2 eps), each element in turn, tape off
     pass:      |analytic - numeric| <= atol + rtol |numeric| for every element
   --------------------------------------------------------------------------------------------- */

/* L = sum_k v_k f(inputs)_k, in double, with no tape. */
static double mdl__gradcheck_loss(mdl_fn f, void *user, mdl_arena *scratch,
                                  mdl_tensor *const *copies, const double *v, size_t nv,
                                  int *ok) {
    mdl_tensor *out;
    double total = 0;
    size_t k;
    mdl_arena_reset(scratch);
    out = f(scratch, copies, user);
    *ok = out && out->numel == nv;
    if (*ok)
        for (k = 0; k < nv; k++) total += v[k] * (double)out->data[k];
    return total;
}

/* The analytic side: one backward of L, with v drawn here (*v, *nv: MINIDL_MALLOC'd by this
   function); analytic[i] gets input i's gradient in double. 0 after an error. */
static int mdl__gradcheck_analytic(const char *fn, mdl_fn f, void *user, mdl_arena *scratch,
                                   int n, mdl_tensor *const *copies, double **v, size_t *nv,
                                   double **analytic) {
    mdl_tensor *out = f(scratch, copies, user), *dy;
    mdl_rng rng;
    size_t k;
    int i;
    if (!out) {
        if (mdl__last_code == MDL_OK) mdl__fail(MDL_ERR_NULL, fn, "the function returned NULL");
        return 0;
    }
    *nv = out->numel;
    *v = (double *)MINIDL_MALLOC(sizeof(double) * (*nv ? *nv : 1));
    dy = mdl_zeros(scratch, out->ndim, out->shape);
    if (!*v || !dy) return 0;
    mdl_rng_seed(&rng, 1234);
    for (k = 0; k < *nv; k++) dy->data[k] = (mdl_scalar)((*v)[k] = mdl_rng_uniform(&rng) * 2 - 1);
    if (out->requires_grad && mdl_backward_with(out, dy) != MDL_OK) return 0;
    for (i = 0; i < n; i++) {
        analytic[i] = (double *)MINIDL_MALLOC(sizeof(double) * (copies[i]->numel + 1));
        if (!analytic[i]) return 0;
        for (k = 0; k < copies[i]->numel; k++)
            analytic[i][k] = copies[i]->grad ? (double)copies[i]->grad[k] : 0.0;
    }
    return 1;
}

/* The numeric side: central differences, one element at a time, with the tape off, each held
   against its analytic value; the findings go into rep. 0 if an evaluation failed. */
static int mdl__gradcheck_numeric(mdl_fn f, void *user, mdl_arena *scratch, int n,
                                  mdl_tensor *const *copies, const double *v, size_t nv,
                                  double *const *analytic, double eps, double atol, double rtol,
                                  mdl_gradcheck_report *rep) {
    size_t k;
    int i, ok;
    mdl_set_grad_enabled(scratch, 0);
    for (i = 0; i < n; i++) {
        for (k = 0; k < copies[i]->numel; k++) {
            mdl_scalar saved = copies[i]->data[k];
            double plus, minus, numeric, err;
            copies[i]->data[k] = (mdl_scalar)((double)saved + eps);
            plus = mdl__gradcheck_loss(f, user, scratch, copies, v, nv, &ok);
            if (!ok) return 0;
            copies[i]->data[k] = (mdl_scalar)((double)saved - eps);
            minus = mdl__gradcheck_loss(f, user, scratch, copies, v, nv, &ok);
            copies[i]->data[k] = saved;
            if (!ok) return 0;
            numeric = (plus - minus) / (2 * eps);
            err = fabs(analytic[i][k] - numeric);
            rep->checked++;
            if (!(err <= atol + rtol * fabs(numeric))) rep->failed++;
            if (rep->worst_input < 0 || err > rep->max_abs_err || err != err) {
                rep->worst_input = i;
                rep->worst_index = k;
                rep->analytic = analytic[i][k];
                rep->numeric = numeric;
                rep->max_abs_err = err;
            }
        }
    }
    return 1;
}

MDLDEF int mdl_gradcheck(mdl_fn f, void *user, int n, mdl_tensor *const *inputs, double eps,
                         double atol, double rtol, mdl_gradcheck_report *report) {
    const char *fn = "mdl_gradcheck";
    mdl_gradcheck_report rep;
    mdl_arena *hold = NULL, *scratch = NULL;
    mdl_tensor **copies = NULL;
    double *v = NULL, **analytic = NULL;
    size_t nv = 0;
    int i, ok = 0;
#ifdef MINIDL_DOUBLE
    const double eps0 = 1e-6, atol0 = 1e-5, rtol0 = 1e-3;
#else
    const double eps0 = 1e-2, atol0 = 1e-2, rtol0 = 5e-2;
#endif
    memset(&rep, 0, sizeof rep);
    rep.worst_input = -1;
    if (report) *report = rep;
    if (!f || n < 0 || (n > 0 && !inputs)) {
        mdl__fail(f ? MDL_ERR_ARG : MDL_ERR_NULL, fn, "needs a function and n >= 0 inputs");
        return 0;
    }
    for (i = 0; i < n; i++)
        if (!mdl__usable(fn, "an input", inputs[i])) return 0;
    if (eps <= 0) eps = eps0;
    if (atol <= 0) atol = atol0;
    if (rtol <= 0) rtol = rtol0;
    /* f works on leaf copies of the inputs (in `hold`, which lives through the whole check),
       and every evaluation's temporaries go to `scratch`, reset before each one. */
    hold = mdl_arena_new(0);
    scratch = mdl_arena_new(0);
    copies = (mdl_tensor **)MINIDL_MALLOC(sizeof(mdl_tensor *) * (size_t)(n ? n : 1));
    analytic = (double **)MINIDL_MALLOC(sizeof(double *) * (size_t)(n ? n : 1));
    if (!hold || !scratch || !copies || !analytic) goto done;
    for (i = 0; i < n; i++) analytic[i] = NULL;
    for (i = 0; i < n; i++) {
        copies[i] = mdl_from_array(hold, inputs[i]->ndim, inputs[i]->shape, inputs[i]->data);
        if (!copies[i]) goto done;
        copies[i]->requires_grad = 1;
    }
    if (mdl__gradcheck_analytic(fn, f, user, scratch, n, copies, &v, &nv, analytic) &&
        mdl__gradcheck_numeric(f, user, scratch, n, copies, v, nv, analytic, eps, atol, rtol,
                               &rep))
        ok = rep.failed == 0;
done:
    if (report) *report = rep;
    if (analytic)
        for (i = 0; i < n; i++) MINIDL_FREE(analytic[i]);
    MINIDL_FREE(analytic);
    MINIDL_FREE(v);
    MINIDL_FREE(copies);
    mdl_arena_free(scratch);
    mdl_arena_free(hold);
    return ok;
}

/* min, mean and max of n values, for the graph's labels */
static void mdl__summary(char *buf, size_t size, const mdl_scalar *v, size_t n) {
    double lo = 0, hi = 0, total = 0;
    size_t i;
    if (!v || n == 0) {
        snprintf(buf, size, "-");
        return;
    }
    lo = hi = (double)v[0];
    for (i = 0; i < n; i++) {
        double x = (double)v[i];
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        total += x;
    }
    snprintf(buf, size, "min %.4g mean %.4g max %.4g", lo, total / (double)n, hi);
}

/* One box: the op (or leaf/param name), the shape, and value and gradient summaries. */
static void mdl__dot_box(FILE *f, const mdl_tensor *t) {
    char shape[96], value[96], grad[96];
    const char *title = t->node ? mdl__op_names[t->node->op] : (t->name ? t->name : "leaf");
    mdl__summary(value, sizeof value, t->data, t->numel);
    mdl__summary(grad, sizeof grad, t->grad, t->grad ? t->numel : 0);
    fprintf(f, "  \"%p\" [label=\"%s\\n%s%s\\nvalue: %s\\ngrad: %s\"%s];\n", (const void *)t, title,
            mdl_shape_str(t, shape, sizeof shape), t->requires_grad ? " requires_grad" : "",
            value, grad, t->node ? "" : ", style=filled, fillcolor=lightgrey");
}

MDLDEF mdl_error mdl_graph_dot_file(const mdl_tensor *t, FILE *f) {
    mdl__node *node;
    unsigned mark;
    int i;
    if (!mdl__usable("mdl_graph_dot", "t", t)) return mdl__last_code ? mdl__last_code : MDL_ERR_NULL;
    if (!f) {
        mdl__fail(MDL_ERR_NULL, "mdl_graph_dot", "the stream is NULL");
        return MDL_ERR_NULL;
    }
    fprintf(f, "digraph minidl {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n");
    mdl__dot_box(f, t);
    if (t->node) {
        /* the tensors of the graph are the outputs of the marked nodes and their inputs */
        mark = mdl__mark_graph((mdl_tensor *)t);
        for (node = t->node; node; node = node->prev) {
            if (node->mark != mark) continue;
            if (node->out != t) mdl__dot_box(f, node->out);
            for (i = 0; i < node->n_in; i++) {
                if (!node->in[i]->node) mdl__dot_box(f, node->in[i]);
                fprintf(f, "  \"%p\" -> \"%p\";\n", (const void *)node->in[i],
                        (const void *)node->out);
            }
        }
    }
    fprintf(f, "}\n");
    if (fflush(f) != 0 || ferror(f)) return mdl__env_error(MDL_ERR_IO, "mdl_graph_dot", "writing the graph failed");
    return MDL_OK;
}

MDLDEF mdl_error mdl_graph_dot(const mdl_tensor *t, const char *path) {
    FILE *f;
    mdl_error e;
    if (!path) {
        mdl__fail(MDL_ERR_NULL, "mdl_graph_dot", "path is NULL");
        return MDL_ERR_NULL;
    }
    f = fopen(path, "w");
    if (!f) return mdl__env_error(MDL_ERR_IO, "mdl_graph_dot", "cannot open %s for writing", path);
    e = mdl_graph_dot_file(t, f);
    if ((fclose(f) != 0 && e == MDL_OK) || e == MDL_ERR_IO)
        e = mdl__env_error(MDL_ERR_IO, "mdl_graph_dot", "writing %s failed (disk full?)", path);
    return e;
}

// >>kernels

/* =============================================================================================
   The fast kernels. Skip this section on a first reading: everything below computes what the
   plain loops in >>ops compute (mdl__gemm_plain in matmul's block, the 2 x 2 loop in pooling's),
   only faster. tests/test_gemm.c and tests/test_conv.c hold each fast path against the plain
   one on awkward sizes, and a MINIDL_NO_SIMD build compiles none of it: there mdl__sgemm is the
   plain GEMM.
   ============================================================================================= */

#if defined(MDL__X86) || defined(MDL__NEON)

/* ---------------------------------------------------------------------------------------------
   The fast GEMM                                            C = alpha op(A) op(B) + beta C
   Three ways to multiply, and mdl__sgemm (at the end) picks one for each product:
   - the packed kernel, in the way of GotoBLAS and BLIS: copy ("pack") blocks of A and B into
     buffers laid out in exactly the order a small register-blocked micro-kernel reads them,
     and choose the block sizes so that each block stays in a level of cache while it is
     reused. The micro-kernel, written with SIMD intrinsics for AVX-512, AVX2+FMA or NEON, is
     chosen at run time for the CPU it runs on;
   - for the products that packing does not pay for (every layer of a small network), the
     unpacked kernel, which reads A and B where they are (BLIS has the like and calls it "sup",
     for skinny/unpacked), and computes C = A B^T and a product's last few columns as dot
     products of rows;
   - the 4 x 3 dot-product kernel, for C = A B^T with few rows, a small C and a long K (the
     weight gradient of a first convolution layer).
   --------------------------------------------------------------------------------------------- */

/* The packed GEMM.

   Loops, outermost first (after BLIS; the sizes are tuned for caches of 32 KiB L1, 1 MiB L2):
     jc: columns of C in blocks of NC
       pc: the shared dimension in blocks of KC
         pack B[pc:pc+KC, jc:jc+NC] into Bp: NR-wide column strips, each KC x NR, row by row
         pack A[0:M, pc:pc+KC] (times alpha) into Ap: MR-tall row strips, each MR x KC,
           column by column
         for each MR x NR tile of C (ir over strips of Ap, jr over strips of Bp):
           micro-kernel: acc[MR][NR] = sum over KC of Ap column * Bp row (outer products,
           all in registers), then C_tile = acc + (first KC block ? beta C_tile : C_tile)
   The micro-kernel's strip of Ap (MR x KC) stays in L1 while it sweeps the jr strips of Bp,
   which come from L2 and L3 (KC x NC floats). The textbook choice keeps Bp within L2; a KC of
   512 (Bp 2 MiB) reads and writes C half as often as 256 and makes each call of the
   micro-kernel twice as long, which is worth more than Bp's fit in L2 (bench/README.md has
   the figures). Padding the last strips with zeros lets the
   micro-kernel always compute a full tile; a tile that sticks out of C is computed into a
   scratch tile and only its valid part is written back.
   With OpenMP, the strips to pack and the tiles of each block are split among the threads in
   contiguous runs. Each tile of C is computed by the same operations in the same order whoever
   computes it, so the result does not depend on the number of threads, to the bit. */

typedef void (*mdl__micro_kernel)(int kc, const float *ap, const float *bp, size_t ldbp,
                                  float *c, size_t ldc, float beta);

/* The dot-product kernel (see mdl__gemm_dot): out[i * 3 + j] = sum over p < k of
   a[i][p] * b[j][p], for 4 rows of A and 3 rows of B, each row contiguous. */
typedef void (*mdl__dot_kernel)(int k, const float *const *a, const float *const *b, float *out);

/* The unpacked kernel (see mdl__gemm_unpacked): for `rows` rows (a size it compiles) and `cols`
   columns, C = alpha A B + beta C on rows lo to hi of them, reading A (rows of k) and B (rows
   of cols) in place. The columns may span several strips (the kernel's width): it goes along
   them one tile after the other. */
typedef void (*mdl__unpacked_kernel)(int rows, int lo, int hi, int cols, int k, const float *a,
                                size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                                float alpha, float beta);

/* One whole strip of the unpacked kernel, C = A B or C += A B on all its rows (see
   MDL__UNPACKED_AVX512_AB) */
typedef void (*mdl__unpacked_ab_kernel)(int k, const float *a, size_t lda,
                                   const float *b, size_t ldb, float *c, size_t ldc);

/* The unpacked kernels' dot products (see mdl__gemm_unpacked): C[i, j] = alpha dot(A row i,
   Bt row j) + beta C for i < rows and j < cols, rows of k values. */
typedef void (*mdl__unpacked_dot_kernel)(int rows, int cols, int k, const float *a, size_t lda,
                                    const float *bt, size_t ldbt, float *c, size_t ldc,
                                    float alpha, float beta);

typedef struct mdl__gemm_impl {
    const char *name;
    int mr, nr;               /* tile size in rows and columns */
    mdl__micro_kernel kernel; /* NULL: use the plain kernel */
    mdl__dot_kernel dot;      /* for small products with a long shared dimension */
    mdl__unpacked_kernel unpacked;      /* for small products, without packing */
    int unpacked_mr, unpacked_nr;       /* its largest tile, */
    int unpacked_mr_narrow;   /* and its most rows, for products at most unpacked_nr / 2 wide */
    mdl__unpacked_dot_kernel unpacked_dot; /* its dot products (see mdl__unpacked_dot_cols) */
} mdl__gemm_impl;

/* The end of every dot-product kernel: the products from p to k, fewer than one vector's
   worth, added one by one. */
#define MDL__DOT_TAIL(p)                                                                     \
    do {                                                                                     \
        int i_, j_;                                                                          \
        for (i_ = 0; i_ < 4; i_++)                                                           \
            for (j_ = 0; j_ < 3; j_++) {                                                     \
                float t_ = 0;                                                                \
                int q_;                                                                      \
                for (q_ = (p); q_ < k; q_++) t_ += a[i_][q_] * b[j_][q_];                    \
                out[i_ * 3 + j_] += t_;                                                      \
            }                                                                                \
    } while (0)

#define MDL__KC 512 /* shared-dimension block: an Ap strip (MR x KC, 24 KiB) fits L1 */
#define MDL__NC 1024 /* column block: Bp (KC x NC floats, 2 MiB) is read from L2 and L3 */
#define MDL__MAX_MR 16
#define MDL__MAX_NR 32
#define MDL__GEMM_STACK 8192 /* floats: products whose packed blocks fit pack on the stack */

/* C_tile = acc + beta C_tile, for an m x n corner of a tile computed in full into `tile`. */
static void mdl__tile_store(const float *tile, int nr, float *c, size_t ldc, int m, int n,
                            float beta) {
    int i, j;
    for (i = 0; i < m; i++) {
        float *ci = c + (size_t)i * ldc;
        if (beta == 0)
            memcpy(ci, tile + i * nr, (size_t)n * sizeof(float));
        else
            for (j = 0; j < n; j++) ci[j] = tile[i * nr + j] + beta * ci[j];
    }
}

/* dst[j * ldd + i] = alpha src[i * ld + j] for an r x c matrix src: its transpose, scaled, with
   rows ldd apart. Walks src along its rows (reads in order); on x86 in 4 x 4 blocks (and then
   2 x 4) turned over in SSE registers, part of every x86-64 CPU: four loads and four stores
   where one value at a time took 32 moves. Packs A for the packed kernel, and copies out the
   transposed operands of the unpacked one. */
static void mdl__transpose(const float *src, size_t ld, int r, int c, float alpha, float *dst,
                           size_t ldd) {
    int i = 0, j;
#if defined(MDL__X86) && defined(__SSE2__)
    const __m128 va = _mm_set1_ps(alpha);
    for (; i + 4 <= r; i += 4) {
        const float *s0 = src + (size_t)i * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
        float *d = dst + i;
        for (j = 0; j + 4 <= c; j += 4) {
            __m128 x0 = _mm_loadu_ps(s0 + j), x1 = _mm_loadu_ps(s1 + j);
            __m128 x2 = _mm_loadu_ps(s2 + j), x3 = _mm_loadu_ps(s3 + j);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3); /* x0 = column j of the four rows, ... */
            _mm_storeu_ps(d + (size_t)j * ldd, _mm_mul_ps(va, x0));
            _mm_storeu_ps(d + (size_t)(j + 1) * ldd, _mm_mul_ps(va, x1));
            _mm_storeu_ps(d + (size_t)(j + 2) * ldd, _mm_mul_ps(va, x2));
            _mm_storeu_ps(d + (size_t)(j + 3) * ldd, _mm_mul_ps(va, x3));
        }
        for (; j < c; j++) /* the last c % 4 columns: one store of four each */
            _mm_storeu_ps(d + (size_t)j * ldd,
                          _mm_mul_ps(va, _mm_setr_ps(s0[j], s1[j], s2[j], s3[j])));
    }
    for (; i + 2 <= r; i += 2) { /* then two rows at a time (6-row strips) */
        const float *s0 = src + (size_t)i * ld, *s1 = s0 + ld;
        float *d = dst + i;
        for (j = 0; j + 4 <= c; j += 4) {
            __m128 x0 = _mm_mul_ps(va, _mm_loadu_ps(s0 + j));
            __m128 x1 = _mm_mul_ps(va, _mm_loadu_ps(s1 + j));
            __m128 lo = _mm_unpacklo_ps(x0, x1), hi = _mm_unpackhi_ps(x0, x1);
            _mm_storel_pi((__m64 *)(void *)(d + (size_t)j * ldd), lo);
            _mm_storeh_pi((__m64 *)(void *)(d + (size_t)(j + 1) * ldd), lo);
            _mm_storel_pi((__m64 *)(void *)(d + (size_t)(j + 2) * ldd), hi);
            _mm_storeh_pi((__m64 *)(void *)(d + (size_t)(j + 3) * ldd), hi);
        }
        for (; j < c; j++)
            d[(size_t)j * ldd] = alpha * s0[j], d[(size_t)j * ldd + 1] = alpha * s1[j];
    }
#endif
    for (; i < r; i++)
        for (j = 0; j < c; j++)
            dst[(size_t)j * ldd + (size_t)i] = alpha * src[(size_t)i * ld + (size_t)j];
}

/* Strip s of Ap: for column p, row i: Ap[(s * kc + p) * mr + i] = alpha op(A)[s*mr+i, p],
   zero below the last row of A. */
static void mdl__pack_a_strip(int trans_a, int m, int kc, float alpha, const float *a,
                              size_t lda, int mr, int s, float *ap) {
    int p, i, rows = m - s * mr < mr ? m - s * mr : mr;
    float *dst = ap + (size_t)s * (size_t)kc * (size_t)mr;
    if (trans_a) { /* op(A)[r, p] = a[p, r]: row p of a holds this strip's column p */
        for (p = 0; p < kc; p++) {
            const float *src = a + (size_t)p * lda + (size_t)(s * mr);
            for (i = 0; i < rows; i++) dst[p * mr + i] = alpha * src[i];
        }
    } else { /* this strip's rows of A, turned over */
        mdl__transpose(a + (size_t)(s * mr) * lda, lda, rows, kc, alpha, dst, (size_t)mr);
    }
    for (i = rows; i < mr; i++) /* zero rows below the end of A */
        for (p = 0; p < kc; p++) dst[p * mr + i] = 0;
}

/* Strip s of Bp: for row p, column j: Bp[(s * kc + p) * nr + j] = op(B)[p, s*nr+j], zero right
   of the last column of B. */
static void mdl__pack_b_strip(int trans_b, int kc, int n, const float *b, size_t ldb, int nr,
                              int s, float *bp) {
    int p, j, cols = n - s * nr < nr ? n - s * nr : nr;
    float *dst = bp + (size_t)s * (size_t)kc * (size_t)nr;
    if (cols < nr) /* the last strip: zeros right of B, in one go rather than row by row */
        memset(dst, 0, (size_t)kc * (size_t)nr * sizeof(float));
    for (p = 0; p < kc; p++) {
        if (!trans_b && cols == nr) {
            /* a memcpy of constant size is a few vector moves; one of variable size (and a copy
               loop, which the compiler turns into one) is a library call per row */
            const float *src = b + (size_t)p * ldb + (size_t)(s * nr);
            switch (nr) {
            case 32: memcpy(dst + p * nr, src, 32 * sizeof(float)); break;
            case 16: memcpy(dst + p * nr, src, 16 * sizeof(float)); break;
            case 12: memcpy(dst + p * nr, src, 12 * sizeof(float)); break;
            default: for (j = 0; j < nr; j++) dst[p * nr + j] = src[j]; break;
            }
        } else if (!trans_b) {
            mdl__copy_row(dst + p * nr, b + (size_t)p * ldb + (size_t)(s * nr), cols);
        } else {
            for (j = 0; j < cols; j++) dst[p * nr + j] = b[(size_t)(s * nr + j) * ldb + (size_t)p];
        }
    }
}

/* One product, as the packed kernel's blocks see it. */
typedef struct mdl__gemm_job {
    const mdl__gemm_impl *impl;
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c, *ap, *bp; /* ap, bp: the packing buffers */
    int direct_b;       /* read B in place (see mdl__gemm_packed) */
} mdl__gemm_job;

/* The share of n items that thread t of nt takes: a contiguous run, [*lo, *hi). */
static void mdl__share(int n, int t, int nt, int *lo, int *hi) {
    *lo = (int)((long long)n * t / nt);
    *hi = (int)((long long)n * (t + 1) / nt);
}

/* Wait until every thread of the team has got here (nothing to wait for on one thread). */
static void mdl__team_wait(int nt) {
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp barrier
    }
#else
    (void)nt;
#endif
}

/* Run fn(job, t, nt) on every thread t of a team of nt, or on this thread alone (t 0 of 1) for
   a product of at most 262,144 multiply-adds (or without OpenMP): starting a team, even one
   that an "if" clause keeps to one thread, costs more than such a product takes. Each of the
   GEMMs below shares its blocks or tiles among the team this way. */
static void mdl__team_run(void (*fn)(const void *job, int t_id, int nt), const void *job,
                          double multiply_adds) {
#ifdef _OPENMP
    if (multiply_adds > 262144.0) {
#pragma omp parallel
        fn(job, omp_get_thread_num(), omp_get_num_threads());
        return;
    }
#endif
    (void)multiply_adds;
    fn(job, 0, 1);
}

/* The loops of the packed kernel, run by every thread t of a team of nt (or by one thread
   alone): each takes its share of the strips to pack or the tiles to compute, then waits for
   the others, so no thread reads a strip before it is packed. (Shares written out rather than
   "omp for", which would bind to an enclosing team when a product that runs on one thread is
   called from inside a parallel loop, as conv2d does.) */
static void mdl__gemm_blocks(const void *job, int t_id, int nt) {
    const mdl__gemm_job *g = (const mdl__gemm_job *)job;
    const mdl__gemm_impl *impl = g->impl;
    const int mr = impl->mr, nr = impl->nr, m = g->m, n = g->n, k = g->k;
    const int m_strips = (m + mr - 1) / mr, direct_b = g->direct_b;
    const int lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    const float alpha = g->alpha, beta = g->beta, *a = g->a, *b = g->b;
    float *c = g->c, *ap = g->ap, *bp = g->bp;
    int jc, pc;
    for (jc = 0; jc < n; jc += MDL__NC) {
        int nc = n - jc < MDL__NC ? n - jc : MDL__NC;
        int n_strips = (nc + nr - 1) / nr;
        for (pc = 0; pc < k; pc += MDL__KC) {
            int kc = k - pc < MDL__KC ? k - pc : MDL__KC;
            float beta_block = pc == 0 ? beta : 1.0f; /* beta applies once, on block one */
            int tiles = m_strips * n_strips, t, s, lo, hi;
            const float *a_block = g->trans_a ? a + (size_t)pc * (size_t)lda : a + pc;
            const float *b_block = g->trans_b ? b + (size_t)jc * (size_t)ldb + pc
                                           : b + (size_t)pc * (size_t)ldb + jc;
            mdl__share(m_strips, t_id, nt, &lo, &hi);
            for (s = lo; s < hi; s++)
                mdl__pack_a_strip(g->trans_a, m, kc, alpha, a_block, (size_t)lda, mr, s, ap);
            mdl__share(n_strips, t_id, nt, &lo, &hi);
            for (s = lo; s < hi; s++) /* with direct_b, only a partial last strip */
                if (!direct_b || (s == n_strips - 1 && nc % nr))
                    mdl__pack_b_strip(g->trans_b, kc, nc, b_block, (size_t)ldb, nr, s, bp);
            mdl__team_wait(nt);
            mdl__share(tiles, t_id, nt, &lo, &hi);
            for (t = lo; t < hi; t++) {
                int ir = direct_b ? t % m_strips : t / n_strips; /* strip of A, */
                int jr = direct_b ? t / m_strips : t % n_strips; /* strip of B */
                int rows = m - ir * mr < mr ? m - ir * mr : mr;
                int cols = nc - jr * nr < nr ? nc - jr * nr : nr;
                const float *a_strip = ap + (size_t)ir * (size_t)kc * (size_t)mr;
                const float *b_strip = bp + (size_t)jr * (size_t)kc * (size_t)nr;
                size_t ldbp = (size_t)nr;
                float *c_tile = c + (size_t)(ir * mr) * (size_t)ldc + (size_t)(jc + jr * nr);
                if (direct_b && cols == nr) { /* read the strip of B where it is */
                    b_strip = b_block + (size_t)(jr * nr);
                    ldbp = (size_t)ldb;
                }
                if (rows == mr && cols == nr) {
                    impl->kernel(kc, a_strip, b_strip, ldbp, c_tile, (size_t)ldc, beta_block);
                } else {
                    float tile[MDL__MAX_MR * MDL__MAX_NR];
                    impl->kernel(kc, a_strip, b_strip, ldbp, tile, (size_t)nr, 0.0f);
                    mdl__tile_store(tile, nr, c_tile, (size_t)ldc, rows, cols, beta_block);
                }
            }
            mdl__team_wait(nt); /* before the next block is packed over this one */
        }
    }
}

static void mdl__gemm_packed(const mdl__gemm_impl *impl, int trans_a, int trans_b, int m, int n,
                             int k, float alpha, const float *a, int lda, const float *b, int ldb,
                             float beta, float *c, int ldc) {
    const int mr = impl->mr, nr = impl->nr;
    const int m_strips = (m + mr - 1) / mr;
    const int kc_max = k < MDL__KC ? k : MDL__KC, nc_max = n < MDL__NC ? n : MDL__NC;
    const int nc_strips_max = (nc_max + nr - 1) / nr;
    size_t ap_size = (size_t)m_strips * (size_t)mr * (size_t)kc_max;
    size_t bp_size = (size_t)nc_strips_max * (size_t)nr * (size_t)kc_max;
    size_t bytes = (ap_size + 16 + bp_size) * sizeof(float) + MDL__ALIGN;
    /* Small products pack into a buffer on the stack: a malloc and free would cost as much as
       the product (32 x 32 x 32 is 65536 flops). */
    float on_stack[MDL__GEMM_STACK + MDL__ALIGN / sizeof(float)];
    char *raw = bytes <= sizeof on_stack ? (char *)on_stack : (char *)MINIDL_MALLOC(bytes);
    mdl__gemm_job job;
    if (!raw) { /* no memory for the packed blocks: the plain kernel needs none */
        mdl__gemm_plain(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    job.impl = impl, job.trans_a = trans_a, job.trans_b = trans_b;
    job.m = m, job.n = n, job.k = k, job.lda = lda, job.ldb = ldb, job.ldc = ldc;
    job.alpha = alpha, job.beta = beta, job.a = a, job.b = b, job.c = c;
    job.ap = (float *)(raw + (MDL__ALIGN - (size_t)((uintptr_t)raw % MDL__ALIGN)) % MDL__ALIGN);
    job.bp = job.ap + (ap_size + 15) / 16 * 16;
    /* Packing B pays for itself by being read by many strips of A; with one or two strips
       (a product with few rows, like a small layer's weights times im2col columns) the
       micro-kernel reads B's rows where they are instead, and the tiles go column strip by
       column strip, so that a strip of B, once in L1, serves every strip of A in turn. Up to
       four strips when B is at most 8 MiB, so that it stays in L3: B read strip by strip is KC
       rows read 64 bytes at a time, more streams than the hardware prefetcher follows, which
       costs when B comes from memory. */
    job.direct_b = !trans_b && (m_strips <= 2 || (m_strips <= 4 && (double)k * n <= 2097152.0));
    /* one team of threads for the whole product, every thread walking the same blocks */
    mdl__team_run(mdl__gemm_blocks, &job, (double)m * (double)n * (double)k);
    if (raw != (char *)on_stack) MINIDL_FREE(raw);
}

/* The dot-product GEMM, for C = alpha A B^T + beta C when C is small and the shared dimension
   long: the weight gradient of a convolution, dW:[O, C*KH*KW] = dY:[O, L] @ cols:[C*KH*KW, L]^T
   with L = images x positions in the thousands. The packed kernel fits such a product badly: it
   would copy all of A and B to compute a few hundred numbers, and C's few rows and columns fill
   only part of its tile. Here each element of C is the dot product of a row of A and a row of
   B, both already contiguous, computed 4 x 3 at a time by a kernel that reads them in place.
   K goes in blocks of MDL__DOT_KB, so that a block of A and B stays in cache (L2) while all
   the 4 x 3 tiles read it; each block's sums are added into C (beta applies on the first).
   Blocks of 2048 rather than 512, since each block ends in 12 lane sums and stores per tile;
   but blocks all the same, since without them a long K no longer stays in cache. The tiles of a block are shared among the threads, and each is
   computed the same way whoever computes it, so again the result does not depend on the
   number of threads. */
#define MDL__DOT_KB 2048

/* One dot-product GEMM: C[x row, y row] at c + i * cx + j * cy = alpha dot(x row i, y row j)
   + beta C, rows of k values, mx rows of x (taken 4 at a time) and ny of y (3 at a time). */
typedef struct mdl__dot_job {
    mdl__dot_kernel dot;
    const float *x, *y;
    size_t ldx, ldy, cx, cy;
    int mx, ny, k;
    float alpha, beta, *c;
} mdl__dot_job;

/* The loops of the dot-product GEMM, run by every thread t of a team of nt (or by one alone),
   each on its share of the tiles of each block. */
static void mdl__gemm_dot_blocks(const void *job, int t_id, int nt) {
    const mdl__dot_job *g = (const mdl__dot_job *)job;
    const int ty = (g->ny + 2) / 3, tiles = (g->mx + 3) / 4 * ty;
    int p0, t, lo, hi;
    mdl__share(tiles, t_id, nt, &lo, &hi);
    for (p0 = 0; p0 < g->k; p0 += MDL__DOT_KB) {
        int kb = g->k - p0 < MDL__DOT_KB ? g->k - p0 : MDL__DOT_KB;
        float beta_block = p0 == 0 ? g->beta : 1.0f; /* beta applies once, on block one */
        for (t = lo; t < hi; t++) {
            int i0 = t / ty * 4, j0 = t % ty * 3, i, j;
            const float *xr[4], *yr[3];
            float out[12];
            for (i = 0; i < 4; i++) /* rows past the end repeat the last row, unused */
                xr[i] = g->x + (size_t)(i0 + i < g->mx ? i0 + i : g->mx - 1) * g->ldx + p0;
            for (j = 0; j < 3; j++)
                yr[j] = g->y + (size_t)(j0 + j < g->ny ? j0 + j : g->ny - 1) * g->ldy + p0;
            g->dot(kb, xr, yr, out);
            for (i = 0; i < 4 && i0 + i < g->mx; i++)
                for (j = 0; j < 3 && j0 + j < g->ny; j++) {
                    float *cij = g->c + (size_t)(i0 + i) * g->cx + (size_t)(j0 + j) * g->cy;
                    *cij = beta_block == 0 ? g->alpha * out[i * 3 + j]
                                           : g->alpha * out[i * 3 + j] + beta_block * *cij;
                }
        }
    }
}

static void mdl__gemm_dot(const mdl__gemm_impl *impl, int m, int n, int k, float alpha,
                          const float *a, int lda, const float *b, int ldb, float beta, float *c,
                          int ldc) {
    /* The kernel takes 4 rows from one side and 3 from the other. Which side gives 4 is chosen
       to waste the least on padding (C = A B^T is also C^T = B A^T): for dW [6, 25], A giving 3
       and B giving 4 leaves 18 of 168 places empty instead of 66 of 216. */
    const int swap = (n + 3) / 4 * 4 * ((m + 2) / 3 * 3) < (m + 3) / 4 * 4 * ((n + 2) / 3 * 3);
    mdl__dot_job job;
    job.dot = impl->dot;
    job.x = swap ? b : a, job.y = swap ? a : b; /* x gives 4 rows, y gives 3 */
    job.ldx = (size_t)(swap ? ldb : lda), job.ldy = (size_t)(swap ? lda : ldb);
    job.mx = swap ? n : m, job.ny = swap ? m : n, job.k = k;
    job.cx = swap ? 1 : (size_t)ldc, job.cy = swap ? (size_t)ldc : 1;
    job.alpha = alpha, job.beta = beta, job.c = c;
    mdl__team_run(mdl__gemm_dot_blocks, &job, (double)m * (double)n * (double)k);
}

/* The unpacked GEMM, for C = alpha op(A) op(B) + beta C when the product is not too big:
   tiles of at most 8 x 32 (AVX-512; 6 x 16 with AVX2), each computed over the whole of K by
   a kernel that reads A's rows and B's rows where they are (a transposed operand is copied out
   once, see mdl__gemm_unpacked). Packing copies all of A and B so that the micro-kernel reads them
   in order and from cache; for a product of a
   few million multiply-adds the copies cost more than they save, and reading in place wins
   (every layer of a small network is such a product). A strip of B is K rows of 32 floats, read from L2 at most;
   B rows are read with plain loads in whole strips, masked ones in the last (a masked load
   reads nothing outside its mask, so no tile reads past the end of a row of B). Columns go in
   strips of 32 (16), the last narrower, and rows in tiles of up to 8 (16 when the product is
   at most 16 wide, one register a row), either as many whole tiles as fit and the rest (20: 8
   + 8 + 4) or of sizes as even as can be (24 rows of a narrow product: 12 + 12, not 16 + 8),
   whichever computes fewer rows. The tiles go strip by strip, so that a strip of B, once
   read, serves every row tile; with one row tile, a thread's strips go to the kernel in one
   call, which goes along them itself (see MDL__UNPACKED_AVX512_AB).
   With OpenMP the tiles are shared among the threads, each computed whole by one of them, so
   the result does not depend on the number of threads. */
typedef struct mdl__unpacked_job {
    mdl__unpacked_kernel unpacked;
    mdl__unpacked_dot_kernel dot;
    int mr, nr, even, m, n, k;
    int n_dot;  /* the last n_dot columns of C (after the n above) go to dot */
    int m_read; /* rows of a that may be read: m, or more when A was copied with rows of zeros */
    const float *a, *b, *bt; /* bt: those columns of B as rows, ldbt apart */
    size_t lda, ldb, ldbt, ldc;
    float alpha, beta, *c;
} mdl__unpacked_job;

/* The rows a kernel computes for a tile of r rows: the next tile size compiled */
static int mdl__unpacked_rows(int r) {
    return r > 12 ? 16 : r > 10 ? 12 : r > 8 ? 10 : r > 6 ? 8 : r > 4 ? 6 : r > 2 ? 4 : r;
}

/* The largest tile size compiled that is at most r rows */
static int mdl__unpacked_rows_below(int r) {
    return r >= 16 ? 16 : r >= 12 ? 12 : r >= 10 ? 10 : r >= 8 ? 8 : r >= 6 ? 6 : r >= 4 ? 4
                                                                                   : r >= 2 ? 2 : 1;
}

/* Row i of the first of tile ir: the rows go in tiles of mr (g->even: of sizes as even as
   possible) */
static int mdl__unpacked_row0(const mdl__unpacked_job *g, int ir, int row_tiles) {
    return g->even ? (int)((long long)g->m * ir / row_tiles) : ir * g->mr;
}

/* Rows i0 to i1 of columns j0 to j0 + cols, in tiles of the sizes compiled (see
   mdl__unpacked_avx512) */
static void mdl__gemm_unpacked_rows(const mdl__unpacked_job *g, int i0, int i1, int j0, int cols) {
    while (i0 < i1) {
        int rows = i1 - i0, r = mdl__unpacked_rows(rows), lo = 0, hi = rows;
        if (i0 + r > g->m_read && i1 >= r) /* r rows ending at i1: the first r - rows */
            lo = r - rows, hi = r, i0 = i1 - r;  /* computed again, not stored */
        else if (i0 + r > g->m_read) /* no rows to read there: the largest size that fits */
            r = mdl__unpacked_rows_below(rows), hi = r;
        g->unpacked(r, lo, hi, cols, g->k, g->a + (size_t)i0 * g->lda, g->lda, g->b + j0, g->ldb,
               g->c + (size_t)i0 * g->ldc + (size_t)j0, g->ldc, g->alpha, g->beta);
        i0 += hi;
    }
}

static void mdl__gemm_unpacked_tiles(const void *job, int t_id, int nt) {
    const mdl__unpacked_job *g = (const mdl__unpacked_job *)job;
    const int mr = g->mr, nr = g->nr;
    const int row_tiles = (g->m + mr - 1) / mr, col_strips = (g->n + nr - 1) / nr;
    const int dot_strips = (g->n_dot + nr - 1) / nr;
    int t, lo, hi, ir, jr, next;
    mdl__share(row_tiles * (col_strips + dot_strips), t_id, nt, &lo, &hi);
    /* tile t is row tile t % row_tiles of strip t / row_tiles, counted as they go rather than
       divided out for each tile: with tiles of a few hundred cycles (a first convolution
       layer's), two divisions per tile are a share of the time that shows */
    ir = lo % row_tiles, jr = lo / row_tiles, next = mdl__unpacked_row0(g, ir, row_tiles);
    for (t = lo; t < hi; t++, ir++) {
        int i0, i1, j0, cols;
        if (ir == row_tiles) ir = 0, jr++, next = 0;
        i0 = next;
        i1 = ir + 1 < row_tiles ? mdl__unpacked_row0(g, ir + 1, row_tiles) : g->m;
        next = i1;
        j0 = jr * nr, cols = g->n - j0 < nr ? g->n - j0 : nr;
        if (jr >= col_strips) { /* the last columns, as dot products, in strips of nr too */
            j0 = (jr - col_strips) * nr, cols = g->n_dot - j0 < nr ? g->n_dot - j0 : nr;
            g->dot(i1 - i0, cols, g->k, g->a + (size_t)i0 * g->lda, g->lda,
                   g->bt + (size_t)j0 * g->ldbt, g->ldbt,
                   g->c + (size_t)i0 * g->ldc + (size_t)(g->n + j0), g->ldc, g->alpha, g->beta);
            continue;
        }
        if (row_tiles == 1) { /* this strip and this thread's next ones, as one run */
            int last = hi < col_strips ? hi : col_strips; /* (strips jr to last - 1) */
            cols = (last == col_strips ? g->n : last * nr) - j0;
            t += last - 1 - jr, jr = last - 1;
        }
        mdl__gemm_unpacked_rows(g, i0, i1, j0, cols);
    }
}

/* Multiply-adds a row of the unpacked kernel costs per step of p for a strip w columns wide,
   in 256-bit ones (a 512-bit one counts as two, as on CPUs that split it in halves): AVX-512 takes 8 columns or fewer in
   one 256-bit register, then 16 or 32 in one or two 512-bit ones; AVX2 8 or 16. */
static int mdl__unpacked_strip_cost(const mdl__gemm_impl *impl, int w) {
    int half = impl->unpacked_nr / 2;
    return w == 0 ? 0 : w <= 8 ? 1 : (w + half - 1) / half * (impl->unpacked_nr / 16);
}

/* How many of the last columns go to the dot-product kernel: the last n % 8, when that makes
   the last strip cheaper (a product 10 wide: 8 columns in 256 bits and 2 as dot products,
   instead of 10 of 16 lanes; but not 26 = 24 + 2, still two 512-bit registers), the rows are
   8 or more and K is 64 or more: with fewer rows or a short K, the sums at the end of each
   dot product cost more than the lanes saved. With B transposed, all of them: B's rows are
   then what the dot products read, with nothing copied, where the unpacked kernel needs B^T
   copied out (a linear layer's X W^T). */
static int mdl__unpacked_dot_cols(const mdl__gemm_impl *impl, int trans_b, int m, int n, int k) {
    int w = n % impl->unpacked_nr, r = n % 8;
    if (!impl->unpacked_dot || m < 8 || k < 64) return 0;
    if (trans_b) return n;
    if (r == 0) return 0;
    return mdl__unpacked_strip_cost(impl, w - r) < mdl__unpacked_strip_cost(impl, w) ? r : 0;
}

/* C = alpha op(A) op(B) + beta C, unpacked. A transposed (stored k x m) is copied out first
   as A^T, so that its rows are contiguous as the kernel wants them: m x k floats, a fraction
   1/n of the product's work; likewise B transposed, k x n floats, a fraction 1/m, when the
   product is too short for dot products (fewer than 8 rows, or K < 64); otherwise B^T's rows
   are B's, and the dot products read them in place (see mdl__unpacked_dot_cols). The columns
   left to the dot products read B's rows when B is transposed, and a copy of those columns of
   B as rows (n_dot x k floats) when not. Returns 0, having done nothing, when there is no
   memory for the copies. */
static int mdl__gemm_unpacked(const mdl__gemm_impl *impl, int trans_a, int trans_b, int m, int n,
                         int k, float alpha, const float *a, int lda, const float *b, int ldb,
                         float beta, float *c, int ldc) {
    float on_stack[MDL__GEMM_STACK];
    float *at = NULL, *bt = NULL, *bd = NULL, *buf = NULL;
    mdl__unpacked_job job;
    /* the last n % 8 columns, or all of them with B transposed, as dot products */
    int n_dot = mdl__unpacked_dot_cols(impl, trans_b, m, n, k), n_unpacked = n - n_dot;
    /* one register a row leaves room for more rows */
    int mr = n_unpacked <= impl->unpacked_nr / 2 ? impl->unpacked_mr_narrow : impl->unpacked_mr;
    /* Fewer rows than a tile, and not a size compiled (3, 7): A copied with rows of zeros
       under it, so that one tile of the next size reads them all, when the copy is small:
       a tile of 2 and one of 1 would each read all of B. */
    int rows = n_unpacked > 0 && m < mr && (double)mdl__unpacked_rows(m) * k <= 1048576.0
                   ? mdl__unpacked_rows(m) : m; /* (the dot products need no rows of zeros) */
    size_t size = trans_a || rows > m ? (size_t)rows * (size_t)k : 0, i;
    size_t size_b = trans_b ? (size_t)k * (size_t)n_unpacked : 0; /* B^T copied out */
    size_t size_d = trans_b ? 0 : (size_t)n_dot * (size_t)k; /* B's last columns as rows */
    if (size + size_b + size_d > 0) {
        size_t total = size + size_b + size_d;
        buf = total <= MDL__GEMM_STACK ? on_stack : (float *)MINIDL_MALLOC(total * sizeof(float));
        if (!buf) return 0;
    }
    if (trans_b && n_unpacked) {
        bt = buf + size;
        mdl__transpose(b, (size_t)ldb, n_unpacked, k, 1.0f, bt, (size_t)n_unpacked);
    }
    if (size_d) {
        bd = buf + size + size_b;
        mdl__transpose(b + n_unpacked, (size_t)ldb, k, n_dot, 1.0f, bd, (size_t)k);
    }
    if (size) {
        at = buf;
        if (trans_a) {
            mdl__transpose(a, (size_t)lda, k, m, 1.0f, at, (size_t)k);
        } else {
            for (i = 0; i < (size_t)m; i++)
                memcpy(at + i * (size_t)k, a + i * (size_t)lda, (size_t)k * sizeof(float));
        }
        memset(at + (size_t)m * (size_t)k, 0, (size - (size_t)m * (size_t)k) * sizeof(float));
    }
    job.unpacked = impl->unpacked, job.mr = mr, job.nr = impl->unpacked_nr;
    job.m = m, job.n = n_unpacked, job.k = k;
    job.dot = impl->unpacked_dot, job.n_dot = n_dot;
    job.bt = bd ? bd : n_dot ? b + (size_t)n_unpacked * (size_t)ldb : NULL; /* B^T's rows: B's */
    job.ldbt = bd ? (size_t)k : (size_t)ldb;
    job.m_read = rows;
    {   /* tiles of mr rows and the rest (20: 8 + 8 + 4), or as even as can be (24 rows of a
           narrow product: 12 + 12, not 16 + 8), whichever computes fewer rows in all */
        int tiles = (m + job.mr - 1) / job.mr, t, rows_even = 0;
        int rows_greedy = (tiles - 1) * mdl__unpacked_rows(job.mr) +
                          mdl__unpacked_rows(m - (tiles - 1) * job.mr);
        job.even = 0; /* (one tile: the two ways are one, and this one needs no division) */
        if (tiles > 1) {
            for (t = 0; t < tiles; t++)
                rows_even += mdl__unpacked_rows((int)((long long)m * (t + 1) / tiles) -
                                           (int)((long long)m * t / tiles));
            job.even = rows_even <= rows_greedy;
        }
    }
    job.a = at ? at : a, job.b = bt ? bt : b;
    job.lda = (size_t)(at ? k : lda), job.ldb = (size_t)(bt ? n_unpacked : ldb);
    job.ldc = (size_t)ldc;
    job.alpha = alpha, job.beta = beta, job.c = c;
    mdl__team_run(mdl__gemm_unpacked_tiles, &job, (double)m * (double)n * (double)k);
    if (buf && buf != on_stack) MINIDL_FREE(buf);
    return 1;
}

#if defined(MDL__X86)
/* The register tiles below name their accumulators acc<i>_<j>: row i of the tile of C, its
   j-th register of columns (acc3_1 holds row 3, columns 16 to 31 in AVX-512). */

/* AVX-512 micro-kernel, a 12 x 32 tile: 24 accumulators of 16 floats (two per row), plus two
   registers for a row of Bp and one for a broadcast element of Ap: 27 of the 32 registers.
   Each step of p does 24 fused multiply-adds for 2 loads and 12 broadcasts. */
#define MDL__AVX512_ROW(i)                                                                   \
    do {                                                                                     \
        __m512 ai = _mm512_set1_ps(ap[i]);                                                   \
        acc##i##_0 = _mm512_fmadd_ps(ai, b0, acc##i##_0);                                    \
        acc##i##_1 = _mm512_fmadd_ps(ai, b1, acc##i##_1);                                    \
    } while (0)
#define MDL__AVX512_STORE(i)                                                                 \
    do {                                                                                     \
        float *ci = c + (size_t)(i) * ldc;                                                   \
        if (beta == 0) {                                                                     \
            _mm512_storeu_ps(ci, acc##i##_0);                                                \
            _mm512_storeu_ps(ci + 16, acc##i##_1);                                           \
        } else {                                                                             \
            __m512 vb = _mm512_set1_ps(beta);                                                \
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), acc##i##_0));      \
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), acc##i##_1)); \
        }                                                                                    \
    } while (0)

__attribute__((target("avx512f"))) static void
mdl__kernel_avx512(int kc, const float *ap, const float *bp, size_t ldbp, float *c, size_t ldc,
                   float beta) {
    __m512 acc0_0 = _mm512_setzero_ps(), acc0_1 = acc0_0, acc1_0 = acc0_0, acc1_1 = acc0_0;
    __m512 acc2_0 = acc0_0, acc2_1 = acc0_0, acc3_0 = acc0_0, acc3_1 = acc0_0, acc4_0 = acc0_0;
    __m512 acc4_1 = acc0_0, acc5_0 = acc0_0, acc5_1 = acc0_0, acc6_0 = acc0_0, acc6_1 = acc0_0;
    __m512 acc7_0 = acc0_0, acc7_1 = acc0_0, acc8_0 = acc0_0, acc8_1 = acc0_0, acc9_0 = acc0_0;
    __m512 acc9_1 = acc0_0, acc10_0 = acc0_0, acc10_1 = acc0_0, acc11_0 = acc0_0, acc11_1 = acc0_0;
    int p;
    for (p = 0; p < 12; p++) { /* ask for the C tile now: it is needed only at the end, and */
        _mm_prefetch((const char *)(c + (size_t)p * ldc), _MM_HINT_T0); /* a miss then stalls */
        _mm_prefetch((const char *)(c + (size_t)p * ldc + 31), _MM_HINT_T0);
    }
    for (p = 0; p < kc; p++, ap += 12, bp += ldbp) {
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
        MDL__AVX512_ROW(0); MDL__AVX512_ROW(1); MDL__AVX512_ROW(2); MDL__AVX512_ROW(3);
        MDL__AVX512_ROW(4); MDL__AVX512_ROW(5); MDL__AVX512_ROW(6); MDL__AVX512_ROW(7);
        MDL__AVX512_ROW(8); MDL__AVX512_ROW(9); MDL__AVX512_ROW(10); MDL__AVX512_ROW(11);
    }
    MDL__AVX512_STORE(0); MDL__AVX512_STORE(1); MDL__AVX512_STORE(2); MDL__AVX512_STORE(3);
    MDL__AVX512_STORE(4); MDL__AVX512_STORE(5); MDL__AVX512_STORE(6); MDL__AVX512_STORE(7);
    MDL__AVX512_STORE(8); MDL__AVX512_STORE(9); MDL__AVX512_STORE(10); MDL__AVX512_STORE(11);
}

/* AVX2+FMA micro-kernel, a 6 x 16 tile: 12 accumulators of 8 floats, two registers for a row
   of Bp and one broadcast: 15 of the 16 registers. */
#define MDL__AVX2_ROW(i)                                                                     \
    do {                                                                                     \
        __m256 ai = _mm256_broadcast_ss(ap + (i));                                           \
        acc##i##_0 = _mm256_fmadd_ps(ai, b0, acc##i##_0);                                    \
        acc##i##_1 = _mm256_fmadd_ps(ai, b1, acc##i##_1);                                    \
    } while (0)
#define MDL__AVX2_STORE(i)                                                                   \
    do {                                                                                     \
        float *ci = c + (size_t)(i) * ldc;                                                   \
        if (beta == 0) {                                                                     \
            _mm256_storeu_ps(ci, acc##i##_0);                                                \
            _mm256_storeu_ps(ci + 8, acc##i##_1);                                            \
        } else {                                                                             \
            __m256 vb = _mm256_set1_ps(beta);                                                \
            _mm256_storeu_ps(ci, _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), acc##i##_0));      \
            _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), acc##i##_1)); \
        }                                                                                    \
    } while (0)

__attribute__((target("avx2,fma"))) static void
mdl__kernel_avx2(int kc, const float *ap, const float *bp, size_t ldbp, float *c, size_t ldc,
                 float beta) {
    __m256 acc0_0 = _mm256_setzero_ps(), acc0_1 = acc0_0, acc1_0 = acc0_0, acc1_1 = acc0_0;
    __m256 acc2_0 = acc0_0, acc2_1 = acc0_0, acc3_0 = acc0_0, acc3_1 = acc0_0, acc4_0 = acc0_0;
    __m256 acc4_1 = acc0_0, acc5_0 = acc0_0, acc5_1 = acc0_0;
    int p;
    for (p = 0; p < 6; p++) { /* ask for the C tile now (see the AVX-512 kernel) */
        _mm_prefetch((const char *)(c + (size_t)p * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)p * ldc + 15), _MM_HINT_T0);
    }
    for (p = 0; p < kc; p++, ap += 6, bp += ldbp) {
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        MDL__AVX2_ROW(0); MDL__AVX2_ROW(1); MDL__AVX2_ROW(2);
        MDL__AVX2_ROW(3); MDL__AVX2_ROW(4); MDL__AVX2_ROW(5);
    }
    MDL__AVX2_STORE(0); MDL__AVX2_STORE(1); MDL__AVX2_STORE(2);
    MDL__AVX2_STORE(3); MDL__AVX2_STORE(4); MDL__AVX2_STORE(5);
}

__attribute__((target("avx2,fma"), noinline)) static void
mdl__unpacked_avx2_strip(int rows, int lo, int hi, int cols, int k, const float *a, size_t lda,
                    const float *b, size_t ldb, float *c, size_t ldc, float alpha, float beta);

/* The unpacked AVX-512 kernel: a tile of R rows and up to 32 columns, A and B read where they
   are. Per step of p: one or two loads of a row of B, R broadcasts of A(i, p) from A's rows,
   and R or 2R fused multiply-adds into R x NV accumulators. R, NV (registers a row) and FULL
   (a whole strip of 32: plain loads, which are cheaper than masked ones) are
   constants in each copy the dispatcher below makes, so the rows and registers a copy lacks
   cost nothing. C = A B is stored straight from the registers, and so is C += A B on a whole
   strip (beta = 1: gradients add up); anything else (alpha, beta, rows not stored) goes
   through a tile in memory, to one routine that all copies share. */
#define MDL__UNPACKED_AVX512_ROW(i)                                                          \
    if (R > i) {                                                                             \
        __m512 ai = _mm512_set1_ps(a##i[p]);                                                 \
        acc##i##_0 = _mm512_fmadd_ps(ai, b0, acc##i##_0);                                    \
        if (NV > 1) acc##i##_1 = _mm512_fmadd_ps(ai, b1, acc##i##_1);                        \
    }
#define MDL__UNPACKED_AVX512_PUT(i)                                                          \
    if (R > i) {                                                                             \
        _mm512_mask_storeu_ps(c + (size_t)(i) * ldc, m0, acc##i##_0);                        \
        if (NV > 1) _mm512_mask_storeu_ps(c + (size_t)(i) * ldc + 16, m1, acc##i##_1);       \
    }
#define MDL__UNPACKED_AVX512_ADD(i) /* a whole strip: C += the sums */                       \
    if (R > i) {                                                                             \
        float *ci = c + (size_t)(i) * ldc;                                                   \
        _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc##i##_0));                \
        _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc##i##_1));      \
    }
#define MDL__UNPACKED_AVX512_SPILL(i)                                                        \
    if (R > i) {                                                                             \
        _mm512_storeu_ps(t + (i) * 32, acc##i##_0);                                          \
        if (NV > 1) _mm512_storeu_ps(t + (i) * 32 + 16, acc##i##_1);                         \
    }

/* The first n lanes of 16, as a mask (none for n <= 0, all for n >= 16) */
MDL__ALWAYS_INLINE __mmask16 mdl__lanes16(int n) {
    return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
}

/* Rows lo to hi of a tile of sums t (rows 32 floats apart, cols <= 32 columns) into C:
   C = alpha t + beta C (beta = 0: C not read). Not inlined: the tiles of every size share it. */
__attribute__((target("avx512f"), noinline)) static void
mdl__unpacked_store_avx512(const float *t, int lo, int hi, int cols, float *c, size_t ldc,
                      float alpha, float beta) {
    const __mmask16 m0 = mdl__lanes16(cols), m1 = mdl__lanes16(cols - 16);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int i;
    for (i = lo; i < hi; i++) {
        const float *ti = t + (size_t)i * 32;
        float *ci = c + (size_t)i * ldc;
        __m512 x0 = _mm512_mul_ps(va, _mm512_loadu_ps(ti));
        if (beta != 0.0f) x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), x0);
        _mm512_mask_storeu_ps(ci, m0, x0);
        if (cols > 16) { /* the second half was written only then */
            __m512 x1 = _mm512_mul_ps(va, _mm512_loadu_ps(ti + 16));
            if (beta != 0.0f) x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), x1);
            _mm512_mask_storeu_ps(ci + 16, m1, x1);
        }
    }
}

/* the pointer to row i of A, for the rows the tile has */
#define MDL__UNPACKED_AVX512_A(i) *a##i = R > i ? a + (size_t)(i) * lda : a
MDL__ALWAYS_INLINE __attribute__((target("avx512f"))) void
mdl__unpacked_avx512_tile(const int R, const int NV, const int FULL, int lo, int hi, int cols,
                          int k,
                     const float *a, size_t lda,
                     const float *b, size_t ldb, float *c, size_t ldc, float alpha, float beta) {
    const __mmask16 m0 = mdl__lanes16(cols), m1 = mdl__lanes16(cols - 16);
    const float MDL__UNPACKED_AVX512_A(0), MDL__UNPACKED_AVX512_A(1), MDL__UNPACKED_AVX512_A(2);
    const float MDL__UNPACKED_AVX512_A(3), MDL__UNPACKED_AVX512_A(4);
    const float MDL__UNPACKED_AVX512_A(5), MDL__UNPACKED_AVX512_A(6), MDL__UNPACKED_AVX512_A(7);
    const float MDL__UNPACKED_AVX512_A(8), MDL__UNPACKED_AVX512_A(9);
    const float MDL__UNPACKED_AVX512_A(10), MDL__UNPACKED_AVX512_A(11), MDL__UNPACKED_AVX512_A(12);
    const float MDL__UNPACKED_AVX512_A(13), MDL__UNPACKED_AVX512_A(14);
    const float MDL__UNPACKED_AVX512_A(15);
    __m512 acc0_0 = _mm512_setzero_ps(), acc0_1 = acc0_0, acc1_0 = acc0_0, acc1_1 = acc0_0;
    __m512 acc2_0 = acc0_0, acc2_1 = acc0_0, acc3_0 = acc0_0, acc3_1 = acc0_0, acc4_0 = acc0_0;
    __m512 acc4_1 = acc0_0, acc5_0 = acc0_0, acc5_1 = acc0_0, acc6_0 = acc0_0, acc6_1 = acc0_0;
    __m512 acc7_0 = acc0_0, acc7_1 = acc0_0, acc8_0 = acc0_0, acc8_1 = acc0_0, acc9_0 = acc0_0;
    __m512 acc9_1 = acc0_0, acc10_0 = acc0_0, acc10_1 = acc0_0, acc11_0 = acc0_0, acc11_1 = acc0_0;
    __m512 acc12_0 = acc0_0, acc12_1 = acc0_0, acc13_0 = acc0_0, acc13_1 = acc0_0, acc14_0 = acc0_0;
    __m512 acc14_1 = acc0_0, acc15_0 = acc0_0, acc15_1 = acc0_0;
    int p;
    for (p = 0; p < k; p++, b += ldb) {
        __m512 b0, b1;
        if (FULL) { /* 32 columns: plain loads (cheaper than masked ones), and */
            b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            _mm_prefetch((const char *)(b + 32), _MM_HINT_T0); /* the next strip's row asked */
            _mm_prefetch((const char *)(b + 48), _MM_HINT_T0); /* for early */
        } else {
            b0 = _mm512_maskz_loadu_ps(m0, b);
            b1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, b + 16) : b0;
        }
        MDL__UNPACKED_AVX512_ROW(0) MDL__UNPACKED_AVX512_ROW(1) MDL__UNPACKED_AVX512_ROW(2)
        MDL__UNPACKED_AVX512_ROW(3)
        MDL__UNPACKED_AVX512_ROW(4) MDL__UNPACKED_AVX512_ROW(5) MDL__UNPACKED_AVX512_ROW(6)
        MDL__UNPACKED_AVX512_ROW(7)
        MDL__UNPACKED_AVX512_ROW(8) MDL__UNPACKED_AVX512_ROW(9) MDL__UNPACKED_AVX512_ROW(10)
        MDL__UNPACKED_AVX512_ROW(11)
        MDL__UNPACKED_AVX512_ROW(12) MDL__UNPACKED_AVX512_ROW(13) MDL__UNPACKED_AVX512_ROW(14)
        MDL__UNPACKED_AVX512_ROW(15)
    }
    if (alpha == 1.0f && beta == 0.0f && lo == 0 && hi == R) { /* C = A B, from the registers */
        MDL__UNPACKED_AVX512_PUT(0) MDL__UNPACKED_AVX512_PUT(1) MDL__UNPACKED_AVX512_PUT(2)
        MDL__UNPACKED_AVX512_PUT(3)
        MDL__UNPACKED_AVX512_PUT(4) MDL__UNPACKED_AVX512_PUT(5) MDL__UNPACKED_AVX512_PUT(6)
        MDL__UNPACKED_AVX512_PUT(7)
        MDL__UNPACKED_AVX512_PUT(8) MDL__UNPACKED_AVX512_PUT(9) MDL__UNPACKED_AVX512_PUT(10)
        MDL__UNPACKED_AVX512_PUT(11)
        MDL__UNPACKED_AVX512_PUT(12) MDL__UNPACKED_AVX512_PUT(13) MDL__UNPACKED_AVX512_PUT(14)
        MDL__UNPACKED_AVX512_PUT(15)
    } else if (FULL && NV > 1 && R <= 8 && alpha == 1.0f && beta == 1.0f && lo == 0 && hi == R) {
        /* C += A B, as */
        MDL__UNPACKED_AVX512_ADD(0) MDL__UNPACKED_AVX512_ADD(1) MDL__UNPACKED_AVX512_ADD(2)
        MDL__UNPACKED_AVX512_ADD(3)
        /* gradients add up */
        MDL__UNPACKED_AVX512_ADD(4) MDL__UNPACKED_AVX512_ADD(5) MDL__UNPACKED_AVX512_ADD(6)
        MDL__UNPACKED_AVX512_ADD(7)
    } else { /* through memory, into one loop shared by the tiles of every size */
        float t[16 * 32];
        MDL__UNPACKED_AVX512_SPILL(0) MDL__UNPACKED_AVX512_SPILL(1) MDL__UNPACKED_AVX512_SPILL(2)
        MDL__UNPACKED_AVX512_SPILL(3)
        MDL__UNPACKED_AVX512_SPILL(4) MDL__UNPACKED_AVX512_SPILL(5) MDL__UNPACKED_AVX512_SPILL(6)
        MDL__UNPACKED_AVX512_SPILL(7)
        MDL__UNPACKED_AVX512_SPILL(8) MDL__UNPACKED_AVX512_SPILL(9) MDL__UNPACKED_AVX512_SPILL(10)
        MDL__UNPACKED_AVX512_SPILL(11)
        MDL__UNPACKED_AVX512_SPILL(12) MDL__UNPACKED_AVX512_SPILL(13) MDL__UNPACKED_AVX512_SPILL(14)
        MDL__UNPACKED_AVX512_SPILL(15)
        mdl__unpacked_store_avx512(t, lo, hi, cols, c, ldc, alpha, beta);
    }
}

/* The tile sizes compiled: 1, 2, 4, 6 or 8 rows with two registers a row, 10, 12 or 16 with
   one (mdl__gemm_unpacked makes tiles of more than 8 rows only for products at most 16 wide).
   Every size from 1 to 16 would be 40 copies of the kernel, and a second more to compile
   every program that includes minidl; mdl__gemm_unpacked_tiles makes the other sizes of these (a
   tile of 7 rows is a tile of 8 that starts a row higher, and skips it when it stores). Eight
   rows, not 12: a tile of 12 x 32 reads A from 12 rows, 11 offsets from the first, and with
   B's pointer, its stride and the loop's end they are more than the 15 general registers,
   and the compiler moves one back from a vector register at each step (most likely taking a
   multiply-add's slot). Tiles of 8 rows need 7 offsets, and lose nothing against 12. */
#define MDL__UNPACKED_AVX512_TILE(r)                                                         \
    do {                                                                                     \
        if (cols == 32)                                                                      \
            mdl__unpacked_avx512_tile(r, 2, 1, lo, hi, cols, k, a, lda, b, ldb, c, ldc,      \
                                      alpha, beta);                                          \
        else if (cols > 16)                                                                  \
            mdl__unpacked_avx512_tile(r, 2, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc,      \
                                      alpha, beta);                                          \
        else                                                                                 \
            mdl__unpacked_avx512_tile(r, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc,      \
                                      alpha, beta);                                          \
    } while (0)

/* One strip of at most 32 columns (16 for more than 8 rows), any alpha and beta, rows lo to
   hi of a tile of rows rows stored */
__attribute__((target("avx512f"), noinline)) static void
mdl__unpacked_avx512_strip(int rows, int lo, int hi, int cols, int k, const float *a, size_t lda,
                      const float *b, size_t ldb, float *c, size_t ldc, float alpha, float beta) {
    MINIDL_ASSERT(rows <= 8 || cols <= 16);
    if (cols <= 8 && rows == 16) { /* in 256-bit registers, 12 rows at most: 8 and 8 */
        if (lo < 8)
            mdl__unpacked_avx2_strip(8, lo, hi < 8 ? hi : 8, cols, k, a, lda, b, ldb, c, ldc, alpha,
                               beta);
        if (hi > 8)
            mdl__unpacked_avx2_strip(8, lo > 8 ? lo - 8 : 0, hi - 8, cols, k, a + 8 * lda, lda, b,
                                     ldb,
                               c + 8 * ldc, ldc, alpha, beta);
    } else if (cols <= 8) {
        mdl__unpacked_avx2_strip(rows, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha, beta);
    } else {
        switch (rows) {
        case 16:
            mdl__unpacked_avx512_tile(16, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha,
                                      beta);
            break;
        case 12:
            mdl__unpacked_avx512_tile(12, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha,
                                      beta);
            break;
        case 10:
            mdl__unpacked_avx512_tile(10, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha,
                                      beta);
            break;
        case 8: MDL__UNPACKED_AVX512_TILE(8); break;
        case 6: MDL__UNPACKED_AVX512_TILE(6); break;
        case 4: MDL__UNPACKED_AVX512_TILE(4); break;
        case 2: MDL__UNPACKED_AVX512_TILE(2); break;
        default: MDL__UNPACKED_AVX512_TILE(1); break;
        }
    }
}

/* C = A B (ab) and C += A B (abc) on a whole strip of 32 columns and all R rows, the common
   cases (a forward pass; a backward pass adding to a gradient), in small functions of their
   own for each R: with alpha, beta and the rows stored known, no tile goes through memory,
   the function needs no frame to speak of, and a call costs a few cycles. The
   function above, which can do everything, saves six registers, realigns the stack for its
   tile of C in memory and reads five of its arguments from the stack: for small tiles (a
   first convolution layer's, a few hundred cycles of multiply-adds each) that is a large
   share of the work. */
#define MDL__UNPACKED_AVX512_AB(r)                                                           \
    __attribute__((target("avx512f"), noinline)) static void mdl__unpacked_avx512_ab##r(     \
        int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc) { \
        mdl__unpacked_avx512_tile(r, 2, 1, 0, r, 32, k, a, lda, b, ldb, c, ldc, 1.0f, 0.0f); \
    }                                                                                        \
    __attribute__((target("avx512f"), noinline)) static void mdl__unpacked_avx512_abc##r(    \
        int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc) { \
        mdl__unpacked_avx512_tile(r, 2, 1, 0, r, 32, k, a, lda, b, ldb, c, ldc, 1.0f, 1.0f); \
    }
MDL__UNPACKED_AVX512_AB(1) MDL__UNPACKED_AVX512_AB(2) MDL__UNPACKED_AVX512_AB(4)
MDL__UNPACKED_AVX512_AB(6) MDL__UNPACKED_AVX512_AB(8)

/* rows rows (a size compiled) and cols columns (at most 16 for more than 8 rows), rows lo to
   hi stored: strip after strip, by the functions above */
__attribute__((target("avx512f"))) static void
mdl__unpacked_avx512(int rows, int lo, int hi, int cols, int k, const float *a, size_t lda,
                const float *b, size_t ldb, float *c, size_t ldc, float alpha, float beta) {
    mdl__unpacked_ab_kernel ab = NULL;
    if (alpha == 1.0f && beta == 0.0f && lo == 0 && hi == rows)
        ab = rows == 8 ? mdl__unpacked_avx512_ab8 : rows == 6 ? mdl__unpacked_avx512_ab6
           : rows == 4 ? mdl__unpacked_avx512_ab4 : rows == 2 ? mdl__unpacked_avx512_ab2
           : rows == 1 ? mdl__unpacked_avx512_ab1 : NULL;
    else if (alpha == 1.0f && beta == 1.0f && lo == 0 && hi == rows)
        ab = rows == 8 ? mdl__unpacked_avx512_abc8 : rows == 6 ? mdl__unpacked_avx512_abc6
           : rows == 4 ? mdl__unpacked_avx512_abc4 : rows == 2 ? mdl__unpacked_avx512_abc2
           : rows == 1 ? mdl__unpacked_avx512_abc1 : NULL;
    for (; cols > 0; cols -= 32, b += 32, c += 32) {
        if (ab && cols >= 32)
            ab(k, a, lda, b, ldb, c, ldc);
        else
            mdl__unpacked_avx512_strip(rows, lo, hi, cols < 32 ? cols : 32, k, a, lda, b, ldb, c,
                                  ldc, alpha, beta);
    }
}

/* The unpacked AVX2 kernel: R rows (up to 6 with two registers a row, up to 12 with one) and
   up to 16 columns, as the AVX-512 one but 8 lanes wide; AVX2's masked loads and stores take
   the mask as a vector of lanes, all bits set where the lane is in. The AVX-512 kernel hands
   it the last strip of a product when at most 8 columns are left: a 256-bit multiply-add
   costs half a 512-bit one, so 4 columns waste half as much. */
#define MDL__UNPACKED_AVX2_ROW(i)                                                            \
    if (R > i) {                                                                             \
        __m256 ai = _mm256_broadcast_ss(a##i + p);                                           \
        acc##i##_0 = _mm256_fmadd_ps(ai, b0, acc##i##_0);                                    \
        if (NV > 1) acc##i##_1 = _mm256_fmadd_ps(ai, b1, acc##i##_1);                        \
    }
#define MDL__UNPACKED_AVX2_PUT(i)                                                            \
    if (R > i) {                                                                             \
        mdl__unpacked_put_avx2(c + (size_t)(i) * ldc, acc##i##_0, m0, cols >= 8);            \
        if (NV > 1) mdl__unpacked_put_avx2(c + (size_t)(i) * ldc + 8, acc##i##_1, m1, cols >= 16); \
    }
#define MDL__UNPACKED_AVX2_ADD(i) /* a whole strip: C += the sums */                         \
    if (R > i) {                                                                             \
        float *ci = c + (size_t)(i) * ldc;                                                   \
        _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc##i##_0));                \
        _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc##i##_1));        \
    }
#define MDL__UNPACKED_AVX2_SPILL(i)                                                          \
    if (R > i) {                                                                             \
        _mm256_storeu_ps(t + (i) * 16, acc##i##_0);                                          \
        if (NV > 1) _mm256_storeu_ps(t + (i) * 16 + 8, acc##i##_1);                          \
    }

/* lanes 8 - n .. 15 - n of this, as a mask: the first n lanes in */
static const int mdl__lanes_in[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

MDL__ALWAYS_INLINE __attribute__((target("avx2,fma"))) __m256i mdl__lane_mask_avx2(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(const void *)(mdl__lanes_in + 8 - n));
}

/* A masked store is slow on some CPUs: a plain one where every lane is in */
MDL__ALWAYS_INLINE __attribute__((target("avx2,fma"))) void
mdl__unpacked_put_avx2(float *c, __m256 v, __m256i m, int full) {
    if (full)
        _mm256_storeu_ps(c, v);
    else
        _mm256_maskstore_ps(c, m, v);
}

/* Rows lo to hi of a tile of sums t (rows 16 floats apart, cols <= 16 columns) into C:
   C = alpha t + beta C (beta = 0: C not read). Not inlined: the tiles of every size share it. */
__attribute__((target("avx2,fma"), noinline)) static void
mdl__unpacked_store_avx2(const float *t, int lo, int hi, int cols, float *c, size_t ldc,
                         float alpha,
                    float beta) {
    const __m256i m0 = mdl__lane_mask_avx2(cols), m1 = mdl__lane_mask_avx2(cols - 8);
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int i;
    for (i = lo; i < hi; i++) {
        const float *ti = t + (size_t)i * 16;
        float *ci = c + (size_t)i * ldc;
        __m256 x0 = _mm256_mul_ps(va, _mm256_loadu_ps(ti));
        if (beta != 0.0f) x0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), x0);
        mdl__unpacked_put_avx2(ci, x0, m0, cols >= 8);
        if (cols > 8) { /* the second half was written only then */
            __m256 x1 = _mm256_mul_ps(va, _mm256_loadu_ps(ti + 8));
            if (beta != 0.0f) x1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), x1);
            mdl__unpacked_put_avx2(ci + 8, x1, m1, cols >= 16);
        }
    }
}

MDL__ALWAYS_INLINE __attribute__((target("avx2,fma"))) void
mdl__unpacked_avx2_tile(const int R, const int NV, const int FULL, int lo, int hi, int cols, int k,
                   const float *a, size_t lda,
                   const float *b, size_t ldb, float *c, size_t ldc, float alpha, float beta) {
    const __m256i m0 = mdl__lane_mask_avx2(cols), m1 = mdl__lane_mask_avx2(cols - 8);
    const float MDL__UNPACKED_AVX512_A(0), MDL__UNPACKED_AVX512_A(1), MDL__UNPACKED_AVX512_A(2);
    const float MDL__UNPACKED_AVX512_A(3), MDL__UNPACKED_AVX512_A(4);
    const float MDL__UNPACKED_AVX512_A(5), MDL__UNPACKED_AVX512_A(6), MDL__UNPACKED_AVX512_A(7);
    const float MDL__UNPACKED_AVX512_A(8), MDL__UNPACKED_AVX512_A(9);
    const float MDL__UNPACKED_AVX512_A(10), MDL__UNPACKED_AVX512_A(11);
    __m256 acc0_0 = _mm256_setzero_ps(), acc0_1 = acc0_0, acc1_0 = acc0_0, acc1_1 = acc0_0;
    __m256 acc2_0 = acc0_0, acc2_1 = acc0_0, acc3_0 = acc0_0, acc3_1 = acc0_0, acc4_0 = acc0_0;
    __m256 acc4_1 = acc0_0, acc5_0 = acc0_0, acc5_1 = acc0_0, acc6_0 = acc0_0, acc6_1 = acc0_0;
    __m256 acc7_0 = acc0_0, acc7_1 = acc0_0, acc8_0 = acc0_0, acc8_1 = acc0_0, acc9_0 = acc0_0;
    __m256 acc9_1 = acc0_0, acc10_0 = acc0_0, acc10_1 = acc0_0, acc11_0 = acc0_0, acc11_1 = acc0_0;
    int p;
    for (p = 0; p < k; p++, b += ldb) {
        __m256 b0, b1;
        if (FULL) { /* 16 columns */
            b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        } else {
            b0 = _mm256_maskload_ps(b, m0);
            b1 = NV > 1 ? _mm256_maskload_ps(b + 8, m1) : b0;
        }
        MDL__UNPACKED_AVX2_ROW(0) MDL__UNPACKED_AVX2_ROW(1) MDL__UNPACKED_AVX2_ROW(2)
        MDL__UNPACKED_AVX2_ROW(3)
        MDL__UNPACKED_AVX2_ROW(4) MDL__UNPACKED_AVX2_ROW(5) MDL__UNPACKED_AVX2_ROW(6)
        MDL__UNPACKED_AVX2_ROW(7)
        MDL__UNPACKED_AVX2_ROW(8) MDL__UNPACKED_AVX2_ROW(9) MDL__UNPACKED_AVX2_ROW(10)
        MDL__UNPACKED_AVX2_ROW(11)
    }
    if (alpha == 1.0f && beta == 0.0f && lo == 0 && hi == R) { /* C = A B, from the registers */
        MDL__UNPACKED_AVX2_PUT(0) MDL__UNPACKED_AVX2_PUT(1) MDL__UNPACKED_AVX2_PUT(2)
        MDL__UNPACKED_AVX2_PUT(3)
        MDL__UNPACKED_AVX2_PUT(4) MDL__UNPACKED_AVX2_PUT(5) MDL__UNPACKED_AVX2_PUT(6)
        MDL__UNPACKED_AVX2_PUT(7)
        MDL__UNPACKED_AVX2_PUT(8) MDL__UNPACKED_AVX2_PUT(9) MDL__UNPACKED_AVX2_PUT(10)
        MDL__UNPACKED_AVX2_PUT(11)
    } else if (FULL && NV > 1 && R <= 6 && alpha == 1.0f && beta == 1.0f && lo == 0 && hi == R) {
        /* C += A B */
        MDL__UNPACKED_AVX2_ADD(0) MDL__UNPACKED_AVX2_ADD(1) MDL__UNPACKED_AVX2_ADD(2)
        MDL__UNPACKED_AVX2_ADD(3)
        MDL__UNPACKED_AVX2_ADD(4) MDL__UNPACKED_AVX2_ADD(5)
    } else { /* through memory, into one loop shared by the tiles of every size */
        float t[12 * 16];
        MDL__UNPACKED_AVX2_SPILL(0) MDL__UNPACKED_AVX2_SPILL(1) MDL__UNPACKED_AVX2_SPILL(2)
        MDL__UNPACKED_AVX2_SPILL(3)
        MDL__UNPACKED_AVX2_SPILL(4) MDL__UNPACKED_AVX2_SPILL(5) MDL__UNPACKED_AVX2_SPILL(6)
        MDL__UNPACKED_AVX2_SPILL(7)
        MDL__UNPACKED_AVX2_SPILL(8) MDL__UNPACKED_AVX2_SPILL(9) MDL__UNPACKED_AVX2_SPILL(10)
        MDL__UNPACKED_AVX2_SPILL(11)
        mdl__unpacked_store_avx2(t, lo, hi, cols, c, ldc, alpha, beta);
    }
}

#define MDL__UNPACKED_AVX2_TILE(r)                                                           \
    do {                                                                                     \
        if (cols == 16)                                                                      \
            mdl__unpacked_avx2_tile(r, 2, 1, lo, hi, cols, k, a, lda, b, ldb, c, ldc,        \
                                    alpha, beta);                                            \
        else if (cols > 8)                                                                   \
            mdl__unpacked_avx2_tile(r, 2, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc,        \
                                    alpha, beta);                                            \
        else                                                                                 \
            mdl__unpacked_avx2_tile(r, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc,        \
                                    alpha, beta);                                            \
    } while (0)

/* One strip of at most 16 columns (8 for more than 6 rows), any alpha and beta, rows lo to hi
   of a tile of rows rows (1, 2, 4, 6; 8, 10 or 12) stored */
__attribute__((target("avx2,fma"), noinline)) static void
mdl__unpacked_avx2_strip(int rows, int lo, int hi, int cols, int k, const float *a, size_t lda,
                    const float *b, size_t ldb, float *c, size_t ldc, float alpha, float beta) {
    MINIDL_ASSERT(rows <= 6 || cols <= 8);
    switch (rows) {
    case 12: /* with at most 8 columns, one register a row */
        mdl__unpacked_avx2_tile(12, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha, beta);
        break;
    case 10:
        mdl__unpacked_avx2_tile(10, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha, beta);
        break;
    case 8:
        mdl__unpacked_avx2_tile(8, 1, 0, lo, hi, cols, k, a, lda, b, ldb, c, ldc, alpha, beta);
        break;
    case 6: MDL__UNPACKED_AVX2_TILE(6); break;
    case 4: MDL__UNPACKED_AVX2_TILE(4); break;
    case 2: MDL__UNPACKED_AVX2_TILE(2); break;
    default: MDL__UNPACKED_AVX2_TILE(1); break;
    }
}

/* C = A B (ab) and C += A B (abc) on a whole strip of 16 columns and all R rows (see
   MDL__UNPACKED_AVX512_AB) */
#define MDL__UNPACKED_AVX2_AB(r)                                                             \
    __attribute__((target("avx2,fma"), noinline)) static void mdl__unpacked_avx2_ab##r(      \
        int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc) { \
        mdl__unpacked_avx2_tile(r, 2, 1, 0, r, 16, k, a, lda, b, ldb, c, ldc, 1.0f, 0.0f);   \
    }                                                                                        \
    __attribute__((target("avx2,fma"), noinline)) static void mdl__unpacked_avx2_abc##r(     \
        int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc) { \
        mdl__unpacked_avx2_tile(r, 2, 1, 0, r, 16, k, a, lda, b, ldb, c, ldc, 1.0f, 1.0f);   \
    }
MDL__UNPACKED_AVX2_AB(1) MDL__UNPACKED_AVX2_AB(2) MDL__UNPACKED_AVX2_AB(4) MDL__UNPACKED_AVX2_AB(6)

/* rows rows and cols columns (at most 8 for more than 6 rows), rows lo to hi stored: strip
   after strip, as mdl__unpacked_avx512 */
__attribute__((target("avx2,fma"))) static void
mdl__unpacked_avx2(int rows, int lo, int hi, int cols, int k, const float *a, size_t lda,
                   const float *b,
              size_t ldb, float *c, size_t ldc, float alpha, float beta) {
    mdl__unpacked_ab_kernel ab = NULL;
    if (alpha == 1.0f && beta == 0.0f && lo == 0 && hi == rows)
        ab = rows == 6 ? mdl__unpacked_avx2_ab6 : rows == 4 ? mdl__unpacked_avx2_ab4
           : rows == 2 ? mdl__unpacked_avx2_ab2 : rows == 1 ? mdl__unpacked_avx2_ab1 : NULL;
    else if (alpha == 1.0f && beta == 1.0f && lo == 0 && hi == rows)
        ab = rows == 6 ? mdl__unpacked_avx2_abc6 : rows == 4 ? mdl__unpacked_avx2_abc4
           : rows == 2 ? mdl__unpacked_avx2_abc2 : rows == 1 ? mdl__unpacked_avx2_abc1 : NULL;
    for (; cols > 0; cols -= 16, b += 16, c += 16) {
        if (ab && cols >= 16)
            ab(k, a, lda, b, ldb, c, ldc);
        else
            mdl__unpacked_avx2_strip(rows, lo, hi, cols < 16 ? cols : 16, k, a, lda, b, ldb, c, ldc,
                                alpha, beta);
    }
}

/* The unpacked kernels' last n % 8 columns, or all of them when B is transposed, as dot
   products (C = A Bt^T: Bt holds those columns of B as rows, B's own rows when transposed).
   Left to the kernels above, 2 columns would fill 2 of 8 lanes, a quarter of each
   multiply-add; as dot products of a row of A with a row of Bt every lane is used, and only
   the sums at the end cost extra. A tile of R rows x C columns: R C
   accumulators (8 with AVX2's 16 registers, 16 with AVX-512's 32) of 8 partial sums, each
   step one load from each of the R rows of A and the C rows of Bt; the last k % 8 values with
   masked loads, which read nothing past the mask. At the end the accumulators are added up 8
   at a time into one register of 8 sums (mdl__sum8_avx2), stored one by one through a small
   array aligned to 64 bytes (unaligned, a 32-byte store that straddled two cache lines could
   not be forwarded to the loads after it, and the speed would depend on where the stack
   fell). Rows past `rows` read the
   last row again and are not stored. Each element of C is computed by one tile, whatever the
   thread. */
#define MDL__UNPACKED_DOT_ROW(i, load)                                                       \
    if (R > i) {                                                                             \
        __m256 x = load(a##i + p);                                                           \
        s##i##_0 = _mm256_fmadd_ps(x, y0, s##i##_0);                                         \
        if (C > 1) s##i##_1 = _mm256_fmadd_ps(x, y1, s##i##_1);                              \
        if (C > 2) s##i##_2 = _mm256_fmadd_ps(x, y2, s##i##_2);                              \
        if (C > 3) s##i##_3 = _mm256_fmadd_ps(x, y3, s##i##_3);                              \
    }
#define MDL__UNPACKED_DOT_STEP(load)                                                         \
    do {                                                                                     \
        __m256 y0 = load(b0 + p), y1 = C > 1 ? load(b1 + p) : y0;                            \
        __m256 y2 = C > 2 ? load(b2 + p) : y0, y3 = C > 3 ? load(b3 + p) : y0;               \
        MDL__UNPACKED_DOT_ROW(0, load) MDL__UNPACKED_DOT_ROW(1, load)                        \
        MDL__UNPACKED_DOT_ROW(2, load) MDL__UNPACKED_DOT_ROW(3, load)                        \
        MDL__UNPACKED_DOT_ROW(4, load) MDL__UNPACKED_DOT_ROW(5, load)                        \
        MDL__UNPACKED_DOT_ROW(6, load) MDL__UNPACKED_DOT_ROW(7, load)                        \
        MDL__UNPACKED_DOT_ROW(8, load) MDL__UNPACKED_DOT_ROW(9, load)                        \
        MDL__UNPACKED_DOT_ROW(10, load) MDL__UNPACKED_DOT_ROW(11, load)                      \
        MDL__UNPACKED_DOT_ROW(12, load) MDL__UNPACKED_DOT_ROW(13, load)                      \
        MDL__UNPACKED_DOT_ROW(14, load) MDL__UNPACKED_DOT_ROW(15, load)                      \
    } while (0)
#define MDL__UNPACKED_DOT_LOADU(q) _mm256_loadu_ps(q)
#define MDL__UNPACKED_DOT_LOADM(q) _mm256_maskload_ps(q, mk)
#define MDL__UNPACKED_DOT_ACC(i) s##i##_0 = z, s##i##_1 = z, s##i##_2 = z, s##i##_3 = z

/* Eight registers added up lane by lane into one: lane j of the result is the sum of v_j's
   8 lanes. Pairs first, interleaved (lanes 0 + 2 and 1 + 3 of each half), then quads, then
   the two halves: 7 adds and 14 shuffles for 8 sums. */
MDL__ALWAYS_INLINE __attribute__((target("avx2,fma"))) __m256
mdl__sum8_avx2(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5, __m256 v6,
               __m256 v7) {
    __m256 s01 = _mm256_add_ps(_mm256_unpacklo_ps(v0, v1), _mm256_unpackhi_ps(v0, v1));
    __m256 s23 = _mm256_add_ps(_mm256_unpacklo_ps(v2, v3), _mm256_unpackhi_ps(v2, v3));
    __m256 s45 = _mm256_add_ps(_mm256_unpacklo_ps(v4, v5), _mm256_unpackhi_ps(v4, v5));
    __m256 s67 = _mm256_add_ps(_mm256_unpacklo_ps(v6, v7), _mm256_unpackhi_ps(v6, v7));
    /* s01 holds, in each half: v0, v1, v0, v1 (two partial sums each); now v0 .. v3 */
    __m256 s03 = _mm256_add_ps(
        _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(s01), _mm256_castps_pd(s23))),
        _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(s01), _mm256_castps_pd(s23))));
    __m256 s47 = _mm256_add_ps(
        _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(s45), _mm256_castps_pd(s67))),
        _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(s45), _mm256_castps_pd(s67))));
    return _mm256_add_ps(_mm256_permute2f128_ps(s03, s47, 0x20),
                         _mm256_permute2f128_ps(s03, s47, 0x31));
}

/* the pointer to row i of A, for the rows the tile has */
#define MDL__UNPACKED_DOT_A(i) *a##i = a + (size_t)(i < rows ? i : rows - 1) * lda
MDL__ALWAYS_INLINE __attribute__((target("avx2,fma"))) void
mdl__unpacked_dot_tile(const int R, const int C, int rows, int k, const float *a, size_t lda,
                  const float *bt, size_t ldbt, float *c, size_t ldc, float alpha, float beta) {
    const float MDL__UNPACKED_DOT_A(0), MDL__UNPACKED_DOT_A(1), MDL__UNPACKED_DOT_A(2);
    const float MDL__UNPACKED_DOT_A(3);
    const float MDL__UNPACKED_DOT_A(4), MDL__UNPACKED_DOT_A(5), MDL__UNPACKED_DOT_A(6);
    const float MDL__UNPACKED_DOT_A(7);
    const float MDL__UNPACKED_DOT_A(8), MDL__UNPACKED_DOT_A(9), MDL__UNPACKED_DOT_A(10);
    const float MDL__UNPACKED_DOT_A(11);
    const float MDL__UNPACKED_DOT_A(12), MDL__UNPACKED_DOT_A(13), MDL__UNPACKED_DOT_A(14);
    const float MDL__UNPACKED_DOT_A(15);
    const float *b0 = bt, *b1 = C > 1 ? bt + ldbt : bt, *b2 = C > 2 ? bt + 2 * ldbt : bt;
    const float *b3 = C > 3 ? bt + 3 * ldbt : bt;
    const __m256 z = _mm256_setzero_ps(); /* accumulators row i, column j; a tile's unused 0 */
    __m256 MDL__UNPACKED_DOT_ACC(0), MDL__UNPACKED_DOT_ACC(1), MDL__UNPACKED_DOT_ACC(2);
    __m256 MDL__UNPACKED_DOT_ACC(3);
    __m256 MDL__UNPACKED_DOT_ACC(4), MDL__UNPACKED_DOT_ACC(5), MDL__UNPACKED_DOT_ACC(6);
    __m256 MDL__UNPACKED_DOT_ACC(7);
    __m256 MDL__UNPACKED_DOT_ACC(8), MDL__UNPACKED_DOT_ACC(9), MDL__UNPACKED_DOT_ACC(10);
    __m256 MDL__UNPACKED_DOT_ACC(11);
    __m256 MDL__UNPACKED_DOT_ACC(12), MDL__UNPACKED_DOT_ACC(13), MDL__UNPACKED_DOT_ACC(14);
    __m256 MDL__UNPACKED_DOT_ACC(15);
    __m256 sum0, sum1 = z;
    float out[16] __attribute__((aligned(64)));
    int p, i, j;
    for (p = 0; p + 8 <= k; p += 8) MDL__UNPACKED_DOT_STEP(MDL__UNPACKED_DOT_LOADU);
    if (p < k) {
        const __m256i mk = mdl__lane_mask_avx2(k - p);
        MDL__UNPACKED_DOT_STEP(MDL__UNPACKED_DOT_LOADM);
    }
    if (C == 1) { /* out[i C + j]: row i, column j */
        sum0 = mdl__sum8_avx2(s0_0, s1_0, s2_0, s3_0, s4_0, s5_0, s6_0, s7_0);
        if (R > 8) sum1 = mdl__sum8_avx2(s8_0, s9_0, s10_0, s11_0, s12_0, s13_0, s14_0, s15_0);
    } else if (C == 2) {
        sum0 = mdl__sum8_avx2(s0_0, s0_1, s1_0, s1_1, s2_0, s2_1, s3_0, s3_1);
        if (R > 4) sum1 = mdl__sum8_avx2(s4_0, s4_1, s5_0, s5_1, s6_0, s6_1, s7_0, s7_1);
    } else if (C == 3) {
        sum0 = mdl__sum8_avx2(s0_0, s0_1, s0_2, s1_0, s1_1, s1_2, s2_0, s2_1);
        if (R > 2) sum1 = mdl__sum8_avx2(s2_2, s3_0, s3_1, s3_2, z, z, z, z);
    } else {
        sum0 = mdl__sum8_avx2(s0_0, s0_1, s0_2, s0_3, s1_0, s1_1, s1_2, s1_3);
        if (R > 2) sum1 = mdl__sum8_avx2(s2_0, s2_1, s2_2, s2_3, s3_0, s3_1, s3_2, s3_3);
    }
    _mm256_storeu_ps(out, sum0);
    _mm256_storeu_ps(out + 8, sum1);
    for (i = 0; i < R && i < rows; i++)
        for (j = 0; j < C; j++) {
            float *cij = c + (size_t)i * ldc + (size_t)j;
            *cij = beta == 0.0f ? alpha * out[i * C + j] : alpha * out[i * C + j] + beta * *cij;
        }
}

/* Columns in groups of 4 (5 = 4 + 1, 7 = 4 + 3); rows r1 at a time for one column, r2 for
   two, r3 for three or four, and the last rows, if they are half a tile or fewer, in a tile
   half as tall. */
#define MDL__UNPACKED_DOT_TILE(r, w)                                                         \
    do {                                                                                     \
        if (rows - i > (r) / 2) {                                                            \
            mdl__unpacked_dot_tile(r, w, rows - i, k, ai, lda, bj, ldbt, ci, ldc, alpha, beta); \
            i += r;                                                                          \
        } else {                                                                             \
            mdl__unpacked_dot_tile((r) / 2, w, rows - i, k, ai, lda, bj, ldbt, ci, ldc,      \
                                   alpha, beta);                                             \
            i += (r) / 2;                                                                    \
        }                                                                                    \
    } while (0)
#define MDL__UNPACKED_DOT_BODY(r1, r2, r3)                                                   \
    int i, j, w;                                                                             \
    for (j = 0; j < cols; j += w) {                                                          \
        const float *bj = bt + (size_t)j * ldbt;                                             \
        w = cols - j < 4 ? cols - j : 4;                                                     \
        for (i = 0; i < rows;) {                                                             \
            const float *ai = a + (size_t)i * lda;                                           \
            float *ci = c + (size_t)i * ldc + (size_t)j;                                     \
            if (w == 1)                                                                      \
                MDL__UNPACKED_DOT_TILE(r1, 1);                                               \
            else if (w == 2)                                                                 \
                MDL__UNPACKED_DOT_TILE(r2, 2);                                               \
            else if (w == 3)                                                                 \
                MDL__UNPACKED_DOT_TILE(r3, 3);                                               \
            else                                                                             \
                MDL__UNPACKED_DOT_TILE(r3, 4);                                               \
        }                                                                                    \
    }

__attribute__((target("avx2,fma"), noinline)) static void
mdl__unpacked_dot_avx2(int rows, int cols, int k, const float *a, size_t lda, const float *bt,
                  size_t ldbt, float *c, size_t ldc, float alpha, float beta) {
    MDL__UNPACKED_DOT_BODY(8, 4, 2)
}

/* The same in 256-bit registers, with AVX-512's 32 of them: twice the accumulators a tile */
__attribute__((target("avx512f,avx512vl,avx2,fma"), noinline)) static void
mdl__unpacked_dot_avx512(int rows, int cols, int k, const float *a, size_t lda, const float *bt,
                    size_t ldbt, float *c, size_t ldc, float alpha, float beta) {
    MDL__UNPACKED_DOT_BODY(16, 8, 4)
}

/* The dot-product kernels: a 4 x 3 block of C, each element a dot product of a row of A with
   a row of B (C = A B^T, both read along their rows). 12 accumulators each hold one partial
   sum per SIMD lane; per step, 3 loads from B and 4 from A feed 12 fused multiply-adds. The
   lanes are added up at the end, and the last k % lanes products one by one. */
#define MDL__DOT_ROW_X86(i, load, fma)                                                       \
    do {                                                                                     \
        x = load(a##i + p);                                                                  \
        s##i##0 = fma(x, b0, s##i##0);                                                       \
        s##i##1 = fma(x, b1, s##i##1);                                                       \
        s##i##2 = fma(x, b2, s##i##2);                                                       \
    } while (0)

/* The 16 lanes of an AVX-512 register added up, halves onto halves. (Through memory: the
   shuffle intrinsics that would do it in registers make g++ 12 warn inside its own headers;
   aligned, see mdl__unpacked_dot_tile.) */
__attribute__((target("avx512f"))) static float mdl__hsum_avx512(__m512 v) {
    float l[16] __attribute__((aligned(64)));
    int i;
    _mm512_storeu_ps(l, v);
    for (i = 0; i < 8; i++) l[i] += l[i + 8];
    for (i = 0; i < 4; i++) l[i] += l[i + 4];
    return (l[0] + l[2]) + (l[1] + l[3]);
}

__attribute__((target("avx512f"))) static void
mdl__dot_avx512(int k, const float *const *a, const float *const *b, float *out) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const float *b0p = b[0], *b1p = b[1], *b2p = b[2];
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
    __m512 s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00, x;
    int p;
    for (p = 0; p + 16 <= k; p += 16) {
        __m512 b0 = _mm512_loadu_ps(b0p + p), b1 = _mm512_loadu_ps(b1p + p);
        __m512 b2 = _mm512_loadu_ps(b2p + p);
        MDL__DOT_ROW_X86(0, _mm512_loadu_ps, _mm512_fmadd_ps);
        MDL__DOT_ROW_X86(1, _mm512_loadu_ps, _mm512_fmadd_ps);
        MDL__DOT_ROW_X86(2, _mm512_loadu_ps, _mm512_fmadd_ps);
        MDL__DOT_ROW_X86(3, _mm512_loadu_ps, _mm512_fmadd_ps);
    }
    out[0] = mdl__hsum_avx512(s00), out[1] = mdl__hsum_avx512(s01);
    out[2] = mdl__hsum_avx512(s02), out[3] = mdl__hsum_avx512(s10);
    out[4] = mdl__hsum_avx512(s11), out[5] = mdl__hsum_avx512(s12);
    out[6] = mdl__hsum_avx512(s20), out[7] = mdl__hsum_avx512(s21);
    out[8] = mdl__hsum_avx512(s22), out[9] = mdl__hsum_avx512(s30);
    out[10] = mdl__hsum_avx512(s31), out[11] = mdl__hsum_avx512(s32);
    MDL__DOT_TAIL(p);
}

/* The 8 lanes of an AVX register added up: halves, then quarters, then pairs. */
__attribute__((target("avx2,fma"))) static float mdl__hsum_avx(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) static void
mdl__dot_avx2(int k, const float *const *a, const float *const *b, float *out) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const float *b0p = b[0], *b1p = b[1], *b2p = b[2];
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
    __m256 s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00, x;
    int p;
    for (p = 0; p + 8 <= k; p += 8) {
        __m256 b0 = _mm256_loadu_ps(b0p + p), b1 = _mm256_loadu_ps(b1p + p);
        __m256 b2 = _mm256_loadu_ps(b2p + p);
        MDL__DOT_ROW_X86(0, _mm256_loadu_ps, _mm256_fmadd_ps);
        MDL__DOT_ROW_X86(1, _mm256_loadu_ps, _mm256_fmadd_ps);
        MDL__DOT_ROW_X86(2, _mm256_loadu_ps, _mm256_fmadd_ps);
        MDL__DOT_ROW_X86(3, _mm256_loadu_ps, _mm256_fmadd_ps);
    }
    out[0] = mdl__hsum_avx(s00), out[1] = mdl__hsum_avx(s01), out[2] = mdl__hsum_avx(s02);
    out[3] = mdl__hsum_avx(s10), out[4] = mdl__hsum_avx(s11), out[5] = mdl__hsum_avx(s12);
    out[6] = mdl__hsum_avx(s20), out[7] = mdl__hsum_avx(s21), out[8] = mdl__hsum_avx(s22);
    out[9] = mdl__hsum_avx(s30), out[10] = mdl__hsum_avx(s31), out[11] = mdl__hsum_avx(s32);
    MDL__DOT_TAIL(p);
}
#endif /* MDL__X86 */

#if defined(MDL__NEON)
/* NEON micro-kernel, an 8 x 12 tile: 24 accumulators of 4 floats (three per row), three
   registers for a row of Bp and two holding a column of Ap, used lane by lane. */
#define MDL__NEON_ROW(i, av, lane)                                                           \
    do {                                                                                     \
        acc##i##_0 = vfmaq_laneq_f32(acc##i##_0, b0, av, lane);                              \
        acc##i##_1 = vfmaq_laneq_f32(acc##i##_1, b1, av, lane);                              \
        acc##i##_2 = vfmaq_laneq_f32(acc##i##_2, b2, av, lane);                              \
    } while (0)
#define MDL__NEON_STORE(i)                                                                   \
    do {                                                                                     \
        float *ci = c + (size_t)(i) * ldc;                                                   \
        if (beta == 0) {                                                                     \
            vst1q_f32(ci, acc##i##_0);                                                       \
            vst1q_f32(ci + 4, acc##i##_1);                                                   \
            vst1q_f32(ci + 8, acc##i##_2);                                                   \
        } else {                                                                             \
            vst1q_f32(ci, vfmaq_n_f32(acc##i##_0, vld1q_f32(ci), beta));                     \
            vst1q_f32(ci + 4, vfmaq_n_f32(acc##i##_1, vld1q_f32(ci + 4), beta));             \
            vst1q_f32(ci + 8, vfmaq_n_f32(acc##i##_2, vld1q_f32(ci + 8), beta));             \
        }                                                                                    \
    } while (0)

static void mdl__kernel_neon(int kc, const float *ap, const float *bp, size_t ldbp, float *c,
                             size_t ldc, float beta) {
    float32x4_t acc0_0 = vdupq_n_f32(0), acc0_1 = acc0_0, acc0_2 = acc0_0, acc1_0 = acc0_0;
    float32x4_t acc1_1 = acc0_0, acc1_2 = acc0_0, acc2_0 = acc0_0, acc2_1 = acc0_0, acc2_2 = acc0_0;
    float32x4_t acc3_0 = acc0_0, acc3_1 = acc0_0, acc3_2 = acc0_0, acc4_0 = acc0_0, acc4_1 = acc0_0;
    float32x4_t acc4_2 = acc0_0, acc5_0 = acc0_0, acc5_1 = acc0_0, acc5_2 = acc0_0, acc6_0 = acc0_0;
    float32x4_t acc6_1 = acc0_0, acc6_2 = acc0_0, acc7_0 = acc0_0, acc7_1 = acc0_0, acc7_2 = acc0_0;
    int p;
    for (p = 0; p < kc; p++, ap += 8, bp += ldbp) {
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8);
        float32x4_t lo = vld1q_f32(ap), hi = vld1q_f32(ap + 4);
        MDL__NEON_ROW(0, lo, 0); MDL__NEON_ROW(1, lo, 1); MDL__NEON_ROW(2, lo, 2);
        MDL__NEON_ROW(3, lo, 3); MDL__NEON_ROW(4, hi, 0); MDL__NEON_ROW(5, hi, 1);
        MDL__NEON_ROW(6, hi, 2); MDL__NEON_ROW(7, hi, 3);
    }
    MDL__NEON_STORE(0); MDL__NEON_STORE(1); MDL__NEON_STORE(2); MDL__NEON_STORE(3);
    MDL__NEON_STORE(4); MDL__NEON_STORE(5); MDL__NEON_STORE(6); MDL__NEON_STORE(7);
}

/* The NEON dot-product kernel: the AVX ones above with 4 lanes. */
#define MDL__DOT_ROW_NEON(i)                                                                 \
    do {                                                                                     \
        x = vld1q_f32(a##i + p);                                                             \
        s##i##0 = vfmaq_f32(s##i##0, x, b0);                                                 \
        s##i##1 = vfmaq_f32(s##i##1, x, b1);                                                 \
        s##i##2 = vfmaq_f32(s##i##2, x, b2);                                                 \
    } while (0)

static void mdl__dot_neon(int k, const float *const *a, const float *const *b, float *out) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const float *b0p = b[0], *b1p = b[1], *b2p = b[2];
    float32x4_t s00 = vdupq_n_f32(0), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
    float32x4_t s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00, x;
    int p;
    for (p = 0; p + 4 <= k; p += 4) {
        float32x4_t b0 = vld1q_f32(b0p + p), b1 = vld1q_f32(b1p + p), b2 = vld1q_f32(b2p + p);
        MDL__DOT_ROW_NEON(0); MDL__DOT_ROW_NEON(1); MDL__DOT_ROW_NEON(2); MDL__DOT_ROW_NEON(3);
    }
    out[0] = vaddvq_f32(s00), out[1] = vaddvq_f32(s01), out[2] = vaddvq_f32(s02);
    out[3] = vaddvq_f32(s10), out[4] = vaddvq_f32(s11), out[5] = vaddvq_f32(s12);
    out[6] = vaddvq_f32(s20), out[7] = vaddvq_f32(s21), out[8] = vaddvq_f32(s22);
    out[9] = vaddvq_f32(s30), out[10] = vaddvq_f32(s31), out[11] = vaddvq_f32(s32);
    MDL__DOT_TAIL(p);
}
#endif /* MDL__NEON */

/* The kernels this build has, best first; "plain" is always last. */
static const mdl__gemm_impl mdl__gemm_impls[] = {
#if defined(MDL__X86)
    {"avx512", 12, 32, mdl__kernel_avx512, mdl__dot_avx512, mdl__unpacked_avx512, 8, 32, 16,
     mdl__unpacked_dot_avx512},
    {"avx2", 6, 16, mdl__kernel_avx2, mdl__dot_avx2, mdl__unpacked_avx2, 6, 16, 12,
     mdl__unpacked_dot_avx2},
#endif
#if defined(MDL__NEON)
    {"neon", 8, 12, mdl__kernel_neon, mdl__dot_neon, NULL, 0, 0, 0, NULL},
#endif
    {"plain", 0, 0, NULL, NULL, NULL, 0, 0, 0, NULL},
};
#define MDL__GEMM_IMPLS ((int)(sizeof mdl__gemm_impls / sizeof mdl__gemm_impls[0]))

/* Can this CPU run kernel i? (the CPU check is cached by the compiler's runtime) */
static int mdl__gemm_impl_runs(int i) {
    const char *name = mdl__gemm_impls[i].name;
#if defined(MDL__X86)
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)name;
    return 1; /* plain runs everywhere; NEON is part of every AArch64 CPU */
}

/* The kernel in use: -1 until the first GEMM picks the best one this CPU runs. With
   mdl__gemm_runs (which kernels this CPU runs, asked once then), it is the one piece of state
   besides the error handler, and only caches a property of the machine. */
static int mdl__gemm_choice = -1;
static int mdl__gemm_runs[MDL__GEMM_IMPLS];

static int mdl__gemm_auto = 1; /* 0 once mdl_set_gemm_kernel named one */

static const mdl__gemm_impl *mdl__gemm_current(void) {
    if (mdl__gemm_choice < 0) {
        int i;
        for (i = 0; i < MDL__GEMM_IMPLS; i++) mdl__gemm_runs[i] = mdl__gemm_impl_runs(i);
        for (i = 0; !mdl__gemm_runs[i]; i++) continue;
        mdl__gemm_choice = i;
    }
    return &mdl__gemm_impls[mdl__gemm_choice];
}

/* In auto mode, the kernel for one product: of the SIMD kernels this CPU runs (all of them do
   about the same multiply-adds per cycle where both run), the one whose tiles waste
   the least on padding; a 6-row product fills AVX2's 6-row tiles but half of AVX-512's 12. */
static const mdl__gemm_impl *mdl__gemm_pick(int m, int n) {
    const mdl__gemm_impl *best = mdl__gemm_current();
    double best_work;
    int i;
    if (!mdl__gemm_auto || !best->kernel) return best;
    best_work = (double)((m + best->mr - 1) / best->mr * best->mr) * ((n + best->nr - 1) / best->nr * best->nr);
    for (i = mdl__gemm_choice + 1; i < MDL__GEMM_IMPLS; i++) {
        const mdl__gemm_impl *im = &mdl__gemm_impls[i];
        double work;
        if (!im->kernel || !mdl__gemm_runs[i]) continue;
        work = (double)((m + im->mr - 1) / im->mr * im->mr) * ((n + im->nr - 1) / im->nr * im->nr);
        if (work < best_work) {
            best = im;
            best_work = work;
        }
    }
    return best;
}

MDLDEF const char *mdl_gemm_kernel(void) { return mdl__gemm_current()->name; }

MDLDEF int mdl_set_gemm_kernel(const char *name) {
    int i;
    if (!name || strcmp(name, "auto") == 0) {
        mdl__gemm_choice = -1;
        mdl__gemm_auto = 1;
        mdl__gemm_current();
        return 1;
    }
    mdl__gemm_current(); /* asks the CPU once, if not asked yet */
    for (i = 0; i < MDL__GEMM_IMPLS; i++)
        if (strcmp(mdl__gemm_impls[i].name, name) == 0 && mdl__gemm_runs[i]) {
            mdl__gemm_choice = i;
            mdl__gemm_auto = 0;
            return 1;
        }
    return 0;
}

/* Is C = A B^T small enough, and K long enough, for the dot-product kernels rather than the
   packed one? The smaller C and the longer K, the more the dot products win: a C of up to
   64 x 64 from K = 256, a C of up to 512 values from K = 128 (bench/README.md has the
   crossing points). (Against the unpacked kernels' dot products, which mdl__sgemm prefers
   from 8 rows, see there.) */
static int mdl__dot_fits(int m, int n, int k) {
    double mn = (double)m * (double)n;
    return (mn <= 4096.0 && k >= 256) || (mn <= 512.0 && k >= 128);
}

/* Does C = alpha op(A) op(B) + beta C go to the unpacked kernels rather than the packed one?
   Up to 2^25 multiply-adds, where packing's copies are a large share of the work, and beyond
   that with few rows and K not too long (a convolution with few channels over a batch); with
   many rows and a long K, packing's reuse of cached blocks wins. */
static int mdl__unpacked_fits(int m, int n, int k) {
    return (double)m * n * k <= 33554432.0 || (m <= 64 && k <= 2048);
}

/* C = alpha op(A) op(B) + beta C with the chosen kernel: the 4 x 3 dot-product kernels for
   A B^T with fewer than 32 rows, a small C and a long K, unless the unpacked path takes the
   product whole as dot products of its own (8 rows or more and K >= 64, see
   mdl__unpacked_dot_cols: they need no copy and keep more sums in registers); the unpacked kernels
   when the product fits (transposed operands copied out first); the plain kernel for tiny
   products (under 512 multiply-adds) that packing would not pay for; and the packed kernel
   for the rest. */
static void mdl__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    const mdl__gemm_impl *impl = mdl__gemm_current(), *picked;
    int dot, unpacked;
    if (m == 0 || n == 0 || k == 0 || alpha == 0 || !impl->kernel) {
        mdl__gemm_plain(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* (picked only when the dot-product or packed kernels may run: the unpacked path always
       uses impl, and a small product's time is worth a few divisions less) */
    picked = !trans_a && trans_b && mdl__dot_fits(m, n, k) ? mdl__gemm_pick(m, n) : NULL;
    dot = picked && picked->dot;
    unpacked = impl->unpacked && mdl__unpacked_fits(m, n, k);
    if (dot && m < 32 && !(unpacked && mdl__unpacked_dot_cols(impl, trans_b, m, n, k) == n)) {
        mdl__gemm_dot(picked, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (unpacked &&
        mdl__gemm_unpacked(impl, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return; /* (it declines only when there is no memory for its copies) */
    if ((double)m * (double)n * (double)k < 512.0)
        mdl__gemm_plain(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else if (dot)
        mdl__gemm_dot(picked, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        mdl__gemm_packed(picked ? picked : mdl__gemm_pick(m, n), trans_a, trans_b, m, n, k, alpha,
                         a, lda, b, ldb, beta, c, ldc);
}

#if defined(MDL__X86) && defined(__SSE2__)
/* ---------------------------------------------------------------------------------------------
   Max pooling 2 x 2, stride 2: four windows at a time in SSE registers (every x86-64 CPU has
   SSE2), for mdl__max_pool_2x2 in >>ops, whose plain loop computes the same, lane by lane.
   --------------------------------------------------------------------------------------------- */
static int mdl__max_pool_2x2_sse(const mdl_scalar *r0, const mdl_scalar *r1, int W, int base,
                                 int OW, mdl_scalar *yrow, int *arow) {
    int ox = 0;
    for (; ox + 4 <= OW; ox += 4) {
        const __m128 r0a = _mm_loadu_ps(r0 + 2 * ox), r0b = _mm_loadu_ps(r0 + 2 * ox + 4);
        const __m128 r1a = _mm_loadu_ps(r1 + 2 * ox), r1b = _mm_loadu_ps(r1 + 2 * ox + 4);
        const __m128 a = _mm_shuffle_ps(r0a, r0b, _MM_SHUFFLE(2, 0, 2, 0)); /* even pixels */
        const __m128 b = _mm_shuffle_ps(r0a, r0b, _MM_SHUFFLE(3, 1, 3, 1)); /* odd pixels */
        const __m128 c = _mm_shuffle_ps(r1a, r1b, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 d = _mm_shuffle_ps(r1a, r1b, _MM_SHUFFLE(3, 1, 3, 1));
        /* _mm_max_ps(u, v) is u > v ? u : v, as the plain loop's b > a ? b : a */
        const __m128 m = _mm_max_ps(_mm_max_ps(d, c), _mm_max_ps(b, a));
        const __m128 na = _mm_cmpunord_ps(a, a), nb = _mm_cmpunord_ps(b, b);
        const __m128 nc = _mm_cmpunord_ps(c, c), nd = _mm_cmpunord_ps(d, d);
        const __m128 nan = _mm_or_ps(_mm_or_ps(na, nb), _mm_or_ps(nc, nd));
        _mm_storeu_ps(yrow + ox, _mm_or_ps(_mm_andnot_ps(nan, m),
                                           _mm_and_ps(nan, _mm_set1_ps((float)NAN))));
        if (arow) { /* the first NaN, or without one the first pixel equal to m */
            const __m128 qa = _mm_andnot_ps(nan, _mm_cmpeq_ps(a, m)); /* a == m, no NaN */
            const __m128 qb = _mm_andnot_ps(nan, _mm_cmpeq_ps(b, m));
            const __m128 qc = _mm_andnot_ps(nan, _mm_cmpeq_ps(c, m));
            const __m128i ea = _mm_castps_si128(_mm_or_ps(na, qa));
            const __m128i eb = _mm_castps_si128(_mm_or_ps(nb, qb));
            const __m128i ec = _mm_castps_si128(_mm_or_ps(nc, qc));
            __m128i at = _mm_set1_epi32(W + 1);
            at = _mm_or_si128(_mm_andnot_si128(ec, at), _mm_and_si128(ec, _mm_set1_epi32(W)));
            at = _mm_or_si128(_mm_andnot_si128(eb, at), _mm_and_si128(eb, _mm_set1_epi32(1)));
            at = _mm_andnot_si128(ea, at);
            at = _mm_add_epi32(at, _mm_add_epi32(_mm_set1_epi32(base + 2 * ox),
                                                 _mm_set_epi32(6, 4, 2, 0)));
            _mm_storeu_si128((__m128i *)(void *)(arow + ox), at);
        }
    }
    return ox;
}
#endif

#else /* no SIMD: the plain kernel is the only one */

#ifndef MINIDL_DOUBLE
static void mdl__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    mdl__gemm_plain(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

MDLDEF const char *mdl_gemm_kernel(void) { return "plain"; }
MDLDEF int mdl_set_gemm_kernel(const char *name) {
    return !name || strcmp(name, "auto") == 0 || strcmp(name, "plain") == 0;
}

#endif /* MDL__X86 || MDL__NEON */

#ifndef MINIDL_DOUBLE
MDLDEF void mdl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    const char *fn = "mdl_sgemm";
    int a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
    if (m < 0 || n < 0 || k < 0) {
        mdl__fail(MDL_ERR_SIZE, fn, "m=%d, n=%d, k=%d: sizes must not be negative", m, n, k);
        return;
    }
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) ||
        ldc < (n > 1 ? n : 1)) {
        mdl__fail(MDL_ERR_ARG, fn, "row strides too small: lda=%d (needs >= %d), ldb=%d (>= %d), "
                  "ldc=%d (>= %d)", lda, a_cols, ldb, b_cols, ldc, n);
        return;
    }
    if ((m && n && !c) || (m && n && k && alpha != 0 && (!a || !b))) {
        mdl__fail(MDL_ERR_NULL, fn, "a, b or c is NULL");
        return;
    }
    mdl__sgemm(trans_a != 0, trans_b != 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* MINIDL_IMPLEMENTATION */

/* ------------------------------------------------------------------------------------------------
   VERSION HISTORY
   0.1  2026-11  tensors, autograd over 30 primitive ops, arenas, errors, gradcheck, DOT dump.
   0.2  2026-11  mdl_sgemm with AVX-512, AVX2 and NEON micro-kernels chosen at run time, dot-
                 product kernels for small products with a long shared dimension, unpacked
                 AVX-512 and AVX2 kernels for products up to some 2^25 multiply-adds (narrow
                 columns and A B^T as dot products of rows), OpenMP threads; conv2d (im2col
                 in L2-sized runs of images), conv1d, max and average pooling.
   0.3  2026-12  the file in reading order (autograd before ops, the fast kernels last); the
                 stale-tensor check on by default; matmul as torch.matmul and mdl_matmul_t;
                 options by name for convolution and pooling; the ops layers and losses need
                 (gather, where, comparisons, stable log1p/softplus/logsumexp, reductions over
                 several axes, ...); layers, initialisation and Sequential; PyTorch's losses.

   ------------------------------------------------------------------------------------------------
   LICENSE: this software is available under either of two licenses; choose whichever you like.

   ALTERNATIVE A - MIT License
   Copyright (c) 2026 the minidl authors
   Permission is hereby granted, free of charge, to any person obtaining a copy of this software
   and associated documentation files (the "Software"), to deal in the Software without
   restriction, including without limitation the rights to use, copy, modify, merge, publish,
   distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
   Software is furnished to do so, subject to the following conditions:
   The above copyright notice and this permission notice shall be included in all copies or
   substantial portions of the Software.
   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
   BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
   NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
   DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
   OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

   ALTERNATIVE B - Public Domain (www.unlicense.org)
   This is free and unencumbered software released into the public domain.
   Anyone is free to copy, modify, publish, use, compile, sell, or distribute this software,
   either in source code form or as a compiled binary, for any purpose, commercial or
   non-commercial, and by any means.
   In jurisdictions that recognize copyright laws, the author or authors of this software
   dedicate any and all copyright interest in the software to the public domain. We make this
   dedication for the benefit of the public at large and to the detriment of our heirs and
   successors. We intend this dedication to be an overt act of relinquishment in perpetuity of
   all present and future rights to this software under copyright law.
   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
   BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
   NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
   LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
   CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
   ------------------------------------------------------------------------------------------------ */
