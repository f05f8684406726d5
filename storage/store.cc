#include "storage/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <cstdio>
#include <cstring>

#include "common/text.h"
#include "storage/crc32c.h"

namespace pekonode::storage {
namespace {

/// PRAGMA application_id of every pekonode store ("PEKO").
constexpr int32_t application_id = 0x50454b4f;

constexpr const char* schema = R"sql(
CREATE TABLE kv(
  key BLOB NOT NULL UNIQUE,
  hlc INTEGER NOT NULL,
  origin BLOB NOT NULL,
  flags INTEGER NOT NULL,
  gc_after INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  value BLOB NOT NULL
);
CREATE TABLE meta(
  name TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL,
  crc INTEGER NOT NULL
);
)sql";

/// Every schema statement, in name order, as one string.
constexpr const char* schema_query =
  "SELECT group_concat(type || ' ' || name || ' ' || tbl_name || ' ' || "
  "coalesce(sql, ''), ';') FROM (SELECT * FROM sqlite_schema ORDER BY name)";

std::string u64_bytes(uint64_t v) {
  std::string s;
  writer(s).u64(v);
  return s;
}

bool bytes_u64(std::string_view s, uint64_t& v) {
  reader r(s);
  v = r.u64();
  return r.at_end();
}

/// A key as it may appear in a one-line message: escaped, at most 64 bytes.
std::string show_key(std::string_view k) {
  auto s = escape_field(k.substr(0, 64));
  return k.size() > 64 ? s + "..." : s;
}

/// Owns a prepared statement; reset (not finalised) after each use.
struct stmt {
  sqlite3_stmt* s = nullptr;
  ~stmt() { sqlite3_finalize(s); }
};

struct reset_guard {
  sqlite3_stmt* s;
  ~reset_guard() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

int bind_blob(sqlite3_stmt* s, int i, std::string_view b) {
  // A non-null pointer even for empty input: a null one would bind NULL.
  static const char empty = 0;
  return sqlite3_bind_blob64(s, i, b.empty() ? &empty : b.data(), b.size(),
                             SQLITE_STATIC);
}

std::string_view column_blob(sqlite3_stmt* s, int i) {
  auto p = static_cast<const char*>(sqlite3_column_blob(s, i));
  int n = sqlite3_column_bytes(s, i);
  return p ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
}

bool is_blob(sqlite3_stmt* s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_BLOB;
}

bool is_int(sqlite3_stmt* s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_INTEGER;
}

/// Buffered whole-file writer with a running CRC-32C.
class file_out {
public:
  explicit file_out(int fd) : fd_(fd) {}
  void put(std::string_view b) {
    crc_ = crc32c_extend(crc_, b);
    total_ += b.size();
    buf_.append(b);
    if (buf_.size() >= (1 << 20))
      flush();
  }
  void flush() {
    std::string_view d = buf_;
    while (!d.empty() && err_ == 0) {
      ssize_t n = ::write(fd_, d.data(), d.size());
      if (n < 0) {
        if (errno != EINTR)
          err_ = errno;
        continue;
      }
      d.remove_prefix(static_cast<size_t>(n));
    }
    buf_.clear();
  }
  uint32_t crc() const { return crc_; }
  uint64_t total() const { return total_; }
  int err() const { return err_; }

private:
  int fd_;
  std::string buf_;
  uint32_t crc_ = 0;
  uint64_t total_ = 0;
  int err_ = 0;
};

/// Buffered reader with a running CRC-32C over what it returned.
class file_in {
public:
  explicit file_in(int fd) : fd_(fd) {}
  /// Reads exactly n bytes into out; false at end of file or on error.
  bool read(size_t n, std::string& out) {
    out.clear();
    while (out.size() < n) {
      if (pos_ == buf_.size() && !fill())
        return false;
      size_t take = std::min(n - out.size(), buf_.size() - pos_);
      out.append(buf_, pos_, take);
      pos_ += take;
    }
    crc_ = crc32c_extend(crc_, out);
    return true;
  }
  uint32_t crc() const { return crc_; }
  int err() const { return err_; }
  /// True when no byte is left (or reading fails).
  bool at_end() { return pos_ == buf_.size() && !fill(); }

private:
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  uint32_t crc_ = 0;
  int err_ = 0;

