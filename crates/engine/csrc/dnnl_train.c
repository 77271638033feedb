/* A backbone trained through oneDNN: the forward pass keeps what the backward pass needs
 * (each layer's output, the convolutions' outputs before their batch norms, the norms' batch
 * statistics, the pools' workspaces), and the backward pass turns the gradient of the
 * backbone's output into the gradient of every convolution's weights and bias and of every
 * batch norm's scale and shift.
 *
 * Layers: a convolution, then optionally a batch norm (by the batch's statistics, or by the
 * running ones when frozen), optionally the output of an earlier layer added (a residual
 * shortcut), optionally a ReLU; max pools; concatenations along the channels. Each layer reads
 * the one before it or a named earlier one, so an output can have several readers: the
 * backward pass runs the layers in reverse and adds each reader's contribution to the
 * gradient of what it read (the first written in place, the others added by oneDNN's binary
 * primitive or by reorders with a `sum` post-op).
 *
 * The ReLU is fused where oneDNN can: into the convolution (no norm, no shortcut; its backward
 * pass from the output), into the batch norm (no shortcut; its workspace remembers the mask),
 * or into the shortcut's addition (a post-op of the binary primitive).
 *
 * The weights stay with the caller (Burn's parameters and optimiser, in f32: the master
 * weights); each step reorders them into the layouts the primitives want. Activations and
 * their gradients are channels-last (nhwc), in f32 or bf16; weight, scale and shift gradients
 * and the norms' statistics are f32. The image's gradient is not computed. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct {
    int kind, relu, cout, input, residual, norm, global_stats, fuse_norm_relu;
    /* Forward. */
    dnnl_primitive_t fwd, w_fwd_reorder, norm_fwd, add_fwd;
    dnnl_memory_t user_w, w_fwd, bias, conv_dst, norm_dst, add_dst, ws;
    dnnl_memory_t mean, var, scale, shift, norm_ws;
    dnnl_memory_t out; /* the layer's output: one of the above, not owned separately */
    /* Backward. */
    dnnl_memory_t diff; /* gradient of the layer's output, or NULL when nothing reads it */
    dnnl_primitive_t relu_bwd, norm_bwd, bwd_w, diff_w_reorder, bwd_d, w_bwd_reorder;
    dnnl_memory_t diff_pre, diff_conv, diff_scale, diff_shift;
    dnnl_memory_t diff_w, diff_b, user_diff_w, w_bwd;
    /* How the gradient reaches the layers read: the input's written in place (`to_input`
     * NULL) or through `scratch` and added (`add_input`); the shortcut's copied or added. */
    dnnl_memory_t scratch;
    dnnl_primitive_t add_input, to_residual;
    int residual_first;
    int relu_into_residual; /* the ReLU's gradient written straight into the shortcut's */
    /* A concatenation's sources and the reorders handing each its channels' gradient. */
    int n_from;
    int *from;
    dnnl_memory_t *parts;
    dnnl_primitive_t *split;
} cr_tstep;

typedef struct cr_train {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int n;
    cr_tstep *steps;
    dnnl_memory_t user_src, src0, user_out, user_dout;
    dnnl_primitive_t in_reorder, out_reorder, dout_reorder;
    void *scratch;
    size_t scratch_size;
} cr_train;

static void destroy_prim(dnnl_primitive_t p) { if (p) dnnl_primitive_destroy(p); }
static void destroy_mem(dnnl_memory_t m) { if (m) dnnl_memory_destroy(m); }

void cr_train_destroy(cr_train *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        cr_tstep *s = &t->steps[i];
        dnnl_primitive_t prims[] = {s->fwd, s->w_fwd_reorder, s->norm_fwd, s->add_fwd,
                                    s->relu_bwd, s->norm_bwd, s->bwd_w, s->diff_w_reorder,
                                    s->bwd_d, s->w_bwd_reorder, s->add_input, s->to_residual};
        for (size_t k = 0; k < sizeof(prims) / sizeof(prims[0]); k++) destroy_prim(prims[k]);
        dnnl_memory_t mems[] = {s->user_w, s->w_fwd, s->bias, s->conv_dst, s->norm_dst,
                                s->add_dst, s->ws, s->mean, s->var, s->scale, s->shift,
                                s->norm_ws, s->diff, s->diff_pre, s->diff_conv, s->diff_scale,
                                s->diff_shift, s->diff_w, s->diff_b, s->user_diff_w, s->w_bwd,
                                s->scratch};
        for (size_t k = 0; k < sizeof(mems) / sizeof(mems[0]); k++) destroy_mem(mems[k]);
        for (int k = 0; k < s->n_from; k++) {
            if (s->parts) destroy_mem(s->parts[k]);
            if (s->split) destroy_prim(s->split[k]);
        }
        free(s->parts);
        free(s->split);
        free(s->from);
    }
    free(t->steps);
    destroy_prim(t->in_reorder); destroy_prim(t->out_reorder); destroy_prim(t->dout_reorder);
    destroy_mem(t->user_src); destroy_mem(t->src0); destroy_mem(t->user_out);
    destroy_mem(t->user_dout);
    free(t->scratch);
    if (t->stream) dnnl_stream_destroy(t->stream);
    if (t->engine) dnnl_engine_destroy(t->engine);
    free(t);
}

