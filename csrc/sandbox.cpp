// Checker fork-server (see sandbox.h). The zygote calls serve() once; it only returns in the zygote when the
// host hangs up, and in each child after isolation, so the child's Python can run the checker.
#include "sandbox.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <linux/capability.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "checker_runtime.h"
#include "payload_layout.h"
#include "pymsgpack.h"
#include "registry.h"

namespace eigenfast::sandbox {
namespace {

// Keep in sync with eigenfast/sandbox/protocol.py.
constexpr size_t kJobHeader = 4 + 8 + 1 + 32 + 4;
constexpr uint8_t kInline = 0, kAdmit = 1;
constexpr uint8_t kWallTimeout = 1, kOverflow = 2, kSpawnFailed = 4, kHello = 8, kConfined = 16, kLandlock = 32;
constexpr int kIdleMs = 1000;

int64_t now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One result frame, written without building it in memory: the zygote's heap is shared copy-on-write with
// its running children, so every allocation here would copy pages.
bool send_result(int out_fd, uint64_t id, int32_t status, uint8_t flags, uint64_t wall_us, uint64_t cpu_us,
                 uint64_t maxrss_kb, const std::string& result, const std::string& out, const std::string& err) {
  char head[53];
  char* h = head;
  auto put = [&h](auto v) {
    std::memcpy(h, &v, sizeof(v));  // x86-64 and aarch64 are little-endian
    h += sizeof(v);
  };
  put(uint32_t(49 + result.size() + out.size() + err.size()));
  put(id);
  put(status);
  put(flags);
  put(wall_us);
  put(cpu_us);
  put(maxrss_kb);
  put(uint32_t(result.size()));
  put(uint32_t(out.size()));
  put(uint32_t(err.size()));
  iovec iov[4] = {{head, sizeof(head)},
                  {const_cast<char*>(result.data()), result.size()},
                  {const_cast<char*>(out.data()), out.size()},
                  {const_cast<char*>(err.data()), err.size()}};
  int first = 0;
  while (first < 4) {
    ssize_t w = writev(out_fd, iov + first, 4 - first);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd pfd{out_fd, POLLOUT, 0};
        poll(&pfd, 1, -1);
        continue;
      }
      return false;
    }
    for (; first < 4 && size_t(w) >= iov[first].iov_len; ++first) w -= ssize_t(iov[first].iov_len);
    if (first < 4) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + w;
      iov[first].iov_len -= size_t(w);
    }
  }
  return true;
}

// The filter, with this pid in its slots; the caller has set no_new_privs (children inherit it).
int install_filter(const std::string& program, const std::vector<int>& slots) {
  std::vector<sock_filter> code(program.size() / sizeof(sock_filter));
  std::memcpy(code.data(), program.data(), code.size() * sizeof(sock_filter));
  const uint32_t self = uint32_t(getpid());
  for (int s : slots) {
    if (s >= 0 && size_t(s) < code.size()) code[size_t(s)].k = self;
  }
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return errno;
  return 0;
}

[[noreturn]] void child_fail(const char* what) {
  const int err = errno;
  dprintf(2, "sandbox child setup failed: %s: %s\n", what, strerror(err));
  _exit(125);
}

void set_limit(int resource, rlim_t value, rlim_t hard) {
  rlimit rl{value, hard};
  if (setrlimit(resource, &rl) != 0) child_fail("setrlimit");
}

// The zygote's address space in bytes, from an fd on /proc/self/statm opened once: a child opening
// /proc/self itself pays a slow path walk for its brand-new pid (~6% of a trivial check's CPU).
uint64_t address_space_bytes(int statm_fd) {
  char buf[128];
  const ssize_t n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return uint64_t(std::strtoull(buf, nullptr, 10)) * uint64_t(sysconf(_SC_PAGESIZE));
}

