// Randomness for identifiers (container, exec and engine IDs): getrandom(2), with /dev/urandom
// for kernels or seccomp profiles without it.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "base/error.hpp"

namespace berth::kernel {

Result<void> fill_random(std::span<unsigned char> out);
// `bytes` random bytes as lowercase hex (Docker's IDs are 32 bytes: 64 digits).
Result<std::string> random_hex(size_t bytes);

}  // namespace berth::kernel
