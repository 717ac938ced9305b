/*
 * test_roundtrip.c: the C API end to end, for both CRMs (built-in profiles "salesforce" and "dynamics365"), on
 * an in-memory store and on a store file: first sync (link), an empty re-plan, a referral change planned as a
 * CRM update, committed with the CRM's new version, an empty re-plan with the CRM record as the CRM now returns
 * it, the audit trail, plans to JSON and back, batches, transactions, links, dry runs and mappings.
 *
 * Fixtures (tests/c/fixtures, copied from `bench/workload.py 20`): pair A (line 1) and pair C (line 2) agree in
 * v1; pair B (line 11) has a new deal value and notes in Partner Center in v2; <crm>_b_written.json is the CRM
 * record of pair B after the host applied the plan's CRM write (new Amount/estimatedvalue, Description and
 * version), as the CRM would return it.
 */
#include "check.h"

#define REFERRAL_A "6513270e-269e-4d37-b2a7-4de452e6b438"
#define REFERRAL_B "6ce193c2-2eef-4279-b02e-3d8dccb1c51d"
#define REFERRAL_C "18f135d2-5f55-4203-b018-50c5a38fd547"

/* One CRM: its profile, the prefix of its fixtures, and the version its record of pair B has after the write
 * (the version fields of <prefix>_b_written.json, as `crm_version` appears in the plan JSON). */
struct crm_case {
    const char *profile;
    const char *prefix;
    const char *written_version;
};

static const struct crm_case CASES[] = {
    {"salesforce", "salesforce",
     "{\"modified\": \"2026-11-02T09:30:00.000+0000\", \"stamp\": \"2026-11-02T09:30:00.000+0000\"}"},
    {"dynamics365", "dynamics",
     "{\"etag\": \"W/\\\"100099\\\"\", \"modified\": \"2026-11-02T09:30:00Z\", \"stamp\": \"100099\"}"},
};

/* A record's JSON text. */
struct text {
    char *s;
    size_t n;
};

/* The fixtures of one CRM. */
struct records {
    struct text ref_a, crm_a, ref_b_v1, ref_b_v2, crm_b_v1, crm_b_written, ref_c, crm_c;
};

static struct text load(const char *prefix, const char *suffix)
{
    char name[256];
    struct text t;
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    t.s = fixture(name, &t.n);
    return t;
}

static struct records load_records(const char *prefix)
{
    struct records r;
    r.ref_a = load("referral_a", ".json");
    r.ref_b_v1 = load("referral_b_v1", ".json");
    r.ref_b_v2 = load("referral_b_v2", ".json");
    r.ref_c = load("referral_c", ".json");
    r.crm_a = load(prefix, "_a.json");
    r.crm_b_v1 = load(prefix, "_b_v1.json");
    r.crm_b_written = load(prefix, "_b_written.json");
    r.crm_c = load(prefix, "_c.json");
    return r;
}

static void free_records(struct records *r)
{
    struct text *all[] = {&r->ref_a, &r->crm_a, &r->ref_b_v1, &r->ref_b_v2,
                          &r->crm_b_v1, &r->crm_b_written, &r->ref_c, &r->crm_c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->s);
    }
}

static cosell_mapping *load_mapping(const char *profile)
{
    char err[512] = "";
    cosell_mapping *m = NULL;
    if (!CHECK_STATUS_BUF(cosell_mapping_builtin(profile, &m, err, sizeof err), COSELL_STATUS_OK, err)) {
        return NULL;
    }
    return m;
}

/* An engine on `path` with the built-in profile; the mapping is freed at once (the engine keeps a copy). */
static cosell_engine *open_engine(const char *profile, const char *path)
{
    char err[512] = "";
    cosell_engine *e = NULL;
    cosell_mapping *m = load_mapping(profile);
    if (m == NULL) {
        return NULL;
    }
    CHECK_STATUS_BUF(cosell_engine_open(path, m, &e, err, sizeof err), COSELL_STATUS_OK, err);
    cosell_mapping_free(m);
    return e;
}

