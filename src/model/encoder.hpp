#pragma once
// The BERT encoder on a packed batch: embeddings + LayerNorm, then per layer fused QKV GEMM,
// attention per (sequence, head), output dense + residual + LayerNorm, GELU FFN + residual +
// LayerNorm. Every linear layer is a weight kernel chosen by plan_linear.
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/planner.hpp"
#include "model/attention_s8.hpp"
#include "model/rotary.hpp"
#include "model/weights.hpp"
#include "sparq/model.hpp"

namespace sparq {

struct S8Team;  // kernels/s8/s8_kernels.hpp
struct S8QK8;   // kernels/s8/s8_kernels.hpp

class StageTimer;  // encoder.cpp

// Time per encoder stage, accumulated over forward calls while profiling is on (seconds of wall
// time, or of process CPU time — all threads — when profiling with cpu_clock).
struct EncoderProfile {
    double embeddings = 0, qkv = 0, attention = 0, attn_out = 0, intermediate = 0, output = 0,
           layer_norm = 0;
    int64_t calls = 0;
    double total() const {
        return embeddings + qkv + attention + attn_out + intermediate + output + layer_norm;
    }
};

// One planned weight matrix, for plan reports.
struct PlanEntry {
    std::string name;
    int64_t out = 0, in = 0;
    double sparsity = 0;
    std::string kernel, why;
    bool on_spmm_rates = false;  // PlannedLinear::on_spmm_rates
};

// Sequence boundaries cut[0] = 0 < ... < cut[parts] = num_sequences splitting `batch` into
// `parts` contiguous shares balanced by tokens; empty when there are fewer sequences than parts
// or the largest share has more than `imbalance` x total / parts tokens.
std::vector<int64_t> split_sequences(const PackedBatch& batch, int parts, double imbalance);

class Encoder {
  public:
    // Takes the weights (embeddings, layers); plans every linear layer with `opts`.
    // Validates what it uses against `cfg` (throws sparq::Error).
    Encoder(const ModelConfig& cfg, BertWeights& weights, const PlanOptions& opts);

    // last_hidden_state for every token of `batch`: dst is [num_tokens][hidden].
    // Throws sparq::Error for token ids / type ids out of range or sequences too long.
    void forward(const PackedBatch& batch, float* dst) const;

    int64_t hidden() const { return hidden_; }
    // [vocab][hidden] word embeddings (a masked-LM decoder tied to them reads them).
    const Tensor& word_embeddings() const { return word_emb_; }
    const std::vector<PlanEntry>& plan() const { return plan_; }
    // One line: which attention runs (f32 or int8, kernel) and why.
    const std::string& attention_plan() const { return attention_plan_; }

