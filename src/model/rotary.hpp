#pragma once
// Rotary position embeddings as Hugging Face's ModernBERT applies them (rotate-half form): for
// head dimension d and position p, inv_freq[j] = 1 / theta^(2j / d) (float32, as torch computes
// it), angle = p * inv_freq[j] (a float32 product), and each head's q = [a | b] (halves of d / 2)
// becomes [a cos - b sin | b cos + a sin].
#include <cstdint>
#include <vector>

namespace sparq {

class RotaryTable {
  public:
    RotaryTable() = default;
    // Angles of positions [0, positions) for head dimension d (even) and base theta; ntk_factor f
    // > 1 divides every inverse frequency by f^(2/d) (GTE's fixed NTK scaling, whose theta is
    // already the base times f).
    RotaryTable(int64_t d, double theta, int64_t positions, double ntk_factor = 1.0);
    int64_t positions() const { return positions_; }
    // cos / sin of position p: d / 2 values each.
    const float* cos(int64_t p) const { return cs_.data() + p * half_ * 2; }
    const float* sin(int64_t p) const { return cs_.data() + p * half_ * 2 + half_; }

  private:
    int64_t half_ = 0, positions_ = 0;
    std::vector<float> cs_;  // per position: d / 2 cosines, then d / 2 sines
};

// Rotates Q and K of every head in place: rows of `tokens` tokens at stride ld, Q in columns
// [0, hidden), K in [hidden, 2 hidden) (the fused QKV output, token-major), heads of d columns;
// token t at position pos[t] (< table.positions()).
void apply_rotary(float* qkv, int64_t ld, int64_t tokens, const int32_t* pos, int64_t hidden,
                  int64_t d, const RotaryTable& table);
// The same on the packed activation stream of the fused QKV output (kernels/spmm/spmm.hpp:
// feature f of token t at qs[(t / group) (3 hidden + 1) group + f group + t % group]); token
// group g on thread g % num_threads(), as every stream call. Slots past the last token are left
// as they are.
void apply_rotary_stream(float* qs, int64_t tokens, const int32_t* pos, int64_t hidden, int64_t d,
                         const RotaryTable& table, int64_t group);

}  // namespace sparq