/* Creates the primitive of `pd` into `*prim`, then frees `pd`. */
static dnnl_status_t finish(dnnl_primitive_desc_t pd, dnnl_primitive_t *prim) {
    dnnl_status_t s = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

static const dnnl_memory_desc_t *query(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

static const dnnl_memory_desc_t *desc_of(dnnl_memory_t m) {
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_get_memory_desc(m, &md);
    return md;
}

static dnnl_status_t alloc(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t e) {
    return dnnl_memory_create(m, md, e, DNNL_MEMORY_ALLOCATE);
}

/* `into += from` (same layout) as a binary primitive run in place. */
static dnnl_status_t make_add(dnnl_engine_t engine, const dnnl_memory_desc_t *md,
                              dnnl_primitive_t *prim) {
    dnnl_binary_desc_t bd;
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_binary_desc_init(&bd, dnnl_binary_add, md, md, md);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &bd, NULL, engine, NULL);
    if (s == dnnl_success) s = finish(pd, prim);
    return s;
}

static dnnl_status_t run_add(dnnl_stream_t stream, dnnl_primitive_t add, dnnl_memory_t into,
                             dnnl_memory_t from) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC_0, into}, {DNNL_ARG_SRC_1, from},
                               {DNNL_ARG_DST, into}};
    return dnnl_primitive_execute(add, stream, 3, args);
}

/* A reorder from `from` to `to`, adding to what `to` holds when `accumulate`. */
static dnnl_status_t make_copy(dnnl_engine_t engine, const dnnl_memory_desc_t *from,
                               const dnnl_memory_desc_t *to, int accumulate,
                               dnnl_primitive_t *prim) {
    if (!accumulate) return cr_make_reorder(engine, from, to, prim);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success) s = dnnl_post_ops_create(&ops);
    if (s == dnnl_success) s = dnnl_post_ops_append_sum(ops, 1.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, ops);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr);
    if (s == dnnl_success) s = finish(pd, prim);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

/* A memory of layout `md` in the shared scratch buffer (given its memory after planning). */
static dnnl_status_t scratch_memory(cr_train *t, const dnnl_memory_desc_t *md, dnnl_memory_t *m) {
    size_t size = dnnl_memory_desc_get_size(md);
    if (size > t->scratch_size) t->scratch_size = size;
    return dnnl_memory_create(m, md, t->engine, DNNL_MEMORY_NONE);
}

/* The ReLU's backward pass from its output, of layout `md`, into `*prim`. */
static dnnl_status_t make_relu_bwd(dnnl_engine_t engine, const dnnl_memory_desc_t *md,
                                   dnnl_primitive_t *prim) {
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t hint = NULL, pd = NULL;
    dnnl_status_t s = dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
                                                     dnnl_eltwise_relu_use_dst_for_bwd, md, 0.0f,
                                                     0.0f);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&hint, &ed, NULL, engine, NULL);
    if (s == dnnl_success)
        s = dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd, md, md, 0.0f,
                                            0.0f);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &ed, NULL, engine, hint);
    if (s == dnnl_success) s = finish(pd, prim);
    if (hint) dnnl_primitive_desc_destroy(hint);
    return s;
}

/* How the gradient of layer `j`'s output is delivered by the next contribution (in backward
 * order): written (0) or added (1); `written` keeps count. */
static int accumulates(int *written, int j) { return written[j]++ > 0; }

