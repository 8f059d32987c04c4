// The json-file writer on a real ring: the lines of one read in one write, rotation at max-size
// into Docker's <id>-json.log.N files, max-file=1 truncating, the bounded queue asking for a
// pause, and a reader that follows across rotations seeing every line once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "drivers/logs/json_file.hpp"
#include "drivers/logs/json_file_reader.hpp"
#include "kernel/fd.hpp"
#include "loop/loop.hpp"

using namespace berth;
using namespace berth::drivers;

namespace {

class JsonLogTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-jsonlog-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/c-json.log";
        auto l = loop::Loop::create();
        ASSERT_TRUE(l) << l.error().message;
        loop = std::move(*l);
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
    // Ticks until nothing of `log` is in the ring.
    void drain(JsonFileLog& log) {
        for (int i = 0; i < 10000 && log.busy(); ++i) ASSERT_TRUE(loop->tick(10'000'000));
    }
    void put(JsonFileLog& log, const std::string& text) {
        log.write(1, std::as_bytes(std::span(text.data(), text.size())));
    }
    std::string dir, path;
    std::unique_ptr<loop::Loop> loop;
};

std::string numbered(int from, int to) {
    std::string s;
    for (int i = from; i < to; ++i) s += "line " + std::to_string(i) + "\n";
    return s;
}

off_t file_size(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

// Every entry's number, in order.
std::vector<int> numbers(const std::vector<LogEntry>& entries) {
    std::vector<int> out;
    for (const auto& e : entries) out.push_back(std::atoi(e.text.c_str() + 5));
    return out;
}

struct CollectingSink : JsonLogReader::Sink {
    std::vector<LogEntry> got;
    bool ended = false;
    void on_entry(const LogEntry& e) override { got.push_back(e); }
    bool full() const override { return false; }
    void on_follow_end() override { ended = true; }
};

}  // namespace

TEST_F(JsonLogTest, lines_are_written_in_dockers_format_and_read_back) {
    auto log = JsonFileLog::open(*loop, path, {});
    ASSERT_TRUE(log);
    put(**log, "hello\nwor");
    put(**log, "ld\n");
    drain(**log);
    std::vector<LogEntry> got;
    ASSERT_TRUE(read_json_log(path, [&](const LogEntry& e) { got.push_back(e); }));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].text, "hello\n");
    EXPECT_EQ(got[1].text, "world\n");
    EXPECT_EQ(got[0].stream, 1);
    EXPECT_GT(got[0].time_ns, 0);
}

TEST_F(JsonLogTest, rotation_keeps_max_file_files_under_max_size_in_order) {
    auto log = JsonFileLog::open(*loop, path, {2000, 3});
    ASSERT_TRUE(log);
    for (int i = 0; i < 500; i += 10) {
        put(**log, numbered(i, i + 10));
        drain(**log);
    }
    EXPECT_TRUE(file_size(path) > 0);
    EXPECT_TRUE(file_size(path + ".1") > 0);
    EXPECT_TRUE(file_size(path + ".2") > 0);
    EXPECT_EQ(file_size(path + ".3"), -1);
    // dockerd's rule: a file takes lines while under max-size, so it ends at most one line over.
    for (const auto& f : {path, path + ".1", path + ".2"}) EXPECT_LT(file_size(f), 2000 + 100) << f;
    std::vector<LogEntry> got;
    ASSERT_TRUE(read_json_log(path, [&](const LogEntry& e) { got.push_back(e); }));
    auto n = numbers(got);
    ASSERT_FALSE(n.empty());
    EXPECT_EQ(n.back(), 499);
    for (size_t i = 1; i < n.size(); ++i) ASSERT_EQ(n[i], n[i - 1] + 1) << i;
    EXPECT_GT(n.front(), 0);  // the oldest lines were rotated away
    JsonLogReader reader(path);
    EXPECT_EQ(numbers(reader.read_tail(3)), (std::vector<int>{497, 498, 499}));
}

TEST_F(JsonLogTest, max_file_one_starts_the_file_again) {
    auto log = JsonFileLog::open(*loop, path, {1000, 1});
    ASSERT_TRUE(log);
    for (int i = 0; i < 100; i += 5) {
        put(**log, numbered(i, i + 5));
        drain(**log);
    }
    EXPECT_LT(file_size(path), 1100);
    EXPECT_EQ(file_size(path + ".1"), -1);
}

TEST_F(JsonLogTest, a_full_queue_asks_for_a_pause_and_says_when_there_is_room) {
    auto log = JsonFileLog::open(*loop, path, {});
    ASSERT_TRUE(log);
    bool room = false;
    (*log)->set_on_room([&] { room = true; });
    std::string chunk(64 * 1024 - 1, 'x');
    chunk += '\n';
    while (!(*log)->saturated()) put(**log, chunk);
    drain(**log);
    EXPECT_FALSE((*log)->saturated());
    EXPECT_TRUE(room);
}

TEST_F(JsonLogTest, a_follower_sees_every_line_once_across_rotations) {
    auto log = JsonFileLog::open(*loop, path, {3000, 2});
    ASSERT_TRUE(log);
    put(**log, numbered(0, 20));
    drain(**log);
    JsonLogReader reader(path);
    auto history = reader.read_tail(SIZE_MAX);
    CollectingSink sink;
    reader.follow(log->get(), &sink);
    for (int i = 20; i < 2000; i += 7) {
        put(**log, numbered(i, i + 7));
        if (i % 3 == 0) drain(**log);  // sometimes several writes queue up
    }
    bool closed = false;
    (*log)->close([&] { closed = true; });
    for (int i = 0; i < 10000 && !closed; ++i) ASSERT_TRUE(loop->tick(10'000'000));
    ASSERT_TRUE(closed);
    EXPECT_TRUE(sink.ended);
    auto seen = numbers(history);
    for (int v : numbers(sink.got)) seen.push_back(v);
    ASSERT_EQ(seen.size(), 2001u);
    for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], int(i)) << i;
}

TEST_F(JsonLogTest, a_torn_last_line_is_read_once_its_end_arrives) {
    {
        kernel::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
        std::string first =
            "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n"
            "{\"log\":\"tw";
        ASSERT_EQ(::write(fd.get(), first.data(), first.size()), ssize_t(first.size()));
    }
    JsonLogReader reader(path);
    auto got = reader.read_tail(SIZE_MAX);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].text, "one\n");
    {
        kernel::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        std::string rest = "o\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:01Z\"}\n";
        ASSERT_EQ(::write(fd.get(), rest.data(), rest.size()), ssize_t(rest.size()));
    }
    CollectingSink sink;
    reader.follow(nullptr, &sink);  // no writer: reads what is there and ends
    EXPECT_TRUE(sink.ended);
    ASSERT_EQ(sink.got.size(), 1u);
    EXPECT_EQ(sink.got[0].text, "two\n");
    EXPECT_EQ(sink.got[0].stream, 2);
}
