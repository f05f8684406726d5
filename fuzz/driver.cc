// The `main` side of every fuzz target. Each target defines only
// LLVMFuzzerTestOneInput; this file turns it into a test in both builds:
//
//  * --config=fuzz (clang, libFuzzer, ASan, UBSan; fuzz/bazel.sh): libFuzzer's
//    own main runs, and LLVMFuzzerInitialize below rewrites the test's
//    --pk_* arguments into libFuzzer flags: the seed corpus plus mutations for
//    --pk_seconds, crash artifacts into the test's undeclared outputs.
//  * the default build (gcc, no sanitizers): a plain main replays every seed
//    file, then --pk_mutations deterministic mutations of them (seed printed),
//    so `bazel test //...` keeps the decoders honest without clang.
//
// Arguments not starting with --pk_ go to libFuzzer unchanged, so a built
// target also works as an ordinary libFuzzer binary (fuzz/campaign.sh, or
// `codec_fuzzer crash-file` to reproduce a finding).

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

struct test_args {
  std::string corpus;    ///< seed directory, runfiles-relative
  long seconds = 20;     ///< libFuzzer build: fuzzing time after the seeds
  long mutations = 2000; ///< default build: mutated inputs after the seeds
  uint64_t seed = 1;     ///< default build: mutation RNG seed
  bool test_mode = false;
  std::vector<std::string> rest; ///< everything else, in order
};

bool take(const std::string& arg, const char* name, std::string& value) {
  auto n = std::strlen(name);
  if (arg.compare(0, n, name) != 0)
    return false;
  value = arg.substr(n);
  return true;
}

long to_long(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 0) {
    std::fprintf(stderr, "fuzz driver: bad value for %s: '%s'\n", flag.c_str(),
                 v.c_str());
    std::exit(2);
  }
  return x;
}

test_args parse_args(int argc, char** argv) {
  test_args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string v;
    if (take(arg, "--pk_corpus=", v)) {
      a.corpus = v;
      a.test_mode = true;
    } else if (take(arg, "--pk_seconds=", v)) {
      a.seconds = to_long("--pk_seconds", v);
    } else if (take(arg, "--pk_mutations=", v)) {
      a.mutations = to_long("--pk_mutations", v);
    } else if (take(arg, "--pk_seed=", v)) {
      a.seed = static_cast<uint64_t>(to_long("--pk_seed", v));
    } else {
      a.rest.push_back(arg);
    }
  }
  return a;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Regular files under `path` (symlinks followed: Bazel's runfiles are links),
// sorted, so runs are reproducible.
void list_files(const std::string& path, std::vector<std::string>& out) {
  if (!is_dir(path)) {
    out.push_back(path);
    return;
  }
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr)
    return;
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..")
      names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (auto& n : names)
    list_files(path + "/" + n, out);
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A single input never needs seconds (see -timeout in the libFuzzer build):
// a slow one is a finding, so the plain driver fails on it too.
constexpr double slow_input_seconds = 20;

void run_one(const std::string& input) {
  auto start = std::chrono::steady_clock::now();
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (took.count() > 1.0) {
    std::string hex;
    for (unsigned char c : input.substr(0, 256)) {
      char b[4];
      std::snprintf(b, sizeof(b), "%02x", c);
      hex += b;
    }
    std::fprintf(stderr, "fuzz driver: input of %zu bytes took %.1f s: %s%s\n",
                 input.size(), took.count(), hex.c_str(),
                 input.size() > 256 ? "..." : "");
    if (took.count() > slow_input_seconds)
      std::abort();
  }
}

} // namespace

#ifdef PEKONODE_LIBFUZZER

// libFuzzer's entropic schedule (on by default) tracks the frequency of
// every "rare" feature, and with the default threshold (255) a feature
// stays rare until seen 255 times: with the tens of thousands of features
// one protocol-core input reaches (coverage plus -use_value_profile), every
// feature of every execution is looked up linearly in a list of tens of
// thousands, and each new feature walks the whole corpus. That took 70-90%
// of membership_fuzzer's time (perf) and held it at ~15 exec/s. Threshold 1
// keeps the schedule but tracks only the rarest features
// (-entropic_number_of_rarest_features, 100). Given first, so a flag on the
// command line still overrides it. docs/SECURITY.md, "Fuzzing", has the
// rates before and after.
constexpr const char* entropic_default = "-entropic_feature_frequency_threshold=1";

