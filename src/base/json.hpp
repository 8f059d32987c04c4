// JsonWriter: appends compact JSON to a string. Input comes in through simdjson; output goes out
// through this writer, so every response body in the API is built the same way.
// The caller keeps the nesting right; commas are inserted automatically.
#pragma once

#include <concepts>
#include <map>
#include <vector>
#include <cstdint>
#include <type_traits>
#include <string>
#include <string_view>

namespace berth {

void json_escape_into(std::string& out, std::string_view s);

class JsonWriter {
public:
    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }

    JsonWriter& key(std::string_view k) {
        comma();
        json_escape_into(out_, k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    JsonWriter& value(std::string_view s) {
        comma();
        json_escape_into(out_, s);
        return *this;
    }
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
    JsonWriter& value(bool b) { return raw(b ? "true" : "false"); }
    template <std::integral I>
        requires(!std::same_as<I, bool>)
    JsonWriter& value(I v) {
        if constexpr (std::is_signed_v<I>) return value_i64(int64_t(v));
        else return value_u64(uint64_t(v));
    }
    JsonWriter& value(double v);
    JsonWriter& null() { return raw("null"); }
    // A value that is already JSON text (an embedded document from the store).
    JsonWriter& raw(std::string_view json) {
        comma();
        out_ += json;
        return *this;
    }

    template <class V>
    JsonWriter& field(std::string_view k, const V& v) {
        key(k);
        return value(v);
    }
    JsonWriter& field_null(std::string_view k) { return key(k).null(); }

    const std::string& str() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    JsonWriter& open(char c) {
        comma();
        out_ += c;
        first_ = true;
        return *this;
    }
    JsonWriter& close(char c) {
        out_ += c;
        first_ = false;
        return *this;
    }
    void comma() {
        if (after_key_) {
            after_key_ = false;
            first_ = false;
            return;
        }
        if (!first_ && !out_.empty()) out_ += ',';
        first_ = false;
    }
    JsonWriter& value_i64(int64_t v);
    JsonWriter& value_u64(uint64_t v);

    std::string out_;
    bool first_ = true;
    bool after_key_ = false;
};

// {"k":"v",…} and ["a",…] of strings: labels, options and aliases as the store keeps them.
std::string json_object_of(const std::map<std::string, std::string>& m);
std::string json_array_of(const std::vector<std::string>& v);
// The string members of a JSON object as the store keeps them ("" or anything unreadable reads
// as empty; non-string members are left out).
std::map<std::string, std::string> json_string_map(std::string_view json);

}  // namespace berth