/* Plans a pair; NULL (and a failed check) on error. */
static cosell_plan *plan(cosell_engine *e, const struct text *ref, const struct text *crm)
{
    cosell_plan *p = NULL;
    if (!CHECK_OK(e, cosell_engine_plan(e, ref ? ref->s : NULL, ref ? ref->n : 0, crm ? crm->s : NULL,
                                        crm ? crm->n : 0, &p))) {
        return NULL;
    }
    return p;
}

/* Plans a pair, checks its summary, commits it with NULL results when `commit` and frees it. */
static void plan_expect(cosell_engine *e, const struct text *ref, const struct text *crm, const char *summary,
                        bool commit)
{
    cosell_plan *p = plan(e, ref, crm);
    if (p == NULL) {
        return;
    }
    CHECK_STR(cosell_plan_summary(p), summary);
    CHECK(cosell_plan_is_empty(p) == (strcmp(summary, "nothing") == 0));
    if (commit) {
        char *report = NULL;
        if (CHECK_OK(e, cosell_engine_commit(e, p, NULL, 0, &report))) {
            char want[64];
            snprintf(want, sizeof want, "\"summary\":\"%s\"", summary);
            CHECK_CONTAINS(report, want);
        }
        cosell_string_free(report);
    }
    cosell_plan_free(p);
}

/* Commits a plan whose CRM write the host applied, the CRM now at `version` (a JSON object), with the results
 * JSON the header documents: {"crm": {"outcome": "applied", "version": ...}}. */
static bool commit_crm_applied(cosell_engine *e, const cosell_plan *p, const char *version)
{
    char results[512];
    char *report = NULL;
    CHECK(cosell_plan_writes_crm(p));
    CHECK(!cosell_plan_writes_partner_center(p));
    snprintf(results, sizeof results, "{\"crm\": {\"outcome\": \"applied\", \"version\": %s}}", version);
    cosell_status s = cosell_engine_commit(e, p, results, strlen(results), &report);
    if (!CHECK(s == COSELL_STATUS_OK)) {
        return false;
    }
    CHECK_CONTAINS(report, "\"summary\":\"update_crm\"");
    CHECK_CONTAINS(report, "\"status\":\"synced\"");
    cosell_string_free(report);
    return true;
}

/* The audit trail: everything, then one referral's rows. */
static void check_audit(cosell_engine *e)
{
    char *rows = NULL;
    const char *q = "{\"referral_id\": \"" REFERRAL_B "\"}";
    if (CHECK_OK(e, cosell_engine_audit(e, NULL, 0, &rows))) {
        CHECK(rows[0] == '[' && rows[strlen(rows) - 1] == ']');
        CHECK_CONTAINS(rows, "\"action\":\"link\"");
        CHECK_CONTAINS(rows, "\"action\":\"update_crm\"");
        CHECK_CONTAINS(rows, REFERRAL_A);
        CHECK_CONTAINS(rows, REFERRAL_B);
        CHECK_CONTAINS(rows, "\"field\":\"deal_value\"");
        CHECK_CONTAINS(rows, "\"after\":208000");
    }
    cosell_string_free(rows);
    rows = NULL;
    if (CHECK_OK(e, cosell_engine_audit(e, q, strlen(q), &rows))) {
        CHECK(rows[0] == '[' && rows[strlen(rows) - 1] == ']');
        CHECK_CONTAINS(rows, "\"action\":\"link\"");
        CHECK_CONTAINS(rows, "\"action\":\"update_crm\"");
        CHECK(strstr(rows, REFERRAL_A) == NULL);
    }
    cosell_string_free(rows);
}

