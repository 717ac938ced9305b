/*
 * host_sqlite.c: a host that uses the system libsqlite3 itself and libcosell.so (which bundles its own SQLite,
 * not exported) in one process. Linked with -lcosell -lsqlite3 (make test-c-symbols).
 *
 * The host's sqlite3_* calls must bind to the system library (its run-time version equals the header it was
 * compiled with), cosell must work alongside it (open, plan, commit, on a store file), the store cosell wrote must
 * be readable by the system SQLite, and a database of the host's own must be refused by cosell as "not a store".
 */
#include <sqlite3.h>

#include "check.h"

static int count_rows(void *count, int ncols, char **values, char **names)
{
    (void)ncols;
    (void)values;
    (void)names;
    ++*(int *)count;
    return 0;
}

/* The host's own in-memory database, through the system SQLite. */
static sqlite3 *test_host_database(void)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    int rows = 0;
    printf("system SQLite: header %s, library %s\n", SQLITE_VERSION, sqlite3_libversion());
    CHECK_STR(sqlite3_libversion(), SQLITE_VERSION);
    CHECK(sqlite3_libversion_number() == SQLITE_VERSION_NUMBER);
    CHECK_STR(sqlite3_sourceid(), SQLITE_SOURCE_ID);
    if (!CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK)) {
        return db;
    }
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE crm_cache (id TEXT PRIMARY KEY, body TEXT);"
                       "INSERT INTO crm_cache VALUES ('006000000000000000', '{}'), ('006000000000000001', '{}');",
                       NULL, NULL, &err) == SQLITE_OK);
    sqlite3_free(err);
    err = NULL;
    CHECK(sqlite3_exec(db, "SELECT id FROM crm_cache", count_rows, &rows, &err) == SQLITE_OK);
    sqlite3_free(err);
    CHECK(rows == 2);
    return db;
}

/* cosell on a store file while the host's connection is open: link a pair, then nothing to do. */
static void test_cosell_alongside(sqlite3 *db, const char *store)
{
    static const char results[] = "{\"cause\": \"manual\"}";
    size_t ref_len, crm_len;
    char *ref = fixture("referral_a.json", &ref_len);
    char *crm = fixture("salesforce_a.json", &crm_len);
    char err[512] = "", *report = NULL, *sqlerr = NULL;
    cosell_mapping *m = NULL;
    cosell_engine *e = NULL;
    cosell_plan *p = NULL;
    int rows = 0;
    if (CHECK_STATUS_BUF(cosell_mapping_builtin("salesforce", &m, err, sizeof err), COSELL_STATUS_OK, err) &&
        CHECK_STATUS_BUF(cosell_engine_open(store, m, &e, err, sizeof err), COSELL_STATUS_OK, err) &&
        CHECK_OK(e, cosell_engine_plan(e, ref, ref_len, crm, crm_len, &p))) {
        CHECK_STR(cosell_plan_summary(p), "link");
        /* The host's database in between cosell's calls. */
        CHECK(sqlite3_exec(db, "SELECT id FROM crm_cache", count_rows, &rows, &sqlerr) == SQLITE_OK);
        if (CHECK_OK(e, cosell_engine_commit(e, p, results, strlen(results), &report))) {
            printf("cosell commit: %s\n", report);
            CHECK_CONTAINS(report, "\"status\":\"synced\"");
        }
        cosell_plan_free(p);
        p = NULL;
        if (CHECK_OK(e, cosell_engine_plan(e, ref, ref_len, crm, crm_len, &p))) {
            CHECK_STR(cosell_plan_summary(p), "nothing");
        }
    }
    CHECK(rows == 2);
    sqlite3_free(sqlerr);
    cosell_string_free(report);
    cosell_plan_free(p);
    cosell_engine_free(e);
    cosell_mapping_free(m);
    free(ref);
    free(crm);
}

/* The store cosell wrote is an SQLite file the system library reads. */
static void test_store_readable(const char *store)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    int tables = 0;
    if (CHECK(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)) {
        CHECK(sqlite3_exec(db, "SELECT name FROM sqlite_master WHERE type = 'table'", count_rows, &tables, &err) ==
              SQLITE_OK);
        if (err != NULL) {
            fprintf(stderr, "    %s\n", err);
        }
        CHECK(tables > 0);
        printf("the store has %d tables, read by the system SQLite\n", tables);
    }
    sqlite3_free(err);
    sqlite3_close(db);
}

/* A database of the host's own is not a cosell store. */
static void test_foreign_database(const char *path)
{
    sqlite3 *db = NULL;
    cosell_mapping *m = NULL;
    cosell_engine *e = SENTINEL;
    char err[512] = "";
    if (!CHECK(sqlite3_open(path, &db) == SQLITE_OK) ||
        !CHECK(sqlite3_exec(db, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);", NULL, NULL, NULL) ==
               SQLITE_OK)) {
        sqlite3_close(db);
        return;
    }
    sqlite3_close(db);
    if (CHECK_STATUS_BUF(cosell_mapping_builtin("salesforce", &m, err, sizeof err), COSELL_STATUS_OK, err)) {
        CHECK_STATUS_BUF(cosell_engine_open(path, m, &e, err, sizeof err), COSELL_STATUS_STORE_NOT_A_STORE, err);
        CHECK(e == SENTINEL);
    }
    cosell_mapping_free(m);
}

int main(int argc, char **argv)
{
    char store[1024], foreign[1024];
    sqlite3 *db;
    check_init(argc, argv);
    db = test_host_database();
    test_cosell_alongside(db, fresh_path(store, sizeof store, "host-store.db"));
    test_store_readable(store);
    test_foreign_database(fresh_path(foreign, sizeof foreign, "host-own.db"));
    CHECK(sqlite3_close(db) == SQLITE_OK);
    printf("libcosell %s and system SQLite %s in one process\n", cosell_version(), sqlite3_libversion());
    return check_done("host_sqlite");
}
