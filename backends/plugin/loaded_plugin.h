// Internal to backends/plugin: one dlopen'ed plugin and its function table, shared by the
// Registry and every Backend opened on it (the library stays loaded while any is alive).
#pragma once

#include <memory>
#include <string>

#include "backends/plugin/plugin.h"
#include "ember/backend_plugin.h"

namespace ember::plugin {

class LoadedPlugin {
 public:
  LoadedPlugin(void* handle, const ember_plugin_api& api, std::string path)
      : handle_(handle), api_(api), path_(std::move(path)) {}
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const ember_plugin_api& api() const { return api_; }
  void* ctx() const { return api_.ctx; }
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  void set_name(std::string n) { name_ = std::move(n); }

  // "plugin 'npu-ref': <what>: <the plugin's last_error> (<status>)"
  Status error(const char* what, ember_status s) const;

 private:
  void* handle_;
  ember_plugin_api api_;
  std::string path_, name_;
};

const char* status_name(ember_status s);

Expected<std::unique_ptr<PluginBackend>> make_plugin_backend(std::shared_ptr<LoadedPlugin> p, const PluginDevice& dev);

}  // namespace ember::plugin
