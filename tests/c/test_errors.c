/*
 * test_errors.c: every error path of the C API. A NULL for each pointer argument gives
 * COSELL_STATUS_NULL_ARGUMENT and writes no out-param (out-params are pre-set to SENTINEL and checked after);
 * every _free(NULL) is a no-op; invalid UTF-8, malformed, enormous and deeply nested records, bad mappings, bad
 * results, stale plans and foreign store files give their documented status and a message that names the
 * problem; error buffers are cut to fit and stay NUL-terminated; and the engine stays usable after each error.
 * The status numbers are pinned: a renumbering fails this test.
 */
#include "check.h"

/* A good pair (fixtures referral_a.json and salesforce_a.json) planned after each error. */
static char *good_ref, *good_crm;
static size_t good_ref_len, good_crm_len;

/* The engine still works: the good pair plans (a first sync, or nothing once linked). */
#define CHECK_USABLE(e) check_usable(__FILE__, __LINE__, (e))
static void check_usable(const char *file, int line, cosell_engine *e)
{
    cosell_plan *p = NULL;
    cosell_status s = cosell_engine_plan(e, good_ref, good_ref_len, good_crm, good_crm_len, &p);
    const char *summary = cosell_plan_summary(p);
    bool ok = s == COSELL_STATUS_OK && summary != NULL &&
              (strcmp(summary, "link") == 0 || strcmp(summary, "nothing") == 0);
    check_report(ok, file, line, "the engine plans a good pair after the error", cosell_engine_last_error(e));
    cosell_plan_free(p);
}

static cosell_mapping *salesforce(void)
{
    cosell_mapping *m = NULL;
    char err[256] = "";
    CHECK_STATUS_BUF(cosell_mapping_builtin("salesforce", &m, err, sizeof err), COSELL_STATUS_OK, err);
    return m;
}

static cosell_engine *memory_engine(const cosell_mapping *m)
{
    cosell_engine *e = NULL;
    char err[256] = "";
    CHECK_STATUS_BUF(cosell_engine_open(":memory:", m, &e, err, sizeof err), COSELL_STATUS_OK, err);
    return e;
}

/* The numbers are part of the ABI: never renumbered. */
static void test_status_numbers(void)
{
    CHECK(COSELL_STATUS_OK == 0);
    CHECK(COSELL_STATUS_NULL_ARGUMENT == 1);
    CHECK(COSELL_STATUS_INVALID_UTF8 == 2);
    CHECK(COSELL_STATUS_PANIC == 3);
    CHECK(COSELL_STATUS_INVALID_ARGUMENT == 4);
    CHECK(COSELL_STATUS_MAPPING_PARSE == 100);
    CHECK(COSELL_STATUS_MAPPING_UNKNOWN_PROFILE == 101);
    CHECK(COSELL_STATUS_MAPPING_INVALID_RULE == 102);
    CHECK(COSELL_STATUS_MAPPING_IO == 103);
    CHECK(COSELL_STATUS_MAPPING_OTHER == 199);
    CHECK(COSELL_STATUS_RECORD_INVALID_JSON == 200);
    CHECK(COSELL_STATUS_RECORD_TOO_LARGE == 201);
    CHECK(COSELL_STATUS_RECORD_NOT_AN_OBJECT == 202);
    CHECK(COSELL_STATUS_RECORD_MISSING_FIELD == 203);
    CHECK(COSELL_STATUS_RECORD_INVALID_FIELD == 204);
    CHECK(COSELL_STATUS_RECORD_UNKNOWN_ENTITY == 205);
    CHECK(COSELL_STATUS_RECORD_MISMATCH == 206);
    CHECK(COSELL_STATUS_RECORD_OTHER == 299);
    CHECK(COSELL_STATUS_STORE_OPEN == 300);
    CHECK(COSELL_STATUS_STORE_NOT_A_STORE == 301);
    CHECK(COSELL_STATUS_STORE_NEWER_SCHEMA == 302);
    CHECK(COSELL_STATUS_STORE_OUTDATED_SCHEMA == 303);
    CHECK(COSELL_STATUS_STORE_CORRUPT == 304);
    CHECK(COSELL_STATUS_STORE_READ_ONLY == 305);
    CHECK(COSELL_STATUS_STORE_BUSY == 306);
    CHECK(COSELL_STATUS_STORE_FULL == 307);
    CHECK(COSELL_STATUS_STORE_NOT_FOUND == 308);
    CHECK(COSELL_STATUS_STORE_STALE_LINK == 309);
    CHECK(COSELL_STATUS_STORE_INVALID_STATE == 310);
    CHECK(COSELL_STATUS_STORE_INVALID_INPUT == 311);
    CHECK(COSELL_STATUS_STORE_SQLITE == 312);
    CHECK(COSELL_STATUS_STORE_JSON == 313);
    CHECK(COSELL_STATUS_STORE_OTHER == 399);
    CHECK(COSELL_STATUS_COMMIT_RESULT_MISMATCH == 400);
    CHECK(COSELL_STATUS_COMMIT_STALE_PLAN == 401);
    CHECK(COSELL_STATUS_COMMIT_OTHER == 499);
    CHECK(COSELL_MAPPING_FORMAT_JSON == 0);
    CHECK(COSELL_MAPPING_FORMAT_TOML == 1);
    CHECK(sizeof(cosell_status) == 4);
}