    // CPU clock: robust to a loaded machine for one thread (includes OpenMP spin-waits otherwise).
    void set_profiling(bool on, bool cpu_clock = false) {
        profiling_ = on;
        cpu_clock_ = cpu_clock;
    }
    EncoderProfile profile() const { return profile_; }
    // Whether sparse FFN pairs run chained (spmm_run_chain; default on). Off: for benchmarks.
    void set_chain_ffn(bool on) { chain_ffn_ = on; }
    // Off: the int8 layers keep token-major hidden states even where forward_tfm applies (tests;
    // SPARQ_NO_TFM=1 in the environment does the same). tfm_active: forward_tfm applies.
    void set_tfm(bool on) { tfm_ = on; }
    // Off: forward_tfm on several threads opens a region per kernel instead of one team region
    // for all layers (SPARQ_NO_TFM_TEAM=1 does the same; results are bit-identical).
    void set_tfm_team(bool on) { tfm_team_ = on; }
    // Off: forward_tfm's QKV kernel writes Q and K f32 and the attention quantizes them, instead
    // of the kernel's epilogue writing them int8 for the AMX attention (S8QK8; SPARQ_NO_QK8=1 does
    // the same; results are bit-identical). qk8_active: forward_tfm writes them int8.
    void set_qk8(bool on) { qk8_ = on; }
    bool qk8_active() const;
    bool tfm_active() const { return tfm_layers(); }
    // Whether a batch of several sequences may be split across the threads, each thread running
    // the whole encoder single-threaded on its share (default on; used when the shares balance
    // within kSequenceImbalance, see split_sequences). Off: every stage splits its own work.
    // The environment variable SPARQ_NO_SEQUENCE_PARALLEL turns the default off.
    void set_sequence_parallel(bool on) { sequence_parallel_ = on; }
    // Whether, on several threads, the fused QKV kernel may give each thread the Q/K/V rows of
    // the heads that thread's attention then computes (LinearKernel::run_by_units), instead of
    // its own split with a dynamic head schedule (default on; SPARQ_NO_HEAD_SPLIT turns the
    // default off). Kernels without such a split ignore it.
    void set_head_split(bool on) { head_split_ = on; }
    // Whether the hidden states stay feature-major between layers when every linear kernel is a
    // sparse f32 kernel that can read and write that layout (spmm_stream_group; default on,
    // SPARQ_NO_STREAM turns the default off). Off: every kernel packs and unpacks its own data.
    void set_stream(bool on) { stream_ = on; }
    // The token group of that stream for a forward of `tokens` tokens on the calling team when
    // it is on and every linear kernel can use it, else 0.
    int64_t stream_group(int64_t tokens) const;
    // Tokens per thread of one part of a batch on that stream or on the sparse int8 TFM layers
    // (0: batches run whole; the default kStreamPartTokens, 0 with the environment variable
    // SPARQ_NO_STREAM_PARTS). A batch that would hold more runs the whole encoder part after
    // part, each part whole sequences, so its activations stay in the caches from stage to stage
    // (BERT-base at 8 x 128 tokens, one thread: 95% 7-8% faster in f32 and in int8, 90% 0-4%;
    // two threads within noise; 256 tokens per thread measured at least as fast as 128,
    // docs/benchmarks.md run 23). Results do not change: there a token's arithmetic does not
    // depend on its group, tile or lane, activation scales are per token, and attention is per
    // sequence (tested on every family; a dense embedding projection, ALBERT's when not pruned,
    // also runs per part, and oneDNN may round a row differently for another row count).
    void set_stream_part_tokens(int64_t per_thread) { stream_part_tokens_ = per_thread; }
    static constexpr int64_t kStreamPartTokens = 256;
    // The parts a batch runs in as sequence cut points {0, ..., n}, or empty to run it whole.
    std::vector<int64_t> stream_parts(const PackedBatch& batch) const;
    // Whether batches that balance are split by sequences (the switch is on and every planned
    // kernel's splits_by_sequences()).
    bool splits_batches() const;
    // Largest share of a split over the ideal (total tokens / threads).
    static constexpr double kSequenceImbalance = 1.15;
    void reset_profile() { profile_ = {}; }