/* The sync cycle of one CRM on one store: link, nothing, update the CRM, nothing, audit. */
static void test_sync_cycle(const struct crm_case *c, const struct records *r, const char *path)
{
    cosell_engine *e = open_engine(c->profile, path);
    cosell_plan *p;
    if (e == NULL) {
        return;
    }
    printf("  sync cycle: %s on %s\n", c->profile, path);
    /* First sync of an agreeing pair links it; planning it again gives nothing to do. */
    plan_expect(e, &r->ref_a, &r->crm_a, "link", true);
    plan_expect(e, &r->ref_a, &r->crm_a, "nothing", true);
    plan_expect(e, &r->ref_b_v1, &r->crm_b_v1, "link", true);
    plan_expect(e, &r->ref_b_v1, &r->crm_b_v1, "nothing", false);

    /* The referral changed in Partner Center: the plan updates the CRM. */
    p = plan(e, &r->ref_b_v2, &r->crm_b_v1);
    if (p != NULL) {
        char *json = NULL;
        CHECK_STR(cosell_plan_summary(p), "update_crm");
        CHECK(!cosell_plan_is_empty(p));
        if (CHECK_OK(e, cosell_plan_to_json(p, &json))) {
            CHECK_CONTAINS(json, "\"summary\":\"update_crm\"");
            CHECK_CONTAINS(json, "\"crm_version\"");
            CHECK_CONTAINS(json, "\"partner_center_version\"");
            CHECK_CONTAINS(json, "\"write\":\"crm\"");
            CHECK_CONTAINS(json, "208000");
        }
        cosell_string_free(json);
        commit_crm_applied(e, p, c->written_version);
        cosell_plan_free(p);
    }
    /* The CRM record as the CRM returns it after the write: nothing left to do. */
    plan_expect(e, &r->ref_b_v2, &r->crm_b_written, "nothing", false);
    check_audit(e);
    cosell_engine_free(e);

    /* A store file keeps the links: reopened, the pair still has nothing to do. */
    if (strcmp(path, ":memory:") != 0) {
        e = open_engine(c->profile, path);
        if (e != NULL) {
            plan_expect(e, &r->ref_b_v2, &r->crm_b_written, "nothing", false);
            plan_expect(e, &r->ref_a, &r->crm_a, "nothing", false);
            cosell_engine_free(e);
        }
    }
}

/* cosell_plan_to_json, then cosell_plan_from_json gives the same plan, which commits like the original. */
static void test_plan_json_roundtrip(const struct crm_case *c, const struct records *r)
{
    cosell_engine *e = open_engine(c->profile, ":memory:");
    cosell_plan *p = e ? plan(e, &r->ref_c, &r->crm_c) : NULL;
    cosell_plan *back = NULL;
    char *json = NULL, *json2 = NULL, *text = NULL, *link = NULL;
    char err[512] = "";
    if (p == NULL) {
        cosell_engine_free(e);
        return;
    }
    if (CHECK_OK(e, cosell_plan_to_text(p, &text))) {
        CHECK_CONTAINS(text, REFERRAL_C);
        CHECK_CONTAINS(text, "link");
    }
    if (CHECK_OK(e, cosell_plan_to_json(p, &json)) &&
        CHECK_STATUS_BUF(cosell_plan_from_json(json, strlen(json), &back, err, sizeof err), COSELL_STATUS_OK,
                         err)) {
        cosell_plan_free(p); /* the copy stands on its own */
        p = NULL;
        CHECK_STR(cosell_plan_summary(back), "link");
        CHECK(!cosell_plan_is_empty(back));
        if (CHECK_OK(e, cosell_plan_to_json(back, &json2))) {
            CHECK_STR(json2, json);
        }
        CHECK_OK(e, cosell_engine_commit(e, back, NULL, 0, NULL));
        if (CHECK_OK(e, cosell_engine_link(e, REFERRAL_C, &link))) {
            CHECK_CONTAINS(link, "\"status\":\"synced\"");
            CHECK_CONTAINS(link, REFERRAL_C);
        }
    }
    cosell_string_free(link);
    cosell_string_free(text);
    cosell_string_free(json);
    cosell_string_free(json2);
    cosell_plan_free(back);
    cosell_plan_free(p);
    cosell_engine_free(e);
}

