#pragma once
// `sparq serve`: an HTTP/JSON inference service over one loaded model (cpp-httplib).
//
//   GET  /health    {"status": "ok"}
//   GET  /info      model name, architecture, task, sizes, precision, labels, limits
//   POST /embed     {"texts": [..] | "text": "..", "pooling": "mean"|"cls", "normalize": bool}
//                   -> {"embeddings": [[..]], "tokens": [n, ..]}
//   POST /classify  sequence / token classification: {"texts" | "text", "pair" | "pairs",
//                   "top_k"} -> {"results": [..]} (the `sparq classify` objects);
//                   question answering: {"question", "context"} -> {"answer", "score", ..}
//   POST /fill-mask {"texts" | "text", "top_k"} -> {"results": [{"masks": [..]}]}
//   POST /rerank    {"query", "documents", "top_k", "raw"} -> {"results": [{"index", "score"}]}
//   POST /zero-shot {"texts" | "text", "labels", "template", "multi_label"}
//                   -> {"results": [{"sequence", "labels", "scores"}]} (NLI models)
//   POST /tokenize  {"texts" | "text", "pair" | "pairs"} -> {"results": [{"tokens", "ids",
//                   "type_ids", "offsets", "sequence_ids"}]} (the model's tokenizer and length)
//   POST /v1/embeddings  OpenAI's embeddings request and response
//   GET  /metrics   Prometheus text format: requests by endpoint and status, their latency
//                   histogram, forward passes, sequences and tokens run, time in the model
//
// Errors are JSON {"error": "..."}: 400 for a bad request (invalid JSON or UTF-8, unknown or
// mistyped fields, too many texts, a task the model has no head for), 404 for an unknown path,
// 405 for a wrong method, 413 for a body over the limit, 500 for anything else. Texts longer
// than the model's maximum are truncated, as on the command line. Several connection threads
// parse and tokenize; one worker runs the model on the compute threads given, batching the
// requests that wait for it (same endpoint and options, up to batch_size texts) into one forward
// pass.
#include <memory>
#include <string>

#include "sparq/model.hpp"

namespace sparq::tools {

struct ServeOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                   // 0: any free port (Server::bind returns it)
    int threads = 0;  // compute threads per request (0: the default, core/cpu_limits.hpp)
    int connection_threads = 4;        // requests handled at once (they share the model)
    size_t max_texts = 256;            // texts per request
    size_t max_body_bytes = 16 << 20;  // request body limit
    size_t batch_size = 32;            // texts per forward pass
    size_t max_length = 512;           // tokens per text, special tokens included
    SentenceEmbeddingConfig embedding;  // /embed's default pooling and normalization
};

// Requests (jobs) the model has run, in how many forward passes, and how many wait now; the
// sequences and tokens of those passes and the seconds spent in them.
struct ServeStats {
    size_t jobs = 0, passes = 0, waiting = 0;
    size_t sequences = 0, tokens = 0;
    double forward_seconds = 0;
};

class Server {
  public:
    // `model` must outlive the server and have a tokenizer; `name` is reported by /info.
    Server(const Model& model, std::string name, ServeOptions opts);
    ~Server();

    // Listens on opts.host:opts.port and returns the port; throws sparq::Error if it cannot.
    int bind();
    // Serves until stop() (from another thread or a signal-handling thread).
    void run();
    void stop();

    // One request without the network: the status code and JSON body of the reply.
    struct Reply {
        int status = 200;
        std::string body;
        std::string content_type = "application/json";
    };
    Reply handle(const std::string& method, const std::string& path, const std::string& body) const;

    ServeStats stats() const;
    // Holds the model's worker (requests queue up) until called with false: for tests.
    void pause_batching(bool on);

  private:
    Reply route(const std::string& method, const std::string& path, const std::string& body) const;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sparq::tools
