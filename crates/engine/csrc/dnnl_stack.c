/* A backbone (convolutions with residual additions and ReLUs, max pools, concatenations) run
 * by oneDNN for inference.
 *
 * The Rust side (src/dnnl/) describes the layers and owns the weights; this file builds one
 * oneDNN primitive per layer for a fixed input shape, lets oneDNN choose the activations'
 * layout (format "any"), packs the weights once into the layout the convolution wants, fuses
 * the ReLU and a residual addition into the convolution as post-ops (`sum`, then `relu`: the
 * shortcut is summed into the destination in place when nothing reads it afterwards) and
 * reorders only where two layers disagree on a layout. Activations live in a few buffers
 * reused as soon as the last layer reading one has run, so a deep network's memory is its
 * widest few layers, not the sum of all of them. Written in C because oneDNN's C API passes
 * its descriptors by value in structs whose layout the header defines; compiling against the
 * header keeps the binding exact. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct {
    dnnl_primitive_t reorder;     /* the input into this layer's layout, or NULL */
    dnnl_memory_t src;            /* the reordered input */
    dnnl_primitive_t add_reorder; /* the residual copied into dst first; NULL when in place */
    dnnl_primitive_t prim;
    dnnl_memory_t weights, bias, dst;
    int kind, input, residual; /* input: the layer read, -1 for the image */
    int n_from;
    int *from;
    int src_buffer, dst_buffer; /* the activation buffers behind src and dst, or -1 */
    int held;                   /* the buffer this layer's output still holds, or -1 */
} cr_step;

typedef struct {
    void *data;
    size_t size;
    int in_use;
} cr_buffer;

typedef struct cr_stack {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int n;
    cr_step *steps;
    int n_buffers;
    cr_buffer *buffers; /* at most two per layer */
    dnnl_memory_t user_src, user_dst, first_src;
    dnnl_primitive_t in_reorder, out_reorder;
} cr_stack;

void cr_stack_destroy(cr_stack *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        cr_step *s = &st->steps[i];
        if (s->reorder) dnnl_primitive_destroy(s->reorder);
        if (s->add_reorder) dnnl_primitive_destroy(s->add_reorder);
        if (s->src) dnnl_memory_destroy(s->src);
        if (s->prim) dnnl_primitive_destroy(s->prim);
        if (s->weights) dnnl_memory_destroy(s->weights);
        if (s->bias) dnnl_memory_destroy(s->bias);
        if (s->dst) dnnl_memory_destroy(s->dst);
        free(s->from);
    }
    free(st->steps);
    for (int i = 0; i < st->n_buffers; i++) free(st->buffers[i].data);
    free(st->buffers);
    if (st->in_reorder) dnnl_primitive_destroy(st->in_reorder);
    if (st->out_reorder) dnnl_primitive_destroy(st->out_reorder);
    if (st->user_src) dnnl_memory_destroy(st->user_src);
    if (st->user_dst) dnnl_memory_destroy(st->user_dst);
    if (st->first_src) dnnl_memory_destroy(st->first_src);
    if (st->stream) dnnl_stream_destroy(st->stream);
    if (st->engine) dnnl_engine_destroy(st->engine);
    free(st);
}

/* A memory of layout `md` in a free activation buffer (the smallest that fits; the largest
 * free one grown, or a new one, when none does); its buffer's index into `*buffer`. Buffers
 * are only sized here: `allocate_buffers` gives them their memory once every layer is planned,
 * so that growing one never leaves an earlier layer pointing at freed memory. */
static dnnl_status_t take_memory(cr_stack *st, const dnnl_memory_desc_t *md, dnnl_memory_t *mem,
                                 int *buffer) {
    size_t size = dnnl_memory_desc_get_size(md);
    int best = -1, spare = -1;
    for (int i = 0; i < st->n_buffers; i++) {
        cr_buffer *b = &st->buffers[i];
        if (b->in_use) continue;
        if (b->size >= size && (best < 0 || b->size < st->buffers[best].size)) best = i;
        if (spare < 0 || b->size > st->buffers[spare].size) spare = i;
    }
    if (best < 0) {
        best = spare >= 0 ? spare : st->n_buffers++;
        st->buffers[best].size = size;
    }
    st->buffers[best].in_use = 1;
    *buffer = best;
    return dnnl_memory_create(mem, md, st->engine, DNNL_MEMORY_NONE);
}