/* A convolution layer (+ norm, + shortcut, + ReLU): its forward and backward primitives. */
/* `live`: whether a gradient reaches its output (else only the forward pass is built). */
static dnnl_status_t make_conv(cr_train *t, const cr_layer *l, cr_tstep *s, int live,
                               const dnnl_memory_desc_t *src_md, const int64_t *out,
                               dnnl_data_type_t dt, int *written) {
    dnnl_engine_t e = t->engine;
    dnnl_status_t st;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
#define TRY(call)                                                                          \
    do {                                                                                   \
        st = (call);                                                                       \
        if (st != dnnl_success) goto done;                                                 \
    } while (0)
    const int64_t *cur = src_md->dims;
    int64_t strides[2] = {l->stride, l->stride};
    int64_t pad_l[2] = {l->pad, l->pad};
    int64_t pad_r[2] = {(out[2] - 1) * l->stride + l->kernel - cur[2] - l->pad,
                        (out[3] - 1) * l->stride + l->kernel - cur[3] - l->pad};
    int64_t wdims[4] = {l->cout, l->cin, l->kernel, l->kernel};
    int64_t bdims[1] = {l->cout};
    dnnl_memory_desc_t dst_md, w_any, wf_any, b_md, user_w_md, stat_md;
    TRY(dnnl_memory_desc_init_by_tag(&dst_md, 4, out, dt, dnnl_nhwc));
    TRY(dnnl_memory_desc_init_by_tag(&w_any, 4, wdims, dt, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&wf_any, 4, wdims, dnnl_f32, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x));
    TRY(dnnl_memory_desc_init_by_tag(&user_w_md, 4, wdims, dnnl_f32, dnnl_oihw));
    TRY(dnnl_memory_desc_init_by_tag(&stat_md, 1, bdims, dnnl_f32, dnnl_x));
    int relu_in_conv = s->relu && !s->norm && s->residual < 0;
    /* A convolution without a bias (ResNet's, before their norms) computes none, nor its
     * gradient. */
    const dnnl_memory_desc_t *bias_md = l->bias ? &b_md : NULL;
    s->fuse_norm_relu = s->relu && s->norm && s->residual < 0;

    /* The convolution. */
    dnnl_convolution_desc_t cd;
    TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct,
                                           src_md, &w_any, bias_md, &dst_md, strides, pad_l,
                                           pad_r));
    TRY(cr_relu_attr(relu_in_conv, &attr));
    TRY(dnnl_primitive_desc_create(&fwd_pd, &cd, attr, e, NULL));
    TRY(dnnl_memory_create(&s->user_w, &user_w_md, e, DNNL_MEMORY_NONE));
    TRY(alloc(&s->w_fwd, query(fwd_pd, dnnl_query_weights_md), e));
    TRY(cr_make_reorder(e, &user_w_md, query(fwd_pd, dnnl_query_weights_md), &s->w_fwd_reorder));
    if (l->bias) TRY(alloc(&s->bias, &b_md, e));
    TRY(alloc(&s->conv_dst, &dst_md, e));
    s->out = s->conv_dst;

    /* The batch norm. */
    if (s->norm) {
        /* Backward primitives are made with the forward ones (they share a hint); a dead
         * layer's are simply never run. */
        unsigned flags = dnnl_use_scale | dnnl_use_shift |
                         (s->global_stats ? dnnl_use_global_stats : 0) |
                         (s->fuse_norm_relu ? dnnl_fuse_norm_relu : 0);
        dnnl_batch_normalization_desc_t bd;
        dnnl_primitive_desc_t norm_pd = NULL;
        TRY(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &dst_md,
                                                       l->epsilon, flags));
        TRY(dnnl_primitive_desc_create(&norm_pd, &bd, NULL, e, NULL));
        st = alloc(&s->norm_dst, &dst_md, e);
        if (st == dnnl_success && s->fuse_norm_relu)
            st = alloc(&s->norm_ws, query(norm_pd, dnnl_query_workspace_md), e);
        if (st == dnnl_success) st = dnnl_primitive_create(&s->norm_fwd, norm_pd);
        if (st == dnnl_success) {
            TRY(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &dst_md,
                                                            &dst_md, l->epsilon, flags));
            st = dnnl_primitive_desc_create(&pd, &bd, NULL, e, norm_pd);
        }
        dnnl_primitive_desc_destroy(norm_pd);
        if (st != dnnl_success) goto done;
        TRY(finish(pd, &s->norm_bwd));
        pd = NULL;
        TRY(alloc(&s->mean, &stat_md, e));
        TRY(alloc(&s->var, &stat_md, e));
        TRY(alloc(&s->scale, &stat_md, e));
        TRY(alloc(&s->shift, &stat_md, e));
        TRY(alloc(&s->diff_scale, &stat_md, e));
        TRY(alloc(&s->diff_shift, &stat_md, e));
        TRY(alloc(&s->diff_conv, &dst_md, e));
        s->out = s->norm_dst;
    }

    /* The shortcut's addition (with the ReLU as its post-op). */
    if (s->residual >= 0) {
        dnnl_binary_desc_t bd;
        dnnl_primitive_attr_destroy(attr);
        attr = NULL;
        TRY(cr_relu_attr(s->relu, &attr));
        TRY(dnnl_binary_desc_init(&bd, dnnl_binary_add, &dst_md, &dst_md, &dst_md));
        TRY(dnnl_primitive_desc_create(&pd, &bd, attr, e, NULL));
        TRY(finish(pd, &s->add_fwd));
        pd = NULL;
        TRY(alloc(&s->add_dst, &dst_md, e));
        s->out = s->add_dst;
    }

    if (!live) goto forward;
    /* Backward: the ReLU's (when it is not the norm's), then the shortcut's share. Where this
     * layer is the first to hand the shortcut a gradient, the ReLU's backward pass writes
     * into the shortcut's gradient itself (this layer is done with it before any other
     * reader adds to it), saving a copy. */
    if (s->residual >= 0) s->residual_first = !accumulates(written, s->residual);
    if (s->relu && !s->fuse_norm_relu) {
        TRY(make_relu_bwd(e, &dst_md, &s->relu_bwd));
        s->relu_into_residual = s->residual >= 0 && s->residual_first;
        if (!s->relu_into_residual) TRY(alloc(&s->diff_pre, &dst_md, e));
    }
    if (s->residual >= 0 && !s->relu_into_residual) {
        if (s->residual_first) TRY(cr_make_reorder(e, &dst_md, &dst_md, &s->to_residual));
        else TRY(make_add(e, &dst_md, &s->to_residual));
    }
    /* Weight and bias gradients, in f32: straight into the caller's layout where one of
     * oneDNN's optimised kernels takes it (a reorder a step saved), else in the kernel's own
     * and reordered. */
    dnnl_primitive_desc_t plain = NULL;
    TRY(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, src_md,
                                                    &user_w_md, bias_md, &dst_md, strides, pad_l,
                                                    pad_r));
    if (dnnl_primitive_desc_create(&plain, &cd, NULL, e, fwd_pd) == dnnl_success) {
        const char *impl = NULL;
        dnnl_primitive_desc_query(plain, dnnl_query_impl_info_str, 0, &impl);
        if (impl && (strncmp(impl, "jit", 3) == 0 || strncmp(impl, "brg", 3) == 0)) pd = plain;
        else dnnl_primitive_desc_destroy(plain);
    }
    if (pd) {
        TRY(dnnl_memory_create(&s->user_diff_w, &user_w_md, e, DNNL_MEMORY_NONE));
    } else {
        TRY(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, src_md,
                                                        &wf_any, bias_md, &dst_md, strides, pad_l,
                                                        pad_r));
        TRY(dnnl_primitive_desc_create(&pd, &cd, NULL, e, fwd_pd));
        const dnnl_memory_desc_t *dw_md = query(pd, dnnl_query_diff_weights_md);
        TRY(alloc(&s->diff_w, dw_md, e));
        TRY(dnnl_memory_create(&s->user_diff_w, &user_w_md, e, DNNL_MEMORY_NONE));
        TRY(cr_make_reorder(e, dw_md, &user_w_md, &s->diff_w_reorder));
    }
    if (l->bias) TRY(alloc(&s->diff_b, &b_md, e));
    TRY(finish(pd, &s->bwd_w));
    pd = NULL;
    /* The input's gradient, except for the image's. */
    if (s->input >= 0) {
        TRY(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, src_md,
                                                     &w_any, &dst_md, strides, pad_l, pad_r));
        TRY(dnnl_primitive_desc_create(&pd, &cd, NULL, e, fwd_pd));
        const dnnl_memory_desc_t *wb_md = query(pd, dnnl_query_weights_md);
        TRY(alloc(&s->w_bwd, wb_md, e));
        /* From the forward pass's copy (already in the activations' precision): half the
         * reading in bf16. */
        TRY(cr_make_reorder(e, query(fwd_pd, dnnl_query_weights_md), wb_md, &s->w_bwd_reorder));
        TRY(finish(pd, &s->bwd_d));
        pd = NULL;
        if (accumulates(written, s->input)) {
            TRY(scratch_memory(t, src_md, &s->scratch));
            TRY(make_add(e, src_md, &s->add_input));
        }
    }
