#include "tools/serve.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/json_depth.hpp"
#include "core/threading.hpp"
#include "sparq/error.hpp"
#include "tools/multiple_choice.hpp"
#include "tools/results.hpp"
#include "tools/zero_shot.hpp"

namespace sparq::tools {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// A request the service refuses, with its HTTP status.
struct HttpError : std::runtime_error {
    int status;
    HttpError(int s, const std::string& msg) : std::runtime_error(msg), status(s) {}
};

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string error_body(const std::string& msg) {
    ojson j;
    j["error"] = msg;
    return dump(j);
}

// OpenAI's error shape, for the /v1/ endpoints: {"error": {"message", "type", "param", "code"}}.
std::string openai_error_body(const std::string& msg, int status) {
    ojson e;
    e["message"] = msg;
    e["type"] = status >= 500 ? "server_error" : "invalid_request_error";
    e["param"] = nullptr;
    e["code"] = nullptr;
    ojson j;
    j["error"] = std::move(e);
    return dump(j);
}

// The error body of a path: OpenAI's shape under /v1/, sparq's {"error": message} elsewhere.
std::string body_of_error(const std::string& path, const std::string& msg, int status) {
    return path.rfind("/v1/", 0) == 0 ? openai_error_body(msg, status) : error_body(msg);
}

// Standard base64 (RFC 4648, padded) of the floats' little-endian bytes.
std::string base64(const std::vector<float>& v) {
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto* b = reinterpret_cast<const unsigned char*>(v.data());
    const size_t n = v.size() * sizeof(float);
    std::string out;
    out.reserve((n + 2) / 3 * 4);
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t x = uint32_t(b[i]) << 16 | (i + 1 < n ? uint32_t(b[i + 1]) << 8 : 0) |
                           (i + 2 < n ? uint32_t(b[i + 2]) : 0);
        out += kAlphabet[x >> 18 & 63];
        out += kAlphabet[x >> 12 & 63];
        out += i + 1 < n ? kAlphabet[x >> 6 & 63] : '=';
        out += i + 2 < n ? kAlphabet[x & 63] : '=';
    }
    return out;
}

json parse_object(const std::string& body, const std::string& endpoint) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        throw HttpError(400, endpoint + ": request body is not valid JSON (" + e.what() + ")");
    }
    // Copies and error messages of a deeply nested value would recurse once per level.
    if (json_depth(body) > kMaxJsonDepth)
        throw HttpError(400, endpoint + ": request body nested " +
                                 std::to_string(json_depth(body)) + " levels deep, more than " +
                                 std::to_string(kMaxJsonDepth));
    if (!j.is_object()) throw HttpError(400, endpoint + ": request body must be a JSON object");
    return j;
}

// Refuses fields other than `allowed` (a misspelt option must not silently fall back to its
// default).
void check_keys(const json& j, std::initializer_list<const char*> allowed, const std::string& endpoint) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool ok = false;
        std::string list;
        for (const char* a : allowed) {
            ok |= it.key() == a;
            list += (list.empty() ? "\"" : ", \"") + std::string(a) + "\"";
        }
        if (!ok) throw HttpError(400, endpoint + ": unknown field \"" + it.key() + "\" (expected " + list + ")");
    }
}

std::string string_field(const json& j, const char* key, const std::string& endpoint) {
    const json& v = j.at(key);
    if (!v.is_string()) throw HttpError(400, endpoint + ": \"" + key + "\" must be a string");
    return v.get<std::string>();
}

std::vector<std::string> string_array(const json& j, const char* key, size_t max, const std::string& endpoint) {
    const json& a = j.at(key);
    if (!a.is_array()) throw HttpError(400, endpoint + ": \"" + key + "\" must be an array of strings");
    if (a.size() > max)
        throw HttpError(400, endpoint + ": " + std::to_string(a.size()) + " " + key + ", at most " +
                                 std::to_string(max) + " per request");
    std::vector<std::string> out;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_string())
            throw HttpError(400, endpoint + ": " + key + "[" + std::to_string(i) + "] must be a string");
        out.push_back(a[i].get<std::string>());
    }
    return out;
}

// The boolean field `key` when present, else `fallback`.
bool bool_field(const json& j, const char* key, bool fallback, const std::string& endpoint) {
    if (!j.contains(key)) return fallback;
    if (!j[key].is_boolean())
        throw HttpError(400, endpoint + ": \"" + key + "\" must be true or false");
    return j[key].get<bool>();
}

// "texts": [..] or "text": ".." (one of the two).
std::vector<std::string> texts_of(const json& j, size_t max, const std::string& endpoint) {
    const bool many = j.contains("texts"), one = j.contains("text");
    if (many == one) throw HttpError(400, endpoint + ": give \"texts\": [strings] or \"text\": string");
    if (one) return {string_field(j, "text", endpoint)};
    return string_array(j, "texts", max, endpoint);
}

