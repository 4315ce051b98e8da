// sparq serve MODEL [--host H] [--port P] [--threads N] [--connections C] ...
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tools/serve.hpp"

namespace sparq::cli {

namespace {
struct ServeArgs {
    std::string model, host = "127.0.0.1", kernels = "auto", precision = "f32", attention = "auto";
    int port = 8080, threads = 0, connections = 4;
    size_t max_texts = 256, max_body_mb = 16, batch_size = 32, max_length = 0;
};

void run_serve(const ServeArgs& a) {
    setup_threads(a.threads);
    // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server: blocked here,
    // before any thread starts, so every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    require_model_dir(a.model);
    auto model = load_model(a.model, lo);
    require_tokenizer(*model, a.model);  // a clear error before listening
    tools::ServeOptions o;
    o.host = a.host;
    o.port = a.port;
    o.threads = a.threads;
    o.connection_threads = a.connections;
    o.max_texts = a.max_texts;
    o.max_body_bytes = a.max_body_mb << 20;
    o.batch_size = a.batch_size;
    // /embed's defaults (pooling, normalization) and the length: as a sentence-transformers
    // directory says, if it is one.
    o.embedding = SentenceEmbeddingConfig::from_dir(a.model);
    o.max_length = model->max_length(a.max_length ? a.max_length : o.embedding.max_length);
    tools::Server server(*model, a.model, o);
    const int port = server.bind();
    std::fprintf(stderr, "sparq serve: %s (%s, %s) listening on http://%s:%d (Ctrl-C to stop)\n",
                 a.model.c_str(), task_name(model->config().task).c_str(), model->precision().c_str(),
                 a.host.c_str(), port);
    std::fflush(stderr);
    std::thread waiter([&server, stop_signals] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        server.stop();
    });
    waiter.detach();  // ends with the process if run() returns for another reason
    server.run();
    std::fprintf(stderr, "sparq serve: stopped\n");
}
}  // namespace

void add_serve(CLI::App& app) {
    auto a = std::make_shared<ServeArgs>();
    auto* sub = app.add_subcommand(
        "serve",
        "HTTP/JSON service: embeddings (also OpenAI-compatible), classification, fill-mask, "
        "rerank, zero-shot, tokenize, Prometheus metrics");
    sub->footer(
        "Serve one model over HTTP until SIGINT/SIGTERM. Endpoints (JSON bodies):\n"
        "  GET  /health    {\"status\":\"ok\"}\n"
        "  GET  /info      model, architecture, task, precision, labels, limits\n"
        "  GET  /metrics   Prometheus text: requests by endpoint and status, latency histograms,\n"
        "                  forward passes, sequences, tokens, seconds in the model\n"
        "  POST /embed     {\"texts\":[..] or \"text\":\"..\", "
        "\"pooling\":\"mean\"|\"cls\"|\"max\", "
        "\"normalize\":bool,\n"
        "                  \"prompt\" or \"prompt_name\", \"truncate_dim\"} -> "
        "{\"embeddings\":[[..]],\"tokens\":[..]}\n"
        "  POST /classify  {\"texts\"|\"text\", \"pair\" or \"pairs\", \"top_k\"} -> "
        "{\"results\":[..]}\n"
        "                  (question answering: {\"question\",\"context\"} -> {\"answer\",...})\n"
        "  POST /fill-mask {\"texts\"|\"text\", \"top_k\"} -> {\"results\":[{\"masks\":[..]}]}\n"
        "  POST /rerank    {\"query\", \"documents\":[..], \"top_k\", \"raw\"} -> "
        "{\"results\":[{\"index\",\"score\"}]}\n"
        "  POST /zero-shot {\"texts\"|\"text\", \"labels\":[..], \"template\", \"multi_label\"} "
        "->\n"
        "                  {\"results\":[{\"sequence\",\"labels\",\"scores\"}]} (NLI models)\n"
        "  POST /tokenize  {\"texts\"|\"text\", \"pair\" or \"pairs\"} -> "
        "{\"results\":[{\"tokens\",\"ids\",\"type_ids\",\n"
        "                  \"offsets\",\"sequence_ids\"}]}\n"
        "  POST /v1/embeddings  OpenAI's embeddings API: {\"input\": string or [strings],\n"
        "                  \"model\", \"encoding_format\":\"float\"|\"base64\", \"dimensions\"} "
        "->\n"
        "                  {\"object\":\"list\",\"data\":[{\"embedding\",\"index\"}],\"usage\"}\n"
        "Errors: {\"error\":\"...\"} (under /v1/: OpenAI's {\"error\":{\"message\",\"type\"}}) "
        "with\n"
        "400 (bad request), 404, 405, 413 (body too large).\n"
        "Texts are truncated to the model's maximum length. One worker runs the model on\n"
        "--threads compute threads; requests that wait for it share a forward pass (up to\n"
        "--batch-size texts). --port 0 picks a free port (printed on stderr).");
    sub->add_option("model", a->model, "Model directory")->required();
    sub->add_option("--host", a->host, "Address to listen on (default 127.0.0.1; 0.0.0.0: all)");
    sub->add_option("--port", a->port, "TCP port (default 8080; 0: any free port)")
        ->check(CLI::Range(0, 65535));
    sub->add_option("--connections", a->connections, "Connections handled at once (default 4)")
        ->check(CLI::Range(1, 1024));
    sub->add_option("--max-texts", a->max_texts, "Texts per request (default 256)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    sub->add_option("--max-body-mb", a->max_body_mb, "Request body limit in MiB (default 16)")
        ->check(CLI::Range(size_t(1), size_t(4096)));
    add_batch_options(sub, a->batch_size, a->max_length);
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_serve(*a); });
}

}  // namespace sparq::cli
