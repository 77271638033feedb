/* Helpers shared by the inference stack (dnnl_stack.c) and the training stack
 * (dnnl_train.c). */
#ifndef CRUCIATE_DNNL_COMMON_H
#define CRUCIATE_DNNL_COMMON_H

#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int kind; /* 0: convolution (+ residual, + ReLU), 1: max pooling, 2: concatenation */
    int cin, cout, kernel, stride, pad, relu, ceil_mode;
    const float *weights; /* [cout, cin, kernel, kernel] */
    const float *bias;    /* [cout] or NULL */
    int input;            /* the earlier layer a convolution reads; -1: the one before it */
    int residual;         /* the earlier layer added before the ReLU; -1: none */
    int last_read;        /* the last layer reading this one's output (n: the stack's output) */
    int n_from;           /* a concatenation's sources, */
    const size_t *from;   /* earlier layers, in channel order */
    /* A batch norm after a convolution (training only: inference takes it folded). */
    int norm;              /* whether there is one */
    int global_stats;      /* normalise by the running statistics (a frozen norm) */
    float epsilon;
    const float *gamma, *beta;    /* [cout] */
    const float *running_mean;    /* [cout], read when global_stats */
    const float *running_var;     /* [cout], read when global_stats */
} cr_layer;

/* On a failed oneDNN call: the call, its status and the layer into `err`, then `fail:`. Needs
 * `err`, `errlen` and `layer` in scope. */
#define CHECK(call)                                                                       \
    do {                                                                                  \
        dnnl_status_t s_ = (call);                                                        \
        if (s_ != dnnl_success) {                                                         \
            snprintf(err, errlen, "oneDNN: %s failed with status %d (layer %d)", #call,   \
                     (int)s_, layer);                                                     \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)

/* A reorder from `from` to `to` on `engine`. */
static inline dnnl_status_t cr_make_reorder(dnnl_engine_t engine, const dnnl_memory_desc_t *from,
                                            const dnnl_memory_desc_t *to, dnnl_primitive_t *out) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL);
    if (s != dnnl_success) return s;
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

static inline dnnl_status_t cr_run_reorder(dnnl_stream_t stream, dnnl_primitive_t r,
                                           dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, stream, 2, args);
}

/* Output size along one axis, PyTorch's rule (with ceil mode, a window must start inside
 * the input or its left padding). */
static inline int64_t cr_out_size(int64_t in, int k, int s, int p, int ceil_mode) {
    int64_t span = in + 2 * p - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

/* Primitive attributes with a ReLU after the operation when `relu`, into `*attr`. */
static inline dnnl_status_t cr_relu_attr(int relu, dnnl_primitive_attr_t *attr) {
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success || !relu) return s;
    dnnl_post_ops_t ops;
    s = dnnl_post_ops_create(&ops);
    if (s != dnnl_success) return s;
    s = dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(*attr, ops);
    dnnl_post_ops_destroy(ops);
    return s;
}

#endif
