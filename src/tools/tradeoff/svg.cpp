// Hand-written SVG scatter chart of the trade-off (no chart library).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tools/tradeoff/tradeoff.hpp"

namespace sparq::tools::tradeoff {

namespace {
std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string num(double v, int prec = 2) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return b;
}

// Round tick step for a linear axis spanning `span` with about `n` ticks.
double nice_step(double span, int n) {
    const double raw = span / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (raw <= m * mag) return m * mag;
    return 10 * mag;
}
// Decimals that show a tick step exactly enough (0.25 -> 2, 5 -> 0).
int decimals(double step) {
    int d = 0;
    while (d < 6 && std::abs(step * std::pow(10.0, d) - std::round(step * std::pow(10.0, d))) > 1e-6) ++d;
    return d;
}

// Greedy label placement: the first of a few offsets whose box overlaps no placed label.
struct Labels {
    struct Box {
        double x0, y0, x1, y1;
    };
    std::vector<Box> placed;
    std::pair<double, double> place(double px, double py, const std::string& text) {
        const double w = 6.8 * static_cast<double>(text.size()), h = 13;
        const double offs[][2] = {{10, -8}, {10, 16}, {10, -21}, {10, 29}, {10, -34}, {10, 42}, {-10 - w, -8},
                                  {-10 - w, 16}, {10, -47}, {10, 55}};
        for (const auto& o : offs) {
            Box b{px + o[0], py + o[1] - h + 3, px + o[0] + w, py + o[1] + 3};
            bool clash = false;
            for (const Box& q : placed) clash |= b.x0 < q.x1 && q.x0 < b.x1 && b.y0 < q.y1 && q.y0 < b.y1;
            if (!clash) {
                placed.push_back(b);
                return {px + o[0], py + o[1]};
            }
        }
        return {px + 10, py - 8};
    }
};
}  // namespace

