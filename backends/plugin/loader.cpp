// Finding and loading plugins: dlopen, the entry point, the ABI version and the table's
// required entries are checked in that order, and the first failure becomes the record's
// refusal. A refused plugin is unloaded and never called again.
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backends/plugin/loaded_plugin.h"

// Under LeakSanitizer: memory that OpenCL drivers loaded by a plugin keep for the life of the
// process (PoCL's device state and the LLVM it compiles kernels with) is not ember's leak.
// Only stacks through those libraries are suppressed; a leak in ember or a plugin still fails.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_LSAN_HOOK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMBER_LSAN_HOOK 1
#endif
#ifdef EMBER_LSAN_HOOK
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libpocl.so\nleak:libpocl-devices\nleak:libLLVM\nleak:libclang-cpp\nleak:libOpenCL.so\n";
}
#endif

namespace ember::plugin {

// A plugin is shut down but its library stays mapped: drivers loaded by a plugin (an OpenCL
// ICD, say) may keep threads or atexit handlers that would run into unmapped code.
LoadedPlugin::~LoadedPlugin() {
  if (api_.shutdown) api_.shutdown(api_.ctx);
  (void)handle_;
}

const char* status_name(ember_status s) {
  switch (s) {
    case EMBER_STATUS_OK: return "ok";
    case EMBER_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case EMBER_STATUS_UNSUPPORTED: return "unsupported";
    case EMBER_STATUS_OUT_OF_MEMORY: return "out of memory";
    case EMBER_STATUS_DEVICE_ERROR: return "device error";
    case EMBER_STATUS_INTERNAL: return "internal error";
  }
  return "unknown status";
}

Status LoadedPlugin::error(const char* what, ember_status s) const {
  const char* msg = api_.last_error ? api_.last_error(api_.ctx) : nullptr;
  std::string m = msg && *msg ? msg : "(the plugin gave no message)";
  return Error("plugin '%s': %s: %s (%s)", name_.c_str(), what, m.c_str(), status_name(s));
}

namespace {

std::string base_name(const std::string& p) {
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// The first required entry that is NULL, or nullptr when the table is complete.
const char* missing_entry(const ember_plugin_api& a) {
#define EMBER_REQUIRE(f) \
  if (!a.f) return #f;
  EMBER_REQUIRE(shutdown)
  EMBER_REQUIRE(last_error)
  EMBER_REQUIRE(device_count)
  EMBER_REQUIRE(device_props)
  EMBER_REQUIRE(buffer_alloc)
  EMBER_REQUIRE(buffer_free)
  EMBER_REQUIRE(queue_create)
  EMBER_REQUIRE(queue_destroy)
  EMBER_REQUIRE(copy_to_device)
  EMBER_REQUIRE(copy_to_host)
  EMBER_REQUIRE(queue_synchronize)
  EMBER_REQUIRE(supports)
  EMBER_REQUIRE(compile)
  EMBER_REQUIRE(plan_destroy)
  EMBER_REQUIRE(execute)
#undef EMBER_REQUIRE
  return nullptr;
}

}  // namespace

std::string executable_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  std::string p(buf);
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? "" : p.substr(0, s);
}

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::load_default() {
  std::string exe = executable_dir();
  if (!exe.empty()) {
    char real[PATH_MAX];
    const std::string dir = exe + "/../plugins";
    load_dir(realpath(dir.c_str(), real) ? std::string(real) : dir);
  }
  load_env();
}

void Registry::load_env() {
  const char* env = std::getenv("EMBER_PLUGIN_PATH");
  if (!env) return;
  std::string s(env);
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    std::string entry = s.substr(start, end - start);
    if (!entry.empty()) {
      DIR* d = opendir(entry.c_str());
      if (d) {
        closedir(d);
        load_dir(entry);
      } else {
        load_file(entry);
      }
    }
    start = end + 1;
  }
}

void Registry::load_dir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> files;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 3 && n.compare(n.size() - 3, 3, ".so") == 0) files.push_back(dir + "/" + n);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) (void)load_file(f);
}