// Every endpoint, as /info lists them, the 404 message names them and /metrics labels them.
struct Endpoint {
    const char *method, *path;
};
constexpr Endpoint kEndpoints[] = {
    {"GET", "/health"},    {"GET", "/info"},          {"GET", "/metrics"}, {"POST", "/embed"},
    {"POST", "/classify"}, {"POST", "/fill-mask"},    {"POST", "/rerank"}, {"POST", "/zero-shot"},
    {"POST", "/tokenize"}, {"POST", "/v1/embeddings"}};

// The second segments of n texts: "pair" (one for all), "pairs" (one each) or none (empty).
std::vector<std::string> pairs_of(const json& j, size_t n, size_t max,
                                  const std::string& endpoint) {
    if (j.contains("pair") && j.contains("pairs"))
        throw HttpError(400, endpoint + ": give \"pair\" or \"pairs\", not both");
    if (j.contains("pair")) return std::vector<std::string>(n, string_field(j, "pair", endpoint));
    if (!j.contains("pairs")) return {};
    std::vector<std::string> pairs = string_array(j, "pairs", max, endpoint);
    if (pairs.size() != n)
        throw HttpError(400, endpoint + ": " + std::to_string(pairs.size()) + " pairs for " +
                                 std::to_string(n) + " texts (expected one per text)");
    return pairs;
}

// Cross-request batching. Connection threads parse and tokenize, then hand their encodings to
// the batcher as one Job and wait; its single worker thread takes the oldest waiting job plus
// every later one of the same kind that still fits in batch_size texts, runs one forward pass
// over all of them (sequence-parallel when they balance across the threads), and hands each job
// its rows. A lone request runs at once (no waiting window); under concurrent load the jobs that
// queue up during a forward pass share the next one.
struct Job {
    enum class Kind { embed, classify, tag, answer, fill, choose };
    Kind kind = Kind::embed;
    Pooling pooling = Pooling::mean;  // embed
    bool normalize = false;           // embed
    int64_t skip = 0;                 // embed: prompt tokens left out of pooling
    size_t top_k = 5;                 // fill
    int64_t max_answer_len = 15;      // answer
    std::vector<Encoding> encs;
    // Results, one per encoding (the vector of the kind).
    std::vector<std::vector<float>> embeddings;
    std::vector<Classification> classes;
    std::vector<TokenTag> tags;
    std::vector<Span> spans;
    std::vector<std::vector<MaskFill>> fills;  // per encoding, its masks (sequence = 0)
    std::vector<float> logits;                 // choose: one per encoding
    std::exception_ptr error;
    bool done = false;
    bool joins(const Job& o) const {
        return kind == o.kind && pooling == o.pooling && normalize == o.normalize &&
               skip == o.skip && top_k == o.top_k && max_answer_len == o.max_answer_len;
    }
};

class Batcher {
  public:
    Batcher(const Model& model, size_t batch_size, int threads)
        : model_(model), batch_size_(batch_size), threads_(threads), worker_([this] { loop(); }) {}
    ~Batcher() {
        {
            std::lock_guard<std::mutex> g(mu_);
            stopping_ = true;
        }
        work_.notify_all();
        worker_.join();
    }

    // Runs `job` (in a shared forward pass when others wait); rethrows its error.
    void run(Job& job) {
        std::unique_lock<std::mutex> lock(mu_);
        queue_.push_back(&job);
        work_.notify_all();
        done_.wait(lock, [&] { return job.done; });
        if (job.error) std::rethrow_exception(job.error);
    }

    // Jobs and forward passes so far; jobs waiting now. For /info and tests.
    ServeStats stats() const {
        std::lock_guard<std::mutex> g(mu_);
        ServeStats s = ran_;
        s.waiting = queue_.size();
        return s;
    }
    void pause(bool on) {
        {
            std::lock_guard<std::mutex> g(mu_);
            paused_ = on;
        }
        work_.notify_all();
    }