/* Every status has its own static text; any other number is "unknown status". */
static void test_status_str(void)
{
    static const unsigned known[] = {0,   1,   2,   3,   4,   100, 101, 102, 103, 199, 200, 201,
                                     202, 203, 204, 205, 206, 299, 300, 301, 302, 303, 304, 305,
                                     306, 307, 308, 309, 310, 311, 312, 313, 399, 400, 401, 499};
    static const unsigned unknown[] = {5, 99, 104, 198, 207, 314, 402, 500, 9999, 0xffffffffu};
    const size_t n = sizeof known / sizeof known[0];
    for (size_t i = 0; i < n; i++) {
        const char *text = cosell_status_str(known[i]);
        if (!CHECK(text != NULL && text[0] != '\0')) {
            fprintf(stderr, "    status %u\n", known[i]);
            continue;
        }
        if (!CHECK(strcmp(text, "unknown status") != 0)) {
            fprintf(stderr, "    status %u\n", known[i]);
        }
        for (size_t j = 0; j < i; j++) {
            if (!CHECK(strcmp(text, cosell_status_str(known[j])) != 0)) {
                fprintf(stderr, "    statuses %u and %u share the text \"%s\"\n", known[i], known[j], text);
            }
        }
    }
    CHECK_STR(cosell_status_str(COSELL_STATUS_OK), "ok");
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_STR(cosell_status_str(unknown[i]), "unknown status");
    }
}

/* Every _free(NULL) is a no-op; so are the NULL-tolerant getters. */
static void test_free_null(void)
{
    cosell_engine_free(NULL);
    cosell_mapping_free(NULL);
    cosell_plan_free(NULL);
    cosell_string_free(NULL);
    CHECK_STR(cosell_engine_last_error(NULL), "");
    CHECK(cosell_mapping_crm(NULL) == NULL);
    CHECK(cosell_plan_summary(NULL) == NULL);
    CHECK(cosell_plan_is_empty(NULL) == false);
}