forward:
    TRY(dnnl_primitive_create(&s->fwd, fwd_pd));
done:
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
#undef TRY
}

/* The memory holding layer `i`'s output (the image for -1). */
static dnnl_memory_t output_of(cr_train *t, int i) { return i < 0 ? t->src0 : t->steps[i].out; }

cr_train *cr_train_create(const cr_layer *layers, int n, const int64_t *dims, int bf16,
                          char *err, size_t errlen) {
    int layer = -1;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
    dnnl_memory_desc_t *srcs = NULL;
    int *written = NULL;
    int64_t (*shape)[4] = NULL;
    cr_train *t = calloc(1, sizeof(cr_train));
    if (!t) return NULL;
    t->n = n;
    t->steps = calloc((size_t)(n > 0 ? n : 1), sizeof(cr_tstep));
    written = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
    if (!t->steps || !written) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (n < 1 || layers[0].kind != 0) {
        snprintf(err, errlen, "a stack starts with a convolution");
        goto fail;
    }
    CHECK(dnnl_engine_create(&t->engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&t->stream, t->engine, dnnl_stream_default_flags));
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t user_md, act_md;
    CHECK(dnnl_memory_desc_init_by_tag(&user_md, 4, dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&act_md, 4, dims, dt, dnnl_nhwc));
    CHECK(dnnl_memory_create(&t->user_src, &user_md, t->engine, DNNL_MEMORY_NONE));
    CHECK(alloc(&t->src0, &act_md, t->engine));
    CHECK(cr_make_reorder(t->engine, &user_md, &act_md, &t->in_reorder));

    /* Forward primitives in order; which contributions write or add a gradient is decided
     * in backward order, so the layers are planned from the last. The forward shapes come
     * first: a pass over the layers' output shapes. */
    shape = calloc((size_t)n, sizeof(*shape));
    if (!shape) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (layer = 0; layer < n; layer++) {
        const cr_layer *l = &layers[layer];
        cr_tstep *s = &t->steps[layer];
        s->kind = l->kind;
        s->relu = l->kind == 0 && l->relu;
        s->cout = l->cout;
        s->input = l->kind == 0 && l->input >= 0 ? l->input : layer - 1;
        s->residual = l->kind == 0 ? l->residual : -1;
        s->norm = l->kind == 0 && l->norm;
        s->global_stats = s->norm && l->global_stats;
        if (s->input >= layer || s->residual >= layer || (l->kind == 2 && l->n_from < 2)) {
            snprintf(err, errlen, "layer %d reads a layer that is not before it", layer);
            goto fail;
        }
        const int64_t *cur = s->input < 0 ? dims : shape[s->input];
        if (l->kind == 2) {
            memcpy(shape[layer], shape[l->from[0]], sizeof(shape[layer]));
            shape[layer][1] = 0;
            for (int k = 0; k < l->n_from; k++) {
                size_t j = l->from[k];
                if (j >= (size_t)layer || shape[j][0] != shape[layer][0] ||
                    shape[j][2] != shape[layer][2] || shape[j][3] != shape[layer][3]) {
                        snprintf(err, errlen, "layer %d joins outputs that do not fit", layer);
                    goto fail;
                }
                shape[layer][1] += shape[j][1];
            }
        } else {
            int64_t out[4] = {cur[0], l->kind == 0 ? l->cout : cur[1],
                              cr_out_size(cur[2], l->kernel, l->stride, l->pad, l->ceil_mode),
                              cr_out_size(cur[3], l->kernel, l->stride, l->pad, l->ceil_mode)};
            if (out[2] < 1 || out[3] < 1 || (l->kind == 0 && l->cin != cur[1]) ||
                (s->residual >= 0 && memcmp(shape[s->residual], out, sizeof(out)) != 0)) {
                snprintf(err, errlen, "layer %d does not fit its input", layer);
                goto fail;
            }
            memcpy(shape[layer], out, sizeof(out));
        }
    }
    /* Gradients: what reads each output, so that the last reader (first in backward order)
     * writes and the others add; planned in backward order. Layer n-1's gradient is given. */
    written[n - 1] = 1;
    for (layer = n - 1; layer >= 0; layer--) {
        const cr_layer *l = &layers[layer];
        cr_tstep *s = &t->steps[layer];
        const int64_t *cur = s->input < 0 ? dims : shape[s->input];
        dnnl_memory_desc_t src_md, dst_md;
        CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, cur, dt, dnnl_nhwc));
        CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, shape[layer], dt, dnnl_nhwc));
        /* Every reader of this output is after it, so planned by now: no reader, no
         * gradient, and nothing for this layer to hand on. */
        int live = written[layer] > 0;
        if (l->kind == 0) {
            dnnl_status_t st = make_conv(t, l, s, live, &src_md, shape[layer], dt, written);
            if (st != dnnl_success) {
                snprintf(err, errlen, "oneDNN: layer %d's primitives failed with status %d",
                         layer, (int)st);
                goto fail;
            }
        } else if (l->kind == 1) {
            int64_t strides[2] = {l->stride, l->stride};
            int64_t kernel[2] = {l->kernel, l->kernel};
            int64_t dilation[2] = {0, 0};
            int64_t pad_l[2] = {l->pad, l->pad};
            int64_t pad_r[2] = {(shape[layer][2] - 1) * l->stride + l->kernel - cur[2] - l->pad,
                                (shape[layer][3] - 1) * l->stride + l->kernel - cur[3] - l->pad};
            dnnl_pooling_v2_desc_t pool;
            CHECK(dnnl_pooling_v2_forward_desc_init(&pool, dnnl_forward_training, dnnl_pooling_max,
                                                    &src_md, &dst_md, strides, kernel, dilation,
                                                    pad_l, pad_r));
            CHECK(dnnl_primitive_desc_create(&fwd_pd, &pool, NULL, t->engine, NULL));
            CHECK(alloc(&s->conv_dst, &dst_md, t->engine));
            s->out = s->conv_dst;
            CHECK(alloc(&s->ws, query(fwd_pd, dnnl_query_workspace_md), t->engine));
            CHECK(dnnl_pooling_v2_backward_desc_init(&pool, dnnl_pooling_max, &src_md, &dst_md,
                                                     strides, kernel, dilation, pad_l, pad_r));
            CHECK(dnnl_primitive_desc_create(&pd, &pool, NULL, t->engine, fwd_pd));
            CHECK(finish(pd, &s->bwd_d));
            pd = NULL;
            CHECK(dnnl_primitive_create(&s->fwd, fwd_pd));
            dnnl_primitive_desc_destroy(fwd_pd);
            fwd_pd = NULL;
            if (live && accumulates(written, s->input)) {
                CHECK(scratch_memory(t, &src_md, &s->scratch));
                CHECK(make_add(t->engine, &src_md, &s->add_input));
            }
        } else {
            s->n_from = l->n_from;
            s->from = calloc((size_t)l->n_from, sizeof(int));
            s->parts = calloc((size_t)l->n_from, sizeof(dnnl_memory_t));
            s->split = calloc((size_t)l->n_from, sizeof(dnnl_primitive_t));
            srcs = calloc((size_t)l->n_from, sizeof(dnnl_memory_desc_t));
            if (!s->from || !s->parts || !s->split || !srcs) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            int64_t offset[4] = {0, 0, 0, 0};
            for (int k = 0; k < l->n_from; k++) {
                s->from[k] = (int)l->from[k];
                CHECK(dnnl_memory_desc_init_by_tag(&srcs[k], 4, shape[s->from[k]], dt, dnnl_nhwc));
                /* The gradient of source k: its channels of this layer's gradient. */
                dnnl_memory_desc_t part;
                CHECK(dnnl_memory_desc_init_submemory(&part, &dst_md, shape[s->from[k]], offset));
                CHECK(dnnl_memory_create(&s->parts[k], &part, t->engine, DNNL_MEMORY_NONE));
                if (live)
                    CHECK(make_copy(t->engine, &part, &srcs[k],
                                    accumulates(written, s->from[k]), &s->split[k]));
                offset[1] += shape[s->from[k]][1];
            }
            CHECK(dnnl_concat_primitive_desc_create(&pd, &dst_md, l->n_from, 1, srcs, NULL,
                                                    t->engine));
            CHECK(finish(pd, &s->fwd));
            pd = NULL;
            free(srcs);
            srcs = NULL;
            CHECK(alloc(&s->conv_dst, &dst_md, t->engine));
            s->out = s->conv_dst;
        }
    }
    /* A gradient buffer for every output something reads, and for the last. */
    for (layer = 0; layer < n; layer++) {
        if (!written[layer]) continue;
        dnnl_memory_desc_t md;
        CHECK(dnnl_memory_desc_init_by_tag(&md, 4, shape[layer], dt, dnnl_nhwc));
        CHECK(alloc(&t->steps[layer].diff, &md, t->engine));
    }
    layer = n;
    if (t->scratch_size) {
        t->scratch = aligned_alloc(64, (t->scratch_size + 63) / 64 * 64);
        if (!t->scratch) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (int i = 0; i < n; i++)
            if (t->steps[i].scratch)
                CHECK(dnnl_memory_set_data_handle(t->steps[i].scratch, t->scratch));
    }
    for (int i = 0; i < n; i++) {
        cr_tstep *s = &t->steps[i];
        void *data = NULL;
        for (int k = 0; k < s->n_from && s->diff; k++) {
            CHECK(dnnl_memory_get_data_handle(s->diff, &data));
            CHECK(dnnl_memory_set_data_handle(s->parts[k], data));
        }
    }
    dnnl_memory_desc_t out_user_md;
    const dnnl_memory_desc_t *out_md = desc_of(t->steps[n - 1].out);
    CHECK(dnnl_memory_desc_init_by_tag(&out_user_md, 4, shape[n - 1], dnnl_f32, dnnl_nchw));
    free(shape);
    shape = NULL;
    CHECK(dnnl_memory_create(&t->user_out, &out_user_md, t->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&t->user_dout, &out_user_md, t->engine, DNNL_MEMORY_NONE));
    CHECK(cr_make_reorder(t->engine, out_md, &out_user_md, &t->out_reorder));
    CHECK(cr_make_reorder(t->engine, &out_user_md, out_md, &t->dout_reorder));
    free(written);
    return t;

