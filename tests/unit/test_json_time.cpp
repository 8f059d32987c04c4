// JsonWriter output and Docker's time formats.
#include <gtest/gtest.h>

#include "base/json.hpp"
#include "base/time.hpp"
#include "jobs/events.hpp"
#include "jobs/filters.hpp"
#include "jobs/progress.hpp"

using namespace berth;

TEST(JsonWriter, writes_nested_objects_arrays_and_escapes) {
    JsonWriter w;
    w.begin_object().field("a", 1).field("s", "q\"\n\x01").key("arr").begin_array();
    w.value(true).null().value(int64_t(-5)).begin_object().end_object().end_array();
    w.field("u", uint64_t(18446744073709551615ull)).end_object();
    EXPECT_EQ(w.str(),
              R"({"a":1,"s":"q\"\n\u0001","arr":[true,null,-5,{}],"u":18446744073709551615})");
}

TEST(Time, rfc3339_nano_trims_trailing_zeros_like_go) {
    EXPECT_EQ(rfc3339_nano(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(rfc3339_nano(1'700'000'000'120'000'000), "2023-11-14T22:13:20.12Z");
    EXPECT_EQ(rfc3339_nano(1'700'000'000'000'000'001), "2023-11-14T22:13:20.000000001Z");
}

TEST(Time, docker_time_values_parse) {
    int64_t now = 1'700'000'000'000'000'000;
    EXPECT_EQ(parse_docker_time("1700000000", now), 1'700'000'000'000'000'000);
    EXPECT_EQ(parse_docker_time("1700000000.5", now), 1'700'000'000'500'000'000);
    EXPECT_EQ(parse_docker_time("2023-11-14T22:13:20Z", now), 1'700'000'000'000'000'000);
    EXPECT_EQ(parse_docker_time("2023-11-14T23:13:20+01:00", now), 1'700'000'000'000'000'000);
    EXPECT_EQ(parse_docker_time("10m", now), now - 600'000'000'000);
    EXPECT_EQ(parse_docker_time("1h30m", now), now - 5400'000'000'000);
    EXPECT_FALSE(parse_docker_time("yesterday", now));
    EXPECT_FALSE(parse_docker_time("", now));
    EXPECT_FALSE(parse_docker_time("17.0000000001", now));
}

TEST(Events, json_has_docker_shape_with_legacy_fields_for_containers) {
    jobs::Event e{"container", "die", "abc", {{"image", "busybox"}, {"exitCode", "0"}}, "local",
                  1'700'000'000'000'000'001};
    EXPECT_EQ(jobs::event_json(e),
              R"({"status":"die","id":"abc","from":"busybox","Type":"container","Action":"die",)"
              R"("Actor":{"ID":"abc","Attributes":{"image":"busybox","exitCode":"0"}},)"
              R"("scope":"local","time":1700000000,"timeNano":1700000000000000001})"
              "\n");
}

TEST(Events, filters_select_by_type_event_container_and_label) {
    jobs::Event start{"container", "start", "abc123", {{"name", "web"}, {"tier", "front"}}};
    jobs::Event pull{"image", "pull", "busybox:latest", {{"name", "busybox"}}};
    auto by_type = jobs::EventFilter::parse(R"({"type":["image"]})");
    ASSERT_TRUE(by_type);
    EXPECT_FALSE(by_type->matches(start));
    EXPECT_TRUE(by_type->matches(pull));
    auto by_name = jobs::EventFilter::parse(R"({"container":["web"],"event":["start"]})");
    ASSERT_TRUE(by_name);
    EXPECT_TRUE(by_name->matches(start));
    auto old_form = jobs::EventFilter::parse(R"({"label":{"tier=front":true}})");
    ASSERT_TRUE(old_form);
    EXPECT_TRUE(old_form->matches(start));
    EXPECT_FALSE(old_form->matches(pull));
}

TEST(Events, bad_filters_are_rejected_with_docker_messages) {
    auto bad_json = jobs::EventFilter::parse("{nope");
    ASSERT_FALSE(bad_json);
    EXPECT_EQ(bad_json.error().kind, ErrorKind::invalid_parameter);
    EXPECT_NE(bad_json.error().message.find("invalid filter"), std::string::npos);
    auto bad_key = jobs::EventFilter::parse(R"({"colour":["red"]})");
    ASSERT_FALSE(bad_key);
    EXPECT_EQ(bad_key.error().message, "invalid filter 'colour'");
}

TEST(Events, bus_keeps_bounded_history_and_notifies_subscribers) {
    jobs::EventBus bus;
    struct Sink : jobs::EventBus::Subscriber {
        std::vector<std::string> seen;
        void on_event(const jobs::Event& e) override { seen.push_back(e.action); }
    } sink;
    bus.subscribe(&sink);
    for (size_t i = 0; i < jobs::EventBus::history_max + 10; ++i)
        bus.publish({"container", "a" + std::to_string(i), "x", {}, "local", int64_t(i + 1)});
    EXPECT_EQ(sink.seen.size(), jobs::EventBus::history_max + 10);
    auto h = bus.history(0, INT64_MAX);
    EXPECT_EQ(h.size(), jobs::EventBus::history_max);
    EXPECT_EQ(h.front()->action, "a10");
    auto window = bus.history(20, 22);
    ASSERT_EQ(window.size(), 3u);
    EXPECT_EQ(window[0]->action, "a19");
    bus.unsubscribe(&sink);
    bus.publish({"container", "late", "x", {}, "local", 0});
    EXPECT_EQ(sink.seen.size(), jobs::EventBus::history_max + 10);
}

TEST(Filters, both_json_forms_parse_and_unknown_names_are_refused) {
    auto a = jobs::Filters::parse(R"({"label":["a=b","c"],"dangling":["true"]})",
                                  {"label", "dangling"});
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->bool_value("dangling"));
    EXPECT_TRUE(a->labels_match("label", {{"a", "b"}, {"c", "x"}}));
    EXPECT_FALSE(a->labels_match("label", {{"a", "z"}, {"c", "x"}}));
    auto b = jobs::Filters::parse(R"({"label":{"a=b":true,"ignored":false}})", {"label"});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->values("label").size(), 1u);
    auto c = jobs::Filters::parse(R"({"colour":["x"]})", {"label"});
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().message, "invalid filter 'colour'");
    auto d = jobs::Filters::parse(R"({"dangling":["maybe"]})", {"dangling"});
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().message, "invalid filter 'dangling=maybe'");
}

