// Every fused element-wise variant against the scalar reference, on many shapes, plus accuracy
// sweeps of the vector exp/erf and the ISA dispatch.
#include "kernels/fused.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/eltwise/eltwise.hpp"
#include "test_util.hpp"

using namespace sparq;

namespace {
std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.0f, float mean = 0.0f) {
    return test::normal_vector(n, seed, scale, mean);
}
const int64_t kCols[] = {1, 7, 15, 16, 17, 31, 33, 64, 100, 128, 384, 768, 1000, 3072};
const int64_t kRows[] = {1, 3, 13};
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// Variants this CPU (under the current cap) can run, scalar reference included.
std::vector<FusedOps> runnable() {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    std::vector<FusedOps> out;
    for (int k = 0; k < n; ++k)
        if (has_isa(v[k].isa)) out.push_back(v[k]);
    return out;
}

// Largest |a-b| / max(1, |b|) over the row r of `cols` values (NaN counts as infinite).
double max_scaled_err(const float* got, const float* want, int64_t n) {
    double scale = 1.0, err = 0.0;
    for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(double(want[i])));
    for (int64_t i = 0; i < n; ++i) {
        double e = std::fabs(double(got[i]) - double(want[i]));
        if (std::isnan(e)) return INFINITY;
        err = std::max(err, e / scale);
    }
    return err;
}

bool same_or_both_nan(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// The two GELU forms of a variant, with their exact definitions (double) and scalar references.
struct GeluForm {
    const char* name;
    void (*FusedOps::*op)(float*, const float*, int64_t, int64_t);
    double (*exact)(double);
    void (*ref)(float*, const float*, int64_t, int64_t);
};
double silu_exact(double x) { return x / (1.0 + std::exp(-x)); }
const GeluForm kGeluForms[] = {
    {"gelu", &FusedOps::bias_gelu, test::gelu_erf_exact, ref::bias_gelu},
    {"gelu_tanh", &FusedOps::bias_gelu_tanh, test::gelu_tanh_exact, ref::bias_gelu_tanh},
    // Not a GELU: SiLU (SwiGLU's activation) shares the in-place activation tests.
    {"silu", &FusedOps::bias_silu, silu_exact, ref::bias_silu},
};
}  // namespace

TEST(Fused, TableHasVectorVariants) {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    ASSERT_EQ(n, 3);
    EXPECT_EQ(v[0].isa, Isa::scalar);
    EXPECT_EQ(v[1].isa, Isa::avx2);
    EXPECT_EQ(v[2].isa, Isa::avx512);
}

// erf: max abs error vs double erf <= 1e-6 over a dense sweep of [-10, 10], exact saturation.
TEST(VecMath, ErfAccuracyAndSpecialValues) {
    int n = 0;
    const VecMathOps* v = vec_math_variants(&n);
    std::vector<float> x;
    for (int64_t i = -200000; i <= 200000; ++i) x.push_back(static_cast<float>(i * 5e-5));
    for (int64_t i = 1; i < 3000; ++i)
        x.push_back(std::ldexp(1.0f, -int(i % 140)) * (i & 1 ? 1 : -1));
    std::vector<float> y(x.size());
    for (int k = 0; k < n; ++k) {
        if (!has_isa(v[k].isa)) continue;
        v[k].erf(x.data(), y.data(), static_cast<int64_t>(x.size()));
        double worst = 0, at = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            double e = std::fabs(double(y[i]) - std::erf(double(x[i])));
            if (!(e <= worst)) worst = e, at = x[i];
        }
        EXPECT_LE(worst, 1e-6) << isa_name(v[k].isa) << " at x=" << at;
        std::printf("[ erf %-7s] max abs error %.3g at x=%g over %zu points\n", isa_name(v[k].isa),
                    worst, at, x.size());

        const float sx[] = {kInf,  -kInf, kNan,  1e30f, -1e30f, FLT_MAX, -FLT_MAX, 0.0f,
                            -0.0f, 4.5f,  -4.5f, 5.0f,  -5.0f,  1e-30f,  -1e-30f,  1e-40f};
        const float sy[] = {
            1.0f,  -1.0f, kNan,  1.0f, -1.0f, 1.0f,           -1.0f,           0.0f,
            -0.0f, 1.0f,  -1.0f, 1.0f, -1.0f, 1.1283792e-30f, -1.1283792e-30f, 0.0f};
        constexpr int ns = sizeof(sx) / sizeof(sx[0]);
        float got[ns];
        v[k].erf(sx, got, ns);
        for (int i = 0; i < ns; ++i) {
            if (std::isnan(sy[i])) {
                EXPECT_TRUE(std::isnan(got[i])) << isa_name(v[k].isa) << " erf(" << sx[i] << ")";
            } else {
                EXPECT_NEAR(got[i], sy[i], 1e-35) << isa_name(v[k].isa) << " erf(" << sx[i] << ")";
                if (sy[i] == 0.0f || std::fabs(sy[i]) == 1.0f)
                    EXPECT_EQ(std::signbit(got[i]), std::signbit(sy[i]))
                        << isa_name(v[k].isa) << " erf(" << sx[i] << ")";
            }
        }
    }
}