// Everything between fork() and the checker's first byte; any failure ends the child (exit 125). ends are the
// write ends of the stdout, stderr and result pipes and the read end of the gate (stdin, see Server::stage);
// base_as is the zygote's address space at fork time.
void isolate_child(const ServerConfig& cfg, const int ends[4], uint64_t base_as,
                   const std::string& program, const std::vector<int>& slots, bool confined, pid_t zygote) {
  // Its own process group, for killing the whole group. Not setsid(): with scheduler autogroups each new session
  // builds (and at exit frees) a task group, a tenth of a trivial check's cost.
  if (setpgid(0, 0) < 0) child_fail("setpgid");
  prctl(PR_SET_NAME, "eigenfast-chk", 0, 0, 0);  // tells checker children apart in ps/top/perf
  int src[4] = {ends[3], ends[0], ends[1], ends[2]};  // -> fds 0 (gate), 1 (stdout), 2 (stderr), 3 (result)
  if (*std::min_element(src, src + 4) < 4) {  // a source among the targets: move them all out of the way first
    for (int& fd : src) {
      fd = fcntl(fd, F_DUPFD_CLOEXEC, 64);
      if (fd < 0) child_fail("dup");
    }
  }
  for (int i = 0; i < 4; ++i) {
    if (dup2(src[i], i) < 0) child_fail("dup2");
  }
  if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
    for (int fd = 4; fd < 65536; ++fd) close(fd);
  }
  if (chdir(cfg.workdir.c_str()) != 0) child_fail("chdir");
  clearenv();
  setenv("HOME", cfg.workdir.c_str(), 1);  // so expanduser("~") never falls back to an NSS (socket) lookup
  const auto cpu = rlim_t(std::max(1.0, cfg.cpu_time_s + 0.999));
  set_limit(RLIMIT_CPU, cpu, cpu + 1);
  const rlim_t as = rlim_t(base_as + (uint64_t(cfg.memory_mb) << 20));
  set_limit(RLIMIT_AS, as, as);
  set_limit(RLIMIT_FSIZE, 0, 0);  // not in the zygote: its stderr may be a file
  set_limit(RLIMIT_NOFILE, rlim_t(cfg.nofile), rlim_t(cfg.nofile));
  set_limit(RLIMIT_NPROC, 0, 0);  // core and locked memory are 0 in the zygote already (serve)
  if (cfg.uid >= 0) {
    if (cfg.read_all && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) child_fail("keepcaps");
    if (setgroups(0, nullptr) != 0) child_fail("setgroups");
    if (setresgid(gid_t(cfg.gid), gid_t(cfg.gid), gid_t(cfg.gid)) != 0) child_fail("setresgid");
    if (setresuid(uid_t(cfg.uid), uid_t(cfg.uid), uid_t(cfg.uid)) != 0) child_fail("setresuid");
    if (cfg.read_all) {  // keep exactly CAP_DAC_READ_SEARCH so imports from a root-only prefix still work
      __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[2]{};
      data[0].effective = data[0].permitted = 1U << CAP_DAC_READ_SEARCH;
      if (syscall(SYS_capset, &head, data) != 0) child_fail("capset");
    }
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) child_fail("pdeathsig");
  if (getppid() != zygote) _exit(1);
  if (confined) {
    const int err = install_filter(program, slots);
    if (err != 0) {
      errno = err;
      child_fail("seccomp");
    }
  }
}

struct Job {
  uint64_t id = 0;
  pid_t pid = -1;
  int pidfd = -1;
  int gate = -1;              // write end of the child's stdin; closing it starts the checker
  int fds[3] = {-1, -1, -1};  // result, stdout, stderr
  std::string bufs[3];
  std::string spec;
  int64_t start_us = 0;
  int64_t deadline_us = 0;
  uint8_t flags = 0;
  bool exit_seen = false;
  bool started = false;
  bool delivered = false;  // its result pipe reached EOF: only the kernel's teardown of the child is left
};

// Reads what is available; false at EOF. The result keeps at most cap+1 bytes, outputs keep a tail of cap.
bool drain(int fd, std::string& buf, size_t cap, bool tail) {
  char tmp[65536];
  for (;;) {
    const ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n > 0) {
      if (tail) {
        buf.append(tmp, size_t(n));
        if (buf.size() > 2 * cap) buf.erase(0, buf.size() - cap);
      } else {
        buf.append(tmp, std::min(size_t(n), cap + 1 - std::min(buf.size(), cap + 1)));
        if (buf.size() > cap) return true;
      }
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN;
  }
}

