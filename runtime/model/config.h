// Reads and validates a llama-family ModelConfig from GGUF metadata.
#pragma once

#include "ember/core/status.h"
#include "graph/models/config.h"
#include "runtime/gguf/gguf.h"

namespace ember::runtime {

// Architectures ember builds; anything else is refused by name.
bool architecture_supported(const std::string& arch);

// Reads `<arch>.*` hyperparameters. Missing required keys, zero or inconsistent values
// (n_head not divisible by n_head_kv, ...) and unsupported rope scaling are errors.
Expected<graph::ModelConfig> read_model_config(const gguf::File& file);

// Checks every tensor the config implies exists with the expected shape and a type ember
// computes with; the message names the first offending tensor.
Status check_model_tensors(const gguf::File& file, const graph::ModelConfig& cfg);

}  // namespace ember::runtime
