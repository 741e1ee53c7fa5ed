// Backend plugins: finding and loading shared libraries that implement the C ABI of
// include/ember/backend_plugin.h, and driving a plugin's device as an ember::Backend.
//
//   Registry reg;
//   reg.load_default();                 // <exe>/../plugins, then $EMBER_PLUGIN_PATH
//   for (const PluginRecord& p : reg.plugins()) ... p.loaded ? p.devices : p.refusal
//   auto be = reg.open("npu-ref:0");     // a Backend the runtime drives like the CPU one
//
// A refused plugin (not loadable, wrong ABI version, missing entry, failing init) leaves a
// record with the reason and nothing else: the rest keep working. The adapter turns every
// plugin failure into a Status carrying the plugin's own message.
//
// Placement across devices (graph/passes/place.cpp) asks each device `supports_all(graph)`
// once; the runtime cuts the placed graph into per-device subgraphs whose cross-device values
// are Input nodes (graph/partition.h) and hands each to that device's prepare()/execute() —
// exactly what a plugin's compile/execute receives, so no other entry is needed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "ember/core/status.h"

namespace ember::plugin {

struct PluginDevice {
  int index = 0;              // the plugin's own device index
  DeviceInfo info;            // info.name is the plugin's name for it, "npu-ref:0"
  std::vector<DType> dtypes;  // weight dtypes the device says it computes with
};

struct PluginRecord {
  std::string path;      // the library file
  std::string name;      // the plugin's name; the file name while it could not say
  bool loaded = false;
  std::string refusal;   // why it was refused (when !loaded)
  std::string note;      // a loaded plugin without devices: its explanation ("no OpenCL platform")
  std::vector<PluginDevice> devices;
};

class LoadedPlugin;

// A plugin device as a Backend, plus what only plugins have.
class PluginBackend : public Backend {
 public:
  // supports_all() (backend.h) goes to the plugin in one call.
  // The plugin's get_proc_address(name); nullptr when it has no such extra.
  virtual void* proc(const char* name) const = 0;
  virtual const std::string& plugin_name() const = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The default places: <directory of the executable>/../plugins, then load_env().
  void load_default();
  // Every entry of $EMBER_PLUGIN_PATH (':'-separated directories or library files).
  void load_env();
  // Every lib*.so / *.so file in `dir` (sorted by name); a missing directory loads nothing.
  void load_dir(const std::string& dir);
  // One library. The returned record (also in plugins()) says whether it loaded and, if not,
  // why. A file already loaded (same real path) is not loaded again.
  const PluginRecord& load_file(const std::string& path);

  const std::vector<PluginRecord>& plugins() const { return records_; }

  // A Backend for device `device` of plugins()[plugin].
  Expected<std::unique_ptr<PluginBackend>> open(size_t plugin, int device) const;
  // A Backend for the device named `name` ("npu-ref:0") in any loaded plugin.
  Expected<std::unique_ptr<PluginBackend>> open(const std::string& name) const;

 private:
  std::vector<PluginRecord> records_;
  std::vector<std::shared_ptr<LoadedPlugin>> loaded_;  // parallel to records_ (null if refused)
  std::vector<std::string> real_paths_;
};

// The directory of the running executable ("" when unknown).
std::string executable_dir();

}  // namespace ember::plugin