fail:
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    free(srcs);
    free(written);
    free(shape);
    cr_train_destroy(t);
    return NULL;
}

static size_t size_of(dnnl_memory_t m) { return m ? dnnl_memory_desc_get_size(desc_of(m)) : 0; }

/* The memory the training primitives hold: activations, their gradients, packed weights and
 * their gradients, the scratch buffer (not the caller's). */
size_t cr_train_bytes(const cr_train *t) {
    size_t total = t->scratch_size + size_of(t->src0);
    for (int i = 0; i < t->n; i++) {
        const cr_tstep *s = &t->steps[i];
        dnnl_memory_t owned[] = {s->w_fwd,    s->bias,     s->conv_dst,   s->norm_dst, s->add_dst,
                                 s->ws,       s->mean,     s->var,        s->scale,    s->shift,
                                 s->norm_ws,  s->diff,     s->diff_pre,   s->diff_conv,
                                 s->diff_scale, s->diff_shift, s->diff_w, s->diff_b, s->w_bwd};
        for (size_t k = 0; k < sizeof(owned) / sizeof(owned[0]); k++) total += size_of(owned[k]);
    }
    return total;
}

static dnnl_status_t put(dnnl_memory_t m, const float *values, int count) {
    void *data = NULL;
    dnnl_status_t s = dnnl_memory_get_data_handle(m, &data);
    if (s == dnnl_success) {
        if (values)
            memcpy(data, values, sizeof(float) * (size_t)count);
        else
            memset(data, 0, sizeof(float) * (size_t)count);
    }
    return s;
}

