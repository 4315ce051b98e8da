// Tokenizer throughput on real sentences: SST-2 dev (872 sentences) from the shared data folder,
// bert-base-uncased vocabulary. Reports tokens/s and bytes/s.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sparq/tokenizer.hpp"

namespace {

std::filesystem::path shared_data() {
    if (const char* env = std::getenv("SPARQ_SHARED_DATA"); env && *env) return env;
    // This file lives in <repo>/bench/; the shared data sits beside the repository.
    return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
           "data";
}

struct Data {
    std::vector<std::string> sentences;
    std::unique_ptr<sparq::Tokenizer> uncased, cased;
    size_t bytes = 0;
};

const Data* data() {
    static Data d = [] {
        Data x;
        const auto root = shared_data();
        std::ifstream in(root / "sst2" / "dev.tsv");
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            const auto tab = line.rfind('\t');
            x.sentences.push_back(line.substr(0, tab));
            x.bytes += tab;
        }
        const auto uv = root / "vocab" / "bert-base-uncased" / "vocab.txt";
        const auto cv = root / "vocab" / "bert-base-cased" / "vocab.txt";
        if (std::filesystem::exists(uv))
            x.uncased = std::make_unique<sparq::Tokenizer>(
                sparq::Tokenizer::from_vocab_file(uv.string(), {}));
        sparq::TokenizerOptions co;
        co.do_lower_case = false;
        if (std::filesystem::exists(cv))
            x.cased = std::make_unique<sparq::Tokenizer>(
                sparq::Tokenizer::from_vocab_file(cv.string(), co));
        return x;
    }();
    return d.sentences.empty() || !d.uncased ? nullptr : &d;
}

void run(benchmark::State& state, bool cased, bool pair) {
    const Data* d = data();
    if (!d) {
        state.SkipWithError("shared data (sst2/dev.tsv, bert vocab) not found");
        return;
    }
    const sparq::Tokenizer& tok = cased ? *d->cased : *d->uncased;
    size_t tokens = 0;
    for (auto _ : state) {
        for (size_t i = 0; i < d->sentences.size(); ++i) {
            const sparq::Encoding e =
                pair ? tok.encode(d->sentences[i],
                                  std::string_view(d->sentences[(i + 1) % d->sentences.size()]))
                     : tok.encode(d->sentences[i]);
            tokens += e.size();
            benchmark::DoNotOptimize(e.ids.data());
        }
    }
    const double bytes = static_cast<double>(d->bytes) * (pair ? 2 : 1);
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
    state.counters["sentences/s"] = benchmark::Counter(
        static_cast<double>(state.iterations() * d->sentences.size()), benchmark::Counter::kIsRate);
    state.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(state.iterations())));
}

void BM_EncodeSst2Uncased(benchmark::State& s) { run(s, false, false); }
void BM_EncodeSst2Cased(benchmark::State& s) { run(s, true, false); }
void BM_EncodeSst2PairUncased(benchmark::State& s) { run(s, false, true); }

}  // namespace

BENCHMARK(BM_EncodeSst2Uncased)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeSst2Cased)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeSst2PairUncased)->Unit(benchmark::kMillisecond);
