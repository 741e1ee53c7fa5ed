// ember tokenize MODEL TEXT: the token ids (and with --pieces, each token's text) that the
// model's own tokenizer gives for TEXT. Special-token texts in TEXT are recognised unless
// --no-special; BOS/EOS are added as the model asks.
#include <cstdio>
#include <string>

#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/ember/args.h"
#include "tools/ember/commands.h"
#include "tools/ember/json.h"

namespace ember::cli {

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
      std::printf("%6d %s\n", id, json_str((*tok)->token_to_piece(id, true)).c_str());
    }
  } else {
    std::string line;
    for (tokenizer::TokenId id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace ember::cli
