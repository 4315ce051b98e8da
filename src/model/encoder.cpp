// BERT encoder forward on a packed batch (see encoder.hpp).
#include "model/encoder.hpp"

#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <exception>

#include "core/threading.hpp"
#include "kernels/fused.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "kernels/spmm/spmm.hpp"
#include "model/attention.hpp"
#include "model/attention_s8.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

struct AttentionScratch;  // thread_scratch tag: each thread's attention scores and packed tiles

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

void expect_shape(const Tensor& t, std::vector<int64_t> shape, const std::string& what) {
    if (t.shape != shape)
        throw Error("tensor " + (t.name.empty() ? what : t.name) + ": expected shape " +
                    shape_str(shape) + ", found " + shape_str(t.shape));
}

// Runs fn(begin, end) over [0, rows) split across the threads (one chunk when small).
template <typename Fn>
void parallel_rows(int64_t rows, int64_t cols, Fn fn) {
    const int64_t threads = std::max<int64_t>(1, rows * cols / 16384);
    parallel_ranges(rows, static_cast<int>(std::min<int64_t>(num_threads(), threads)), fn);
}

// dst = layer_norm(src + residual) (residual may be null; dst may alias either).
void layer_norm_rows(const float* src, const float* residual, const float* g, const float* b,
                     float* dst, int64_t rows, int64_t cols, float eps) {
    parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) {
        layer_norm(src + r0 * cols, residual ? residual + r0 * cols : nullptr, g, b,
                   dst + r0 * cols, r1 - r0, cols, eps);
    });
}

int64_t longest_sequence(const PackedBatch& batch) {
    int64_t max_len = 0;
    for (int64_t s = 0; s < batch.num_sequences(); ++s)
        max_len = std::max(max_len, batch.offsets[s + 1] - batch.offsets[s]);
    return max_len;
}

// Sequences [s0, s1) of `batch` as a batch of their own.
PackedBatch slice_sequences(const PackedBatch& batch, int64_t s0, int64_t s1) {
    PackedBatch part;
    const int64_t t0 = batch.offsets[s0], t1 = batch.offsets[s1];
    part.input_ids.assign(batch.input_ids.begin() + t0, batch.input_ids.begin() + t1);
    part.token_type_ids.assign(batch.token_type_ids.begin() + t0, batch.token_type_ids.begin() + t1);
    for (int64_t s = s0; s <= s1; ++s) part.offsets.push_back(batch.offsets[s] - t0);
    return part;
}

// Where the fused QKV kernel left each head's Q, K and V: token-major [tokens][Q | K | V] (each
// hidden wide, heads side by side; LinearKernel::run), or head-major [heads][tokens][q | k | v]
// (each d wide; run_by_units with sections 3 and units heads).
struct QkvLayout {
    const float* base;
    int64_t tokens, h, d;
    bool head_major;
    bool v_only = false;  // base: V alone, head-major [heads][tokens][d] (S8QK8::v)
    int64_t ld() const { return v_only ? d : head_major ? 3 * d : 3 * h; }
    // Rows of token `off` for `head`: Q at [0], K at k_off(), V at 2 * k_off() (v_only: all V).
    const float* q(int64_t off, int64_t head) const {
        return v_only       ? base + (head * tokens + off) * d
               : head_major ? base + (head * tokens + off) * 3 * d
                            : base + off * 3 * h + head * d;
    }
    int64_t k_off() const { return v_only ? 0 : head_major ? d : h; }
};

// One thread's share of for_each_head (below): thread `thread` of `threads` runs heads
// split_range(heads, threads, thread) of every sequence when static_heads, else claims jobs from
// `claimed` (shared by the threads) with one job of lookahead.
template <typename Fn>
void heads_of_thread(const PackedBatch& batch, int64_t heads, const QkvLayout& qkv,
                     bool static_heads, int thread, int threads, std::atomic<int64_t>& claimed,
                     Fn& fn) {
    const int64_t seqs = batch.num_sequences(), jobs = seqs * heads, ko = qkv.k_off();
    auto run = [&](int64_t job, int64_t following) {
        const int64_t s = job / heads, head = job % heads;
        const int64_t off = batch.offsets[s], len = batch.offsets[s + 1] - off;
        AttentionNext next{};
        if (following < jobs) {
            const int64_t s2 = following / heads, head2 = following % heads;
            const int64_t off2 = batch.offsets[s2];
            next.q = qkv.q(off2, head2);
            next.k = next.q + ko;
            next.v = next.q + 2 * ko;
            next.seq = batch.offsets[s2 + 1] - off2;
        }
        const float* q = qkv.q(off, head);
        if (len > 0) fn(q, q + ko, q + 2 * ko, qkv.ld(), off, len, head, next, thread);
    };
    if (static_heads) {
        int64_t h0, h1;
        split_range(heads, threads, thread, h0, h1);
        for (int64_t s = 0; s < seqs; ++s)
            for (int64_t head = h0; head < h1; ++head) {
                // Next: this thread's next head, else its first head of the next sequence.
                const int64_t following = head + 1 < h1  ? s * heads + head + 1
                                          : s + 1 < seqs ? (s + 1) * heads + h0
                                                         : jobs;
                run(s * heads + head, following);
            }
        return;
    }
    int64_t job = claimed.fetch_add(1, std::memory_order_relaxed);
    while (job < jobs) {
        const int64_t following = claimed.fetch_add(1, std::memory_order_relaxed);
        run(job, following);
        job = following;
    }
}

// Runs fn(q, k, v, ld, off, len, head, next, thread) for every (sequence, head) of `batch` with
// a non-empty sequence (q, k, v: the head's rows of sequence tokens [off, off + len) in `qkv`,
// row stride ld), head minor, on `threads` threads. `next` holds the Q/K/V of the thread's next
// job so the kernel can prefetch them while it computes. by_heads: thread i runs heads
// split_range(heads, threads, i) of every sequence (the heads whose Q/K/V it wrote); else a
// dynamic schedule with one job of lookahead (each thread claims its next job before running the
// current one).
template <typename Fn>
void for_each_head(const PackedBatch& batch, int64_t heads, const QkvLayout& qkv, int threads,
                   bool by_heads, Fn fn) {
    std::atomic<int64_t> claimed{0};
#pragma omp parallel num_threads(threads)
    {
        SPARQ_REGION("attention");
        heads_of_thread(batch, heads, qkv, by_heads, omp_get_thread_num(), omp_get_num_threads(),
                        claimed, fn);
    }
}

// The embeddings x packed into the stream xs; the context stream cs's empty slots of the last
// group zeroed once (attention writes the context of real tokens only: the attention-output
// kernel then reads finite values there).
void start_stream(const float* x, float* xs, float* cs, int64_t tokens, int64_t h, int64_t group) {
    if (const int64_t used = tokens % group) {
        float* last = cs + (tokens / group) * (h + 1) * group;
        for (int64_t r = 0; r <= h; ++r)
            std::fill(last + r * group + used, last + (r + 1) * group, 0.0f);
    }
    spmm_stream_pack(x, xs, tokens, h, group);
}

}  // namespace

