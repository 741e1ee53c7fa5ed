#include "runtime/tokenizer/pretokenize.h"

#include "runtime/tokenizer/unicode.h"

namespace ember::tokenizer {
namespace {

// A piece of the codepoint array: [begin, end).
struct Span {
  size_t begin;
  size_t end;
};

constexpr uint8_t kOutOfRange = 0x80;  // class value for positions outside the piece

class Matcher {
 public:
  Matcher(const std::vector<uint32_t>& cps, const std::vector<uint8_t>& cls, Span s)
      : cps_(cps), cls_(cls), e_(s.end) {}

  uint32_t cp(size_t i) const { return i < e_ ? cps_[i] : 0xFFFFFFFFu; }
  uint8_t cls(size_t i) const { return i < e_ ? cls_[i] : kOutOfRange; }
  bool letter(size_t i) const { return cls(i) & kLetter; }
  bool number(size_t i) const { return cls(i) & kNumber; }
  bool space(size_t i) const { return cls(i) & kWhitespace; }
  // [^\s\p{L}\p{N}] and inside the piece.
  bool other(size_t i) const { return !(cls(i) & (kLetter | kNumber | kWhitespace | kOutOfRange)); }
  size_t end() const { return e_; }

  // Length of a contraction ('s 't 'm 'd 're 've 'll) at i, or 0.
  size_t contraction(size_t i, bool ignore_case) const {
    if (cp(i) != '\'' || i + 1 >= e_) return 0;
    auto low = [&](uint32_t c) { return ignore_case && c >= 'A' && c <= 'Z' ? c + 32 : c; };
    const uint32_t c1 = low(cp(i + 1));
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (i + 2 < e_) {
      const uint32_t c2 = low(cp(i + 2));
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
        return 3;
      }
    }
    return 0;
  }

  // Trailing whitespace handling shared by both families: \s+(?!\S) then \s+.
  size_t whitespace_len(size_t i) const {
    size_t n = 0;
    while (space(i + n)) ++n;
    if (n > 1 && i + n < e_) return n - 1;  // leave the last space to the next word
    return n;
  }