/* cosell_engine_plan_many: one status and one plan per pair; a malformed pair fails alone. */
static void test_plan_many(const struct crm_case *c, const struct records *r)
{
    static const char bad[] = "{\"id\": \"" REFERRAL_C "\", \"name\": ";
    cosell_engine *e = open_engine(c->profile, ":memory:");
    cosell_pair pairs[4];
    cosell_plan *plans[4];
    cosell_status statuses[4];
    if (e == NULL) {
        return;
    }
    pairs[0] = (cosell_pair){r->ref_a.s, r->ref_a.n, r->crm_a.s, r->crm_a.n};
    pairs[1] = (cosell_pair){r->ref_b_v1.s, r->ref_b_v1.n, r->crm_b_v1.s, r->crm_b_v1.n};
    pairs[2] = (cosell_pair){bad, sizeof bad - 1, r->crm_c.s, r->crm_c.n};
    pairs[3] = (cosell_pair){r->ref_c.s, r->ref_c.n, r->crm_c.s, r->crm_c.n};
    for (size_t i = 0; i < 4; i++) {
        plans[i] = SENTINEL;
        statuses[i] = 9999;
    }
    if (CHECK_OK(e, cosell_engine_plan_many(e, pairs, 4, plans, statuses))) {
        CHECK(statuses[0] == COSELL_STATUS_OK && statuses[1] == COSELL_STATUS_OK);
        CHECK(statuses[2] == COSELL_STATUS_RECORD_INVALID_JSON);
        CHECK(statuses[3] == COSELL_STATUS_OK);
        CHECK(plans[2] == NULL);
        CHECK_CONTAINS(cosell_engine_last_error(e), "pair 2");
        CHECK(strstr(cosell_engine_last_error(e), "pair 0") == NULL);
        for (size_t i = 0; i < 4; i++) {
            if (i == 2 || plans[i] == NULL || plans[i] == SENTINEL) {
                continue;
            }
            CHECK_STR(cosell_plan_summary(plans[i]), "link");
            CHECK_OK(e, cosell_engine_commit(e, plans[i], NULL, 0, NULL));
            cosell_plan_free(plans[i]);
        }
    }
    /* The good pairs are linked now: a batch of them plans nothing, and clears the last error. */
    if (CHECK_OK(e, cosell_engine_plan_many(e, pairs, 2, plans, statuses))) {
        CHECK_STR(cosell_engine_last_error(e), "");
        for (size_t i = 0; i < 2; i++) {
            CHECK(statuses[i] == COSELL_STATUS_OK);
            CHECK_STR(cosell_plan_summary(plans[i]), "nothing");
            cosell_plan_free(plans[i]);
        }
    }
    /* An empty batch is fine, with NULL arrays. */
    CHECK_OK(e, cosell_engine_plan_many(e, NULL, 0, NULL, NULL));
    cosell_engine_free(e);
}

/* cosell_engine_commit_many: several plans in one transaction, all or nothing. */
static void test_commit_many(const struct crm_case *c, const struct records *r)
{
    cosell_engine *e = open_engine(c->profile, ":memory:");
    cosell_pair pairs[2];
    cosell_plan *plans[2] = {NULL, NULL};
    cosell_status statuses[2];
    cosell_commit_item items[2];
    char *reports = SENTINEL, *counts = NULL;
    if (e == NULL) {
        return;
    }
    pairs[0] = (cosell_pair){r->ref_a.s, r->ref_a.n, r->crm_a.s, r->crm_a.n};
    pairs[1] = (cosell_pair){r->ref_c.s, r->ref_c.n, r->crm_c.s, r->crm_c.n};
    if (CHECK_OK(e, cosell_engine_plan_many(e, pairs, 2, plans, statuses)) && CHECK(plans[0] && plans[1])) {
        items[0] = (cosell_commit_item){plans[0], NULL, 0};
        items[1] = (cosell_commit_item){plans[1], NULL, 0};
        if (CHECK_OK(e, cosell_engine_commit_many(e, items, 2, &reports))) {
            CHECK_CONTAINS(reports, "\"summary\":\"link\"");
            CHECK(strstr(reports, "},{") != NULL); /* two reports */
            cosell_string_free(reports);
        }
        /* The same first syncs again are stale: the whole batch is refused and nothing is written. */
        reports = SENTINEL;
        CHECK_STATUS(e, cosell_engine_commit_many(e, items, 2, &reports), COSELL_STATUS_COMMIT_STALE_PLAN);
        CHECK(reports == SENTINEL);
        if (CHECK_OK(e, cosell_engine_link_counts(e, &counts))) {
            CHECK_CONTAINS(counts, "\"synced\":2");
        }
    }
    CHECK_STATUS(e, cosell_engine_commit_many(e, NULL, 1, NULL), COSELL_STATUS_NULL_ARGUMENT);
    CHECK_CONTAINS(cosell_engine_last_error(e), "items is NULL");
    CHECK_OK(e, cosell_engine_commit_many(e, NULL, 0, NULL));
    cosell_string_free(counts);
    cosell_plan_free(plans[0]);
    cosell_plan_free(plans[1]);
    cosell_engine_free(e);
}