/* Memory for every activation buffer, handed to the layers' memories that live in them. */
static dnnl_status_t allocate_buffers(cr_stack *st) {
    for (int i = 0; i < st->n_buffers; i++) {
        cr_buffer *b = &st->buffers[i];
        b->data = aligned_alloc(64, (b->size + 63) / 64 * 64);
        if (!b->data) return dnnl_out_of_memory;
    }
    for (int i = 0; i < st->n; i++) {
        cr_step *s = &st->steps[i];
        dnnl_status_t r = dnnl_success;
        if (s->src_buffer >= 0)
            r = dnnl_memory_set_data_handle(s->src, st->buffers[s->src_buffer].data);
        if (r == dnnl_success)
            r = dnnl_memory_set_data_handle(s->dst, st->buffers[s->dst_buffer].data);
        if (r != dnnl_success) return r;
    }
    return dnnl_success;
}

static void give_buffer(cr_stack *st, int *buffer) {
    if (*buffer >= 0) st->buffers[*buffer].in_use = 0;
    *buffer = -1;
}

/* A convolution's primitive descriptor: Winograd's algorithm for 3x3 stride-1 convolutions
 * where oneDNN has it (f32: 2.25x fewer multiplications, measured 20-30 % faster for MRNet),
 * direct otherwise; the destination in layout `want` when given and the kernels take it
 * (for an in-place residual), in their own choice otherwise. */
static dnnl_status_t conv_pd(dnnl_engine_t engine, const cr_layer *l, int bf16,
                             const dnnl_memory_desc_t *src_md, const dnnl_memory_desc_t *w_md,
                             const dnnl_memory_desc_t *b_md, const dnnl_memory_desc_t *any_dst,
                             const dnnl_memory_desc_t *want, const int64_t *strides,
                             const int64_t *pad_l, const int64_t *pad_r,
                             dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd) {
    int winograd = l->kernel == 3 && l->stride == 1 && !bf16;
    dnnl_status_t s = dnnl_unimplemented;
    for (int algo = winograd ? 0 : 1; algo < 2; algo++) {
        for (int forced = want ? 0 : 1; forced < 2; forced++) {
            dnnl_convolution_desc_t cd;
            s = dnnl_convolution_forward_desc_init(
                &cd, dnnl_forward_inference,
                algo == 0 ? dnnl_convolution_winograd : dnnl_convolution_direct, src_md, w_md,
                b_md, forced == 0 ? want : any_dst, strides, pad_l, pad_r);
            if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &cd, attr, engine, NULL);
            if (s == dnnl_success) return s;
        }
    }
    return s;
}

/* Attributes for a convolution: the residual summed into the destination, then the ReLU. */
static dnnl_status_t conv_attr(int residual, int relu, dnnl_primitive_attr_t *attr) {
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success || (!relu && !residual)) return s;
    dnnl_post_ops_t ops;
    s = dnnl_post_ops_create(&ops);
    if (s != dnnl_success) return s;
    if (residual) s = dnnl_post_ops_append_sum(ops, 1.0f);
    if (s == dnnl_success && relu)
        s = dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(*attr, ops);
    dnnl_post_ops_destroy(ops);
    return s;
}

/* The memory holding layer `i`'s output (the reordered image for -1). */
static dnnl_memory_t output_of(cr_stack *st, int i) {
    return i < 0 ? st->first_src : st->steps[i].dst;
}

static const dnnl_memory_desc_t *desc_of(dnnl_memory_t m) {
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_get_memory_desc(m, &md);
    return md;
}

