/* minidl.h - a small deep-learning library in one C header, for learning how deep learning works.

   Tensors, reverse-mode automatic differentiation, arena memory and friendly error messages,
   written to be read. No dependency beyond libc and libm.

   USE
       In every file that needs it:         #include "minidl.h"
       In exactly one .c file, before that: #define MINIDL_IMPLEMENTATION

       gcc -O2 prog.c -o prog -lm

   CONTENTS (grep '// >>' minidl.h prints the same list with line numbers)
       >>config     the macros you may define
       >>errors     error codes, the handler, mdl_last_error
       >>memory     arenas (per-step memory) and parameter sets (persistent memory)
       >>random     the seeded random number generator
       >>tensors    creation, views, printing
       >>ops        elementwise, activations, reductions, matmul, shape ops
       >>autograd   backward, detach, no-grad, gradients
       >>diagnostics gradcheck, NaN/Inf detection, Graphviz dump of the graph

   CONFIGURATION (define before including; each has the default shown)
       MINIDL_IMPLEMENTATION  undefined  compile the implementation into this translation unit
       MINIDL_STATIC          undefined  make every function static (private to one file)
       MINIDL_MALLOC(n)       malloc(n)  allocator; define MINIDL_MALLOC and MINIDL_FREE together
       MINIDL_FREE(p)         free(p)
       MINIDL_ASSERT(c)       assert(c)  checks of the library's own invariants
       MINIDL_NO_SIMD         undefined  use only the plain C kernels
       MINIDL_DEBUG           undefined  catch tensors used after their arena was reset (slower)
       MINIDL_DOUBLE          undefined  mdl_scalar is double instead of float; used by the
                                         gradient-check tests, plain kernels only

   MEMORY MODEL
       Every tensor has one of three lifetimes. Persistent tensors (parameters, their gradients,
       optimizer state, running statistics) belong to an mdl_params set and are freed together
       by mdl_params_free. Per-step tensors (the output of every op, and the autograd tape that
       records how they were computed) come from an mdl_arena, a bump allocator that is emptied
       all at once by mdl_arena_reset after each optimizer step or evaluation batch: students
       never free a temporary. Borrowed tensors wrap a buffer you own (mdl_wrap); minidl never
       frees it. A tensor from an arena is dead after that arena's reset; with MINIDL_DEBUG an
       op given such a tensor reports MDL_ERR_STALE and names the step the tensor came from.

   ERROR MODEL
       A contract error (shapes that do not fit, a NULL argument, a dead tensor, an absurd size)
       is a bug in the calling program. It goes to one handler with a compiler-style message:
           minidl: error: mdl_matmul: a [32,784] @ b [128,10]: a.shape[1]=784 != b.shape[0]=128
       The default handler prints it and aborts. mdl_set_error_handler installs your own; if it
       returns, the op returns NULL, and ops given NULL after an error return NULL quietly, so
       only the first mistake is reported. Environmental errors (a missing or corrupt file, out
       of memory) never abort: the function returns an mdl_error code and mdl_last_error() says
       what happened and where. Error codes and their names come from one list, MDL_ERRORS.

   WHAT MINIDL DOES NOT DO
       No GPU. No tensors that are not contiguous (transpose and permute copy). No dtypes but
       one floating type (float, or double with MINIDL_DOUBLE). No higher-order gradients.
       Not thread-safe: one thread drives one set of arenas, and the error state is global.

   LICENSE
       MIT or public domain, your choice: see the end of this file.
*/
#ifndef MINIDL_H
#define MINIDL_H

// >>config

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef MDLDEF
#ifdef MINIDL_STATIC
#define MDLDEF static
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
#define MDL_VERSION_MINOR 1

/** @} */

// >>errors

/** @defgroup errors Errors
 *  @brief One list of error codes, one handler for contract errors, mdl_last_error for the rest.
 *  @{ */

/** The list of error codes: X(code, description). Generates ::mdl_error and mdl_error_name(). */
#define MDL_ERRORS(X)                                                       \
    X(MDL_OK, "no error")                                                   \
    X(MDL_ERR_NULL, "a required argument is NULL")                          \
    X(MDL_ERR_SHAPE, "shapes do not fit together")                          \
    X(MDL_ERR_ARG, "an argument is out of range")                           \
    X(MDL_ERR_SIZE, "a size is negative or too large")                      \
    X(MDL_ERR_STALE, "a tensor was used after its arena was reset")         \
    X(MDL_ERR_GRAPH, "the autograd graph cannot do what was asked")         \
    X(MDL_ERR_NONFINITE, "an op produced NaN or Inf")                       \
    X(MDL_ERR_NOMEM, "out of memory")                                       \
    X(MDL_ERR_IO, "a file could not be opened, read or written")            \
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

