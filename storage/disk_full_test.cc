// A real full disk: the test process enters its own mount namespace and
// mounts an 8 MiB tmpfs (needs CAP_SYS_ADMIN: root, as in CI; skipped with
// the reason otherwise). Writes must fail with ec::full while reads (load,
// export elsewhere) keep working and hold exactly what was acknowledged;
// freeing space lets writes in again; nothing acknowledged is lost.

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include <gtest/gtest.h>

#include "storage/store.h"
#include "storage/test_util.h"

namespace pekonode::storage {
namespace {

using namespace testing;

TEST(DiskFull, WritesFailAsFullReadsContinueAndNothingAcknowledgedIsLost) {
  if (::unshare(CLONE_NEWNS) != 0)
    GTEST_SKIP() << "cannot make a mount namespace: " << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
    << std::strerror(errno);
  auto mnt = make_temp_dir("mnt");
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m,mode=0700"), 0)
    << std::strerror(errno);
  auto path = mnt + "/data";
  auto ballast = mnt + "/ballast";   // freed to let writes in again
  auto ballast2 = mnt + "/ballast2"; // freed to let the node start again
  write_file(ballast, std::string(1 << 20, 'b'));
  write_file(ballast2, std::string(4 << 20, 'b'));
  ASSERT_EQ(file_size(ballast), 1 << 20);
  ASSERT_EQ(file_size(ballast2), 4 << 20);

  auto d = data_dir::open(path, test_id());
  ASSERT_TRUE(d.ok()) << d.message();
  auto s = store::open(std::move(*d));
  ASSERT_TRUE(s.ok()) << s.message();
  auto& st = **s;

  std::map<std::string, std::string> acked;
  status last;
  for (int i = 0; i < 1000; ++i) {
    write_batch b;
    record r;
    r.key = "k" + std::to_string(i);
    r.value = std::string(64 * 1024, static_cast<char>('a' + i % 26));
    r.hlc = i + 1;
    r.origin = "n1";
    b.put(r);
    last = st.commit(b);
    if (!last.ok())
      break;
    acked[r.key] = r.value;
  }
  ASSERT_EQ(last.code, ec::full) << last.message;
  std::printf("acknowledged before full: %zu x 64 KiB; error: %s\n", acked.size(),
              last.message.c_str());
  EXPECT_GT(acked.size(), 5u);
  EXPECT_NE(last.message.find("disk full"), std::string::npos) << last.message;
  EXPECT_EQ(last.message.rfind("data_dir " + path + ": ", 0), 0u);
  EXPECT_EQ(last.message.find('\n'), std::string::npos);

  auto load = [&](const store& s) {
    std::map<std::string, std::string> got;
    auto ls = s.load([&](record& r) { got[r.key] = std::move(r.value); });
    EXPECT_TRUE(ls.ok()) << ls.message;
    return got;
  };
  // Reads keep working and hold exactly what was acknowledged.
  EXPECT_EQ(load(st), acked);
  auto out = make_temp_dir() + "/snap"; // outside the full file system
  auto exp = st.export_snapshot(out);
  EXPECT_TRUE(exp.ok()) << exp.message();
  EXPECT_EQ(exp->records, acked.size());
  // An export onto the full file system fails as full, and leaves nothing.
  auto full_exp = st.export_snapshot(mnt + "/snap");
  EXPECT_EQ(full_exp.code(), ec::full) << full_exp.message();
  EXPECT_EQ(file_size(mnt + "/snap.tmp"), -1);

  // Still full: the next write fails the same way.
  write_batch more;
  record r;
  r.key = "more";
  r.value = std::string(64 * 1024, 'm');
  r.origin = "n1";
  more.put(r);
  EXPECT_EQ(st.commit(more).code, ec::full);

  // Space freed: writes go through again.
  ASSERT_EQ(::unlink(ballast.c_str()), 0);
  auto again = st.commit(more);
  ASSERT_TRUE(again.ok()) << again.message;
  acked["more"] = r.value;
  EXPECT_EQ(load(st), acked);

  // Fill the disk to the last page (ever smaller values), then restart:
  // the boot epoch cannot be recorded, so the store refuses to open, with
  // one line saying why.
  int n = 0;
  for (size_t size : {size_t{64 * 1024}, size_t{4096}, size_t{100}}) {
    for (;;) {
      write_batch b;
      record f;
      f.key = "fill" + std::to_string(n++);
      f.value = std::string(size, 'f');
      f.origin = "n1";
      b.put(f);
      auto fs = st.commit(b);
      if (!fs.ok()) {
        ASSERT_EQ(fs.code, ec::full) << fs.message;
        break;
      }
      acked[f.key] = f.value;
    }
  }
  s.value.reset();
  {
    auto d2 = data_dir::open(path, test_id());
    ASSERT_TRUE(d2.ok()) << d2.message();
    auto s2 = store::open(std::move(*d2));
    ASSERT_FALSE(s2.ok());
    EXPECT_EQ(s2.code(), ec::full) << s2.message();
    EXPECT_NE(s2.message().find("disk full, cannot start"), std::string::npos)
      << s2.message();
    EXPECT_EQ(s2.message().find('\n'), std::string::npos);
    std::printf("restart on the full disk: %s\n", s2.message().c_str());
  }
  ASSERT_EQ(::unlink(ballast2.c_str()), 0);
  auto d3 = data_dir::open(path, test_id());
  ASSERT_TRUE(d3.ok()) << d3.message();
  auto s3 = store::open(std::move(*d3));
  ASSERT_TRUE(s3.ok()) << s3.message();
  EXPECT_EQ(load(**s3), acked);
  EXPECT_EQ((*s3)->boot_epoch(), 2u); // the refused start recorded nothing
  s3.value.reset();
  ::umount2(mnt.c_str(), MNT_DETACH);
}

} // namespace
} // namespace pekonode::storage
