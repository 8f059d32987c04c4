#include "http/api/attach_stream.hpp"

#include "http/api/api.hpp"

namespace berth::http {

std::string frame(int stream, std::string_view data, bool tty) {
    if (tty) return std::string(data);
    char h[8] = {char(stream), 0, 0, 0};
    uint32_t n = uint32_t(data.size());
    h[4] = char(n >> 24), h[5] = char(n >> 16), h[6] = char(n >> 8), h[7] = char(n);
    return std::string(h, 8) + std::string(data);
}

// Docker's grammar: comma-separated keys, each one printable character or "ctrl-" followed by
// a letter or one of @ [ \ ] ^ _ (the control code is that character's value & 0x1f).
Result<std::string> parse_detach_keys(std::string_view spec) {
    if (spec.empty()) return std::string("\x10\x11");
    std::string out;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        std::string_view key =
            spec.substr(start, comma == std::string_view::npos ? spec.npos : comma - start);
        auto bad = [&] {
            return fail(Error::invalid("Invalid detach keys (" + std::string(spec) + ") provided"));
        };
        if (key.size() == 1) {
            out += key[0];
        } else if (key.size() == 6 && key.starts_with("ctrl-")) {
            char c = key[5];
            if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
            bool letter = c >= 'a' && c <= 'z';
            if (!letter && std::string_view("@[\\]^_").find(c) == std::string_view::npos)
                return bad();
            out += letter ? char(c - 'a' + 1) : char(c & 0x1f);
        } else {
            return bad();
        }
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

std::optional<unsigned short> tty_dimension(const Request& req, const char* key) {
    std::string v = req.query_value(key).value_or("");
    unsigned long n = 0;
    for (char ch : v) {
        if (ch < '0' || ch > '9' || n > 65535) return std::nullopt;
        n = n * 10 + unsigned(ch - '0');
    }
    if (n > 65535) return std::nullopt;
    return static_cast<unsigned short>(n);
}

AttachStream::AttachStream(ApiContext& ctx, Exchange& ex, std::string id, AttachOptions options)
    : ctx_(ctx), ex_(&ex), id_(std::move(id)), opt_(std::move(options)) {
    ex.observe({this, &AttachStream::on_aborted, nullptr, &AttachStream::on_drained});
    ex.hijack(opt_.tty ? "application/vnd.docker.raw-stream"
                       : "application/vnd.docker.multiplexed-stream",
              this);
    ctx.engine->listen(id_, this);
}

void AttachStream::on_output(int stream, std::span<const std::byte> data) {
    if (!ex_ || (stream == 1 && !opt_.stdout) || (stream == 2 && !opt_.stderr)) return;
    std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    if (opt_.tty)
        ex_->write(text);
    else
        ex_->write(frame(stream, text, false));
}

void AttachStream::on_end() {
    Exchange* ex = ex_;
    ex_ = nullptr;
    delete this;
    if (ex) ex->end();
}

bool AttachStream::saturated() const {
    return ex_ && ex_->buffered() > attach_buffer_bytes_max;
}

// The client's input goes to the process's stdin (when attached with stdin to a process that
// has one; otherwise it is dropped, as dockerd does). On a tty, the detach sequence is held back
// while it is being typed; once complete the client is detached and the process runs on.
void AttachStream::on_data(std::span<const std::byte> data) {
    if (!opt_.stdin) return;
    const std::string& keys = opt_.detach_keys;
    if (!opt_.tty || keys.empty()) return ctx_.engine->write_stdin(id_, data);
    std::string pass;
    for (std::byte b : data) {
        char c = char(b);
        if (c == keys[matched_]) {
            if (++matched_ == keys.size()) {
                if (!pass.empty()) ctx_.engine->write_stdin(id_, std::as_bytes(std::span(pass)));
                return detach();
            }
            continue;
        }
        pass.append(keys, 0, matched_);  // a false start: what was held back goes through
        matched_ = 0;
        if (c == keys[0])
            matched_ = 1;
        else
            pass += c;
    }
    if (!pass.empty()) ctx_.engine->write_stdin(id_, std::as_bytes(std::span(pass)));
}

// As dockerd: with StdinOnce and no tty the process's stdin is closed and the output keeps
// coming; otherwise this attach ends.
void AttachStream::on_eof() {
    if (!opt_.stdin) return;
    if (opt_.stdin_once && !opt_.tty) return ctx_.engine->close_stdin(id_);
    detach();
}

void AttachStream::detach() {
    ctx_.engine->unlisten(id_, this);
    on_end();
}

void AttachStream::on_aborted(void* self) {
    auto* a = static_cast<AttachStream*>(self);
    a->ex_ = nullptr;
    a->ctx_.engine->unlisten(a->id_, a);
    a->ctx_.engine->resume_output(a->id_);  // it may have been the one holding it back
    delete a;
}

void AttachStream::on_drained(void* self) {
    auto* a = static_cast<AttachStream*>(self);
    if (a->opt_.on_header_sent) {
        auto sent = std::move(a->opt_.on_header_sent);
        a->opt_.on_header_sent = nullptr;
        sent();
    }
    a->ctx_.engine->resume_output(a->id_);
}

}  // namespace berth::http
