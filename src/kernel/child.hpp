// The container's first process between clone3 and execve. It follows the SpawnPlan step by
// step with raw syscalls only (no allocation, no locks, no stdio), reports the first failure on
// the plan's report pipe, and never returns.
#pragma once

#include "kernel/spawn_plan.hpp"

namespace berth::kernel {

[[noreturn]] void run_child(const SpawnPlan& plan);

// Exit codes when the child fails before the user's program runs (Docker's: 127 not found,
// 126 not executable; anything else during set-up is 128 + nothing, i.e. 1 for "start failed").
inline constexpr int child_exit_not_found = 127;
inline constexpr int child_exit_not_executable = 126;
inline constexpr int child_exit_setup_failed = 1;

}  // namespace berth::kernel
