/* A convolution stack trained through oneDNN: the forward pass keeps what the backward pass
 * needs (each layer's output, the pools' workspaces), and the backward pass turns the gradient
 * of the stack's output into the gradient of every convolution's weights and bias.
 *
 * The weights stay with the caller (Burn's parameters and optimiser, in f32: the master
 * weights); each step reorders them into the layouts the primitives want, so an optimiser
 * step needs nothing from here. Activations and their gradients are kept channels-last
 * (nhwc), the layout oneDNN's convolutions run fastest in on CPUs, in f32 or bf16; weight
 * gradients are always f32. The first layer's input gradient is not computed: nothing needs
 * it. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct {
    int kind, relu, cout;
    dnnl_primitive_t fwd;
    dnnl_memory_t user_w, w_fwd, bias, dst, ws;
    dnnl_primitive_t w_fwd_reorder;
    dnnl_primitive_t relu_bwd;
    dnnl_memory_t diff_pre;
    dnnl_primitive_t bwd_w, diff_w_reorder;
    dnnl_memory_t diff_w, diff_b, user_diff_w;
    dnnl_primitive_t bwd_d, w_bwd_reorder;
    dnnl_memory_t w_bwd;
    dnnl_memory_t diff_src; /* gradient of this layer's input; NULL for the first layer */
} cr_tstep;

typedef struct cr_train {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int n;
    cr_tstep *steps;
    dnnl_memory_t user_src, src0, user_out, user_dout, dout;
    dnnl_primitive_t in_reorder, out_reorder, dout_reorder;
} cr_train;

static void destroy_prim(dnnl_primitive_t p) { if (p) dnnl_primitive_destroy(p); }
static void destroy_mem(dnnl_memory_t m) { if (m) dnnl_memory_destroy(m); }

void cr_train_destroy(cr_train *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        cr_tstep *s = &t->steps[i];
        destroy_prim(s->fwd); destroy_prim(s->w_fwd_reorder); destroy_prim(s->relu_bwd);
        destroy_prim(s->bwd_w); destroy_prim(s->diff_w_reorder); destroy_prim(s->bwd_d);
        destroy_prim(s->w_bwd_reorder);
        destroy_mem(s->user_w); destroy_mem(s->w_fwd); destroy_mem(s->bias); destroy_mem(s->dst);
        destroy_mem(s->ws); destroy_mem(s->diff_pre); destroy_mem(s->diff_w);
        destroy_mem(s->diff_b); destroy_mem(s->user_diff_w); destroy_mem(s->w_bwd);
        destroy_mem(s->diff_src);
    }
    free(t->steps);
    destroy_prim(t->in_reorder); destroy_prim(t->out_reorder); destroy_prim(t->dout_reorder);
    destroy_mem(t->user_src); destroy_mem(t->src0); destroy_mem(t->user_out);
    destroy_mem(t->user_dout); destroy_mem(t->dout);
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