// Adds the wall or CPU time since the last lap to a profile entry (no-op when off).
class StageTimer {
  public:
    StageTimer(bool on, bool cpu_clock) : on_(on), cpu_(cpu_clock) {
        if (on_) last_ = now();
    }
    void lap(double& acc) {
        if (!on_) return;
        double t = now();
        acc += t - last_;
        last_ = t;
    }

  private:
    double now() const {
        if (cpu_) {
            timespec ts;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
            return ts.tv_sec + ts.tv_nsec * 1e-9;
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    bool on_, cpu_;
    double last_ = 0;
};

PlannedLinear Encoder::plan(const float* w, const float* b, int64_t out, int64_t in, Activation act,
                            const std::string& name, const PlanOptions& opts) {
    LinearDesc d;
    d.weight = w;
    d.bias = b;
    d.out = out;
    d.in = in;
    d.act = act;
    d.name = name;
    PlannedLinear p = plan_linear(d, opts);
    plan_.push_back({name, out, in, p.sparsity, p.kernel->name(), p.why, p.on_spmm_rates});
    return p;
}

std::vector<int64_t> split_sequences(const PackedBatch& batch, int parts, double imbalance) {
    const int64_t n = batch.num_sequences(), total = batch.num_tokens();
    if (parts < 2 || n < parts || total == 0) return {};
    std::vector<int64_t> cut{0};
    for (int p = 1; p < parts; ++p) {
        const double target = static_cast<double>(total) * p / parts;
        int64_t s = cut.back() + 1;  // first cut after the previous one, leaving one per share
        while (s < n - (parts - p) && batch.offsets[s + 1] <= target) ++s;
        // s is the first boundary past the target (or the last allowed): take s or s - 1,
        // whichever is nearer the target.
        if (s - 1 > cut.back() &&
            target - batch.offsets[s - 1] < batch.offsets[s] - target)
            --s;
        cut.push_back(s);
    }
    cut.push_back(n);
    int64_t largest = 0;
    for (int p = 0; p < parts; ++p)
        largest = std::max(largest, batch.offsets[cut[p + 1]] - batch.offsets[cut[p]]);
    if (largest > imbalance * static_cast<double>(total) / parts) return {};
    return cut;
}

Encoder::Encoder(const ModelConfig& cfg, BertWeights& w, const PlanOptions& opts)
    : hidden_(cfg.hidden_size),
      heads_(cfg.num_heads),
      head_dim_(cfg.num_heads > 0 ? cfg.hidden_size / cfg.num_heads : 0),
      inter_(cfg.intermediate_size),
      max_pos_(cfg.max_position_embeddings),
      pos_offset_(cfg.position_offset),
      pad_id_(cfg.pad_token_id),
      type_vocab_(cfg.token_types ? cfg.type_vocab_size : 1),
      vocab_(cfg.vocab_size),
      emb_(cfg.embedding_width()),
      token_types_(cfg.token_types),
      eps_(cfg.layer_norm_eps) {
    const int64_t h = hidden_;
    if (h <= 0 || heads_ <= 0 || h % heads_ != 0)
        throw Error("config: expected hidden_size divisible by num_attention_heads, found " +
                    std::to_string(h) + " and " + std::to_string(heads_));
    if (cfg.hidden_act != "gelu" && cfg.hidden_act != "gelu_new")
        throw Error("config: hidden_act '" + cfg.hidden_act +
                    "' is not supported (expected gelu or gelu_new)");
    if (static_cast<int64_t>(w.layers.size()) != cfg.distinct_layers())
        throw Error("weights: expected " + std::to_string(cfg.distinct_layers()) +
                    " layers, found " + std::to_string(w.layers.size()));
    expect_shape(w.word_emb, {vocab_, emb_}, "embeddings.word_embeddings.weight");
    modern_ = cfg.modernbert();
    // ModernBERT reads one zero row at position 0 for every token (its positions are rotary).
    const int64_t pos_rows = modern_ ? 1 : max_pos_;
    if (!cfg.position_embeddings)  // DeBERTa-v3: a zero table, as the missing type embeddings
        w.pos_emb =
            zero_tensor("embeddings.position_embeddings.weight (none: zeros)", {pos_rows, emb_});
    expect_shape(w.pos_emb, {pos_rows, emb_}, "embeddings.position_embeddings.weight");
    if (!token_types_) {
        // No token-type embeddings (DistilBERT): one zero row that every token reads (no type
        // ids given; adding +0.0f leaves word + position exact); the batch's type ids stay for
        // the QA head.
        w.type_emb =
            zero_tensor("embeddings.token_type_embeddings.weight (none: zeros)", {1, emb_});
    }
    expect_shape(w.type_emb, {type_vocab_, emb_}, "embeddings.token_type_embeddings.weight");
    expect_shape(w.emb_ln_g, {emb_}, "embeddings.LayerNorm.weight");
    expect_shape(w.emb_ln_b, {emb_}, "embeddings.LayerNorm.bias");
    if (cfg.embedding_projection()) {
        // ELECTRA's embeddings_project (ALBERT's embedding_hidden_mapping_in): kept f32 whatever the precision (it is not one of the
        // layers' linear ops that quantize_model calibrates).
        expect_shape(w.emb_proj_w, {h, emb_}, "embeddings_project.weight");
        expect_shape(w.emb_proj_b, {h}, "embeddings_project.bias");
        PlanOptions f32 = opts;
        f32.precision = "f32";
        emb_proj_ = plan(w.emb_proj_w.data.data(), w.emb_proj_b.data.data(), h, emb_,
                         Activation::none, "embeddings_project.weight", f32);
    }
    word_emb_ = std::move(w.word_emb);
    pos_emb_ = std::move(w.pos_emb);
    type_emb_ = std::move(w.type_emb);
    emb_ln_g_ = std::move(w.emb_ln_g);
    emb_ln_b_ = std::move(w.emb_ln_b);
    AttentionChoice att = choose_attention(opts.attention, opts.precision);
    attention_s8_ = att.int8;
    attention_plan_ = att.plan;
    if (cfg.relative_attention_buckets > 0) {
        const int64_t buckets = cfg.relative_attention_buckets;
        expect_shape(w.rel_bias, {buckets, heads_}, "encoder.relative_attention_bias.weight");
        rel_len_ = std::max<int64_t>(cfg.max_tokens(), 1);
        rel_bias_.resize(static_cast<size_t>(heads_ * (2 * rel_len_ - 1)));
        for (int64_t hd = 0; hd < heads_; ++hd)
            rel_bias_of_distance(w.rel_bias.data.data(), buckets, heads_, hd, rel_len_,
                                 rel_bias_.data() + hd * (2 * rel_len_ - 1));
        attention_plan_ += "; MPNet relative position bias added to the scores";
    }
    // DeBERTa: the relative embeddings the layers project (LayerNorm'ed into rel_ln when asked).
    const float* rel_emb = nullptr;
    AlignedBuffer<float> rel_ln;
    scale_factor_ = cfg.disentangled.scale_factor;  // 1 but for DeBERTa
    if (cfg.disentangled.on) {
        const ModelConfig::Disentangled& dis = cfg.disentangled;
        // int8: QK^T, the c2p / p2c products, softmax and P.V as every int8 attention (VNNI).
        attention_plan_ += std::string("; disentangled (DeBERTa: ") +
                           (dis.c2p && dis.p2c ? "c2p + p2c"
                            : dis.c2p          ? "c2p"
                                               : "p2c") +
                           ", span " + std::to_string(dis.span) +
                           (attention_s8_ ? "; the relative products int8 too)" : ")");
        span_ = dis.span;
        rel_ld_ = (2 * span_ + 15) / 16 * 16 + 16;
        rel_len_ = std::max<int64_t>(cfg.max_tokens(), 1);
        rel_idx_ = deberta_rel_index(dis.span, dis.buckets, dis.max_position, rel_len_);
        expect_shape(w.rel_emb, {2 * dis.span, h}, "encoder.rel_embeddings.weight");
        rel_emb = w.rel_emb.data.data();
        if (dis.layer_norm) {
            expect_shape(w.rel_ln_g, {h}, "encoder.LayerNorm.weight");
            expect_shape(w.rel_ln_b, {h}, "encoder.LayerNorm.bias");
            rel_ln.resize(2 * dis.span * h);
            layer_norm(rel_emb, nullptr, w.rel_ln_g.data.data(), w.rel_ln_b.data.data(),
                       rel_ln.data(), 2 * dis.span, h, eps_);
            rel_emb = rel_ln.data();
        }
    }

    if (modern_) {
        const ModelConfig::Modern& m = cfg.modern;
        rotary_ = !m.alibi;
        if (rotary_) {
            if (head_dim_ % 2 != 0)
                throw Error("config: rotary embeddings need an even head size, found " +
                            std::to_string(head_dim_));
            rope_global_ = RotaryTable(head_dim_, m.global_theta, max_pos_, m.rope_ntk_factor);
            rope_local_ = RotaryTable(head_dim_, m.local_theta, max_pos_);
        }
        rel_len_ = max_pos_;
        if (m.alibi) {  // JinaBERT: each head's -slope * |i - j| as its relative bias
            const std::vector<double> slopes = alibi_slopes(heads_);
            rel_bias_.resize(static_cast<size_t>(heads_ * (2 * rel_len_ - 1)));
            for (int64_t hd = 0; hd < heads_; ++hd)
                alibi_bias_of_distance(slopes[hd], rel_len_,
                                       rel_bias_.data() + hd * (2 * rel_len_ - 1));
        }
        window_ = m.window;
        window_bias_.assign(static_cast<size_t>(2 * rel_len_ - 1), 0.0f);
        for (int64_t r = -(rel_len_ - 1); r < rel_len_; ++r)
            if (std::abs(r) > m.window) window_bias_[r + rel_len_ - 1] = -1e30f;
        post_norm_ = m.post_norm;
        silu_glu_ = m.silu;
        if (m.post_norm) {  // NomicBERT, GTE, JinaBERT: no final norm, every layer global
            attention_plan_ += cfg.gte()    ? "; GTE: rotary positions"
                               : cfg.jina() ? "; JinaBERT: ALiBi (-slope * |i - j| per head)"
                                            : "; NomicBERT: rotary positions";
        } else {
            expect_shape(w.final_ln_g, {h}, "final_norm.weight");
            expect_shape(w.final_ln_b, {h}, "final_norm.bias");
            final_ln_g_ = std::move(w.final_ln_g);
            final_ln_b_ = std::move(w.final_ln_b);
            attention_plan_ += "; ModernBERT: rotary positions, local attention within +-" +
                               std::to_string(m.window) + " tokens, global in every " +
                               std::to_string(m.global_every) + " layers";
        }
    }
    // The MLP's first matrix: ModernBERT's Wi holds the activation's and the gate's rows.
    const int64_t inter_rows = modern_ ? 2 * inter_ : inter_;

    layers_.resize(w.layers.size());
    for (size_t l = 0; l < w.layers.size(); ++l) {
        LayerWeights& src = w.layers[l];
        Layer& L = layers_[l];
        std::string p = "encoder.layer." + std::to_string(l) + ".";
        for (auto* t : {&src.q_w, &src.k_w, &src.v_w, &src.ao_w})
            expect_shape(*t, {h, h}, p + "attention weight");
        // ModernBERT's layer 0 has no LayerNorm before its attention.
        const bool ln1 = !(modern_ && !post_norm_ && l == 0);
        for (auto* t : {&src.q_b, &src.k_b, &src.v_b, &src.ao_b, &src.o_b, &src.ln2_g, &src.ln2_b})
            expect_shape(*t, {h}, p + "vector");
        if (ln1)
            for (auto* t : {&src.ln1_g, &src.ln1_b}) expect_shape(*t, {h}, p + "vector");
        expect_shape(src.i_w, {inter_rows, h}, p + "intermediate.dense.weight");
        expect_shape(src.i_b, {inter_rows}, p + "intermediate.dense.bias");
        expect_shape(src.o_w, {h, inter_}, p + "output.dense.weight");
        L.local = cfg.modern.local(static_cast<int64_t>(l));

        if (rel_emb) {
            // DeBERTa: the layer's key / query projections of the relative embeddings (v2's
            // share_att_key; v1's own pos_proj / pos_q_proj), with their biases, transposed — W ·
            // relᵀ + b as [hidden][rel_ld_], which is [heads][head_dim][rel_ld_] (relative row m in
            // column m; zero columns past 2 span for the vector loads).
            auto project = [&](const Tensor& wt, const Tensor& b, AlignedBuffer<float>& dst) {
                AlignedBuffer<float> scratch;
                const float* wf = f32_values(wt, scratch);
                const int64_t rows = 2 * span_;
                dst.resize(h * rel_ld_);
                for (int64_t o = 0; o < h; ++o) {
                    float* row = dst.data() + o * rel_ld_;
                    std::fill(row, row + rows, b.data.data()[o]);
                    std::fill(row + rows, row + rel_ld_, 0.0f);
                }
                if (dnnl_sgemm('N', 'T', h, rows, h, 1.0f, wf, h, rel_emb, h, 1.0f, dst.data(),
                               rel_ld_) != dnnl_success)
                    throw Error("DeBERTa relative embeddings: oneDNN sgemm failed");
            };
            const bool own = cfg.disentangled.own_pos_proj;
            if (cfg.disentangled.c2p)
                project(own ? src.pos_k_w : src.k_w, own ? src.pos_k_b : src.k_b, L.pos_k);
            if (cfg.disentangled.p2c)
                project(own ? src.pos_q_w : src.q_w, own ? src.pos_q_b : src.q_b, L.pos_q);
            if (attention_s8_) {  // the int8 attention reads them quantized, never in f32
                if (cfg.disentangled.c2p)
                    L.pos_k8 = pack_rel_s8(L.pos_k.data(), heads_, head_dim_, rel_ld_, 2 * span_);
                if (cfg.disentangled.p2c)
                    L.pos_q8 = pack_rel_s8(L.pos_q.data(), heads_, head_dim_, rel_ld_, 2 * span_);
                L.pos_k = AlignedBuffer<float>();
                L.pos_q = AlignedBuffer<float>();
            }
        }
        AlignedBuffer<float> qkv_w(3 * h * h), qkv_b(3 * h);
        const Tensor* ws[3] = {&src.q_w, &src.k_w, &src.v_w};
        const Tensor* bs[3] = {&src.q_b, &src.k_b, &src.v_b};
        for (int i = 0; i < 3; ++i) {
            copy_f32_values(*ws[i], qkv_w.data() + i * h * h);
            std::memcpy(qkv_b.data() + i * h, bs[i]->data.data(), h * sizeof(float));
        }
        L.qkv = plan(qkv_w.data(), qkv_b.data(), 3 * h, h, Activation::none,
                     p + "attention.self.{query,key,value}.weight", opts);
        // int8-held weights (quantized dirs) are dequantized one matrix at a time into f32w.
        AlignedBuffer<float> f32w;
        L.attn_out = plan(f32_values(src.ao_w, f32w), src.ao_b.data.data(), h, h, Activation::none,
                          p + "attention.output.dense.weight", opts);
        // ModernBERT: the gated activation runs after Wi (forward_modern).
        L.inter = plan(f32_values(src.i_w, f32w), src.i_b.data.data(), inter_rows, h,
                       modern_           ? Activation::none
                       : cfg.gelu_tanh() ? Activation::gelu_tanh
                                         : Activation::gelu,
                       p + "intermediate.dense.weight", opts);
        L.out = plan(f32_values(src.o_w, f32w), src.o_b.data.data(), h, inter_, Activation::none,
                     p + "output.dense.weight", opts);
        L.ln1_g = std::move(src.ln1_g);
        L.ln1_b = std::move(src.ln1_b);
        L.ln2_g = std::move(src.ln2_g);
        L.ln2_b = std::move(src.ln2_b);
        if (!src.qn_g.empty()) {
            for (auto* t : {&src.qn_g, &src.qn_b, &src.kn_g, &src.kn_b, &src.mid_g, &src.mid_b})
                expect_shape(*t, {h}, p + "LayerNorm vector");
            qk_norm_ = true;
            L.qn_g = std::move(src.qn_g);
            L.qn_b = std::move(src.qn_b);
            L.kn_g = std::move(src.kn_g);
            L.kn_b = std::move(src.kn_b);
            L.mid_g = std::move(src.mid_g);
            L.mid_b = std::move(src.mid_b);
        }
        src = LayerWeights{};  // the kernels hold their own copies
    }
    for (int64_t l : cfg.layer_order()) order_.push_back(&layers_[static_cast<size_t>(l)]);
}

void Encoder::attention(const PackedBatch& batch, const float* qkv, float* ctx, bool by_heads,
                        const Layer& layer) const {
    const int64_t h = hidden_, d = head_dim_;
    if (!rel_idx_.empty()) {  // DeBERTa
        const int64_t per_thread = attention_deberta_scratch_floats(longest_sequence(batch), d);
        const float scale = 1.0f / std::sqrt(static_cast<float>(d * scale_factor_));
        const QkvLayout layout{qkv, batch.num_tokens(), h, d, by_heads};
        for_each_head(batch, heads_, layout, num_threads(), by_heads,
                      [&](const float* q, const float* k, const float* v, int64_t ld, int64_t off,
                          int64_t len, int64_t head, const AttentionNext&, int) {
                          attention_head_deberta(
                              q, k, v, ld, ctx + off * h + head * d, h, len, d, scale,
                              disentangled_head(layer, head),
                              thread_scratch<float, AttentionScratch>(per_thread));
                      });
        return;
    }
    const int64_t per_thread = attention_scratch_floats(longest_sequence(batch), d);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d * scale_factor_));
    const QkvLayout layout{qkv, batch.num_tokens(), h, d, by_heads};
    for_each_head(batch, heads_, layout, num_threads(), by_heads,
                  [&](const float* q, const float* k, const float* v, int64_t ld, int64_t off,
                      int64_t len, int64_t head, const AttentionNext& next, int) {
                      float* const scratch = thread_scratch<float, AttentionScratch>(per_thread);
                      if (layer.local && len > 4 * window_ && band_)  // the keys windows reach
                          attention_head_local(q, k, v, ld, ctx + off * h + head * d, h, len, d,
                                               scale, scratch, window_, rel_bias(head, &layer));
                      else
                          attention_head(q, k, v, ld, ctx + off * h + head * d, h, len, d, scale,
                                         scratch, &next, rel_bias(head, &layer));
                  });
}

