#include "storage/data_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "storage/crc32c.h"

namespace pekonode::storage {
namespace {

constexpr size_t max_format_bytes = 4096;

std::string errno_text(int e) { return std::strerror(e); }

/// Names the store may leave in a directory whose initialisation did not
/// complete (FORMAT is written last); anything else means a foreign dir.
const std::set<std::string>& own_names() {
  static const std::set<std::string> names = {
    "LOCK", "FORMAT.tmp", "store.db", "store.db-wal", "store.db-shm",
    "store.db-journal"};
  return names;
}

bool unescape_field(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size())
      return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

status read_small_file(const std::string& file, size_t max, std::string& out) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return status::failure(errno == EACCES ? ec::permission : ec::io_error,
                           errno_text(errno));
  out.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      ::close(fd);
      return status::failure(ec::io_error, errno_text(e));
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) {
      ::close(fd);
      return status::failure(ec::corrupt, "larger than " + std::to_string(max)
                                            + " bytes");
    }
  }
  ::close(fd);
  return status::success();
}

status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return status::failure(errno == ENOSPC || errno == EDQUOT ? ec::full
                                                                : ec::io_error,
                             errno_text(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return status::success();
}

} // namespace

std::string escape_field(std::string_view s) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c <= ' ' || c >= 0x7f || c == '%' || c == '"') {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string format_text(const identity& id) {
  std::string body;
  body += format_magic;
  body += "\nformat " + std::to_string(format_version) + "\n";
  body += "cluster " + escape_field(id.cluster) + "\n";
  body += "node " + escape_field(id.node) + "\n";
  char crc[32];
  std::snprintf(crc, sizeof crc, "crc32c %08x\n", crc32c(body));
  return body + crc;
}

std::string data_dir::file(std::string_view name) const {
  std::string f = path_;
  if (f.empty() || f.back() != '/')
    f.push_back('/');
  f.append(name);
  return f;
}

std::string data_dir::error(std::string_view what) const {
  std::string s = "data_dir ";
  s += path_;
  s += ": ";
  s += what;
  return s;
}

status data_dir::sync_dir() const {
  int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return status::failure(ec::io_error, error("open for fsync: " + errno_text(errno)));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0)
    return status::failure(ec::io_error, error("fsync: " + errno_text(e)));
  return status::success();
}

data_dir::~data_dir() {
  if (lock_fd_ >= 0)
    ::close(lock_fd_); // releases the flock
}