cr_train *cr_train_create(const cr_layer *layers, int n, const int64_t *dims, int bf16,
                          char *err, size_t errlen) {
    int layer = -1;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL, hint = NULL;
    dnnl_primitive_attr_t attr = NULL;
    cr_train *t = calloc(1, sizeof(cr_train));
    if (!t) return NULL;
    t->n = n;
    t->steps = calloc((size_t)(n > 0 ? n : 1), sizeof(cr_tstep));
    if (!t->steps) {
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
    int64_t cur[4] = {dims[0], dims[1], dims[2], dims[3]};
    dnnl_memory_desc_t user_md, act_md;
    CHECK(dnnl_memory_desc_init_by_tag(&user_md, 4, cur, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&act_md, 4, cur, dt, dnnl_nhwc));
    CHECK(dnnl_memory_create(&t->user_src, &user_md, t->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&t->src0, &act_md, t->engine, DNNL_MEMORY_ALLOCATE));
    CHECK(cr_make_reorder(t->engine, &user_md, &act_md, &t->in_reorder));

    for (layer = 0; layer < n; layer++) {
        const cr_layer *l = &layers[layer];
        cr_tstep *s = &t->steps[layer];
        if (l->kind > 1 || l->input >= 0 || l->residual >= 0) {
            snprintf(err, errlen, "layer %d: training takes a plain chain of layers", layer);
            goto fail;
        }
        s->kind = l->kind;
        s->relu = l->relu;
        s->cout = l->cout;
        int64_t out[4] = {cur[0], l->kind == 0 ? l->cout : cur[1],
                          cr_out_size(cur[2], l->kernel, l->stride, l->pad, l->ceil_mode),
                          cr_out_size(cur[3], l->kernel, l->stride, l->pad, l->ceil_mode)};
        if (out[2] < 1 || out[3] < 1 || (l->kind == 0 && l->cin != cur[1])) {
            snprintf(err, errlen, "layer %d does not fit its input", layer);
            goto fail;
        }
        int64_t strides[2] = {l->stride, l->stride};
        int64_t pad_l[2] = {l->pad, l->pad};
        int64_t pad_r[2] = {(out[2] - 1) * l->stride + l->kernel - cur[2] - l->pad,
                            (out[3] - 1) * l->stride + l->kernel - cur[3] - l->pad};
        dnnl_memory_desc_t src_md, dst_md;
        CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, cur, dt, dnnl_nhwc));
        CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, out, dt, dnnl_nhwc));
        if (layer > 0)
            CHECK(dnnl_memory_create(&s->diff_src, &src_md, t->engine, DNNL_MEMORY_ALLOCATE));
        if (l->kind == 0) {
            int64_t wdims[4] = {l->cout, l->cin, l->kernel, l->kernel};
            int64_t bdims[1] = {l->cout};
            dnnl_memory_desc_t w_any, wf_any, b_md, user_w_md;
            CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wdims, dt, dnnl_format_tag_any));
            CHECK(dnnl_memory_desc_init_by_tag(&wf_any, 4, wdims, dnnl_f32, dnnl_format_tag_any));
            CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x));
            CHECK(dnnl_memory_desc_init_by_tag(&user_w_md, 4, wdims, dnnl_f32, dnnl_oihw));
            /* Forward, keeping its output for the ReLU's backward pass. */
            dnnl_convolution_desc_t cd;
            CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training,
                                                     dnnl_convolution_direct, &src_md, &w_any,
                                                     &b_md, &dst_md, strides, pad_l, pad_r));
            CHECK(cr_relu_attr(l->relu, &attr));
            CHECK(dnnl_primitive_desc_create(&fwd_pd, &cd, attr, t->engine, NULL));
            dnnl_primitive_attr_destroy(attr);
            attr = NULL;
            CHECK(dnnl_memory_create(&s->user_w, &user_w_md, t->engine, DNNL_MEMORY_NONE));
            CHECK(dnnl_memory_create(&s->w_fwd, query(fwd_pd, dnnl_query_weights_md), t->engine,
                                     DNNL_MEMORY_ALLOCATE));
            CHECK(cr_make_reorder(t->engine, &user_w_md, query(fwd_pd, dnnl_query_weights_md),
                                  &s->w_fwd_reorder));
            CHECK(dnnl_memory_create(&s->bias, &b_md, t->engine, DNNL_MEMORY_ALLOCATE));
            CHECK(dnnl_memory_create(&s->dst, &dst_md, t->engine, DNNL_MEMORY_ALLOCATE));
            /* The ReLU's backward pass from its output. */
            if (l->relu) {
                dnnl_eltwise_desc_t ed;
                CHECK(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
                                                     dnnl_eltwise_relu_use_dst_for_bwd, &dst_md,
                                                     0.0f, 0.0f));
                CHECK(dnnl_primitive_desc_create(&hint, &ed, NULL, t->engine, NULL));
                CHECK(dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd,
                                                      &dst_md, &dst_md, 0.0f, 0.0f));
                CHECK(dnnl_primitive_desc_create(&pd, &ed, NULL, t->engine, hint));
                dnnl_primitive_desc_destroy(hint);
                hint = NULL;
                CHECK(finish(pd, &s->relu_bwd));
                pd = NULL;
                CHECK(dnnl_memory_create(&s->diff_pre, &dst_md, t->engine, DNNL_MEMORY_ALLOCATE));
            }
            /* Weight and bias gradients, in f32. */
            CHECK(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct,
                                                              &src_md, &wf_any, &b_md, &dst_md,
                                                              strides, pad_l, pad_r));
            CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, t->engine, fwd_pd));
            const dnnl_memory_desc_t *dw_md = query(pd, dnnl_query_diff_weights_md);
            CHECK(dnnl_memory_create(&s->diff_w, dw_md, t->engine, DNNL_MEMORY_ALLOCATE));
            CHECK(dnnl_memory_create(&s->user_diff_w, &user_w_md, t->engine, DNNL_MEMORY_NONE));
            CHECK(cr_make_reorder(t->engine, dw_md, &user_w_md, &s->diff_w_reorder));
            CHECK(dnnl_memory_create(&s->diff_b, &b_md, t->engine, DNNL_MEMORY_ALLOCATE));
            CHECK(finish(pd, &s->bwd_w));
            pd = NULL;
            /* The input's gradient, except for the first layer. */
            if (layer > 0) {
                CHECK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct,
                                                               &src_md, &w_any, &dst_md, strides,
                                                               pad_l, pad_r));
                CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, t->engine, fwd_pd));
                const dnnl_memory_desc_t *wb_md = query(pd, dnnl_query_weights_md);
                CHECK(dnnl_memory_create(&s->w_bwd, wb_md, t->engine, DNNL_MEMORY_ALLOCATE));
                CHECK(cr_make_reorder(t->engine, &user_w_md, wb_md, &s->w_bwd_reorder));
                CHECK(finish(pd, &s->bwd_d));
                pd = NULL;
            }
        } else {
            dnnl_pooling_v2_desc_t pool;
            int64_t kernel[2] = {l->kernel, l->kernel};
            int64_t dilation[2] = {0, 0};
            CHECK(dnnl_pooling_v2_forward_desc_init(&pool, dnnl_forward_training, dnnl_pooling_max,
                                                    &src_md, &dst_md, strides, kernel, dilation,
                                                    pad_l, pad_r));
            CHECK(dnnl_primitive_desc_create(&fwd_pd, &pool, NULL, t->engine, NULL));
            CHECK(dnnl_memory_create(&s->dst, &dst_md, t->engine, DNNL_MEMORY_ALLOCATE));
            CHECK(dnnl_memory_create(&s->ws, query(fwd_pd, dnnl_query_workspace_md), t->engine,
                                     DNNL_MEMORY_ALLOCATE));
            CHECK(dnnl_pooling_v2_backward_desc_init(&pool, dnnl_pooling_max, &src_md, &dst_md,
                                                     strides, kernel, dilation, pad_l, pad_r));
            CHECK(dnnl_primitive_desc_create(&pd, &pool, NULL, t->engine, fwd_pd));
            CHECK(finish(pd, &s->bwd_d));
            pd = NULL;
        }
        CHECK(dnnl_primitive_create(&s->fwd, fwd_pd));
        dnnl_primitive_desc_destroy(fwd_pd);
        fwd_pd = NULL;
        memcpy(cur, out, sizeof(cur));
    }
    layer = n;
    dnnl_memory_desc_t out_user_md, out_md;
    CHECK(dnnl_memory_desc_init_by_tag(&out_user_md, 4, cur, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&out_md, 4, cur, dt, dnnl_nhwc));
    CHECK(dnnl_memory_create(&t->user_out, &out_user_md, t->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&t->user_dout, &out_user_md, t->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&t->dout, &out_md, t->engine, DNNL_MEMORY_ALLOCATE));
    CHECK(cr_make_reorder(t->engine, &out_md, &out_user_md, &t->out_reorder));
    CHECK(cr_make_reorder(t->engine, &out_user_md, &out_md, &t->dout_reorder));
    return t;

