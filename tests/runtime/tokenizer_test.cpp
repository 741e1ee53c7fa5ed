// Tokenizer tests: ids and decoded text against llama.cpp goldens (default model and tiny
// vocabularies for the Llama 3, Qwen2, GPT-2, default and SentencePiece paths), round trips,
// streaming decode on split UTF-8, error paths, and chat template recognition / formatting.
// Goldens: scripts/golden/make_tokenizer_goldens.py and scripts/golden/make_tiny_vocabs.py.
#include "runtime/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/chat.h"
#include "runtime/tokenizer/pretokenize.h"
#include "runtime/tokenizer/unicode.h"
#include "support/json.h"
#include "support/test_support.h"

namespace ember::tokenizer {
namespace {

using test::Json;

Json load_json(const std::string& rel) {
  Json j;
  std::string err;
  EXPECT_TRUE(test::load_json(test::data_path(rel), &j, &err)) << err;
  return j;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<TokenId> ids_of(const Json& a) {
  std::vector<TokenId> v;
  for (const Json& x : a.arr) v.push_back(static_cast<TokenId>(x.num));
  return v;
}

std::string show(const std::vector<TokenId>& v) {
  std::string s;
  for (TokenId id : v) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return "[" + s + "]";
}

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    const size_t n = b < 0x80             ? 1
                     : (b & 0xE0) == 0xC0 ? 2
                     : (b & 0xF0) == 0xE0 ? 3
                     : (b & 0xF8) == 0xF0 ? 4
                                          : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// Well-formed byte structure only (lead byte + the right number of continuation bytes):
// what the tokenizer guarantees for any input, since it decodes overlong forms and
// surrogates arithmetically as llama.cpp does.
bool utf8_structure_ok(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    const size_t n = b < 0x80             ? 1
                     : (b & 0xE0) == 0xC0 ? 2
                     : (b & 0xF0) == 0xE0 ? 3
                     : (b & 0xF8) == 0xF0 ? 4
                                          : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

struct Loaded {
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tok;
};

Loaded load(const std::string& path) {
  Loaded l;
  auto f = gguf::File::open(path);
  EXPECT_TRUE(f.ok()) << f.message();
  if (!f.ok()) return l;
  l.file = std::move(f).value();
  auto t = Tokenizer::from_gguf(*l.file);
  EXPECT_TRUE(t.ok()) << t.message();
  if (t.ok()) l.tok = std::move(t).value();
  return l;
}

// Compares every golden case of `golden_rel` against `tok`.
void check_goldens(const Tokenizer& tok, const std::string& golden_rel) {
  const Json g = load_json(golden_rel);
  ASSERT_EQ(g["cases"].kind, Json::Array) << golden_rel;
  EXPECT_EQ(tok.n_vocab(), static_cast<int32_t>(g["n_vocab"].num));
  EXPECT_EQ(tok.bos(), static_cast<TokenId>(g["bos"].num));
  EXPECT_EQ(tok.eos(), static_cast<TokenId>(g["eos"].num));
  EXPECT_EQ(tok.add_bos(), g["add_bos"].b);
  EXPECT_EQ(tok.add_eos(), g["add_eos"].b);
  // llama.cpp picks the end-of-turn token by text in hash-map order when the file names
  // none, so only require that its choice ends generation for us too.
  const auto eot = static_cast<TokenId>(g["eot"].num);
  if (eot >= 0) {
    EXPECT_TRUE(tok.is_eog(eot)) << "llama.cpp's EOT " << eot;
  }
  size_t n = 0;
  for (const Json& c : g["cases"].arr) {
    const std::string name = c["name"].str;
    const std::string text = unhex(c["text_hex"].str);
    const auto want = ids_of(c["ids"]);
    const auto want_sp = ids_of(c["ids_special"]);
    const auto got = tok.encode(text, {.add_special = true, .parse_special = false});
    const auto got_sp = tok.encode(text, {.add_special = true, .parse_special = true});
    EXPECT_EQ(got, want) << golden_rel << " case " << name << ": got " << show(got) << " want "
                         << show(want);
    EXPECT_EQ(got_sp, want_sp) << golden_rel << " case " << name << " (parse_special): got "
                               << show(got_sp) << " want " << show(want_sp);
    EXPECT_EQ(tok.decode(want), unhex(c["decoded_hex"].str)) << golden_rel << " case " << name;
    EXPECT_EQ(tok.decode(want_sp, {.remove_special = false, .unparse_special = true}),
              unhex(c["decoded_special_hex"].str))
        << golden_rel << " case " << name << " (unparse_special)";
    ++n;
  }
  EXPECT_GE(n, 40u) << golden_rel;
}

std::string default_model_or_fail() {
  const std::string p = test::default_model_path();
  EXPECT_FALSE(p.empty()) << "the default model (SmolLM2-135M-Instruct.Q4_1.gguf) is missing: "
                             "run scripts/fetch-model.sh (or set EMBER_TEST_MODEL)";
  return p;
}

// ---- goldens -------------------------------------------------------------------------

TEST(TokenizerGolden, DefaultModelSmolLM2) {
  const std::string path = default_model_or_fail();
  if (path.empty()) return;
  Loaded l = load(path);
  ASSERT_TRUE(l.tok);
  EXPECT_EQ(l.tok->kind(), VocabKind::Bpe);
  EXPECT_EQ(l.tok->pre().kind, PreKind::Smollm);
  check_goldens(*l.tok, "tokenizer/smollm2.json");
}

TEST(TokenizerGolden, TinyLlama3Bpe) {
  Loaded l = load(test::data_path("tokenizer/tiny_llama3.gguf"));
  ASSERT_TRUE(l.tok);
  EXPECT_EQ(l.tok->pre().kind, PreKind::Llama3);
  check_goldens(*l.tok, "tokenizer/tiny_llama3.json");
}

TEST(TokenizerGolden, TinyQwen2Bpe) {
  Loaded l = load(test::data_path("tokenizer/tiny_qwen2.gguf"));
  ASSERT_TRUE(l.tok);
  EXPECT_EQ(l.tok->pre().kind, PreKind::Qwen2);
  check_goldens(*l.tok, "tokenizer/tiny_qwen2.json");
}

TEST(TokenizerGolden, TinyGpt2Bpe) {
  Loaded l = load(test::data_path("tokenizer/tiny_gpt2.gguf"));
  ASSERT_TRUE(l.tok);
  EXPECT_EQ(l.tok->pre().kind, PreKind::Gpt2);
  check_goldens(*l.tok, "tokenizer/tiny_gpt2.json");
}

TEST(TokenizerGolden, TinyDefaultBpe) {
  Loaded l = load(test::data_path("tokenizer/tiny_default.gguf"));
  ASSERT_TRUE(l.tok);
  EXPECT_EQ(l.tok->pre().kind, PreKind::Default);
  check_goldens(*l.tok, "tokenizer/tiny_default.json");
}

TEST(TokenizerGolden, TinySentencePiece) {
  Loaded l = load(test::data_path("tokenizer/tiny_spm.gguf"));
  ASSERT_TRUE(l.tok);
  EXPECT_EQ(l.tok->kind(), VocabKind::Spm);
  EXPECT_TRUE(l.tok->add_space_prefix());
  check_goldens(*l.tok, "tokenizer/tiny_spm.json");
}

TEST(TokenizerGolden, TinySentencePieceNoSpacePrefix) {
  Loaded l = load(test::data_path("tokenizer/tiny_spm_noprefix.gguf"));
  ASSERT_TRUE(l.tok);
  EXPECT_FALSE(l.tok->add_space_prefix());
  check_goldens(*l.tok, "tokenizer/tiny_spm_noprefix.json");
}

// ---- round trips and robustness ------------------------------------------------------

std::string random_utf8(std::mt19937& rng, size_t n_cps) {
  // Codepoints from assorted blocks: ASCII, Latin-1, Greek/Cyrillic, CJK, emoji, spaces.
  static const std::pair<uint32_t, uint32_t> kBlocks[] = {
      {0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0xFF},     {0x370, 0x4FF}, {0x4E00, 0x9FFF},
      {0x3040, 0x30FF}, {0x1F300, 0x1FAFF}, {0x2000, 0x206F}, {0x30, 0x39},   {0xAC00, 0xD7A3}};
  std::uniform_int_distribution<size_t> pick(0, std::size(kBlocks) - 1);
  std::string s;
  for (size_t i = 0; i < n_cps; ++i) {
    const auto [lo, hi] = kBlocks[pick(rng)];
    std::uniform_int_distribution<uint32_t> cp(lo, hi);
    append_utf8(cp(rng), s);
  }
  return s;
}

TEST(TokenizerRoundTrip, DefaultModelValidUtf8) {
  const std::string path = default_model_or_fail();
  if (path.empty()) return;
  Loaded l = load(path);
  ASSERT_TRUE(l.tok);
  const Json g = load_json("tokenizer/smollm2.json");
  for (const Json& c : g["cases"].arr) {
    const std::string text = unhex(c["text_hex"].str);
    if (!valid_utf8(text)) continue;
    EXPECT_EQ(l.tok->decode(l.tok->encode(text, {.add_special = true, .parse_special = false})),
              text)
        << c["name"].str;
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 200; ++i) {
    const std::string text = random_utf8(rng, 1 + i % 40);
    const auto ids = l.tok->encode(text, {.add_special = true, .parse_special = false});
    ASSERT_EQ(l.tok->decode(ids), text) << "random case " << i;
  }
}

TEST(TokenizerRoundTrip, TinyVocabsValidUtf8) {
  // The Qwen2 and SentencePiece vocabularies do not clean up spaces, so text survives
  // exactly (SentencePiece: its leading space prefix is removed again on decode).
  for (const char* name : {"tokenizer/tiny_qwen2.gguf", "tokenizer/tiny_spm_noprefix.gguf"}) {
    Loaded l = load(test::data_path(name));
    ASSERT_TRUE(l.tok) << name;
    std::mt19937 rng(99);
    for (int i = 0; i < 100; ++i) {
      const std::string text = random_utf8(rng, 1 + i % 30);
      const auto ids = l.tok->encode(text, {.add_special = false, .parse_special = false});
      ASSERT_EQ(l.tok->decode(ids), text) << name << " random case " << i;
    }
  }
}

TEST(TokenizerRobustness, InvalidUtf8BecomesReplacementCharacter) {
  Loaded l = load(test::data_path("tokenizer/tiny_qwen2.gguf"));
  ASSERT_TRUE(l.tok);
  // Every byte that starts no complete sequence becomes U+FFFD (as llama.cpp does).
  const std::string bad = std::string("a\x80") + "b\xC3" + "\xFF\xF0\x9F\x98";
  const auto ids = l.tok->encode(bad, {.add_special = false});
  EXPECT_EQ(l.tok->decode(ids),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 200; ++i) {
    std::string junk;
    for (int k = 0; k < 1 + i % 50; ++k) junk.push_back(static_cast<char>(byte(rng)));
    const auto out =
        l.tok->decode(l.tok->encode(junk, {.add_special = true, .parse_special = true}),
                      {.remove_special = false, .unparse_special = true});
    EXPECT_TRUE(utf8_structure_ok(out)) << "junk case " << i;
  }
}

TEST(TokenizerRobustness, OutOfRangeIdsDecodeToNothing) {
  Loaded l = load(test::data_path("tokenizer/tiny_spm.gguf"));
  ASSERT_TRUE(l.tok);
  const std::vector<TokenId> ids = {-5, l.tok->n_vocab(), 1 << 30};
  EXPECT_EQ(l.tok->decode(ids), "");
  EXPECT_EQ(l.tok->token_to_piece(-1), "");
}

// ---- streaming -----------------------------------------------------------------------

TEST(TokenizerStream, NeverSplitsACharacter) {
  Loaded l = load(test::data_path("tokenizer/tiny_qwen2.gguf"));
  ASSERT_TRUE(l.tok);
  // Emoji and CJK are not in the tiny vocabulary: they become single-byte tokens, so
  // their UTF-8 bytes arrive one token at a time.
  const std::string text = "A 🦙 ate 患者 and é!";
  const auto ids = l.tok->encode(text, {.add_special = false});
  StreamDecoder sd(*l.tok);
  std::string joined;
  size_t split_tokens = 0;
  for (TokenId id : ids) {
    const std::string piece = l.tok->token_to_piece(id);
    if (!valid_utf8(piece)) ++split_tokens;
    const std::string out = sd.push(id);
    EXPECT_TRUE(valid_utf8(out)) << "token " << id;
    joined += out;
  }
  joined += sd.flush();
  EXPECT_GT(split_tokens, 0u) << "the test text should split characters across tokens";
  EXPECT_EQ(joined, text);
}

TEST(TokenizerStream, HoldsIncompleteBytesAndPassesStrayOnes) {
  Loaded l = load(test::data_path("tokenizer/tiny_qwen2.gguf"));
  ASSERT_TRUE(l.tok);
  StreamDecoder sd(*l.tok);
  EXPECT_EQ(sd.push_bytes("x\xF0\x9F"), "x");  // 4-byte emoji, 2 bytes so far
  EXPECT_EQ(sd.pending(), 2u);
  EXPECT_EQ(sd.push_bytes("\xA6"), "");
  EXPECT_EQ(sd.push_bytes("\x99y"), "\xF0\x9F\xA6\x99y");
  EXPECT_EQ(sd.push_bytes("\xC3"), "");
  EXPECT_EQ(sd.push_bytes("\xA9"), "\xC3\xA9");
  EXPECT_EQ(sd.push_bytes("\x80z"), "\x80z");  // a stray continuation byte cannot complete
  EXPECT_EQ(sd.push_bytes("\xE6\x82"), "");
  EXPECT_EQ(sd.flush(), "\xE6\x82");  // an unfinished character is handed out at the end
  EXPECT_EQ(sd.pending(), 0u);
}

// ---- configuration errors ------------------------------------------------------------

TEST(TokenizerConfig, UnknownPreTokenizerIsAClearError) {
  auto c = pre_config_from_name("not-a-pre");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("unknown pre-tokenizer 'not-a-pre'"), std::string::npos)
      << c.message();
  EXPECT_NE(c.message().find("smollm"), std::string::npos) << c.message();

  // Same through a whole file: rename the tiny Qwen2 file's pre-tokenizer in memory.
  std::vector<uint8_t> bytes = test::read_file(test::data_path("tokenizer/tiny_qwen2.gguf"));
  ASSERT_FALSE(bytes.empty());
  const std::string key = "tokenizer.ggml.pre";
  auto it = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  ASSERT_NE(it, bytes.end());
  // key, then u32 type (8 = string), u64 length 5, then "qwen2".
  const size_t at = static_cast<size_t>(it - bytes.begin()) + key.size() + 4 + 8;
  ASSERT_EQ(std::string(bytes.begin() + at, bytes.begin() + at + 5), "qwen2");
  bytes[at + 4] = 'X';
  auto f = gguf::File::parse(bytes.data(), bytes.size(), "renamed.gguf");
  ASSERT_TRUE(f.ok()) << f.message();
  auto t = Tokenizer::from_gguf(**f);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("unknown pre-tokenizer 'qwenX'"), std::string::npos) << t.message();
}

TEST(TokenizerConfig, KnownPreNames) {
  for (const char* n : {"default", "gpt-2", "smollm", "llama-bpe", "llama3", "qwen2", ""}) {
    EXPECT_TRUE(pre_config_from_name(n).ok()) << n;
  }
  EXPECT_TRUE(pre_config_from_name("llama-bpe")->ignore_merges);
  EXPECT_FALSE(pre_config_from_name("smollm")->clean_spaces);
}

TEST(TokenizerPre, SplitsLikeTheRegexes) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pre_tokenize(PreKind::Gpt2, "Hello world's  123!!"),
            (V{"Hello", " world", "'s", " ", " 123", "!!"}));
  EXPECT_EQ(pre_tokenize(PreKind::Smollm, "ab 1234"), (V{"ab", " ", "1", "2", "3", "4"}));
  EXPECT_EQ(pre_tokenize(PreKind::Llama3, "I'M 12345 (x)\n\n  y"),
            (V{"I", "'M", " ", "123", "45", " (", "x", ")\n\n", " ", " y"}));
  EXPECT_EQ(pre_tokenize(PreKind::Qwen2, "a12"), (V{"a", "1", "2"}));
  EXPECT_EQ(pre_tokenize(PreKind::Default, "a+b=12345"), (V{"a", "+", "b", "=", "123", "45"}));
}

