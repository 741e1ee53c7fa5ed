// ember's tokenizer, built only from a GGUF file's tokenizer.* metadata.
//
// Two vocabulary kinds (tokenizer.ggml.model):
//   "gpt2"  byte-level BPE: tokens + merges (rank = position in tokenizer.ggml.merges),
//           words split first by the pre-tokenizer that tokenizer.ggml.pre names
//           (see pretokenize.h).
//   "llama" SentencePiece-style: tokens + scores, pieces merged best-score-first,
//           spaces written as U+2581, unknown characters as <0xXX> byte tokens; a space is
//           put before the text (and after every special token) when
//           tokenizer.ggml.add_space_prefix (default true) says so.
// The ids are those llama.cpp gives for the same file (tests/data/tokenizer holds its
// goldens). Behaviour on input that is not valid UTF-8 follows llama.cpp: every byte
// that does not start a complete sequence is tokenized as U+FFFD (so decoding gives
// EF BF BD there, not the original byte); nothing crashes.
//
// Special tokens (token_type CONTROL, USER_DEFINED or UNKNOWN) are cut out of the text
// before tokenization, longest first: USER_DEFINED always, CONTROL and UNKNOWN only when
// EncodeOptions::parse_special is set (llama.cpp's parse_special).
//
// A Tokenizer is immutable after construction; encode/decode may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ember/core/status.h"
#include "runtime/tokenizer/pretokenize.h"

namespace ember::gguf {
class File;
}

namespace ember::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

enum class VocabKind { Bpe, Spm };

// Token attributes (bit set), derived from tokenizer.ggml.token_type.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
};

struct EncodeOptions {
  bool add_special = true;     // add BOS / EOS where the model's add_bos / add_eos say so
  bool parse_special = false;  // recognise CONTROL / UNKNOWN token texts in the input
};

struct DecodeOptions {
  bool remove_special = false;   // drop a leading BOS / trailing EOS the model adds itself
  bool unparse_special = false;  // render CONTROL / UNKNOWN tokens as their text
};

class Tokenizer {
 public:
  // Builds the tokenizer from `file`'s metadata. Errors name the key that is missing or
  // malformed, or the unsupported model / pre-tokenizer.
  static Expected<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);

  // Text -> ids. Never fails: invalid UTF-8 is handled as described above.
  std::vector<TokenId> encode(std::string_view text, EncodeOptions opt = {}) const;
  // Ids -> text (llama.cpp's llama_detokenize, including its clean-up of spaces for the
  // pre-tokenizers that ask for it). Out-of-range ids contribute nothing.
  std::string decode(std::span<const TokenId> ids, DecodeOptions opt = {}) const;
  // The bytes one token stands for; CONTROL / UNKNOWN tokens give "" unless `special`.
  // These bytes need not be valid UTF-8 on their own (see StreamDecoder).
  std::string token_to_piece(TokenId id, bool special = false) const;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  // The token's text as stored in the vocabulary ("" for an out-of-range id).
  const std::string& token_text(TokenId id) const;
  uint32_t token_attr(TokenId id) const;
  float token_score(TokenId id) const;
  // Looks up a vocabulary text exactly; kNoToken if absent.
  TokenId find_token(std::string_view text) const;

  VocabKind kind() const { return kind_; }
  const PreConfig& pre() const { return pre_; }
  const std::string& pre_name() const { return pre_name_; }
  TokenId bos() const { return bos_; }
  TokenId eos() const { return eos_; }
  TokenId eot() const { return eot_; }
  TokenId unk() const { return unk_; }
  TokenId pad() const { return pad_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  // End-of-generation: EOS, EOT, EOM and the texts llama.cpp treats as such
  // (<|im_end|>, <|eot_id|>, <|endoftext|>, </s>, ...).
  bool is_eog(TokenId id) const;
  const std::vector<TokenId>& eog_ids() const { return eog_ids_; }
  // tokenizer.chat_template, or "" when the file has none.
  const std::string& chat_template() const { return chat_template_; }

 private:
  struct Token {
    std::string text;
    float score = 0.0f;
    uint32_t attr = kAttrNormal;
  };
  struct Fragment {
    TokenId token;  // kNoToken for raw text
    size_t offset, length;
  };

  Tokenizer() = default;
  Status load(const gguf::File& file);
  void partition_special(std::string_view text, bool parse_special,
                         std::vector<Fragment>& out) const;
  void encode_bpe(std::string_view text, std::vector<TokenId>& out) const;
  void bpe_word(const std::string& word, std::vector<TokenId>& out) const;
  void encode_spm(std::string_view text, std::vector<TokenId>& out) const;
  TokenId byte_token(uint8_t b) const;
  int merge_rank(std::string_view left, std::string_view right) const;

  VocabKind kind_ = VocabKind::Bpe;
  PreConfig pre_;
  std::string pre_name_;
  std::vector<Token> tokens_;
  std::unordered_map<std::string, TokenId> text_to_id_;
  std::unordered_map<std::string, int> merge_ranks_;  // key: left + '\0' + right
  std::vector<TokenId> special_by_length_;            // CONTROL/USER_DEFINED/UNKNOWN, longest first
  std::vector<TokenId> eog_ids_;
  std::vector<TokenId> byte_tokens_;  // SPM: <0xXX> ids (kNoToken when missing)
  TokenId bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken;
  TokenId unk_ = kNoToken, pad_ = kNoToken;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
  std::string chat_template_;
};

// Turns a stream of ids into text without ever splitting a multi-byte UTF-8 character
// across two outputs: bytes of an incomplete character are held until the rest arrives.
// Bytes that can never complete one (a stray continuation byte) are passed through.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool special = false)
      : tok_(tok), special_(special) {}
  // The text that became complete with `id` (possibly "").
  std::string push(TokenId id);
  // Feeds raw bytes (what token_to_piece gives); exposed for tests.
  std::string push_bytes(std::string_view bytes);
  // Whatever is still held (an incomplete character), emitted as is; resets the state.
  std::string flush();
  size_t pending() const { return held_.size(); }

 private:
  const Tokenizer& tok_;
  bool special_;
  std::string held_;
};

}  // namespace ember::tokenizer