void kill_job(Job& job) {
  kill(-job.pid, SIGKILL);
  kill(job.pid, SIGKILL);
}

void close_job_fds(Job& job) {
  for (int& fd : job.fds) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (job.pidfd >= 0) close(job.pidfd);
  if (job.gate >= 0) close(job.gate);
  job.pidfd = job.gate = -1;
}

class Server {
 public:
  Server(int ctrl_fd, int out_fd, const ServerConfig& cfg, const std::string& program,
         const std::vector<int>& slots, const AdmitFn& admit, const LearnFn& learn, AfterForkFn after_fork_child,
         const RunChildFn& run_child, bool confined)
      : ctrl_(ctrl_fd), out_(out_fd), cfg_(cfg), program_(program), slots_(slots), admit_(admit), learn_(learn),
        after_fork_child_(after_fork_child), run_child_(run_child), confined_(confined), zygote_(getpid()),
        statm_(open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) {}

  ~Server() {
    if (statm_ >= 0) close(statm_);
  }

  void run() {
    if (statm_ < 0) return;
    fcntl(ctrl_, F_SETFL, fcntl(ctrl_, F_GETFL) | O_NONBLOCK);
    bool ctrl_open = true;
    std::vector<pollfd> pfds;
    std::vector<std::pair<Job*, int>> owners;  // stream index, -1 = pidfd
    while (ctrl_open || !jobs_.empty()) {
      pfds.clear();
      owners.clear();
      if (ctrl_open) {
        pfds.push_back({ctrl_, POLLIN, 0});
        owners.emplace_back(nullptr, 0);
      }
      int64_t wait_us = int64_t(kIdleMs) * 1000;
      const int64_t now = now_us();
      for (auto& j : jobs_) {
        for (int s = 0; s < 3; ++s) {
          if (j->fds[s] >= 0) {
            pfds.push_back({j->fds[s], POLLIN, 0});
            owners.emplace_back(j, s);
          }
        }
        if (j->pidfd >= 0) {
          pfds.push_back({j->pidfd, POLLIN, 0});
          owners.emplace_back(j, -1);
        } else {
          wait_us = std::min<int64_t>(wait_us, 2000);  // no pidfd: poll for the exit
        }
        if (!(j->flags & kWallTimeout)) wait_us = std::min(wait_us, j->deadline_us - now);
      }
      const int timeout_ms = int(std::max<int64_t>(0, wait_us) / 1000) + 1;
      const int n = poll(pfds.data(), pfds.size(), timeout_ms);
      if (n < 0 && errno != EINTR) return;
      for (size_t i = 0; n > 0 && i < pfds.size(); ++i) {
        if (pfds[i].revents == 0) continue;
        auto [j, s] = owners[i];
        if (j == nullptr) {
          read_control(&ctrl_open);
          continue;
        }
        if (s < 0) {
          j->exit_seen = true;
          continue;
        }
        const size_t cap = s == 0 ? cfg_.max_output : cfg_.tail_bytes;
        if (!drain(j->fds[s], j->bufs[s], cap, s > 0)) {
          close(j->fds[s]);
          j->fds[s] = -1;
          if (s == 0) j->delivered = true;
        } else if (s == 0 && j->bufs[0].size() > cfg_.max_output && !(j->flags & kOverflow)) {
          j->flags |= kOverflow;
          kill_job(*j);
        }
      }
      if (!ctrl_open && !killed_all_) {
        for (auto& j : jobs_) kill_job(*j);
        head_ = inbuf_.size();  // drop queued frames
        killed_all_ = true;
      }
      if (!reap()) return;
      spawn_pending();
      const int64_t after = now_us();
      for (auto& j : jobs_) {
        if (after >= j->deadline_us && !(j->flags & kWallTimeout)) {
          j->flags |= kWallTimeout;
          kill_job(*j);
        }
      }
    }
  }