// ---- chat templates ------------------------------------------------------------------

TEST(ChatTemplate, RecognisesFormats) {
  auto chatml = ChatTemplate::from_template("{{ '<|im_start|>' + m['role'] }}");
  ASSERT_TRUE(chatml.ok());
  EXPECT_EQ(chatml->format(), ChatFormat::ChatML);
  EXPECT_EQ(chatml->default_system(), "");
  auto l3 = ChatTemplate::from_template("{{ '<|start_header_id|>' + r + '<|end_header_id|>' }}");
  ASSERT_TRUE(l3.ok());
  EXPECT_EQ(l3->format(), ChatFormat::Llama3);
  auto l2 = ChatTemplate::from_template("{{ bos_token + '[INST] ' + c + ' [/INST]' }}");
  ASSERT_TRUE(l2.ok());
  EXPECT_EQ(l2->format(), ChatFormat::Llama2);
  auto none = ChatTemplate::from_template("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->format(), ChatFormat::ChatML);  // documented fallback for a missing template
  auto unknown =
      ChatTemplate::from_template("{% for m in messages %}<<{{ m.content }}>>{% endfor %}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("unrecognised chat template"), std::string::npos);
  EXPECT_NE(unknown.message().find("ChatML"), std::string::npos);
}

TEST(ChatTemplate, MatchesJinjaRenderings) {
  const Json g = load_json("tokenizer/chat.json");
  size_t n = 0;
  for (const Json& c : g["cases"].arr) {
    const std::string tname = c["template"].str;
    auto tmpl = ChatTemplate::from_template(g["templates"][tname].str);
    ASSERT_TRUE(tmpl.ok()) << tname << ": " << tmpl.message();
    std::vector<ChatMessage> msgs;
    for (const Json& m : c["messages"].arr) msgs.push_back({m["role"].str, m["content"].str});
    EXPECT_EQ(tmpl->format_chat(msgs, c["add_assistant_prompt"].b), c["expected"].str)
        << tname << " / " << c["conversation"].str;
    ++n;
  }
  EXPECT_EQ(n, 18u);
}

TEST(ChatTemplate, DefaultModelTemplateIsChatMLWithItsSystemPrompt) {
  const std::string path = default_model_or_fail();
  if (path.empty()) return;
  Loaded l = load(path);
  ASSERT_TRUE(l.tok);
  auto tmpl = ChatTemplate::from_template(l.tok->chat_template());
  ASSERT_TRUE(tmpl.ok()) << tmpl.message();
  EXPECT_EQ(tmpl->format(), ChatFormat::ChatML);
  EXPECT_EQ(tmpl->default_system(),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::string prompt = tmpl->format_chat({{"user", "Hi"}}, true);
  const auto ids = l.tok->encode(prompt, {.add_special = true, .parse_special = true});
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), l.tok->find_token("<|im_start|>"));
  EXPECT_TRUE(l.tok->is_eog(l.tok->find_token("<|im_end|>")));
}

// ---- speed ---------------------------------------------------------------------------

TEST(TokenizerSpeed, TwoThousandCharactersQuickly) {
  const std::string path = default_model_or_fail();
  if (path.empty()) return;
  Loaded l = load(path);
  ASSERT_TRUE(l.tok);
  const Json g = load_json("tokenizer/smollm2.json");
  std::string text;
  for (const Json& c : g["cases"].arr) {
    if (c["name"].str == "long_2000") text = unhex(c["text_hex"].str);
  }
  ASSERT_GE(text.size(), 2000u);
  (void)l.tok->encode(text);  // warm up
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 5;
  for (int i = 0; i < reps; ++i) (void)l.tok->encode(text);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      reps;
  std::printf("encode of a 2,000-character text: %.3f ms\n", ms);
  // The target is well under 50 ms; the bound leaves room for sanitizer and debug builds.
  EXPECT_LT(ms, 250.0);
}

}  // namespace
}  // namespace ember::tokenizer
