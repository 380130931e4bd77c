// A thin RAII layer over SQLite's C API, used by keystore/ and audit/. A Database
// is used by one thread at a time (SQLite's default serialized mode makes that
// safe, but statements are not shared between threads). Every failing call
// throws SqliteError naming the operation, the SQLite error name and message.
#pragma once

#include "signet/core/bytes.hpp"
#include "signet/core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace signet {

// A SQLite failure; SQLITE_BUSY/LOCKED give ErrorKind::busy, NOTADB/CORRUPT give
// bad_data, CANTOPEN gives no_input, the rest io.
class SqliteError : public Error {
 public:
  SqliteError(ErrorKind kind, const std::string& message, int code)
      : Error(kind, message), m_code(code) {}
  [[nodiscard]] int code() const noexcept { return m_code; }

 private:
  int m_code;
};

class Statement;
class CachedStatement;
struct StatementCache;

class Database {
 public:
  enum class Mode { read_only, read_write, create };

  // sqlite3_open_v2; read_only opens with SQLITE_OPEN_READONLY and immutable=0,
  // so it works on a copy on read-only media. create makes the file with mode 0600.
  static Database open(const std::filesystem::path& path, Mode mode);

  ~Database() noexcept;
  Database(const Database&) = delete;  // owns the sqlite3 handle
  Database& operator=(const Database&) = delete;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;

  // sqlite3_exec for statements without results (schema, pragmas, BEGIN/COMMIT).
  void exec(std::string_view sql);
  // sqlite3_prepare_v2.
  Statement prepare(std::string_view sql);
  // A statement for SQL run many times: taken from this connection's cache
  // (prepared once, with SQLITE_PREPARE_PERSISTENT) and given back, reset, when
  // the CachedStatement ends (finalized instead if the Database is gone by
  // then). Nested uses of the same SQL get statements of their own.
  CachedStatement prepare_cached(std::string_view sql);
  // Milliseconds sqlite waits on a lock before SQLITE_BUSY (sqlite3_busy_timeout).
  void busy_timeout(int ms);
  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }
  [[nodiscard]] sqlite3* handle() noexcept { return m_db; }

 private:
  Database(sqlite3* db, std::filesystem::path path);
  void close() noexcept;
  sqlite3* m_db = nullptr;
  std::filesystem::path m_path;
  std::shared_ptr<StatementCache> m_cache;  // shared with the CachedStatements lent out
};

class Statement {
 public:
  ~Statement() noexcept;
  Statement(const Statement&) = delete;  // owns the sqlite3_stmt
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;

  // Parameters are 1-based as in sqlite3_bind_*. Text and blobs are copied.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, ByteView blob);
  Statement& bind_null(int index);
  Statement& bind(int index, const std::optional<std::string>& text);
  // Binds text without copying it (SQLITE_STATIC): it must stay unchanged until
  // the statement is reset or stepped to its end.
  Statement& bind_view(int index, std::string_view text);

  // sqlite3_step: true while a row is available, false when done.
  bool step();
  // Steps a statement that returns no rows.
  void run();
  // sqlite3_reset + sqlite3_clear_bindings, to run it again.
  void reset();

  // Columns are 0-based as in sqlite3_column_*.
  [[nodiscard]] bool is_null(int column) const;
  [[nodiscard]] std::int64_t column_int(int column) const;
  [[nodiscard]] std::string column_text(int column) const;
  [[nodiscard]] std::optional<std::string> column_optional_text(int column) const;
  // The column's text without a copy; valid until the next step, reset or column call.
  [[nodiscard]] std::string_view column_view(int column) const;
  [[nodiscard]] Bytes column_blob(int column) const;

 private:
  friend class Database;
  friend class CachedStatement;
  Statement(sqlite3_stmt* stmt, sqlite3* db) : m_stmt(stmt), m_db(db) {}
  sqlite3_stmt* m_stmt = nullptr;
  sqlite3* m_db = nullptr;
};

// A statement lent by Database::prepare_cached; used like a Statement (->, *).
class CachedStatement {
 public:
  ~CachedStatement() noexcept;
  CachedStatement(const CachedStatement&) = delete;  // gives its statement back exactly once
  CachedStatement& operator=(const CachedStatement&) = delete;
  Statement* operator->() noexcept { return &m_stmt; }
  Statement& operator*() noexcept { return m_stmt; }

 private:
  friend class Database;
  CachedStatement(std::shared_ptr<StatementCache> cache, std::string sql, Statement stmt)
      : m_cache(std::move(cache)), m_sql(std::move(sql)), m_stmt(std::move(stmt)) {}
  std::shared_ptr<StatementCache> m_cache;
  std::string m_sql;
  Statement m_stmt;
};

// A transaction: BEGIN IMMEDIATE (takes the write lock now) or BEGIN DEFERRED;
// rolled back on destruction unless committed.
class Transaction {
 public:
  enum class Kind { immediate, deferred };
  explicit Transaction(Database& db, Kind kind = Kind::immediate);
  ~Transaction() noexcept;
  Transaction(const Transaction&) = delete;  // one BEGIN, one COMMIT or ROLLBACK
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& m_db;
  bool m_open = true;
};

}  // namespace signet
