#ifndef KAPPA_CSQLITE_SHIM_H
#define KAPPA_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import.
static inline sqlite3_destructor_type kappa_sqlite_transient(void) { return SQLITE_TRANSIENT; }

// sqlite3_config is variadic, which Swift cannot call. Turns off SQLite's memory statistics (a global mutex taken
// on every allocation); must run before the first connection opens. Returns SQLITE_MISUSE when SQLite was
// already initialized in this process (harmless: the statistics then stay on).
static inline int kappa_sqlite_disable_memstatus(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

#endif
