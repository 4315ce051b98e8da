#pragma once
// Sparse f32 weight kernels: Y = X · Wᵀ for a pruned W, vectorized along tokens.
// Activations are packed feature-major in groups of `vectors * lanes` tokens ([in][group]); each
// nonzero weight is broadcast and FMA-ed into a register tile of `rows` output rows x `vectors`
// token vectors (rows interleaved, see jit/spmm_gen.hpp); K-blocking (`chunk` inputs at a time)
// keeps the packed activation rows of a chunk in L1, with partial sums kept in a feature-major
// output tile. The epilogue (bias, GELU, residual) is fused into the transpose back to token-major.
// The register-blocked variant (block_rows > 0, jit/spmm_rb_gen.hpp) instead compiles the
// matrix's pattern into code over groups of 16 tokens, several groups per call.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "kernels/linear.hpp"

namespace sparq {

// One entry of the list of sparse f32 kernels (feeds dispatch, tests and benchmarks).
struct SpmmVariant {
    const char* name;  // e.g. "spmm_f32_4x16_k128_avx512"
    Isa isa;           // scalar = the portable reference / fallback
    int lanes;         // floats per vector register (16 zmm, 8 ymm, 1 scalar)
    int vectors;       // token vectors per register tile (tokens per group = lanes * vectors)
    int chunk;         // K-block in input features (0 = no blocking)
    int64_t unroll_budget = 0;  // > 0: unroll the pattern into code up to this many bytes
                                // (else the index-driven loop; the kernel name says which)
    int rows = 2;               // output rows interleaved per record (2 or 4; unrolled: 2)
    int block_rows = 0;  // > 0: the register-blocked kernel (jit/spmm_rb_gen.hpp) with blocks of
                         // this many rows, lanes 16, vectors 1 (no records, no K chunks)
    int max_chunk = 0;   // > chunk: the K-block grows with the matrix's zeros, up to this (see
                         // spmm_chunk); the name's "k<chunk>-<max_chunk>" becomes the block used
};

// The K-block (input features) of variant v on a matrix with `nnz` nonzeros in out x in: v.chunk,
// or with v.max_chunk, the multiple of 64 columns that holds ~12 nonzeros per row and block,
// within [v.chunk, v.max_chunk]. Each block costs every row a record (its sums reloaded and
// stored, a loop exit); a longer block pushes the block's activations out of L1. Measured on
// BERT-base shapes (docs/benchmarks.md, run 17): 128 best at 90% zeros, 256 at 95% (+5-10%),
// 256-384 at 98% (+10-25%).
int64_t spmm_chunk(const SpmmVariant& v, int64_t out, int64_t in, int64_t nnz);

// All sparse f32 variants, reference first. Tests and benches skip those with !has_isa(isa).
const SpmmVariant* spmm_variants(int* count);

// The best variant allowed by max_isa() for an [out][in] weight (today: by ISA only; the
// environment's SPARQ_SPMM_VARIANT=name picks a runnable variant by name, for benchmarks).
const SpmmVariant& spmm_best_variant(int64_t out, int64_t in);

// Builds a sparse kernel for desc.weight with the given variant (null: spmm_best_variant).
// The variant's ISA must be allowed (has_isa).
std::unique_ptr<LinearKernel> make_sparse_f32(const LinearDesc& desc,
                                              const SpmmVariant* variant = nullptr);

// Whether a sparse f32 kernel applies its bias and activation inside the JIT kernel of its last
// K chunk (AVX-512 row-pair kernels; SPARQ_NO_JIT_EPILOGUE=1 at build time turns it off) instead
// of in a separate pass. Both give the same numbers bit for bit.
bool spmm_fuses_epilogue(const LinearKernel& k);

// dst = second(first(src)) (second's residual, if any) when both are sparse JIT kernels whose
// packed layouts match: first's output stays feature-major in L1/L2 between the two, with its
// epilogue (bias, activation) applied there, skipping first's unpack and second's pack (the
// largest transposes of a BERT FFN). Returns false, doing nothing, when the pair does not chain
// (another kernel type, mismatched shapes, or a token count split by rows across threads).
bool spmm_run_chain(const LinearKernel& first, const LinearKernel& second, const float* src,
                    float* dst, int64_t tokens, const float* residual = nullptr);

// The packed activation stream of an encoder whose linear layers all run sparse f32 kernels:
// the hidden states stay feature-major between layers, in token groups of `group` tokens laid
// out [groups][features + 1][group] (row `features` is the kernels' scratch row), so the
// attention output, FFN and LayerNorm steps skip the kernels' pack and unpack (the QKV output
// and the attention context stay token-major for attention). Token slots >= the group's token
// count hold zeros after spmm_stream_pack and spmm_stream_layer_norm. Every stream call gives
// token group g to thread g % num_threads(), so a group stays on one core. AVX-512 only (the
// only kernels that pass spmm_stream_group); groups of at most 128 tokens.

// The token group shared by `kernels` when every one of them can read and write the stream for
// `tokens` tokens (sparse f32 JIT kernels of 16 lanes with the same spmm_group, split by token
// groups on num_threads()), else 0.
int64_t spmm_stream_group(const LinearKernel* const* kernels, int64_t n, int64_t tokens);

// The token group sparse f32 JIT kernel k runs `tokens` tokens in: its variant's lanes * vectors,
// or for fewer tokens the narrowest power-of-two number of vectors that holds them (record kernels
// with a power-of-two number of vectors; the same numbers bit for bit); 0 for other kernels.
int64_t spmm_group(const LinearKernel& k, int64_t tokens);

// Floats of a stream of `tokens` tokens x `features` features.
int64_t spmm_stream_floats(int64_t tokens, int64_t features, int64_t group);

// fn(g, count) for every token group of a stream of `tokens` tokens (count: the group's tokens)
// on the calling team: group g on thread g % num_threads(), the split of every stream call.
template <class Fn>
void spmm_for_each_group(int64_t tokens, int64_t group, Fn&& fn) {
    const int64_t groups = (tokens + group - 1) / group;
    const int nt = num_threads();
#pragma omp parallel num_threads(nt)
    {
        SPARQ_REGION("stream groups");
        const int tid = omp_get_thread_num();
        for (int64_t g = tid; g < groups; g += nt) fn(g, std::min(group, tokens - g * group));
    }
}

// Token-major src [tokens][features] -> stream dst, and back (the stream's token slots only).
void spmm_stream_pack(const float* src, float* dst, int64_t tokens, int64_t features,
                      int64_t group);
void spmm_stream_unpack(const float* src, float* dst, int64_t tokens, int64_t features,
                        int64_t group);

// dst = LayerNorm(a + res) per token on streams (dst may alias a or res); token slots past each
// group's count are set to zero. Two-pass centred variance, as the token-major layer_norm.
// sum (optional, may alias a or res, not dst): also gets a + res (a pre-norm layer's residual
// stream, ModernBERT).
void spmm_stream_layer_norm(const float* a, const float* res, const float* gamma, const float* beta,
                            float* dst, int64_t tokens, int64_t features, int64_t group, float eps,
                            float* sum = nullptr);

// k.run(src, dst, tokens) with src and/or dst in the stream layout (a packed dst gets the
// kernel's bias and activation in place; no residual). k must pass spmm_stream_group.
void spmm_run_stream(const LinearKernel& k, const float* src, bool src_packed, float* dst,
                     bool dst_packed, int64_t tokens);

// spmm_run_chain(first, second, ...) from stream src to stream dst (no residual).
void spmm_run_chain_stream(const LinearKernel& first, const LinearKernel& second, const float* src,
                           float* dst, int64_t tokens);

// In place on a feature-major tile y[rows][group]: y[r][t] = act(y[r][t] + bias[r]) for
// t < width (bias may be null). `isa` picks the implementation.
void spmm_bias_act_rows(Isa isa, float* y, int64_t group, int64_t rows, int64_t width,
                        const float* bias, Activation act);

// Packs `count` tokens x `features` features of token-major src (row stride ld) feature-major
// into dst[features][group] (group = floats per token group), zero-filling token slots
// [count, round_up(count, lanes)). `isa` picks the implementation (scalar/avx2/avx512).
void spmm_pack_tokens(Isa isa, const float* src, int64_t ld, int64_t features, int64_t count,
                      int64_t group, int lanes, float* dst);

// Epilogue parameters of spmm_unpack_rows.
struct SpmmEpilogue {
    const float* bias = nullptr;      // [out] or null
    const float* residual = nullptr;  // [tokens][out] or null, same layout as dst
    Activation act = Activation::none;
};

// Writes a feature-major tile src[rows][group] (`count` valid tokens) of output rows
// [r0, r0 + rows) into token-major dst (row stride ld): dst[t][r0+r] = act(src[r][t] +
// bias[r0+r]) + residual[t][r0+r]. dst and ep.residual point at the tile's first token;
// ep.bias is the whole [out] vector.
void spmm_unpack_rows(Isa isa, const float* src, int64_t group, int64_t r0, int64_t rows,
                      int64_t count, float* dst, int64_t ld, const SpmmEpilogue& ep);

namespace spmm_detail {
// Per-ISA implementations of the pack/unpack above.
void pack_tokens_scalar(const float*, int64_t, int64_t, int64_t, int64_t, int, float*);
void unpack_rows_scalar(const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t,
                        const SpmmEpilogue&);
void pack_tokens_avx512(const float*, int64_t, int64_t, int64_t, int64_t, int, float*);
void unpack_rows_avx512(const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t,
                        const SpmmEpilogue&);
void bias_act_rows_scalar(float*, int64_t, int64_t, int64_t, const float*, Activation);
// LayerNorm of one stream group (see spmm_stream_layer_norm): `features` rows of stride group,
// `count` tokens.
void layer_norm_group_scalar(const float* a, const float* res, const float* gamma,
                             const float* beta, float* dst, int64_t features, int64_t group,
                             int64_t count, float eps, float* sum);
void layer_norm_group_avx512(const float* a, const float* res, const float* gamma,
                             const float* beta, float* dst, int64_t features, int64_t group,
                             int64_t count, float eps, float* sum);
void bias_act_rows_avx512(float*, int64_t, int64_t, int64_t, const float*, Activation);
void pack_tokens_avx2(const float*, int64_t, int64_t, int64_t, int64_t, int, float*);
void unpack_rows_avx2(const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t,
                      const SpmmEpilogue&);
}  // namespace spmm_detail

}  // namespace sparq