DisentangledHead Encoder::disentangled_head(const Layer& layer, int64_t head) const {
    DisentangledHead rel;
    const int64_t block = head_dim_ * rel_ld_;  // one head's projections
    if (layer.pos_q.size() > 0) rel.pos_q = layer.pos_q.data() + head * block;
    if (layer.pos_k.size() > 0) rel.pos_k = layer.pos_k.data() + head * block;
    rel.ld_pos = rel_ld_;
    rel.idx = rel_idx_zero();
    return rel;
}

void Encoder::attention_stream(const PackedBatch& batch, const float* qs, float* cs, int64_t group,
                               const Layer* layer) const {
    const int64_t h = hidden_, d = head_dim_;
    const int64_t per_thread = attention_stream_scratch_floats(longest_sequence(batch));
    const float scale = 1.0f / std::sqrt(static_cast<float>(d * scale_factor_));
    // for_each_head's q/k/v pointers (token-major arithmetic) are not used on the stream.
    const QkvLayout layout{qs, batch.num_tokens(), h, d, false};
    for_each_head(batch, heads_, layout, num_threads(), false,
                  [&](const float*, const float*, const float*, int64_t, int64_t off, int64_t len,
                      int64_t head, const AttentionNext&, int) {
                      attention_head_stream_avx512(
                          qs, 3 * h, head * d, h + head * d, 2 * h + head * d, cs, h, head * d, off,
                          len, d, group, scale, thread_scratch<float, AttentionScratch>(per_thread),
                          rel_bias(head, layer), layer && layer->local && band_ ? window_ : 0);
                  });
}

