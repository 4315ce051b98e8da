// int8 attention per head: scratch layout, scalar reference and dispatch (see attention_s8.hpp).
#include "model/attention_s8.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/s8/s8_kernels.hpp"
#include "model/attention_deberta.hpp"
#include "sparq/error.hpp"

namespace sparq {

static_assert(S8QK8::kTiny == s8attn::kTiny, "the QKV epilogue quantizes as the attention");

namespace {
int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// 255 · 2^x as the vector variants compute it (attention_s8_vnni.cpp exp2_255): same clamp,
// rounding, fused multiply-adds and exact scaling, so the results agree bit for bit.
float exp2_255(float x) {
    x = std::max(x, s8attn::kExp2Min);
    const float n = std::nearbyint(x);
    const float f = x - n;
    float p = s8attn::kExp2C255[4];
    for (int k = 3; k >= 0; --k) p = std::fma(p, f, s8attn::kExp2C255[k]);
    return std::ldexp(p, static_cast<int>(n));
}

// round(x * inv) clamped to [lo, hi], rounding half to even like the vector conversions.
int32_t quant(float x, float inv, float lo, float hi) {
    return static_cast<int32_t>(std::nearbyint(std::clamp(x * inv, lo, hi)));
}
}  // namespace

AttentionS8Layout::AttentionS8Layout(int64_t seq, int64_t d)
    : d4(round_up(d, 4)),
      d16(round_up(d, 16)),
      l4(round_up(seq, 4)),
      l16(round_up(seq, 16)),
      l64(round_up(seq, 64)) {
    int64_t off = 0;
    auto take = [&](int64_t n) {
        int64_t at = off;
        off += round_up(n, 64);
        return at;
    };
    q8 = take(l16 * d4);     // u8 q8 + 128, [seq][d4] (AMX reads whole 16-row tiles)
    rf = take(seq * 4);      // f32 scale * sq[i]
    kpack = take(d4 * l16);  // s8 [d4/4][l16][4]
    kcomp = take(l16 * 4);   // s32 128 * Σ_c k8[j][c]
    sk = take(l16 * 4);      // f32
    ktmp = take(l16 * d4);   // s8 [l16][d4], K rows before packing
    // f32 [kScoreRows][l16] (VNNI), s32 then f32 [16][l16] (AMX)
    scores =
        take(std::max(std::min(seq, s8attn::kScoreRows), std::min<int64_t>(l16, 16)) * l16 * 4);
    p8 = take(l16 * l64);     // u8 [seq][l4] (VNNI) or [l16][l64] (AMX: key tiles of 64)
    sp = take(seq * 4);       // f32
    vpack = take(l64 * d16);  // s8 [l4/4][d16][4] (VNNI) or [l64/4][d16][4] (AMX)
    sv = take(d16 * 4);                                          // f32
    bytes = off;
}

AttentionChoice choose_attention(const std::string& option, const std::string& precision) {
    if (option != "auto" && option != "f32" && option != "int8")
        throw Error("attention: expected auto, f32 or int8, found '" + option + "'");
    AttentionChoice c;
    const bool want = option == "int8" || (option == "auto" && precision == "int8");
    if (!want) {
        c.plan = option == "f32" ? "attention  f32  (requested: attention f32)"
                                 : "attention  f32  (auto: f32 model; int8 attention runs with "
                                   "precision int8)";
        return c;
    }
    if (!attention_s8_fast()) {
        c.plan = std::string("attention  f32  (") + (option == "int8" ? "attention int8" : "auto") +
                 ": int8 attention needs AVX512-VNNI, the CPU (or SPARQ_MAX_ISA) allows " +
                 isa_name(max_isa()) + ")";
        return c;
    }
    c.int8 = true;
    const AttentionS8Variant& best = attention_s8_best();
    c.plan = std::string("attention  int8  ") + best.name + "  (" +
             (option == "int8" ? "requested: attention int8" : "auto: int8 model") + ", " +
             (best.isa == Isa::amx ? "AMX tiles" : "AVX512-VNNI") + ")";
    return c;
}

int64_t attention_s8_scratch_bytes(int64_t seq, int64_t d) {
    return AttentionS8Layout(seq, d).bytes;
}

namespace {
// The reference with a relative bias by distance or DeBERTa's terms (or neither).
void ref_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
              int64_t ld_ctx, int64_t seq, int64_t d, float scale, AttentionS8Probe* probe,
              const float* rel_bias, const DisentangledS8Head* dis, int64_t qa, int64_t qb) {
    std::vector<int8_t> q8(seq * d), k8(seq * d), v8(seq * d);
    std::vector<float> sq(seq), sk(seq), sp(seq), sv(d), s(seq * seq);
    std::vector<int32_t> si(seq * seq), ci(seq * d);
    std::vector<uint8_t> p8(seq * seq);
    auto quant_rows = [&](const float* x, int8_t* dst, float* sc) {
        for (int64_t i = 0; i < seq; ++i) {
            float m = 0;
            for (int64_t c = 0; c < d; ++c) m = std::max(m, std::fabs(x[i * ld_qkv + c]));
            sc[i] = m / 127.0f;
            const float inv = m > s8attn::kTiny ? 127.0f / m : 0.0f;
            for (int64_t c = 0; c < d; ++c)
                dst[i * d + c] = static_cast<int8_t>(quant(x[i * ld_qkv + c], inv, -127, 127));
        }
    };
    quant_rows(q, q8.data(), sq.data());
    quant_rows(k, k8.data(), sk.data());
    const float scale_log2 = scale * s8attn::kLog2e;
    // DeBERTa: the c2p / p2c products of query / key row r and relative row m (attention_s8.hpp).
    auto rel_product = [&](const S8RelPack& rp, const int8_t* x8, int64_t r, float rx, int64_t m) {
        const uint8_t* pk = rp.pack.data() + dis->head * rp.d4 * rp.cols;
        int32_t acc = 0;
        for (int64_t c = 0; c < d; ++c)
            acc += int32_t{x8[r * d + c]} *
                   static_cast<int8_t>(pk[((c / 4) * rp.cols + m) * 4 + c % 4]);
        return static_cast<float>(acc) * rx * rp.scale.data()[dis->head * rp.cols + m];
    };
    for (int64_t i = 0; i < seq; ++i) {
        const float rf = scale_log2 * sq[i];
        for (int64_t j = 0; j < seq; ++j) {
            int32_t acc = 0;
            for (int64_t c = 0; c < d; ++c) acc += int32_t{q8[i * d + c]} * k8[j * d + c];
            si[i * seq + j] = acc;
            s[i * seq + j] = static_cast<float>(acc) * rf * sk[j];
            if (rel_bias)
                s[i * seq + j] = std::fma(rel_bias[j - i], s8attn::kLog2e, s[i * seq + j]);
            if (dis) {
                const int64_t m = dis->idx[i - j];
                float term = 0.0f;
                if (dis->pos_k) term = term + rel_product(*dis->pos_k, q8.data(), i, rf, m);
                if (dis->pos_q)
                    term = term + rel_product(*dis->pos_q, k8.data(), j, scale_log2 * sk[j], m);
                s[i * seq + j] += term;
            }
        }
    }
    for (int64_t i = 0; i < seq; ++i) {
        float m = -INFINITY;
        for (int64_t j = 0; j < seq; ++j) m = std::max(m, s[i * seq + j]);
        int32_t sum = 0;
        for (int64_t j = 0; j < seq; ++j) {
            const int32_t p = quant(exp2_255(s[i * seq + j] - m), 1.0f, 0, 255);
            p8[i * seq + j] = static_cast<uint8_t>(p);
            sum += p;
        }
        sp[i] = 1.0f / static_cast<float>(sum);
    }
    for (int64_t c = 0; c < d; ++c) {
        float m = 0;
        for (int64_t j = 0; j < seq; ++j) m = std::max(m, std::fabs(v[j * ld_qkv + c]));
        sv[c] = m / 127.0f;
        const float inv = m > s8attn::kTiny ? 127.0f / m : 0.0f;
        for (int64_t j = 0; j < seq; ++j)
            v8[j * d + c] = static_cast<int8_t>(quant(v[j * ld_qkv + c], inv, -127, 127));
    }
    for (int64_t i = 0; i < seq; ++i)
        for (int64_t c = 0; c < d; ++c) {
            int32_t acc = 0;
            for (int64_t j = 0; j < seq; ++j) acc += int32_t{p8[i * seq + j]} * v8[j * d + c];
            ci[i * d + c] = acc;
            if (i >= qa && i < qb) ctx[i * ld_ctx + c] = static_cast<float>(acc) * sp[i] * sv[c];
        }
    if (probe) {
        probe->q8 = q8;
        probe->k8 = k8;
        probe->v8 = v8;
        probe->sq = sq;
        probe->sk = sk;
        probe->sp = sp;
        probe->sv = sv;
        probe->scores = si;
        probe->p8 = p8;
        probe->ctx = ci;
    }
}
}  // namespace