 private:
  // Appends what the control pipe holds to inbuf_; EOF clears *open. Frames are used in place from head_ on:
  // the zygote's heap is shared copy-on-write with its running children, so its loop allocates nothing.
  void read_control(bool* open) {
    if (head_ == inbuf_.size()) {
      inbuf_.clear();
      head_ = 0;
    } else if (head_ > inbuf_.size() / 2) {
      inbuf_.erase(0, head_);
      head_ = 0;
    }
    char tmp[1 << 16];
    for (;;) {
      const ssize_t n = read(ctrl_, tmp, sizeof(tmp));
      if (n > 0) {
        inbuf_.append(tmp, size_t(n));
        continue;
      }
      if (n == 0) *open = false;
      if (n < 0 && errno == EINTR) continue;
      break;
    }
  }

  // The size of the complete frame at head_, or 0.
  size_t next_frame() const {
    if (inbuf_.size() - head_ < 4) return 0;
    const size_t size = size_t(get<uint32_t>(inbuf_.data() + head_)) + 4;
    return inbuf_.size() - head_ >= size ? size : 0;
  }

  // Starts queued jobs while fewer than `workers` checkers run, so the next one starts the moment one ends,
  // without a round trip to the host. Up to `workers` more children are forked ahead and wait, fully isolated,
  // at their gate (stage): starting one is a close(), and the fork overlaps running checkers instead of
  // leaving a core idle. A child that has delivered its report (closed its result pipe) no longer counts: its
  // exit, the kernel tearing down its address space, takes as long as a trivial check. Alive children of all
  // three kinds stay under 3 * `workers`.
  void spawn_pending() {
    const size_t workers = size_t(std::max(1, cfg_.workers));
    for (;;) {
      size_t running = 0, staged = 0;
      Job* next = nullptr;  // the oldest staged job
      for (Job* j : jobs_) {
        if (!j->started) {
          ++staged;
          if (next == nullptr) next = j;
        } else if (!j->delivered) {
          ++running;
        }
      }
      if (next != nullptr && running < workers) {
        start(next);
        continue;
      }
      const size_t size = next_frame();
      if (size == 0 || staged >= workers || jobs_.size() >= 3 * workers) return;
      const char* frame = inbuf_.data() + head_;
      head_ += size;
      stage(frame, size);
    }
  }

  void start(Job* job) {
    close(job->gate);
    job->gate = -1;
    job->started = true;
    job->start_us = now_us();
    job->deadline_us = job->start_us + int64_t(cfg_.wall_time_s * 1e6);
  }

  // Forks the job's child, which isolates itself and then blocks reading its stdin until start() closes the
  // other end.
  void stage(const char* frame, size_t size) {
    if (size < kJobHeader) return;
    const uint64_t id = get<uint64_t>(frame + 4);
    const uint8_t mode = get<uint8_t>(frame + 12);
    const char* key = frame + 13;  // 32 bytes
    const uint32_t spec_len = std::min<uint32_t>(get<uint32_t>(frame + 45), uint32_t(size - kJobHeader));
    const std::string_view spec(frame + kJobHeader, spec_len);
    const std::string_view payload(spec.data() + spec_len, size - kJobHeader - spec_len);
    if (mode == kAdmit) admit_(std::string(key, 32), payload.data(), payload.size());
    int pipes[4][2];  // result, stdout, stderr, gate
    for (int i = 0; i < 4; ++i) {
      if (pipe2(pipes[i], O_CLOEXEC) != 0) {
        const std::string why = std::string("pipe: ") + strerror(errno);
        for (int k = 0; k < i; ++k) close(pipes[k][0]), close(pipes[k][1]);
        send_result(out_, id, 0, kSpawnFailed, 0, 0, 0, why, "", "");
        return;
      }
    }
    const uint64_t base_as = address_space_bytes(statm_);
    const pid_t pid = fork();
    if (pid == 0) {
      if (after_fork_child_) after_fork_child_();
      const int ends[4] = {pipes[1][1], pipes[2][1], pipes[0][1], pipes[3][0]};
      isolate_child(cfg_, ends, base_as, program_, slots_, confined_, zygote_);
      char go;
      while (read(0, &go, 1) < 0 && errno == EINTR) {
      }
      run_child_(spec, mode == kInline ? nullptr : key, mode == kInline ? payload : std::string_view());
      _exit(126);  // run_child never returns
    }
    for (int i = 0; i < 3; ++i) close(pipes[i][1]);
    close(pipes[3][0]);
    if (pid < 0) {
      const std::string why = std::string("fork: ") + strerror(errno);
      for (int i = 0; i < 3; ++i) close(pipes[i][0]);
      close(pipes[3][1]);
      send_result(out_, id, 0, kSpawnFailed, 0, 0, 0, why, "", "");
      return;
    }
    Job* job = acquire_job();
    job->id = id;
    job->pid = pid;
    job->pidfd = int(syscall(SYS_pidfd_open, pid, 0));
    job->spec.assign(spec.data(), spec.size());
    job->gate = pipes[3][1];
    for (int s = 0; s < 3; ++s) {
      job->fds[s] = pipes[s][0];
      fcntl(job->fds[s], F_SETFL, O_NONBLOCK);
    }
    job->start_us = now_us();
    job->deadline_us = INT64_MAX;  // the clock runs from start()
    jobs_.push_back(job);
  }