// >>memory

/** @defgroup memory Memory: arenas and parameter sets
 *  @brief Per-step memory comes from an arena; persistent memory from a parameter set.
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
    unsigned magic;         /**< marks live and dead tensors in MINIDL_DEBUG builds */
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
 *  @param name   unique within the set (copied), e.g. "fc1.weight"
 *  @param ndim   rank; @param shape sizes, outermost first
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

// >>random

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

// >>tensors

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

// >>ops

/** @defgroup ops Ops
 *  @brief Each op takes its output from the arena `ar` and, when an input requires grad and
 *  grad mode is on, records itself on the autograd tape. Binary elementwise ops broadcast as
 *  NumPy does: shapes are aligned from the right, and an axis of size 1 stretches to match.
 *  Axes may be negative (-1 is the last). Given NULL after an error, an op returns NULL.
 *  @{ */

/** The list of primitive ops, X(NAME, "public function"). Each has a forward and a backward
 *  side by side in the implementation; the gradient-check test walks this same list. Other
 *  ops (mdl_neg, mdl_mean, mdl_var, mdl_transpose, mdl_stack, ...) are built from these. */
#define MDL_OPS(X)                      \
    X(ADD, "mdl_add")                   \
    X(SUB, "mdl_sub")                   \
    X(MUL, "mdl_mul")                   \
    X(DIV, "mdl_div")                   \
    X(MAXIMUM, "mdl_maximum")           \
    X(ADD_SCALAR, "mdl_add_scalar")     \
    X(MUL_SCALAR, "mdl_mul_scalar")     \
    X(EXP, "mdl_exp")                   \
    X(LOG, "mdl_log")                   \
    X(SQRT, "mdl_sqrt")                 \
    X(ABS, "mdl_abs")                   \
    X(POW, "mdl_pow")                   \
    X(CLAMP, "mdl_clamp")               \
    X(RELU, "mdl_relu")                 \
    X(LEAKY_RELU, "mdl_leaky_relu")     \
    X(SIGMOID, "mdl_sigmoid")           \
    X(TANH, "mdl_tanh")                 \
    X(GELU, "mdl_gelu")                 \
    X(SILU, "mdl_silu")                 \
    X(ELU, "mdl_elu")                   \
    X(SOFTMAX, "mdl_softmax")           \
    X(LOG_SOFTMAX, "mdl_log_softmax")   \
    X(SUM, "mdl_sum")                   \
    X(MAX, "mdl_max")                   \
    X(MATMUL, "mdl_matmul")             \
    X(RESHAPE, "mdl_reshape")           \
    X(PERMUTE, "mdl_permute")           \
    X(SLICE, "mdl_slice")               \
    X(CONCAT, "mdl_concat")             \
    X(INDEX_SELECT, "mdl_index_select")

#define MDL__OP_ENUM_ITEM(name, fn) MDL_OP_##name,
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
/** @brief max(a, b) elementwise (broadcast); at a tie the gradient goes to a. @return from `ar` */
MDLDEF mdl_tensor *mdl_maximum(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);

/* -- elementwise with a scalar -- */
/** @brief x + s. @return from `ar` */
MDLDEF mdl_tensor *mdl_add_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x - s. @return from `ar` */
MDLDEF mdl_tensor *mdl_sub_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x * s. @return from `ar` */
MDLDEF mdl_tensor *mdl_mul_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);
/** @brief x / s. @return from `ar` */
MDLDEF mdl_tensor *mdl_div_scalar(mdl_arena *ar, mdl_tensor *x, mdl_scalar s);

/* -- elementwise, one input -- */
/** @brief -x. @return from `ar` */
MDLDEF mdl_tensor *mdl_neg(mdl_arena *ar, mdl_tensor *x);
/** @brief e^x. @return from `ar` */
MDLDEF mdl_tensor *mdl_exp(mdl_arena *ar, mdl_tensor *x);
/** @brief Natural log; log(0) = -inf, log of a negative = NaN, as in C. @return from `ar` */
MDLDEF mdl_tensor *mdl_log(mdl_arena *ar, mdl_tensor *x);
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
/** @brief tanh(x). @return from `ar` */
MDLDEF mdl_tensor *mdl_tanh(mdl_arena *ar, mdl_tensor *x);
/** @brief x * Phi(x), Phi the normal CDF (exact erf form, PyTorch's default). @return from `ar` */
MDLDEF mdl_tensor *mdl_gelu(mdl_arena *ar, mdl_tensor *x);
/** @brief x * sigmoid(x) (also called swish). @return from `ar` */
MDLDEF mdl_tensor *mdl_silu(mdl_arena *ar, mdl_tensor *x);
/** @brief x if x > 0 else alpha * (e^x - 1) (PyTorch's default alpha is 1). @return from `ar` */
MDLDEF mdl_tensor *mdl_elu(mdl_arena *ar, mdl_tensor *x, mdl_scalar alpha);
/** @brief e^x / sum(e^x) along `axis`, computed stably. @return from `ar`, same shape as x */
MDLDEF mdl_tensor *mdl_softmax(mdl_arena *ar, mdl_tensor *x, int axis);
/** @brief x - log(sum(e^x)) along `axis`, computed stably. @return from `ar`, same shape */
MDLDEF mdl_tensor *mdl_log_softmax(mdl_arena *ar, mdl_tensor *x, int axis);