  bool fill() {
    buf_.resize(1 << 20);
    ssize_t got;
    do {
      got = ::read(fd_, buf_.data(), buf_.size());
    } while (got < 0 && errno == EINTR);
    pos_ = 0;
    if (got <= 0) {
      err_ = got < 0 ? errno : 0;
      buf_.clear();
      return false;
    }
    buf_.resize(static_cast<size_t>(got));
    return true;
  }
};

uint32_t le32(std::string_view s) {
  reader r(s);
  return r.u32();
}

uint64_t le64(std::string_view s) {
  reader r(s);
  return r.u64();
}

constexpr size_t max_snapshot_header = 64u << 20;

} // namespace

// -- write_batch --------------------------------------------------------------

void write_batch::put(record r) {
  bytes_ += r.key.size() + r.value.size() + r.origin.size() + 24;
  ops_.push_back(op{false, std::move(r)});
}

void write_batch::erase(std::string key) {
  bytes_ += key.size() + 8;
  op o;
  o.erase = true;
  o.r.key = std::move(key);
  ops_.push_back(std::move(o));
}

void write_batch::set_hlc_high_water(uint64_t hlc) {
  hlc_ = hlc_ ? std::max(*hlc_, hlc) : hlc;
}

void write_batch::set_membership(membership_snapshot m) {
  for (auto& p : m.peers)
    bytes_ += p.name.size() + p.addr.size() + p.state.size() + 8;
  membership_ = std::move(m);
}

void write_batch::set_gc_horizon(uint64_t ms) {
  gc_horizon_ = gc_horizon_ ? std::max(*gc_horizon_, ms) : ms;
}

// -- store --------------------------------------------------------------------

struct store::impl {
  sqlite3* db = nullptr;
  stmt upsert, erase, meta_set, meta_get;
  ~impl() {
    // close_v2 defers the close until the statements (members, destroyed
    // after this body) are finalised.
    if (db)
      sqlite3_close_v2(db);
  }
};

store::store(std::unique_ptr<data_dir> dir, store_options opts)
  : dir_(std::move(dir)), opts_(opts), impl_(std::make_unique<impl>()) {
}

store::~store() = default;

namespace {

/// Maps an engine result to an error code. SQLite reports ENOSPC on write
/// as SQLITE_FULL; on fsync it reports an I/O error whose errno says so.
ec code_of(sqlite3* db, int rc) {
  int primary = rc & 0xff;
  switch (primary) {
    case SQLITE_FULL:
      return ec::full;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ec::corrupt;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return ec::permission;
    case SQLITE_CANTOPEN:
      return errno == EACCES ? ec::permission : ec::io_error;
    case SQLITE_IOERR: {
      int e = db ? sqlite3_system_errno(db) : 0;
      return e == ENOSPC || e == EDQUOT ? ec::full : ec::io_error;
    }
    default:
      return ec::io_error;
  }
}

/// Checks what SQLite would take on trust about the file's length: the
/// file is whole pages, and (with no write-ahead log beside it) at least as
/// long as its header says. Returns why not, or "" when the shape is right.
std::string check_file_shape(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ""; // SQLite reports it
  unsigned char h[100];
  ssize_t n = ::pread(fd, h, sizeof h, 0);
  struct stat st {};
  ::fstat(fd, &st);
  ::close(fd);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (n < static_cast<ssize_t>(sizeof h))
    return "truncated (" + std::to_string(size) + " bytes)";
  if (std::memcmp(h, "SQLite format 3", 16) != 0)
    return ""; // not a database at all: SQLite says so
  uint64_t page = (uint64_t{h[16]} << 8) | h[17];
  if (page == 1)
    page = 65536;
  if (page < 512 || (page & (page - 1)) != 0)
    return "corrupt (bad page size in its header)";
  if (size % page != 0)
    return "truncated or damaged (" + std::to_string(size)
           + " bytes is not a whole number of " + std::to_string(page)
           + "-byte pages)";
  auto be32 = [&](int at) {
    return (uint32_t{h[at]} << 24) | (uint32_t{h[at + 1]} << 16)
           | (uint32_t{h[at + 2]} << 8) | h[at + 3];
  };
  struct stat wal {};
  bool no_log = ::stat((path + "-wal").c_str(), &wal) != 0 || wal.st_size == 0;
  if (no_log && be32(92) == be32(24) && size < uint64_t{be32(28)} * page)
    return "truncated (" + std::to_string(size / page) + " pages, its header says "
           + std::to_string(be32(28)) + ")";
  return "";
}

} // namespace

result<std::unique_ptr<store>> store::open(std::unique_ptr<data_dir> dir,
                                           store_options opts) {
  using R = result<std::unique_ptr<store>>;
  if (!dir)
    return R::failure(ec::bad_path, "data_dir: not open");
  std::unique_ptr<store> s(new store(std::move(dir), opts));
  auto& d = *s->dir_;
  auto path = d.file("store.db");
  bool fresh = !d.initialised();
  if (!fresh && ::access(path.c_str(), F_OK) != 0)
    return R::failure(ec::corrupt,
                      d.error("store.db is missing although FORMAT says the "
                              "directory was initialised"));

  if (!fresh) {
    auto why = check_file_shape(path);
    if (!why.empty())
      return R::failure(ec::corrupt, d.error("store.db is " + why));
  }

  auto fail = [&](int rc, std::string what) {
    auto* db = s->impl_->db;
    std::string msg = escape(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    ec code = code_of(db, rc);
    std::string text = what + ": " + msg;
    if (code == ec::corrupt)
      text = "store.db is corrupt (" + what + ": " + msg + ")";
    else if (code == ec::full)
      text = "disk full, cannot start (" + what + ": " + msg + ")";
    return R::failure(code, d.error(text));
  };

  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
              | SQLITE_OPEN_EXRESCODE | (fresh ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &s->impl_->db, flags, nullptr);
  if (rc != SQLITE_OK)
    return fail(rc, "open store.db");
  sqlite3* db = s->impl_->db;

  auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
  auto pragma_int = [&](const char* sql, int64_t& out) -> int {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
      }
    }
    sqlite3_finalize(st);
    return rc;
  };
  auto pragma_text = [&](const char* sql, std::string& out) -> int {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        auto p = sqlite3_column_text(st, 0);
        out = p ? reinterpret_cast<const char*>(p) : "";
        rc = SQLITE_OK;
      }
    }
    sqlite3_finalize(st);
    return rc;
  };

  // Defences against a damaged file (SQLite's guidance for untrusted
  // databases): no schema code, cell bounds checked, no memory mapping.
  if ((rc = exec("PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON; "
                 "PRAGMA mmap_size=0;"))
      != SQLITE_OK)
    return fail(rc, "configure");

  if (fresh) {
    std::string mode;
    if ((rc = exec("PRAGMA page_size=4096;")) != SQLITE_OK
        || (rc = pragma_text("PRAGMA journal_mode=WAL;", mode)) != SQLITE_OK)
      return fail(rc, "create store.db");
    if (mode != "wal")
      return R::failure(ec::io_error, d.error("store.db: the file system does not "
                                              "support write-ahead logging"));
    std::string init = "PRAGMA application_id=" + std::to_string(application_id)
                       + "; PRAGMA user_version="
                       + std::to_string(format_version) + ";";
    if ((rc = exec(init.c_str())) != SQLITE_OK)
      return fail(rc, "create store.db");
  } else {
    int64_t app = 0, ver = 0;
    if ((rc = pragma_int("PRAGMA application_id;", app)) != SQLITE_OK)
      return fail(rc, "read store.db");
    if (app != application_id)
      return R::failure(ec::foreign, d.error("store.db is not a pekonode store "
                                             "(foreign file, or its header is corrupt)"));
    if ((rc = pragma_int("PRAGMA user_version;", ver)) != SQLITE_OK)
      return fail(rc, "read store.db");
    // FORMAT (checked already) is the directory's version; a store.db
    // that disagrees with it is damaged, not newer.
    if (ver != static_cast<int64_t>(format_version))
      return R::failure(ec::corrupt, d.error("store.db says format "
                                             + std::to_string(ver) + " where FORMAT says "
                                             + std::to_string(format_version)
                                             + ": corrupt"));
    std::string mode;
    if ((rc = pragma_text("PRAGMA journal_mode=WAL;", mode)) != SQLITE_OK)
      return fail(rc, "open store.db");
  }

  // Sync policy: every commit fsyncs the write-ahead log before it returns.
  std::string tune = "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=4096; "
                     "PRAGMA journal_size_limit=67108864;";
  if (opts.max_bytes > 0)
    tune += " PRAGMA max_page_count=" + std::to_string(std::max<uint64_t>(opts.max_bytes / 4096, 8)) + ";";
  if ((rc = exec(tune.c_str())) != SQLITE_OK)
    return fail(rc, "configure store.db");

  if (fresh && ((rc = exec("BEGIN")) != SQLITE_OK || (rc = exec(schema)) != SQLITE_OK))
    return fail(rc, "create store.db");

  if (!fresh && opts.verify_on_open) {
    std::string check;
    rc = pragma_text("PRAGMA quick_check(1);", check);
    if (rc != SQLITE_OK)
      return fail(rc, "check store.db");
    if (check != "ok")
      return R::failure(ec::corrupt, d.error("store.db is corrupt: "
                                             + escape_field(check.substr(0, 200))));
  }

  // The schema must be exactly ours: a damaged one would otherwise surface
  // later as confusing SQL errors.
  if (!fresh) {
    std::string want, have;
    sqlite3* mem = nullptr;
    if (sqlite3_open(":memory:", &mem) == SQLITE_OK
        && sqlite3_exec(mem, schema, nullptr, nullptr, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(mem, schema_query, -1, &st, nullptr) == SQLITE_OK
          && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        want = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      sqlite3_finalize(st);
    }
    sqlite3_close(mem);
    if ((rc = pragma_text(schema_query, have)) != SQLITE_OK)
      return fail(rc, "read the schema of store.db");
    if (want.empty() || have != want)
      return R::failure(ec::corrupt, d.error("store.db is corrupt: its schema is "
                                             "not the store's"));
  }

  auto& im = *s->impl_;
  auto prep = [&](stmt& st, const char* sql) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st.s, nullptr);
  };
  if ((rc = prep(im.upsert,
                 "INSERT INTO kv(key, hlc, origin, flags, gc_after, crc, value) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(key) DO UPDATE SET "
                 "hlc=?2, origin=?3, flags=?4, gc_after=?5, crc=?6, value=?7"))
        != SQLITE_OK
      || (rc = prep(im.erase, "DELETE FROM kv WHERE key=?1")) != SQLITE_OK
      || (rc = prep(im.meta_set,
                    "INSERT OR REPLACE INTO meta(name, value, crc) VALUES(?1, ?2, ?3)"))
           != SQLITE_OK
      || (rc = prep(im.meta_get, "SELECT value, crc FROM meta WHERE name=?1"))
           != SQLITE_OK)
    return fail(rc, "prepare store.db");

  auto set_meta = [&](const char* name, std::string_view value) {
    reset_guard g{im.meta_set.s};
    sqlite3_bind_text(im.meta_set.s, 1, name, -1, SQLITE_STATIC);
    bind_blob(im.meta_set.s, 2, value);
    sqlite3_bind_int64(im.meta_set.s, 3, crc32c(value));
    int rc = sqlite3_step(im.meta_set.s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  };

  if (fresh) {
    if ((rc = set_meta("cluster", d.id().cluster)) != SQLITE_OK
        || (rc = set_meta("node", d.id().node)) != SQLITE_OK
        || (rc = set_meta("boot_epoch", u64_bytes(0))) != SQLITE_OK
        || (rc = set_meta("hlc_high_water", u64_bytes(0))) != SQLITE_OK
        || (rc = set_meta("gc_horizon", u64_bytes(0))) != SQLITE_OK
        || (rc = set_meta("membership", encode_membership({}))) != SQLITE_OK
        || (rc = exec("COMMIT")) != SQLITE_OK) {
      exec("ROLLBACK");
      return fail(rc, "create store.db");
    }
  }

  // Read and check every meta value.
  std::string bad;
  auto get_meta = [&](const char* name, std::string& out) -> int {
    reset_guard g{im.meta_get.s};
    sqlite3_bind_text(im.meta_get.s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(im.meta_get.s);
    if (rc == SQLITE_DONE) {
      bad = std::string("meta value \"") + name + "\" is missing";
      return SQLITE_CORRUPT;
    }
    if (rc != SQLITE_ROW)
      return rc;
    if (!is_blob(im.meta_get.s, 0) && sqlite3_column_bytes(im.meta_get.s, 0) != 0) {
      bad = std::string("meta value \"") + name + "\" has the wrong type";
      return SQLITE_CORRUPT;
    }
    out = std::string(column_blob(im.meta_get.s, 0));
    if (!is_int(im.meta_get.s, 1)
        || static_cast<uint32_t>(sqlite3_column_int64(im.meta_get.s, 1)) != crc32c(out)
        || sqlite3_column_int64(im.meta_get.s, 1) < 0
        || sqlite3_column_int64(im.meta_get.s, 1) > 0xffffffffLL) {
      bad = std::string("meta value \"") + name + "\" fails its checksum";
      return SQLITE_CORRUPT;
    }
    return SQLITE_OK;
  };
  std::string cluster, node, epoch, hlc, gc, members;
  if ((rc = get_meta("cluster", cluster)) != SQLITE_OK
      || (rc = get_meta("node", node)) != SQLITE_OK
      || (rc = get_meta("boot_epoch", epoch)) != SQLITE_OK
      || (rc = get_meta("hlc_high_water", hlc)) != SQLITE_OK
      || (rc = get_meta("gc_horizon", gc)) != SQLITE_OK
      || (rc = get_meta("membership", members)) != SQLITE_OK) {
    if (!bad.empty())
      return R::failure(ec::corrupt, d.error("store.db is corrupt: " + bad));
    return fail(rc, "read store.db");
  }
  if (cluster != d.id().cluster || node != d.id().node)
    return R::failure(ec::foreign,
                      d.error("store.db belongs to node \"" + escape_field(node)
                              + "\" of cluster \"" + escape_field(cluster)
                              + "\", not to this directory's node \""
                              + escape_field(d.id().node) + "\""));
  if (!bytes_u64(epoch, s->boot_epoch_) || !bytes_u64(hlc, s->hlc_)
      || !bytes_u64(gc, s->gc_horizon_)
      || !decode_membership(members, s->membership_))
    return R::failure(ec::corrupt, d.error("store.db is corrupt: a meta value "
                                           "does not decode"));

  // The boot epoch: durably +1 at every start, before anything else is
  // written, so each run of the node has its own number.
  uint64_t next_epoch = s->boot_epoch_ + 1;
  if ((rc = set_meta("boot_epoch", u64_bytes(next_epoch))) != SQLITE_OK)
    return fail(rc, "write the boot epoch");
  s->boot_epoch_ = next_epoch;

  // The write above created the write-ahead log (it is deleted at every
  // clean close); its directory entry must be durable before any commit is
  // acknowledged, or a power cut could drop the whole log.
  if (auto st = d.sync_dir(); !st.ok())
    return R::failure(st);
  if (fresh) {
    // FORMAT last: a directory without it holds nothing acknowledged.
    if (auto st = d.mark_initialised(); !st.ok())
      return R::failure(st);
  }
  return R::success(std::move(s));
}

status store::validate(const write_batch& b) const {
  for (auto& o : b.ops_) {
    auto& r = o.r;
    if (r.key.empty())
      return status::failure(ec::invalid_argument, dir_->error("empty key"));
    if (r.key.size() > opts_.max_key_bytes)
      return status::failure(ec::invalid_argument,
                             dir_->error("key of " + std::to_string(r.key.size())
                                         + " bytes exceeds max_key_bytes"));
    if (o.erase)
      continue;
    if (r.origin.size() > opts_.max_key_bytes)
      return status::failure(ec::invalid_argument,
                             dir_->error("origin exceeds max_key_bytes"));
    if (r.value.size() > opts_.max_value_bytes)
      return status::failure(ec::invalid_argument,
                             dir_->error("value of " + std::to_string(r.value.size())
                                         + " bytes exceeds max_value_bytes"));
    if (r.tombstone && !r.value.empty())
      return status::failure(ec::invalid_argument,
                             dir_->error("a tombstone with a value"));
  }
  if (b.membership_) {
    if (b.membership_->peers.size() > max_peers)
      return status::failure(ec::invalid_argument, dir_->error("too many peers"));
    for (auto& p : b.membership_->peers)
      if (p.name.size() > max_peer_field_bytes || p.addr.size() > max_peer_field_bytes
          || p.state.size() > max_peer_field_bytes)
        return status::failure(ec::invalid_argument, dir_->error("peer field too long"));
  }
  return status::success();
}

status store::commit(const write_batch& b) {
  return commit(std::vector<const write_batch*>{&b});
}

status store::commit(const std::vector<const write_batch*>& batches) {
  for (auto* b : batches)
    if (auto st = validate(*b); !st.ok())
      return st;
  auto& im = *impl_;
  sqlite3* db = im.db;
  uint64_t hlc = hlc_, gc = gc_horizon_;
  const membership_snapshot* members = nullptr;
  for (auto* b : batches) {
    if (b->hlc_)
      hlc = std::max(hlc, *b->hlc_);
    if (b->gc_horizon_)
      gc = std::max(gc, *b->gc_horizon_);
    if (b->membership_)
      members = &*b->membership_;
  }

  auto failed = [&](int rc, const char* what) {
    std::string msg = escape(sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    ++stats_.commit_failures;
    ec code = code_of(db, rc);
    if (code == ec::full) {
      ++stats_.full_failures;
      bool at_limit = opts_.max_bytes > 0 && file_bytes() + (1 << 16) >= opts_.max_bytes;
      return status::failure(
        ec::full, dir_->error(at_limit
                                ? "store reached its size limit of "
                                    + std::to_string(opts_.max_bytes)
                                    + " bytes (max_bytes): write refused, reads continue"
                                : "disk full: write refused, reads continue ("
                                    + msg + ")"));
    }
    return status::failure(code, dir_->error(std::string(what) + ": " + msg));
  };

  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK)
    return failed(rc, "begin");
  for (auto* b : batches) {
    for (auto& o : b->ops_) {
      auto& r = o.r;
      if (o.erase) {
        reset_guard g{im.erase.s};
        bind_blob(im.erase.s, 1, r.key);
        if ((rc = sqlite3_step(im.erase.s)) != SQLITE_DONE)
          return failed(rc, "erase");
        continue;
      }
      reset_guard g{im.upsert.s};
      auto* st = im.upsert.s;
      bind_blob(st, 1, r.key);
      sqlite3_bind_int64(st, 2, static_cast<int64_t>(r.hlc));
      bind_blob(st, 3, r.origin);
      sqlite3_bind_int(st, 4, r.tombstone ? 1 : 0);
      sqlite3_bind_int64(st, 5, static_cast<int64_t>(r.gc_after_ms));
      sqlite3_bind_int64(st, 6, record_crc(r));
      bind_blob(st, 7, r.value);
      if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        return failed(rc, "put");
    }
  }
  auto set_meta = [&](const char* name, std::string_view value) {
    reset_guard g{im.meta_set.s};
    sqlite3_bind_text(im.meta_set.s, 1, name, -1, SQLITE_STATIC);
    bind_blob(im.meta_set.s, 2, value);
    sqlite3_bind_int64(im.meta_set.s, 3, crc32c(value));
    return sqlite3_step(im.meta_set.s);
  };
  std::string members_bytes;
  if (hlc != hlc_ && (rc = set_meta("hlc_high_water", u64_bytes(hlc))) != SQLITE_DONE)
    return failed(rc, "write the HLC high-water mark");
  if (gc != gc_horizon_ && (rc = set_meta("gc_horizon", u64_bytes(gc))) != SQLITE_DONE)
    return failed(rc, "write the GC horizon");
  if (members) {
    members_bytes = encode_membership(*members);
    if ((rc = set_meta("membership", members_bytes)) != SQLITE_DONE)
      return failed(rc, "write the membership snapshot");
  }
  if ((rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr)) != SQLITE_OK)
    return failed(rc, "commit");
  hlc_ = hlc;
  gc_horizon_ = gc;
  if (members)
    membership_ = *members;
  ++stats_.commits;
  stats_.batches += batches.size();
  return status::success();
}

