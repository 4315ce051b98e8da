// The `sparq` command (subcommands are added in cli/).
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"sparq: sparse and int8 inference for BERT-family encoders"};
    app.require_subcommand(1);
    CLI11_PARSE(app, argc, argv);
    return 0;
}