  private:
    // Activations of one forward (grow only): one per thread that runs a share of a batch.
    struct Workspace {
        AlignedBuffer<float> qkv, ctx, tmp, inter;
        AlignedBuffer<float> xs,
            ts;  // the packed stream (f32) or TFM (int8): hidden states, sublayer outputs
        AlignedBuffer<float> absmax;  // TFM: each token's max |x| after the last LayerNorm
        AlignedBuffer<uint8_t> q8;    // TFM with int8 Q/K from the QKV kernel (S8QK8): Q rows,
        AlignedBuffer<int8_t> k8;     // packed K,
        AlignedBuffer<float> sq, sk, vh;  // their per-token scales; V head-major (S8QK8::v)
        AlignedBuffer<int32_t> pos;       // position of every packed token in its sequence
        AlignedBuffer<float> emb;         // normalized embeddings before embeddings_project
        AlignedBuffer<float> alt, glu;    // ModernBERT: the other residual buffer, Wi's output
        AlignedBuffer<int32_t> rpos;      // ModernBERT: rotary position of every packed token
    };
    // Linear weights live only inside their kernels (kernels copy what they need at build).
    struct Layer {
        PlannedLinear qkv, attn_out, inter, out;  // qkv: Q, K, V concatenated, [3H][H]
        Tensor ln1_g, ln1_b, ln2_g, ln2_b;
        // JinaBERT's qk-post-norm variant: the LayerNorms of Q and K (over the hidden size,
        // before the heads) and layer_norm_1 after the attention block's own (empty otherwise).
        Tensor qn_g, qn_b, kn_g, kn_b, mid_g, mid_b;
        // DeBERTa: key / query projections of the relative embeddings, per head transposed,
        // [heads][head size][rel_ld_] (c2p / p2c; empty otherwise).
        AlignedBuffer<float> pos_k, pos_q;
        S8RelPack pos_k8, pos_q8;  // the same on int8, for the int8 attention
        // ModernBERT: whether the layer attends within the window (and rotates with the local
        // base). Its ln1 (attn_norm) is empty in layer 0 (no LayerNorm before its attention).
        bool local = false;
    };
    PlannedLinear plan(const float* w, const float* b, int64_t out, int64_t in, Activation act,
                       const std::string& name, const PlanOptions& opts);
    // by_heads: thread i takes heads split_range(heads, threads, i) of every sequence (the QKV
    // ran with run_by_units: qkv is head-major), else a dynamic schedule over all (sequence,
    // head) jobs (qkv token-major).
    // DeBERTa: the disentangled attention with `layer`'s relative projections.
    void attention(const PackedBatch& batch, const float* qkv, float* ctx, bool by_heads,
                   const Layer& layer) const;
    // The same on the packed stream (f32): Q, K, V from the QKV stream qs, context into the
    // stream cs (attention_head_stream_avx512), a dynamic schedule over (sequence, head) jobs.
    void attention_stream(const PackedBatch& batch, const float* qs, float* cs, int64_t group,
                          const Layer* layer = nullptr) const;
    // The same with int8 matmuls (attention_s8.hpp).
    // With a team (called by every thread of an enclosing region; qkv token-major), thread i takes
    // heads split_range(heads, n, i) of every sequence and no region is opened.
    // With qk8 (token-major qkv only), Q and K come int8 from qk8 (the QKV kernel wrote them;
    // attention_head_s8_qk8) and only V from qkv.
    void attention_s8(const PackedBatch& batch, const float* qkv, float* ctx, bool by_heads,
                      const S8Team* team = nullptr, const S8QK8* qk8 = nullptr,
                      const Layer* layer = nullptr) const;
    // The encoder on a validated, non-empty batch with the calling thread's team (timed: add
    // the stage times to profile_).
    void forward_on(const PackedBatch& batch, float* dst, Workspace& w, bool timed) const;
    // forward_on over stream_parts(batch), or the batch whole.
    void forward_parts(const PackedBatch& batch, float* dst, Workspace& w, bool timed) const;
    // forward_on's layers on the packed stream, from the embeddings in x to the output in x.
    void forward_stream(const PackedBatch& batch, float* x, Workspace& w, StageTimer& timer,
                        int64_t group) const;
    // Whether every layer's four linears are sparse int8 kernels that take the TFM layout
    // (s8_tfm_capable) with int8 attention and the FFN chain: forward_on then runs forward_tfm.
    bool tfm_layers() const;
    // forward_on's layers with the hidden states in the TFM layout (kernels/s8/s8_kernels.hpp):
    // no transposes around the attention output and FFN, LayerNorm down the features with the
    // next kernel's per-token maxima as a by-product. From the embeddings in x to the output in x.
    void forward_tfm(const PackedBatch& batch, float* x, Workspace& w, StageTimer& timer) const;
    // ModernBERT's layers (pre-norm, rotary, local windows, gated MLP) and final LayerNorm, from
    // the embeddings in x to the output in x.
    void forward_modern(const PackedBatch& batch, float* x, Workspace& w, StageTimer& timer) const;
    // out [t_all][inter] = act(u's first inter columns) * u's second inter (GELU or SiLU).
    void gated_activation(const float* u, float* out, int64_t t_all) const;
    // The same on the packed stream: us holds Wi's 2 inter rows per group, gs gets inter rows.
    void gated_stream(const float* us, float* gs, int64_t t_all, int64_t group) const;
    // The same on the packed stream (every linear kernel sparse f32 with token group `group`).
    void forward_modern_stream(const PackedBatch& batch, float* x, Workspace& w, StageTimer& timer,
                               int64_t group) const;