// Both GELUs of every variant against their definitions in double over a dense sweep of
// [-10, 10]: abs error <= 1e-6 * max(1, |x|) (the erf / exp error scaled by x/2, plus rounding).
TEST(VecMath, GeluAccuracy) {
    std::vector<float> x;
    for (int64_t i = -200000; i <= 200000; ++i) x.push_back(static_cast<float>(i * 5e-5));
    for (const FusedOps& op : runnable())
        for (const GeluForm& form : kGeluForms) {
            auto y = x;
            (op.*form.op)(y.data(), nullptr, 1, static_cast<int64_t>(y.size()));
            double worst = 0, at = 0;
            for (size_t i = 0; i < x.size(); ++i) {
                const double v = x[i], want = form.exact(v);
                const double e = std::fabs(y[i] - want) / std::max(1.0, std::fabs(v));
                if (!(e <= worst)) worst = e, at = v;
            }
            EXPECT_LE(worst, 1e-6) << isa_name(op.isa) << " " << form.name << " at x=" << at;
            std::printf("[ %-9s %-6s] max abs error / max(1,|x|) %.3g at x=%g\n", form.name,
                        isa_name(op.isa), worst, at);
        }
}

// exp: <= 2 ulp over the normal range; results below FLT_MIN are flushed to 0 by the vector
// variants (libm returns denormals): abs error there < FLT_MIN; overflow to +inf.
TEST(VecMath, ExpAccuracyAndSpecialValues) {
    int n = 0;
    const VecMathOps* v = vec_math_variants(&n);
    std::vector<float> x;
    for (int64_t i = 0; i <= 400000; ++i)
        x.push_back(static_cast<float>(-87.3 + i * (176.0 / 400000)));
    for (int64_t i = 0; i <= 20000; ++i)
        x.push_back(static_cast<float>(-103.9 + i * (16.5 / 20000)));
    std::vector<float> y(x.size());
    for (int k = 0; k < n; ++k) {
        if (!has_isa(v[k].isa)) continue;
        v[k].exp(x.data(), y.data(), static_cast<int64_t>(x.size()));
        double worst_ulp = 0, at = 0, worst_sub = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            double want = std::exp(double(x[i]));
            double err = std::fabs(double(y[i]) - want);
            if (want >= FLT_MIN && want <= FLT_MAX) {
                // ulp of the float binade holding `want`.
                double ulp = std::ldexp(1.0, std::ilogb(want) - 23);
                if (!(err / ulp <= worst_ulp)) worst_ulp = err / ulp, at = x[i];
            } else if (want < FLT_MIN) {
                worst_sub = std::max(worst_sub, err / FLT_MIN);
            }
        }
        EXPECT_LE(worst_ulp, 2.0) << isa_name(v[k].isa) << " at x=" << at;
        EXPECT_LT(worst_sub, 1.0) << isa_name(v[k].isa) << " (results below FLT_MIN)";
        if (v[k].isa != Isa::scalar) {
            // Vector variants never return denormals (each one costs a microcode assist).
            size_t denormals = 0;
            for (float r : y) denormals += (r != 0.0f && std::fabs(r) < FLT_MIN);
            EXPECT_EQ(denormals, 0u) << isa_name(v[k].isa);
        }
        std::printf("[ exp %-7s] max error %.3g ulp at x=%g (below FLT_MIN: %.3g x FLT_MIN)\n",
                    isa_name(v[k].isa), worst_ulp, at, worst_sub);

        const float sx[] = {-kInf, -1e30f,  -FLT_MAX, -104.0f, kInf,
                            1e30f, FLT_MAX, 89.0f,    kNan,    0.0f};
        const float sy[] = {0.0f, 0.0f, 0.0f, 0.0f, kInf, kInf, kInf, kInf, kNan, 1.0f};
        constexpr int ns = sizeof(sx) / sizeof(sx[0]);
        float got[ns];
        v[k].exp(sx, got, ns);
        for (int i = 0; i < ns; ++i)
            EXPECT_TRUE(same_or_both_nan(got[i], sy[i]))
                << isa_name(v[k].isa) << " exp(" << sx[i] << ") = " << got[i];
    }
}