  private:
    void loop() {
        set_num_threads(threads_);  // the model runs on this thread only
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
            // Stopping overrides a pause: the jobs still queued run before the worker ends.
            work_.wait(lock, [&] { return (!queue_.empty() && (!paused_ || stopping_)) || (stopping_ && queue_.empty()); });
            if (queue_.empty()) return;  // stopping
            std::vector<Job*> take{queue_.front()};
            size_t texts = queue_.front()->encs.size();
            queue_.pop_front();
            for (auto it = queue_.begin(); it != queue_.end();) {
                if ((*it)->joins(*take[0]) && texts + (*it)->encs.size() <= batch_size_) {
                    texts += (*it)->encs.size();
                    take.push_back(*it);
                    it = queue_.erase(it);
                } else {
                    ++it;
                }
            }
            ran_.jobs += take.size();
            lock.unlock();
            size_t passes = 0, sequences = 0, tokens = 0;
            for (const Job* j : take) {
                sequences += j->encs.size();
                for (const Encoding& e : j->encs) tokens += e.size();
            }
            const auto t0 = std::chrono::steady_clock::now();
            try {
                passes = forward(take);
            } catch (...) {
                // One job's failure must not fail the others batched with it: run each alone.
                for (Job* j : take) {
                    if (take.size() == 1) {
                        j->error = std::current_exception();
                        break;
                    }
                    j->embeddings.clear(), j->classes.clear(), j->tags.clear(), j->spans.clear();
                    j->fills.clear(), j->logits.clear();
                    try {
                        passes += forward({j});
                    } catch (...) {
                        j->error = std::current_exception();
                    }
                }
            }
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
            lock.lock();
            ran_.passes += passes;
            ran_.sequences += sequences;
            ran_.tokens += tokens;
            ran_.forward_seconds += took.count();
            for (Job* j : take) j->done = true;
            done_.notify_all();
        }
    }

    // The jobs' encodings in passes of at most batch_size; returns the number of passes.
    size_t forward(const std::vector<Job*>& take) const {
        std::vector<std::pair<Job*, size_t>> rows;  // (job, its encoding) in batch order
        for (Job* j : take)
            for (size_t k = 0; k < j->encs.size(); ++k) rows.emplace_back(j, k);
        size_t passes = 0;
        for (size_t i = 0; i < rows.size(); i += batch_size_, ++passes) {
            const size_t n = std::min(batch_size_, rows.size() - i);
            std::vector<Encoding> encs;
            for (size_t r = i; r < i + n; ++r) encs.push_back(rows[r].first->encs[rows[r].second]);
            const PackedBatch batch = PackedBatch::from(encs);
            // Result r of the pass goes to its job's results of that kind.
            auto scatter = [&](auto out, auto results) {
                for (size_t r = 0; r < n; ++r)
                    (rows[i + r].first->*results).push_back(std::move(out[r]));
            };
            const Job& first = *take[0];
            switch (first.kind) {
                case Job::Kind::embed:
                    scatter(model_.embed(batch, first.pooling, first.normalize, first.skip),
                            &Job::embeddings);
                    break;
                case Job::Kind::classify:
                    scatter(model_.classify(batch), &Job::classes);
                    break;
                case Job::Kind::tag:
                    scatter(model_.tag_tokens(batch), &Job::tags);
                    break;
                case Job::Kind::answer:
                    scatter(model_.answer_spans(batch, first.max_answer_len), &Job::spans);
                    break;
                case Job::Kind::choose:
                    scatter(model_.choice_logits(batch), &Job::logits);
                    break;
                case Job::Kind::fill: {
                    std::vector<std::vector<MaskFill>> per(n);  // the pass's masks by sequence
                    for (MaskFill& f : model_.fill_mask(batch, first.top_k)) {
                        const auto s = static_cast<size_t>(f.sequence);
                        f.sequence = 0;
                        per[s].push_back(std::move(f));
                    }
                    scatter(std::move(per), &Job::fills);
                    break;
                }
            }
        }
        return passes;
    }

    const Model& model_;
    const size_t batch_size_;
    const int threads_;
    mutable std::mutex mu_;
    std::condition_variable work_, done_;
    std::deque<Job*> queue_;
    bool stopping_ = false, paused_ = false;
    ServeStats ran_;      // all but `waiting`
    std::thread worker_;  // last: starts after the members it uses
};

}  // namespace

// Requests by endpoint: counts by status and a latency histogram (Prometheus' cumulative
// buckets, in seconds), for GET /metrics.
class RequestMetrics {
  public:
    static constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
    void record(const std::string& endpoint, int status, double seconds) {
        std::lock_guard<std::mutex> g(mu_);
        Endpoint& e = by_endpoint_[endpoint];
        ++e.by_status[status];
        ++e.count;
        e.sum += seconds;
        for (size_t b = 0; b < std::size(kBuckets); ++b) e.buckets[b] += seconds <= kBuckets[b];
    }
    // The metrics in Prometheus' text exposition format (version 0.0.4).
    std::string text(const ServeStats& st) const {
        std::lock_guard<std::mutex> g(mu_);
        std::string out;
        auto num = [](double v) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            return std::string(buf);
        };
        auto head = [&](const char* name, const char* type, const char* help) {
            out +=
                std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        };
        head("sparq_requests_total", "counter", "Requests handled, by endpoint and HTTP status.");
        for (const auto& [ep, e] : by_endpoint_)
            for (const auto& [status, n] : e.by_status)
                out += "sparq_requests_total{endpoint=\"" + ep + "\",status=\"" +
                       std::to_string(status) + "\"} " + std::to_string(n) + "\n";
        head("sparq_request_duration_seconds", "histogram",
             "Time to answer a request: parsing, tokenizing, waiting for and running the model.");
        for (const auto& [ep, e] : by_endpoint_) {
            const std::string label =
                "sparq_request_duration_seconds_bucket{endpoint=\"" + ep + "\",le=\"";
            for (size_t b = 0; b < std::size(kBuckets); ++b)
                out += label + num(kBuckets[b]) + "\"} " + std::to_string(e.buckets[b]) + "\n";
            out += label + "+Inf\"} " + std::to_string(e.count) + "\n";
            out +=
                "sparq_request_duration_seconds_sum{endpoint=\"" + ep + "\"} " + num(e.sum) + "\n";
            out += "sparq_request_duration_seconds_count{endpoint=\"" + ep + "\"} " +
                   std::to_string(e.count) + "\n";
        }
        auto one = [&](const char* name, const char* type, const char* help, const std::string& v) {
            head(name, type, help);
            out += std::string(name) + " " + v + "\n";
        };
        one("sparq_model_requests_total", "counter", "Requests that ran the model.",
            std::to_string(st.jobs));
        one("sparq_forward_passes_total", "counter",
            "Forward passes (requests waiting together share one).", std::to_string(st.passes));
        one("sparq_sequences_total", "counter", "Sequences run through the model.",
            std::to_string(st.sequences));
        one("sparq_tokens_total", "counter", "Tokens run through the model.",
            std::to_string(st.tokens));
        one("sparq_forward_seconds_total", "counter", "Seconds spent in forward passes.",
            num(st.forward_seconds));
        one("sparq_requests_waiting", "gauge", "Requests waiting for the model now.",
            std::to_string(st.waiting));
        return out;
    }

  private:
    struct Endpoint {
        std::map<int, size_t> by_status;
        size_t buckets[std::size(kBuckets)] = {};
        size_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mu_;
    std::map<std::string, Endpoint> by_endpoint_;
};

