/*
 * check.h: the tiny test helper shared by the C API tests (tests/c/test_*.c).
 *
 * Each CHECK prints file:line and what failed (for a status: the status number and text, and the engine's
 * last error or the caller's error buffer), counts the failure and carries on; it also evaluates to whether
 * it passed, so a test can stop early: `if (!CHECK_OK(e, cosell_engine_plan(...))) return;`.
 * check_done() prints the totals and gives the process exit code (non-zero on any failure).
 *
 * Every test program takes two optional arguments: the fixture directory (default tests/c/fixtures) and a
 * scratch directory for store files (default target/c/tmp), so that several builds of one test (shared,
 * static, sanitizers, valgrind) can run at once without sharing files.
 */
#ifndef COSELL_TEST_CHECK_H
#define COSELL_TEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cosell.h"

/* A pointer value no call ever returns: out-params are pre-set to it to prove a failed call wrote nothing. */
#define SENTINEL ((void *)(uintptr_t)0x5e5715e1u)

static int check_failures;
static int check_total;
static const char *check_fixture_dir = "tests/c/fixtures";
static const char *check_scratch_dir = "target/c/tmp";

static inline bool check_report(bool ok, const char *file, int line, const char *what, const char *detail)
{
    check_total++;
    if (!ok) {
        check_failures++;
        fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
        if (detail != NULL && detail[0] != '\0') {
            fprintf(stderr, "    %s\n", detail);
        }
    }
    return ok;
}

/* A status check; `message` is the engine's last error or an error buffer (may be NULL). */
static inline bool check_status_at(const char *file, int line, const char *expr, cosell_status got,
                                   cosell_status want, const char *message)
{
    char what[1024];
    if (got == want) {
        return check_report(true, file, line, expr, NULL);
    }
    snprintf(what, sizeof what, "%s\n    returned %u (%s), expected %u (%s)", expr, (unsigned)got,
             cosell_status_str(got), (unsigned)want, cosell_status_str(want));
    return check_report(false, file, line, what, message);
}

static inline bool check_str_at(const char *file, int line, const char *expr, const char *got, const char *want)
{
    char what[1024];
    bool ok = got != NULL && want != NULL && strcmp(got, want) == 0;
    snprintf(what, sizeof what, "%s\n    got \"%.300s\", expected \"%.300s\"", expr, got ? got : "(NULL)",
             want ? want : "(NULL)");
    return check_report(ok, file, line, what, NULL);
}

static inline bool check_contains_at(const char *file, int line, const char *expr, const char *text,
                                     const char *needle)
{
    char what[1024];
    bool ok = text != NULL && strstr(text, needle) != NULL;
    snprintf(what, sizeof what, "%s\n    does not contain \"%.200s\"; text: \"%.400s%s\"", expr, needle,
             text ? text : "(NULL)", text && strlen(text) > 400 ? "..." : "");
    return check_report(ok, file, line, what, NULL);
}

/* As check_status_at, with the message read from the engine after the call returned. */
static inline bool check_status_engine_at(const char *file, int line, const char *expr, cosell_status got,
                                          cosell_status want, const cosell_engine *engine)
{
    return check_status_at(file, line, expr, got, want, cosell_engine_last_error(engine));
}

/* A plain condition. */
#define CHECK(cond) check_report((cond), __FILE__, __LINE__, #cond, NULL)
/* `call` returns COSELL_STATUS_OK; on failure prints cosell_engine_last_error(engine) (engine may be NULL). */
#define CHECK_OK(engine, call) CHECK_STATUS(engine, call, COSELL_STATUS_OK)
/* `call` returns `want`; on failure prints cosell_engine_last_error(engine). */
#define CHECK_STATUS(engine, call, want)                                                                   \
    check_status_engine_at(__FILE__, __LINE__, #call, (call), (want), (engine))
/* `call` (one that takes an error buffer) returns `want`; on failure prints the buffer `buf`. */
#define CHECK_STATUS_BUF(call, want, buf) check_status_at(__FILE__, __LINE__, #call, (call), (want), (buf))
/* Two NUL-terminated strings are equal (a NULL is never equal). */
#define CHECK_STR(got, want) check_str_at(__FILE__, __LINE__, #got " == " #want, (got), (want))
/* `text` contains `needle` (a NULL text never does). */
#define CHECK_CONTAINS(text, needle) check_contains_at(__FILE__, __LINE__, #text, (text), (needle))

/* Reads the command line: argv[1] the fixture directory, argv[2] the scratch directory (it must exist: make
 * creates it). */
static inline void check_init(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress and failures (stderr) stay in order in a log */
    if (argc > 1) {
        check_fixture_dir = argv[1];
    }
    if (argc > 2) {
        check_scratch_dir = argv[2];
    }
}

/* Prints the totals; returns the exit code (0 only when every check passed). */
static inline int check_done(const char *name)
{
    printf("%s: %d checks, %d failed%s\n", name, check_total, check_failures,
           check_failures ? "" : " - ok");
    return check_failures ? 1 : 0;
}

/* A file's whole content, NUL-terminated, with trailing newlines cut (*len excludes them). Free with free().
 * Exits when the file cannot be read: no test can run without its fixtures. */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL) {
        fprintf(stderr, "cannot read %s (run the tests from the repository root)\n", path);
        exit(2);
    }
    for (;;) {
        if (cap - n < 4096) {
            char *grown = realloc(text, cap = cap * 2 + 8192);
            if (grown == NULL) {
                fprintf(stderr, "out of memory reading %s\n", path);
                exit(2);
            }
            text = grown;
        }
        size_t got = fread(text + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        n--;
    }
    text[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return text;
}

/* A fixture (tests/c/fixtures/<name>) as read_file gives it. */
static inline char *fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_fixture_dir, name);
    return read_file(path, len);
}

/* The path of a scratch file (in the scratch directory) in `buf`, after removing it and its -wal and -shm
 * files: a fresh store path. */
static inline const char *fresh_path(char *buf, size_t cap, const char *name)
{
    char side[1100];
    snprintf(buf, cap, "%s/%s", check_scratch_dir, name);
    remove(buf);
    snprintf(side, sizeof side, "%s-wal", buf);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", buf);
    remove(side);
    return buf;
}

#endif /* COSELL_TEST_CHECK_H */
