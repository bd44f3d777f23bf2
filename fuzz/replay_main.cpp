// A main() for the fuzz targets in the normal (g++) build: runs
// LLVMFuzzerTestOneInput over every file of the seed corpus, then over
// deterministic mutations of them (byte flips, bit flips, truncations,
// insertions, deletions, splices) from a fixed-seed PRNG, so ctest replays
// the committed regressions and explores a little around them under the
// same sanitizers as the other tests.
//
//   <target>_replay [--mutations N] [--seed S] [--max-seconds T] PATH...
//
// PATH is a corpus directory or a single input file. Every input is run
// once; mutations start from the inputs of at most 16 KiB. When one crashes (a sanitizer report, an
// abort, a segfault), the input is written to ./replay-crash-<target> (or into
// $HOSTCA_FUZZ_CRASH_DIR) before the process dies: copy it into the
// corpus directory to keep it as a regression.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Present when a sanitizer runtime is linked in.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

namespace fs = std::filesystem;

// splitmix64: small, fast, and the same sequence on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n); n > 0.
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

struct Input {
  std::string name;
  std::string bytes;
};

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

bool Collect(const fs::path& path, std::vector<Input>* inputs) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_regular_file()) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());  // the same order everywhere
    for (const auto& f : files) {
      Input in{f.string(), {}};
      if (!ReadFile(f, &in.bytes)) {
        std::fprintf(stderr, "cannot read %s\n", f.c_str());
        return false;
      }
      inputs->push_back(std::move(in));
    }
    return !ec;
  }
  Input in{path.string(), {}};
  if (!ReadFile(path, &in.bytes)) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  inputs->push_back(std::move(in));
  return true;
}

// The input being run, for the crash handlers.
const std::vector<uint8_t>* g_current = nullptr;
std::string g_crash_path;
volatile sig_atomic_t g_saved = 0;

// Async-signal-safe: open, write, close.
void SaveCurrent() {
  if (g_current == nullptr || g_saved != 0) {
    return;
  }
  g_saved = 1;
  const int fd = open(g_crash_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return;
  }
  size_t off = 0;
  while (off < g_current->size()) {
    const ssize_t n = write(fd, g_current->data() + off, g_current->size() - off);
    if (n <= 0) {
      break;
    }
    off += static_cast<size_t>(n);
  }
  close(fd);
  constexpr char kMsg[] = "\nreplay: the crashing input was written to ";
  (void)!write(2, kMsg, sizeof(kMsg) - 1);
  (void)!write(2, g_crash_path.data(), g_crash_path.size());
  (void)!write(2, "\n", 1);
}

void OnSignal(int sig) {
  SaveCurrent();
  signal(sig, SIG_DFL);
  raise(sig);
}

void InstallCrashHandlers(const char* argv0) {
  const char* dir = std::getenv("HOSTCA_FUZZ_CRASH_DIR");
  g_crash_path = std::string(dir != nullptr ? dir : ".") + "/replay-crash-" +
                 fs::path(argv0).filename().string();
  if (__sanitizer_set_death_callback != nullptr) {
    __sanitizer_set_death_callback(SaveCurrent);
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    signal(sig, OnSignal);
  }
}

void Run(const std::string& bytes) {
  // A copy in its own allocation, so ASan sees reads past the end.
  const std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  g_current = &copy;
  LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
  g_current = nullptr;
}

constexpr size_t kMaxMutatedSize = 16 * 1024;

constexpr uint8_t kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0xff,
                                    0x30, 0x02, 0x03, 0x04, 0x06, 0xa0, '"',  '\\',
                                    '{',  '}',  '[',  ']',  '=',  '\n', '-',  '.'};

// One to four random edits of `in`, spliced now and then with another input.
std::string Mutate(const std::string& in, const std::vector<Input>& all, Rng& rng) {
  std::string s = in;
  const size_t edits = 1 + rng.Below(4);
  for (size_t e = 0; e < edits; ++e) {
    switch (rng.Below(8)) {
      case 0:  // flip one bit
        if (!s.empty()) {
          s[rng.Below(s.size())] ^= static_cast<char>(1u << rng.Below(8));
        }
        break;
      case 1:  // replace a byte with a random or interesting one
        if (!s.empty()) {
          s[rng.Below(s.size())] = static_cast<char>(
              rng.Below(2) ? rng.Next() & 0xff : kInteresting[rng.Below(sizeof(kInteresting))]);
        }
        break;
      case 2:  // truncate
        s.resize(s.empty() ? 0 : rng.Below(s.size()));
        break;
      case 3: {  // insert 1..8 bytes
        const size_t at = s.empty() ? 0 : rng.Below(s.size() + 1);
        const size_t n = 1 + rng.Below(8);
        std::string ins;
        for (size_t i = 0; i < n; ++i) {
          ins.push_back(static_cast<char>(rng.Next() & 0xff));
        }
        s.insert(at, ins);
        break;
      }
      case 4:  // erase a run
        if (!s.empty()) {
          const size_t at = rng.Below(s.size());
          s.erase(at, 1 + rng.Below(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 5:  // duplicate a run
        if (!s.empty() && s.size() < 64 * 1024) {
          const size_t at = rng.Below(s.size());
          const size_t n = 1 + rng.Below(std::min<size_t>(64, s.size() - at));
          s.insert(rng.Below(s.size() + 1), s.substr(at, n));
        }
        break;
      case 6: {  // splice with another input
        const std::string& other = all[rng.Below(all.size())].bytes;
        if (!other.empty()) {
          const size_t cut = s.empty() ? 0 : rng.Below(s.size());
          s = s.substr(0, cut) + other.substr(rng.Below(other.size()));
        }
        break;
      }
      default:  // overwrite with an interesting byte (lengths, tags, syntax)
        if (!s.empty()) {
          s[rng.Below(s.size())] = static_cast<char>(kInteresting[rng.Below(sizeof(kInteresting))]);
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 2000;
  uint64_t seed = 20261130;
  double max_seconds = 0;  // 0: no limit
  std::vector<Input> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--max-seconds" && i + 1 < argc) {
      max_seconds = std::strtod(argv[++i], nullptr);
    } else if (!Collect(arg, &inputs)) {
      return 2;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s [--mutations N] [--seed S] [--max-seconds T] PATH...\n",
                 argv[0]);
    return 2;
  }
  InstallCrashHandlers(argv[0]);
  const auto start = std::chrono::steady_clock::now();
  for (const auto& in : inputs) {
    std::fprintf(stderr, "running %s (%zu bytes)\n", in.name.c_str(), in.bytes.size());
    Run(in.bytes);
  }
  // Mutations start from the small inputs only: a large seed (the 60 KB
  // nested JSON) costs as much as hundreds of small ones and is run once.
  std::vector<Input> bases;
  for (const auto& in : inputs) {
    if (in.bytes.size() <= kMaxMutatedSize) {
      bases.push_back(in);
    }
  }
  if (bases.empty()) {
    mutations = 0;
  }
  Rng rng(seed);
  long done = 0;
  for (; done < mutations; ++done) {
    if (max_seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
            max_seconds) {
      break;
    }
    const Input& base = bases[rng.Below(bases.size())];
    const std::string m = Mutate(base.bytes, bases, rng);
    if (std::getenv("HOSTCA_FUZZ_VERBOSE") != nullptr) {
      std::fprintf(stderr, "mutation %ld of %s (%zu bytes)\n", done, base.name.c_str(), m.size());
    }
    Run(m);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu corpus inputs and %ld mutations (seed %llu) ran without a crash in %.1f s\n",
              inputs.size(), done, static_cast<unsigned long long>(seed), secs);
  return 0;
}