void Encoder::attention_s8(const PackedBatch& batch, const float* qkv, float* ctx, bool by_heads,
                           const S8Team* team, const S8QK8* qk8, const Layer* layer) const {
    const int64_t h = hidden_, d = head_dim_;
    const int64_t longest = longest_sequence(batch);
    const int64_t per_thread = rel_idx_.empty() ? attention_s8_scratch_bytes(longest, d)
                                                : attention_deberta_s8_scratch_bytes(longest, d);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d * scale_factor_));
    const QkvLayout layout = qk8 ? QkvLayout{qk8->v, qk8->tpad, h, d, false, true}
                                 : QkvLayout{qkv, batch.num_tokens(), h, d, by_heads};
    if (!rel_idx_.empty() && (qk8 || !layer))
        throw Error("internal: DeBERTa's int8 attention needs its layer and f32 Q / K");
    auto fn = [&](const float* q, const float* k, const float* v, int64_t ld, int64_t off,
                  int64_t len, int64_t head, const AttentionNext& next, int) {
        uint8_t* scratch = thread_scratch<uint8_t, AttentionScratch>(per_thread);
        if (!rel_idx_.empty()) {  // DeBERTa
            DisentangledS8Head rel;
            if (layer->pos_k8.heads > 0) rel.pos_k = &layer->pos_k8;
            if (layer->pos_q8.heads > 0) rel.pos_q = &layer->pos_q8;
            rel.head = head;
            rel.idx = rel_idx_zero();
            attention_head_deberta_s8(q, k, v, ld, ctx + off * h + head * d, h, len, d, scale, rel,
                                      scratch);
        } else if (qk8) {
            attention_head_s8_qk8(*qk8, off, head, v, ld, ctx + off * h + head * d, h, len, d,
                                  scale, scratch, &next, rel_bias(head, layer));
        } else if (layer && layer->local && len > 4 * window_ && band_) {
            // ModernBERT's local layers on long sequences: each block of 2 windows of queries
            // runs against the keys its windows reach (the window mask inside it): ~4 windows of
            // keys per query instead of len. V's per-feature int8 scales then come from those
            // keys only.
            const int64_t chunk = std::max<int64_t>(2 * window_, 16);
            for (int64_t i0 = 0; i0 < len; i0 += chunk) {
                const int64_t i1 = std::min(len, i0 + chunk);
                const int64_t k0 = std::max<int64_t>(0, i0 - window_),
                              k1 = std::min(len, i1 + window_);
                attention_head_s8_rows(q + k0 * ld, k + k0 * ld, v + k0 * ld, ld,
                                       ctx + (off + k0) * h + head * d, h, k1 - k0, d, scale,
                                       scratch, rel_bias(head, layer), i0 - k0, i1 - k0);
            }
        } else {
            attention_head_s8(q, k, v, ld, ctx + off * h + head * d, h, len, d, scale, scratch,
                              &next, rel_bias(head, layer));
        }
    };
    if (team) {
        std::atomic<int64_t> unused{0};
        heads_of_thread(batch, heads_, layout, true, team->id, team->n, unused, fn);
        return;
    }
    for_each_head(batch, heads_, layout, num_threads(), by_heads, fn);
}

