#include "tools/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>

#include "sparq/error.hpp"

namespace sparq::tools::eval {

namespace {
template <class T>
void check_sizes(const std::vector<T>& a, const std::vector<T>& b, const char* what) {
    if (a.size() != b.size())
        throw Error(std::string(what) + ": expected vectors of equal length, found " + std::to_string(a.size()) +
                    " and " + std::to_string(b.size()));
    if (a.empty()) throw Error(std::string(what) + ": expected at least one value, found none");
}
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double accuracy(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred) {
    check_sizes(gold, pred, "accuracy");
    size_t hit = 0;
    for (size_t i = 0; i < gold.size(); ++i) hit += gold[i] == pred[i];
    return static_cast<double>(hit) / static_cast<double>(gold.size());
}

double f1_binary(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred, int64_t positive) {
    check_sizes(gold, pred, "f1");
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
        const bool g = gold[i] == positive, p = pred[i] == positive;
        tp += g && p;
        fp += !g && p;
        fn += g && !p;
    }
    return tp + fp + fn == 0 ? nan : 2 * tp / (2 * tp + fp + fn);
}

double matthews(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred) {
    check_sizes(gold, pred, "matthews");
    // With C the confusion matrix, t_k = row sums (gold), p_k = column sums (pred), c = trace, s = n:
    // MCC = (c·s − Σ p_k·t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)).
    std::map<int64_t, double> t, p;
    double c = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
        t[gold[i]] += 1;
        p[pred[i]] += 1;
        c += gold[i] == pred[i];
    }
    const double s = static_cast<double>(gold.size());
    double pt = 0, pp = 0, tt = 0;
    for (const auto& [k, v] : p) {
        pp += v * v;
        auto it = t.find(k);
        if (it != t.end()) pt += v * it->second;
    }
    for (const auto& [k, v] : t) tt += v * v;
    const double den = std::sqrt((s * s - pp) * (s * s - tt));
    return den == 0 ? 0.0 : (c * s - pt) / den;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    check_sizes(x, y, "pearson");
    const double n = static_cast<double>(x.size());
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) return nan;
    return sxy / std::sqrt(sxx * syy);
}

std::vector<double> average_ranks(const std::vector<double>& x) {
    std::vector<size_t> order(x.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
    std::vector<double> ranks(x.size());
    for (size_t i = 0; i < order.size();) {
        size_t j = i;
        while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
        const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
        for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
        i = j + 1;
    }
    return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
    check_sizes(x, y, "spearman");
    return pearson(average_ranks(x), average_ranks(y));
}

}  // namespace sparq::tools::eval