  // Jobs are recycled with their buffers' capacity, so steady state allocates nothing.
  Job* acquire_job() {
    if (spare_.empty()) {
      pool_.push_back(std::make_unique<Job>());
      return pool_.back().get();
    }
    Job* job = spare_.back();
    spare_.pop_back();
    return job;
  }

  void release_job(Job* job) {
    for (auto& b : job->bufs) b.clear();
    job->flags = 0;
    job->exit_seen = job->started = job->delivered = false;
    spare_.push_back(job);
  }

  // Collects exited children and reports them; false if the host is gone.
  bool reap() {
    for (size_t i = 0; i < jobs_.size();) {
      Job& j = *jobs_[i];
      if (j.pidfd >= 0 && !j.exit_seen) {
        ++i;
        continue;
      }
      int status = 0;
      rusage ru{};
      const pid_t r = wait4(j.pid, &status, WNOHANG, &ru);
      if (r == 0) {
        ++i;
        continue;
      }
      const uint64_t wall = uint64_t(now_us() - j.start_us);
      for (int s = 0; s < 3; ++s) {
        if (j.fds[s] >= 0) drain(j.fds[s], j.bufs[s], s == 0 ? cfg_.max_output : cfg_.tail_bytes, s > 0);
      }
      if (j.bufs[0].size() > cfg_.max_output) {
        j.flags |= kOverflow;
        j.bufs[0].clear();
      }
      for (int s = 1; s < 3; ++s) {
        if (j.bufs[s].size() > cfg_.tail_bytes) j.bufs[s].erase(0, j.bufs[s].size() - cfg_.tail_bytes);
      }
      const uint64_t cpu = uint64_t(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                           uint64_t(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
      close_job_fds(j);
      const bool sent = send_result(out_, j.id, r < 0 ? 0 : status, j.flags, wall, cpu, uint64_t(ru.ru_maxrss),
                                    j.bufs[0], j.bufs[1], j.bufs[2]);
      const bool clean = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                         !(j.flags & (kWallTimeout | kOverflow));
      if (sent && clean && learn_) learn_(j.spec);  // after the report: the host never waits on it
      jobs_.erase(jobs_.begin() + long(i));
      release_job(&j);
      if (!sent) return false;
    }
    return true;
  }

  int ctrl_, out_;
  const ServerConfig& cfg_;
  const std::string& program_;
  const std::vector<int>& slots_;
  const AdmitFn& admit_;
  const LearnFn& learn_;
  AfterForkFn after_fork_child_;
  const RunChildFn& run_child_;
  bool confined_;
  pid_t zygote_;
  int statm_;
  bool killed_all_ = false;
  std::string inbuf_;
  size_t head_ = 0;  // inbuf_[head_:] holds the frames not yet spawned
  std::vector<Job*> jobs_;  // alive, in spawn order
  std::vector<std::unique_ptr<Job>> pool_;
  std::vector<Job*> spare_;
};

}  // namespace

std::pair<int, std::string> landlock_ruleset(const std::vector<std::string>& read_paths) {
  constexpr uint64_t kReadFile = 1ULL << 2, kReadDir = 1ULL << 3;
  const long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U /* VERSION */);
  if (abi < 0) return {-1, std::string("landlock unavailable: ") + strerror(errno)};
  uint64_t handled = (1ULL << 13) - 1;  // ABI 1: execute .. make_sym
  if (abi >= 2) handled |= 1ULL << 13;  // refer
  if (abi >= 3) handled |= 1ULL << 14;  // truncate
  if (abi >= 5) handled |= 1ULL << 15;  // ioctl_dev
  const int fd = int(syscall(SYS_landlock_create_ruleset, &handled, sizeof(handled), 0U));
  if (fd < 0) return {-1, std::string("landlock ruleset refused: ") + strerror(errno)};
  for (const auto& path : read_paths) {
    const int parent = open(path.c_str(), O_PATH | O_CLOEXEC);
    if (parent < 0) continue;
    struct stat st {};
    const bool is_dir = fstat(parent, &st) == 0 && S_ISDIR(st.st_mode);
    struct __attribute__((packed)) {
      uint64_t allowed_access;
      int32_t parent_fd;
    } rule{is_dir ? (kReadFile | kReadDir) : kReadFile, parent};
    const long rc = syscall(SYS_landlock_add_rule, fd, 1 /* PATH_BENEATH */, &rule, 0U);
    const int err = errno;
    close(parent);
    if (rc != 0) {
      close(fd);
      return {-1, "landlock rule for " + path + " refused: " + strerror(err)};
    }
  }
  return {fd, ""};
}