struct Server::Impl {
    const Model& model;
    const Tokenizer& tok;
    std::string name;
    ServeOptions o;
    httplib::Server http;
    std::string info;  // the /info body (fixed)
    std::unique_ptr<Batcher> batcher;
    RequestMetrics metrics;

    // POST /tokenize: the encodings the other endpoints run (the model's truncation length).
    ojson tokenize(const json& j) const {
        const std::string ep = "/tokenize";
        check_keys(j, {"texts", "text", "pair", "pairs"}, ep);
        const auto texts = texts_of(j, o.max_texts, ep);
        const auto pairs = pairs_of(j, texts.size(), o.max_texts, ep);
        ojson results = ojson::array();
        for (const Encoding& e : tok.encode_batch(texts, pairs, o.max_length)) {
            ojson r;
            r["tokens"] = e.tokens;
            r["ids"] = e.ids;
            r["type_ids"] = e.type_ids;
            ojson offsets = ojson::array();
            for (const auto& [b, en] : e.offsets) offsets.push_back({b, en});
            r["offsets"] = std::move(offsets);
            ojson seq = ojson::array();
            for (int8_t s : e.sequence_ids) seq.push_back(s < 0 ? ojson(nullptr) : ojson(s));
            r["sequence_ids"] = std::move(seq);
            results.push_back(std::move(r));
        }
        ojson out;
        out["model"] = name;
        out["results"] = std::move(results);
        return out;
    }

    // The request's truncation size under `key` (an integer in [1, embedding size]), else 0.
    size_t truncation_of(const json& j, const char* key, const std::string& ep) const {
        if (!j.contains(key)) return 0;
        const json& v = j[key];
        if (!v.is_number_integer() || v.get<int64_t>() < 1 ||
            v.get<int64_t>() > model.embedding_size())
            throw HttpError(400, ep + ": \"" + key + "\" must be an integer in [1, " +
                                     std::to_string(model.embedding_size()) + "]");
        return v.get<size_t>();
    }

    // Embeddings of `texts` (the prompt put before each), cut to truncate_dim when non-zero, and
    // each text's token count, through the batcher.
    std::vector<std::vector<float>> embed_texts(std::vector<std::string> texts, Pooling pooling,
                                                bool normalize, const std::string& prompt,
                                                size_t truncate_dim,
                                                std::vector<size_t>& tokens) const {
        for (std::string& t : texts) t = prompt + t;
        Job job;
        job.kind = Job::Kind::embed;
        job.pooling = pooling;
        job.normalize = normalize;
        job.skip = o.embedding.pooling_skip(tok, prompt);
        job.encs = tok.encode_batch(texts, {}, o.max_length);
        batcher->run(job);
        tokens.clear();
        for (size_t k = 0; k < texts.size(); ++k) {
            if (truncate_dim) job.embeddings[k].resize(truncate_dim);
            tokens.push_back(job.encs[k].size());
        }
        return std::move(job.embeddings);
    }