// Tolerance: 1e-4 relative to the output scale (max(1, max |ref|) per row).
TEST(Fused, LayerNormMatchesReference) {
    for (const FusedOps& op : runnable())
        for (int64_t rows : kRows)
            for (int64_t cols : kCols)
                for (int mode = 0; mode < 4; ++mode) {
                    // 0: residual, 1: none, 2: dst aliases src, 3: dst aliases residual.
                    const size_t n = rows * cols;
                    auto x = randv(n, 1, 3.0f, 0.5f), r = randv(n, 2);
                    auto g = randv(cols, 3), b = randv(cols, 4);
                    const float* res = mode == 1 ? nullptr : r.data();
                    std::vector<float> want(n), got(n);
                    ref::layer_norm(x.data(), res, g.data(), b.data(), want.data(), rows, cols,
                                    1e-12f);
                    float* dst = mode == 2 ? x.data() : mode == 3 ? r.data() : got.data();
                    op.layer_norm(x.data(), res, g.data(), b.data(), dst, rows, cols, 1e-12f);
                    for (int64_t i = 0; i < rows; ++i)
                        ASSERT_LE(max_scaled_err(dst + i * cols, want.data() + i * cols, cols),
                                  1e-4)
                            << isa_name(op.isa) << " rows=" << rows << " cols=" << cols
                            << " mode=" << mode;
                }
}

// Rows are normalized several at a time; a row's result must not depend on its neighbours or
// on where a call's row range starts (threads split rows anywhere): bit-identical to one-row
// calls.
TEST(Fused, LayerNormRowGroupingIsBitExact) {
    for (const FusedOps& op : runnable())
        for (int64_t cols : {17, 768}) {
            const int64_t rows = 11;
            auto x = randv(rows * cols, 71, 2.0f, 0.3f), r = randv(rows * cols, 72);
            auto g = randv(cols, 73), b = randv(cols, 74);
            for (const float* res :
                 {static_cast<const float*>(r.data()), static_cast<const float*>(nullptr)}) {
                std::vector<float> all(rows * cols), one(rows * cols), split(rows * cols);
                op.layer_norm(x.data(), res, g.data(), b.data(), all.data(), rows, cols, 1e-12f);
                for (int64_t i = 0; i < rows; ++i)
                    op.layer_norm(x.data() + i * cols, res ? res + i * cols : nullptr, g.data(),
                                  b.data(), one.data() + i * cols, 1, cols, 1e-12f);
                const int64_t at = 3;  // a range starting off the 4-row grouping
                op.layer_norm(x.data(), res, g.data(), b.data(), split.data(), at, cols, 1e-12f);
                op.layer_norm(x.data() + at * cols, res ? res + at * cols : nullptr, g.data(),
                              b.data(), split.data() + at * cols, rows - at, cols, 1e-12f);
                EXPECT_EQ(0, std::memcmp(all.data(), one.data(), all.size() * sizeof(float)))
                    << isa_name(op.isa) << " cols=" << cols;
                EXPECT_EQ(0, std::memcmp(all.data(), split.data(), all.size() * sizeof(float)))
                    << isa_name(op.isa) << " cols=" << cols;
            }
        }
}

// Large common offset (hidden states with a big mean) and a constant row (var = 0: eps decides).
TEST(Fused, LayerNormOffsetAndConstantRows) {
    for (const FusedOps& op : runnable())
        for (int64_t cols : {17, 768, 1000}) {
            const int64_t rows = 3;
            auto x = randv(rows * cols, 5, 1.0f, 300.0f), r = randv(rows * cols, 6, 0.5f, -40.0f);
            for (int64_t c = 0; c < cols; ++c) x[2 * cols + c] = 7.0f, r[2 * cols + c] = 0.25f;
            auto g = randv(cols, 7), b = randv(cols, 8);
            std::vector<float> want(rows * cols), got(rows * cols);
            ref::layer_norm(x.data(), r.data(), g.data(), b.data(), want.data(), rows, cols, 1e-5f);
            op.layer_norm(x.data(), r.data(), g.data(), b.data(), got.data(), rows, cols, 1e-5f);
            for (int64_t i = 0; i < rows; ++i)
                ASSERT_LE(max_scaled_err(got.data() + i * cols, want.data() + i * cols, cols), 1e-4)
                    << isa_name(op.isa) << " cols=" << cols << " row=" << i;
        }
}

