// The encoder's batch split across threads (sequence-parallel forward): the split itself, and
// outputs equal to the stage-parallel and single-thread runs on every kernel family (dense f32
// through oneDNN, sparse f32 JIT, sparse int8 + int8 attention), with the caller's thread count
// intact afterwards; and stage-split runs on 2 threads (token-tile and row splits of the sparse
// int8 kernels, the head-aligned QKV split on and off) against 1 thread.
#include "model/encoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "model/model.hpp"
#include "sparq/model.hpp"
#include "test_util.hpp"

namespace sparq {
namespace {

PackedBatch batch_of(const std::vector<int64_t>& lengths, int32_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> id(5, vocab - 1);
    PackedBatch b;
    b.offsets.push_back(0);
    for (int64_t len : lengths) {
        for (int64_t t = 0; t < len; ++t) {
            b.input_ids.push_back(id(rng));
            b.token_type_ids.push_back(t >= len / 2 ? 1 : 0);
        }
        b.offsets.push_back(b.offsets.back() + len);
    }
    return b;
}

TEST(SplitSequences, BalancedContiguousShares) {
    // 4 x 128 tokens in 2 shares: 2 + 2.
    EXPECT_EQ(split_sequences(batch_of({128, 128, 128, 128}, 100, 1), 2, 1.15),
              (std::vector<int64_t>{0, 2, 4}));
    // 143 tokens: 68 | 75 (75 / 71.5 = 1.05).
    EXPECT_EQ(split_sequences(batch_of({20, 31, 17, 25, 22, 28}, 100, 1), 2, 1.15),
              (std::vector<int64_t>{0, 3, 6}));
    // The cut nearest the half: 10 + 50 | 40 + 20 rather than 10 | 50 + 40 + 20.
    EXPECT_EQ(split_sequences(batch_of({10, 50, 40, 20}, 100, 1), 2, 1.15),
              (std::vector<int64_t>{0, 2, 4}));
    // Three shares of 9 sequences of 10 tokens.
    EXPECT_EQ(split_sequences(batch_of(std::vector<int64_t>(9, 10), 100, 1), 3, 1.15),
              (std::vector<int64_t>{0, 3, 6, 9}));
}

TEST(SplitSequences, DeclinesWhatDoesNotBalance) {
    EXPECT_TRUE(split_sequences(batch_of({128}, 100, 1), 2, 1.15).empty());        // one sequence
    EXPECT_TRUE(split_sequences(batch_of({128, 64, 64}, 100, 1), 1, 1.15).empty());  // one part
    EXPECT_TRUE(split_sequences(batch_of({100, 20, 20}, 100, 1), 2, 1.15).empty());  // 100 vs 70
    EXPECT_TRUE(split_sequences(batch_of({64, 64, 64}, 100, 1), 2, 1.15).empty());   // 128 vs 96
    EXPECT_EQ(split_sequences(batch_of({64, 64, 64}, 100, 1), 2, 1.5),
              (std::vector<int64_t>{0, 1, 3}));
    EXPECT_TRUE(split_sequences(PackedBatch{}, 2, 1.15).empty());
}

struct Family {
    std::string dir;
    LoadOptions opts;
};

// One model per kernel family the planner can pick; a batch of 6 sequences that splits 3 | 3.
TEST(Encoder, SequenceParallelEqualsStageParallelAndOneThread) {
    const auto fix = test::fixtures_dir();
    const auto models = test::source_dir() / "models";
    LoadOptions dense;
    dense.kernels = "dense";
    LoadOptions sparse;
    sparse.kernels = "sparse";
    LoadOptions f32_attention;
    f32_attention.attention = "f32";
    const Family families[] = {
        {(fix / "tiny_base").string(), dense},
        {(fix / "tiny_base").string(), sparse},
        {(models / "sst2-default").string(), {}},  // quantized 95% 1x4: sparse int8, int8 attention
        {(models / "sst2-default").string(), f32_attention},  // sparse int8, f32 attention
        {(models / "sst2-dense").string(), sparse},
    };
    const int saved = num_threads();
    for (const Family& f : families) {
        auto model = Model::load(f.dir, f.opts);
        const PackedBatch batch =
            batch_of({20, 31, 17, 25, 22, 28}, static_cast<int32_t>(model->config().vocab_size), 7);
        ASSERT_FALSE(split_sequences(batch, 2, Encoder::kSequenceImbalance).empty());
        Encoder* enc = encoder_of(*model);
        ASSERT_TRUE(enc->splits_batches()) << f.dir << " " << model->plan_report();
        set_num_threads(1);
        const HiddenStates one = model->encode(batch);
        set_num_threads(2);
        enc->set_sequence_parallel(true);
        const HiddenStates split = model->encode(batch);
        EXPECT_EQ(num_threads(), 2) << "the forward must leave the caller's thread count";
        enc->set_sequence_parallel(false);
        const HiddenStates stages = model->encode(batch);
        enc->set_sequence_parallel(true);
        ASSERT_EQ(split.data.size(), one.data.size());
        ASSERT_EQ(stages.data.size(), one.data.size());
        float d_one = 0, d_stages = 0;
        for (size_t i = 0; i < one.data.size(); ++i) {
            ASSERT_TRUE(std::isfinite(split.data[i])) << f.dir << " i=" << i;
            d_one = std::max(d_one, std::fabs(split.data[i] - one.data[i]));
            d_stages = std::max(d_stages, std::fabs(split.data[i] - stages.data[i]));
        }
        // Each share runs the single-thread kernels on fewer tokens: the same sums per token,
        // except that oneDNN may block a different token count differently (f32 rounding).
        EXPECT_LE(d_one, 1e-5f) << f.dir << " " << model->plan_report();
        EXPECT_LE(d_stages, 1e-5f) << f.dir;
        EXPECT_EQ(split.offsets, one.offsets);

        // 128 and 112 tokens: two 64-token tiles, so on 2 threads (stage split) the sparse int8
        // kernels split by tiles; 151 tokens (three tiles) split rows.
        for (const std::vector<int64_t>& lengths :
             {std::vector<int64_t>{64, 64}, std::vector<int64_t>{40, 50, 61},
              std::vector<int64_t>{7, 60, 9, 33, 3}}) {
            const PackedBatch b2 =
                batch_of(lengths, static_cast<int32_t>(model->config().vocab_size), 11);
            enc->set_sequence_parallel(false);
            set_num_threads(1);
            const HiddenStates a = model->encode(b2);
            set_num_threads(2);
            const HiddenStates c = model->encode(b2);
            // The sparse int8 QKV splits by heads (each thread the Q/K/V of its attention heads,
            // head-major); without that split (token-major), the same numbers bit for bit.
            enc->set_head_split(false);
            const HiddenStates c2 = model->encode(b2);
            enc->set_head_split(true);
            enc->set_sequence_parallel(true);
            float d = 0;
            for (size_t i = 0; i < a.data.size(); ++i) d = std::max(d, std::fabs(a.data[i] - c.data[i]));
            EXPECT_LE(d, 1e-5f) << f.dir << " " << lengths.size() << " sequences";
            EXPECT_EQ(c.data, c2.data) << f.dir << " " << lengths.size() << " sequences";
        }
    }
    set_num_threads(saved);
}

// The packed stream between layers (sparse f32 kernels only) against every kernel packing and
// unpacking its own data: the same numbers up to LayerNorm's summation order, on 1 and 2
// threads (3: groups that do not divide), for token counts that stream and counts that do not
// (sequences of all the model's 128 positions and of one token among them). MPNet (tiny_mpnet,
// forced onto sparse kernels): the stream's attention adds the relative position bias as the
// token-major one does.
class PackedStream : public ::testing::TestWithParam<std::string> {
  protected:
    // The model on sparse kernels, batches split by stages (not by sequences).
    void SetUp() override {
        LoadOptions sparse;
        sparse.kernels = "sparse";
        model_ = Model::load((test::fixtures_dir() / GetParam()).string(), sparse);
        enc_ = encoder_of(*model_);
        enc_->set_sequence_parallel(false);
        saved_threads_ = num_threads();
    }
    void TearDown() override { set_num_threads(saved_threads_); }
    // fn(batch, threads) for a random batch of each list of sequence lengths, on 1, 2 and 3
    // threads (3: token groups that do not divide).
    template <class Fn>
    void for_each_batch(const std::vector<std::vector<int64_t>>& cases, uint32_t seed, Fn&& fn) {
        for (const int threads : {1, 2, 3})
            for (const std::vector<int64_t>& lengths : cases) {
                set_num_threads(threads);
                fn(batch_of(lengths, static_cast<int32_t>(model_->config().vocab_size), seed),
                   threads);
            }
    }
    std::unique_ptr<Model> model_;
    Encoder* enc_ = nullptr;
    int saved_threads_ = 0;
};
INSTANTIATE_TEST_SUITE_P(Models, PackedStream, ::testing::Values("tiny_sparse", "tiny_mpnet"));

TEST_P(PackedStream, MatchesTokenMajorLayers) {
    int streamed = 0;
    for_each_batch({{5}, {64, 64}, {40, 50, 61}, {100, 90, 70, 60, 33}, {128, 1, 127, 100}}, 5,
                   [&](const PackedBatch& b, int threads) {
                       enc_->set_stream(true);
                       const int64_t group = enc_->stream_group(b.num_tokens());
                       streamed += group > 0;
                       const HiddenStates on = model_->encode(b);
                       enc_->set_stream(false);
                       EXPECT_EQ(enc_->stream_group(b.num_tokens()), 0);
                       const HiddenStates off = model_->encode(b);
                       ASSERT_EQ(on.data.size(), off.data.size());
                       float d = 0;
                       for (size_t i = 0; i < on.data.size(); ++i) {
                           ASSERT_TRUE(std::isfinite(on.data[i])) << i;
                           d = std::max(d, std::fabs(on.data[i] - off.data[i]));
                       }
                       EXPECT_LE(d, 1e-5f) << threads << " threads, " << b.num_sequences()
                                           << " sequences, group " << group;
                   });
    if (has_isa(Isa::avx512)) EXPECT_GE(streamed, 10) << model_->plan_report();
}

// A batch larger than the part size (64 tokens per thread here) runs part after part (whole
// sequences each; lengths capped to the model's positions) with the same numbers, bit for bit,
// as the whole batch at once, on 1, 2 and 3 threads, the batch split by stages or (where the
// model does that) by sequences. Returns how many of the batches ran in parts.
int expect_parts_equal_whole(Model& model) {
    Encoder* enc = encoder_of(model);
    enc->set_sequence_parallel(false);
    const int saved = num_threads();
    int split = 0;
    for (const int threads : {1, 2, 3})
        for (const std::vector<int64_t>& lengths :
             {std::vector<int64_t>{64, 64, 64}, std::vector<int64_t>{40, 50, 61, 7, 90, 3},
              std::vector<int64_t>{100, 90, 70, 60, 33}, std::vector<int64_t>{128, 1, 127, 100},
              std::vector<int64_t>{120, 5, 3}}) {
            std::vector<int64_t> fit = lengths;  // within the model's positions
            const int64_t longest =
                model.config().max_position_embeddings - model.config().position_offset;
            for (int64_t& n : fit) n = std::min(n, longest);
            PackedBatch b = batch_of(fit, static_cast<int32_t>(model.config().vocab_size), 11);
            for (int32_t& t : b.token_type_ids)  // within the model's token types
                t = std::min<int32_t>(t, std::max<int32_t>(model.config().type_vocab_size - 1, 0));
            set_num_threads(threads);
            enc->set_stream_part_tokens(0);
            EXPECT_TRUE(enc->stream_parts(b).empty());
            const HiddenStates whole = model.encode(b);
            enc->set_stream_part_tokens(64);
            const std::vector<int64_t> cut = enc->stream_parts(b);
            if (!cut.empty()) {
                ++split;
                EXPECT_GE(cut.size(), 3u);
                EXPECT_EQ(cut.front(), 0);
                EXPECT_EQ(cut.back(), b.num_sequences());
                for (size_t i = 0; i + 1 < cut.size(); ++i) EXPECT_LT(cut[i], cut[i + 1]);
            }
            // Also inside each thread's share of a batch split by sequences (where the model
            // splits so: each share runs in parts of its own).
            for (const bool by_sequences : {false, true}) {
                enc->set_sequence_parallel(by_sequences);
                const HiddenStates parts = model.encode(b);
                EXPECT_EQ(whole.data.size(), parts.data.size());
                size_t differ = 0;
                for (size_t i = 0; i < std::min(whole.data.size(), parts.data.size()); ++i)
                    differ += whole.data[i] != parts.data[i];
                EXPECT_EQ(differ, 0u)
                    << threads << " threads, " << lengths.size() << " sequences, " << cut.size()
                    << " cut points" << (by_sequences ? ", split by sequences" : "");
            }
            enc->set_sequence_parallel(false);
        }
    enc->set_stream_part_tokens(Encoder::kStreamPartTokens);
    enc->set_sequence_parallel(true);
    set_num_threads(saved);
    return split;
}

// On the packed stream (sparse f32): every part is one the stream runs.
TEST_P(PackedStream, PartsEqualTheWholeBatch) {
    const int split = expect_parts_equal_whole(*model_);
    if (has_isa(Isa::avx512)) EXPECT_GE(split, 8) << model_->plan_report();
    const PackedBatch b = batch_of({40, 50, 61, 7, 90, 3}, 100, 1);
    set_num_threads(2);
    enc_->set_stream_part_tokens(64);
    const std::vector<int64_t> cut = enc_->stream_parts(b);
    for (size_t i = 0; i + 1 < cut.size(); ++i)
        EXPECT_GT(enc_->stream_group(b.offsets[cut[i + 1]] - b.offsets[cut[i]]), 0);
}

// Every family on sparse kernels: parts equal the whole batch, and every family whose layers take
// the stream runs in parts (DeBERTa's relative attention does not take it: whole batches).
TEST(Encoder, PartsEqualTheWholeBatchInEveryFamily) {
    LoadOptions sparse;
    sparse.kernels = "sparse";
    for (const char* name :
         {"tiny_modernbert", "tiny_nomic", "tiny_nomic_geglu", "tiny_gte", "tiny_jina",
          "tiny_albert", "tiny_distilbert", "tiny_roberta", "tiny_electra", "tiny_deberta"}) {
        SCOPED_TRACE(name);
        auto model = Model::load((test::fixtures_dir() / name).string(), sparse);
        const int split = expect_parts_equal_whole(*model);
        if (std::string(name) == "tiny_deberta")
            EXPECT_EQ(split, 0);
        else if (has_isa(Isa::avx512))
            EXPECT_GE(split, 8) << model->plan_report();
    }
}

// The sparse int8 layers on the TFM layout (the bundled quantized 95% model, int8 attention):
// per-token scales and per-sequence attention, so parts change nothing either.
TEST(Encoder, TfmPartsEqualTheWholeBatch) {
    auto model = Model::load((test::source_dir() / "models" / "sst2-default").string());
    if (!encoder_of(*model)->tfm_active())
        GTEST_SKIP() << "no TFM layers here (int8 attention needs AVX512-VNNI)";
    EXPECT_GE(expect_parts_equal_whole(*model), 8);
}

// Dense int8 (oneDNN on AMX/VNNI) streams its whole weights per call: batches stay split by
// stages, so every thread reads only its part of each weight.
TEST(Encoder, DenseInt8KeepsStageParallel) {
    LoadOptions o;
    o.kernels = "dense";
    o.precision = "int8";
    auto model = Model::load((test::fixtures_dir() / "tiny_base").string(), o);
    ASSERT_NE(model->plan_report().find("dense_s8"), std::string::npos) << model->plan_report();
    EXPECT_FALSE(encoder_of(*model)->splits_batches());
}

// The bundled sparse int8 model (heads of 64) with Q and K written int8 by the QKV kernel for the
// AMX attention: bit-identical to the attention quantizing the f32 rows itself, for several
// packed sequences (keys of the next sequence follow each one's last key), 3 tiles and one
// sequence, on 1 and 2 threads.
TEST(Encoder, Int8QueryKeyFromQkvKernelIsBitIdentical) {
    const std::string dir = (test::source_dir() / "models" / "sst2-default").string();
    auto qk8 = Model::load(dir);
    auto f32qk = Model::load(dir);
    encoder_of(*f32qk)->set_qk8(false);
    EXPECT_FALSE(encoder_of(*f32qk)->qk8_active());
    if (!encoder_of(*qk8)->qk8_active())
        GTEST_SKIP() << "no AMX tiles: the attention quantizes Q and K";
    EXPECT_NE(qk8->plan_report().find("query/key  int8 from the QKV kernel"), std::string::npos);
    const int saved = num_threads();
    const int32_t vocab = static_cast<int32_t>(qk8->config().vocab_size);
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        for (const PackedBatch& batch :
             {batch_of({20, 31, 17, 25, 22, 28}, vocab, 3), batch_of({64, 64, 40}, vocab, 4),
              batch_of({64}, vocab, 5)}) {
            const HiddenStates a = qk8->encode(batch), b = f32qk->encode(batch);
            ASSERT_EQ(a.data, b.data) << threads << " threads";
        }
    }
    set_num_threads(saved);
}

}  // namespace
}  // namespace sparq