namespace ref {
void attention_head_s8(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                       int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* /*scratch*/,
                       AttentionS8Probe* probe, const float* rel_bias) {
    ref_head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, probe, rel_bias, nullptr, 0, seq);
}
void attention_head_deberta_s8(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               const DisentangledS8Head& rel, AttentionS8Probe* probe) {
    ref_head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, probe, nullptr, &rel, 0, seq);
}
void attention_head_s8_rows(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const float* rel_bias, int64_t q_begin, int64_t q_end) {
    ref_head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, nullptr, rel_bias, nullptr, q_begin,
             q_end);
}
}  // namespace ref

void attention_head_s8_rows(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            uint8_t* scratch, const float* rel_bias, int64_t q_begin,
                            int64_t q_end) {
    if (q_begin < 0 || q_end > seq || q_begin > q_end)
        throw Error("attention_head_s8_rows: rows [" + std::to_string(q_begin) + ", " +
                    std::to_string(q_end) + ") outside the sequence of " + std::to_string(seq));
    if (attention_s8_fast())
        attention_s8_vnni_rows(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, rel_bias,
                               q_begin, q_end);
    else
        ref::attention_head_s8_rows(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, rel_bias, q_begin,
                                    q_end);
}

S8RelPack pack_rel_s8(const float* bt, int64_t heads, int64_t d, int64_t ld, int64_t rows) {
    S8RelPack p;
    p.heads = heads;
    p.d4 = round_up(d, 4);
    p.cols = round_up(rows, 16);
    p.pack.resize(heads * p.d4 * p.cols);
    p.comp.resize(heads * p.cols);
    p.scale.resize(heads * p.cols);
    std::fill(p.pack.data(), p.pack.data() + p.pack.size(), uint8_t{0});
    std::fill(p.comp.data(), p.comp.data() + p.comp.size(), 0);
    std::fill(p.scale.data(), p.scale.data() + p.scale.size(), 0.0f);
    for (int64_t h = 0; h < heads; ++h) {
        const float* b = bt + h * d * ld;
        uint8_t* pk = p.pack.data() + h * p.d4 * p.cols;
        for (int64_t m = 0; m < rows; ++m) {
            float mx = 0;
            for (int64_t c = 0; c < d; ++c) mx = std::max(mx, std::fabs(b[c * ld + m]));
            p.scale.data()[h * p.cols + m] = mx / 127.0f;
            const float inv = mx > s8attn::kTiny ? 127.0f / mx : 0.0f;
            int32_t sum = 0;
            for (int64_t c = 0; c < d; ++c) {
                const int32_t r = quant(b[c * ld + m], inv, -127, 127);
                pk[((c / 4) * p.cols + m) * 4 + c % 4] =
                    static_cast<uint8_t>(static_cast<int8_t>(r));
                sum += r;
            }
            p.comp.data()[h * p.cols + m] = 128 * sum;
        }
    }
    return p;
}