static dnnl_status_t take(dnnl_memory_t m, float *values, int count) {
    void *data = NULL;
    dnnl_status_t s = dnnl_memory_get_data_handle(m, &data);
    if (s == dnnl_success && values) memcpy(values, data, sizeof(float) * (size_t)count);
    return s;
}

/* The forward pass with the caller's current weights (`layers`, the same shapes as at
 * creation); the output goes to `output` (f32, nchw), each batch norm's batch mean and
 * (biased) variance to `batch_mean[i]` and `batch_var[i]` (entries NULL where not wanted). */
int cr_train_forward(cr_train *t, const cr_layer *layers, const float *input, float *output,
                     float **batch_mean, float **batch_var, char *err, size_t errlen) {
    int layer = -1;
    CHECK(dnnl_memory_set_data_handle(t->user_src, (void *)input));
    CHECK(cr_run_reorder(t->stream, t->in_reorder, t->user_src, t->src0));
    for (layer = 0; layer < t->n; layer++) {
        cr_tstep *s = &t->steps[layer];
        const cr_layer *l = &layers[layer];
        dnnl_memory_t in = output_of(t, s->input);
        if (s->kind == 1) {
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, s->out},
                                       {DNNL_ARG_WORKSPACE, s->ws}};
            CHECK(dnnl_primitive_execute(s->fwd, t->stream, 3, args));
            continue;
        }
        if (s->kind == 2) {
            dnnl_exec_arg_t args[16];
            int count = 0;
            for (int k = 0; k < s->n_from && k < 15; k++)
                args[count++] = (dnnl_exec_arg_t){DNNL_ARG_MULTIPLE_SRC + k,
                                                  output_of(t, s->from[k])};
            args[count++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->out};
            CHECK(dnnl_primitive_execute(s->fwd, t->stream, count, args));
            continue;
        }
        CHECK(dnnl_memory_set_data_handle(s->user_w, (void *)l->weights));
        CHECK(cr_run_reorder(t->stream, s->w_fwd_reorder, s->user_w, s->w_fwd));
        if (s->bias) CHECK(put(s->bias, l->bias, s->cout));
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, s->w_fwd},
                                   {DNNL_ARG_DST, s->conv_dst}, {DNNL_ARG_BIAS, s->bias}};
        CHECK(dnnl_primitive_execute(s->fwd, t->stream, s->bias ? 4 : 3, args));
        dnnl_memory_t cur = s->conv_dst;
        if (s->norm) {
            CHECK(put(s->scale, l->gamma, s->cout));
            CHECK(put(s->shift, l->beta, s->cout));
            if (s->global_stats) {
                CHECK(put(s->mean, l->running_mean, s->cout));
                CHECK(put(s->var, l->running_var, s->cout));
            }
            dnnl_exec_arg_t nargs[7] = {{DNNL_ARG_SRC, cur},        {DNNL_ARG_DST, s->norm_dst},
                                        {DNNL_ARG_MEAN, s->mean},   {DNNL_ARG_VARIANCE, s->var},
                                        {DNNL_ARG_SCALE, s->scale}, {DNNL_ARG_SHIFT, s->shift},
                                        {DNNL_ARG_WORKSPACE, s->norm_ws}};
            CHECK(dnnl_primitive_execute(s->norm_fwd, t->stream, s->norm_ws ? 7 : 6, nargs));
            cur = s->norm_dst;
        }
        if (s->residual >= 0) {
            dnnl_exec_arg_t aargs[3] = {{DNNL_ARG_SRC_0, cur},
                                        {DNNL_ARG_SRC_1, output_of(t, s->residual)},
                                        {DNNL_ARG_DST, s->add_dst}};
            CHECK(dnnl_primitive_execute(s->add_fwd, t->stream, 3, aargs));
        }
    }
    layer = t->n;
    CHECK(dnnl_memory_set_data_handle(t->user_out, output));
    CHECK(cr_run_reorder(t->stream, t->out_reorder, t->steps[t->n - 1].out, t->user_out));
    CHECK(dnnl_stream_wait(t->stream));
    for (layer = 0; layer < t->n; layer++) {
        cr_tstep *s = &t->steps[layer];
        if (!s->norm || s->global_stats) continue;
        if (batch_mean) CHECK(take(s->mean, batch_mean[layer], s->cout));
        if (batch_var) CHECK(take(s->var, batch_var[layer], s->cout));
    }
    return 0;