bool Encoder::splits_batches() const {
    if (!sequence_parallel_) return false;
    for (const Layer& L : layers_)
        for (const PlannedLinear* p : {&L.qkv, &L.attn_out, &L.inter, &L.out})
            if (!p->kernel->splits_by_sequences()) return false;
    return true;
}

void Encoder::forward(const PackedBatch& batch, float* dst) const {
    const int64_t n_seq = batch.num_sequences(), t_all = batch.num_tokens(), h = hidden_;
    if (batch.offsets.empty() && batch.input_ids.empty()) return;  // no sequences
    if (batch.offsets.empty() || batch.offsets[0] != 0)
        throw Error("packed batch: expected offsets starting at 0");
    if (static_cast<int64_t>(batch.input_ids.size()) != t_all ||
        static_cast<int64_t>(batch.token_type_ids.size()) != t_all)
        throw Error("packed batch: expected " + std::to_string(t_all) +
                    " input_ids and token_type_ids, found " +
                    std::to_string(batch.input_ids.size()) + " and " +
                    std::to_string(batch.token_type_ids.size()));
    for (int64_t s = 0; s < n_seq; ++s) {
        int64_t len = batch.offsets[s + 1] - batch.offsets[s];
        if (len < 0) throw Error("packed batch: offsets must not decrease");
        if (len > max_pos_ - pos_offset_)
            throw Error("sequence " + std::to_string(s) + ": " + std::to_string(len) +
                        " tokens, more than the model's " + std::to_string(max_pos_ - pos_offset_) +
                        " positions (max_position_embeddings " + std::to_string(max_pos_) + ")");
    }
    for (int64_t t = 0; t < t_all; ++t) {
        if (batch.input_ids[t] < 0 || batch.input_ids[t] >= vocab_)
            throw Error("token id " + std::to_string(batch.input_ids[t]) + " out of range [0, " +
                        std::to_string(vocab_) + ")");
        if (token_types_ && (batch.token_type_ids[t] < 0 || batch.token_type_ids[t] >= type_vocab_))
            throw Error("token type id " + std::to_string(batch.token_type_ids[t]) +
                        " out of range [0, " + std::to_string(type_vocab_) + ")");
    }
    if (t_all == 0) return;

    std::lock_guard<std::mutex> lock(mu_);
    const int nt = num_threads();
    const std::vector<int64_t> cut = splits_batches()
                                         ? split_sequences(batch, nt, kSequenceImbalance)
                                         : std::vector<int64_t>{};
    if (cut.empty()) {
        if (workspaces_.empty()) workspaces_.resize(1);
        forward_parts(batch, dst, workspaces_[0], profiling_);
    } else {
        // Each thread runs the whole encoder on its sequences, single-threaded: no barrier and no
        // activation shared between cores. Profiles time thread 0's share.
        if (static_cast<int>(workspaces_.size()) < nt) workspaces_.resize(nt);
        std::exception_ptr error;
        std::mutex error_mu;
#pragma omp parallel num_threads(nt)
        {
            const int id = omp_get_thread_num();
            omp_set_num_threads(1);  // this thread's nested regions (kernels, oneDNN): one thread
            if (id + 1 < static_cast<int>(cut.size())) {
                const PackedBatch part = slice_sequences(batch, cut[id], cut[id + 1]);
                try {
                    forward_parts(part, dst + batch.offsets[cut[id]] * h, workspaces_[id],
                                  profiling_ && id == 0);
                } catch (...) {
                    std::lock_guard<std::mutex> g(error_mu);
                    if (!error) error = std::current_exception();
                }
            }
        }
        if (error) std::rethrow_exception(error);
    }
    if (profiling_) ++profile_.calls;
}

std::vector<int64_t> Encoder::stream_parts(const PackedBatch& batch) const {
    const int64_t n = batch.num_sequences(), total = batch.num_tokens();
    const int64_t limit = stream_part_tokens_ * num_threads();
    const bool tfm = tfm_layers();  // TFM layers take any token count
    auto runs = [&](int64_t tokens) { return tfm || stream_group(tokens) > 0; };
    if (limit <= 0 || total <= limit || !runs(total)) return {};
    // Greedy: a part takes sequences while it stays within the limit (a longer sequence is a
    // part of its own). Two neighbours merge while either is one the stream cannot run (too few
    // token groups for the threads); at worst the batch runs whole.
    std::vector<int64_t> cut{0};
    for (int64_t s = 1; s < n; ++s)
        if (batch.offsets[s + 1] - batch.offsets[cut.back()] > limit) cut.push_back(s);
    cut.push_back(n);
    for (size_t i = 1; i + 1 < cut.size();) {
        if (runs(batch.offsets[cut[i + 1]] - batch.offsets[cut[i]]) &&
            runs(batch.offsets[cut[i]] - batch.offsets[cut[i - 1]]))
            ++i;
        else
            cut.erase(cut.begin() + static_cast<std::ptrdiff_t>(i));  // merge parts i-1 and i
    }
    if (cut.size() <= 2) return {};
    return cut;
}

void Encoder::forward_parts(const PackedBatch& batch, float* dst, Workspace& w, bool timed) const {
    const std::vector<int64_t> cut = stream_parts(batch);
    if (cut.empty()) return forward_on(batch, dst, w, timed);
    for (size_t i = 0; i + 1 < cut.size(); ++i)
        forward_on(slice_sequences(batch, cut[i], cut[i + 1]),
                   dst + batch.offsets[cut[i]] * hidden_, w, timed);
}