// Both GELU forms. Tolerance: 1e-5 relative to max(1, |ref|) per element; NaN and inf where the
// reference has them.
TEST(Fused, BiasGeluMatchesReference) {
    for (const FusedOps& op : runnable())
        for (const GeluForm& form : kGeluForms)
            for (int64_t rows : kRows)
                for (int64_t cols : kCols)
                    for (bool with_bias : {true, false}) {
                        auto x = randv(rows * cols, 11, 3.0f), b = randv(cols, 12);
                        const float special[] = {kInf,   -kInf, kNan,  1e30f, -1e30f, 12.0f,
                                                 -12.0f, 0.0f,  -0.0f, 5.5f,  -5.5f,  1e-30f};
                        for (size_t i = 0; i < sizeof(special) / sizeof(float) && i < x.size(); ++i)
                            x[(i * 7919) % x.size()] = special[i];
                        auto want = x, got = x;
                        form.ref(want.data(), with_bias ? b.data() : nullptr, rows, cols);
                        (op.*form.op)(got.data(), with_bias ? b.data() : nullptr, rows, cols);
                        for (size_t i = 0; i < got.size(); ++i) {
                            if (std::isnan(want[i]) || std::isinf(want[i])) {
                                ASSERT_TRUE(same_or_both_nan(got[i], want[i]))
                                    << isa_name(op.isa) << " " << form.name << " x=" << x[i]
                                    << " got " << got[i];
                                continue;
                            }
                            double tol = 1e-5 * std::max(1.0, std::fabs(double(want[i])));
                            ASSERT_NEAR(got[i], want[i], tol)
                                << isa_name(op.isa) << " " << form.name << " rows=" << rows
                                << " cols=" << cols << " x=" << x[i] << " bias=" << with_bias;
                        }
                    }
}

// The gated activations: act(first half) * second half of each row, one pass, against the
// definitions in double precision (odd widths: the vector tails) — ModernBERT's gated GELU (erf
// form) and SwiGLU (NomicBERT, GTE) — in every variant and through the dispatching functions.
TEST(Fused, GatedActivationsMatchReference) {
    struct Gated {
        const char* name;
        void (*FusedOps::*op)(const float*, float*, int64_t, int64_t);
        void (*dispatch)(const float*, float*, int64_t, int64_t);
        double (*exact)(double);
    };
    const Gated forms[] = {{"gelu_glu", &FusedOps::gelu_glu, gelu_glu, test::gelu_erf_exact},
                           {"silu_glu", &FusedOps::silu_glu, silu_glu, silu_exact}};
    for (const FusedOps& op : runnable())
        for (const Gated& gated : forms)
            for (int pass = 0; pass < 2; ++pass)  // the variant, then the public function
                for (int64_t rows : kRows)
                    for (int64_t cols : kCols) {
                        const auto u = randv(rows * 2 * cols, 21, 3.0f);
                        std::vector<float> got(rows * cols, -1.0f);
                        (pass == 0 ? op.*gated.op : gated.dispatch)(u.data(), got.data(), rows,
                                                                    cols);
                        for (int64_t r = 0; r < rows; ++r)
                            for (int64_t c = 0; c < cols; ++c) {
                                const double a = u[r * 2 * cols + c],
                                             g = u[r * 2 * cols + cols + c];
                                const double want = gated.exact(a) * g;
                                ASSERT_NEAR(got[r * cols + c], want,
                                            2e-5 * std::max(1.0, std::fabs(want)))
                                    << isa_name(op.isa) << " " << gated.name << " pass " << pass
                                    << " rows=" << rows << " cols=" << cols << " r=" << r
                                    << " c=" << c;
                            }
                    }
}

