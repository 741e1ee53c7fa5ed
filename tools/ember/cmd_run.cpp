// ember run -m MODEL -p PROMPT: generate a continuation (or a chat reply with --chat), streamed.
#include <cstdio>

#include "runtime/tokenizer/chat.h"
#include "tools/ember/commands.h"
#include "tools/ember/common.h"

namespace ember::cli {

int cmd_run(int argc, char** argv) {
  ModelFlags mf;
  SamplingFlags sf;
  std::string prompt, system;
  int64_t n_predict = 128;
  bool chat = false, quiet = false;
  Args args("run", "Generates text from a prompt and streams it to stdout; statistics go to stderr.");
  mf.declare(args);
  args.option("-p,--prompt", &prompt, "TEXT", "the prompt (required)");
  args.option("-n,--n-predict", &n_predict, "N", "tokens to generate at most (default 128)");
  args.flag("--chat", &chat, "wrap the prompt as a user turn with the model's chat template");
  args.option("--system", &system, "TEXT", "system message for --chat (default: the template's)");
  args.flag("-q,--quiet", &quiet, "do not print statistics");
  sf.declare(args);
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;

  runtime::SessionOptions so;
  if (Status s = mf.to_options(&so); !s.ok()) return fail("run", s.message());
  if (prompt.empty()) return fail("run", "a prompt is required (-p TEXT)");
  if (n_predict < 1 || n_predict > (1 << 24))
    return fail("run", strfmt("-n must be at least 1 (got %lld)", (long long)n_predict));
  auto sampler = runtime::Sampler::create(sf.params());
  if (!sampler.ok()) return fail("run", sampler.message());

  double load_ms = 0;
  auto model = load_model_or_report("run", mf.model, &load_ms);
  if (!model) return 1;
  const tokenizer::Tokenizer& tok = model->tokenizer();

  std::string text = prompt;
  tokenizer::EncodeOptions eo;
  if (chat) {
    auto tmpl = tokenizer::ChatTemplate::from_template(tok.chat_template());
    if (!tmpl.ok()) return fail("run", tmpl.message());
    std::vector<tokenizer::ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    msgs.push_back({"user", prompt});
    text = tmpl->format_chat(msgs, true);
    eo.parse_special = true;
  }
  std::vector<int32_t> ids = tok.encode(text, eo);
  if (ids.empty()) return fail("run", "the prompt encodes to no tokens");

  auto session = create_session(*model, so);
  if (!session.ok()) return fail("run", session.message());

  tokenizer::StreamDecoder dec(tok);
  if (!chat) std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  runtime::GenerationStats st;
  int32_t seq = (*session)->new_sequence();
  Status s = runtime::generate(**session, seq, ids, static_cast<int32_t>(n_predict), *sampler,
                               [&](int32_t id) {
                                 std::string piece = dec.push(id);
                                 std::fwrite(piece.data(), 1, piece.size(), stdout);
                                 std::fflush(stdout);
                                 return true;
                               },
                               &st);
  std::string rest = dec.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputs("\n", stdout);
  if (!s.ok()) return fail("run", s.message());
  if (!quiet) print_stats(st, load_ms, **session);
  return 0;
}

}  // namespace ember::cli