void Encoder::forward_on(const PackedBatch& batch, float* dst, Workspace& w, bool timed) const {
    const int64_t n_seq = batch.num_sequences(), t_all = batch.num_tokens(), h = hidden_;
    StageTimer timer(timed, cpu_clock_);
    EncoderProfile& prof = profile_;
    w.qkv.resize(t_all * 3 * h, kActivationHugeFrom);
    w.ctx.resize(t_all * h, kActivationHugeFrom);
    w.tmp.resize(t_all * h, kActivationHugeFrom);
    w.inter.resize(t_all * inter_, kActivationHugeFrom);
    float* x = dst;

    // Positions: BERT 0, 1, 2, ...; RoBERTa (HF create_position_ids_from_input_ids) pad + 1,
    // pad + 2, ... for real tokens, and pad for a pad token inside a sequence (not counted).
    w.pos.resize(t_all);
    for (int64_t s = 0; s < n_seq; ++s) {
        int64_t next = pos_offset_;
        for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t)
            w.pos[t] = static_cast<int32_t>(pos_offset_ > 0 && batch.input_ids[t] == pad_id_ ? pad_id_ : next++);
    }
    if (modern_) {  // rotary positions; the embeddings read the zero row
        w.rpos.resize(t_all);
        std::copy(w.pos.data(), w.pos.data() + t_all, w.rpos.data());
        std::fill(w.pos.data(), w.pos.data() + t_all, 0);
    }
    // ELECTRA with embedding_size < hidden, ALBERT: normalize in the embedding width, then
    // project.
    float* const e = !emb_proj_.kernel ? x : (w.emb.resize(t_all * emb_), w.emb.data());
    parallel_rows(t_all, emb_, [&](int64_t r0, int64_t r1) {
        embed_layer_norm(word_emb_.data.data(), pos_emb_.data.data(), type_emb_.data.data(),
                         batch.input_ids.data() + r0, w.pos.data() + r0,
                         token_types_ ? batch.token_type_ids.data() + r0 : nullptr,  // null: 0
                         emb_ln_g_.data.data(), emb_ln_b_.data.data(), e + r0 * emb_, r1 - r0, emb_,
                         eps_);
    });
    if (emb_proj_.kernel) emb_proj_.kernel->run(e, x, t_all);
    timer.lap(prof.embeddings);

    // ModernBERT's pre-norm layers; the post-norm rotary families' (NomicBERT, GTE) run BERT's
    // loops below, with rotary Q / K and the gated MLP.
    if (modern_ && !post_norm_) {
        forward_modern(batch, x, w, timer);
        return;
    }
    if (const int64_t group = stream_group(t_all)) {
        forward_stream(batch, x, w, timer, group);
        return;
    }
    if (tfm_layers()) {
        forward_tfm(batch, x, w, timer);
        return;
    }
    if (modern_) w.glu.resize(t_all * 2 * inter_, kActivationHugeFrom);  // the gated MLP's Wi
    for (const Layer* layer : order_) {
        const Layer& L = *layer;
        const bool by_heads = head_split_ && !modern_ && num_threads() > 1 &&
                              L.qkv.kernel->run_by_units(x, w.qkv.data(), t_all, 3, heads_);
        if (!by_heads) L.qkv.kernel->run(x, w.qkv.data(), t_all);
        timer.lap(prof.qkv);
        if (rotary_)
            apply_rotary(w.qkv.data(), 3 * h, t_all, w.rpos.data(), h, head_dim_, rope_global_);
        if (!L.qn_g.empty()) qk_layer_norm(w.qkv.data(), L, t_all);
        if (attention_s8_)
            attention_s8(batch, w.qkv.data(), w.ctx.data(), by_heads, nullptr, nullptr, &L);
        else
            attention(batch, w.qkv.data(), w.ctx.data(), by_heads, L);
        timer.lap(prof.attention);
        // The residual add rides in the LayerNorm pass (no extra pass over the activations).
        L.attn_out.kernel->run(w.ctx.data(), w.tmp.data(), t_all);
        timer.lap(prof.attn_out);
        if (!L.mid_g.empty()) {  // JinaBERT qk-post-norm: LN_1(x + LN_attn(dense(ctx) + x))
            layer_norm_rows(w.tmp.data(), x, L.ln1_g.data.data(), L.ln1_b.data.data(), w.tmp.data(),
                            t_all, h, eps_);
            layer_norm_rows(w.tmp.data(), x, L.mid_g.data.data(), L.mid_b.data.data(), x, t_all, h,
                            eps_);
        } else {
            layer_norm_rows(w.tmp.data(), x, L.ln1_g.data.data(), L.ln1_b.data.data(), x, t_all, h,
                            eps_);
        }
        timer.lap(prof.layer_norm);
        // Sparse FFN pairs (f32 or int8) and dense int8 pairs run chained: the
        // [tokens][intermediate] f32 activations are never written token-major.
        if (modern_) {  // the gated MLP (NomicBERT, GTE)
            L.inter.kernel->run(x, w.glu.data(), t_all);
            gated_activation(w.glu.data(), w.inter.data(), t_all);
            timer.lap(prof.intermediate);
            L.out.kernel->run(w.inter.data(), w.tmp.data(), t_all);
            timer.lap(prof.output);
        } else if (chain_ffn_ &&
                   (spmm_run_chain(*L.inter.kernel, *L.out.kernel, x, w.tmp.data(), t_all) ||
                    s8_run_chain(*L.inter.kernel, *L.out.kernel, x, w.tmp.data(), t_all))) {
            timer.lap(prof.intermediate);
        } else {
            L.inter.kernel->run(x, w.inter.data(), t_all);
            timer.lap(prof.intermediate);
            L.out.kernel->run(w.inter.data(), w.tmp.data(), t_all);
            timer.lap(prof.output);
        }
        layer_norm_rows(w.tmp.data(), x, L.ln2_g.data.data(), L.ln2_b.data.data(), x, t_all, h,
                        eps_);
        timer.lap(prof.layer_norm);
    }
}

void Encoder::forward_modern(const PackedBatch& batch, float* x, Workspace& w,
                             StageTimer& timer) const {
    const int64_t t_all = batch.num_tokens(), h = hidden_;
    EncoderProfile& prof = profile_;
    if (const int64_t group = stream_group(t_all)) {
        forward_modern_stream(batch, x, w, timer, group);
        return;
    }
    w.alt.resize(t_all * h, kActivationHugeFrom);
    w.glu.resize(t_all * 2 * inter_, kActivationHugeFrom);
    float *cur = x, *alt = w.alt.data();  // the residual stream and the buffer it moves to
    for (const Layer* layer : order_) {
        const Layer& L = *layer;
        // Pre-norm: attn_norm (none in layer 0), attention, + residual; mlp_norm, MLP, + residual.
        const float* a = cur;
        if (!L.ln1_g.empty()) {
            layer_norm_rows(cur, nullptr, L.ln1_g.data.data(), L.ln1_b.data.data(), w.tmp.data(),
                            t_all, h, eps_);
            a = w.tmp.data();
            timer.lap(prof.layer_norm);
        }
        L.qkv.kernel->run(a, w.qkv.data(), t_all);
        timer.lap(prof.qkv);
        apply_rotary(w.qkv.data(), 3 * h, t_all, w.rpos.data(), h, head_dim_,
                     L.local ? rope_local_ : rope_global_);
        if (attention_s8_)
            attention_s8(batch, w.qkv.data(), w.ctx.data(), false, nullptr, nullptr, &L);
        else
            attention(batch, w.qkv.data(), w.ctx.data(), false, L);
        timer.lap(prof.attention);
        L.attn_out.kernel->run(w.ctx.data(), alt, t_all, cur);
        std::swap(cur, alt);
        timer.lap(prof.attn_out);
        layer_norm_rows(cur, nullptr, L.ln2_g.data.data(), L.ln2_b.data.data(), w.tmp.data(), t_all,
                        h, eps_);
        timer.lap(prof.layer_norm);
        L.inter.kernel->run(w.tmp.data(), w.glu.data(), t_all);
        gated_activation(w.glu.data(), w.inter.data(), t_all);
        timer.lap(prof.intermediate);
        L.out.kernel->run(w.inter.data(), alt, t_all, cur);
        std::swap(cur, alt);
        timer.lap(prof.output);
    }
    layer_norm_rows(cur, nullptr, final_ln_g_.data.data(), final_ln_b_.data.data(), x, t_all, h,
                    eps_);
    timer.lap(prof.layer_norm);
}