DebertaS8Layout::DebertaS8Layout(int64_t seq, int64_t d) {
    const AttentionS8Layout L(seq, d);
    // A band reads at most seq + kDebertaBand - 1 relative rows, from a multiple of 16 at most 15
    // below its first: whole vectors of 16.
    width = round_up(seq + kDebertaBand - 1 + 15, 16);
    bands = (seq + kDebertaBand - 1) / kDebertaBand;
    ku8 = L.bytes;
    rk = ku8 + round_up(L.l16 * L.d4, 64);
    c = rk + round_up(L.l16 * 4, 64);
    p = c + round_up(seq * width * 4, 64);
    lo = p + round_up(seq * width * 4, 64);
    bytes = lo + round_up(2 * bands * 4, 64);
}

int64_t attention_deberta_s8_scratch_bytes(int64_t seq, int64_t d) {
    return DebertaS8Layout(seq, d).bytes;
}

void attention_head_deberta_s8(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               const DisentangledS8Head& rel, uint8_t* scratch,
                               AttentionS8Probe* probe) {
    if (attention_s8_fast())
        attention_s8_vnni_deberta(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, rel, probe);
    else
        ref::attention_head_deberta_s8(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, rel, probe);
}

namespace {
// The reference has nothing to prefetch with: it ignores `next`.
void ref_with_next(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                   int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                   const AttentionNext*, const float* rel_bias) {
    ref::attention_head_s8(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, nullptr, rel_bias);
}
void ref_probed(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                AttentionS8Probe* probe, const float* rel_bias) {
    ref::attention_head_s8(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, probe, rel_bias);
}
}  // namespace

const AttentionS8Variant* attention_s8_variants(int* count) {
    static const AttentionS8Variant table[] = {
        {Isa::scalar, "attention_s8_ref", ref_probed, ref_with_next},
        {Isa::avx512_vnni, "attention_s8_vnni", attention_s8_vnni_entry().fn,
         attention_s8_vnni_entry().with_next},
        {Isa::amx, "attention_s8_amx", attention_s8_amx_entry().fn,
         attention_s8_amx_entry().with_next},
    };
    *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
    return table;
}

bool attention_s8_fast() { return has_isa(Isa::avx512_vnni); }

const AttentionS8Variant& attention_s8_best() {
    int n = 0;
    const AttentionS8Variant* vs = attention_s8_variants(&n);
    const AttentionS8Variant* pick = &vs[0];
    for (int i = 0; i < n; ++i)
        if (has_isa(vs[i].isa)) pick = &vs[i];
    return *pick;
}

bool attention_s8_takes_qk8(int64_t d) {
    return attention_s8_best().isa == Isa::amx && (d == 16 || d == 32 || d == 64);
}

void attention_head_s8(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                       int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                       const AttentionNext* next, const float* rel_bias) {
    attention_s8_best().with_next(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next,
                                  rel_bias);
}

}  // namespace sparq
