// Chat formatting from tokenizer.chat_template, without a Jinja engine: the template is
// recognised by marker substrings and the matching format is written by hand.
//
//   ChatML  ("<|im_start|>"):  <|im_start|>{role}\n{content}<|im_end|>\n ...
//           [+ "<|im_start|>assistant\n"]. When the template writes a literal default
//           system turn for conversations that do not start with one (SmolLM2 does),
//           that text is used the same way.
//   Llama 3 ("<|start_header_id|>" and "<|end_header_id|>"):
//           <|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|> ...
//           [+ "<|start_header_id|>assistant<|end_header_id|>\n\n"]
//   Llama 2 ("[INST]"): [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>
//           <s>[INST] {user} [/INST] ... (contents trimmed; nothing is added for the
//           assistant prompt, the model continues after [/INST])
// The leading BOS is not written: encode with add_special adds it. Later turns' "<s>" and
// every marker are special-token texts, so encode the result with parse_special = true.
//
// Fallbacks: a file without a template gets ChatML (as llama.cpp). A template with none of
// the markers is refused with an error naming the supported formats; a caller may then
// pick a format explicitly with ChatTemplate(ChatFormat::...).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ember/core/status.h"

namespace ember::tokenizer {

enum class ChatFormat { ChatML, Llama3, Llama2 };
const char* chat_format_name(ChatFormat f);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (others pass through for ChatML/Llama 3)
  std::string content;
};

class ChatTemplate {
 public:
  explicit ChatTemplate(ChatFormat f, std::string default_system = {})
      : format_(f), default_system_(std::move(default_system)) {}
  // Recognises `jinja` (tokenizer.chat_template); "" -> ChatML. Unknown -> error.
  static Expected<ChatTemplate> from_template(std::string_view jinja);

  ChatFormat format() const { return format_; }
  // The system turn used when the conversation has none ("" = none).
  const std::string& default_system() const { return default_system_; }

  // The prompt text for `messages`; with add_assistant_prompt, ends where the
  // assistant's reply should begin.
  std::string format_chat(const std::vector<ChatMessage>& messages,
                          bool add_assistant_prompt) const;

 private:
  ChatFormat format_;
  std::string default_system_;
};

}  // namespace ember::tokenizer