status store::load(const std::function<void(record&)>& f) const {
  sqlite3* db = impl_->db;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(
    db, "SELECT key, hlc, origin, flags, gc_after, crc, value FROM kv", -1, &st,
    nullptr);
  auto fail = [&](int rc) {
    std::string msg = escape(sqlite3_errmsg(db));
    sqlite3_finalize(st);
    ec code = code_of(db, rc);
    return status::failure(code, dir_->error(code == ec::corrupt
                                               ? "store.db is corrupt (load: " + msg + ")"
                                               : "load: " + msg));
  };
  if (rc != SQLITE_OK)
    return fail(rc);
  record r;
  uint64_t n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ++n;
    auto corrupt = [&](const std::string& why) {
      sqlite3_finalize(st);
      return status::failure(ec::corrupt, dir_->error("store.db is corrupt: row "
                                                      + std::to_string(n) + " " + why));
    };
    if (!is_blob(st, 0) || !is_int(st, 1) || !is_blob(st, 2) || !is_int(st, 3)
        || !is_int(st, 4) || !is_int(st, 5) || !is_blob(st, 6))
      return corrupt("has a column of the wrong type");
    auto key = column_blob(st, 0);
    auto origin = column_blob(st, 2);
    auto value = column_blob(st, 6);
    int64_t flags = sqlite3_column_int64(st, 3);
    int64_t crc = sqlite3_column_int64(st, 5);
    if (key.empty() || key.size() > opts_.max_key_bytes
        || origin.size() > opts_.max_key_bytes || value.size() > opts_.max_value_bytes
        || (flags != 0 && flags != 1) || crc < 0 || crc > 0xffffffffLL)
      return corrupt("(key \"" + show_key(key) + "\") is out of bounds");
    r.key.assign(key);
    r.origin.assign(origin);
    r.value.assign(value);
    r.hlc = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
    r.tombstone = flags == 1;
    r.gc_after_ms = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
    if (record_crc(r) != static_cast<uint32_t>(crc))
      return corrupt("(key \"" + show_key(key) + "\") fails its checksum");
    if (r.tombstone && !r.value.empty())
      return corrupt("(key \"" + show_key(key) + "\") is a tombstone with a value");
    f(r);
  }
  if (rc != SQLITE_DONE)
    return fail(rc);
  sqlite3_finalize(st);
  return status::success();
}

