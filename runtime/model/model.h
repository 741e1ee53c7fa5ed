// A loaded model: the mapped GGUF file, its validated config, its weights (views into the
// mapping, never copied; prepare-weights may keep a repacked copy in weight_store()) and its
// tokenizer.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "ember/core/status.h"
#include "graph/models/config.h"
#include "graph/models/llama.h"
#include "graph/passes/pass.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"

namespace ember::runtime {

class Model final : public graph::WeightSource {
 public:
  // Opens, parses and validates `path` (architecture, hyperparameters, every tensor's shape
  // and type, the tokenizer). Any problem is one error naming the file and what is wrong.
  static Expected<std::unique_ptr<Model>> load(const std::string& path);

  const gguf::File& file() const { return *file_; }
  const graph::ModelConfig& config() const { return config_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const graph::WeightRef* find(const std::string& name) const override;
  uint64_t weight_bytes() const { return weight_bytes_; }
  // The weights the prepare-weights pass packed for this model's sessions, shared by all of
  // them; as a weight is packed, the file pages of its plain bytes are released.
  graph::WeightStore& weight_store() const { return *weight_store_; }

 private:
  Model() = default;
  std::unique_ptr<gguf::File> file_;
  graph::ModelConfig config_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unordered_map<std::string, graph::WeightRef> weights_;
  uint64_t weight_bytes_ = 0;
  std::unique_ptr<graph::WeightStore> weight_store_;
};

}  // namespace ember::runtime
