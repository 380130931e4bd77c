#include "signet/core/sqlite.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_map>
#include <utility>
#include <vector>

namespace signet {

// Prepared statements not lent out, by SQL text; closed once the connection is.
struct StatementCache {
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle;
  bool closed = false;
};

namespace {

ErrorKind kind_of(int code) noexcept {
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorKind::busy;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return ErrorKind::bad_data;
    case SQLITE_CANTOPEN: return ErrorKind::no_input;
    default: return ErrorKind::io;
  }
}

[[noreturn]] void fail(sqlite3* db, int code, std::string_view operation, const std::string& where) {
  std::string message = std::string(operation) + " " + where + ": " + ::sqlite3_errstr(code);
  if (db != nullptr) {
    const char* detail = ::sqlite3_errmsg(db);
    if (detail != nullptr && std::string_view(detail) != ::sqlite3_errstr(code)) {
      message += " (" + std::string(detail) + ")";
    }
  }
  throw SqliteError(kind_of(code), message, code);
}

}  // namespace

Database Database::open(const std::filesystem::path& path, Mode mode) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  switch (mode) {
    case Mode::read_only: flags |= SQLITE_OPEN_READONLY; break;
    case Mode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
    case Mode::create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
  }
  if (mode != Mode::create && !std::filesystem::exists(path)) {
    throw SqliteError(ErrorKind::no_input, "database " + path.string() + " does not exist",
                      SQLITE_CANTOPEN);
  }
  // New files are created owner-only; the umask cannot widen that.
  const mode_t old_mask = mode == Mode::create ? ::umask(077) : ::umask(022);
  if (mode != Mode::create) ::umask(old_mask);
  sqlite3* db = nullptr;
  std::string uri = "file:";
  for (const char c : path.string()) {
    if (c == '?' || c == '#' || c == '%') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const auto u = static_cast<unsigned char>(c);
      uri += '%';
      uri += kHex[u >> 4U];
      uri += kHex[u & 0xFU];
    } else {
      uri += c;
    }
  }
  // A copy on read-only media cannot get the WAL index (-shm) SQLite wants even
  // for reading; opened immutable, it is read as it is.
  if (mode == Mode::read_only) {
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    if (::access(dir.c_str(), W_OK) != 0 && !std::filesystem::exists(path.string() + "-shm", ec)) {
      // Immutable, SQLite ignores a -wal file (its committed transactions
      // would go unread) and a hot -journal (its rollback would not be made):
      // either way the bytes checked would not be the log.
      for (const auto* suffix : {"-wal", "-journal"}) {
        const auto side = std::filesystem::path(path.string() + suffix);
        const auto side_size = std::filesystem::file_size(side, ec);
        if (ec || side_size == 0) continue;
        const bool wal = std::string_view(suffix) == "-wal";
        throw SqliteError(ErrorKind::no_input,
                          "database " + path.string() + ": its " + (wal ? "write-ahead log " : "rollback journal ") +
                              side.string() + " holds " + std::to_string(side_size) + " bytes, which SQLite " +
                              (wal ? "reads only through a -shm index file, and none can be made in "
                                   : "must play back into the database before reading it, and cannot in ") +
                              "the read-only folder " + dir.string() + "; copy the database with its " + suffix +
                              " file to a writable folder and read it there",
                          SQLITE_CANTOPEN);
      }
      uri += "?immutable=1";
    }
  }
  const int rc = ::sqlite3_open_v2(uri.c_str(), &db, flags, nullptr);
  if (mode == Mode::create) ::umask(old_mask);
  if (rc != SQLITE_OK) {
    Database guard(db, path);  // closes the handle sqlite allocates even on failure
    fail(db, rc, "opening database", path.string());
  }
  ::sqlite3_extended_result_codes(db, 1);
  return Database(db, path);
}

Database::Database(sqlite3* db, std::filesystem::path path)
    : m_db(db), m_path(std::move(path)), m_cache(std::make_shared<StatementCache>()) {}

void Database::close() noexcept {
  if (m_cache) {
    for (auto& [sql, stmts] : m_cache->idle)
      for (auto* st : stmts) ::sqlite3_finalize(st);
    m_cache->idle.clear();
    m_cache->closed = true;  // statements still lent out are finalized when given back
    m_cache.reset();
  }
  if (m_db != nullptr) ::sqlite3_close_v2(m_db);
  m_db = nullptr;
}

Database::~Database() noexcept { close(); }