 private:
  const std::vector<uint32_t>& cps_;
  const std::vector<uint8_t>& cls_;
  size_t e_;
};

void split_gpt2(const std::vector<uint32_t>& cps, const std::vector<uint8_t>& cls, Span s,
                std::vector<Span>& out) {
  Matcher m(cps, cls, s);
  size_t i = s.begin;
  while (i < s.end) {
    size_t len = m.contraction(i, /*ignore_case=*/false);
    if (len == 0) {
      const size_t j = m.cp(i) == ' ' ? i + 1 : i;  // optional leading space
      size_t k = j;
      if (m.letter(j)) {
        while (m.letter(k)) ++k;
      } else if (m.number(j)) {
        while (m.number(k)) ++k;
      } else if (m.other(j)) {
        while (m.other(k)) ++k;
      }
      if (k > j) {
        len = k - i;
      } else {
        len = m.whitespace_len(i);
        if (len == 0) len = 1;
      }
    }
    out.push_back({i, i + len});
    i += len;
  }
}

void split_llama3(const std::vector<uint32_t>& cps, const std::vector<uint8_t>& cls, Span s,
                  size_t max_digits, std::vector<Span>& out) {
  Matcher m(cps, cls, s);
  size_t i = s.begin;
  while (i < s.end) {
    const uint32_t c = m.cp(i);
    size_t len = m.contraction(i, /*ignore_case=*/true);
    if (len) {
      out.push_back({i, i + len});
      i += len;
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c != '\r' && c != '\n' && !m.number(i) && (m.letter(i) || m.letter(i + 1))) {
      size_t k = i + 1;
      while (m.letter(k)) ++k;
      out.push_back({i, k});
      i = k;
      continue;
    }
    // \p{N}{1,max}
    if (m.number(i)) {
      size_t k = i;
      while (m.number(k) && k - i < max_digits) ++k;
      out.push_back({i, k});
      i = k;
      continue;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const size_t j = c == ' ' ? i + 1 : i;
    if (m.other(j)) {
      size_t k = j;
      while (m.other(k)) ++k;
      while (m.cp(k) == '\r' || m.cp(k) == '\n') ++k;
      out.push_back({i, k});
      i = k;
      continue;
    }
    // \s*[\r\n]+ : up to the last \r or \n of the whitespace run
    size_t n = 0, last_nl = 0;
    while (m.space(i + n)) {
      if (m.cp(i + n) == '\r' || m.cp(i + n) == '\n') last_nl = i + n + 1;
      ++n;
    }
    if (last_nl) {
      len = last_nl - i;
    } else {
      len = m.whitespace_len(i);
      if (len == 0) len = 1;
    }
    out.push_back({i, i + len});
    i += len;
  }
}

// Isolates every maximal run of codepoints accepted by `pred` (runs longer than
// `max_run` are cut into pieces of max_run, leftmost first).
template <typename Pred>
void split_runs(Span s, Pred pred, size_t max_run, std::vector<Span>& out) {
  size_t i = s.begin, start = s.begin;
  while (i < s.end) {
    if (!pred(i)) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({start, i});
    size_t k = i;
    while (k < s.end && pred(k) && k - i < max_run) ++k;
    out.push_back({i, k});
    i = start = k;
  }
  if (start < s.end) out.push_back({start, s.end});
}

void split_three_digits(const std::vector<uint32_t>& cps, Span s, std::vector<Span>& out) {
  // [0-9][0-9][0-9]: leftmost non-overlapping matches of exactly three ASCII digits.
  auto digit = [&](size_t i) { return cps[i] >= '0' && cps[i] <= '9'; };
  size_t i = s.begin, start = s.begin;
  while (i + 3 <= s.end) {
    if (digit(i) && digit(i + 1) && digit(i + 2)) {
      if (i > start) out.push_back({start, i});
      out.push_back({i, i + 3});
      i += 3;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < s.end) out.push_back({start, s.end});
}

}  // namespace

Expected<PreConfig> pre_config_from_name(std::string_view name) {
  PreConfig c;
  if (name.empty() || name == "default") {
    c.kind = PreKind::Default;
  } else if (name == "gpt-2" || name == "gpt2" || name == "phi-2") {
    c.kind = PreKind::Gpt2;
  } else if (name == "smollm") {
    c.kind = PreKind::Smollm;
    c.clean_spaces = false;
  } else if (name == "llama3" || name == "llama-v3" || name == "llama-bpe" || name == "falcon3" ||
             name == "pixtral") {
    c.kind = PreKind::Llama3;
    c.ignore_merges = true;
    c.add_bos = true;
  } else if (name == "qwen2" || name == "deepseek-r1-qwen") {
    c.kind = PreKind::Qwen2;
    c.clean_spaces = false;
  } else {
    return Error(
        "unknown pre-tokenizer '%.*s' (tokenizer.ggml.pre); ember supports: default, gpt-2 "
        "(gpt2, phi-2), smollm, llama-bpe (llama3, llama-v3, falcon3, pixtral), qwen2 "
        "(deepseek-r1-qwen)",
        static_cast<int>(name.size()), name.data());
  }
  return c;
}

const char* pre_kind_name(PreKind k) {
  switch (k) {
    case PreKind::Default: return "default";
    case PreKind::Gpt2: return "gpt-2";
    case PreKind::Smollm: return "smollm";
    case PreKind::Llama3: return "llama-bpe";
    case PreKind::Qwen2: return "qwen2";
  }
  return "?";
}

std::vector<std::string> pre_tokenize(PreKind kind, std::string_view text) {
  const std::vector<uint32_t> cps = utf8_to_cps(text);
  std::vector<uint8_t> cls(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) cls[i] = cp_class(cps[i]);

  std::vector<Span> spans{{0, cps.size()}}, next;
  auto pass = [&](auto&& fn) {
    next.clear();
    for (const Span& s : spans) {
      if (s.end > s.begin) fn(s);
    }
    spans.swap(next);
  };
  auto is_num = [&](size_t i) { return (cls[i] & kNumber) != 0; };
  const size_t kUnbounded = static_cast<size_t>(-1);

  switch (kind) {
    case PreKind::Gpt2: pass([&](Span s) { split_gpt2(cps, cls, s, next); }); break;
    case PreKind::Smollm:
      pass([&](Span s) { split_runs(s, is_num, 1, next); });
      pass([&](Span s) { split_gpt2(cps, cls, s, next); });
      break;
    case PreKind::Llama3: pass([&](Span s) { split_llama3(cps, cls, s, 3, next); }); break;
    case PreKind::Qwen2: pass([&](Span s) { split_llama3(cps, cls, s, 1, next); }); break;
    case PreKind::Default: {
      auto is_punct = [&](size_t i) {
        const uint32_t c = cps[i];
        return (cls[i] & kPunct) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
               c == '^' || c == '~' || c == '|';
      };
      pass([&](Span s) { split_runs(s, is_punct, kUnbounded, next); });
      pass([&](Span s) { split_gpt2(cps, cls, s, next); });
      pass([&](Span s) { split_runs(s, is_num, kUnbounded, next); });
      pass([&](Span s) { split_three_digits(cps, s, next); });
      break;
    }
  }

  std::vector<std::string> words;
  words.reserve(spans.size());
  for (const Span& s : spans) {
    std::string w;
    for (size_t i = s.begin; i < s.end; ++i) append_utf8(cps[i], w);
    words.push_back(std::move(w));
  }
  return words;
}

}  // namespace ember::tokenizer
