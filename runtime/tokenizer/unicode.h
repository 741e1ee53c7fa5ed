// Unicode helpers for the tokenizer: UTF-8 <-> codepoints with llama.cpp's leniency, the
// codepoint classes the pre-tokenizers test (\p{L}, \p{N}, \p{P}, White_Space; Unicode 15.1,
// generated into unicode_tables.inc by scripts/gen_unicode_tables.py), and the GPT-2
// byte <-> printable-codepoint mapping used by byte-level BPE vocabularies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Class bits of a codepoint (see unicode_tables.inc).
enum CpClass : uint8_t {
  kLetter = 1,      // \p{L}
  kNumber = 2,      // \p{N}
  kPunct = 4,       // \p{P}
  kWhitespace = 8,  // White_Space
};

// The class bits of `cp` (0 for codepoints in no class, including every cp > 0x10FFFF).
uint8_t cp_class(uint32_t cp);
inline bool is_letter(uint32_t cp) { return cp_class(cp) & kLetter; }
inline bool is_number(uint32_t cp) { return cp_class(cp) & kNumber; }
inline bool is_whitespace(uint32_t cp) { return cp_class(cp) & kWhitespace; }

// Decodes UTF-8 into codepoints the way llama.cpp does, so ids match it on bad input:
// a byte that does not start a complete sequence (stray continuation byte, truncated
// sequence, 0xF8..0xFF) becomes U+FFFD and only that one byte is consumed. Overlong forms
// and surrogates are decoded arithmetically (as llama.cpp does); a 4-byte form above
// U+10FFFF (where llama.cpp throws) is treated as invalid.
std::vector<uint32_t> utf8_to_cps(std::string_view s);
// Appends the UTF-8 encoding of cp (cp <= 0x10FFFF) to out.
void append_utf8(uint32_t cp, std::string& out);
// Length of the UTF-8 sequence that a lead byte announces (1 for continuation/invalid
// bytes), from its high nibble only, as llama.cpp's unicode_len_utf8.
size_t utf8_len_from_lead(uint8_t lead);

// GPT-2 byte-level encoding: each byte maps to one printable codepoint (its UTF-8 text).
const std::string& byte_to_bpe_char(uint8_t b);
// The byte a codepoint stands for, or -1 if cp is not one of the 256 mapped codepoints.
int bpe_char_to_byte(uint32_t cp);

}  // namespace ember::tokenizer