// libFuzzer calls this before it parses its flags and lets it replace argv.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  auto a = parse_args(*argc, *argv);
  static std::vector<std::string> args;
  static std::vector<char*> ptrs;
  args.push_back((*argv)[0]);
  args.push_back(entropic_default);
  if (!a.test_mode) {
    for (int i = 1; i < *argc; ++i)
      args.push_back((*argv)[i]);
    for (auto& s : args)
      ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
    *argc = static_cast<int>(args.size());
    *argv = ptrs.data();
    return 0;
  }
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string work = tmp ? tmp : "/tmp";
  std::string grown = work + "/corpus";
  ::mkdir(grown.c_str(), 0755);
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  args.push_back("-artifact_prefix=" + std::string{outputs ? outputs : work}
                 + "/");
  args.push_back("-max_total_time=" + std::to_string(a.seconds));
  // A single input never needs seconds: a slow one is a finding (quadratic
  // work on hostile input), reported like a crash.
  args.push_back("-timeout=20");
  args.push_back("-rss_limit_mb=2048");
  args.push_back("-print_final_stats=1");
  for (auto& r : a.rest)
    args.push_back(r);
  // New inputs go to the first directory; the seeds stay read-only.
  args.push_back(grown);
  args.push_back(a.corpus);
  for (auto& s : args)
    ptrs.push_back(s.data());
  ptrs.push_back(nullptr);
  *argc = static_cast<int>(args.size());
  *argv = ptrs.data();
  std::fprintf(stderr, "fuzz driver: seeds from %s, %ld s of fuzzing\n",
               a.corpus.c_str(), a.seconds);
  return 0;
}

#else // default build: replay the seeds, then mutate them deterministically.

#include <csignal>
#include <unistd.h>

namespace {

// What is running, for the crash report (set before each input).
char current[512] = "";

void on_fatal(int sig) {
  const char* what = "fuzz driver: crashed on ";
  (void) !::write(2, "\n", 1);
  (void) !::write(2, what, std::strlen(what));
  (void) !::write(2, current, std::strlen(current));
  (void) !::write(2, "\n", 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void describe(const char* fmt, const char* a, long b = 0) {
  std::snprintf(current, sizeof(current), fmt, a, b);
}

std::string mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  auto pick = [&](size_t n) {
    return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n);
  };
  std::string s = seeds[pick(seeds.size())];
  int rounds = 1 + static_cast<int>(pick(4));
  for (int r = 0; r < rounds; ++r) {
    switch (pick(7)) {
      case 0: // flip one bit
        if (!s.empty())
          s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
        break;
      case 1: // set a byte to an interesting value
        if (!s.empty()) {
          static const unsigned char vals[] = {0, 1, 0x7f, 0x80, 0xff, '\n', '='};
          s[pick(s.size())] = static_cast<char>(vals[pick(sizeof(vals))]);
        }
        break;
      case 2: // insert random bytes
        s.insert(pick(s.size() + 1), std::string(1 + pick(8), static_cast<char>(rng())));
        break;
      case 3: // erase a range
        if (!s.empty()) {
          auto at = pick(s.size());
          s.erase(at, 1 + pick(s.size() - at));
        }
        break;
      case 4: // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 5: { // duplicate a range in place
        if (s.empty())
          break;
        auto at = pick(s.size());
        auto len = 1 + pick(std::min<size_t>(64, s.size() - at));
        s.insert(at, s.substr(at, len));
        break;
      }
      default: { // splice with another seed
        auto& other = seeds[pick(seeds.size())];
        s = s.substr(0, pick(s.size() + 1)) + other.substr(pick(other.size() + 1));
        break;
      }
    }
  }
  return s;
}

} // namespace

int main(int argc, char** argv) {
  auto a = parse_args(argc, argv);
  std::vector<std::string> files;
  if (!a.corpus.empty())
    list_files(a.corpus, files);
  for (auto& r : a.rest)
    if (r.empty() || r[0] != '-') // libFuzzer flags mean nothing here
      list_files(r, files);
  if (files.empty()) {
    std::fprintf(stderr, "fuzz driver: no inputs (corpus '%s')\n",
                 a.corpus.c_str());
    return 1;
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL})
    std::signal(sig, on_fatal);
  std::vector<std::string> seeds;
  for (auto& f : files) {
    seeds.push_back(read_file(f));
    describe("%s", f.c_str());
    run_one(seeds.back());
  }
  std::printf("replayed %zu inputs\n", seeds.size());
  if (a.test_mode && a.mutations > 0) {
    std::printf("mutating: %ld inputs, seed %llu (--pk_seed=N to change)\n",
                a.mutations, static_cast<unsigned long long>(a.seed));
    std::fflush(stdout);
    std::mt19937_64 rng{a.seed};
    for (long i = 0; i < a.mutations; ++i) {
      describe("mutation #%2$ld (%1$s)", "replay with the same --pk_seed", i);
      run_one(mutate(seeds, rng));
    }
    std::printf("ran %ld mutated inputs\n", a.mutations);
  }
  return 0;
}

#endif