fail:
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (hint) dnnl_primitive_desc_destroy(hint);
    if (attr) dnnl_primitive_attr_destroy(attr);
    cr_train_destroy(t);
    return NULL;
}

/* The forward pass with the caller's current weights (`layers`, the same shapes as at
 * creation); the stack's output goes to `output` (f32, nchw). */
int cr_train_forward(cr_train *t, const cr_layer *layers, const float *input, float *output,
                     char *err, size_t errlen) {
    int layer = -1;
    CHECK(dnnl_memory_set_data_handle(t->user_src, (void *)input));
    CHECK(cr_run_reorder(t->stream, t->in_reorder, t->user_src, t->src0));
    dnnl_memory_t cur = t->src0;
    for (layer = 0; layer < t->n; layer++) {
        cr_tstep *s = &t->steps[layer];
        if (s->kind == 0) {
            CHECK(dnnl_memory_set_data_handle(s->user_w, (void *)layers[layer].weights));
            CHECK(cr_run_reorder(t->stream, s->w_fwd_reorder, s->user_w, s->w_fwd));
            void *bias = NULL;
            CHECK(dnnl_memory_get_data_handle(s->bias, &bias));
            if (layers[layer].bias)
                memcpy(bias, layers[layer].bias, sizeof(float) * (size_t)s->cout);
            else
                memset(bias, 0, sizeof(float) * (size_t)s->cout);
            dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, cur}, {DNNL_ARG_WEIGHTS, s->w_fwd},
                                       {DNNL_ARG_BIAS, s->bias}, {DNNL_ARG_DST, s->dst}};
            CHECK(dnnl_primitive_execute(s->fwd, t->stream, 4, args));
        } else {
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, s->dst},
                                       {DNNL_ARG_WORKSPACE, s->ws}};
            CHECK(dnnl_primitive_execute(s->fwd, t->stream, 3, args));
        }
        cur = s->dst;
    }
    layer = t->n;
    CHECK(dnnl_memory_set_data_handle(t->user_out, output));
    CHECK(cr_run_reorder(t->stream, t->out_reorder, cur, t->user_out));
    CHECK(dnnl_stream_wait(t->stream));
    return 0;