/* The mapping functions with each pointer argument NULL. */
static void test_null_mapping_args(const cosell_mapping *m)
{
    static const char over[] = "{\"fields\": {\"deal_value\": {\"crm\": \"Expected_Revenue__c\"}}}";
    cosell_mapping *out = SENTINEL;
    char *json = SENTINEL;
    char err[256];
    CHECK_STATUS_BUF(cosell_mapping_builtin(NULL, &out, err, sizeof err), COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK(out == SENTINEL);
    CHECK_STATUS_BUF(cosell_mapping_builtin("salesforce", NULL, err, sizeof err), COSELL_STATUS_NULL_ARGUMENT,
                     err);
    CHECK_STATUS_BUF(cosell_mapping_from_text(NULL, 10, COSELL_MAPPING_FORMAT_JSON, &out, err, sizeof err),
                     COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK(out == SENTINEL);
    CHECK_STATUS_BUF(cosell_mapping_from_text(over, strlen(over), COSELL_MAPPING_FORMAT_JSON, NULL, err,
                                              sizeof err),
                     COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK_STATUS_BUF(cosell_mapping_override(NULL, over, strlen(over), &out, err, sizeof err),
                     COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK(out == SENTINEL);
    CHECK_STATUS_BUF(cosell_mapping_override(m, NULL, 5, &out, err, sizeof err), COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK(out == SENTINEL);
    CHECK_STATUS_BUF(cosell_mapping_override(m, over, strlen(over), NULL, err, sizeof err),
                     COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK_STATUS(NULL, cosell_mapping_to_json(NULL, &json), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(json == SENTINEL);
    CHECK_STATUS(NULL, cosell_mapping_to_json(m, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_mapping_builtin_names(NULL), COSELL_STATUS_NULL_ARGUMENT);
}

/* cosell_engine_open with each pointer argument NULL; a NULL error buffer is fine. */
static void test_null_open_args(const cosell_mapping *m)
{
    cosell_engine *e = SENTINEL;
    char err[256];
    CHECK_STATUS_BUF(cosell_engine_open(NULL, m, &e, err, sizeof err), COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK(e == SENTINEL);
    strcpy(err, "stale");
    CHECK_STATUS_BUF(cosell_engine_open(":memory:", NULL, &e, err, sizeof err), COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK_CONTAINS(err, "mapping is NULL");
    CHECK(e == SENTINEL);
    strcpy(err, "stale");
    CHECK_STATUS_BUF(cosell_engine_open(":memory:", m, NULL, err, sizeof err), COSELL_STATUS_NULL_ARGUMENT, err);
    CHECK_CONTAINS(err, "engine_out is NULL");
    CHECK_STATUS_BUF(cosell_engine_open(NULL, m, &e, NULL, 0), COSELL_STATUS_NULL_ARGUMENT, "");
    CHECK(e == SENTINEL);
    /* Success with no error buffer. */
    if (CHECK_STATUS_BUF(cosell_engine_open(":memory:", m, &e, NULL, 0), COSELL_STATUS_OK, "")) {
        CHECK(e != SENTINEL && e != NULL);
        cosell_engine_free(e);
    }
}

/* Each engine function with a NULL engine, then with each other pointer argument NULL. */
static void test_null_engine_args(cosell_engine *e)
{
    cosell_plan *plan = SENTINEL;
    cosell_plan *plans[2] = {SENTINEL, SENTINEL};
    cosell_status statuses[2] = {7777, 7777};
    cosell_pair pairs[2] = {{good_ref, good_ref_len, good_crm, good_crm_len},
                            {good_ref, good_ref_len, good_crm, good_crm_len}};
    char *out = SENTINEL;
    size_t rows = 4242;
    cosell_plan *good = NULL;

    /* A NULL engine. */
    CHECK_STATUS(NULL, cosell_engine_plan(NULL, good_ref, good_ref_len, good_crm, good_crm_len, &plan),
                 COSELL_STATUS_NULL_ARGUMENT);
    CHECK(plan == SENTINEL);
    CHECK_STATUS(NULL, cosell_engine_plan_many(NULL, pairs, 2, plans, statuses), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(plans[0] == SENTINEL && plans[1] == SENTINEL && statuses[0] == 7777 && statuses[1] == 7777);
    CHECK_STATUS(NULL, cosell_engine_begin_transaction(NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_commit_transaction(NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_rollback_transaction(NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_audit(NULL, NULL, 0, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_reviews(NULL, NULL, NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_resolve_review(NULL, 1, "\"crm\"", 5, NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_dismiss_review(NULL, 1, NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_link(NULL, "x", &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_links(NULL, NULL, 10, 0, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_link_counts(NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(out == SENTINEL);

    /* A live engine and a NULL out-param or input. */
    CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len, good_crm, good_crm_len, NULL),
                 COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_plan_many(e, NULL, 2, plans, statuses), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_plan_many(e, pairs, 2, NULL, statuses), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(statuses[0] == 7777 && statuses[1] == 7777);
    CHECK_STATUS(e, cosell_engine_plan_many(e, pairs, 2, plans, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(plans[0] == SENTINEL && plans[1] == SENTINEL);
    CHECK_STATUS(e, cosell_engine_audit(e, NULL, 0, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_reviews(e, NULL, NULL, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_resolve_review(e, 1, NULL, 5, NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_link(e, NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_link(e, "x", NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_links(e, NULL, 10, 0, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_link_counts(e, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(out == SENTINEL);
    CHECK_USABLE(e);

    /* The plan functions with a NULL plan or out-param. */
    if (!CHECK_OK(e, cosell_engine_plan(e, good_ref, good_ref_len, good_crm, good_crm_len, &good))) {
        return;
    }
    CHECK_STATUS(NULL, cosell_engine_commit(NULL, good, NULL, 0, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_commit(e, NULL, NULL, 0, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_engine_record_dry_run(NULL, good, NULL, &rows), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_record_dry_run(e, NULL, NULL, &rows), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(rows == 4242);
    CHECK_STATUS(NULL, cosell_plan_to_json(NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_plan_to_json(good, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_plan_to_text(NULL, &out), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(NULL, cosell_plan_to_text(good, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK(out == SENTINEL);
    CHECK_STATUS_BUF(cosell_plan_from_json(NULL, 10, &plan, NULL, 0), COSELL_STATUS_NULL_ARGUMENT, "");
    CHECK_STATUS_BUF(cosell_plan_from_json("{}", 2, NULL, NULL, 0), COSELL_STATUS_NULL_ARGUMENT, "");
    CHECK(plan == SENTINEL);
    cosell_plan_free(good);
    CHECK_USABLE(e);
}

/* Invalid UTF-8 in a path, a record (pointer + length), a mapping text and a NUL-terminated argument. */
static void test_invalid_utf8(const cosell_mapping *m, cosell_engine *e)
{
    static const char bad_path[] = "target/c/\xff\xfe.db";
    static const char bad_record[] = "{\"id\": \"\xc3\x28\"}";   /* an invalid 2-byte sequence */
    static const char bad_mapping[] = "{\"extends\": \"sales\xe2\x82\"}"; /* a truncated 3-byte sequence */
    static const char bad_toml[] = "extends = \"\xed\xa0\x80\"\n"; /* an encoded surrogate */
    cosell_engine *e2 = SENTINEL;
    cosell_mapping *m2 = SENTINEL;
    cosell_plan *p = SENTINEL;
    char *out = SENTINEL;
    char err[256] = "";

    CHECK_STATUS_BUF(cosell_engine_open(bad_path, m, &e2, err, sizeof err), COSELL_STATUS_INVALID_UTF8, err);
    CHECK(e2 == SENTINEL);
    CHECK_STATUS(e, cosell_engine_plan(e, bad_record, strlen(bad_record), good_crm, good_crm_len, &p),
                 COSELL_STATUS_INVALID_UTF8);
    CHECK_CONTAINS(cosell_engine_last_error(e), "referral");
    CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len, bad_record, strlen(bad_record), &p),
                 COSELL_STATUS_INVALID_UTF8);
    CHECK_CONTAINS(cosell_engine_last_error(e), "CRM");
    CHECK(p == SENTINEL);
    CHECK_USABLE(e);
    CHECK_STATUS_BUF(cosell_mapping_from_text(bad_mapping, strlen(bad_mapping), COSELL_MAPPING_FORMAT_JSON, &m2,
                                              err, sizeof err),
                     COSELL_STATUS_INVALID_UTF8, err);
    CHECK_STATUS_BUF(cosell_mapping_from_text(bad_toml, strlen(bad_toml), COSELL_MAPPING_FORMAT_TOML, &m2, err,
                                              sizeof err),
                     COSELL_STATUS_INVALID_UTF8, err);
    CHECK_STATUS_BUF(cosell_mapping_override(m, bad_mapping, strlen(bad_mapping), &m2, err, sizeof err),
                     COSELL_STATUS_INVALID_UTF8, err);
    CHECK(m2 == SENTINEL);
    CHECK_STATUS_BUF(cosell_mapping_builtin("sales\xff", &m2, err, sizeof err), COSELL_STATUS_INVALID_UTF8, err);
    CHECK(m2 == SENTINEL);
    CHECK_STATUS(e, cosell_engine_link(e, "\xff", &out), COSELL_STATUS_INVALID_UTF8);
    CHECK_STATUS(e, cosell_engine_audit(e, bad_record, strlen(bad_record), &out), COSELL_STATUS_INVALID_UTF8);
    CHECK(out == SENTINEL);
    CHECK_STATUS_BUF(cosell_plan_from_json(bad_record, strlen(bad_record), &p, err, sizeof err),
                     COSELL_STATUS_INVALID_UTF8, err);
    CHECK(p == SENTINEL);
    CHECK_USABLE(e);
}

/* A text of `n` bytes: `{"x": "aaa...a"}`, valid JSON. Free with free(). */
static char *huge_object(size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }
    memcpy(s, "{\"x\": \"", 7);
    memset(s + 7, 'a', n - 9);
    memcpy(s + n - 2, "\"}", 3);
    return s;
}

/* `depth` copies of `open`: a deeply nested (and unterminated) JSON text. Free with free(). */
static char *nested(const char *open, size_t depth, size_t *len)
{
    size_t step = strlen(open);
    char *s = malloc(step * depth + 1);
    if (s == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < depth; i++) {
        memcpy(s + i * step, open, step);
    }
    s[step * depth] = '\0';
    *len = step * depth;
    return s;
}

/* Records that are not JSON, not objects, lack fields, or are too large or too deep. */
static void test_bad_records(cosell_engine *e)
{
    static const char truncated[] = "{\"id\": \"6513270e-269e-4d37-b2a7-4de452e6b438\", \"name\": ";
    const size_t limit = 16u * 1024u * 1024u;
    cosell_plan *p = SENTINEL;
    char *big, *deep;
    size_t deep_len = 0;

    CHECK_STATUS(e, cosell_engine_plan(e, truncated, strlen(truncated), good_crm, good_crm_len, &p),
                 COSELL_STATUS_RECORD_INVALID_JSON);
    CHECK_CONTAINS(cosell_engine_last_error(e), "referral");
    CHECK_CONTAINS(cosell_engine_last_error(e), "not valid JSON");
    CHECK_CONTAINS(cosell_engine_last_error(e), "line 1 column");
    CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len, "{\"Id\": 1,}", 10, &p),
                 COSELL_STATUS_RECORD_INVALID_JSON);
    CHECK_CONTAINS(cosell_engine_last_error(e), "Salesforce record");
    CHECK_STATUS(e, cosell_engine_plan(e, "", 0, good_crm, good_crm_len, &p), COSELL_STATUS_RECORD_INVALID_JSON);
    CHECK_STATUS(e, cosell_engine_plan(e, "[1, 2]", 6, NULL, 0, &p), COSELL_STATUS_RECORD_NOT_AN_OBJECT);
    CHECK_STATUS(e, cosell_engine_plan(e, "{}", 2, NULL, 0, &p), COSELL_STATUS_RECORD_MISSING_FIELD);
    CHECK_CONTAINS(cosell_engine_last_error(e), "`id`");
    CHECK_STATUS(e, cosell_engine_plan(e, "{\"id\": 1}", 9, NULL, 0, &p), COSELL_STATUS_RECORD_INVALID_FIELD);
    CHECK_CONTAINS(cosell_engine_last_error(e), "`id`");
    CHECK_STATUS(e, cosell_engine_plan(e, NULL, 0, NULL, 0, &p), COSELL_STATUS_RECORD_MISMATCH);
    /* The length is what counts: the text past it is not read. */
    CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len - 1, good_crm, good_crm_len, &p),
                 COSELL_STATUS_RECORD_INVALID_JSON);
    CHECK(p == SENTINEL);
    CHECK_USABLE(e);

    /* One byte over the 16 MiB limit, on either side. */
    big = huge_object(limit + 1);
    if (CHECK(big != NULL)) {
        CHECK_STATUS(e, cosell_engine_plan(e, big, limit + 1, good_crm, good_crm_len, &p),
                     COSELL_STATUS_RECORD_TOO_LARGE);
        CHECK_CONTAINS(cosell_engine_last_error(e), "16777216");
        CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len, big, limit + 1, &p),
                     COSELL_STATUS_RECORD_TOO_LARGE);
        CHECK(p == SENTINEL);
        free(big);
    }
    CHECK_USABLE(e);

    /* 100000 levels of nesting: an error, not a stack overflow. */
    deep = nested("[", 100000, &deep_len);
    if (CHECK(deep != NULL)) {
        CHECK(cosell_engine_plan(e, deep, deep_len, good_crm, good_crm_len, &p) != COSELL_STATUS_OK);
        CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len, deep, deep_len, &p),
                     COSELL_STATUS_RECORD_INVALID_JSON);
        free(deep);
    }
    deep = nested("{\"a\": ", 100000, &deep_len);
    if (CHECK(deep != NULL)) {
        CHECK_STATUS(e, cosell_engine_plan(e, deep, deep_len, good_crm, good_crm_len, &p),
                     COSELL_STATUS_RECORD_INVALID_JSON);
        CHECK_STATUS(e, cosell_engine_plan(e, good_ref, good_ref_len, deep, deep_len, &p),
                     COSELL_STATUS_RECORD_INVALID_JSON);
        free(deep);
    }
    CHECK(p == SENTINEL);
    CHECK_USABLE(e);
}

/* A batch with bad pairs: each fails alone, with its status. */
static void test_bad_batch(cosell_engine *e)
{
    const size_t limit = 16u * 1024u * 1024u;
    char *big = huge_object(limit + 1);
    cosell_pair pairs[4] = {{good_ref, good_ref_len, good_crm, good_crm_len},
                            {"{\"id\"", 5, good_crm, good_crm_len},
                            {big, limit + 1, NULL, 0},
                            {"\xff", 1, good_crm, good_crm_len}};
    cosell_plan *plans[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
    cosell_status statuses[4] = {7777, 7777, 7777, 7777};
    if (!CHECK(big != NULL)) {
        return;
    }
    if (CHECK_OK(e, cosell_engine_plan_many(e, pairs, 4, plans, statuses))) {
        CHECK(statuses[0] == COSELL_STATUS_OK && plans[0] != NULL && plans[0] != SENTINEL);
        CHECK(statuses[1] == COSELL_STATUS_RECORD_INVALID_JSON && plans[1] == NULL);
        CHECK(statuses[2] == COSELL_STATUS_RECORD_TOO_LARGE && plans[2] == NULL);
        CHECK(statuses[3] == COSELL_STATUS_INVALID_UTF8 && plans[3] == NULL);
        CHECK_CONTAINS(cosell_engine_last_error(e), "pair 1");
        CHECK_CONTAINS(cosell_engine_last_error(e), "pair 2");
        CHECK_CONTAINS(cosell_engine_last_error(e), "pair 3");
        if (plans[0] != SENTINEL) {
            cosell_plan_free(plans[0]);
        }
    }
    free(big);
    CHECK_USABLE(e);
}

/* Unknown profiles, invalid rules and malformed mapping text; the error buffer's contract. */
static void test_bad_mappings(const cosell_mapping *m)
{
    static const char unknown_key[] = "{\"fields\": {\"deal_value\": {\"crmm\": \"Amount\"}}}";
    static const char bad_type[] = "{\"fields\": {\"deal_value\": {\"crm\": 42}}}";
    static const char no_type[] = "{\"fields\": {\"partner_tier\": {\"crm\": \"Tier__c\"}}}";
    static const char extends_unknown[] = "{\"extends\": \"hubspot\"}";
    static const char bad_toml[] = "extends = \"salesforce\"\n[fields.deal_value\n";
    cosell_mapping *out = SENTINEL;
    char err[512], full[512], small[16];
    const char *u;
    size_t at;

    CHECK_STATUS_BUF(cosell_mapping_builtin("hubspot", &out, err, sizeof err), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE,
                     err);
    CHECK_CONTAINS(err, "hubspot");
    CHECK_STATUS_BUF(cosell_mapping_from_text(extends_unknown, strlen(extends_unknown), COSELL_MAPPING_FORMAT_JSON,
                                              &out, err, sizeof err),
                     COSELL_STATUS_MAPPING_UNKNOWN_PROFILE, err);
    CHECK_CONTAINS(err, "hubspot");

    /* An unknown key in a rule is a format error naming the rule and the key. */
    CHECK_STATUS_BUF(cosell_mapping_override(m, unknown_key, strlen(unknown_key), &out, err, sizeof err),
                     COSELL_STATUS_MAPPING_PARSE, err);
    CHECK_CONTAINS(err, "deal_value");
    CHECK_CONTAINS(err, "crmm");
    /* A value of the wrong type names the rule. */
    CHECK_STATUS_BUF(cosell_mapping_override(m, bad_type, strlen(bad_type), &out, err, sizeof err),
                     COSELL_STATUS_MAPPING_PARSE, err);
    CHECK_CONTAINS(err, "deal_value");
    /* A new field without a type is an invalid rule, named. */
    CHECK_STATUS_BUF(cosell_mapping_override(m, no_type, strlen(no_type), &out, err, sizeof err),
                     COSELL_STATUS_MAPPING_INVALID_RULE, err);
    CHECK_CONTAINS(err, "partner_tier");
    CHECK_CONTAINS(err, "type");
    CHECK_STATUS_BUF(cosell_mapping_from_text("{", 1, COSELL_MAPPING_FORMAT_JSON, &out, err, sizeof err),
                     COSELL_STATUS_MAPPING_PARSE, err);
    CHECK_STATUS_BUF(cosell_mapping_from_text(bad_toml, strlen(bad_toml), COSELL_MAPPING_FORMAT_TOML, &out, err,
                                              sizeof err),
                     COSELL_STATUS_MAPPING_PARSE, err);
    CHECK_STATUS_BUF(cosell_mapping_from_text("", 0, COSELL_MAPPING_FORMAT_JSON, &out, err, sizeof err),
                     COSELL_STATUS_MAPPING_PARSE, err);
    /* A format number that is not a cosell_mapping_format. */
    CHECK_STATUS_BUF(cosell_mapping_from_text("{}", 2, 7, &out, err, sizeof err), COSELL_STATUS_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "format 7");
    CHECK(out == SENTINEL);

    /* A buffer too small: cut to fit, NUL-terminated, nothing written past it. */
    if (cosell_mapping_builtin("hubspot", &out, full, sizeof full) == COSELL_STATUS_MAPPING_UNKNOWN_PROFILE) {
        memset(small, 'X', sizeof small);
        CHECK_STATUS_BUF(cosell_mapping_builtin("hubspot", &out, small, 8), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE,
                         "");
        CHECK(small[7] == '\0' && strlen(small) == 7 && strncmp(small, full, 7) == 0);
        CHECK(small[8] == 'X' && small[15] == 'X');
        /* Size 1: just the NUL. Size 0: nothing written at all. */
        memset(small, 'X', sizeof small);
        CHECK_STATUS_BUF(cosell_mapping_builtin("hubspot", &out, small, 1), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE, "");
        CHECK(small[0] == '\0' && small[1] == 'X');
        memset(small, 'X', sizeof small);
        CHECK_STATUS_BUF(cosell_mapping_builtin("hubspot", &out, small, 0), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE, "");
        CHECK(small[0] == 'X');
    } else {
        check_report(false, __FILE__, __LINE__, "cosell_mapping_builtin(\"hubspot\") fails with MAPPING_UNKNOWN_PROFILE",
                     full);
    }
    /* The cut never splits a UTF-8 character: "hü" cut in the middle of "ü" stops before it. */
    if (cosell_mapping_builtin("h\xc3\xbc", &out, full, sizeof full) == COSELL_STATUS_MAPPING_UNKNOWN_PROFILE &&
        CHECK((u = strstr(full, "h\xc3\xbc")) != NULL)) {
        at = (size_t)(u - full) + 1; /* the offset of the first byte of "ü" */
        CHECK_STATUS_BUF(cosell_mapping_builtin("h\xc3\xbc", &out, err, at + 2), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE,
                         "");
        CHECK(strlen(err) == at && strncmp(err, full, at) == 0);
    }
    /* No error buffer at all. */
    CHECK_STATUS_BUF(cosell_mapping_builtin("hubspot", &out, NULL, 0), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE, "");
    CHECK_STATUS_BUF(cosell_mapping_builtin("hubspot", &out, NULL, 100), COSELL_STATUS_MAPPING_UNKNOWN_PROFILE, "");
    CHECK(out == SENTINEL);
}

/* Malformed results and queries, results that do not fit the plan, a stale plan, review and transaction
 * misuse. */
static void test_commit_errors(const cosell_mapping *m)
{
    static const char bad_json[] = "{\"crm\": ";
    static const char bad_outcome[] = "{\"crm\": {\"outcome\": \"exploded\"}}";
    static const char crm_applied[] = "{\"crm\": {\"outcome\": \"applied\", \"version\": {\"stamp\": \"1\"}}}";
    cosell_engine *e = memory_engine(m);
    cosell_plan *first = NULL, *again = NULL, *back = SENTINEL;
    char *out = SENTINEL;
    char err[256] = "";
    if (e == NULL ||
        !CHECK_OK(e, cosell_engine_plan(e, good_ref, good_ref_len, good_crm, good_crm_len, &first)) ||
        !CHECK_OK(e, cosell_engine_plan(e, good_ref, good_ref_len, good_crm, good_crm_len, &again))) {
        cosell_engine_free(e);
        return;
    }
    CHECK_STATUS(e, cosell_engine_commit(e, first, bad_json, strlen(bad_json), &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "results");
    CHECK_STATUS(e, cosell_engine_commit(e, first, "{\"crm\": 5}", 10, &out), COSELL_STATUS_INVALID_ARGUMENT);
    /* Results must be an object without unknown keys: an array, or a misspelt side, is refused. */
    CHECK_STATUS(e, cosell_engine_commit(e, first, "[]", 2, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "not a JSON object");
    CHECK_STATUS(e, cosell_engine_commit(e, first, "{\"CRM\": {}}", 11, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "unknown field");
    CHECK_STATUS(e, cosell_engine_audit(e, "{\"referal_id\": \"x\"}", 19, &out), COSELL_STATUS_INVALID_ARGUMENT);
    /* A NULL out-param replaces the previous message with its own. */
    CHECK_STATUS(e, cosell_engine_audit(e, NULL, 0, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "rows_out is NULL");
    /* A plan of another CRM's engine is refused, and nothing is written. */
    {
        cosell_mapping *dm = NULL;
        cosell_engine *de = NULL;
        char *link = NULL;
        if (CHECK_STATUS_BUF(cosell_mapping_builtin("dynamics365", &dm, err, sizeof err), COSELL_STATUS_OK, err) &&
            CHECK_STATUS_BUF(cosell_engine_open(":memory:", dm, &de, err, sizeof err), COSELL_STATUS_OK, err)) {
            CHECK_STATUS(de, cosell_engine_commit(de, first, NULL, 0, NULL), COSELL_STATUS_RECORD_MISMATCH);
            CHECK_CONTAINS(cosell_engine_last_error(de), "is for salesforce");
            if (CHECK_OK(de, cosell_engine_link_counts(de, &link))) {
                CHECK_CONTAINS(link, "\"synced\":0");
            }
            cosell_string_free(link);
        }
        cosell_engine_free(de);
        cosell_mapping_free(dm);
    }
    CHECK_STATUS(e, cosell_engine_commit(e, first, bad_outcome, strlen(bad_outcome), &out),
                 COSELL_STATUS_INVALID_ARGUMENT);
    /* A first sync writes neither side: a result for the CRM does not fit it. */
    CHECK_STATUS(e, cosell_engine_commit(e, first, crm_applied, strlen(crm_applied), &out),
                 COSELL_STATUS_COMMIT_RESULT_MISMATCH);
    CHECK(out == SENTINEL);
    CHECK_USABLE(e);

    /* Two plans of the same first sync: the second commit finds the link made by the first. */
    CHECK_OK(e, cosell_engine_commit(e, first, NULL, 0, NULL));
    CHECK_STATUS(e, cosell_engine_commit(e, first, NULL, 0, &out), COSELL_STATUS_COMMIT_STALE_PLAN);
    CHECK_STATUS(e, cosell_engine_commit(e, again, NULL, 0, &out), COSELL_STATUS_COMMIT_STALE_PLAN);
    CHECK(out == SENTINEL);
    CHECK_USABLE(e);

    /* Queries, filters and choices the API does not know. */
    CHECK_STATUS(e, cosell_engine_audit(e, "{bad", 4, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "audit query");
    CHECK_STATUS(e, cosell_engine_audit(e, "{\"limit\": -1}", 13, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_links(e, "weird", 10, 0, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "weird");
    CHECK_STATUS(e, cosell_engine_reviews(e, "weird", NULL, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_resolve_review(e, 1, "\"neither\"", 9, NULL, &out), COSELL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(e, cosell_engine_resolve_review(e, 424242, "\"crm\"", 5, NULL, &out), COSELL_STATUS_STORE_NOT_FOUND);
    CHECK_STATUS(e, cosell_engine_dismiss_review(e, 424242, "no", &out), COSELL_STATUS_STORE_NOT_FOUND);
    CHECK_CONTAINS(cosell_engine_last_error(e), "424242");
    CHECK(out == SENTINEL);

    /* Transactions out of order. */
    CHECK_STATUS(e, cosell_engine_commit_transaction(e), COSELL_STATUS_STORE_INVALID_STATE);
    CHECK_STATUS(e, cosell_engine_rollback_transaction(e), COSELL_STATUS_STORE_INVALID_STATE);
    CHECK_OK(e, cosell_engine_begin_transaction(e));
    CHECK_STATUS(e, cosell_engine_begin_transaction(e), COSELL_STATUS_STORE_INVALID_STATE);
    CHECK_OK(e, cosell_engine_rollback_transaction(e));

    /* Plan JSON that is not a plan. */
    CHECK_STATUS_BUF(cosell_plan_from_json("{}", 2, &back, err, sizeof err), COSELL_STATUS_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "plan JSON");
    CHECK_STATUS_BUF(cosell_plan_from_json("nope", 4, &back, err, sizeof err), COSELL_STATUS_INVALID_ARGUMENT, err);
    CHECK(back == SENTINEL);
    CHECK_USABLE(e);
    cosell_plan_free(first);
    cosell_plan_free(again);
    cosell_engine_free(e);
}

/* A file that is not a cosell store, and a path that cannot be opened. */
static void test_store_errors(const cosell_mapping *m)
{
    char path[1024], err[512] = "";
    cosell_engine *e = SENTINEL;
    FILE *f = fopen(fresh_path(path, sizeof path, "not-a-store.db"), "w");
    if (!CHECK(f != NULL)) {
        fprintf(stderr, "    cannot write %s\n", path);
        return;
    }
    fputs("This is a text file, not a cosell store.\n", f);
    fclose(f);
    CHECK_STATUS_BUF(cosell_engine_open(path, m, &e, err, sizeof err), COSELL_STATUS_STORE_NOT_A_STORE, err);
    CHECK_CONTAINS(err, "not-a-store.db");
    CHECK(e == SENTINEL);
    remove(path);
    CHECK_STATUS_BUF(cosell_engine_open("/nonexistent-cosell-dir/x/store.db", m, &e, err, sizeof err),
                     COSELL_STATUS_STORE_OPEN, err);
    CHECK_CONTAINS(err, "/nonexistent-cosell-dir/x/store.db");
    CHECK(e == SENTINEL);
}

int main(int argc, char **argv)
{
    cosell_mapping *m;
    cosell_engine *e;
    check_init(argc, argv);
    good_ref = fixture("referral_a.json", &good_ref_len);
    good_crm = fixture("salesforce_a.json", &good_crm_len);
    test_status_numbers();
    test_status_str();
    test_free_null();
    m = salesforce();
    e = m ? memory_engine(m) : NULL;
    if (e != NULL) {
        test_null_mapping_args(m);
        test_null_open_args(m);
        test_null_engine_args(e);
        test_invalid_utf8(m, e);
        test_bad_records(e);
        test_bad_batch(e);
        test_bad_mappings(m);
        test_commit_errors(m);
        test_store_errors(m);
        CHECK_USABLE(e);
    }
    cosell_engine_free(e);
    cosell_mapping_free(m);
    free(good_ref);
    free(good_crm);
    return check_done("test_errors");
}
