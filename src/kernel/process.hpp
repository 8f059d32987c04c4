// Process-wide settings of the daemon itself: the open-file limit (every connection and, later,
// every container costs fds) and counting what is open (for /info's NFd and leak tests).
#pragma once

#include "base/error.hpp"

namespace berth::kernel {

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
Result<long> raise_open_file_limit();
// The number of fds open in this process.
int count_open_fds();
// Ignores SIGPIPE: a client that vanishes must not kill the daemon (sends use MSG_NOSIGNAL
// too; this covers writes to pipes).
void ignore_sigpipe();

// For berthd's helper threads (the netns pool's filler): every signal blocked, so SIGTERM and
// SIGCHLD reach the loop's signalfd and never a thread that cannot handle them.
void block_signals_in_this_thread();

}  // namespace berth::kernel