status data_dir::mark_initialised() {
  auto tmp = file("FORMAT.tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return status::failure(ec::io_error, error("create FORMAT.tmp: " + errno_text(errno)));
  auto st = write_all(fd, format_text(id_));
  if (st.ok() && ::fsync(fd) != 0)
    st = status::failure(ec::io_error, errno_text(errno));
  ::close(fd);
  if (!st.ok())
    return status::failure(st.code, error("write FORMAT.tmp: " + st.message));
  if (::rename(tmp.c_str(), file("FORMAT").c_str()) != 0)
    return status::failure(ec::io_error, error("rename FORMAT.tmp: " + errno_text(errno)));
  if (auto s = sync_dir(); !s.ok())
    return s;
  initialised_ = true;
  return status::success();
}

result<std::unique_ptr<data_dir>> data_dir::open(const std::string& path,
                                                 const identity& id,
                                                 bool create) {
  using R = result<std::unique_ptr<data_dir>>;
  std::unique_ptr<data_dir> d(new data_dir(path, id));
  if (path.empty())
    return R::failure(ec::bad_path, "data_dir: empty path");
  if (id.node.empty())
    return R::failure(ec::bad_path, d->error("empty node name"));

  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return R::failure(errno == EACCES ? ec::permission : ec::bad_path,
                        d->error(errno_text(errno)));
    if (!create)
      return R::failure(ec::bad_path, d->error("does not exist"));
    if (::mkdir(path.c_str(), 0700) != 0)
      return R::failure(errno == EACCES ? ec::permission : ec::bad_path,
                        d->error("cannot create: " + errno_text(errno)));
    if (::chmod(path.c_str(), 0700) != 0 || ::stat(path.c_str(), &st) != 0)
      return R::failure(ec::io_error, d->error(errno_text(errno)));
  }
  if (!S_ISDIR(st.st_mode))
    return R::failure(ec::bad_path, d->error("not a directory"));
  if (st.st_uid != ::geteuid())
    return R::failure(ec::permission,
                      d->error("owned by uid " + std::to_string(st.st_uid)
                               + ", not by this user (uid "
                               + std::to_string(::geteuid()) + ")"));
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return R::failure(ec::permission,
                      d->error(std::string("mode ") + mode
                               + " lets other users in; want 0700 (chmod 700 "
                               + path + ")"));
  }

  // The lock first: nothing below may race with another opener.
  auto lock = d->file("LOCK");
  d->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (d->lock_fd_ < 0)
    return R::failure(errno == EACCES ? ec::permission : ec::io_error,
                      d->error("cannot open LOCK: " + errno_text(errno)));
  if (::flock(d->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK)
      return R::failure(ec::io_error, d->error("flock LOCK: " + errno_text(errno)));
    std::string holder;
    read_small_file(lock, 32, holder);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
      holder.pop_back();
    return R::failure(ec::locked,
                      d->error("in use by another process"
                               + (holder.empty() ? std::string()
                                                 : " (pid " + escape_field(holder) + ")")));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  // The pid only improves the message a second opener gets; a failure to
  // record it is harmless.
  if (::ftruncate(d->lock_fd_, 0) == 0
      && ::pwrite(d->lock_fd_, pid.data(), pid.size(), 0) < 0) {
  }

  auto format = d->file("FORMAT");
  struct stat fst {};
  bool have_format = true;
  if (::lstat(format.c_str(), &fst) != 0) {
    if (errno != ENOENT)
      return R::failure(ec::io_error, d->error("FORMAT: " + errno_text(errno)));
    have_format = false;
  }
  std::string text;
  if (have_format) {
    auto rs = read_small_file(format, max_format_bytes, text);
    if (!rs.ok())
      return R::failure(rs.code, d->error("FORMAT: " + rs.message
                                          + (rs.code == ec::corrupt ? " (corrupt)" : "")));
  }
  if (!have_format) {
    // No marker: a new directory, or one whose initialisation was cut
    // short (FORMAT is written last). Only our own files may be present;
    // they are removed, since nothing in them was ever acknowledged.
    DIR* dir = ::opendir(path.c_str());
    if (!dir)
      return R::failure(ec::io_error, d->error(errno_text(errno)));
    std::vector<std::string> leftovers;
    std::string stranger;
    while (auto* ent = ::readdir(dir)) {
      std::string name = ent->d_name;
      if (name == "." || name == "..")
        continue;
      if (!own_names().count(name)) {
        stranger = name;
        break;
      }
      if (name != "LOCK")
        leftovers.push_back(name);
    }
    ::closedir(dir);
    if (!stranger.empty())
      return R::failure(ec::foreign,
                        d->error("not empty and has no FORMAT file (found \""
                                 + escape_field(stranger)
                                 + "\"): not a pekonode data dir"));
    for (auto& name : leftovers)
      if (::unlink(d->file(name).c_str()) != 0 && errno != ENOENT)
        return R::failure(ec::io_error, d->error("cannot remove " + name
                                                 + " of an unfinished initialisation: "
                                                 + errno_text(errno)));
    d->initialised_ = false;
    return R::success(std::move(d));
  }

  // Parse: magic, "format N", "cluster X", "node Y", "crc32c H".
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos)
      return R::failure(ec::corrupt, d->error("FORMAT is truncated"));
    lines.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  if (lines.empty() || lines[0] != format_magic)
    return R::failure(ec::foreign,
                      d->error("FORMAT does not start with \""
                               + std::string(format_magic)
                               + "\": not a pekonode data dir"));
  if (lines.size() >= 2 && lines[1].substr(0, 7) == "format ") {
    auto v = std::string(lines[1].substr(7));
    char* end = nullptr;
    unsigned long n = std::strtoul(v.c_str(), &end, 10);
    if (!v.empty() && end && *end == '\0' && n > format_version)
      return R::failure(ec::unsupported_format,
                        d->error("format " + escape_field(v)
                                 + " is newer than this build reads ("
                                 + std::to_string(format_version)
                                 + "); use a newer pekonode"));
  }
  if (lines.size() != 5 || lines[4].substr(0, 7) != "crc32c ")
    return R::failure(ec::corrupt, d->error("FORMAT is malformed"));
  size_t body_len = text.size() - (lines[4].size() + 1);
  char want[16];
  std::snprintf(want, sizeof want, "%08x",
                crc32c(std::string_view(text).substr(0, body_len)));
  if (lines[4].substr(7) != want)
    return R::failure(ec::corrupt, d->error("FORMAT fails its checksum: corrupt"));
  if (lines[1] != "format " + std::to_string(format_version))
    return R::failure(ec::corrupt, d->error("FORMAT has a bad version line"));
  std::string cluster, node;
  if (lines[2].substr(0, 8) != "cluster "
      || !unescape_field(lines[2].substr(8), cluster)
      || lines[3].substr(0, 5) != "node "
      || !unescape_field(lines[3].substr(5), node))
    return R::failure(ec::corrupt, d->error("FORMAT is malformed"));
  if (cluster != id.cluster || node != id.node)
    return R::failure(ec::foreign,
                      d->error("belongs to node \"" + escape_field(node)
                               + "\" of cluster \"" + escape_field(cluster)
                               + "\", not node \"" + escape_field(id.node)
                               + "\" of cluster \"" + escape_field(id.cluster)
                               + "\""));
  d->initialised_ = true;
  return R::success(std::move(d));
}

} // namespace pekonode::storage