uint64_t store::file_bytes() const {
  sqlite3_stmt* st = nullptr;
  uint64_t pages = 0, size = 0;
  if (sqlite3_prepare_v2(impl_->db, "PRAGMA page_count", -1, &st, nullptr) == SQLITE_OK
      && sqlite3_step(st) == SQLITE_ROW)
    pages = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  st = nullptr;
  if (sqlite3_prepare_v2(impl_->db, "PRAGMA page_size", -1, &st, nullptr) == SQLITE_OK
      && sqlite3_step(st) == SQLITE_ROW)
    size = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  return pages * size;
}

// -- snapshot files -----------------------------------------------------------
//
//   "PEKOSNAP"  u32 version
//   u32 len, header: bytes cluster, bytes node, u64 boot_epoch,
//                    u64 hlc_high_water, u64 gc_horizon, bytes membership
//   u32 crc32c(header)
//   per entry:  'R', u32 len, record (codec.h encode_record), u32 crc32c(record)
//   end:        'E', u64 records, u32 crc32c(every byte before this field)

result<snapshot_info> store::export_snapshot(const std::string& file) const {
  using R = result<snapshot_info>;
  auto err = [&](ec c, const std::string& what) {
    return R::failure(c, "snapshot " + file + ": " + what);
  };
  // Own connection: a read transaction in WAL mode sees one committed
  // state while the owner keeps committing.
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(dir_->file("store.db").c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  struct closer {
    sqlite3*& db;
    ~closer() { sqlite3_close_v2(db); }
  } close_db{db};
  if (rc != SQLITE_OK)
    return err(ec::io_error, std::string("open store: ") + sqlite3_errstr(rc));
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON; PRAGMA mmap_size=0;",
               nullptr, nullptr, nullptr);
  if ((rc = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr)) != SQLITE_OK)
    return err(code_of(db, rc), std::string("begin: ") + escape(sqlite3_errmsg(db)));

  // Meta as of the transaction's snapshot (the first read fixes it).
  std::map<std::string, std::string> meta;
  {
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(db, "SELECT name, value, crc FROM meta", -1, &st, nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      auto p = sqlite3_column_text(st, 0);
      std::string name = p ? reinterpret_cast<const char*>(p) : "";
      std::string value(column_blob(st, 1));
      if (static_cast<uint32_t>(sqlite3_column_int64(st, 2)) != crc32c(value)) {
        sqlite3_finalize(st);
        return err(ec::corrupt, "store meta value \"" + escape_field(name)
                                  + "\" fails its checksum");
      }
      meta[name] = std::move(value);
      rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
      return err(code_of(db, rc), std::string("read meta: ") + escape(sqlite3_errmsg(db)));
  }

  auto tmp = file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return err(errno == EACCES ? ec::permission : ec::io_error,
               std::string("create: ") + std::strerror(errno));
  file_out out(fd);
  std::string buf;
  writer w(buf);
  buf.append(snapshot_magic);
  w.u32(format_version);
  std::string header;
  writer h(header);
  h.bytes(meta["cluster"]);
  h.bytes(meta["node"]);
  h.u64(le64(meta["boot_epoch"]));
  h.u64(le64(meta["hlc_high_water"]));
  h.u64(le64(meta["gc_horizon"]));
  h.bytes(meta["membership"]);
  w.bytes(header);
  w.u32(crc32c(header));
  out.put(buf);

  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT key, hlc, origin, flags, gc_after, crc, value FROM kv",
                          -1, &st, nullptr);
  uint64_t count = 0;
  record r;
  std::string enc;
  status bad;
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    r.key.assign(column_blob(st, 0));
    r.hlc = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
    r.origin.assign(column_blob(st, 2));
    r.tombstone = sqlite3_column_int64(st, 3) == 1;
    r.gc_after_ms = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
    r.value.assign(column_blob(st, 6));
    if (record_crc(r) != static_cast<uint32_t>(sqlite3_column_int64(st, 5))) {
      bad = status::failure(ec::corrupt, "store entry \"" + show_key(r.key)
                                           + "\" fails its checksum");
      break;
    }
    enc.clear();
    encode_record(r, enc);
    buf.clear();
    w.u8('R');
    w.bytes(enc);
    w.u32(crc32c(enc));
    out.put(buf);
    ++count;
    rc = SQLITE_OK;
  }
  int final_rc = rc;
  std::string db_msg = escape(sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (bad.ok() && final_rc != SQLITE_DONE)
    bad = status::failure(code_of(db, final_rc), "read store: " + db_msg);
  if (bad.ok()) {
    buf.clear();
    w.u8('E');
    w.u64(count);
    out.put(buf);
    buf.clear();
    w.u32(out.crc());
    out.put(buf);
    out.flush();
    if (out.err() != 0)
      bad = status::failure(out.err() == ENOSPC ? ec::full : ec::io_error,
                            std::string("write: ") + std::strerror(out.err()));
    else if (::fsync(fd) != 0)
      bad = status::failure(errno == ENOSPC ? ec::full : ec::io_error,
                            std::string("fsync: ") + std::strerror(errno));
  }
  ::close(fd);
  if (bad.ok() && ::rename(tmp.c_str(), file.c_str()) != 0)
    bad = status::failure(ec::io_error, std::string("rename: ") + std::strerror(errno));
  if (!bad.ok()) {
    ::unlink(tmp.c_str());
    return err(bad.code, bad.message);
  }
  // The rename is durable once the directory is.
  auto slash = file.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
  int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return R::success({count, out.total()});
}