/* Begin/commit/rollback: a rolled back commit leaves no link, a committed transaction keeps it. */
static void test_transactions(const struct crm_case *c, const struct records *r)
{
    cosell_engine *e = open_engine(c->profile, ":memory:");
    char *link = NULL;
    if (e == NULL) {
        return;
    }
    CHECK_OK(e, cosell_engine_begin_transaction(e));
    plan_expect(e, &r->ref_c, &r->crm_c, "link", true);
    if (CHECK_OK(e, cosell_engine_link(e, REFERRAL_C, &link))) {
        CHECK_CONTAINS(link, "\"status\":\"synced\"");
    }
    cosell_string_free(link);
    link = NULL;
    CHECK_OK(e, cosell_engine_rollback_transaction(e));
    if (CHECK_OK(e, cosell_engine_link(e, REFERRAL_C, &link))) {
        CHECK_STR(link, "null");
    }
    cosell_string_free(link);
    link = NULL;

    CHECK_OK(e, cosell_engine_begin_transaction(e));
    plan_expect(e, &r->ref_c, &r->crm_c, "link", true);
    plan_expect(e, &r->ref_a, &r->crm_a, "link", true);
    CHECK_OK(e, cosell_engine_commit_transaction(e));
    if (CHECK_OK(e, cosell_engine_link(e, REFERRAL_C, &link))) {
        CHECK_CONTAINS(link, REFERRAL_C);
    }
    cosell_string_free(link);
    plan_expect(e, &r->ref_c, &r->crm_c, "nothing", false);
    /* No transaction is open any more. */
    CHECK_STATUS(e, cosell_engine_commit_transaction(e), COSELL_STATUS_STORE_INVALID_STATE);
    CHECK_STATUS(e, cosell_engine_rollback_transaction(e), COSELL_STATUS_STORE_INVALID_STATE);
    cosell_engine_free(e);
}

/* cosell_engine_links (with paging and a status filter) and cosell_engine_link_counts. */
static void test_links(const struct crm_case *c, const struct records *r)
{
    cosell_engine *e = open_engine(c->profile, ":memory:");
    char *json = NULL;
    long long first_id = 0;
    if (e == NULL) {
        return;
    }
    if (CHECK_OK(e, cosell_engine_links(e, NULL, 100, 0, &json))) {
        CHECK_STR(json, "[]");
    }
    cosell_string_free(json);
    json = NULL;
    plan_expect(e, &r->ref_a, &r->crm_a, "link", true);
    plan_expect(e, &r->ref_c, &r->crm_c, "link", true);
    if (CHECK_OK(e, cosell_engine_links(e, NULL, 100, 0, &json))) {
        CHECK_CONTAINS(json, REFERRAL_A);
        CHECK_CONTAINS(json, REFERRAL_C);
    }
    cosell_string_free(json);
    json = NULL;
    /* One per page: the first page has A, the page after its id has C. */
    if (CHECK_OK(e, cosell_engine_links(e, "synced", 1, 0, &json))) {
        CHECK_CONTAINS(json, REFERRAL_A);
        CHECK(strstr(json, REFERRAL_C) == NULL);
        CHECK(strncmp(json, "[{\"id\":", 7) == 0);
        first_id = strtoll(json + 7, NULL, 10);
        CHECK(first_id > 0);
    }
    cosell_string_free(json);
    json = NULL;
    if (CHECK_OK(e, cosell_engine_links(e, "synced", 1, (int64_t)first_id, &json))) {
        CHECK_CONTAINS(json, REFERRAL_C);
    }
    cosell_string_free(json);
    json = NULL;
    if (CHECK_OK(e, cosell_engine_links(e, "conflict", 100, 0, &json))) {
        CHECK_STR(json, "[]");
    }
    cosell_string_free(json);
    json = NULL;
    if (CHECK_OK(e, cosell_engine_link_counts(e, &json))) {
        CHECK_CONTAINS(json, "\"synced\":2");
        CHECK_CONTAINS(json, "\"conflict\":0");
        CHECK_CONTAINS(json, "\"pending\":0");
    }
    cosell_string_free(json);
    json = NULL;
    if (CHECK_OK(e, cosell_engine_reviews(e, NULL, NULL, &json))) {
        CHECK_STR(json, "[]");
    }
    cosell_string_free(json);
    cosell_engine_free(e);
}

