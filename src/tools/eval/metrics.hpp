#pragma once
// Evaluation metrics of the GLUE tasks, computed in double precision. Undefined values (a
// correlation of a constant vector, F1 with no positive gold or predicted label) are NaN.
#include <cstdint>
#include <vector>

namespace sparq::tools::eval {

// Fraction of positions where pred == gold. Throws sparq::Error on size mismatch or empty input.
double accuracy(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred);

// F1 of the class `positive`: 2·tp / (2·tp + fp + fn); NaN if tp + fp + fn == 0.
double f1_binary(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred, int64_t positive = 1);

// Matthews correlation coefficient, multiclass form (Gorodkin 2004; equals the binary
// (tp·tn − fp·fn)/sqrt(...) for two classes); 0 when the denominator is 0 (as scikit-learn).
double matthews(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred);

// Pearson correlation; NaN if either vector is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

// 1-based ranks, tied values get the average of their ranks.
std::vector<double> average_ranks(const std::vector<double>& x);

// Spearman correlation: Pearson of the average ranks.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace sparq::tools::eval
