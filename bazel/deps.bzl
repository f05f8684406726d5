"""The repositories a workspace needs to build pekonode, fully offline.

pekonode's own WORKSPACE and every embedding application's WORKSPACE call
the one macro here:

    local_repository(name = "pekonode", path = "...")   # embedders only
    load("@pekonode//bazel:deps.bzl", "pekonode_dependencies")
    pekonode_dependencies()

Everything is local: Debian's system libraries (CAF 0.17.6, protobuf's
well-known .proto files) and three small stand-ins for repositories Bazel
4.2.3 would otherwise download (see third_party/bazel_stubs/). A repository
of the same name declared before the call wins (e.g. an embedder's own
@rules_cc).
"""

def _stub_repository_impl(rctx):
    # The stand-ins live in pekonode's source tree, outside any package
    # (.bazelignore), so they are found through the path of pekonode's root.
    root = rctx.path(Label("//:WORKSPACE")).dirname
    src = root.get_child("third_party").get_child("bazel_stubs").get_child(rctx.attr.stub)
    if not src.exists:
        fail("pekonode: missing stand-in repository " + str(src))
    for child in src.readdir():
        rctx.symlink(child, child.basename)

_stub_repository = repository_rule(
    implementation = _stub_repository_impl,
    attrs = {"stub": attr.string(mandatory = True)},
    local = True,
    doc = "A repository made of one of pekonode's third_party/bazel_stubs.",
)

def _maybe(rule, name, **kwargs):
    if name not in native.existing_rules():
        rule(name = name, **kwargs)

def pekonode_dependencies():
    """Declares every repository pekonode's BUILD files refer to."""

    # @local_config_cc (the auto-configured gcc toolchain) loads
    # @rules_cc//cc:defs.bzl. Debian's bazel-rules-cc 0.0.4 is too new for
    # Bazel 4.2.3 (it loads `use_cpp_toolchain`), so a small stub forwards to
    # the native rules. Declared here, it wins over the suffix's maybe().
    _maybe(_stub_repository, "rules_cc", stub = "rules_cc")

    # @bazel_tools//tools/jdk:all (toolchains Bazel registers itself, parsed
    # even in a C++-only workspace) loads @rules_java//java:defs.bzl.
    _maybe(_stub_repository, "rules_java", stub = "rules_java")

    # Every *_test rule implicitly depends on
    # @remote_coverage_tools//:coverage_report_generator. Stub: `bazel
    # coverage` is therefore not supported.
    _maybe(_stub_repository, "remote_coverage_tools", stub = "remote_coverage_tools")

    # CAF 0.17.6 (libcaf-dev): headers /usr/include/caf, libs
    # /usr/lib/x86_64-linux-gnu.
    _maybe(
        native.new_local_repository,
        "system_caf",
        build_file = str(Label("//third_party:caf.BUILD")),
        path = "/usr",
    )

    # Well-known .proto files from libprotobuf-dev
    # (/usr/include/google/protobuf/*.proto), as proto_library targets.
    _maybe(
        native.new_local_repository,
        "system_protobuf_wkt",
        build_file = str(Label("//third_party/protobuf:wkt.BUILD")),
        path = "/usr/include",
    )
