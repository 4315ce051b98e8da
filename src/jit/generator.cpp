#include "jit/generator.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "sparq/error.hpp"

namespace sparq::jit {

Generator::Generator(std::string name, size_t initial_size)
    : Xbyak::CodeGenerator(initial_size, Xbyak::AutoGrow), name_(std::move(name)) {}

void Generator::preamble() {
    push(rbx);
    push(rbp);
    push(r12);
    push(r13);
    push(r14);
    push(r15);
}

void Generator::postamble() {
    pop(r15);
    pop(r14);
    pop(r13);
    pop(r12);
    pop(rbp);
    pop(rbx);
    vzeroupper();
    ret();
}

const void* Generator::finalize() {
    try {
        ready();  // resolves AutoGrow addresses and sets R+X protection
    } catch (const Xbyak::Error& e) {
        throw Error("JIT kernel '" + name_ + "' failed to generate: " + e.what());
    }
    entry_ = getCode();
    if (const char* dir = std::getenv("SPARQ_JIT_DUMP"); dir && *dir) {
        static std::atomic<int> counter{0};
        std::string path = std::string(dir) + "/" + name_ + "." + std::to_string(counter++) + ".bin";
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
            std::fwrite(getCode(), 1, getSize(), f);
            std::fclose(f);
        }
    }
    return entry_;
}

}  // namespace sparq::jit
