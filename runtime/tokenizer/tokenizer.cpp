#include "runtime/tokenizer/tokenizer.h"

#include "ember/core/log.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/unicode.h"

namespace ember::tokenizer {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// tokenizer.ggml.token_type values (gguf-py's TokenType).
uint32_t attr_from_type(int64_t t) {
  switch (t) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

// Token texts llama.cpp takes for the end-of-turn token when the file names none
// (it picks whichever its hash map yields first; we take this list's order).
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>",      "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",      "_<EOT>",  "<end_of_utterance>",
};
// Texts llama.cpp treats as end-of-generation.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",   "<|endoftext|>",
    "<|eom_id|>", "<EOT>",      "_<EOT>",  "<|end_of_text|>", "<end_of_utterance>",
};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t m; (m = s.find(from, pos)) != std::string::npos; pos = m + from.size()) {
    out.append(s, pos, m - pos);
    out.append(to);
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// llama.cpp's detokenizer clean-up (only for pre-tokenizers with clean_spaces): drops the
// space in " ?", " !", " .", " ,"; turns " ' " into "'"; drops the space in " 's", " 'm",
// " 're", " 've". Each pass looks at the previous pass's output.
void clean_up_spaces(std::string& t) {
  if (t.empty()) return;
  {  // pass 1
    std::string o(1, t[0]);
    for (size_t i = 1; i < t.size(); ++i) {
      const char x = t[i];
      if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) o.pop_back();
      o.push_back(x);
    }
    t.swap(o);
  }
  {  // pass 2: a lone apostrophe between spaces loses both spaces
    std::string o(1, t[0]);
    for (size_t i = 1; i < t.size(); ++i) {
      const char x = t[i];
      if (x == '\'' && i + 1 < t.size() && t[i - 1] == ' ' && t[i + 1] == ' ') {
        o.pop_back();
        t[++i] = '\0';  // the next space is skipped; what follows sees no space before it
      }
      o.push_back(x);
    }
    t.swap(o);
  }
  {  // pass 3: contractions
    std::string o(1, t[0]);
    const size_t n = t.size();
    for (size_t i = 1; i < n; ++i) {
      const char x = t[i];
      if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
        const char x1 = t[i + 1];
        if (x1 == 's' || x1 == 'm') {
          o.pop_back();
        } else if (x1 != 't' && x1 != 'd' && i + 2 < n) {
          const char x2 = t[i + 2];
          if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) o.pop_back();
        }
      }
      o.push_back(x);
    }
    t.swap(o);
  }
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& file) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  Status st = t->load(file);
  if (!st.ok()) return st.with_context("tokenizer from '" + file.path() + "'");
  return t;
}

