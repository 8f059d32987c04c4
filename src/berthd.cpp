// berthd: parse flags and daemon.json, then hand over to the daemon's composition root.
#include "base/log.hpp"
#include "daemon/config.hpp"
#include "daemon/daemon.hpp"

int main(int argc, char** argv) {
    int exit_code = -1;
    auto config = berth::daemon::parse_flags(argc, argv, exit_code);
    if (!config) return exit_code >= 0 ? exit_code : 1;
    if (auto r = berth::daemon::load_config_file(*config); !r) {
        berth::log::error(r.error().message);
        return 1;
    }
    return berth::daemon::run(std::move(*config));
}