/* The weights, packed once into the convolution's own layout, and the bias. */
static dnnl_status_t pack_weights(cr_stack *st, const cr_layer *l, dnnl_primitive_desc_t pd,
                                  cr_step *step) {
    int64_t wdims[4] = {l->cout, l->cin, l->kernel, l->kernel};
    int64_t bdims[1] = {l->cout};
    dnnl_memory_desc_t user_w_md, b_md;
    dnnl_memory_t user_weights = NULL;
    dnnl_primitive_t reorder = NULL;
    const dnnl_memory_desc_t *got_w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&user_w_md, 4, wdims, dnnl_f32, dnnl_oihw);
    if (s == dnnl_success) s = dnnl_memory_create(&step->weights, got_w, st->engine, DNNL_MEMORY_ALLOCATE);
    if (s == dnnl_success) s = dnnl_memory_create(&user_weights, &user_w_md, st->engine, (void *)l->weights);
    if (s == dnnl_success) s = cr_make_reorder(st->engine, &user_w_md, got_w, &reorder);
    if (s == dnnl_success) s = cr_run_reorder(st->stream, reorder, user_weights, step->weights);
    if (s == dnnl_success) s = dnnl_stream_wait(st->stream);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (user_weights) dnnl_memory_destroy(user_weights);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x);
    if (s == dnnl_success) s = dnnl_memory_create(&step->bias, &b_md, st->engine, DNNL_MEMORY_ALLOCATE);
    void *bias = NULL;
    if (s == dnnl_success) s = dnnl_memory_get_data_handle(step->bias, &bias);
    if (s != dnnl_success) return s;
    if (l->bias)
        memcpy(bias, l->bias, sizeof(float) * (size_t)l->cout);
    else
        memset(bias, 0, sizeof(float) * (size_t)l->cout);
    return dnnl_success;
}