Status Tokenizer::load(const gguf::File& f) {
  EMBER_ASSIGN_OR_RETURN(const std::string model, f.get_string("tokenizer.ggml.model"));
  if (model == "gpt2") {
    kind_ = VocabKind::Bpe;
  } else if (model == "llama") {
    kind_ = VocabKind::Spm;
  } else {
    return Error(
        "unsupported tokenizer model '%s' (tokenizer.ggml.model); ember supports 'gpt2' "
        "(byte-level BPE) and 'llama' (SentencePiece)",
        model.c_str());
  }
  if (const gguf::Value* v = f.find("tokenizer.ggml.pre")) {
    if (v->type != gguf::ValueType::STRING)
      return Status::Error("tokenizer.ggml.pre is not a string");
    pre_name_ = std::string(v->s);
  }
  if (kind_ == VocabKind::Bpe) {
    EMBER_ASSIGN_OR_RETURN(pre_, pre_config_from_name(pre_name_));
    if (pre_name_.empty()) {
      warn("%s has no tokenizer.ggml.pre; using the 'default' pre-tokenizer (generation quality may suffer)",
           f.path().c_str());
    }
    add_space_prefix_ = false;
  } else {
    pre_ = PreConfig{};  // SPM has no pre-tokenizer
    pre_.clean_spaces = false;
    pre_.add_bos = true;
    add_space_prefix_ = true;
  }

  // Vocabulary.
  EMBER_ASSIGN_OR_RETURN(const gguf::Value* toks,
                         f.get_array("tokenizer.ggml.tokens", gguf::ValueType::STRING));
  const size_t n = toks->items.size();
  if (n == 0) return Status::Error("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return Error("tokenizer.ggml.tokens has %zu entries", n);

  const gguf::Value* scores = f.find("tokenizer.ggml.scores");
  if (scores) {
    if (scores->type != gguf::ValueType::ARRAY || (scores->elem_type != gguf::ValueType::FLOAT32 &&
                                                   scores->elem_type != gguf::ValueType::INT32)) {
      return Status::Error("tokenizer.ggml.scores must be an array of f32 or i32");
    }
    if (scores->items.size() < n) {
      return Error("tokenizer.ggml.scores has %zu entries, fewer than the %zu tokens",
                   scores->items.size(), n);
    }
  }
  const gguf::Value* types = f.find("tokenizer.ggml.token_type");
  if (types) {
    if (types->type != gguf::ValueType::ARRAY || types->elem_type != gguf::ValueType::INT32) {
      return Status::Error("tokenizer.ggml.token_type must be an array of i32");
    }
    if (types->items.size() < n) {
      return Error("tokenizer.ggml.token_type has %zu entries, fewer than the %zu tokens",
                   types->items.size(), n);
    }
  }

  tokens_.resize(n);
  text_to_id_.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    Token& tk = tokens_[i];
    tk.text = std::string(toks->items[i].s);
    // As llama.cpp: an empty text would match everywhere, so it gets a placeholder.
    if (tk.text.empty()) tk.text = "[EMPTY_" + std::to_string(i) + "]";
    if (scores) {
      const gguf::Value& s = scores->items[i];
      tk.score = s.is_float() ? static_cast<float>(s.f) : static_cast<float>(s.i);
    }
    tk.attr = types ? attr_from_type(types->items[i].i) : kAttrNormal;
    text_to_id_[tk.text] = static_cast<TokenId>(i);  // a later duplicate wins, as in llama.cpp
  }

  if (kind_ == VocabKind::Bpe) {
    EMBER_ASSIGN_OR_RETURN(const gguf::Value* merges,
                           f.get_array("tokenizer.ggml.merges", gguf::ValueType::STRING));
    merge_ranks_.reserve(merges->items.size() * 2);
    std::string key;
    for (size_t r = 0; r < merges->items.size(); ++r) {
      std::string_view m = merges->items[r].s;
      // "left right", split at the first space after the first byte.
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
      if (sp == std::string_view::npos) continue;  // unusable; llama.cpp keeps it unmatched
      key.assign(m.substr(0, sp));
      key.push_back('\0');
      key.append(m.substr(sp + 1));
      merge_ranks_.emplace(key, static_cast<int>(r));  // first occurrence keeps its rank
    }
  } else {
    byte_tokens_.assign(256, kNoToken);
    static const char* kHex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const char name[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
      TokenId id = find_token(name);
      if (id == kNoToken) id = find_token(std::string(1, static_cast<char>(b)));
      byte_tokens_[b] = id;
    }
  }

  // Special ids: llama.cpp's defaults, then the metadata (out-of-range ids are ignored).
  if (kind_ == VocabKind::Spm) {
    bos_ = 1, eos_ = 2, unk_ = 0;
  } else {
    bos_ = 11, eos_ = 11;
  }
  auto in_range = [&](TokenId id) { return id >= 0 && static_cast<size_t>(id) < n; };
  for (TokenId* id : {&bos_, &eos_, &unk_}) {
    if (!in_range(*id)) *id = kNoToken;
  }
  struct IdKey {
    const char* key;
    TokenId* id;
  };
  for (const IdKey& k :
       {IdKey{"tokenizer.ggml.bos_token_id", &bos_}, IdKey{"tokenizer.ggml.eos_token_id", &eos_},
        IdKey{"tokenizer.ggml.eot_token_id", &eot_}, IdKey{"tokenizer.ggml.eom_token_id", &eom_},
        IdKey{"tokenizer.ggml.unknown_token_id", &unk_},
        IdKey{"tokenizer.ggml.padding_token_id", &pad_}}) {
    if (!f.find(k.key)) continue;
    EMBER_ASSIGN_OR_RETURN(const uint64_t v, f.get_uint(k.key));
    if (v < n) {
      *k.id = static_cast<TokenId>(v);
    } else {
      warn("%s = %llu is outside the vocabulary (%zu); ignored", k.key, static_cast<unsigned long long>(v), n);
    }
  }
  EMBER_ASSIGN_OR_RETURN(add_bos_, f.get_bool_or("tokenizer.ggml.add_bos_token", pre_.add_bos));
  EMBER_ASSIGN_OR_RETURN(add_eos_, f.get_bool_or("tokenizer.ggml.add_eos_token", false));
  EMBER_ASSIGN_OR_RETURN(add_space_prefix_,
                         f.get_bool_or("tokenizer.ggml.add_space_prefix", add_space_prefix_));
  if (add_bos_ && bos_ == kNoToken)
    return Status::Error("add_bos_token is set but there is no BOS token");
  if (add_eos_ && eos_ == kNoToken)
    return Status::Error("add_eos_token is set but there is no EOS token");

  // End-of-turn / end-of-generation tokens found by text, as llama.cpp does; they are
  // made CONTROL so that they render and parse as special tokens.
  if (eot_ == kNoToken) {
    for (std::string_view t : kEotTexts) {
      if (TokenId id = find_token(t); id != kNoToken) {
        eot_ = id;
        break;
      }
    }
    if (eot_ != kNoToken) tokens_[eot_].attr |= kAttrControl;
  }
  for (std::string_view t : kEogTexts) {
    if (TokenId id = find_token(t); id != kNoToken) {
      tokens_[id].attr |= kAttrControl;
      eog_ids_.push_back(id);
    }
  }
  for (TokenId id : {eos_, eot_, eom_}) {
    if (id != kNoToken) eog_ids_.push_back(id);
  }
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());

  for (size_t i = 0; i < n; ++i) {
    if (tokens_[i].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
      special_by_length_.push_back(static_cast<TokenId>(i));
    }
  }
  std::stable_sort(special_by_length_.begin(), special_by_length_.end(), [&](TokenId a, TokenId b) {
    return tokens_[a].text.size() > tokens_[b].text.size();
  });

  if (const gguf::Value* v = f.find("tokenizer.chat_template")) {
    if (v->type == gguf::ValueType::STRING) chat_template_ = std::string(v->s);
  }
  return Status::Ok();
}

