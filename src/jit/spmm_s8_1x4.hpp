#pragma once
// JIT generator of the sparse int8 1x4 kernel (AVX512-VNNI): for each output row, each nonzero
// 1x4 block (4 s8 weights of 4 consecutive inputs) is broadcast as one dword and vpdpbusd-ed
// against `vecs` 16-token vectors of u8 activations packed [in/4][16 * vecs][4] (one token tile),
// into int32 accumulators (four independent sets, two at 8 vectors, fed round-robin, 4 blocks per
// loop iteration: +3-8% on the core alone vs two sets, bench bm_core). A row starts from minus the
// u8 compensation (128 * sum of the row's weights), or from its stored partial sums when a later K
// chunk accumulates, and its `16 * vecs` int32 sums are stored at the end.
// Index-driven: the block list is read from memory, so code size is constant. The block list is
// prefetched 1 KiB ahead (2 KiB with one or two vectors): in a model the weights of a layer come
// from L3 or memory (measured on BERT-base 90% 1x4, b1 s128: qkv 3.6 -> 2.9 ms, FFN 8.2 -> 7.0 ms
// over 12 layers).
#include <cstdint>

#include "jit/generator.hpp"

namespace sparq::jit {

// One nonzero 1x4 block: byte offset of its input group in a 16-token-wide tile (group * 64)
// and its 4 weights as one little-endian dword (input 4g + i in byte i).
struct S8Block {
    int32_t offset;
    int32_t weights;
};

struct SpmmS8Args {
    const uint8_t* src;      // token tile: [groups][16 * vecs][4] u8
    const S8Block* blocks;   // all blocks of the matrix, row after row
    const int32_t* row_ptr;  // [rows + 1] block index range of each row (first processed row)
    const int32_t* comp;     // [rows] 128 * sum of each row's weights
    int32_t* dst;            // [rows][16 * vecs] int32 sums
    int64_t rows;            // rows to process
    int64_t accumulate;      // 0: dst = sums - comp; 1: dst += sums (later K chunks)
};

class SpmmS8Vnni : public Generator {
public:
    // vecs: 16-token vectors per tile (1, 2, 4 or 8).
    explicit SpmmS8Vnni(int vecs);
    int vecs() const { return vecs_; }
    void operator()(const SpmmS8Args& a) const { call(&a); }

private:
    void generate();
    int vecs_;
};

}  // namespace sparq::jit
