// The checker fork-server: the zygote's job loop, per-child isolation, timeouts, capped pipe reading and
// rusage accounting. Plain C++ (no Python inside the loop); sandbox.cpp binds it as group "sandbox".
// Frames and semantics match eigenfast/sandbox/protocol.py and its Python twin pyserver.py.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eigenfast::sandbox {

struct ServerConfig {
  double cpu_time_s = 2.0;
  double wall_time_s = 5.0;
  int64_t memory_mb = 512;    // on top of the zygote's address space at fork time
  size_t max_output = 65536;  // result pipe cap in bytes
  size_t tail_bytes = 4096;   // kept from the end of stdout / stderr
  int nofile = 32;
  int workers = 1;  // checkers running at once (Server::spawn_pending); further frames wait in its queue
  int uid = -1;  // >= 0: drop to this uid/gid in the child (host is root)
  int gid = -1;
  bool read_all = false;  // with uid: keep CAP_DAC_READ_SEARCH (the Python prefix is not world-readable)
  bool allow_unconfined = false;
  int landlock_fd = -1;  // >= 0: a Landlock ruleset the zygote enters once serving (children inherit it)
  std::string workdir;
};

// Called in the zygote (before forking) when a frame admits a payload to the decoded-payload cache.
using AdmitFn = std::function<void(const std::string& key, const char* data, size_t size)>;

// Called in the zygote after a child exits cleanly (status 0, in time, output under the cap), with its job
// spec: the child compiled that checker within its limits, so the zygote may cache the compiled code.
using LearnFn = std::function<void(const std::string& spec)>;

// Called in a child once it is fully isolated, with views into the job frame (the zygote's memory, inherited):
// the spec, the 32-byte cache key (null for an inline payload) and the inline payload. It must not return
// (it runs the checker and exits), so the child never unwinds, frees or copies the server's state.
using RunChildFn = std::function<void(std::string_view spec, const char* key, std::string_view payload)>;

// The interpreter's reinitialisation in each child (PyOS_AfterFork_Child from the binding; may be null). There
// are no parent-side hooks: the zygote is single-threaded and registers no at-fork callbacks.
using AfterForkFn = void (*)();

// A Landlock ruleset granting read access beneath each path (directories: read + list); {-1, why} when the
// kernel has no Landlock or refuses. Missing paths are skipped.
std::pair<int, std::string> landlock_ruleset(const std::vector<std::string>& read_paths);

// Empty string if a forked child can install `program` (struct sock_filter array), on top of `under` when
// given, else why not.
std::string probe_seccomp(const std::string& program, const std::vector<int>& pid_slots, const std::string* under);

// Runs the fork-server on ctrl_fd/out_fd until the host closes ctrl_fd (all children reaped) or is gone.
// The server confines itself with zygote_program and each child adds child_program (see policy.py: together
// they are the checker policy). Children never return from it: each calls run_child.
void serve(int ctrl_fd, int out_fd, const ServerConfig& cfg, const std::string& zygote_program,
           const std::string& child_program, const std::vector<int>& pid_slots, const AdmitFn& admit,
           const LearnFn& learn, AfterForkFn after_fork_child, const RunChildFn& run_child);

}  // namespace eigenfast::sandbox