std::string render_svg(const std::vector<Point>& points, const std::string& metric_name, const std::string& title) {
    const double W = 800, H = 520, ml = 80, mr = 40, mt = 50, mb = 70;
    const double pw = W - ml - mr, ph = H - mt - mb;
    std::vector<const Point*> ok;
    for (const auto& p : points)
        if (p.ok && p.speedup > 0) ok.push_back(&p);

    double xmin = 1, xmax = 1, ymin = 0, ymax = 0;
    for (const Point* p : ok) {
        xmin = std::min(xmin, p->speedup);
        xmax = std::max(xmax, p->speedup);
        ymin = std::min(ymin, 100 * p->delta);
        ymax = std::max(ymax, 100 * p->delta);
    }
    const bool logx = xmax / xmin > 3;
    if (!logx && xmax - xmin < 0.2) {  // speedups all alike: show at least 0.2x around them
        const double mid = (xmax + xmin) / 2;
        xmin = mid - 0.1;
        xmax = mid + 0.1;
    }
    auto fx = [&](double v) { return logx ? std::log(v) : v; };
    double lo = fx(xmin), hi = fx(xmax);
    double pad = (hi - lo) * 0.08;
    if (pad == 0) pad = logx ? 0.1 : 0.1 * std::max(1.0, xmax);
    lo -= pad;
    hi += pad * 2.5;  // room for labels on the right
    double ypad = (ymax - ymin) * 0.1;
    if (ypad == 0) ypad = 1;
    const double ylo = ymin - ypad, yhi = ymax + ypad;
    auto X = [&](double v) { return ml + (fx(v) - lo) / (hi - lo) * pw; };
    auto Y = [&](double v) { return mt + (yhi - v) / (yhi - ylo) * ph; };

    std::ostringstream s;
    s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
      << ' ' << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    s << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"white\"/>\n";
    s << "<text x=\"" << W / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << esc(title) << "</text>\n";
    s << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"#333\"/>\n";

    // x ticks
    std::vector<double> xt;
    if (logx) {
        for (int e = -3; e <= 3; ++e)
            for (double m : {1.0, 2.0, 5.0}) {
                double v = m * std::pow(10.0, e);
                if (fx(v) >= lo && fx(v) <= hi) xt.push_back(v);
            }
    } else {
        const double st = nice_step(hi - lo, 6);
        for (double v = std::ceil(lo / st) * st; v <= hi + 1e-12; v += st) xt.push_back(v);
    }
    const int xdec = logx ? 1 : std::max(1, decimals(nice_step(hi - lo, 6)));
    for (double v : xt) {
        const double x = X(v);
        s << "<line x1=\"" << num(x) << "\" y1=\"" << mt << "\" x2=\"" << num(x) << "\" y2=\"" << mt + ph
          << "\" stroke=\"#eee\"/>\n";
        s << "<text x=\"" << num(x) << "\" y=\"" << mt + ph + 18 << "\" text-anchor=\"middle\">" << num(v, logx && v < 1 ? 2 : xdec)
          << "×</text>\n";
    }
    const double yst = nice_step(yhi - ylo, 6);
    for (double v = std::ceil(ylo / yst) * yst; v <= yhi + 1e-12; v += yst) {
        const double y = Y(v);
        s << "<line x1=\"" << ml << "\" y1=\"" << num(y) << "\" x2=\"" << ml + pw << "\" y2=\"" << num(y)
          << "\" stroke=\"#eee\"/>\n";
        s << "<text x=\"" << ml - 8 << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\">"
          << num(std::abs(v) < yst / 1000 ? 0.0 : v, decimals(yst)) << "</text>\n";
    }
    // reference lines: base accuracy and speed
    s << "<line x1=\"" << ml << "\" y1=\"" << num(Y(0)) << "\" x2=\"" << ml + pw << "\" y2=\"" << num(Y(0))
      << "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n";
    s << "<line x1=\"" << num(X(1)) << "\" y1=\"" << mt << "\" x2=\"" << num(X(1)) << "\" y2=\"" << mt + ph
      << "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n";
    s << "<text x=\"" << ml + pw / 2 << "\" y=\"" << H - 22 << "\" text-anchor=\"middle\">speedup vs dense f32 base"
      << (logx ? " (log scale)" : "") << "</text>\n";
    s << "<text transform=\"translate(20 " << mt + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(metric_name)
      << " change (points)</text>\n";

    // frontier line
    std::vector<const Point*> front;
    for (const Point* p : ok)
        if (p->frontier) front.push_back(p);
    std::stable_sort(front.begin(), front.end(), [](const Point* a, const Point* b) {
        return a->speedup != b->speedup ? a->speedup < b->speedup : a->metric > b->metric;
    });
    if (front.size() > 1) {
        s << "<polyline class=\"frontier\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"";
        for (const Point* p : front) s << num(X(p->speedup)) << ',' << num(Y(100 * p->delta)) << ' ';
        s << "\"/>\n";
    }
    Labels labels;
    labels.placed.push_back({ml, mt, ml + 230, mt + 28});  // the legend
    for (const Point* p : ok) {
        const double x = X(p->speedup), y = Y(100 * p->delta);
        const auto [tx, ty] = labels.place(x, y, p->label());
        s << "<g class=\"point" << (p->frontier ? " frontier" : "") << "\">";
        if (p->frontier)
            s << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"8\" fill=\"none\" stroke=\"#d62728\" "
              << "stroke-width=\"2\"/>";
        s << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"4.5\" fill=\""
          << (p->is_base ? "#333" : p->precision == "int8" ? "#2ca02c" : "#1f77b4") << "\"/>";
        s << "<text x=\"" << num(tx) << "\" y=\"" << num(ty) << "\">" << esc(p->label()) << "</text>";
        s << "<title>" << esc(p->label()) << ": " << esc(metric_name) << ' ' << num(p->metric, 4) << ", speedup "
          << num(p->speedup, 2) << "×, " << num(p->median_ms, 3) << " ms</title></g>\n";
    }
    // legend
    const double lx = ml + 10, ly = mt + 14;
    s << "<g class=\"legend\" font-size=\"11\">"
      << "<circle cx=\"" << lx << "\" cy=\"" << ly << "\" r=\"4.5\" fill=\"#1f77b4\"/><text x=\"" << lx + 10 << "\" y=\""
      << ly + 4 << "\">f32</text>"
      << "<circle cx=\"" << lx + 50 << "\" cy=\"" << ly << "\" r=\"4.5\" fill=\"#2ca02c\"/><text x=\"" << lx + 60
      << "\" y=\"" << ly + 4 << "\">int8</text>"
      << "<circle cx=\"" << lx + 105 << "\" cy=\"" << ly << "\" r=\"8\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>"
      << "<text x=\"" << lx + 118 << "\" y=\"" << ly + 4 << "\">Pareto frontier</text></g>\n";
    size_t failed = points.size() - ok.size();
    if (failed)
        s << "<text x=\"" << ml << "\" y=\"" << H - 6 << "\" font-size=\"11\" fill=\"#a00\">" << failed
          << " variant(s) failed, not shown (see the CSV/JSON)</text>\n";
    s << "</svg>\n";
    return s.str();
}

}  // namespace sparq::tools::tradeoff
