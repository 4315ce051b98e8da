#pragma once
// JSON of model results, one format for `sparq classify` / `sparq embed` (JSON lines) and
// `sparq serve` (HTTP responses).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sparq/model.hpp"

namespace sparq::tools {

// A float as the JSON number with the shortest decimal that round-trips the float; NaN or inf
// (a model whose arithmetic overflowed) throws sparq::Error.
double json_float(float f);
nlohmann::ordered_json json_floats(const float* p, int64_t n);

// A SPLADE vector's nonzero weights, largest first (sparse_entries, at most top_k; 0: all):
// {"indices": [ids], "tokens": [the tokenizer's tokens, null past its vocabulary], "values"}.
nlohmann::ordered_json splade_json(const std::vector<float>& v, const Tokenizer& tok,
                                   size_t top_k = 0);

// "base", "sequence-classification", "token-classification", "question-answering" or
// "multiple-choice".
std::string task_name(Task t);

// Whether the model's sequence head is a regression (problem_type "regression" or one label).
bool is_regression(const ModelConfig& cfg);

// One text's sequence classification: {"label", "score", "scores": {label: probability}} with
// the scores in decreasing order (only the top_k most probable when top_k > 0), or {"score"}
// for regression models.
nlohmann::ordered_json classification_json(const ModelConfig& cfg, const Classification& c,
                                           size_t top_k);

// Reranking with a cross-encoder (a sequence classifier over (query, document) pairs, as
// sentence-transformers' CrossEncoder): the relevance of one pair from its classification —
// sigmoid(logit) for a one-label model (its raw logit when `raw`), the probability of label 1 for
// a two-label one. rerank_check throws sparq::Error for a model that is no such classifier.
void rerank_check(const ModelConfig& cfg);
// Throws sparq::Error "<needs>; this model's task is <task>" unless cfg is a sequence classifier.
void require_sequence_classifier(const ModelConfig& cfg, const std::string& needs);
float rerank_score(const ModelConfig& cfg, const Classification& c, bool raw);
// The documents by decreasing score (stable: ties keep their order), the first top_k (0: all):
// [{"index", "score", "text"}] ("text" only when `docs` is given).
nlohmann::ordered_json rerank_json(const std::vector<float>& scores,
                                   const std::vector<std::string>* docs, size_t top_k);

// One text's token classification: [{"token", "label", "score"}] for every token of `e` that is
// not a special token ([CLS], [SEP], padding).
nlohmann::ordered_json token_tags_json(const ModelConfig& cfg, const Tokenizer& tok,
                                       const Encoding& e, const TokenTag& tags);

// Hugging Face's token-classification aggregation strategies (TokenClassificationPipeline's
// aggregation_strategy): how token_entities_json turns token labels into entities.
enum class Aggregation { none, simple, first, average, max };
// "none", "simple", "first", "average", "max" (the order of Aggregation).
const std::vector<std::string>& aggregation_names();
// The strategy of that name; throws sparq::Error naming the accepted values for another one.
Aggregation aggregation_from_name(std::string_view name);

// Whether token t of e continues the word of the token before it, as HF's gather_pre_entities
// decides: with a continuing-subword prefix (WordPiece "##") when the token's string and the text
// under its offsets differ in length (Unicode code points); otherwise (byte-level BPE,
// SentencePiece) by HF's heuristic, when neither the character before the token nor its first
// character is a space (a token at offset 0 starts a word). The unknown token never continues a
// word. src is the text the token's offsets point into.
bool is_subword(const Tokenizer& tok, const Encoding& e, size_t t, std::string_view src);

// One text's entities from its token classification, as Hugging Face's token-classification
// pipeline with that aggregation_strategy. Special tokens ([CLS], [SEP], padding) are left out;
// each token's probabilities are the softmax of its logits.
// - simple: each token its argmax label; consecutive tokens of one entity type form a group
//   unless a token's label starts with "B-" (labels without a B-/I- prefix are their own type);
//   groups of type "O" are dropped. [{"entity_group" (type, prefix removed), "score" (mean of the
//   members' scores), "word", "start", "end"}].
// - first / average / max: tokens are first joined into words (a token and the subword tokens
//   after it, is_subword), each word one label: the argmax of its first token's probabilities
//   (first), of the mean of its tokens' probability vectors (average), or of the token whose
//   highest probability is largest (max; the first such token on ties); its score that
//   probability. The words are then grouped as simple groups tokens (same output).
// - none: no grouping; one {"entity" (the label), "score", "index" (token position in e), "word",
//   "start", "end"} per token whose label is not "O".
// start/end are byte offsets in the token's text (`text`, or `pair` for the second segment) and
// word is that text's slice (HF rebuilds it from the word pieces, which loses case and spacing for
// uncased models, and gives "##" pieces for none). Neither a word nor a group crosses from text
// to pair.
nlohmann::ordered_json token_entities_json(const ModelConfig& cfg, const Tokenizer& tok,
                                           const Encoding& e, const TokenTag& tags,
                                           std::string_view text, std::string_view pair = {},
                                           Aggregation aggregation = Aggregation::simple);

// Masked-token predictions of a batch of encodings as Hugging Face's fill-mask pipeline reports
// them: per encoding, [{"position", "predictions": [{"token", "token_str", "score",
// "sequence"}]}] (sequence: the encoding with the token put in, decoded without special tokens).
std::vector<nlohmann::ordered_json> fill_mask_json(const Tokenizer& tok,
                                                   const std::vector<Encoding>& encs,
                                                   const std::vector<MaskFill>& fills);

// Question answering on e = encode(question, context): {"answer", "score", "probability",
// "start", "end"} (score = start + end logit; probability = span_probability, what HF's
// question-answering pipeline calls its score). The answer is the context's own text between the
// span's first and last token (their byte offsets), so casing, accents and spacing are the user's;
// for a span that is not inside the context it is rebuilt from the word pieces, best effort.
nlohmann::ordered_json answer_json(const Tokenizer& tok, const Encoding& e, const Span& s,
                                   std::string_view context);

// The encodings a question is answered from, as Hugging Face's question-answering pipeline does:
// (question, context) whole when it fits in max_length, else windows of the context
// (Tokenizer::encode_windows), each with the whole question, overlapping by doc_stride tokens
// (0: min(128, max_length / 2, half a window), the pipeline's default). A question too long to
// leave room for the context falls back to one longest-first truncated encoding.
std::vector<Encoding> qa_windows(const Tokenizer& tok, std::string_view question,
                                 std::string_view context, size_t max_length,
                                 size_t doc_stride = 0);

// The probability HF's question-answering pipeline gives span s of encoding e: the softmax of the
// start logits and of the end logits over the context tokens and [CLS], multiplied.
double span_probability(const Tokenizer& tok, const Encoding& e, const Span& s);

// answer_json of the best span over the windows (spans[i] found in windows[i]; the highest
// span_probability, as HF's pipeline ranks windows, the first window on ties), with "window" (its
// index) and "windows" (their count) added when there are several; "start" / "end" are token
// positions in that window.
nlohmann::ordered_json best_answer_json(const Tokenizer& tok, const std::vector<Encoding>& windows,
                                        const std::vector<Span>& spans, std::string_view context);

}  // namespace sparq::tools
