#include <algorithm>
#include <numeric>

#include "tools/tradeoff/tradeoff.hpp"

namespace sparq::tools::tradeoff {

std::vector<size_t> pareto_frontier(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<size_t> order(x.size());
    std::iota(order.begin(), order.end(), size_t(0));
        // Decreasing x, then decreasing y: only earlier points can dominate a point.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return x[a] != x[b] ? x[a] > x[b] : y[a] > y[b];
    });
    std::vector<size_t> front;
    for (size_t k = 0; k < order.size(); ++k) {
        const size_t i = order[k];
        bool dominated = false;
        for (size_t m = 0; m < k && !dominated; ++m) {
            const size_t j = order[m];
            dominated = x[j] >= x[i] && y[j] >= y[i] && (x[j] > x[i] || y[j] > y[i]);
        }
        if (!dominated) front.push_back(i);
    }
    std::sort(front.begin(), front.end(), [&](size_t a, size_t b) {
        if (x[a] != x[b]) return x[a] < x[b];
        return y[a] != y[b] ? y[a] > y[b] : a < b;
    });
    return front;
}

void mark_frontier(std::vector<Point>& points) {
    std::vector<double> x, y;
    std::vector<size_t> idx;
    for (size_t i = 0; i < points.size(); ++i) {
        points[i].frontier = false;
        if (!points[i].ok) continue;
        x.push_back(points[i].speedup);
        y.push_back(points[i].metric);
        idx.push_back(i);
    }
    for (size_t k : pareto_frontier(x, y)) points[idx[k]].frontier = true;
}

}  // namespace sparq::tools::tradeoff