    ojson embed(const json& j) const {
        const std::string ep = "/embed";
        check_keys(
            j, {"texts", "text", "pooling", "normalize", "prompt", "prompt_name", "truncate_dim"},
            ep);
        auto texts = texts_of(j, o.max_texts, ep);
        Pooling pooling = o.embedding.pooling;
        if (j.contains("pooling")) {
            const std::string p = string_field(j, "pooling", ep);
            const auto named = pooling_from_name(p);
            if (!named || *named == Pooling::none)
                throw HttpError(400, ep +
                                         ": \"pooling\" must be \"mean\", \"cls\", \"max\" or "
                                         "\"splade\", found \"" +
                                         p + "\"");
            pooling = *named;
        }
        if (pooling == Pooling::splade && j.contains("truncate_dim"))
            throw HttpError(400, ep + ": \"truncate_dim\" does not apply to SPLADE vectors");
        const bool normalize = bool_field(j, "normalize", o.embedding.normalize, ep);
        if (j.contains("prompt") && j.contains("prompt_name"))
            throw HttpError(400, ep + ": give \"prompt\" or \"prompt_name\", not both");
        std::optional<std::string> prompt_text, prompt_name;
        if (j.contains("prompt")) prompt_text = string_field(j, "prompt", ep);
        if (j.contains("prompt_name")) prompt_name = string_field(j, "prompt_name", ep);
        // An unknown prompt name (sparq::Error) is a 400 naming the endpoint, as handle() maps it.
        const std::string prompt = o.embedding.resolve_prompt(prompt_text, prompt_name);
        const size_t truncate_dim = truncation_of(j, "truncate_dim", ep);
        std::vector<size_t> tokens;
        const auto vectors =
            embed_texts(std::move(texts), pooling, normalize, prompt, truncate_dim, tokens);
        ojson embeddings = ojson::array();
        for (const auto& v : vectors)  // SPLADE: the nonzero weights, largest first
            embeddings.push_back(pooling == Pooling::splade
                                     ? splade_json(v, tok)
                                     : json_floats(v.data(), static_cast<int64_t>(v.size())));
        ojson r;
        r["model"] = name;
        r["embeddings"] = std::move(embeddings);
        r["tokens"] = tokens;
        return r;
    }

    // POST /v1/embeddings: OpenAI's embeddings API (what OpenAI-compatible clients send):
    // {"input": string or [strings], "model", "encoding_format": "float" | "base64",
    // "dimensions", "user"} -> {"object": "list", "data": [{"object": "embedding", "index",
    // "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}. The directory's
    // pooling, normalization and default prompt apply; "dimensions" keeps the first dimensions as
    // truncate_dim does; "model" is echoed (one model per server). Token-id inputs are refused:
    // they would be another tokenizer's ids.
    ojson openai_embeddings(const json& j) const {
        const std::string ep = "/v1/embeddings";
        check_keys(j, {"input", "model", "encoding_format", "dimensions", "user"}, ep);
        if (!j.contains("input"))
            throw HttpError(400, ep + ": \"input\" is required (a string or an array of strings)");
        const json& in = j["input"];
        std::vector<std::string> texts;
        const bool ids = in.is_number() ||
                         (in.is_array() && !in.empty() && (in[0].is_number() || in[0].is_array()));
        if (ids)
            throw HttpError(400, ep + ": token-id inputs are not accepted (they are another "
                                      "tokenizer's ids); send strings (LangChain's "
                                      "OpenAIEmbeddings: check_embedding_ctx_length=False)");
        if (in.is_string()) {
            texts.push_back(in.get<std::string>());
        } else if (in.is_array()) {
            if (in.empty()) throw HttpError(400, ep + ": \"input\" must not be empty");
            texts = string_array(j, "input", o.max_texts, ep);
        } else {
            throw HttpError(400, ep + ": \"input\" must be a string or an array of strings");
        }
        std::string model_name = name;
        if (j.contains("model")) model_name = string_field(j, "model", ep);
        std::string format = "float";
        if (j.contains("encoding_format")) format = string_field(j, "encoding_format", ep);
        if (format != "float" && format != "base64")
            throw HttpError(400, ep +
                                     ": \"encoding_format\" must be \"float\" or \"base64\", "
                                     "found \"" +
                                     format + "\"");
        if (j.contains("user")) string_field(j, "user", ep);
        if (o.embedding.pooling == Pooling::splade)
            throw HttpError(400, ep + ": this is a SPLADE model (sparse vocabulary weights, not an "
                                      "OpenAI embedding); POST /embed returns them");
        const size_t dims = truncation_of(j, "dimensions", ep);
        std::vector<size_t> tokens;
        const auto vectors =
            embed_texts(std::move(texts), o.embedding.pooling, o.embedding.normalize,
                        o.embedding.resolve_prompt(std::nullopt, std::nullopt), dims, tokens);
        ojson data = ojson::array();
        size_t total = 0;
        for (size_t k = 0; k < vectors.size(); ++k) {
            ojson e;
            e["object"] = "embedding";
            e["index"] = k;
            if (format == "base64")  // little-endian float32 bytes, as OpenAI's
                e["embedding"] = base64(vectors[k]);
            else
                e["embedding"] =
                    json_floats(vectors[k].data(), static_cast<int64_t>(vectors[k].size()));
            data.push_back(std::move(e));
            total += tokens[k];
        }
        ojson r;
        r["object"] = "list";
        r["data"] = std::move(data);
        r["model"] = model_name;
        r["usage"] = {{"prompt_tokens", total}, {"total_tokens", total}};
        return r;
    }