const PluginRecord& Registry::load_file(const std::string& path) {
  char real[PATH_MAX];
  std::string rp = realpath(path.c_str(), real) ? std::string(real) : path;
  for (size_t i = 0; i < real_paths_.size(); ++i)
    if (real_paths_[i] == rp) return records_[i];

  PluginRecord rec;
  rec.path = path;
  rec.name = base_name(path);
  auto refuse = [&](std::string why) -> const PluginRecord& {
    rec.refusal = std::move(why);
    records_.push_back(std::move(rec));
    loaded_.push_back(nullptr);
    real_paths_.push_back(rp);
    return records_.back();
  };

  // RTLD_LOCAL: two plugins may define the same internal symbols without meeting.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    return refuse(std::string("cannot load the library: ") + (e ? e : "unknown dlopen error"));
  }
  auto init = reinterpret_cast<ember_plugin_init_fn>(dlsym(h, EMBER_PLUGIN_INIT_SYMBOL));
  if (!init) {
    dlclose(h);
    return refuse("no entry point '" EMBER_PLUGIN_INIT_SYMBOL "' (not an ember backend plugin)");
  }
  ember_plugin_api api;
  std::memset(&api, 0, sizeof api);
  char err[512] = {0};
  ember_status st = init(EMBER_PLUGIN_ABI_VERSION, &api, err, sizeof err);
  err[sizeof err - 1] = '\0';
  if (st != EMBER_STATUS_OK) {
    dlclose(h);
    return refuse(strfmt("initialisation failed: %s (%s)", err[0] ? err : "(no reason given)", status_name(st)));
  }
  // A plugin built for another ABI filled a table of another layout: call nothing in it.
  if (api.abi_version != EMBER_PLUGIN_ABI_VERSION) {
    dlclose(h);
    return refuse(strfmt("built for plugin ABI version %u, this ember speaks version %u; rebuild it against "
                         "this ember's include/ember/backend_plugin.h",
                         api.abi_version, EMBER_PLUGIN_ABI_VERSION));
  }
  if (api.struct_size < sizeof(ember_plugin_api)) {
    dlclose(h);
    return refuse(strfmt("its function table is %u bytes, ABI version %u needs %zu", api.struct_size,
                         EMBER_PLUGIN_ABI_VERSION, sizeof(ember_plugin_api)));
  }
  if (api.plugin_name && *api.plugin_name) rec.name = api.plugin_name;
  auto lp = std::make_shared<LoadedPlugin>(h, api, path);
  lp->set_name(rec.name);
  if (const char* miss = missing_entry(api)) {
    // The table has the right layout, so shutdown (if given) can release the plugin.
    return refuse(strfmt("required entry '%s' is NULL", miss));
  }
  const bool any_event = api.event_record || api.event_wait || api.event_synchronize || api.event_destroy;
  const bool all_event = api.event_record && api.event_wait && api.event_synchronize && api.event_destroy;
  if (any_event && !all_event) return refuse("event entries must be all set or all NULL");
  for (size_t i = 0; i < records_.size(); ++i)
    if (loaded_[i] && records_[i].name == rec.name)
      return refuse(strfmt("a plugin named '%s' is already loaded from %s", rec.name.c_str(), records_[i].path.c_str()));

  const int32_t n = api.device_count(api.ctx);
  if (n < 0) return refuse(lp->error("device_count", EMBER_STATUS_INTERNAL).message());
  if (n == 0) {
    const char* why = api.last_error(api.ctx);
    rec.note = why && *why ? why : "no devices found";
  }
  for (int32_t d = 0; d < n; ++d) {
    ember_device_props pr;
    std::memset(&pr, 0, sizeof pr);
    ember_status s = api.device_props(api.ctx, d, &pr);
    if (s != EMBER_STATUS_OK) return refuse(lp->error(strfmt("device_props(%d)", d).c_str(), s).message());
    PluginDevice dev;
    dev.index = d;
    dev.info.name = pr.name && *pr.name ? pr.name : strfmt("%s:%d", rec.name.c_str(), d);
    dev.info.vendor = pr.vendor ? pr.vendor : "";
    dev.info.memory_bytes = pr.memory_bytes;
    dev.info.host_visible = pr.host_visible != 0 && api.buffer_host_ptr;
    dev.info.threads = 1;
    for (int32_t k = 0; k < pr.n_dtypes && pr.dtypes; ++k) dev.dtypes.push_back(static_cast<DType>(pr.dtypes[k]));
    rec.devices.push_back(std::move(dev));
  }
  rec.loaded = true;
  records_.push_back(std::move(rec));
  loaded_.push_back(std::move(lp));
  real_paths_.push_back(rp);
  return records_.back();
}

Expected<std::unique_ptr<PluginBackend>> Registry::open(size_t plugin, int device) const {
  if (plugin >= records_.size()) return Error("no plugin %zu (%zu found)", plugin, records_.size());
  const PluginRecord& r = records_[plugin];
  if (!r.loaded) return Error("plugin '%s' was refused: %s", r.name.c_str(), r.refusal.c_str());
  if (device < 0 || static_cast<size_t>(device) >= r.devices.size())
    return Error("plugin '%s' has no device %d (it has %zu)", r.name.c_str(), device, r.devices.size());
  return make_plugin_backend(loaded_[plugin], r.devices[device]);
}

Expected<std::unique_ptr<PluginBackend>> Registry::open(const std::string& name) const {
  for (size_t p = 0; p < records_.size(); ++p)
    for (size_t d = 0; d < records_[p].devices.size(); ++d)
      if (records_[p].loaded && records_[p].devices[d].info.name == name) return open(p, static_cast<int>(d));
  return Error("no device named '%s' (see 'ember devices')", name.c_str());
}

}  // namespace ember::plugin
