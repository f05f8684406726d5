"""pekonode_fuzz_test: one fuzz target, runnable as a test in both builds.

Under --config=fuzz (fuzz/bazel.sh) the target links libFuzzer and runs its
seed corpus plus `seconds` of mutations; in the default gcc build it replays
the seeds plus `mutations` deterministic mutations (fuzz/driver.cc).
"""

load("@rules_cc//cc:defs.bzl", "cc_test")

def pekonode_fuzz_test(
        name,
        srcs,
        corpus,
        deps = [],
        seconds = 20,
        mutations = 2000,
        fuzz_args = [],
        local_defines = [],
        tags = []):
    """A fuzz target named `name` with seeds in fuzz/corpus/<corpus>/.

    Args:
      name: target name, by convention <thing>_fuzzer.
      srcs: sources defining LLVMFuzzerTestOneInput.
      corpus: seed directory under fuzz/corpus/.
      deps: libraries under test.
      seconds: libFuzzer build: fuzzing time after the seeds.
      mutations: default build: mutated inputs after the seeds.
      fuzz_args: extra libFuzzer flags (e.g. -max_len=N).
      local_defines: preprocessor definitions for srcs (one source, two
        targets).
      tags: extra tags.
    """
    cc_test(
        name = name,
        size = "medium",
        srcs = srcs,
        local_defines = local_defines,
        deps = deps + [
            "//fuzz:driver",
            "//fuzz:input",
        ],
        data = native.glob(["corpus/%s/**" % corpus]),
        args = [
            "--pk_corpus=fuzz/corpus/%s" % corpus,
            "--pk_seconds=%d" % seconds,
            "--pk_mutations=%d" % mutations,
        ] + fuzz_args,
        linkopts = select({
            "//fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        linkstatic = 1,
        tags = ["fuzz"] + tags,
    )
