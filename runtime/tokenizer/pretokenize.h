// Pre-tokenizers for byte-level BPE: split text into words before merges run.
//
// Each kind is the split that llama.cpp applies for a tokenizer.ggml.pre name, written
// by hand as a matcher over codepoint classes (no regex library). The regexes, in
// the order llama.cpp applies them (each one re-splits the pieces of the previous):
//   Gpt2:    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Smollm:  \p{N}   then Gpt2 (every digit is its own word)
//   Llama3:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2:   as Llama3 with \p{N} instead of \p{N}{1,3}
//   Default: [\p{P}\$\+<=>\^~\|]+  then Gpt2  then \p{N}+  then [0-9][0-9][0-9]
// A regex split keeps the text between matches as pieces of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ember/core/status.h"

namespace ember::tokenizer {

enum class PreKind { Default, Gpt2, Smollm, Llama3, Qwen2 };

// What a tokenizer.ggml.pre name selects, with the per-name flags llama.cpp sets.
struct PreConfig {
  PreKind kind = PreKind::Default;
  bool clean_spaces = true;    // detokenize drops " " before ?!., and in " 's" etc.
  bool ignore_merges = false;  // a word that is itself a token skips the merges
  bool add_bos = false;        // default for tokenizer.ggml.add_bos_token
};

// Maps a tokenizer.ggml.pre value to its config; "" means "default". An unknown name is
// an error that lists the supported ones.
Expected<PreConfig> pre_config_from_name(std::string_view name);
const char* pre_kind_name(PreKind k);

// Splits `text` into words (UTF-8; invalid bytes already replaced by U+FFFD).
std::vector<std::string> pre_tokenize(PreKind kind, std::string_view text);

}  // namespace ember::tokenizer
