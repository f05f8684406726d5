#include "storage/data_dir.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "storage/test_util.h"

namespace pekonode::storage {
namespace {

using namespace testing;

/// One line, naming the directory.
void expect_one_line(const status& st, const std::string& dir) {
  EXPECT_EQ(st.message.find('\n'), std::string::npos) << st.message;
  EXPECT_EQ(st.message.rfind("data_dir " + dir + ": ", 0), 0u) << st.message;
}

TEST(DataDir, CreatesA0700DirectoryAndMarksItLast) {
  auto path = fresh_data_dir();
  auto d = data_dir::open(path, test_id());
  ASSERT_TRUE(d.ok()) << d.message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_FALSE((*d)->initialised());
  EXPECT_EQ(file_size(path + "/FORMAT"), -1);
  ASSERT_TRUE((*d)->mark_initialised().ok());
  EXPECT_TRUE((*d)->initialised());
  EXPECT_EQ(read_file(path + "/FORMAT"), format_text(test_id()));
}

TEST(DataDir, ReopensItsOwnDirectory) {
  auto path = fresh_data_dir();
  {
    auto d = data_dir::open(path, test_id());
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->mark_initialised().ok());
  }
  auto d = data_dir::open(path, test_id());
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_TRUE((*d)->initialised());
}

TEST(DataDir, RefusesWithoutCreateWhenMissing) {
  auto path = fresh_data_dir();
  auto d = data_dir::open(path, test_id(), false);
  EXPECT_EQ(d.code(), ec::bad_path);
  expect_one_line(d.status, path);
}

TEST(DataDir, RefusesAMissingParentAndAFile) {
  auto path = make_temp_dir() + "/no/such/parent";
  auto d = data_dir::open(path, test_id());
  EXPECT_EQ(d.code(), ec::bad_path);
  expect_one_line(d.status, path);
  auto file = make_temp_dir() + "/file";
  write_file(file, "x");
  auto f = data_dir::open(file, test_id());
  EXPECT_EQ(f.code(), ec::bad_path);
  EXPECT_NE(f.message().find("not a directory"), std::string::npos);
}

TEST(DataDir, RefusesAModeOpenToOthers) {
  auto path = make_temp_dir();
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  auto d = data_dir::open(path, test_id());
  EXPECT_EQ(d.code(), ec::permission);
  expect_one_line(d.status, path);
  EXPECT_NE(d.message().find("0755"), std::string::npos) << d.message();
  EXPECT_NE(d.message().find("chmod 700"), std::string::npos);
}

TEST(DataDir, RefusesADirectoryOwnedBySomeoneElse) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to chown";
  auto path = make_temp_dir();
  if (::chown(path.c_str(), 12345, 12345) != 0)
    GTEST_SKIP() << "chown to another uid not permitted here (user namespace)";
  auto d = data_dir::open(path, test_id());
  EXPECT_EQ(d.code(), ec::permission);
  EXPECT_NE(d.message().find("owned by uid 12345"), std::string::npos) << d.message();
}

TEST(DataDir, ASecondOpenerInTheSameProcessIsRefused) {
  auto path = fresh_data_dir();
  auto first = data_dir::open(path, test_id());
  ASSERT_TRUE(first.ok());
  auto second = data_dir::open(path, test_id());
  EXPECT_EQ(second.code(), ec::locked);
  expect_one_line(second.status, path);
  EXPECT_NE(second.message().find("in use by another process (pid "
                                  + std::to_string(::getpid()) + ")"),
            std::string::npos)
    << second.message();
  first.value.reset(); // releases the lock
  EXPECT_TRUE(data_dir::open(path, test_id()).ok());
}

TEST(DataDir, AnotherProcessHoldingTheDirIsRefusedUntilItDies) {
  auto path = fresh_data_dir();
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto d = data_dir::open(path, test_id());
    char c = d.ok() ? 'y' : 'n';
    (void) !::write(to_parent[1], &c, 1);
    (void) !::read(to_child[0], &c, 1); // hold the lock until told
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto d = data_dir::open(path, test_id());
  EXPECT_EQ(d.code(), ec::locked);
  EXPECT_NE(d.message().find("(pid " + std::to_string(pid) + ")"), std::string::npos)
    << d.message();
  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(data_dir::open(path, test_id()).ok());
}