    // The request's "top_k" (an integer >= 1), else `fallback`.
    static size_t top_k_of(const json& j, size_t fallback, const std::string& ep) {
        if (!j.contains("top_k")) return fallback;
        const json& v = j["top_k"];
        if (!v.is_number_integer() || v.get<int64_t>() < 1)
            throw HttpError(400, ep + ": \"top_k\" must be an integer >= 1");
        return v.get<size_t>();
    }

    // POST /fill-mask {"texts"|"text", "top_k"}: per text, its masks' predictions.
    ojson fill_mask(const json& j) const {
        const std::string ep = "/fill-mask";
        check_keys(j, {"texts", "text", "top_k"}, ep);
        const auto texts = texts_of(j, o.max_texts, ep);
        Job job;
        job.kind = Job::Kind::fill;
        job.top_k = top_k_of(j, 5, ep);
        job.encs = tok.encode_batch(texts, {}, o.max_length);
        batcher->run(job);
        ojson r, results = ojson::array();
        r["model"] = name;
        for (size_t k = 0; k < texts.size(); ++k) {
            if (job.fills[k].empty())
                throw HttpError(400, ep + ": text " + std::to_string(k) + " has no mask token");
            results.push_back({{"masks", fill_mask_json(tok, {job.encs[k]}, job.fills[k]).at(0)}});
        }
        r["results"] = std::move(results);
        return r;
    }

    // POST /rerank {"query", "documents", "top_k", "raw"}: the documents' indices and scores, most
    // relevant first (a cross-encoder's (query, document) pairs, batched as /classify).
    ojson rerank(const json& j) const {
        const std::string ep = "/rerank";
        rerank_check(model.config());  // sparq::Error: a 400 naming the endpoint (handle())
        check_keys(j, {"query", "documents", "top_k", "raw"}, ep);
        if (!j.contains("query") || !j.contains("documents"))
            throw HttpError(400, ep + ": give \"query\": string and \"documents\": [strings]");
        const std::string query = string_field(j, "query", ep);
        const auto docs = string_array(j, "documents", o.max_texts, ep);
        const bool raw = bool_field(j, "raw", false, ep);
        Job job;
        job.kind = Job::Kind::classify;
        job.encs =
            tok.encode_batch(std::vector<std::string>(docs.size(), query), docs, o.max_length);
        batcher->run(job);
        std::vector<float> scores;
        for (const Classification& c : job.classes)
            scores.push_back(rerank_score(model.config(), c, raw));
        ojson r;
        r["model"] = name;
        r["results"] = rerank_json(scores, nullptr, top_k_of(j, 0, ep));
        return r;
    }

    // POST /zero-shot {"texts"|"text", "labels", "template", "multi_label"}: per text, the labels
    // by decreasing score, as HF's zero-shot-classification pipeline (an NLI model's (text,
    // hypothesis) pairs, batched as /classify; at most max_texts pairs per request).
    ojson zero_shot(const json& j) const {
        const std::string ep = "/zero-shot";
        // sparq::Error (not an NLI model, bad labels or template): a 400 naming the endpoint.
        const NliLabelIds ids = zero_shot_label_ids(model.config());
        check_keys(j, {"texts", "text", "labels", "template", "multi_label"}, ep);
        const auto texts = texts_of(j, o.max_texts, ep);
        if (!j.contains("labels")) throw HttpError(400, ep + ": give \"labels\": [strings]");
        const auto labels = string_array(j, "labels", o.max_texts, ep);
        const std::string tmpl = j.contains("template") ? string_field(j, "template", ep)
                                                        : std::string(kZeroShotTemplate);
        const bool multi_label = bool_field(j, "multi_label", false, ep);
        zero_shot_check(labels, tmpl);
        if (texts.size() * labels.size() > o.max_texts)
            throw HttpError(400, ep + ": " + std::to_string(texts.size()) + " texts x " +
                                     std::to_string(labels.size()) +
                                     " labels = " + std::to_string(texts.size() * labels.size()) +
                                     " (text, label) pairs, at most " +
                                     std::to_string(o.max_texts) + " per request");
        Job job;
        job.kind = Job::Kind::classify;
        job.encs = zero_shot_encodings(tok, texts, labels, tmpl, o.max_length);
        batcher->run(job);
        ojson r;
        r["model"] = name;
        r["results"] = zero_shot_results(ids, texts, labels, job.classes, multi_label);
        return r;
    }

