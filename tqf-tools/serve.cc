// tqf serve FILE.tqf [--name NAME] [--cache B] [--group]: the storage
// service. Holds the decoded layers of one model in shared memory for any
// number of `tqf run --attach NAME` processes, until SIGINT/SIGTERM.
// tqf serve --status NAME: what a service holds and who uses it.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "cli.h"
#include "commands.h"
#include "tqf/service/serve_service.h"
#include "tqf/service/shared_model.h"

namespace tqf::tools {
namespace {

const char kUsage[] =
    "usage: tqf serve FILE.tqf [--name NAME] [--cache BYTES] [--group] [--max-clients N]\n"
    "                 [--threads N]\n"
    "       tqf serve --status NAME\n"
    "  Holds the decoded layers of FILE in shared memory (/dev/shm/tqf-NAME and\n"
    "  /dev/shm/tqf-NAME.data) for `tqf run --attach NAME` processes, decoding each\n"
    "  layer when a client first needs it. Runs until SIGINT or SIGTERM, then removes\n"
    "  its shared memory. A service that died is cleaned up by the next one.\n"
    "  --name NAME        service name (default: FILE's base name and the user id)\n"
    "  --cache B          bytes of decoded layers to keep (suffixes K, M, G); least\n"
    "                     recently used layers no client is using are evicted.\n"
    "                     Default: every layer. At least one layer is kept. The token\n"
    "                     embedding and output head are held outside this budget.\n"
    "  --group            let the owner's group attach (control object 0660, decoded\n"
    "                     weights 0640: clients only read them; default 0600)\n"
    "  --max-clients N    clients attached at once (default 64)\n"
    "  --threads N        threads per layer decode (default: all cores)\n"
    "  --status NAME      print layers resident, bytes used, clients, hits and misses\n";

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int PrintStatus(const std::string& name) {
  Result<serve::ServeStatus> st = serve::ReadServeStatus(name);
  if (!st.ok()) return Fail("serve", st.status());
  const serve::ServeStatus& s = *st;
  std::printf("service    %s (pid %d, %s)\n", s.name.c_str(), s.server_pid, s.state.c_str());
  std::printf("model      %s\n", s.model_path.c_str());
  std::printf("layers     %u of %u resident (%u leased); %u slots of %s (cache %s)\n",
              s.layers_resident, s.num_layers, s.layers_leased, s.num_slots,
              HumanBytes(s.slot_bytes).c_str(), HumanBytes(s.cache_bytes).c_str());
  std::printf("memory     %s used: held tensors %s + resident layers %s\n",
              HumanBytes(s.bytes_used).c_str(), HumanBytes(s.held_bytes).c_str(),
              HumanBytes(s.bytes_used - s.held_bytes).c_str());
  std::printf(
      "requests   %llu acquires: %llu hits, %llu misses; %llu decodes (%llu prefetched) "
      "in %.3f s; %llu evictions\n",
      static_cast<unsigned long long>(s.acquires), static_cast<unsigned long long>(s.hits),
      static_cast<unsigned long long>(s.misses), static_cast<unsigned long long>(s.decodes),
      static_cast<unsigned long long>(s.prefetches), s.decode_seconds,
      static_cast<unsigned long long>(s.evictions));
  std::printf("reclaimed  %llu dead clients, %llu leases\n",
              static_cast<unsigned long long>(s.reclaimed_clients),
              static_cast<unsigned long long>(s.reclaimed_leases));
  std::printf("clients    %zu attached\n", s.clients.size());
  for (const serve::ServeStatus::Client& c : s.clients) {
    std::printf("  pid %-8d %s %llu leases, %llu acquires: %llu hits, %llu misses\n", c.pid,
                c.alive ? "alive," : "dead, ", static_cast<unsigned long long>(c.leases),
                static_cast<unsigned long long>(c.acquires),
                static_cast<unsigned long long>(c.hits), static_cast<unsigned long long>(c.misses));
  }
  return kExitOk;
}

}  // namespace

int CmdServe(int argc, char** argv) {
  Args args(argc, argv);
  std::string v, file, status_name;
  serve::ServeOptions options;
  auto usage = [](const std::string& msg) { return Usage("serve", msg, kUsage); };
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("--name", &v)) {
      options.name = v;
    } else if (args.Value("--status", &v)) {
      status_name = v;
    } else if (args.Value("--cache", &v)) {
      uint64_t b = 0;
      if (!ParseBytes(v, &b) || b > static_cast<uint64_t>(INT64_MAX)) {
        return usage("bad --cache '" + v + "' (bytes, with an optional K, M or G suffix)");
      }
      options.cache_bytes = static_cast<int64_t>(b);
    } else if (args.Is("--group")) {
      options.group = true;
    } else if (args.Value("--max-clients", &v)) {
      long long n = 0;
      if (!ParseInt(v, 1, 4096, &n)) return usage("bad --max-clients '" + v + "' (1..4096)");
      options.max_clients = static_cast<uint32_t>(n);
    } else if (args.Value("--threads", &v) || args.Value("-t", &v)) {
      long long n = 0;
      if (!ParseInt(v, 0, 4096, &n)) return usage("bad --threads '" + v + "'");
      options.decode_threads = static_cast<int>(n);
    } else {
      if (!args.error().empty()) return usage(args.error());
      std::string a = args.Next();
      if (a.size() > 1 && a[0] == '-') return usage("unknown option '" + a + "'");
      if (!file.empty()) return usage("more than one file given");
      file = a;
    }
  }
  if (!args.error().empty()) return usage(args.error());
  if (!status_name.empty()) {
    if (!file.empty()) return usage("--status takes a service name, not a file");
    return PrintStatus(status_name);
  }
  if (file.empty()) return usage("no model file given");

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);  // a closed terminal also stops it cleanly
  options.log = [](const std::string& msg) {
    std::fprintf(stderr, "tqf serve: %s\n", TerminalSafe(msg).c_str());
  };
  Result<std::unique_ptr<serve::ServeService>> service = serve::ServeService::Start(file, options);
  if (!service.ok()) return Fail("serve", file + ": " + service.status().ToString());
  const serve::ServeService& s = **service;
  std::fprintf(stderr,
               "tqf serve: serving %s as '%s': %u layer slots of %s, held tensors %s, mode %s; "
               "attach with `tqf run --attach %s`\n",
               file.c_str(), s.name().c_str(), s.num_slots(), HumanBytes(s.slot_bytes()).c_str(),
               HumanBytes(s.held_bytes()).c_str(), options.group ? "0660/0640" : "0600",
               s.name().c_str());
  const std::string name = s.name();
  Status run = (*service)->Run(g_stop);
  service->reset();  // removes the shared memory
  if (!run.ok()) return Fail("serve", run);
  std::fprintf(stderr, "tqf serve: stopped; removed the shared memory of '%s'\n", name.c_str());
  return kExitOk;
}

}  // namespace tqf::tools
