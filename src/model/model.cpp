// BertModel: sparq::Model over the packed encoder and the task heads.
#include "model/model.hpp"

#include <dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>

#include "core/threading.hpp"
#include "kernels/fused.hpp"
#include "kernels/planner.hpp"
#include "model/family.hpp"
#include "model/heads.hpp"
#include "sparq/error.hpp"

namespace sparq {

PackedBatch PackedBatch::from(const std::vector<Encoding>& encodings) {
    PackedBatch b;
    b.offsets.reserve(encodings.size() + 1);
    b.offsets.push_back(0);
    for (size_t s = 0; s < encodings.size(); ++s) {
        const Encoding& e = encodings[s];
        if (!e.type_ids.empty() && e.type_ids.size() != e.ids.size())
            throw Error("encoding " + std::to_string(s) + ": expected " +
                        std::to_string(e.ids.size()) + " type ids, found " +
                        std::to_string(e.type_ids.size()));
        b.input_ids.insert(b.input_ids.end(), e.ids.begin(), e.ids.end());
        if (e.type_ids.empty())
            b.token_type_ids.insert(b.token_type_ids.end(), e.ids.size(), 0);
        else
            b.token_type_ids.insert(b.token_type_ids.end(), e.type_ids.begin(), e.type_ids.end());
        b.offsets.push_back(static_cast<int64_t>(b.input_ids.size()));
    }
    return b;
}

PackedBatch pack_padded(const PaddedInput& in) {
    if (in.batch < 0 || in.seq < 0 || (in.batch * in.seq > 0 && !in.input_ids))
        throw Error("padded input: expected input_ids of shape [batch][seq] with batch, seq >= 0");
    PackedBatch b;
    b.offsets.push_back(0);
    auto to_i32 = [](int64_t v, const char* what, int64_t row, int64_t col) {
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
            throw Error(std::string("padded input: ") + what + "[" + std::to_string(row) + "][" +
                        std::to_string(col) + "] = " + std::to_string(v) + " does not fit int32");
        return static_cast<int32_t>(v);
    };
    for (int64_t r = 0; r < in.batch; ++r) {
        int64_t len = in.seq;
        if (in.attention_mask) {
            const int64_t* m = in.attention_mask + r * in.seq;
            len = 0;
            while (len < in.seq && m[len] == 1) ++len;
            for (int64_t c = len; c < in.seq; ++c)
                if (m[c] != 0)
                    throw Error("padded input: attention_mask row " + std::to_string(r) +
                                " must be ones then zeros, found " + std::to_string(m[c]) +
                                " at position " + std::to_string(c) + " after a 0 at " +
                                std::to_string(len));
        }
        for (int64_t c = 0; c < len; ++c) {
            b.input_ids.push_back(to_i32(in.input_ids[r * in.seq + c], "input_ids", r, c));
            b.token_type_ids.push_back(in.token_type_ids ? to_i32(in.token_type_ids[r * in.seq + c],
                                                                  "token_type_ids", r, c)
                                                         : 0);
        }
        b.offsets.push_back(static_cast<int64_t>(b.input_ids.size()));
    }
    return b;
}

std::vector<float> unpack_padded(const HiddenStates& st, int64_t seq) {
    int64_t n = static_cast<int64_t>(st.offsets.size()) - 1, h = st.hidden;
    if (n < 0) n = 0;
    std::vector<float> dst(n * seq * h, 0.0f);
    for (int64_t s = 0; s < n; ++s) {
        int64_t len = st.offsets[s + 1] - st.offsets[s];
        if (len > seq)
            throw Error("unpack: sequence " + std::to_string(s) + " has " + std::to_string(len) +
                        " tokens, more than the padded length " + std::to_string(seq));
        std::memcpy(dst.data() + s * seq * h, st.data.data() + st.offsets[s] * h,
                    len * h * sizeof(float));
    }
    return dst;
}

namespace {

void expect_head(const Tensor& t, std::vector<int64_t> shape, const std::string& name) {
    if (t.shape != shape) {
        auto str = [](const std::vector<int64_t>& v) {
            std::string r = "[";
            for (size_t i = 0; i < v.size(); ++i) r += (i ? "," : "") + std::to_string(v[i]);
            return r + "]";
        };
        throw Error("tensor " + name + ": expected shape " + str(shape) + ", found " +
                    (t.shape.empty() ? std::string("no tensor") : str(t.shape)));
    }
}

// c[m][n] = a[m][k] · b[n][k]ᵀ (row-major; b read in place), oneDNN's sgemm on the threads
// of num_threads().
void sgemm_nt(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
    if (dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, k, b, k, 0.0f, c, n) != dnnl_success)
        throw Error("sgemm failed (" + std::to_string(m) + "x" + std::to_string(n) + "x" +
                    std::to_string(k) + ")");
}

PlanOptions plan_options(const LoadOptions& o) {
    PlanOptions p;
    p.kernels = o.kernels;
    p.precision = o.precision;
    p.attention = o.attention;
    return p;
}

class BertModel final : public Model {
  public:
    BertModel(const ModelConfig& cfg, BertWeights w, const LoadOptions& opts,
              std::optional<Tokenizer> tok, KernelWrap wrap)
        : cfg_(cfg), tokenizer_(std::move(tok)) {
        PlanOptions popts = plan_options(opts);
        popts.wrap = std::move(wrap);
        if (w.quantized) popts.precision = "int8";  // int8 weights: int8 kernels (or f32 fallback)
        precision_ = popts.precision;
        popts.act_scales = &w.act_scales;
        const int64_t h = cfg.hidden_size;
        pooler_w_ = std::move(w.pooler_w);
        pooler_b_ = std::move(w.pooler_b);
        cls_w_ = std::move(w.classifier_w);
        cls_b_ = std::move(w.classifier_b);
        qa_w_ = std::move(w.qa_w);
        qa_b_ = std::move(w.qa_b);
        mlm_dense_w_ = std::move(w.mlm_dense_w);
        mlm_dense_b_ = std::move(w.mlm_dense_b);
        mlm_ln_g_ = std::move(w.mlm_ln_g);
        mlm_ln_b_ = std::move(w.mlm_ln_b);
        mlm_decoder_w_ = std::move(w.mlm_decoder_w);
        mlm_bias_ = std::move(w.mlm_bias);
        if (w.splade) {
            if (mlm_dense_w_.empty())
                throw Error(
                    "modules.json has a SpladePooling module, but the model has no "
                    "masked-LM head (" +
                    arch() + "; SPLADE needs a ...ForMaskedLM checkpoint)");
            splade_ = *w.splade;
        }
        head_ln_g_ = std::move(w.head_ln_g);
        head_ln_b_ = std::move(w.head_ln_b);
        encoder_ = std::make_unique<Encoder>(cfg, w, popts);
        // int8 models: SPLADE's decoder on an int8 kernel (per-row weight scales, activations per
        // token), the one head that costs more than the encoder; fill-mask keeps the f32 table.
        // Built at load for a SparseEncoder directory, else on first use (a SPLADE request, or
        // the plan): a BERT-base vocabulary's takes ~0.1-0.3 s that fill-mask never needs.
        if (has_int8_decoder()) {
            decoder_opts_ = popts;
            decoder_opts_.kernels = "dense";
            decoder_opts_.act_scales = nullptr;
            // A head: no decorator (calibration observes the encoder).
            decoder_opts_.wrap = nullptr;
            decoder_at_load_ = w.splade.has_value();
            if (decoder_at_load_) int8_decoder();
        }
        // The first layer of DistilBERT's and RoBERTa's / ELECTRA's classification heads sits in
        // the pooler's slot (with ReLU, tanh, GELU: ModelConfig::pooler_act).
        const bool cls_dense =
            cfg.task == Task::sequence_classification && cfg.dense_classifier_head();
        const std::string pooler =
            cfg.model_type == "distilbert" ? "pre_classifier"
            : cls_dense                    ? "classifier.dense"
            : cfg.modern_head()            ? "head.dense"
            : cfg.model_type == "electra" && cfg.task == Task::multiple_choice
                ? "sequence_summary.summary"
                : "pooler.dense";
        if (!head_ln_g_.empty()) {
            expect_head(head_ln_g_, {h}, "head.norm.weight");
            expect_head(head_ln_b_, {h}, "head.norm.bias");
        }
        if (!pooler_w_.empty()) {
            expect_head(pooler_w_, {h, h}, pooler + ".weight");
            expect_head(pooler_b_, {h}, pooler + ".bias");
            pooler_ = head(pooler_w_, pooler_b_, h, h, pooler + ".weight", popts);
        }
        if (cfg.sequence_head() || cfg.task == Task::token_classification) {
            const std::string cls = cls_dense ? "classifier.out_proj" : "classifier";
            expect_head(cls_w_, {cfg.num_labels, h}, cls + ".weight");
            expect_head(cls_b_, {cfg.num_labels}, cls + ".bias");
            classifier_ = head(cls_w_, cls_b_, cfg.num_labels, h, cls + ".weight", popts);
            if (cfg.sequence_head() && !pooler_.kernel)
                throw Error(std::string(cfg.task == Task::multiple_choice
                                            ? "multiple-choice"
                                            : "sequence classification") +
                            " model: expected " + pooler + ".weight, found none");
        }
        for (BertWeights::Dense& d : w.sentence_dense) {
            // sentence-transformers Dense modules: f32 heads like the others.
            const SentenceEmbeddingConfig::Dense& m = d.module;
            dense_.push_back({head(d.w, d.b, m.out, m.in, m.dir + "/linear.weight", popts), m});
            dense_w_.push_back(std::move(d.w));
            dense_w_.push_back(std::move(d.b));
        }
        if (cfg.task == Task::question_answering) {
            const std::string qa = cfg.modern_head() ? "classifier" : "qa_outputs";
            expect_head(qa_w_, {2, h}, qa + ".weight");
            expect_head(qa_b_, {2}, qa + ".bias");
            qa_ = head(qa_w_, qa_b_, 2, h, qa + ".weight", popts);
            if (cfg.modern_head() && !pooler_.kernel)
                throw Error("question answering model: expected head.dense.weight, found none");
        }
    }