    ojson classify(const json& j) const {
        const std::string ep = "/classify";
        const ModelConfig& cfg = model.config();
        ojson r;
        r["model"] = name;
        if (cfg.task == Task::base)
            throw HttpError(400, ep + ": the model has no classification or question-answering head (" +
                                     (cfg.architectures.empty() ? std::string("base model")
                                                                : cfg.architectures[0]) +
                                     "); use /embed");
        if (cfg.task == Task::question_answering) {
            check_keys(j, {"question", "context", "max_answer_len"}, ep);
            if (!j.contains("question") || !j.contains("context"))
                throw HttpError(400, ep + ": a question-answering model needs \"question\" and \"context\"");
            const std::string q = string_field(j, "question", ep), c = string_field(j, "context", ep);
            Job job;
            job.kind = Job::Kind::answer;
            if (j.contains("max_answer_len")) {
                const json& v = j["max_answer_len"];
                if (!v.is_number_integer() || v.get<int64_t>() < 1)
                    throw HttpError(400, ep + ": \"max_answer_len\" must be an integer >= 1");
                job.max_answer_len = v.get<int64_t>();
            }
            job.encs = qa_windows(tok, q, c, o.max_length);  // a long context: windows
            batcher->run(job);
            r.update(best_answer_json(tok, job.encs, job.spans, c));
            return r;
        }
        if (cfg.task == Task::multiple_choice) {
            check_keys(j, {"prompt", "choices"}, ep);
            if (!j.contains("choices"))
                throw HttpError(400, ep + ": a multiple-choice model needs \"choices\": [strings] "
                                          "(and optionally \"prompt\": string)");
            const auto choices = string_array(j, "choices", o.max_texts, ep);
            std::optional<std::string> prompt;
            if (j.contains("prompt")) prompt = string_field(j, "prompt", ep);
            multiple_choice_check(cfg, choices.size());  // sparq::Error: a 400 (handle())
            Job job;
            job.kind = Job::Kind::choose;
            job.encs = choice_encodings(tok, prompt, choices, o.max_length);
            batcher->run(job);
            r.update(choice_json(choices, job.logits));
            return r;
        }
        check_keys(j, {"texts", "text", "pair", "pairs", "top_k", "aggregation"}, ep);
        const auto texts = texts_of(j, o.max_texts, ep);
        const auto pairs = pairs_of(j, texts.size(), o.max_texts, ep);
        const size_t top_k = top_k_of(j, 0, ep);
        // Token classification's entities; an unknown name is a sparq::Error, a 400 (handle()).
        const Aggregation aggregation =
            j.contains("aggregation") ? aggregation_from_name(string_field(j, "aggregation", ep))
                                      : Aggregation::simple;
        Job job;
        job.kind = cfg.task == Task::sequence_classification ? Job::Kind::classify : Job::Kind::tag;
        job.encs = tok.encode_batch(texts, pairs, o.max_length);
        batcher->run(job);
        ojson results = ojson::array();
        for (size_t k = 0; k < texts.size(); ++k) {
            if (job.kind == Job::Kind::classify) {
                results.push_back(classification_json(cfg, job.classes[k], top_k));
            } else {
                ojson t;
                t["tokens"] = token_tags_json(cfg, tok, job.encs[k], job.tags[k]);
                t["entities"] = token_entities_json(
                    cfg, tok, job.encs[k], job.tags[k], texts[k],
                    pairs.empty() ? std::string_view() : std::string_view(pairs[k]), aggregation);
                results.push_back(std::move(t));
            }
        }
        r["results"] = std::move(results);
        return r;
    }
};

Server::Server(const Model& model, std::string name, ServeOptions opts) {
    if (!model.tokenizer()) throw Error("serve: the model has no tokenizer (vocab.txt, tokenizer.json or vocab.json + merges.txt)");
    if (opts.batch_size < 1 || opts.max_texts < 1 || opts.connection_threads < 1 || opts.max_length < 2)
        throw Error("serve: batch size, text limit, connection threads must be >= 1 and max length >= 2");
    impl_.reset(
        new Impl{model, *model.tokenizer(), std::move(name), std::move(opts), {}, {}, {}, {}});
    impl_->batcher = std::make_unique<Batcher>(model, impl_->o.batch_size, impl_->o.threads);
    const ModelConfig& cfg = model.config();
    ojson info;
    info["model"] = impl_->name;
    info["architecture"] = cfg.architectures.empty() ? "" : cfg.architectures[0];
    info["task"] = task_name(cfg.task);
    info["hidden_size"] = cfg.hidden_size;
    info["layers"] = cfg.num_layers;
    info["precision"] = model.precision();
    info["max_length"] = impl_->o.max_length;
    info["tokenizer"] = model.tokenizer() ? ojson(model.tokenizer()->description()) : ojson();
    {
        const SentenceEmbeddingConfig& e = impl_->o.embedding;
        info["embedding"] = {
            {"pooling", pooling_name(e.pooling)},
            {"normalize", e.normalize},
            {"dense_modules", e.dense.size()},
            {"size", e.pooling == Pooling::splade ? cfg.vocab_size : model.embedding_size()},
            {"sentence_transformers", e.present},
            {"prompts", e.prompts},
            {"default_prompt_name", e.default_prompt_name},
            {"include_prompt", e.include_prompt}};
    }
    if (cfg.task == Task::sequence_classification || cfg.task == Task::token_classification) {
        ojson labels = ojson::array();
        for (int64_t l = 0; l < cfg.num_labels; ++l) labels.push_back(cfg.label(l));
        info["labels"] = std::move(labels);
    }
    info["max_texts"] = impl_->o.max_texts;
    info["max_body_bytes"] = impl_->o.max_body_bytes;
    info["endpoints"] = ojson::array();
    for (const Endpoint& e : kEndpoints)
        info["endpoints"].push_back(std::string(e.method) + " " + e.path);
    impl_->info = dump(info);

    httplib::Server& http = impl_->http;
    http.new_task_queue = [n = impl_->o.connection_threads] { return new httplib::ThreadPool(n); };
    http.set_payload_max_length(impl_->o.max_body_bytes);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a
    // taken port binds too and silently shares its connections.
    http.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    });
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
        const Reply r = handle(req.method, req.path, req.body);
        res.status = r.status;
        res.set_content(r.body, r.content_type);
    };
    http.Get(".*", route);
    http.Post(".*", route);
    http.Put(".*", route);
    http.Delete(".*", route);
    http.Patch(".*", route);
    // Errors raised by httplib itself (e.g. 413 for a body over the limit) get a JSON body too.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string msg = res.status == 413 ? "request body over " + std::to_string(impl_->o.max_body_bytes) +
                                                        " bytes"
                                                  : "HTTP " + std::to_string(res.status);
        res.set_content(body_of_error(req.path, msg, res.status), "application/json");
    });
}

