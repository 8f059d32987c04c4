// Docker's JSON message stream (pull, push, load, import): one JSON object per line, which the
// CLI renders as its per-layer progress bars. `progressDetail` drives the bars on a terminal,
// `progress` is the same bar as text for everything else; an error mid-stream is an
// `errorDetail` message while the HTTP status stays 200.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::jobs {

// {"status":"Pulling fs layer","progressDetail":{},"id":"a3ed95caeb02"}
std::string progress_status(std::string_view id, std::string_view status);
// {"status":"Downloading","progressDetail":{"current":N,"total":M},"progress":"[==>  ] …","id":…}
std::string progress_bytes(std::string_view id, std::string_view status, uint64_t current,
                           uint64_t total);
// {"errorDetail":{"message":…},"error":…}
std::string progress_error(std::string_view message);
// {"stream":"Loaded image: busybox:latest\n"}
std::string progress_stream(std::string_view text);
// Docker's bar: "[=====>      ]  1.21MB/3.4MB" (units.HumanSize, 50 wide).
std::string progress_bar(uint64_t current, uint64_t total);
// units.HumanSize: decimal units with 4 significant digits ("2.221MB", "512B").
std::string human_size(double bytes);

}  // namespace berth::jobs