TEST(Filters, glob_matches_within_path_segments_like_go_path_match) {
    EXPECT_TRUE(jobs::glob_match("busy*", "busybox"));
    EXPECT_TRUE(jobs::glob_match("busybox:1.?", "busybox:1.3"));
    EXPECT_TRUE(jobs::glob_match("*/app", "team/app"));
    EXPECT_FALSE(jobs::glob_match("*", "team/app"));
    EXPECT_FALSE(jobs::glob_match("busy", "busybox"));
}

TEST(Progress, messages_have_dockers_json_message_shape) {
    EXPECT_EQ(jobs::progress_status("a3ed95caeb02", "Pulling fs layer"),
              "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"a3ed95caeb02\"}\r\n");
    EXPECT_EQ(jobs::progress_error("manifest unknown"),
              "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest "
              "unknown\"}\r\n");
    EXPECT_EQ(jobs::human_size(2221000), "2.221MB");
    EXPECT_EQ(jobs::human_size(512), "512B");
    std::string half = jobs::progress_bar(500, 1000);
    EXPECT_EQ(half, "[=========================>                         ]     500B/1kB");
    auto msg = jobs::progress_bytes("x", "Downloading", 1, 2);
    EXPECT_NE(msg.find("\"progressDetail\":{\"current\":1,\"total\":2}"), std::string::npos);
}
