#pragma once
// Building a WordPiece vocabulary from a text corpus (for training our own models), and writing
// it in the vocab.txt format that Tokenizer::from_vocab_file and HF BertTokenizer read.
#include <cstddef>
#include <string>
#include <vector>

#include "sparq/tokenizer.hpp"

namespace sparq {

// Builds a WordPiece vocabulary the way HF's WordPieceTrainer does (BPE merges over words
// whose non-initial characters carry the "##" prefix):
//   1. texts are normalized and split into words exactly as the tokenizer will do with opts
//      (lower-casing, accents, CJK, punctuation); words longer than 100 characters are ignored;
//   2. the vocabulary starts with [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0-4), then every
//      character seen, both as a word start "c" and as a continuation "##c" (sorted by code
//      point), so any word made of seen characters tokenizes without [UNK];
//   3. then, repeatedly, the adjacent pair of pieces with the highest total frequency over all
//      words (ties: the pair whose merged string sorts first) is merged into a new piece
//      ("un" + "##aff" -> "unaff", "##a" + "##b" -> "##ab"), until vocab_size tokens exist or
//      no pair occurs min_frequency times.
// The result can exceed vocab_size only when the specials and the alphabet alone do.
std::vector<std::string> train_wordpiece_vocab(const std::vector<std::string>& texts,
                                               size_t vocab_size, const TokenizerOptions& opts,
                                               size_t min_frequency = 2);

// Writes tokens one per line in id order (vocab.txt); throws sparq::Error on I/O failure or a
// token that is empty or contains a line break.
void write_vocab_file(const std::string& path, const std::vector<std::string>& tokens);

}  // namespace sparq