// Same association as the reference (x + (bias + res)): results are bit-identical.
TEST(Fused, BiasResidualMatchesReferenceExactly) {
    for (const FusedOps& op : runnable())
        for (int64_t rows : kRows)
            for (int64_t cols : kCols)
                for (int mode = 0; mode < 4; ++mode) {
                    auto x = randv(rows * cols, 21, 2.0f), r = randv(rows * cols, 22),
                         b = randv(cols, 23);
                    const float* bias = (mode & 1) ? b.data() : nullptr;
                    const float* res = (mode & 2) ? r.data() : nullptr;
                    auto want = x, got = x;
                    ref::bias_residual(want.data(), bias, res, rows, cols);
                    op.bias_residual(got.data(), bias, res, rows, cols);
                    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
                        << isa_name(op.isa) << " rows=" << rows << " cols=" << cols
                        << " mode=" << mode;
                }
}

// Gather of word/position/type rows + LayerNorm; tolerance as layer_norm.
TEST(Fused, EmbedLayerNormMatchesReference) {
    const int64_t vocab = 50, max_pos = 40, n_types = 2;
    for (const FusedOps& op : runnable())
        for (int64_t rows : {1, 3, 13, 40})
            for (int64_t cols : kCols)
                for (int mode = 0; mode < 3; ++mode) {
                    // 0: one sequence, no type ids; 1: types; 2: packed batch (explicit positions).
                    auto word = randv(vocab * cols, 71), pos = randv(max_pos * cols, 72, 0.5f),
                         type = randv(n_types * cols, 73, 0.5f);
                    auto g = randv(cols, 74), b = randv(cols, 75);
                    std::vector<int32_t> ids(rows), pos_ids(rows), type_ids(rows);
                    std::mt19937 gen(76 + mode);
                    for (int64_t r = 0; r < rows; ++r) {
                        ids[r] = static_cast<int32_t>(gen() % vocab);
                        type_ids[r] = static_cast<int32_t>(gen() % n_types);
                        pos_ids[r] = static_cast<int32_t>(r < rows / 2 ? r : r - rows / 2);
                    }
                    const int32_t* ti = mode >= 1 ? type_ids.data() : nullptr;
                    const int32_t* pi = mode == 2 ? pos_ids.data() : nullptr;
                    std::vector<float> want(rows * cols), got(rows * cols);
                    ref::embed_layer_norm(word.data(), pos.data(), type.data(), ids.data(), pi, ti,
                                          g.data(), b.data(), want.data(), rows, cols, 1e-12f);
                    op.embed_layer_norm(word.data(), pos.data(), type.data(), ids.data(), pi, ti,
                                        g.data(), b.data(), got.data(), rows, cols, 1e-12f);
                    for (int64_t i = 0; i < rows; ++i)
                        ASSERT_LE(max_scaled_err(&got[i * cols], &want[i * cols], cols), 1e-4)
                            << isa_name(op.isa) << " rows=" << rows << " cols=" << cols
                            << " mode=" << mode;
                }
}

// The reference itself against an independent evaluation (HF order, double LayerNorm).
TEST(Fused, EmbedLayerNormReferenceIsLayerNormOfSum) {
    const int64_t cols = 33;
    auto word = randv(4 * cols, 81), pos = randv(3 * cols, 82), type = randv(2 * cols, 83);
    auto g = randv(cols, 84), b = randv(cols, 85);
    const int32_t ids[] = {3, 0}, pos_ids[] = {2, 0}, type_ids[] = {1, 0};
    std::vector<float> got(2 * cols);
    ref::embed_layer_norm(word.data(), pos.data(), type.data(), ids, pos_ids, type_ids, g.data(),
                          b.data(), got.data(), 2, cols, 1e-5f);
    for (int r = 0; r < 2; ++r) {
        std::vector<double> v(cols);
        double mean = 0, var = 0;
        for (int64_t c = 0; c < cols; ++c) {
            v[c] = (word[ids[r] * cols + c] + type[type_ids[r] * cols + c]) +
                   pos[pos_ids[r] * cols + c];
            mean += v[c] / cols;
        }
        for (int64_t c = 0; c < cols; ++c) var += (v[c] - mean) * (v[c] - mean) / cols;
        for (int64_t c = 0; c < cols; ++c)
            ASSERT_NEAR(got[r * cols + c], (v[c] - mean) / std::sqrt(var + 1e-5) * g[c] + b[c],
                        1e-5);
    }
}