std::string probe_seccomp(const std::string& program, const std::vector<int>& pid_slots, const std::string* under) {
#if !defined(__x86_64__)
  (void)program;
  (void)pid_slots;
  (void)under;
  return "the seccomp policy is written for x86-64 only";
#else
  const pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + strerror(errno);
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(std::min(errno, 250));
    const int err = under != nullptr ? install_filter(*under, {}) : 0;
    _exit(std::min(err != 0 ? err : install_filter(program, pid_slots), 250));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status)) return std::string("the kernel refused the seccomp filter: ") + strerror(WEXITSTATUS(status));
  return "the seccomp probe died with wait status " + std::to_string(status);
#endif
}

void serve(int ctrl_fd, int out_fd, const ServerConfig& cfg, const std::string& zygote_program,
           const std::string& child_program, const std::vector<int>& pid_slots, const AdmitFn& admit,
           const LearnFn& learn, AfterForkFn after_fork_child, const RunChildFn& run_child) {
  // Once for the zygote and every child (they inherit it): seccomp filters and Landlock both require it.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return;
  std::string why = probe_seccomp(child_program, pid_slots, &zygote_program);
  bool confined = why.empty();
  if (confined) {  // from here on the zygote itself runs under the policy, widened only by what it calls
    const int err = install_filter(zygote_program, {});
    if (err != 0) {
      confined = false;
      why = std::string("the kernel refused the zygote's seccomp filter: ") + strerror(err);
    }
  }
  // Limits the zygote can live with too are set once here and inherited; the rest are per child.
  for (const int resource : {RLIMIT_CORE, RLIMIT_MEMLOCK}) {
    const rlimit zero{0, 0};
    if (setrlimit(resource, &zero) != 0) return;
  }
  Server server(ctrl_fd, out_fd, cfg, child_program, pid_slots, admit, learn, after_fork_child, run_child, confined);
  // The zygote enters the Landlock domain itself (after opening what it reads), so children inherit it.
  const bool landlocked = cfg.landlock_fd >= 0 && syscall(SYS_landlock_restrict_self, cfg.landlock_fd, 0U) == 0;
  if (cfg.landlock_fd >= 0 && !landlocked) why += std::string(why.empty() ? "" : "; ") + "landlock: " + strerror(errno);
  const uint8_t flags = kHello | (confined ? kConfined : 0) | (landlocked ? kLandlock : 0);
  if (!send_result(out_fd, 0, 0, flags, 0, 0, 0, why, "", "")) return;
  if (!confined && !cfg.allow_unconfined) return;
  server.run();
}

}  // namespace eigenfast::sandbox