    const ModelConfig& config() const override { return cfg_; }
    const Tokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }

    HiddenStates encode(const PackedBatch& batch) const override {
        HiddenStates st;
        st.hidden = encoder_->hidden();
        st.offsets = batch.offsets.empty() ? std::vector<int64_t>{0} : batch.offsets;
        st.data.resize(batch.num_tokens() * st.hidden);
        encoder_->forward(batch, st.data.data());
        return st;
    }

    std::vector<std::vector<float>> pooled(const PackedBatch& batch) const override {
        if (!pooler_.kernel)
            throw Error(cfg_.model_type == "distilbert"
                            ? "this model has no pooler (DistilBERT has none; a sequence "
                              "classifier's relu(pre_classifier) stands in for it)"
                            : "this model has no pooler (pooler.dense.weight absent)");
        return rows(pooled_flat(encode(batch)), cfg_.hidden_size);
    }

    std::vector<std::vector<float>> embed(const PackedBatch& batch, Pooling pooling, bool normalize,
                                          int64_t skip_first) const override {
        if (pooling == Pooling::splade) return splade(encode(batch), normalize);
        HiddenStates st = encode(batch);
        if (dense_.empty() || pooling == Pooling::none)
            return pool_sequences(st.data.data(), st.offsets, st.hidden, pooling, normalize,
                                  skip_first);
        // sentence-transformers order: Pooling, the Dense modules, then Normalize.
        const auto pooled = pool_sequences(st.data.data(), st.offsets, st.hidden, pooling,
                                           /*normalize=*/false, skip_first);
        const int64_t n = static_cast<int64_t>(pooled.size());
        std::vector<float> x;
        for (const auto& v : pooled) x.insert(x.end(), v.begin(), v.end());
        for (const DenseLayer& d : dense_) {
            std::vector<float> y(n * d.module.out);
            if (n > 0) d.linear.kernel->run(x.data(), y.data(), n);
            apply_head_activation(y.data(), n, d.module.out, d.module.act);
            x = std::move(y);
        }
        const int64_t e = embedding_size();
        std::vector<std::vector<float>> out = rows(x, e);
        if (normalize)
            for (auto& v : out) l2_normalize(v.data(), e);
        return out;
    }

