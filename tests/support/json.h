// A small JSON reader for the golden files (objects, arrays, strings with \u escapes,
// numbers, true/false/null). Test-only: the engine itself reads no JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ember::test {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  const Json& operator[](const std::string& k) const;
  const Json& operator[](size_t i) const { return arr.at(i); }
  size_t size() const { return kind == Array ? arr.size() : obj.size(); }
  bool has(const std::string& k) const { return obj.count(k) != 0; }
  int64_t as_int() const { return static_cast<int64_t>(num); }
};

// Parses `text`; on malformed input returns false and sets *error.
bool parse_json(const std::string& text, Json* out, std::string* error);
// Reads and parses a file; aborts the calling test through the returned flag.
bool load_json(const std::string& path, Json* out, std::string* error);

}  // namespace ember::test