/* cosell_engine_record_dry_run: audit rows marked dry_run, nothing else changes. */
static void test_dry_run(const struct crm_case *c, const struct records *r)
{
    cosell_engine *e = open_engine(c->profile, ":memory:");
    cosell_plan *p;
    char *rows = NULL;
    size_t n = 0;
    if (e == NULL) {
        return;
    }
    plan_expect(e, &r->ref_b_v1, &r->crm_b_v1, "link", true);
    p = plan(e, &r->ref_b_v2, &r->crm_b_v1);
    if (p != NULL) {
        CHECK_OK(e, cosell_engine_record_dry_run(e, p, "manual", &n));
        CHECK(n >= 1);
        CHECK_OK(e, cosell_engine_record_dry_run(e, p, NULL, NULL));
        cosell_plan_free(p);
    }
    if (CHECK_OK(e, cosell_engine_audit(e, NULL, 0, &rows))) {
        CHECK_CONTAINS(rows, "\"dry_run\":true");
        CHECK_CONTAINS(rows, "\"outcome\":\"planned\"");
        CHECK_CONTAINS(rows, "\"cause\":\"manual\"");
    }
    cosell_string_free(rows);
    /* The dry run changed nothing: the pair still plans the same update. */
    plan_expect(e, &r->ref_b_v2, &r->crm_b_v1, "update_crm", false);
    cosell_engine_free(e);
}

