#pragma once
// sparq reports every user-facing failure (bad model file, bad input, bad option) as sparq::Error
// with a one-line message that says what was expected and what was found.
#include <stdexcept>
#include <string>

namespace sparq {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A model whose results are NaN or inf (its float32 arithmetic overflowed): bad data, though not
// the caller's input (`serve` answers 500, not 400).
struct NonFiniteResult : Error {
    using Error::Error;
};

}  // namespace sparq
