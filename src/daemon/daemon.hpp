// The composition root: takes the locks, opens the store, sets up the loop, the API server and
// its listeners, runs until SIGTERM/SIGINT, then shuts down gracefully. The only place that
// knows every module.
#pragma once

#include "daemon/config.hpp"

namespace berth::daemon {

// Runs berthd with `config`; returns the process exit code.
int run(Config config);

}  // namespace berth::daemon
