// ember tokenize MODEL TEXT: the token ids (and with --pieces, each token's text) that the
// model's own tokenizer gives for TEXT. Special-token texts in TEXT are recognised unless
// --no-special; BOS/EOS are added as the model asks.
#include <cstdio>
#include <string>
#include <string_view>

#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/ember/args.h"
#include "tools/ember/commands.h"
#include "tools/ember/json.h"

namespace ember::cli {
namespace {

// A token's bytes for display: quoted, with \n \t \" \\ escaped and every byte that is
// not part of a complete UTF-8 character (half of an emoji, say) written as \xNN.
std::string show_piece(std::string_view p) {
  std::string out = "\"";
  size_t i = 0;
  while (i < p.size()) {
    const auto b = static_cast<unsigned char>(p[i]);
    size_t n = b < 0x80             ? 1
               : (b & 0xE0) == 0xC0 ? 2
               : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4
                                    : 0;
    bool whole = n > 0 && i + n <= p.size();
    for (size_t k = 1; whole && k < n; ++k) {
      whole = (static_cast<unsigned char>(p[i + k]) & 0xC0) == 0x80;
    }
    if (!whole) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      out += buf;
      i += 1;
    } else if (n == 1) {
      out += json_str(p.substr(i, 1)).substr(1, std::string::npos);
      out.pop_back();  // json_str's closing quote
      i += 1;
    } else {
      out.append(p.substr(i, n));
      i += n;
    }
  }
  return out + "\"";
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  std::string path, text;
  bool pieces = false, no_special = false, no_bos = false;
  Args args("tokenize", "Prints the token ids that MODEL's tokenizer gives for TEXT.");
  args.positional("MODEL", &path, "path to a .gguf file");
  args.positional("TEXT", &text, "the text to tokenize");
  args.flag("--pieces", &pieces, "also print each token's text, one token per line");
  args.flag("--no-special", &no_special,
            "treat special-token texts (e.g. <|im_start|>) in TEXT as plain text");
  args.flag("--no-bos", &no_bos, "do not add the BOS/EOS tokens the model asks for");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;

  auto file = gguf::File::open(path);
  if (!file.ok()) return fail("tokenize", file.message());
  auto tok = tokenizer::Tokenizer::from_gguf(**file);
  if (!tok.ok()) return fail("tokenize", tok.message());

  tokenizer::EncodeOptions opt;
  opt.add_special = !no_bos;
  opt.parse_special = !no_special;
  const std::vector<tokenizer::TokenId> ids = (*tok)->encode(text, opt);
  if (pieces) {
    for (tokenizer::TokenId id : ids) {
      std::printf("%6d %s\n", id, show_piece((*tok)->token_to_piece(id, true)).c_str());
    }
  } else {
    std::string line;
    for (tokenizer::TokenId id : ids) {
      if (!line.empty()) line += ' ';
      line += std::to_string(id);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace ember::cli