Database::Database(Database&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_path(std::move(other.m_path)), m_cache(std::move(other.m_cache)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    close();
    m_db = std::exchange(other.m_db, nullptr);
    m_path = std::move(other.m_path);
    m_cache = std::move(other.m_cache);
  }
  return *this;
}

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int rc = ::sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &error);
  ::sqlite3_free(error);
  if (rc != SQLITE_OK) fail(m_db, rc, "executing SQL on", m_path.string());
}

Statement Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = ::sqlite3_prepare_v2(m_db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(m_db, rc, "preparing SQL on", m_path.string());
  return Statement(stmt, m_db);
}

CachedStatement Database::prepare_cached(std::string_view sql) {
  std::string key(sql);
  auto& idle = m_cache->idle[key];
  if (!idle.empty()) {
    sqlite3_stmt* st = idle.back();
    idle.pop_back();
    return CachedStatement(m_cache, std::move(key), Statement(st, m_db));
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = ::sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                      nullptr);
  if (rc != SQLITE_OK) fail(m_db, rc, "preparing SQL on", m_path.string());
  return CachedStatement(m_cache, std::move(key), Statement(stmt, m_db));
}

CachedStatement::~CachedStatement() noexcept {
  if (m_stmt.m_stmt == nullptr || m_cache->closed) return;  // m_stmt finalizes it
  ::sqlite3_reset(m_stmt.m_stmt);
  ::sqlite3_clear_bindings(m_stmt.m_stmt);
  try {
    m_cache->idle[m_sql].push_back(std::exchange(m_stmt.m_stmt, nullptr));
  } catch (...) {
    // Out of memory: the statement is finalized by m_stmt instead of kept.
  }
}

void Database::busy_timeout(int ms) { ::sqlite3_busy_timeout(m_db, ms); }

std::int64_t Database::last_insert_rowid() const noexcept { return ::sqlite3_last_insert_rowid(m_db); }

Statement::~Statement() noexcept {
  if (m_stmt != nullptr) ::sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement&& other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)), m_db(std::exchange(other.m_db, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (m_stmt != nullptr) ::sqlite3_finalize(m_stmt);
    m_stmt = std::exchange(other.m_stmt, nullptr);
    m_db = std::exchange(other.m_db, nullptr);
  }
  return *this;
}

namespace {
void check_bind(sqlite3* db, int rc) {
  if (rc != SQLITE_OK) fail(db, rc, "binding a parameter on", "database");
}
}  // namespace

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(m_db, ::sqlite3_bind_int64(m_stmt, index, value));
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  check_bind(m_db, ::sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                         SQLITE_UTF8));
  return *this;
}

Statement& Statement::bind(int index, ByteView blob) {
  check_bind(m_db, ::sqlite3_bind_blob64(m_stmt, index, blob.data(), blob.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind_view(int index, std::string_view text) {
  check_bind(m_db, ::sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
  return *this;
}

Statement& Statement::bind_null(int index) {
  check_bind(m_db, ::sqlite3_bind_null(m_stmt, index));
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

bool Statement::step() {
  const int rc = ::sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* db_file = ::sqlite3_db_filename(m_db, "main");
  fail(m_db, rc, "executing SQL on", db_file != nullptr ? db_file : "database");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  ::sqlite3_reset(m_stmt);
  ::sqlite3_clear_bindings(m_stmt);
}

bool Statement::is_null(int column) const { return ::sqlite3_column_type(m_stmt, column) == SQLITE_NULL; }

std::int64_t Statement::column_int(int column) const { return ::sqlite3_column_int64(m_stmt, column); }

std::string Statement::column_text(int column) const {
  const auto* text = ::sqlite3_column_text(m_stmt, column);
  const int size = ::sqlite3_column_bytes(m_stmt, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)};
}

std::string_view Statement::column_view(int column) const {
  const auto* text = ::sqlite3_column_text(m_stmt, column);
  const int size = ::sqlite3_column_bytes(m_stmt, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)};
}

std::optional<std::string> Statement::column_optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_text(column);
}

Bytes Statement::column_blob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(::sqlite3_column_blob(m_stmt, column));
  const int size = ::sqlite3_column_bytes(m_stmt, column);
  if (data == nullptr) return {};
  return {data, data + size};
}

Transaction::Transaction(Database& db, Kind kind) : m_db(db) {
  m_db.exec(kind == Kind::immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
}

Transaction::~Transaction() noexcept {
  if (m_open) {
    char* error = nullptr;
    ::sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, &error);
    ::sqlite3_free(error);
  }
}

void Transaction::commit() {
  m_db.exec("COMMIT");
  m_open = false;
}

}  // namespace signet