cr_stack *cr_stack_create(const cr_layer *layers, int n, const int64_t *dims, int bf16,
                          char *err, size_t errlen) {
    int layer = -1;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    cr_stack *st = calloc(1, sizeof(cr_stack));
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->steps = calloc((size_t)(n > 0 ? n : 1), sizeof(cr_step));
    st->buffers = calloc((size_t)(2 * n + 2), sizeof(cr_buffer));
    st->n = n;
    if (!st->steps || !st->buffers) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (n < 1 || layers[0].kind != 0) {
        snprintf(err, errlen, "a stack starts with a convolution");
        goto fail;
    }
    CHECK(dnnl_engine_create(&st->engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st->stream, st->engine, dnnl_stream_default_flags));
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;

    dnnl_memory_desc_t user_md;
    CHECK(dnnl_memory_desc_init_by_tag(&user_md, 4, dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_create(&st->user_src, &user_md, st->engine, DNNL_MEMORY_NONE));

    for (layer = 0; layer < n; layer++) {
        const cr_layer *l = &layers[layer];
        cr_step *step = &st->steps[layer];
        step->kind = l->kind;
        step->src_buffer = step->dst_buffer = step->held = -1;
        step->residual = l->kind == 0 ? l->residual : -1;
        step->input = l->kind == 0 && l->input >= 0 ? l->input : layer - 1;
        if (step->input >= layer || step->residual >= layer ||
            (l->kind == 2 && (l->n_from < 2 || l->n_from > 15))) {
            snprintf(err, errlen, "layer %d reads a layer that is not before it", layer);
            goto fail;
        }
        /* The image's shape for the first layer, else the output shape of the layer read. */
        int64_t cur[4] = {dims[0], dims[1], dims[2], dims[3]};
        const dnnl_memory_desc_t *in_md = layer == 0 ? NULL : desc_of(output_of(st, step->input));
        if (in_md) memcpy(cur, in_md->dims, sizeof(cur));
        if (l->kind == 2) {
            step->n_from = l->n_from;
            step->from = calloc((size_t)l->n_from, sizeof(int));
            dnnl_memory_desc_t *srcs = calloc((size_t)l->n_from, sizeof(dnnl_memory_desc_t));
            if (!step->from || !srcs) {
                free(srcs);
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            for (int k = 0; k < l->n_from; k++) {
                step->from[k] = (int)l->from[k];
                if (step->from[k] >= layer) {
                    free(srcs);
                    snprintf(err, errlen, "layer %d reads a layer that is not before it", layer);
                    goto fail;
                }
                srcs[k] = *desc_of(st->steps[step->from[k]].dst);
            }
            dnnl_status_t s = dnnl_concat_primitive_desc_create(&pd, NULL, l->n_from, 1, srcs,
                                                                NULL, st->engine);
            free(srcs);
            CHECK(s);
        } else {
            int64_t out[4] = {cur[0], l->kind == 0 ? l->cout : cur[1],
                              cr_out_size(cur[2], l->kernel, l->stride, l->pad, l->ceil_mode),
                              cr_out_size(cur[3], l->kernel, l->stride, l->pad, l->ceil_mode)};
            if (out[2] < 1 || out[3] < 1) {
                snprintf(err, errlen, "layer %d: the input is too small for its kernel", layer);
                goto fail;
            }
            int64_t strides[2] = {l->stride, l->stride};
            int64_t pad_l[2] = {l->pad, l->pad};
            int64_t pad_r[2] = {(out[2] - 1) * l->stride + l->kernel - cur[2] - l->pad,
                                (out[3] - 1) * l->stride + l->kernel - cur[3] - l->pad};
            dnnl_memory_desc_t dst_md;
            CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, out, dt, dnnl_format_tag_any));
            if (l->kind == 0) {
                if (l->cin != cur[1]) {
                    snprintf(err, errlen, "layer %d expects %d channels, gets %lld", layer,
                             l->cin, (long long)cur[1]);
                    goto fail;
                }
                dnnl_memory_desc_t src_md, w_md, b_md;
                int64_t wdims[4] = {l->cout, l->cin, l->kernel, l->kernel};
                int64_t bdims[1] = {l->cout};
                CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, cur, dt, dnnl_format_tag_any));
                CHECK(dnnl_memory_desc_init_by_tag(&w_md, 4, wdims, dt, dnnl_format_tag_any));
                CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x));
                const dnnl_memory_desc_t *want = NULL;
                if (step->residual >= 0) {
                    want = desc_of(st->steps[step->residual].dst);
                    if (memcmp(want->dims, out, sizeof(out)) != 0) {
                        snprintf(err, errlen, "layer %d adds an output of another shape", layer);
                        goto fail;
                    }
                }
                CHECK(conv_attr(step->residual >= 0, l->relu, &attr));
                CHECK(conv_pd(st->engine, l, bf16, &src_md, &w_md, &b_md, &dst_md, want, strides,
                              pad_l, pad_r, attr, &pd));
                dnnl_primitive_attr_destroy(attr);
                attr = NULL;
                const dnnl_memory_desc_t *got_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
                if (layer == 0) {
                    CHECK(dnnl_memory_create(&st->first_src, got_src, st->engine, DNNL_MEMORY_ALLOCATE));
                    CHECK(cr_make_reorder(st->engine, &user_md, got_src, &st->in_reorder));
                } else if (!dnnl_memory_desc_equal(in_md, got_src)) {
                    CHECK(take_memory(st, got_src, &step->src, &step->src_buffer));
                    CHECK(cr_make_reorder(st->engine, in_md, got_src, &step->reorder));
                }
                CHECK(pack_weights(st, l, pd, step));
            } else {
                dnnl_pooling_v2_desc_t pool;
                int64_t kernel[2] = {l->kernel, l->kernel};
                int64_t dilation[2] = {0, 0};
                CHECK(dnnl_pooling_v2_forward_desc_init(&pool, dnnl_forward_inference,
                                                        dnnl_pooling_max, in_md, &dst_md,
                                                        strides, kernel, dilation, pad_l, pad_r));
                CHECK(dnnl_primitive_desc_create(&pd, &pool, NULL, st->engine, NULL));
            }
        }
        const dnnl_memory_desc_t *got_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        cr_step *res = step->residual >= 0 ? &st->steps[step->residual] : NULL;
        if (res && layers[step->residual].last_read == layer && step->residual != step->input &&
            dnnl_memory_desc_equal(desc_of(res->dst), got_dst)) {
            /* Summed in place: this layer's output takes over the shortcut's buffer. */
            CHECK(dnnl_memory_create(&step->dst, got_dst, st->engine, DNNL_MEMORY_NONE));
            step->dst_buffer = step->held = res->held;
            res->held = -1;
        } else {
            CHECK(take_memory(st, got_dst, &step->dst, &step->dst_buffer));
            step->held = step->dst_buffer;
            if (res) CHECK(cr_make_reorder(st->engine, desc_of(res->dst), got_dst, &step->add_reorder));
        }
        CHECK(dnnl_primitive_create(&step->prim, pd));
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        /* Buffers nothing reads any more go back to be reused by the layers after. */
        int temp = step->src_buffer;
        give_buffer(st, &temp);
        for (int j = 0; j < layer; j++)
            if (layers[j].last_read == layer) give_buffer(st, &st->steps[j].held);
    }
    layer = n;
    CHECK(allocate_buffers(st));
    const dnnl_memory_desc_t *last_md = desc_of(st->steps[n - 1].dst);
    dnnl_memory_desc_t out_md;
    CHECK(dnnl_memory_desc_init_by_tag(&out_md, 4, last_md->dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_create(&st->user_dst, &out_md, st->engine, DNNL_MEMORY_NONE));
    CHECK(cr_make_reorder(st->engine, last_md, &out_md, &st->out_reorder));
    return st;

fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    cr_stack_destroy(st);
    return NULL;
}

