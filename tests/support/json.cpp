#include "support/json.h"

#include <cstdlib>
#include <cstring>

#include "support/test_support.h"

namespace ember::test {

const Json& Json::operator[](const std::string& k) const {
  static const Json kNull;
  auto it = obj.find(k);
  return it == obj.end() ? kNull : it->second;
}

namespace {

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}
  bool run(Json* out, std::string* err) {
    value(*out);
    ws();
    if (ok_ && p_ != s_.size()) fail("trailing characters");
    if (!ok_ && err) *err = err_;
    return ok_;
  }

 private:
  void fail(const char* why) {
    if (ok_) err_ = std::string(why) + " at byte " + std::to_string(p_);
    ok_ = false;
  }
  void ws() {
    while (p_ < s_.size() && std::strchr(" \t\r\n", s_[p_])) ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  uint32_t hex4() {
    if (p_ + 4 > s_.size()) {
      fail("short \\u escape");
      return 0;
    }
    uint32_t v = static_cast<uint32_t>(std::strtoul(s_.substr(p_, 4).c_str(), nullptr, 16));
    p_ += 4;
    return v;
  }
  void string(Json& v) {
    v.kind = Json::String;
    if (!eat('"')) return fail("expected a string");
    while (ok_ && p_ < s_.size() && s_[p_] != '"') {
      char c = s_[p_++];
      if (c != '\\') {
        v.str += c;
        continue;
      }
      if (p_ >= s_.size()) return fail("dangling escape");
      char e = s_[p_++];
      switch (e) {
        case 'n': v.str += '\n'; break;
        case 't': v.str += '\t'; break;
        case 'r': v.str += '\r'; break;
        case 'b': v.str += '\b'; break;
        case 'f': v.str += '\f'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(p_, 2, "\\u") == 0) {
            p_ += 2;
            uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(cp, v.str);
          break;
        }
        default: v.str += e;
      }
    }
    if (p_ >= s_.size()) return fail("unterminated string");
    ++p_;
  }
  void value(Json& v) {
    if (++depth_ > 64) return fail("nesting too deep");
    ws();
    if (p_ >= s_.size()) return fail("unexpected end");
    char c = s_[p_];
    if (c == '{') {
      ++p_;
      v.kind = Json::Object;
      if (!eat('}')) {
        do {
          Json key;
          ws();
          string(key);
          if (!eat(':')) return fail("expected ':'");
          value(v.obj[key.str]);
        } while (ok_ && eat(','));
        if (ok_ && !eat('}')) fail("expected '}'");
      }
    } else if (c == '[') {
      ++p_;
      v.kind = Json::Array;
      if (!eat(']')) {
        do {
          v.arr.emplace_back();
          value(v.arr.back());
        } while (ok_ && eat(','));
        if (ok_ && !eat(']')) fail("expected ']'");
      }
    } else if (c == '"') {
      string(v);
    } else if (s_.compare(p_, 4, "true") == 0) {
      v.kind = Json::Bool, v.b = true, p_ += 4;
    } else if (s_.compare(p_, 5, "false") == 0) {
      v.kind = Json::Bool, v.b = false, p_ += 5;
    } else if (s_.compare(p_, 4, "null") == 0) {
      v.kind = Json::Null, p_ += 4;
    } else {
      const char* start = s_.c_str() + p_;
      char* end = nullptr;
      v.kind = Json::Number;
      v.num = std::strtod(start, &end);
      if (end == start) return fail("bad value");
      p_ += static_cast<size_t>(end - start);
    }
    --depth_;
  }

  const std::string& s_;
  size_t p_ = 0;
  int depth_ = 0;
  bool ok_ = true;
  std::string err_;
};

}  // namespace

bool parse_json(const std::string& text, Json* out, std::string* error) { return Parser(text).run(out, error); }

bool load_json(const std::string& path, Json* out, std::string* error) {
  if (!file_exists(path)) {
    *error = "missing file " + path;
    return false;
  }
  if (!parse_json(read_text(path), out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace ember::test
