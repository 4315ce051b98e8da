#include "tools/serve.hpp"

#include <httplib.h>

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "core/threading.hpp"
#include "sparq/error.hpp"
#include "tools/results.hpp"

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

json parse_object(const std::string& body, const std::string& endpoint) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        throw HttpError(400, endpoint + ": request body is not valid JSON (" + e.what() + ")");
    }
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

// "texts": [..] or "text": ".." (one of the two).
std::vector<std::string> texts_of(const json& j, size_t max, const std::string& endpoint) {
    const bool many = j.contains("texts"), one = j.contains("text");
    if (many == one) throw HttpError(400, endpoint + ": give \"texts\": [strings] or \"text\": string");
    if (one) return {string_field(j, "text", endpoint)};
    return string_array(j, "texts", max, endpoint);
}

}  // namespace

struct Server::Impl {
    const Model& model;
    const Tokenizer& tok;
    std::string name;
    ServeOptions o;
    httplib::Server http;
    std::string info;  // the /info body (fixed)

    // Encodings of texts[i0, i0 + n) (with pairs when given).
    std::vector<Encoding> encode(const std::vector<std::string>& texts, const std::vector<std::string>& pairs,
                                 size_t i0, size_t n) const {
        std::vector<Encoding> encs;
        for (size_t k = i0; k < i0 + n; ++k)
            encs.push_back(tok.encode(texts[k],
                                      pairs.empty() ? std::nullopt : std::optional<std::string_view>(pairs[k]),
                                      o.max_length));
        return encs;
    }

    ojson embed(const json& j) const {
        const std::string ep = "/embed";
        check_keys(j, {"texts", "text", "pooling", "normalize"}, ep);
        const auto texts = texts_of(j, o.max_texts, ep);
        Pooling pooling = Pooling::mean;
        if (j.contains("pooling")) {
            const std::string p = string_field(j, "pooling", ep);
            if (p == "cls")
                pooling = Pooling::cls;
            else if (p != "mean")
                throw HttpError(400, ep + ": \"pooling\" must be \"mean\" or \"cls\", found \"" + p + "\"");
        }
        bool normalize = false;
        if (j.contains("normalize")) {
            if (!j["normalize"].is_boolean()) throw HttpError(400, ep + ": \"normalize\" must be true or false");
            normalize = j["normalize"].get<bool>();
        }
        ojson embeddings = ojson::array(), tokens = ojson::array();
        for (size_t i = 0; i < texts.size(); i += o.batch_size) {
            const size_t n = std::min(o.batch_size, texts.size() - i);
            const auto encs = encode(texts, {}, i, n);
            const auto emb = model.embed(PackedBatch::from(encs), pooling, normalize);
            for (size_t k = 0; k < n; ++k) {
                embeddings.push_back(json_floats(emb[k].data(), static_cast<int64_t>(emb[k].size())));
                tokens.push_back(encs[k].size());
            }
        }
        ojson r;
        r["model"] = name;
        r["embeddings"] = std::move(embeddings);
        r["tokens"] = std::move(tokens);
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
            check_keys(j, {"question", "context"}, ep);
            if (!j.contains("question") || !j.contains("context"))
                throw HttpError(400, ep + ": a question-answering model needs \"question\" and \"context\"");
            const std::string q = string_field(j, "question", ep), c = string_field(j, "context", ep);
            const Encoding e = tok.encode(q, std::string_view(c), o.max_length);
            r.update(answer_json(tok, e, model.answer_spans(PackedBatch::from({e})).at(0)));
            return r;
        }
        check_keys(j, {"texts", "text", "pair", "pairs", "top_k"}, ep);
        const auto texts = texts_of(j, o.max_texts, ep);
        std::vector<std::string> pairs;
        if (j.contains("pair") && j.contains("pairs")) throw HttpError(400, ep + ": give \"pair\" or \"pairs\", not both");
        if (j.contains("pair")) pairs.assign(texts.size(), string_field(j, "pair", ep));
        if (j.contains("pairs")) {
            pairs = string_array(j, "pairs", o.max_texts, ep);
            if (pairs.size() != texts.size())
                throw HttpError(400, ep + ": " + std::to_string(pairs.size()) + " pairs for " +
                                         std::to_string(texts.size()) + " texts (expected one per text)");
        }
        size_t top_k = 0;
        if (j.contains("top_k")) {
            const json& v = j["top_k"];
            if (!v.is_number_integer() || v.get<int64_t>() < 1)
                throw HttpError(400, ep + ": \"top_k\" must be an integer >= 1");
            top_k = v.get<size_t>();
        }
        ojson results = ojson::array();
        for (size_t i = 0; i < texts.size(); i += o.batch_size) {
            const size_t n = std::min(o.batch_size, texts.size() - i);
            const auto encs = encode(texts, pairs, i, n);
            const PackedBatch batch = PackedBatch::from(encs);
            if (cfg.task == Task::sequence_classification) {
                for (const Classification& c : model.classify(batch))
                    results.push_back(classification_json(cfg, c, top_k));
            } else {
                const auto tags = model.tag_tokens(batch);
                for (size_t k = 0; k < n; ++k) {
                    ojson t;
                    t["tokens"] = token_tags_json(cfg, tok, encs[k], tags[k]);
                    results.push_back(std::move(t));
                }
            }
        }
        r["results"] = std::move(results);
        return r;
    }
};