namespace {

namespace py = pybind11;
namespace sb = eigenfast::sandbox;

py::object serve_py(int ctrl_fd, int out_fd, const py::dict& cfg, const py::bytes& zygote_program,
                    const py::bytes& child_program, const std::vector<int>& child_slots) {
  sb::ServerConfig c;
  c.cpu_time_s = cfg["cpu_time_s"].cast<double>();
  c.wall_time_s = cfg["wall_time_s"].cast<double>();
  c.memory_mb = cfg["memory_mb"].cast<int64_t>();
  c.max_output = cfg["max_output"].cast<size_t>();
  c.tail_bytes = cfg["tail_bytes"].cast<size_t>();
  c.nofile = cfg["nofile"].cast<int>();
  c.workers = cfg["workers"].cast<int>();
  c.uid = cfg["uid"].cast<int>();
  c.gid = cfg["gid"].cast<int>();
  c.read_all = cfg["read_all"].cast<bool>();
  c.allow_unconfined = cfg["allow_unconfined"].cast<bool>();
  c.workdir = cfg["workdir"].cast<std::string>();
  c.landlock_fd = cfg["landlock_fd"].cast<int>();
  const std::string zygote_prog = zygote_program, child_prog = child_program;
  sb::CheckerCaches caches(cfg["payload_slots"].cast<size_t>(), cfg["code_slots"].cast<size_t>(),
                           cfg["code_max_spec"].cast<size_t>());
  sb::AdmitFn admit_fn = [&caches](const std::string& key, const char* data, size_t size) {
    caches.admit(key, data, size);
  };
  sb::LearnFn learn_fn = [&caches](const std::string& spec) { caches.learn(spec); };
  sb::RunChildFn run_fn = [&caches, &c](std::string_view spec, const char* key, std::string_view payload) {
    caches.run_child(spec, key, payload, c.max_output);
  };
  // Only the child's hook: the zygote is single-threaded and registers no at-fork callbacks, so PyOS_BeforeFork
  // and PyOS_AfterFork_Parent would only take and drop the import lock, writing pages each running child shares.
  sb::serve(ctrl_fd, out_fd, c, zygote_prog, child_prog, child_slots, admit_fn, learn_fn, PyOS_AfterFork_Child,
            run_fn);
  return py::none();
}

void bind_sandbox(py::module_& m) {
  m.def("sandbox_serve", &serve_py, py::arg("ctrl_fd"), py::arg("out_fd"), py::arg("cfg"),
        py::arg("zygote_program"), py::arg("child_program"), py::arg("child_slots"),
        "Run the checker fork-server; returns None when the host hangs up. Children run their checker in C++ "
        "(checker_runtime.h) and exit without returning.");
  eigenfast::pymsgpack::bind(m);
  m.def(
      "payload_decode",
      [](py::handle data) {
        Py_buffer view;
        if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) < 0) throw py::error_already_set();
        PyObject* out = nullptr;
        const auto s = sb::decode_laid_out(static_cast<const char*>(view.buf), size_t(view.len), &out);
        PyBuffer_Release(&view);
        if (s == eigenfast::pymsgpack::Status::kError) throw py::error_already_set();
        if (s == eigenfast::pymsgpack::Status::kUnsupported) throw py::value_error("not laid out: unsupported");
        return py::reinterpret_steal<py::object>(out);
      },
      py::arg("data"), "A cached payload as the zygote decodes it, breadth first (payload_layout.h).");
  m.def("sandbox_landlock", &sb::landlock_ruleset, py::arg("read_paths"),
        "(ruleset fd, '') granting read beneath read_paths, or (-1, why) without Landlock.");
  m.def(
      "sandbox_probe",
      [](const py::bytes& program, const std::vector<int>& slots) {
        return sb::probe_seccomp(std::string(program), slots, nullptr);
      },
      py::arg("program"), py::arg("pid_slots"), "Empty string if a forked child can install the filter.");
}

}  // namespace

EIGENFAST_REGISTER_BINDINGS(sandbox, bind_sandbox);