/* -- reductions: axis is one axis or MDL_ALL; keepdim keeps it with size 1 -- */
/** @brief Sum along `axis` (or MDL_ALL). @return from `ar` */
MDLDEF mdl_tensor *mdl_sum(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Mean along `axis` (or MDL_ALL). @return from `ar` */
MDLDEF mdl_tensor *mdl_mean(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Maximum along `axis` (or MDL_ALL); the gradient goes to the first maximum.
 *  @return from `ar` */
MDLDEF mdl_tensor *mdl_max(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Index of the first maximum along `axis` (or MDL_ALL: the flat index), as values of
 *  the tensor; not differentiable. @return from `ar` */
MDLDEF mdl_tensor *mdl_argmax(mdl_arena *ar, mdl_tensor *x, int axis, int keepdim);
/** @brief Variance along `axis` (or MDL_ALL): sum((x - mean)^2) / (n - correction).
 *  correction 1 is PyTorch's default (unbiased), 0 the population variance. @return from `ar` */
MDLDEF mdl_tensor *mdl_var(mdl_arena *ar, mdl_tensor *x, int axis, int correction, int keepdim);

/* -- matrix product -- */
/** @brief Matrix product. a [M,K] @ b [K,N] -> [M,N]; batched a [B,M,K] @ b [B,K,N] -> [B,M,N];
 *  a [B,M,K] @ b [K,N] -> [B,M,N] (the same b for every batch). @return from `ar` */
MDLDEF mdl_tensor *mdl_matmul(mdl_arena *ar, mdl_tensor *a, mdl_tensor *b);

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
/** @brief Elements start..end-1 along `axis` (x[..., start:end, ...]). A view when the axes
 *  before `axis` all have size 1, a copy otherwise. @return from `ar` */
MDLDEF mdl_tensor *mdl_slice(mdl_arena *ar, mdl_tensor *x, int axis, int start, int end);
/** @brief Join n tensors along an existing axis; other sizes must match. @return from `ar` */
MDLDEF mdl_tensor *mdl_concat(mdl_arena *ar, int n, mdl_tensor *const *xs, int axis);
/** @brief Join n tensors of one shape along a new axis. @return from `ar` */
MDLDEF mdl_tensor *mdl_stack(mdl_arena *ar, int n, mdl_tensor *const *xs, int axis);
/** @brief Pick n entries along `axis` by index (torch.index_select); along axis 0 of a
 *  [vocab, dim] table this is an embedding lookup. Indices are copied.
 *  @return from `ar`, shape of x with shape[axis] = n */
MDLDEF mdl_tensor *mdl_index_select(mdl_arena *ar, mdl_tensor *x, int axis, int n,
                                    const int *index);

/** @} */

// >>autograd

/** @defgroup autograd Autograd
 *  @brief Reverse-mode differentiation over the tape the ops recorded.
 *  @{ */

/** @brief Compute d(y)/d(t) for every tensor t that y depends on and that requires grad, and
 *  add it to t->grad (gradients accumulate until zeroed). y must have one element (a loss).
 *  @return MDL_OK, or the error code after reporting a contract error */
MDLDEF mdl_error mdl_backward(mdl_tensor *y);

/** @brief Like mdl_backward for a y of any shape, starting from dy = d(loss)/d(y).
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

// >>diagnostics

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
 *  With a fixed random vector v, L = sum(v * f(inputs)); for each element x_i of each input,
 *  backward's dL/dx_i must match (L(x_i + eps) - L(x_i - eps)) / (2 eps) within
 *  atol + rtol * |numeric|. Inputs' values are restored; their grads are overwritten.
 *  Float32 differences are noisy: build with MINIDL_DOUBLE for a tight check.
 *  @param eps, atol, rtol 0 picks the default: 1e-6, 1e-5, 1e-3 with MINIDL_DOUBLE;
 *         1e-2, 1e-2, 5e-2 with float
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

#ifdef __cplusplus
}
#endif

#endif /* MINIDL_H */