/* Built-in profiles, overrides, JSON and TOML mapping text. */
static void test_mappings(void)
{
    static const char override[] = "{\"fields\": {\"deal_value\": {\"crm\": \"Expected_Revenue__c\"}}}";
    static const char toml[] = "extends = \"salesforce\"\n"
                               "\n"
                               "[fields.deal_value]\n"
                               "crm = \"Expected_Revenue__c\"\n";
    char err[512] = "";
    char *json = NULL, *json2 = NULL, *names = NULL;
    cosell_mapping *sf = load_mapping("salesforce");
    cosell_mapping *d365 = load_mapping("dynamics365");
    cosell_mapping *over = NULL, *from_toml = NULL, *from_json = NULL;
    if (sf == NULL || d365 == NULL) {
        cosell_mapping_free(sf);
        cosell_mapping_free(d365);
        return;
    }
    CHECK_STR(cosell_mapping_crm(sf), "salesforce");
    CHECK_STR(cosell_mapping_crm(d365), "dynamics365");
    if (CHECK_OK(NULL, cosell_mapping_builtin_names(&names))) {
        CHECK_CONTAINS(names, "\"salesforce\"");
        CHECK_CONTAINS(names, "\"dynamics365\"");
    }
    if (CHECK_OK(NULL, cosell_mapping_to_json(sf, &json))) {
        CHECK_CONTAINS(json, "\"crm\": \"salesforce\"");
        CHECK_CONTAINS(json, "\"Amount\"");
        CHECK(strstr(json, "Expected_Revenue__c") == NULL);
        /* The resolved JSON is itself a mapping that gives the same JSON back. */
        if (CHECK_STATUS_BUF(cosell_mapping_from_text(json, strlen(json), COSELL_MAPPING_FORMAT_JSON, &from_json,
                                                      err, sizeof err),
                             COSELL_STATUS_OK, err) &&
            CHECK_OK(NULL, cosell_mapping_to_json(from_json, &json2))) {
            CHECK_STR(json2, json);
        }
    }
    cosell_string_free(json);
    cosell_string_free(json2);
    json = json2 = NULL;

    if (CHECK_STATUS_BUF(cosell_mapping_override(sf, override, strlen(override), &over, err, sizeof err),
                         COSELL_STATUS_OK, err)) {
        CHECK_STR(cosell_mapping_crm(over), "salesforce");
        if (CHECK_OK(NULL, cosell_mapping_to_json(over, &json))) {
            CHECK_CONTAINS(json, "Expected_Revenue__c");
        }
        cosell_string_free(json);
        json = NULL;
        /* The base is unchanged. */
        if (CHECK_OK(NULL, cosell_mapping_to_json(sf, &json))) {
            CHECK(strstr(json, "Expected_Revenue__c") == NULL);
        }
        cosell_string_free(json);
        json = NULL;
    }
    if (CHECK_STATUS_BUF(cosell_mapping_from_text(toml, strlen(toml), COSELL_MAPPING_FORMAT_TOML, &from_toml, err,
                                                  sizeof err),
                         COSELL_STATUS_OK, err)) {
        CHECK_STR(cosell_mapping_crm(from_toml), "salesforce");
        if (CHECK_OK(NULL, cosell_mapping_to_json(from_toml, &json)) &&
            CHECK_CONTAINS(json, "Expected_Revenue__c") && over != NULL &&
            CHECK_OK(NULL, cosell_mapping_to_json(over, &json2))) {
            /* extends + the same override in TOML resolves to the same mapping. */
            CHECK_STR(json, json2);
        }
    }
    /* The same TOML as a file (`.toml` selects the format), and a file that is not there. */
    {
        char path[1024], missing[1024];
        cosell_mapping *from_file = NULL, *none = NULL;
        FILE *f = fopen(fresh_path(path, sizeof path, "mapping.toml"), "w");
        if (CHECK(f != NULL)) {
            fputs(toml, f);
            fclose(f);
            if (CHECK_STATUS_BUF(cosell_mapping_from_file(path, &from_file, err, sizeof err), COSELL_STATUS_OK, err)) {
                CHECK_STR(cosell_mapping_crm(from_file), "salesforce");
            }
        }
        CHECK_STATUS_BUF(cosell_mapping_from_file(fresh_path(missing, sizeof missing, "no-such-mapping.json"), &none,
                                                  err, sizeof err),
                         COSELL_STATUS_MAPPING_IO, err);
        CHECK_CONTAINS(err, "no-such-mapping.json");
        CHECK(none == NULL);
        cosell_mapping_free(from_file);
    }
    cosell_string_free(json);
    cosell_string_free(json2);
    cosell_string_free(names);
    cosell_mapping_free(from_json);
    cosell_mapping_free(from_toml);
    cosell_mapping_free(over);
    cosell_mapping_free(sf);
    cosell_mapping_free(d365);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const struct crm_case *c = &CASES[i];
        struct records r = load_records(c->prefix);
        char path[1024], name[128];
        snprintf(name, sizeof name, "roundtrip-%s.db", c->profile);
        test_sync_cycle(c, &r, ":memory:");
        test_sync_cycle(c, &r, fresh_path(path, sizeof path, name));
        test_plan_json_roundtrip(c, &r);
        test_plan_many(c, &r);
        test_commit_many(c, &r);
        test_transactions(c, &r);
        test_links(c, &r);
        test_dry_run(c, &r);
        free_records(&r);
        fresh_path(path, sizeof path, name); /* leave no store behind */
    }
    test_mappings();
    return check_done("test_roundtrip");
}