namespace {
// Runs softmax of variant `op` and the reference on the same strided input; checks 1e-5 abs,
// finite outputs, row sums and that the padding between cols and ld is untouched.
void check_softmax(const FusedOps& op, const std::vector<float>& in, int64_t rows, int64_t cols,
                   int64_t ld, float scale, const float* mask, const char* what) {
    auto want = in, got = in;
    ref::softmax(want.data(), rows, cols, ld, scale, mask);
    op.softmax(got.data(), rows, cols, ld, scale, mask);
    for (int64_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (int64_t c = 0; c < ld; ++c) {
            const size_t i = r * ld + c;
            if (c >= cols) {
                ASSERT_EQ(got[i], in[i]) << "padding overwritten " << what;
                continue;
            }
            ASSERT_TRUE(std::isfinite(got[i])) << isa_name(op.isa) << " " << what << " r=" << r;
            ASSERT_NEAR(got[i], want[i], 1e-5)
                << isa_name(op.isa) << " " << what << " rows=" << rows << " cols=" << cols
                << " ld=" << ld << " r=" << r << " c=" << c;
            sum += got[i];
        }
        ASSERT_NEAR(sum, 1.0, 1e-5) << isa_name(op.isa) << " " << what << " r=" << r;
    }
}
}  // namespace

TEST(Fused, SoftmaxMatchesReference) {
    for (const FusedOps& op : runnable())
        for (int64_t rows : kRows)
            for (int64_t cols : kCols)
                for (int64_t pad : {0, 5}) {
                    const int64_t ld = cols + pad;
                    auto in = randv(rows * ld, 31, 4.0f);
                    // HF-style additive mask: 0 for kept tokens, finfo.min for padding (never
                    // all masked here; the first column stays kept).
                    std::vector<float> mask(cols, 0.0f);
                    for (int64_t c = 1; c < cols; ++c)
                        if (c % 3 == 2)
                            mask[c] = -FLT_MAX;
                        else if (c % 5 == 4)
                            mask[c] = -1e30f;
                        else if (c % 7 == 6)
                            mask[c] = -10000.0f;
                    check_softmax(op, in, rows, cols, ld, 1.0f, nullptr, "plain");
                    check_softmax(op, in, rows, cols, ld, 0.125f, mask.data(), "masked");
                }
}

TEST(Fused, SoftmaxExtremeValues) {
    for (const FusedOps& op : runnable())
        for (int64_t cols : {1, 17, 128, 384}) {
            const int64_t rows = 4, ld = cols + 3;
            // Logits of +-1e4: exp underflows for all but the max; sums stay finite.
            std::vector<float> in(rows * ld);
            std::mt19937 gen(41);
            for (auto& v : in) v = (gen() & 1) ? 1e4f : -1e4f;
            for (int64_t c = 0; c < cols; ++c) in[2 * ld + c] = -1e4f + static_cast<float>(c % 3);
            check_softmax(op, in, rows, cols, ld, 1.0f, nullptr, "+-1e4");
            // All-masked row as HF builds it (mask = finfo(float32).min): x*scale + min stays
            // finite, the max subtraction keeps it finite: no NaN, same result as the reference.
            std::vector<float> all_min(cols, -FLT_MAX), all_big(cols, -1e30f);
            auto logits = randv(rows * ld, 42, 3.0f);
            check_softmax(op, logits, rows, cols, ld, 0.125f, all_min.data(), "all -FLT_MAX");
            check_softmax(op, logits, rows, cols, ld, 0.125f, all_big.data(), "all -1e30");
            check_softmax(op, in, rows, cols, ld, 1.0f, all_min.data(), "+-1e4 all -FLT_MAX");
        }
}

// Sizes above the parallel threshold, and calls from inside a parallel region (per-head
// attention softmax): the kernels must not nest teams and must give the same results.
TEST(Fused, LargeAndNestedCallsMatchReference) {
    const int64_t rows = 256, cols = 768;
    auto x = randv(rows * cols, 51, 2.0f), r = randv(rows * cols, 52);
    auto g = randv(cols, 53), b = randv(cols, 54);
    for (const FusedOps& op : runnable()) {
        std::vector<float> want(rows * cols), got(rows * cols);
        ref::layer_norm(x.data(), r.data(), g.data(), b.data(), want.data(), rows, cols, 1e-12f);
        op.layer_norm(x.data(), r.data(), g.data(), b.data(), got.data(), rows, cols, 1e-12f);
        for (int64_t i = 0; i < rows; ++i)
            ASSERT_LE(max_scaled_err(&got[i * cols], &want[i * cols], cols), 1e-4)
                << isa_name(op.isa);

        const int heads = 12, len = 128;
        auto scores = randv(size_t(heads) * len * len, 55, 3.0f);
        auto want_s = scores, got_s = scores;
        ref::softmax(want_s.data(), int64_t(heads) * len, len, len, 0.125f, nullptr);
#pragma omp parallel for num_threads(2)
        for (int h = 0; h < heads; ++h)
            op.softmax(got_s.data() + size_t(h) * len * len, len, len, len, 0.125f, nullptr);
        for (size_t i = 0; i < got_s.size(); ++i)
            ASSERT_NEAR(got_s[i], want_s[i], 1e-5) << isa_name(op.isa) << " i=" << i;
    }
}