    int64_t embedding_size() const override {
        return dense_.empty() ? cfg_.hidden_size : dense_.back().module.out;
    }

    std::vector<Classification> classify(const PackedBatch& batch) const override {
        if (cfg_.task != Task::sequence_classification)
            throw Error("classify: expected a sequence classification model, found " + arch());
        const std::vector<float> logits = sequence_logits(batch);
        const int64_t l = cfg_.num_labels;
        std::vector<Classification> out;
        for (int64_t s = 0; s < batch.num_sequences(); ++s)
            out.push_back(classification_from_logits(logits.data() + s * l, l, cfg_));
        return out;
    }

    std::vector<float> choice_logits(const PackedBatch& batch) const override {
        if (cfg_.task != Task::multiple_choice)
            throw Error(
                "multiple choice: expected a multiple-choice model (...ForMultipleChoice), "
                "found " +
                arch());
        return sequence_logits(batch);  // one logit per sequence
    }

    std::vector<TokenTag> tag_tokens(const PackedBatch& batch) const override {
        if (cfg_.task != Task::token_classification)
            throw Error("tag_tokens: expected a token classification model, found " + arch());
        const HiddenStates st = token_head_input(batch);
        int64_t t_all = batch.num_tokens(), l = cfg_.num_labels;
        std::vector<float> logits(t_all * l);
        if (t_all > 0) classifier_.kernel->run(st.data.data(), logits.data(), t_all);
        std::vector<TokenTag> out(batch.num_sequences());
        for (int64_t s = 0; s < batch.num_sequences(); ++s)
            for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t) {
                const float* row = logits.data() + t * l;
                out[s].logits.emplace_back(row, row + l);
                out[s].label_ids.push_back(std::max_element(row, row + l) - row);
            }
        return out;
    }

    std::vector<Span> answer_spans(const PackedBatch& batch,
                                   int64_t max_answer_len) const override {
        if (cfg_.task != Task::question_answering)
            throw Error("answer_spans: expected a question answering model, found " + arch());
        if (max_answer_len < 1)
            throw Error("answer_spans: expected max_answer_len >= 1, found " +
                        std::to_string(max_answer_len));
        const HiddenStates st = token_head_input(batch);
        int64_t t_all = batch.num_tokens();
        std::vector<float> logits(t_all * 2);
        if (t_all > 0) qa_.kernel->run(st.data.data(), logits.data(), t_all);
        std::vector<int32_t> special;
        if (tokenizer_)
            special = {tokenizer_->cls_id(), tokenizer_->sep_id(), tokenizer_->pad_id()};
        std::vector<Span> out;
        for (int64_t s = 0; s < batch.num_sequences(); ++s) {
            int64_t off = batch.offsets[s], len = batch.offsets[s + 1] - off;
            std::vector<float> start(len), end(len);
            for (int64_t i = 0; i < len; ++i) {
                start[i] = logits[(off + i) * 2];
                end[i] = logits[(off + i) * 2 + 1];
            }
            const int32_t* types = batch.token_type_ids.data() + off;
            std::vector<int32_t> segments;
            if (cfg_.roberta_style()) {
                // One token type (MPNetTokenizer too): the context is what follows the pair's
                // </s></s>.
                const int32_t sep = tokenizer_ ? tokenizer_->sep_id() : 2;
                const int32_t* ids = batch.input_ids.data() + off;
                segments.assign(static_cast<size_t>(len), 0);
                for (int64_t i = 0; i + 1 < len; ++i)
                    if (ids[i] == sep && ids[i + 1] == sep) {
                        std::fill(segments.begin() + i + 2, segments.end(), 1);
                        break;
                    }
                types = segments.data();
            }
            out.push_back(best_span(start.data(), end.data(), types, batch.input_ids.data() + off, len,
                                    max_answer_len, special));
        }
        return out;
    }

    const std::string& precision() const override { return precision_; }

    std::string plan_report() const override {
        std::ostringstream os;
        auto line = [&](const PlanEntry& e) {
            os << plan_display_name(cfg_.model_type, e.name) << "  [" << e.out << "x" << e.in
               << "]  sparsity " << static_cast<int>(e.sparsity * 1000 + 0.5) / 10.0 << "%  "
               << (e.kernel.find("_s8") != std::string::npos ? "int8" : "f32") << "  " << e.kernel
               << "  (" << e.why << ")\n";
        };
        for (const auto& e : encoder_->plan()) line(e);
        for (const auto& e : head_plan_) line(e);
        if (has_int8_decoder()) {
            const LinearDesc d = decoder_desc();
            const PlannedLinear& k = int8_decoder();
            line({d.name, d.out, d.in, k.sparsity, k.kernel->name(),
                  std::string("int8 model: SPLADE's vocabulary logits on int8") +
                      (decoder_at_load_ ? ""
                                        : ", built on first use (a SPLADE request or this plan)") +
                      "; fill-mask: f32"});
        }
        const auto& plan = encoder_->plan();
        if (std::any_of(plan.begin(), plan.end(),
                        [](const PlanEntry& e) { return e.on_spmm_rates; })) {
            const SpmmRates& r = spmm_rates();
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          "f32 cost model (%s): dense %.0f GFLOP/s, sparse %.0f GFLOP/s over "
                          "nonzeros + %.2f / %.2f ns per output / input feature per token\n",
                          r.source.c_str(), r.dense_gflops, r.sparse_gflops, r.ns_per_output,
                          r.ns_per_input);
            os << buf;
        }
        os << encoder_->attention_plan() << "\n";
        if (encoder_->tfm_active())
            os << "hidden states  TFM  (tile-major feature-major between the sparse int8 layers: "
                  "no "
                  "transposes, LayerNorm gives the next kernel's scales; SPARQ_NO_TFM=1: "
                  "token-major)\n";
        if (encoder_->qk8_active())
            os << "query/key  int8 from the QKV kernel  (its epilogue quantizes Q and K per token "
                  "and head for the AMX attention; SPARQ_NO_QK8=1: f32, quantized by the "
                  "attention)\n";
        return os.str();
    }

    Encoder* encoder() const { return encoder_.get(); }

  private:
    PlannedLinear head(const Tensor& w, const Tensor& b, int64_t out, int64_t in,
                       const std::string& name, const PlanOptions& popts) {
        LinearDesc d;
        d.weight = w.data.data();
        d.bias = b.data.data();
        d.out = out;
        d.in = in;
        d.name = name;
        PlanOptions f32 = popts;  // heads stay f32 (see docs/int8.md)
        f32.precision = "f32";
        PlannedLinear p = plan_linear(d, f32);
        if (popts.precision == "int8") p.why = "heads stay f32 in int8 models; " + p.why;
        head_plan_.push_back({name, out, in, p.sparsity, p.kernel->name(), p.why});
        return p;
    }

    // What the per-token heads (token classification, QA) read: the hidden states, or for
    // ModernBERT its prediction head (dense + GELU + norm) on every token.
    HiddenStates token_head_input(const PackedBatch& batch) const {
        HiddenStates st = encode(batch);
        const int64_t t_all = batch.num_tokens();
        if (cfg_.modern_head() && t_all > 0) {
            std::vector<float> x(st.data.size());
            apply_head(st.data.data(), x.data(), t_all);
            st.data = std::move(x);
        }
        return st;
    }

    // The sequence-level head: the pooled vector of every sequence through the classifier,
    // [sequences][num_labels].
    std::vector<float> sequence_logits(const PackedBatch& batch) const {
        const std::vector<float> pooled = pooled_flat(encode(batch));
        const int64_t n = batch.num_sequences();
        std::vector<float> logits(n * cfg_.num_labels);
        if (n > 0) classifier_.kernel->run(pooled.data(), logits.data(), n);
        return logits;
    }

    std::vector<float> pooled_flat(const HiddenStates& st) const {
        int64_t n = static_cast<int64_t>(st.offsets.size()) - 1, h = st.hidden;
        std::vector<float> cls;
        if (cfg_.modern.mean_pooling) {  // ModernBERT's classifier_pooling "mean"
            for (const auto& v : pool_sequences(st.data.data(), st.offsets, h, Pooling::mean,
                                                /*normalize=*/false))
                cls.insert(cls.end(), v.begin(), v.end());
        } else {
            cls = gather_cls(st.data.data(), st.offsets, h);
        }
        std::vector<float> dst(n * h);
        if (n > 0) apply_head(cls.data(), dst.data(), n);
        return dst;
    }

    // The pooler slot's dense + activation (tanh: BERT; ReLU: DistilBERT's pre_classifier; GELU:
    // ELECTRA, DeBERTa, ModernBERT), then ModernBERT's head.norm, on n rows.
    void apply_head(const float* src, float* dst, int64_t n) const {
        const int64_t h = cfg_.hidden_size;
        if (n == 0) return;
        pooler_.kernel->run(src, dst, n);
        apply_head_activation(dst, n, h, cfg_.pooler_act);
        if (!head_ln_g_.empty())
            layer_norm(dst, nullptr, head_ln_g_.data.data(), head_ln_b_.data.data(), dst, n, h,
                       cfg_.layer_norm_eps);
    }

    // The masked-LM head's transform on m rows of last hidden states x [m][hidden]: dense + GELU
    // (erf, or ALBERT's tanh form) + LayerNorm, into t [m][e] (e: hidden; ELECTRA's generator:
    // embedding_size).
    void mlm_transform(const float* x, int64_t m, float* t) const {
        const int64_t h = cfg_.hidden_size, e = mlm_dense_w_.shape[0];
        sgemm_nt(m, e, h, x, mlm_dense_w_.data.data(), t);
        (cfg_.gelu_tanh() ? bias_gelu_tanh : bias_gelu)(t, mlm_dense_b_.data.data(), m, e);
        layer_norm(t, nullptr, mlm_ln_g_.data.data(), mlm_ln_b_.data.data(), t, m, e,
                   cfg_.layer_norm_eps);
    }
    // The decoder's table [vocab][e]: its own, else tied to the word embeddings (read in place).
    const float* mlm_decoder() const {
        return mlm_decoder_w_.empty() ? encoder_->word_embeddings().data.data()
                                      : mlm_decoder_w_.data.data();
    }

    // The masked-LM head on m rows of last hidden states x [m][hidden]: the transform, then the
    // decoder (oneDNN sgemm over the [vocab][e] table) and its bias, into logits [m][vocab].
    void mlm_logits(const float* x, int64_t m, float* logits) const {
        const int64_t vocab = cfg_.vocab_size, e = mlm_dense_w_.shape[0];
        std::vector<float> t(m * e);
        mlm_transform(x, m, t.data());
        sgemm_nt(m, vocab, e, t.data(), mlm_decoder(), logits);
        for (int64_t r = 0; r < m; ++r)
            for (int64_t v = 0; v < vocab; ++v) logits[r * vocab + v] += mlm_bias_.data[v];
    }

    void require_mlm_head(const char* what) const {
        if (mlm_dense_w_.empty())
            throw Error(std::string(what) + ": the model has no masked-LM head (" + arch() +
                        "; expected a ...ForMaskedLM or BertForPreTraining checkpoint)");
    }

    std::vector<MaskFill> fill_mask(const PackedBatch& batch, size_t top_k) const override {
        require_mlm_head("fill-mask");
        if (!tokenizer_ || tokenizer_->mask_id() < 0)
            throw Error("fill-mask: the tokenizer has no mask token");
        const int32_t mask = tokenizer_->mask_id();
        const HiddenStates st = encode(batch);
        const int64_t h = st.hidden, vocab = cfg_.vocab_size;
        std::vector<MaskFill> out;
        std::vector<int64_t> rows;
        for (int64_t s = 0; s < batch.num_sequences(); ++s)
            for (int64_t p = batch.offsets[s]; p < batch.offsets[s + 1]; ++p)
                if (batch.input_ids[p] == mask) {
                    MaskFill f;
                    f.sequence = s;
                    f.position = p - batch.offsets[s];
                    out.push_back(std::move(f));
                    rows.push_back(p);
                }
        const int64_t m = static_cast<int64_t>(rows.size());
        std::vector<float> logits(vocab);
        std::vector<int32_t> ids(vocab);
        // Row by row (M = 1): a mask's numbers do not depend on what else is in the batch.
        for (int64_t r = 0; r < m; ++r) {
            mlm_logits(st.data.data() + rows[r] * h, 1, logits.data());
            const float* lr = logits.data();
            const float mx = *std::max_element(lr, lr + vocab);
            double sum = 0;
            for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(lr[v] - mx));
            for (int64_t v = 0; v < vocab; ++v) ids[v] = static_cast<int32_t>(v);
            const size_t k = std::min<size_t>(top_k, static_cast<size_t>(vocab));
            std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
                return lr[a] > lr[b] || (lr[a] == lr[b] && a < b);
            });
            for (size_t i = 0; i < k; ++i)
                out[r].top.emplace_back(
                    ids[i],
                    static_cast<float>(std::exp(static_cast<double>(lr[ids[i]] - mx)) / sum));
        }
        return out;
    }

    // SPLADE vectors [sequence][vocab] (sentence-transformers' SpladePooling): the head's logits
    // at every token, f(x) = log(1 + relu(x)) (log1p_relu: log(1 + f(x))), the max (or sum) over
    // the sequence's tokens. f is non-decreasing, so max pooling takes f of each column's largest
    // logit. The batch's rows in blocks of kRows (the last one padded with zero rows) through the
    // transform, then the decoder a tile of kTile vocabulary rows at a time (its floats stay in L2
    // while every row block passes), so the table streams from memory once per batch. Every
    // oneDNN call has the same shape wherever a row sits: a text gives the same floats alone and
    // in any batch, at any thread count (tested).
    std::vector<std::vector<float>> splade(const HiddenStates& st, bool normalize) const {
        require_mlm_head("SPLADE pooling");
        const int64_t h = st.hidden, vocab = cfg_.vocab_size, e = mlm_dense_w_.shape[0];
        const int64_t n = static_cast<int64_t>(st.offsets.size()) - 1, total = st.offsets.back();
        constexpr int64_t kRows = 32, kTile = 256;
        const int64_t blocks = (total + kRows - 1) / kRows;
        auto f = [&](float x) {
            const float y = std::log1p(std::max(x, 0.0f));
            return splade_.log1p_relu ? std::log1p(y) : y;
        };
        std::vector<float> t(blocks * kRows * e), x(kRows * h);
        for (int64_t b = 0; b < blocks; ++b) {
            const int64_t m = std::min(kRows, total - b * kRows);
            std::fill(x.begin(), x.end(), 0.0f);
            std::copy(st.data.begin() + b * kRows * h, st.data.begin() + (b * kRows + m) * h,
                      x.begin());
            mlm_transform(x.data(), kRows, t.data() + b * kRows * e);
        }
        std::vector<int64_t> seq_of(total);  // each row's sequence
        for (int64_t s = 0; s < n; ++s)
            std::fill(seq_of.begin() + st.offsets[s], seq_of.begin() + st.offsets[s + 1], s);
        std::vector<std::vector<float>> out(n);
        std::vector<std::vector<double>> sums(splade_.sum ? n : 0);
        for (int64_t s = 0; s < n; ++s) {
            out[s].assign(vocab, -std::numeric_limits<float>::infinity());
            if (splade_.sum) sums[s].assign(vocab, 0.0);
        }
        auto pool = [&](int64_t row, const float* lr, int64_t v0, int64_t nt, const float* bias) {
            const int64_t s = seq_of[row];
            if (splade_.sum) {
                double* d = sums[s].data() + v0;
                for (int64_t i = 0; i < nt; ++i) d[i] += f(lr[i] + (bias ? bias[i] : 0.0f));
            } else {
                float* v = out[s].data() + v0;
                for (int64_t i = 0; i < nt; ++i)
                    v[i] = std::max(v[i], lr[i] + (bias ? bias[i] : 0.0f));
            }
        };
        if (has_int8_decoder()) {  // int8: the kernel's bias included, all the vocabulary
            const LinearKernel& dec = *int8_decoder().kernel;
            std::vector<float> logits(kRows * vocab);
            for (int64_t b = 0; b < blocks; ++b) {
                dec.run(t.data() + b * kRows * e, logits.data(), kRows);
                for (int64_t r = 0; r < std::min(kRows, total - b * kRows); ++r)
                    pool(b * kRows + r, logits.data() + r * vocab, 0, vocab, nullptr);
            }
        } else {
            const float* dec = mlm_decoder();
            const float* bias = mlm_bias_.data.data();
            std::vector<float> tile(kRows * kTile);
            for (int64_t v0 = 0; v0 < vocab; v0 += kTile) {
                const int64_t nt = std::min(kTile, vocab - v0);
                for (int64_t b = 0; b < blocks; ++b) {
                    sgemm_nt(kRows, nt, e, t.data() + b * kRows * e, dec + v0 * e, tile.data());
                    for (int64_t r = 0; r < std::min(kRows, total - b * kRows); ++r)
                        pool(b * kRows + r, tile.data() + r * nt, v0, nt, bias + v0);
                }
            }
        }
        // f of each column's max logit (or the sums), then L2 if asked.
        for (int64_t s = 0; s < n; ++s) {
            std::vector<float>& v = out[s];
            for (int64_t i = 0; i < vocab; ++i)
                v[i] = splade_.sum ? static_cast<float>(sums[s][i]) : f(v[i]);
            if (normalize) l2_normalize(v.data(), vocab);
        }
        return out;
    }

    static std::vector<std::vector<float>> rows(const std::vector<float>& flat, int64_t h) {
        std::vector<std::vector<float>> out;
        for (size_t i = 0; i + h <= flat.size(); i += h)
            out.emplace_back(flat.begin() + i, flat.begin() + i + h);
        return out;
    }

    std::string arch() const {
        return cfg_.architectures.empty() ? std::string("BertModel") : cfg_.architectures[0];
    }

    // Whether SPLADE runs the decoder on int8 (int8_decoder()): int8 models with a masked-LM head.
    bool has_int8_decoder() const { return !mlm_dense_w_.empty() && precision_ == "int8"; }
    // SPLADE's int8 decoder (has_int8_decoder()): the vocabulary rows of the masked-LM head.
    LinearDesc decoder_desc() const {
        LinearDesc d;
        d.weight = mlm_decoder();
        d.bias = mlm_bias_.data.data();
        d.out = cfg_.vocab_size;
        d.in = mlm_dense_w_.shape[0];
        d.name = "splade decoder";
        return d;
    }
    // Its kernel, planned on the first call (thread-safe).
    const PlannedLinear& int8_decoder() const {
        std::call_once(decoder_once_,
                       [&] { mlm_decoder_s8_ = plan_linear(decoder_desc(), decoder_opts_); });
        return mlm_decoder_s8_;
    }

    ModelConfig cfg_;
    std::string precision_;
    std::optional<Tokenizer> tokenizer_;
    std::unique_ptr<Encoder> encoder_;
    Tensor pooler_w_, pooler_b_, cls_w_, cls_b_, qa_w_, qa_b_;
    Tensor head_ln_g_, head_ln_b_;  // ModernBERT's head.norm after the pooler slot's dense
    Tensor mlm_dense_w_, mlm_dense_b_, mlm_ln_g_, mlm_ln_b_, mlm_decoder_w_, mlm_bias_;
    SentenceEmbeddingConfig::Splade splade_;  // Pooling::splade: the directory's SpladePooling
    PlannedLinear pooler_, classifier_, qa_;
    // has_int8_decoder(): SPLADE's decoder on int8 (int8_decoder()), planned with decoder_opts_
    // at load (decoder_at_load_: a SparseEncoder directory) or on first use; else SPLADE runs the
    // f32 table in tiles.
    bool decoder_at_load_ = false;
    PlanOptions decoder_opts_;
    mutable std::once_flag decoder_once_;
    mutable PlannedLinear mlm_decoder_s8_;
    // sentence-transformers Dense modules after pooling (embed), in order, and their weights.
    struct DenseLayer {
        PlannedLinear linear;
        SentenceEmbeddingConfig::Dense module;
    };
    std::vector<DenseLayer> dense_;
    std::vector<Tensor> dense_w_;
    std::vector<PlanEntry> head_plan_;
};

}  // namespace

std::unique_ptr<Model> make_bert_model(const ModelConfig& cfg, BertWeights weights,
                                       const LoadOptions& opts,
                                       std::optional<Tokenizer> tokenizer, KernelWrap wrap) {
    return std::make_unique<BertModel>(cfg, std::move(weights), opts, std::move(tokenizer), std::move(wrap));
}

Encoder* encoder_of(const Model& model) {
    auto* m = dynamic_cast<const BertModel*>(&model);
    return m ? m->encoder() : nullptr;
}

}  // namespace sparq