int cr_stack_run(cr_stack *st, const float *input, float *output, char *err, size_t errlen) {
    int layer = -1;
    CHECK(dnnl_memory_set_data_handle(st->user_src, (void *)input));
    CHECK(dnnl_memory_set_data_handle(st->user_dst, output));
    CHECK(cr_run_reorder(st->stream, st->in_reorder, st->user_src, st->first_src));
    for (layer = 0; layer < st->n; layer++) {
        cr_step *s = &st->steps[layer];
        dnnl_memory_t in = output_of(st, s->input);
        if (s->reorder) {
            CHECK(cr_run_reorder(st->stream, s->reorder, in, s->src));
            in = s->src;
        }
        if (s->add_reorder)
            CHECK(cr_run_reorder(st->stream, s->add_reorder, st->steps[s->residual].dst, s->dst));
        if (s->kind == 0) {
            dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, s->weights},
                                       {DNNL_ARG_BIAS, s->bias}, {DNNL_ARG_DST, s->dst}};
            CHECK(dnnl_primitive_execute(s->prim, st->stream, 4, args));
        } else if (s->kind == 1) {
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, s->dst}};
            CHECK(dnnl_primitive_execute(s->prim, st->stream, 2, args));
        } else {
            dnnl_exec_arg_t args[16];
            int count = 0;
            for (int k = 0; k < s->n_from && k < 15; k++)
                args[count++] = (dnnl_exec_arg_t){DNNL_ARG_MULTIPLE_SRC + k, st->steps[s->from[k]].dst};
            args[count++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->dst};
            CHECK(dnnl_primitive_execute(s->prim, st->stream, count, args));
        }
    }
    layer = st->n;
    CHECK(cr_run_reorder(st->stream, st->out_reorder, st->steps[st->n - 1].dst, st->user_dst));
    CHECK(dnnl_stream_wait(st->stream));
    return 0;
fail:
    return -1;
}

/* The instruction set oneDNN's kernels use on this CPU (dnnl_cpu_isa_t). */
int cr_cpu_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

/* oneDNN's version as major * 10000 + minor * 100 + patch. */
int cr_version(void) {
    const dnnl_version_t *v = dnnl_version();
    return v->major * 10000 + v->minor * 100 + v->patch;
}