Server::~Server() = default;

int Server::bind() {
    const ServeOptions& o = impl_->o;
    const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                                 : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port <= 0)
        throw Error("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) +
                    " (address in use, not local, or not allowed)");
    return port;
}

void Server::run() {
    if (!impl_->http.listen_after_bind()) throw Error("serve: the listening socket failed");
}

void Server::stop() { impl_->http.stop(); }

ServeStats Server::stats() const { return impl_->batcher->stats(); }

void Server::pause_batching(bool on) { impl_->batcher->pause(on); }

Server::Reply Server::handle(const std::string& method, const std::string& path, const std::string& body) const {
    const auto t0 = std::chrono::steady_clock::now();
    Reply r = route(method, path, body);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    // Paths by name when they are endpoints (a fixed set of label values), others as "other".
    const bool known = std::any_of(std::begin(kEndpoints), std::end(kEndpoints),
                                   [&](const Endpoint& e) { return path == e.path; });
    impl_->metrics.record(known ? path : "other", r.status, took.count());
    return r;
}

Server::Reply Server::route(const std::string& method, const std::string& path,
                            const std::string& body) const {
    auto allow = [&](const char* m) {
        if (method != m && !(method == "HEAD" && std::string(m) == "GET"))
            throw HttpError(405, path + ": method " + method + " not allowed (use " + m + ")");
    };
    try {
        if (path == "/health") {
            allow("GET");
            return {200, dump(ojson{{"status", "ok"}})};
        }
        if (path == "/info") {
            allow("GET");
            return {200, impl_->info};
        }
        if (path == "/metrics") {
            allow("GET");
            return {200, impl_->metrics.text(impl_->batcher->stats()),
                    "text/plain; version=0.0.4; charset=utf-8"};
        }
        // The POST endpoints: a JSON object in, the handler's JSON out.
        using Handler = ojson (Impl::*)(const json&) const;
        static constexpr std::pair<const char*, Handler> kPost[] = {
            {"/embed", &Impl::embed},
            {"/classify", &Impl::classify},
            {"/fill-mask", &Impl::fill_mask},
            {"/rerank", &Impl::rerank},
            {"/zero-shot", &Impl::zero_shot},
            {"/tokenize", &Impl::tokenize},
            {"/v1/embeddings", &Impl::openai_embeddings}};
        for (const auto& [p, handler] : kPost) {
            if (path == p) {
                allow("POST");
                return {200, dump((impl_.get()->*handler)(parse_object(body, path)))};
            }
        }
        std::string endpoints;
        for (const Endpoint& e : kEndpoints)
            endpoints += (endpoints.empty() ? "" : ", ") + std::string(e.method) + " " + e.path;
        throw HttpError(404, "no endpoint " + path + " (" + endpoints + ")");
    } catch (const HttpError& e) {
        return {e.status, body_of_error(path, e.what(), e.status)};
    } catch (const NonFiniteResult& e) {  // the model, not the request
        return {500, body_of_error(path, path + ": " + e.what(), 500)};
    } catch (const Error& e) {  // the input: invalid UTF-8 in a text, ...
        return {400, body_of_error(path, path + ": " + e.what(), 400)};
    } catch (const std::exception& e) {
        return {500, body_of_error(path, path + ": internal error: " + e.what(), 500)};
    }
}

}  // namespace sparq::tools
