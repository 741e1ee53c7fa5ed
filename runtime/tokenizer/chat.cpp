#include "runtime/tokenizer/chat.h"

namespace ember::tokenizer {
namespace {

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

std::string trim(std::string_view s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

// A ChatML template's literal default system turn: the text between
// "<|im_start|>system" + newline (a real one or the two characters \n) and "<|im_end|>",
// when it is plain text and the template checks for a missing system message.
std::string chatml_default_system(std::string_view t) {
  if (!contains(t, "!= 'system'") && !contains(t, "!= \"system\"")) return {};
  constexpr std::string_view kHead = "<|im_start|>system";
  for (size_t p = t.find(kHead); p != std::string_view::npos; p = t.find(kHead, p + 1)) {
    size_t b = p + kHead.size();
    if (t.substr(b, 1) == "\n") {
      b += 1;
    } else if (t.substr(b, 2) == "\\n") {
      b += 2;
    } else {
      continue;
    }
    const size_t e = t.find("<|im_end|>", b);
    if (e == std::string_view::npos) return {};
    std::string_view text = t.substr(b, e - b);
    // Only a literal: no Jinja expression or string concatenation inside.
    if (contains(text, "{") || contains(text, "}") || contains(text, "'") || contains(text, "\"")) {
      continue;
    }
    return std::string(text);
  }
  return {};
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::ChatML: return "ChatML";
    case ChatFormat::Llama3: return "Llama 3";
    case ChatFormat::Llama2: return "Llama 2";
  }
  return "?";
}

Expected<ChatTemplate> ChatTemplate::from_template(std::string_view jinja) {
  if (jinja.empty()) return ChatTemplate(ChatFormat::ChatML);
  if (contains(jinja, "<|im_start|>")) {
    return ChatTemplate(ChatFormat::ChatML, chatml_default_system(jinja));
  }
  if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|end_header_id|>")) {
    return ChatTemplate(ChatFormat::Llama3);
  }
  if (contains(jinja, "[INST]")) return ChatTemplate(ChatFormat::Llama2);
  std::string head(jinja.substr(0, 60));
  for (char& c : head) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return Error(
      "unrecognised chat template (starts \"%s%s\"): none of the markers <|im_start|> "
      "(ChatML), <|start_header_id|> (Llama 3) or [INST] (Llama 2) is in it; choose a "
      "format explicitly to override",
      head.c_str(), jinja.size() > 60 ? "..." : "");
}

std::string ChatTemplate::format_chat(const std::vector<ChatMessage>& messages,
                                      bool add_assistant_prompt) const {
  std::string out;
  switch (format_) {
    case ChatFormat::ChatML: {
      const bool has_system = !messages.empty() && messages.front().role == "system";
      if (!has_system && !default_system_.empty() && !messages.empty()) {
        out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
      }
      for (const ChatMessage& m : messages) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_assistant_prompt) out += "<|im_start|>assistant\n";
      break;
    }
    case ChatFormat::Llama3: {
      for (const ChatMessage& m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) +
               "<|eot_id|>";
      }
      if (add_assistant_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    }
    case ChatFormat::Llama2: {
      size_t first = 0;
      std::string system;
      if (!messages.empty() && messages.front().role == "system") {
        system = messages.front().content;
        first = 1;
      }
      bool first_user = true;
      for (size_t i = first; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "user") {
          std::string content = m.content;
          if (first_user && first == 1) {
            content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
          }
          if (!first_user) out += "<s>";  // the first BOS comes from the tokenizer
          out += "[INST] " + trim(content) + " [/INST]";
          first_user = false;
        } else if (m.role == "assistant") {
          out += ' ';
          out += trim(m.content);
          out += " </s>";
          first_user = false;
        }
      }
      (void)add_assistant_prompt;  // the model answers right after [/INST]
      break;
    }
  }
  return out;
}

}  // namespace ember::tokenizer