void Encoder::gated_activation(const float* u, float* out, int64_t t_all) const {
    parallel_rows(t_all, inter_, [&](int64_t r0, int64_t r1) {
        (silu_glu_ ? silu_glu : gelu_glu)(u + r0 * 2 * inter_, out + r0 * inter_, r1 - r0, inter_);
    });
}

void Encoder::gated_stream(const float* us, float* gs, int64_t t_all, int64_t group) const {
    // A group's first `inter` rows are the activation's, the next `inter` the gate's: one gated
    // activation over each group's two contiguous halves.
    spmm_for_each_group(t_all, group, [&](int64_t g, int64_t) {
        (silu_glu_ ? silu_glu : gelu_glu)(us + g * (2 * inter_ + 1) * group,
                                          gs + g * (inter_ + 1) * group, 1, inter_ * group);
    });
}

void Encoder::forward_modern_stream(const PackedBatch& batch, float* x, Workspace& w,
                                    StageTimer& timer, int64_t group) const {
    const int64_t t_all = batch.num_tokens(), h = hidden_;
    EncoderProfile& prof = profile_;
    const int64_t n = spmm_stream_floats(t_all, h, group);
    w.xs.resize(n, kActivationHugeFrom);
    w.ts.resize(n, kActivationHugeFrom);
    w.tmp.resize(n, kActivationHugeFrom);
    w.ctx.resize(n, kActivationHugeFrom);
    w.qkv.resize(spmm_stream_floats(t_all, 3 * h, group), kActivationHugeFrom);
    w.glu.resize(spmm_stream_floats(t_all, 2 * inter_, group), kActivationHugeFrom);
    w.inter.resize(spmm_stream_floats(t_all, inter_, group), kActivationHugeFrom);
    float *const xs = w.xs.data(), *const ts = w.ts.data(), *const as = w.tmp.data();
    float *const qs = w.qkv.data(), *const cs = w.ctx.data();
    float *const us = w.glu.data(), *const gs = w.inter.data();
    start_stream(x, xs, cs, t_all, h, group);
    timer.lap(prof.embeddings);
    // Pre-norm: each LayerNorm also adds the sublayer output pending in ts to the residual
    // stream xs (layer 0 has no LayerNorm before its attention, which reads the embeddings).
    for (const Layer* layer : order_) {
        const Layer& L = *layer;
        const float* a = xs;
        if (!L.ln1_g.empty()) {
            spmm_stream_layer_norm(xs, ts, L.ln1_g.data.data(), L.ln1_b.data.data(), as, t_all, h,
                                   group, eps_, xs);
            a = as;
            timer.lap(prof.layer_norm);
        }
        spmm_run_stream(*L.qkv.kernel, a, true, qs, true, t_all);
        timer.lap(prof.qkv);
        apply_rotary_stream(qs, t_all, w.rpos.data(), h, head_dim_,
                            L.local ? rope_local_ : rope_global_, group);
        attention_stream(batch, qs, cs, group, &L);
        timer.lap(prof.attention);
        spmm_run_stream(*L.attn_out.kernel, cs, true, ts, true, t_all);
        timer.lap(prof.attn_out);
        spmm_stream_layer_norm(xs, ts, L.ln2_g.data.data(), L.ln2_b.data.data(), as, t_all, h,
                               group, eps_, xs);
        timer.lap(prof.layer_norm);
        spmm_run_stream(*L.inter.kernel, as, true, us, true, t_all);
        gated_stream(us, gs, t_all, group);
        timer.lap(prof.intermediate);
        spmm_run_stream(*L.out.kernel, gs, true, ts, true, t_all);
        timer.lap(prof.output);
    }
    spmm_stream_layer_norm(xs, ts, final_ln_g_.data.data(), final_ln_b_.data.data(), as, t_all, h,
                           group, eps_);
    spmm_stream_unpack(as, x, t_all, h, group);
    timer.lap(prof.layer_norm);
}

void Encoder::qk_layer_norm(float* qkv, const Layer& L, int64_t t_all) const {
    const int64_t h = hidden_;
    parallel_rows(t_all, 2 * h, [&](int64_t r0, int64_t r1) {
        for (int64_t t = r0; t < r1; ++t) {
            float* q = qkv + t * 3 * h;
            layer_norm(q, nullptr, L.qn_g.data.data(), L.qn_b.data.data(), q, 1, h, eps_);
            layer_norm(q + h, nullptr, L.kn_g.data.data(), L.kn_b.data.data(), q + h, 1, h, eps_);
        }
    });
}

int64_t Encoder::stream_group(int64_t tokens) const {
    // JinaBERT qk-post-norm runs token-major (no stream version of its Q / K LayerNorms).
    if (!stream_ || !chain_ffn_ || attention_s8_ || !rel_idx_.empty() || qk_norm_) return 0;
    std::vector<const LinearKernel*> ks;
    for (const Layer& L : layers_)
        for (const PlannedLinear* p : {&L.qkv, &L.attn_out, &L.inter, &L.out})
            ks.push_back(p->kernel.get());
    return spmm_stream_group(ks.data(), static_cast<int64_t>(ks.size()), tokens);
}

bool Encoder::qk8_active() const {
    return qk8_ && tfm_layers() && hidden_ % heads_ == 0 && rel_idx_.empty() &&
           attention_s8_takes_qk8(head_dim_);
}

bool Encoder::tfm_layers() const {
    if (!tfm_ || !attention_s8_ || !chain_ffn_ || modern_) return false;
    for (const Layer& L : layers_)
        for (const PlannedLinear* p : {&L.qkv, &L.attn_out, &L.inter, &L.out})
            if (!s8_tfm_capable(*p->kernel)) return false;
    return true;
}

