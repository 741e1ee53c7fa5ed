// ember chat -m MODEL: an interactive conversation. The KV cache is kept across turns: each
// turn evaluates only the text the chat template adds after what the cache already holds.
#include <cstdio>
#include <iostream>

#include "runtime/tokenizer/chat.h"
#include "tools/ember/commands.h"
#include "tools/ember/common.h"

namespace ember::cli {

int cmd_chat(int argc, char** argv) {
  ModelFlags mf;
  SamplingFlags sf;
  std::string system;
  int64_t n_predict = 512;
  bool stats = false;
  Args args("chat", "Interactive chat with a model's chat template. One line per user turn; "
                    "an empty line or end of input ends the chat.");
  mf.declare(args);
  args.option("--system", &system, "TEXT", "system message (default: the template's)");
  args.option("-n,--n-predict", &n_predict, "N", "longest reply in tokens (default 512)");
  args.flag("--stats", &stats, "print speed and memory after every reply");
  sf.declare(args);
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;
  runtime::SessionOptions so;
  if (Status s = mf.to_options(&so); !s.ok()) return fail("chat", s.message());
  if (n_predict < 1) return fail("chat", strfmt("-n must be at least 1 (got %lld)", (long long)n_predict));
  auto sampler = runtime::Sampler::create(sf.params());
  if (!sampler.ok()) return fail("chat", sampler.message());
  double load_ms = 0;
  auto model = load_model_or_report("chat", mf.model, &load_ms);
  if (!model) return 1;
  const tokenizer::Tokenizer& tok = model->tokenizer();
  auto tmpl = tokenizer::ChatTemplate::from_template(tok.chat_template());
  if (!tmpl.ok()) return fail("chat", tmpl.message());
  auto session = create_session(*model, so);
  if (!session.ok()) return fail("chat", session.message());
  runtime::Session& s = **session;

  std::vector<tokenizer::ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  int32_t seq = s.new_sequence();
  std::string kv_text;  // the text whose tokens the cache holds
  std::string line;
  std::fprintf(stderr, "[ember] chat with %s (%s template); empty line to quit\n", model->config().name.c_str(),
               tokenizer::chat_format_name(tmpl->format()));
  for (;;) {
    std::fputs("\n> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line) || line.empty()) break;
    messages.push_back({"user", line});
    const std::string full = tmpl->format_chat(messages, true);
    std::string fresh;
    if (full.compare(0, kv_text.size(), kv_text) == 0) {
      fresh = full.substr(kv_text.size());
    } else {
      // The template re-rendered earlier turns differently: start the cache over.
      s.free_sequence(seq);
      seq = s.new_sequence();
      kv_text.clear();
      fresh = full;
    }
    tokenizer::EncodeOptions eo;
    eo.parse_special = true;
    eo.add_special = kv_text.empty();
    std::vector<int32_t> ids = tok.encode(fresh, eo);
    std::string reply;
    tokenizer::StreamDecoder dec(tok);
    runtime::GenerationStats st;
    Status gs = runtime::generate(s, seq, ids, static_cast<int32_t>(n_predict), *sampler,
                                  [&](int32_t id) {
                                    std::string piece = dec.push(id);
                                    reply += piece;
                                    std::fwrite(piece.data(), 1, piece.size(), stdout);
                                    std::fflush(stdout);
                                    return true;
                                  },
                                  &st);
    std::string rest = dec.flush();
    reply += rest;
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputs("\n", stdout);
    if (!gs.ok()) return fail("chat", gs.message());
    // The last sampled token is not in the cache yet. An end-of-turn token is re-added by the
    // template's text on the next turn; any other last token is fed now.
    if (!st.hit_eog && st.last_token >= 0 && s.seq_len(seq) < s.options().n_ctx) {
      std::vector<float> logits;
      int32_t last = st.last_token;
      if (Status e = s.eval(seq, std::span<const int32_t>(&last, 1), false, &logits); !e.ok())
        return fail("chat", e.message());
    }
    kv_text = full + reply;
    messages.push_back({"assistant", reply});
    if (stats) print_stats(st, load_ms, s);
  }
  return 0;
}

}  // namespace ember::cli