TEST(Fused, EmptyShapesAreNoOps) {
    float data[4] = {1, 2, 3, 4}, bias[4] = {1, 1, 1, 1};
    for (const FusedOps& op : runnable()) {
        op.bias_gelu(data, bias, 0, 4);
        op.bias_gelu(data, bias, 4, 0);
        op.bias_gelu_tanh(data, bias, 0, 4);
        op.bias_gelu_tanh(data, bias, 4, 0);
        op.bias_residual(data, bias, data, 0, 4);
        op.softmax(data, 0, 4, 4, 1.0f, nullptr);
        op.layer_norm(data, nullptr, bias, bias, data, 0, 4, 1e-5f);
        EXPECT_EQ(data[0], 1.0f);
        EXPECT_EQ(data[3], 4.0f);
    }
}

// set_max_isa caps dispatch: the public functions then run exactly the capped variant.
TEST(Fused, DispatchFollowsIsaCap) {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    const int64_t rows = 3, cols = 100;
    auto x = randv(rows * cols, 61, 2.0f), r = randv(rows * cols, 62);
    auto g = randv(cols, 63), b = randv(cols, 64);
    for (int k = 0; k < n; ++k) {
        if (static_cast<int>(v[k].isa) > static_cast<int>(cpu_isa())) continue;
        set_max_isa(v[k].isa);
        EXPECT_EQ(fused_active_isa(), v[k].isa);
        std::vector<float> want(rows * cols), got(rows * cols);
        v[k].layer_norm(x.data(), r.data(), g.data(), b.data(), want.data(), rows, cols, 1e-12f);
        layer_norm(x.data(), r.data(), g.data(), b.data(), got.data(), rows, cols, 1e-12f);
        EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
            << isa_name(v[k].isa);
        auto ws = x, gs = x;
        v[k].softmax(ws.data(), rows, cols, cols, 0.5f, nullptr);
        softmax(gs.data(), rows, cols, cols, 0.5f, nullptr);
        EXPECT_EQ(0, std::memcmp(gs.data(), ws.data(), gs.size() * sizeof(float)))
            << isa_name(v[k].isa);
        auto wg = x, gg = x;
        v[k].bias_gelu(wg.data(), b.data(), rows, cols);
        bias_gelu(gg.data(), b.data(), rows, cols);
        EXPECT_EQ(0, std::memcmp(gg.data(), wg.data(), gg.size() * sizeof(float)))
            << isa_name(v[k].isa);
        auto wt = x, gt = x;
        v[k].bias_gelu_tanh(wt.data(), b.data(), rows, cols);
        bias_gelu_tanh(gt.data(), b.data(), rows, cols);
        EXPECT_EQ(0, std::memcmp(gt.data(), wt.data(), gt.size() * sizeof(float)))
            << isa_name(v[k].isa);
        const int32_t ids[] = {1, 0, 2};
        std::vector<float> we(rows * cols), ge(rows * cols);
        v[k].embed_layer_norm(x.data(), r.data(), b.data(), ids, nullptr, nullptr, g.data(),
                              b.data(), we.data(), rows, cols, 1e-12f);
        embed_layer_norm(x.data(), r.data(), b.data(), ids, nullptr, nullptr, g.data(), b.data(),
                         ge.data(), rows, cols, 1e-12f);
        EXPECT_EQ(0, std::memcmp(ge.data(), we.data(), ge.size() * sizeof(float)))
            << isa_name(v[k].isa);
    }
    if (cpu_isa() >= Isa::avx512) {
        set_max_isa(Isa::avx512_vnni);
        EXPECT_EQ(fused_active_isa(), Isa::avx512);
    }
    set_max_isa(cpu_isa());
}