Server::Server(const Model& model, std::string name, ServeOptions opts) {
    if (!model.tokenizer()) throw Error("serve: the model has no tokenizer (vocab.txt or tokenizer.json)");
    if (opts.batch_size < 1 || opts.max_texts < 1 || opts.connection_threads < 1 || opts.max_length < 2)
        throw Error("serve: batch size, text limit, connection threads must be >= 1 and max length >= 2");
    impl_.reset(new Impl{model, *model.tokenizer(), std::move(name), std::move(opts), {}, {}});
    const ModelConfig& cfg = model.config();
    ojson info;
    info["model"] = impl_->name;
    info["architecture"] = cfg.architectures.empty() ? "" : cfg.architectures[0];
    info["task"] = task_name(cfg.task);
    info["hidden_size"] = cfg.hidden_size;
    info["layers"] = cfg.num_layers;
    info["precision"] = model.precision();
    info["max_length"] = impl_->o.max_length;
    if (cfg.task == Task::sequence_classification || cfg.task == Task::token_classification) {
        ojson labels = ojson::array();
        for (int64_t l = 0; l < cfg.num_labels; ++l) labels.push_back(cfg.label(l));
        info["labels"] = std::move(labels);
    }
    info["max_texts"] = impl_->o.max_texts;
    info["max_body_bytes"] = impl_->o.max_body_bytes;
    info["endpoints"] = {"GET /health", "GET /info", "POST /embed", "POST /classify"};
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
        res.set_content(r.body, "application/json");
    };
    http.Get(".*", route);
    http.Post(".*", route);
    http.Put(".*", route);
    http.Delete(".*", route);
    http.Patch(".*", route);
    // Errors raised by httplib itself (e.g. 413 for a body over the limit) get a JSON body too.
    http.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string msg = res.status == 413 ? "request body over " + std::to_string(impl_->o.max_body_bytes) +
                                                        " bytes"
                                                  : "HTTP " + std::to_string(res.status);
        res.set_content(error_body(msg), "application/json");
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

Server::Reply Server::handle(const std::string& method, const std::string& path, const std::string& body) const {
    auto allow = [&](const char* m) {
        if (method != m && !(method == "HEAD" && std::string(m) == "GET"))
            throw HttpError(405, path + ": method " + method + " not allowed (use " + m + ")");
    };
    try {
        set_num_threads(impl_->o.threads);  // per connection thread (OpenMP's count is per thread)
        if (path == "/health") {
            allow("GET");
            return {200, dump(ojson{{"status", "ok"}})};
        }
        if (path == "/info") {
            allow("GET");
            return {200, impl_->info};
        }
        if (path == "/embed") {
            allow("POST");
            return {200, dump(impl_->embed(parse_object(body, path)))};
        }
        if (path == "/classify") {
            allow("POST");
            return {200, dump(impl_->classify(parse_object(body, path)))};
        }
        throw HttpError(404, "no endpoint " + path + " (GET /health, GET /info, POST /embed, POST /classify)");
    } catch (const HttpError& e) {
        return {e.status, error_body(e.what())};
    } catch (const Error& e) {  // the input: invalid UTF-8 in a text, ...
        return {400, error_body(path + ": " + e.what())};
    } catch (const std::exception& e) {
        return {500, error_body(path + ": internal error: " + e.what())};
    }
}

}  // namespace sparq::tools