fail:
    return -1;
}

/* The backward pass of the last forward pass: `diff_output` (f32, nchw) is the gradient of the
 * stack's output; each convolution's weight and bias gradients go to `diff_w[i]` (oihw) and
 * `diff_b[i]` (NULL entries for pools). The weights must be those of the forward pass. */
int cr_train_backward(cr_train *t, const cr_layer *layers, const float *diff_output,
                      float **diff_w, float **diff_b, char *err, size_t errlen) {
    int layer = t->n;
    CHECK(dnnl_memory_set_data_handle(t->user_dout, (void *)diff_output));
    CHECK(cr_run_reorder(t->stream, t->dout_reorder, t->user_dout, t->dout));
    for (layer = t->n - 1; layer >= 0; layer--) {
        cr_tstep *s = &t->steps[layer];
        dnnl_memory_t dd = layer == t->n - 1 ? t->dout : t->steps[layer + 1].diff_src;
        dnnl_memory_t src = layer == 0 ? t->src0 : t->steps[layer - 1].dst;
        if (s->kind == 1) {
            if (s->diff_src) {
                dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_SRC, s->diff_src},
                                           {DNNL_ARG_WORKSPACE, s->ws}};
                CHECK(dnnl_primitive_execute(s->bwd_d, t->stream, 3, args));
            }
            continue;
        }
        dnnl_memory_t g = dd;
        if (s->relu) {
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_DST, s->dst}, {DNNL_ARG_DIFF_DST, dd},
                                       {DNNL_ARG_DIFF_SRC, s->diff_pre}};
            CHECK(dnnl_primitive_execute(s->relu_bwd, t->stream, 3, args));
            g = s->diff_pre;
        }
        dnnl_exec_arg_t wargs[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, g},
                                    {DNNL_ARG_DIFF_WEIGHTS, s->diff_w}, {DNNL_ARG_DIFF_BIAS, s->diff_b}};
        CHECK(dnnl_primitive_execute(s->bwd_w, t->stream, 4, wargs));
        CHECK(dnnl_memory_set_data_handle(s->user_diff_w, diff_w[layer]));
        CHECK(cr_run_reorder(t->stream, s->diff_w_reorder, s->diff_w, s->user_diff_w));
        if (s->bwd_d) {
            CHECK(dnnl_memory_set_data_handle(s->user_w, (void *)layers[layer].weights));
            CHECK(cr_run_reorder(t->stream, s->w_bwd_reorder, s->user_w, s->w_bwd));
            dnnl_exec_arg_t dargs[3] = {{DNNL_ARG_DIFF_DST, g}, {DNNL_ARG_WEIGHTS, s->w_bwd},
                                        {DNNL_ARG_DIFF_SRC, s->diff_src}};
            CHECK(dnnl_primitive_execute(s->bwd_d, t->stream, 3, dargs));
        }
        CHECK(dnnl_stream_wait(t->stream));
        void *db = NULL;
        CHECK(dnnl_memory_get_data_handle(s->diff_b, &db));
        memcpy(diff_b[layer], db, sizeof(float) * (size_t)s->cout);
    }
    CHECK(dnnl_stream_wait(t->stream));
    return 0;
fail:
    return -1;
}