void Encoder::forward_tfm(const PackedBatch& batch, float* x, Workspace& w,
                          StageTimer& timer) const {
    const int64_t t_all = batch.num_tokens(), h = hidden_;
    EncoderProfile& prof = profile_;
    w.xs.resize(s8::tfm_floats(t_all, h), kActivationHugeFrom);
    w.ts.resize(s8::tfm_floats(t_all, h), kActivationHugeFrom);
    w.absmax.resize(s8::tfm_tiles(t_all) * s8::kTfmTile);
    float *xt = w.xs.data(), *tt = w.ts.data(), *amax = w.absmax.data();
    s8::to_tfm_avx512(x, t_all, h, xt, amax);
    // Int8 Q and K from the QKV kernel (S8QK8): tokens past the last tile's are never written
    // but read as the masked keys of the last sequence, so they are zeroed.
    // Where the layers run: one team region for all layers, else regions per kernel, then the QKV
    // kernel writes head-major and the attention splits heads (by_heads) on several threads.
    const int nt = num_threads();
    const bool team_region = tfm_team_ && nt > 1 && s8::tfm_tiles(t_all) % nt == 0;
    const bool by_heads = !team_region && head_split_ && nt > 1 && h % heads_ == 0;
    S8QK8 qk8;
    if (!by_heads && qk8_active()) {
        const int64_t d = head_dim_, written = (t_all + 15) / 16 * 16;
        qk8 = {nullptr, nullptr, nullptr, nullptr, nullptr, h, d, (t_all + 63) / 64 * 64 + 16};
        w.vh.resize(heads_ * qk8.tpad * d, kActivationHugeFrom);
        qk8.v = w.vh.data();
        w.q8.resize(heads_ * qk8.tpad * d);
        w.k8.resize(heads_ * qk8.tpad * d);
        w.sq.resize(heads_ * qk8.tpad);
        w.sk.resize(heads_ * qk8.tpad);
        qk8.q8 = w.q8.data();
        qk8.k8 = w.k8.data();
        qk8.sq = w.sq.data();
        qk8.sk = w.sk.data();
        for (int64_t hd = 0; hd < heads_; ++hd) {
            std::fill(qk8.sq + hd * qk8.tpad + written, qk8.sq + (hd + 1) * qk8.tpad, 0.0f);
            std::fill(qk8.sk + hd * qk8.tpad + written, qk8.sk + (hd + 1) * qk8.tpad, 0.0f);
            std::fill(qk8.q8 + (hd * qk8.tpad + written) * d, qk8.q8 + (hd + 1) * qk8.tpad * d, 0);
            for (int64_t g = 0; g < d / 4; ++g)
                std::fill(qk8.k8 + ((hd * d / 4 + g) * qk8.tpad + written) * 4,
                          qk8.k8 + (hd * d / 4 + g + 1) * qk8.tpad * 4, 0);
        }
    }
    timer.lap(prof.embeddings);
    // The layers; with a team, called by every thread of the region below: thread i keeps token
    // tiles i, i + n, ... through the QKV, attention output, LayerNorm and FFN kernels (its own
    // tiles, no barrier), and the threads meet only around the attention, which reads every token
    // of its heads. amax: the token maxima of xt (its last LayerNorm), the QKV and FFN1 scales.
    auto layers = [&](const S8Team* team) {
        auto lap = [&](double& stage) {
            if (!team || team->id == 0) timer.lap(stage);  // with a team: thread 0's wall time
        };
        const S8QK8* qk = qk8.q8 ? &qk8 : nullptr;
        for (const Layer* layer : order_) {
            const Layer& L = *layer;
            s8_run_tfm(*L.qkv.kernel, xt, amax, w.qkv.data(), false, t_all, by_heads ? 3 : 0,
                       by_heads ? heads_ : 0, team, qk);
            lap(prof.qkv);
            if (team) {
#pragma omp barrier
            }
            attention_s8(batch, w.qkv.data(), w.ctx.data(), by_heads, team, qk, &L);
            if (team) {
#pragma omp barrier
            }
            lap(prof.attention);
            s8_run_tfm(*L.attn_out.kernel, w.ctx.data(), nullptr, tt, true, t_all, 0, 0, team);
            lap(prof.attn_out);
            s8::layer_norm_tfm_avx512(tt, xt, L.ln1_g.data.data(), L.ln1_b.data.data(), xt, t_all,
                                      h, eps_, amax, team);
            lap(prof.layer_norm);
            s8_run_chain_tfm(*L.inter.kernel, *L.out.kernel, xt, amax, tt, true, t_all, team);
            lap(prof.intermediate);
            s8::layer_norm_tfm_avx512(tt, xt, L.ln2_g.data.data(), L.ln2_b.data.data(), xt, t_all,
                                      h, eps_, amax, team);
            lap(prof.layer_norm);
        }
    };
    if (team_region) {
#pragma omp parallel num_threads(nt)
        {
            const S8Team team{omp_get_thread_num(), omp_get_num_threads()};
            layers(&team);
        }
    } else {
        layers(nullptr);
    }
    s8::from_tfm_avx512(xt, t_all, h, x);
    timer.lap(prof.layer_norm);
}

void Encoder::forward_stream(const PackedBatch& batch, float* x, Workspace& w, StageTimer& timer,
                             int64_t group) const {
    const int64_t t_all = batch.num_tokens(), h = hidden_;
    EncoderProfile& prof = profile_;
    const int64_t n = spmm_stream_floats(t_all, h, group);
    w.xs.resize(n, kActivationHugeFrom);
    w.ts.resize(n, kActivationHugeFrom);
    w.qkv.resize(spmm_stream_floats(t_all, 3 * h, group), kActivationHugeFrom);
    w.ctx.resize(n, kActivationHugeFrom);
    float* const xs = w.xs.data();
    float* const ts = w.ts.data();
    float* const qs = w.qkv.data();
    float* const cs = w.ctx.data();
    if (modern_) {  // the gated MLP (NomicBERT, GTE): Wi's output, then the activation's
        w.glu.resize(spmm_stream_floats(t_all, 2 * inter_, group), kActivationHugeFrom);
        w.inter.resize(spmm_stream_floats(t_all, inter_, group), kActivationHugeFrom);
    }
    start_stream(x, xs, cs, t_all, h, group);
    timer.lap(prof.embeddings);
    for (const Layer* layer : order_) {
        const Layer& L = *layer;
        spmm_run_stream(*L.qkv.kernel, xs, true, qs, true, t_all);
        timer.lap(prof.qkv);
        if (rotary_)
            apply_rotary_stream(qs, t_all, w.rpos.data(), h, head_dim_, rope_global_, group);
        attention_stream(batch, qs, cs, group);
        timer.lap(prof.attention);
        spmm_run_stream(*L.attn_out.kernel, cs, true, ts, true, t_all);
        timer.lap(prof.attn_out);
        spmm_stream_layer_norm(ts, xs, L.ln1_g.data.data(), L.ln1_b.data.data(), xs, t_all, h,
                               group, eps_);
        timer.lap(prof.layer_norm);
        if (modern_) {
            spmm_run_stream(*L.inter.kernel, xs, true, w.glu.data(), true, t_all);
            gated_stream(w.glu.data(), w.inter.data(), t_all, group);
            spmm_run_stream(*L.out.kernel, w.inter.data(), true, ts, true, t_all);
        } else {
            spmm_run_chain_stream(*L.inter.kernel, *L.out.kernel, xs, ts, t_all);
        }
        timer.lap(prof.intermediate);
        spmm_stream_layer_norm(ts, xs, L.ln2_g.data.data(), L.ln2_b.data.data(), xs, t_all, h,
                               group, eps_);
        timer.lap(prof.layer_norm);
    }
    spmm_stream_unpack(xs, x, t_all, h, group);
    timer.lap(prof.layer_norm);
}

}  // namespace sparq