const std::string& Tokenizer::token_text(TokenId id) const {
  static const std::string kEmpty;
  return id >= 0 && id < n_vocab() ? tokens_[id].text : kEmpty;
}

uint32_t Tokenizer::token_attr(TokenId id) const {
  return id >= 0 && id < n_vocab() ? tokens_[id].attr : kAttrUndefined;
}

float Tokenizer::token_score(TokenId id) const {
  return id >= 0 && id < n_vocab() ? tokens_[id].score : 0.0f;
}

TokenId Tokenizer::find_token(std::string_view text) const {
  auto it = text_to_id_.find(std::string(text));
  return it == text_to_id_.end() ? kNoToken : it->second;
}

bool Tokenizer::is_eog(TokenId id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

int Tokenizer::merge_rank(std::string_view left, std::string_view right) const {
  thread_local std::string key;
  key.assign(left);
  key.push_back('\0');
  key.append(right);
  auto it = merge_ranks_.find(key);
  return it == merge_ranks_.end() ? -1 : it->second;
}

void Tokenizer::partition_special(std::string_view text, bool parse_special,
                                  std::vector<Fragment>& frags) const {
  frags.assign(1, Fragment{kNoToken, 0, text.size()});
  std::vector<Fragment> next;
  for (TokenId id : special_by_length_) {
    const Token& tk = tokens_[id];
    if (!parse_special && (tk.attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& needle = tk.text;
    next.clear();
    bool changed = false;
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        next.push_back(fr);
        continue;
      }
      const std::string_view hay = text.substr(0, fr.offset + fr.length);
      size_t pos = fr.offset;
      for (size_t m; (m = hay.find(needle, pos)) != std::string_view::npos;) {
        if (m > pos) next.push_back({kNoToken, pos, m - pos});
        next.push_back({id, m, needle.size()});
        pos = m + needle.size();
        changed = true;
      }
      if (pos < hay.size()) next.push_back({kNoToken, pos, hay.size() - pos});
    }
    if (changed) frags.swap(next);
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, EncodeOptions opt) const {
  std::vector<TokenId> out;
  std::vector<Fragment> frags;
  if (!text.empty()) partition_special(text, opt.parse_special, frags);
  const bool bos = opt.add_special && add_bos_;
  const bool eos = opt.add_special && add_eos_;
  if (bos) out.push_back(bos_);
  if (kind_ == VocabKind::Bpe) {
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        out.push_back(fr.token);
      } else {
        encode_bpe(text.substr(fr.offset, fr.length), out);
      }
    }
  } else {
    bool prev_special = true;  // the text's start counts as "after a special token"
    std::string buf;
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        out.push_back(fr.token);
        prev_special = true;
        continue;
      }
      buf.clear();
      if (add_space_prefix_ && prev_special) buf.push_back(' ');
      buf.append(text.substr(fr.offset, fr.length));
      replace_all(buf, " ", kSpmSpace);
      encode_spm(buf, out);
      prev_special = false;
    }
  }
  if (eos) out.push_back(eos_);
  return out;
}