TEST(DataDir, ANonEmptyDirectoryWithoutFormatIsForeign) {
  auto path = make_temp_dir();
  write_file(path + "/etc-passwd", "root:x:0:0");
  auto d = data_dir::open(path, test_id());
  EXPECT_EQ(d.code(), ec::foreign);
  expect_one_line(d.status, path);
  EXPECT_NE(d.message().find("not a pekonode data dir"), std::string::npos);
  EXPECT_EQ(read_file(path + "/etc-passwd"), "root:x:0:0"); // untouched
}

TEST(DataDir, LeftoversOfAnUnfinishedInitialisationAreRemoved) {
  auto path = make_temp_dir();
  write_file(path + "/store.db", "half");
  write_file(path + "/FORMAT.tmp", "half");
  auto d = data_dir::open(path, test_id());
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_FALSE((*d)->initialised());
  EXPECT_EQ(file_size(path + "/store.db"), -1);
  EXPECT_EQ(file_size(path + "/FORMAT.tmp"), -1);
}

TEST(DataDir, ADirectoryOfAnotherNodeOrClusterIsForeign) {
  auto path = fresh_data_dir();
  {
    auto d = data_dir::open(path, {"c1", "n1"});
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->mark_initialised().ok());
  }
  auto other_node = data_dir::open(path, {"c1", "n2"});
  EXPECT_EQ(other_node.code(), ec::foreign);
  expect_one_line(other_node.status, path);
  EXPECT_NE(other_node.message().find("belongs to node \"n1\" of cluster \"c1\""),
            std::string::npos)
    << other_node.message();
  EXPECT_EQ(data_dir::open(path, {"c2", "n1"}).code(), ec::foreign);
}

TEST(DataDir, NamesWithOddBytesRoundTripThroughFormat) {
  auto path = fresh_data_dir();
  identity odd{"a b%c\n", "n\"1\xff"};
  {
    auto d = data_dir::open(path, odd);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->mark_initialised().ok());
  }
  EXPECT_TRUE(data_dir::open(path, odd).ok());
  auto other = data_dir::open(path, test_id());
  EXPECT_EQ(other.code(), ec::foreign);
  expect_one_line(other.status, path);
}

TEST(DataDir, ANewerFormatIsRefused) {
  auto path = fresh_data_dir();
  {
    auto d = data_dir::open(path, test_id());
    ASSERT_TRUE((*d)->mark_initialised().ok());
  }
  auto text = read_file(path + "/FORMAT");
  auto pos = text.find("format 1");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 8, "format 9");
  write_file(path + "/FORMAT", text);
  auto d = data_dir::open(path, test_id());
  EXPECT_EQ(d.code(), ec::unsupported_format);
  expect_one_line(d.status, path);
  EXPECT_NE(d.message().find("format 9 is newer"), std::string::npos) << d.message();
}

TEST(DataDir, EveryFlippedByteOrTruncationOfFormatIsRefused) {
  auto path = fresh_data_dir();
  {
    auto d = data_dir::open(path, test_id());
    ASSERT_TRUE((*d)->mark_initialised().ok());
  }
  const auto good = read_file(path + "/FORMAT");
  for (size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= 0x01;
    write_file(path + "/FORMAT", bad);
    auto d = data_dir::open(path, test_id());
    EXPECT_FALSE(d.ok()) << "flip at " << i;
    EXPECT_TRUE(d.code() == ec::corrupt || d.code() == ec::foreign
                || d.code() == ec::unsupported_format)
      << i << ": " << d.message();
    expect_one_line(d.status, path);
  }
  for (size_t n = 0; n < good.size(); ++n) {
    write_file(path + "/FORMAT", good.substr(0, n));
    auto d = data_dir::open(path, test_id());
    EXPECT_FALSE(d.ok()) << "truncated to " << n;
    expect_one_line(d.status, path);
  }
  write_file(path + "/FORMAT", std::string(100000, 'x'));
  auto big = data_dir::open(path, test_id());
  EXPECT_EQ(big.code(), ec::corrupt);
  expect_one_line(big.status, path);
  write_file(path + "/FORMAT", good);
  EXPECT_TRUE(data_dir::open(path, test_id()).ok());
}

TEST(DataDir, AnEmptyNodeNameIsRefused) {
  auto d = data_dir::open(fresh_data_dir(), {"c", ""});
  EXPECT_EQ(d.code(), ec::bad_path);
}

} // namespace
} // namespace pekonode::storage