result<snapshot_info> store::import_snapshot(const std::string& file) {
  using R = result<snapshot_info>;
  auto err = [&](ec c, const std::string& what) {
    return R::failure(c, "snapshot " + file + ": " + what);
  };
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return err(errno == EACCES ? ec::permission : ec::bad_path, std::strerror(errno));
  struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
  } close_fd{fd};
  file_in in(fd);
  std::string b;
  auto truncated = [&] {
    return err(in.err() ? ec::io_error : ec::corrupt,
               in.err() ? std::strerror(in.err()) : "truncated");
  };
  if (!in.read(12, b))
    return truncated();
  if (b.compare(0, 8, snapshot_magic) != 0)
    return err(ec::foreign, "not a pekonode snapshot");
  uint32_t version = le32(std::string_view(b).substr(8));
  if (version > format_version)
    return err(ec::unsupported_format, "format " + std::to_string(version)
                                         + " is newer than this build reads ("
                                         + std::to_string(format_version) + ")");
  if (version != format_version)
    return err(ec::corrupt, "bad format version");
  if (!in.read(4, b))
    return truncated();
  uint32_t hlen = le32(b);
  if (hlen > max_snapshot_header)
    return err(ec::corrupt, "header length out of bounds");
  std::string header;
  if (!in.read(hlen, header) || !in.read(4, b))
    return truncated();
  if (le32(b) != crc32c(header))
    return err(ec::corrupt, "header fails its checksum");
  reader hr(header);
  std::string cluster(hr.bytes(max_peer_field_bytes * 64));
  std::string node(hr.bytes(max_peer_field_bytes * 64));
  hr.u64(); // the boot epoch of the exporting run: informative only
  uint64_t hlc = hr.u64();
  uint64_t gc = hr.u64();
  membership_snapshot members;
  auto members_bytes = hr.bytes(max_snapshot_header);
  if (!hr.at_end() || !decode_membership(members_bytes, members))
    return err(ec::corrupt, "header does not decode");
  if (cluster != dir_->id().cluster)
    return err(ec::foreign, "belongs to cluster \"" + escape_field(cluster)
                              + "\", not \"" + escape_field(dir_->id().cluster) + "\"");

  sqlite3* db = impl_->db;
  auto& im = *impl_;
  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  auto db_fail = [&](int rc, const char* what) {
    std::string msg = escape(sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return err(code_of(db, rc), dir_->error(std::string(what) + ": " + msg));
  };
  auto abort = [&](R r) {
    if (!sqlite3_get_autocommit(db))
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return r;
  };
  if (rc != SQLITE_OK)
    return db_fail(rc, "begin");
  if ((rc = sqlite3_exec(db, "DELETE FROM kv", nullptr, nullptr, nullptr)) != SQLITE_OK)
    return db_fail(rc, "clear");
  size_t max_rec = 2 * opts_.max_key_bytes + opts_.max_value_bytes + 64;
  uint64_t count = 0;
  record r;
  std::string enc;
  for (;;) {
    if (!in.read(1, b))
      return abort(truncated());
    if (b[0] == 'E')
      break;
    if (b[0] != 'R')
      return abort(err(ec::corrupt, "bad record tag after record " + std::to_string(count)));
    if (!in.read(4, b))
      return abort(truncated());
    uint32_t len = le32(b);
    if (len > max_rec)
      return abort(err(ec::corrupt, "record " + std::to_string(count + 1)
                                      + " length out of bounds"));
    if (!in.read(len, enc) || !in.read(4, b))
      return abort(truncated());
    if (le32(b) != crc32c(enc))
      return abort(err(ec::corrupt, "record " + std::to_string(count + 1)
                                      + " fails its checksum"));
    if (!decode_record(enc, opts_.max_key_bytes, opts_.max_value_bytes, r))
      return abort(err(ec::corrupt, "record " + std::to_string(count + 1)
                                      + " does not decode"));
    ++count;
    reset_guard g{im.upsert.s};
    auto* st = im.upsert.s;
    bind_blob(st, 1, r.key);
    sqlite3_bind_int64(st, 2, static_cast<int64_t>(r.hlc));
    bind_blob(st, 3, r.origin);
    sqlite3_bind_int(st, 4, r.tombstone ? 1 : 0);
    sqlite3_bind_int64(st, 5, static_cast<int64_t>(r.gc_after_ms));
    sqlite3_bind_int64(st, 6, record_crc(r));
    bind_blob(st, 7, r.value);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
      return db_fail(rc, "import");
  }
  if (!in.read(8, b))
    return abort(truncated());
  uint64_t declared = le64(b);
  uint32_t want = in.crc();
  if (!in.read(4, b))
    return abort(truncated());
  if (le32(b) != want)
    return abort(err(ec::corrupt, "fails its whole-file checksum"));
  if (declared != count)
    return abort(err(ec::corrupt, "declares " + std::to_string(declared)
                                    + " records, holds " + std::to_string(count)));
  if (!in.at_end())
    return abort(err(ec::corrupt, "has bytes after its end"));

  uint64_t new_hlc = std::max(hlc_, hlc);
  membership_snapshot new_members = membership_;
  new_members.incarnation = std::max(membership_.incarnation, members.incarnation);
  if (new_members.peers.empty())
    new_members.peers = members.peers;
  auto set_meta = [&](const char* name, std::string_view value) {
    reset_guard g{im.meta_set.s};
    sqlite3_bind_text(im.meta_set.s, 1, name, -1, SQLITE_STATIC);
    bind_blob(im.meta_set.s, 2, value);
    sqlite3_bind_int64(im.meta_set.s, 3, crc32c(value));
    return sqlite3_step(im.meta_set.s);
  };
  std::string mb = encode_membership(new_members);
  if ((rc = set_meta("hlc_high_water", u64_bytes(new_hlc))) != SQLITE_DONE
      || (rc = set_meta("gc_horizon", u64_bytes(gc))) != SQLITE_DONE
      || (rc = set_meta("membership", mb)) != SQLITE_DONE)
    return db_fail(rc, "import meta");
  if ((rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr)) != SQLITE_OK)
    return db_fail(rc, "commit");
  hlc_ = new_hlc;
  gc_horizon_ = gc;
  membership_ = std::move(new_members);
  struct stat sst {};
  ::fstat(fd, &sst);
  return R::success({count, static_cast<uint64_t>(sst.st_size)});
}

} // namespace pekonode::storage