// ---- byte-level BPE ------------------------------------------------------------------

void Tokenizer::encode_bpe(std::string_view text, std::vector<TokenId>& out) const {
  std::string enc;
  for (const std::string& word : pre_tokenize(pre_.kind, text)) {
    enc.clear();
    for (unsigned char b : word) enc += byte_to_bpe_char(b);
    bpe_word(enc, out);
  }
}

void Tokenizer::bpe_word(const std::string& word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (pre_.ignore_merges) {
    if (auto it = text_to_id_.find(word); it != text_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Sym {
    int prev, next;
    size_t off, n;
  };
  std::vector<Sym> syms;
  for (size_t off = 0; off < word.size();) {
    const size_t len =
        std::min(word.size() - off, utf8_len_from_lead(static_cast<uint8_t>(word[off])));
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  struct Pair {
    int rank;
    int left, right;
    size_t left_n, right_n;
  };
  // Lowest rank first; among equal ranks the leftmost pair.
  auto worse = [](const Pair& a, const Pair& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> queue(worse);
  const std::string_view w(word);
  auto add_pair = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const int rank = merge_rank(w.substr(syms[l].off, syms[l].n), w.substr(syms[r].off, syms[r].n));
    if (rank >= 0) queue.push({rank, l, r, syms[l].n, syms[r].n});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) add_pair(i - 1, i);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Sym& l = syms[p.left];
    Sym& r = syms[p.right];
    // Stale if either side has changed since the pair was queued (symbols only grow).
    if (l.n != p.left_n || r.n != p.right_n || l.next != p.right) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = p.left;
    add_pair(l.prev, p.left);
    add_pair(p.left, l.next);
  }
  for (int i = 0; i >= 0; i = syms[i].next) {
    const std::string piece = word.substr(syms[i].off, syms[i].n);
    if (auto it = text_to_id_.find(piece); it != text_to_id_.end()) {
      out.push_back(it->second);
      continue;
    }
    // Not in the vocabulary (a vocabulary without all 256 byte symbols): as llama.cpp,
    // emit single-byte tokens where they exist and drop the rest.
    for (char c : piece) {
      if (auto it = text_to_id_.find(std::string(1, c)); it != text_to_id_.end()) {
        out.push_back(it->second);
      }
    }
  }
}

// ---- SentencePiece -------------------------------------------------------------------

TokenId Tokenizer::byte_token(uint8_t b) const {
  return byte_tokens_.empty() ? kNoToken : byte_tokens_[b];
}

void Tokenizer::encode_spm(std::string_view text, std::vector<TokenId>& out) const {
  struct Sym {
    int prev, next;
    size_t off, n;
  };
  std::vector<Sym> syms;
  for (size_t off = 0; off < text.size();) {
    const size_t len =
        std::min(text.size() - off, utf8_len_from_lead(static_cast<uint8_t>(text[off])));
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  if (syms.empty()) return;
  struct Pair {
    float score;
    int left, right;
    size_t size;
  };
  // Highest score first; among equal scores the leftmost pair.
  auto worse = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> queue(worse);
  auto add_pair = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const std::string_view joined = text.substr(syms[l].off, syms[l].n + syms[r].n);
    const TokenId id = find_token(joined);
    if (id == kNoToken) return;
    queue.push({tokens_[id].score, l, r, joined.size()});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) add_pair(i - 1, i);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Sym& l = syms[p.left];
    Sym& r = syms[p.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != p.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = p.left;
    add_pair(l.prev, p.left);
    add_pair(p.left, l.next);
  }
  for (int i = 0; i >= 0; i = syms[i].next) {
    const std::string_view piece = text.substr(syms[i].off, syms[i].n);
    if (TokenId id = find_token(piece); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // Byte fallback: every byte of an unknown piece as its <0xXX> token.
    for (unsigned char c : piece) {
      TokenId id = byte_token(c);
      if (id == kNoToken) id = unk_;
      if (id != kNoToken) out.push_back(id);
    }
  }
}

// ---- decoding ------------------------------------------------------------------------

std::string Tokenizer::token_to_piece(TokenId id, bool special) const {
  if (id < 0 || id >= n_vocab()) return {};
  const Token& tk = tokens_[id];
  if (!special && (tk.attr & (kAttrUnknown | kAttrControl))) return {};
  if (tk.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return tk.text;
  if (tk.attr & kAttrNormal) {
    if (kind_ == VocabKind::Spm) {
      std::string s = tk.text;
      replace_all(s, kSpmSpace, " ");
      return s;
    }
    std::string s;
    for (uint32_t cp : utf8_to_cps(tk.text)) {
      const int b = bpe_char_to_byte(cp);
      if (b >= 0) {
        s.push_back(static_cast<char>(b));
      } else {  // a character outside the byte map: shown as llama.cpp shows it
        std::string u;
        append_utf8(cp, u);
        s += "[UNK_BYTE_0x";
        for (unsigned char c : u) {
          char hex[3];
          std::snprintf(hex, sizeof hex, "%02x", c);
          s += hex;
        }
        s += tk.text + "]";
      }
    }
    return s;
  }
  if (tk.attr & kAttrByte) {
    if (tk.text.size() >= 5) {
      const int hi = hex_digit(tk.text[3]), lo = hex_digit(tk.text[4]);
      if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
    }
    return {};
  }
  return {};
}

std::string Tokenizer::decode(std::span<const TokenId> ids, DecodeOptions opt) const {
  bool remove_space = add_space_prefix_;
  if (opt.remove_special && add_bos_ && !ids.empty() && ids.front() == bos_) {
    remove_space = false;
    ids = ids.subspan(1);
  }
  if (opt.remove_special && add_eos_ && !ids.empty() && ids.back() == eos_) {
    ids = ids.first(ids.size() - 1);
  }
  std::string text;
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, opt.unparse_special);
    size_t skip = remove_space && !piece.empty() && piece[0] == ' ' ? 1 : 0;
    remove_space = false;
    text.append(piece, skip, std::string::npos);
  }
  if (pre_.clean_spaces) clean_up_spaces(text);
  return text;
}

// ---- streaming -----------------------------------------------------------------------

std::string StreamDecoder::push(TokenId id) {
  return push_bytes(tok_.token_to_piece(id, special_));
}

std::string StreamDecoder::push_bytes(std::string_view bytes) {
  held_.append(bytes);
  // Find the last byte that is not a continuation byte, within the last four.
  const size_t n = held_.size();
  size_t cut = n;
  for (size_t k = 1; k <= 4 && k <= n; ++k) {
    const auto b = static_cast<uint8_t>(held_[n - k]);
    if ((b & 0xC0) == 0x80) continue;
    size_t need = 1;
    if ((b & 0xE0) == 0xC0)
      need = 2;
    else if ((b & 0xF0) == 0xE0)
      need = 3;
    else if ((b & 0xF8) == 0xF0)
      need = 4;
    if (k < need) cut = n - k;  // an incomplete character: hold it back
    break;
  }
  std::string ready = held_.substr(0, cut);
  held_.erase(0, cut);
  return ready;
}

std::string StreamDecoder::flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

}  // namespace ember::tokenizer