    int64_t hidden_, heads_, head_dim_, inter_, max_pos_, pos_offset_, pad_id_, type_vocab_, vocab_;
    int64_t emb_;       // embedding width (ELECTRA's embedding_size; else hidden_)
    bool token_types_;  // false: no token-type embeddings (type ids ignored)
    PlannedLinear emb_proj_;  // ELECTRA's embeddings_project when emb_ != hidden_
    float eps_;
    Tensor word_emb_, pos_emb_, type_emb_, emb_ln_g_, emb_ln_b_;
    std::vector<Layer> layers_;          // the layers with their own weights
    std::vector<const Layer*> order_;    // the layers as applied (ALBERT: shared, repeated)
    std::vector<PlanEntry> plan_;
    bool attention_s8_ = false;
    // MPNet: per head, the relative position bias by distance -(rel_len_ - 1) .. rel_len_ - 1
    // ([heads][2 * rel_len_ - 1]; rel_bias_of_distance); JinaBERT: its ALiBi the same way
    // (alibi_bias_of_distance); empty for every other family.
    std::vector<float> rel_bias_;
    int64_t rel_len_ = 0;
    // DeBERTa: per distance -(rel_len_ - 1) .. rel_len_ - 1 the relative embedding row it reads
    // (deberta_rel_index; empty for every other family), the span, 1 + c2p + p2c.
    std::vector<int32_t> rel_idx_;
    int64_t span_ = 0, scale_factor_ = 1, rel_ld_ = 0;  // rel_ld_: Layer::pos_k's row stride
    // The attention kernels' rel_bias of `head` (distance 0 entry), nullptr without one.
    // ModernBERT: the window's mask for a local layer (0 within it, -1e30 outside), else none.
    // DeBERTa: head `head` of layer's relative projections and the bucket table.
    DisentangledHead disentangled_head(const Layer& layer, int64_t head) const;
    // DeBERTa: the bucket table's entry of distance 0 (DisentangledHead::idx).
    const int32_t* rel_idx_zero() const {
        return rel_idx_.data() + rel_len_ - 1 + kDebertaIndexPad;
    }
    const float* rel_bias(int64_t head, const Layer* layer = nullptr) const {
        if (!rel_bias_.empty())  // MPNet's buckets, JinaBERT's ALiBi
            return rel_bias_.data() + head * (2 * rel_len_ - 1) + rel_len_ - 1;
        return modern_ && layer && layer->local ? window_bias_.data() + rel_len_ - 1 : nullptr;
    }
    // ModernBERT (ModelConfig::Modern): the rotary angles of global and local layers, the
    // window's mask by distance -(rel_len_ - 1) .. rel_len_ - 1, the final LayerNorm.
    bool modern_ = false;
    // NomicBERT and GTE on ModernBERT's machinery: post-norm layers (BERT's loops); the gated
    // MLP's activation SiLU.
    bool post_norm_ = false, silu_glu_ = false;
    bool rotary_ = false;  // rotary Q / K (every modern_ family but JinaBERT's ALiBi)
    bool qk_norm_ = false;  // JinaBERT qk-post-norm (Layer::qn_g ...): token-major layers only
    // JinaBERT qk-post-norm: Q = LN_q(Q), K = LN_k(K) in place in the token-major QKV output.
    void qk_layer_norm(float* qkv, const Layer& L, int64_t t_all) const;
    int64_t window_ = 0;  // local layers: keys within +-window_
    // Whether local layers compute only the keys their windows reach (default; SPARQ_NO_BAND=1
    // computes every key under the window mask, for comparison).
    bool band_ = std::getenv("SPARQ_NO_BAND") == nullptr;
    RotaryTable rope_global_, rope_local_;
    std::vector<float> window_bias_;
    Tensor final_ln_g_, final_ln_b_;
    std::string attention_plan_;

    // Activations reused across calls; forward calls are serialized.
    mutable std::mutex mu_;
    mutable std::vector<Workspace> workspaces_;
    bool profiling_ = false, cpu_clock_ = false, chain_ffn_ = true,
         sequence_parallel_ = std::getenv("SPARQ_NO_SEQUENCE_PARALLEL") == nullptr,
         head_split_ = std::getenv("SPARQ_NO_HEAD_SPLIT") == nullptr,
         stream_ = std::getenv("SPARQ_NO_STREAM") == nullptr,
         tfm_ = std::getenv("SPARQ_NO_TFM") == nullptr,
         tfm_team_ = std::getenv("SPARQ_NO_TFM_TEAM") == nullptr,
         qk8_ = std::getenv("SPARQ_NO_QK8") == nullptr;
    int64_t stream_part_tokens_ =
        std::getenv("SPARQ_NO_STREAM_PARTS") == nullptr ? kStreamPartTokens : 0;
    mutable EncoderProfile profile_;
};

}  // namespace sparq