fail:
    return -1;
}

/* Hands a gradient computed into `s->scratch` (or straight into the input's, when
 * `add_input` is NULL) on to layer `s->input`'s gradient. */
static dnnl_status_t deliver(cr_train *t, cr_tstep *s) {
    if (!s->add_input) return dnnl_success;
    return run_add(t->stream, s->add_input, t->steps[s->input].diff, s->scratch);
}

/* Where a gradient for layer `s->input` goes first: its own buffer, or the scratch. */
static dnnl_memory_t target(cr_train *t, cr_tstep *s) {
    return s->add_input ? s->scratch : t->steps[s->input].diff;
}

/* The backward pass of the last forward pass: `diff_output` (f32, nchw) is the gradient of the
 * output; each convolution's weight and bias gradients go to `diff_w[i]` (oihw) and
 * `diff_b[i]`, each batch norm's scale and shift gradients to `diff_gamma[i]` and
 * `diff_beta[i]` (NULL entries elsewhere). The weights are the forward pass's (kept in its
 * primitives' layout since). */
int cr_train_backward(cr_train *t, const float *diff_output,
                      float **diff_w, float **diff_b, float **diff_gamma, float **diff_beta,
                      char *err, size_t errlen) {
    int layer = t->n;
    CHECK(dnnl_memory_set_data_handle(t->user_dout, (void *)diff_output));
    CHECK(cr_run_reorder(t->stream, t->dout_reorder, t->user_dout, t->steps[t->n - 1].diff));
    for (layer = t->n - 1; layer >= 0; layer--) {
        cr_tstep *s = &t->steps[layer];
        dnnl_memory_t dd = s->diff;
        if (!dd) continue; /* nothing read this output: no gradient flows through it */
        if (s->kind == 2) {
            for (int k = 0; k < s->n_from; k++)
                CHECK(cr_run_reorder(t->stream, s->split[k], s->parts[k],
                                     t->steps[s->from[k]].diff));
            continue;
        }
        if (s->kind == 1) {
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_SRC, target(t, s)},
                                       {DNNL_ARG_WORKSPACE, s->ws}};
            CHECK(dnnl_primitive_execute(s->bwd_d, t->stream, 3, args));
            CHECK(deliver(t, s));
            continue;
        }
        dnnl_memory_t g = dd;
        if (s->relu_bwd) {
            g = s->relu_into_residual ? t->steps[s->residual].diff : s->diff_pre;
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_DST, s->out}, {DNNL_ARG_DIFF_DST, dd},
                                       {DNNL_ARG_DIFF_SRC, g}};
            CHECK(dnnl_primitive_execute(s->relu_bwd, t->stream, 3, args));
        }
        if (s->to_residual) {
            dnnl_memory_t into = t->steps[s->residual].diff;
            if (s->residual_first)
                CHECK(cr_run_reorder(t->stream, s->to_residual, g, into));
            else
                CHECK(run_add(t->stream, s->to_residual, into, g));
        }
        if (s->norm) {
            dnnl_exec_arg_t nargs[10] = {
                {DNNL_ARG_SRC, s->conv_dst},         {DNNL_ARG_MEAN, s->mean},
                {DNNL_ARG_VARIANCE, s->var},         {DNNL_ARG_SCALE, s->scale},
                {DNNL_ARG_SHIFT, s->shift},          {DNNL_ARG_DIFF_DST, g},
                {DNNL_ARG_DIFF_SRC, s->diff_conv},   {DNNL_ARG_DIFF_SCALE, s->diff_scale},
                {DNNL_ARG_DIFF_SHIFT, s->diff_shift}, {DNNL_ARG_WORKSPACE, s->norm_ws}};
            CHECK(dnnl_primitive_execute(s->norm_bwd, t->stream, s->norm_ws ? 10 : 9, nargs));
            g = s->diff_conv;
        }
        dnnl_memory_t src = output_of(t, s->input);
        CHECK(dnnl_memory_set_data_handle(s->user_diff_w, diff_w[layer]));
        dnnl_exec_arg_t wargs[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, g},
                                    {DNNL_ARG_DIFF_WEIGHTS, s->diff_w ? s->diff_w : s->user_diff_w},
                                    {DNNL_ARG_DIFF_BIAS, s->diff_b}};
        CHECK(dnnl_primitive_execute(s->bwd_w, t->stream, s->diff_b ? 4 : 3, wargs));
        if (s->diff_w_reorder)
            CHECK(cr_run_reorder(t->stream, s->diff_w_reorder, s->diff_w, s->user_diff_w));
        if (s->bwd_d) {
            CHECK(cr_run_reorder(t->stream, s->w_bwd_reorder, s->w_fwd, s->w_bwd));
            dnnl_exec_arg_t dargs[3] = {{DNNL_ARG_DIFF_DST, g}, {DNNL_ARG_WEIGHTS, s->w_bwd},
                                        {DNNL_ARG_DIFF_SRC, target(t, s)}};
            CHECK(dnnl_primitive_execute(s->bwd_d, t->stream, 3, dargs));
            CHECK(deliver(t, s));
        }
        CHECK(dnnl_stream_wait(t->stream));
        if (s->diff_b) CHECK(take(s->diff_b, diff_b[layer], s->cout));
        if (s->norm) {
            CHECK(take(s->diff_scale, diff_gamma ? diff_gamma[layer] : NULL, s->cout));
            CHECK(take(s->diff_shift, diff_beta ? diff_beta[layer] : NULL, s->cout));
        }
    }
    CHECK(dnnl_stream_wait(t->stream));
    return 0;
fail:
    return -1;
}
