/*
 * plan_bench.c: the standard workload (bench/workload.py) through the C API, as core/benches/workload.rs runs it
 * through Rust: for each CRM, link the v1 pairs into a fresh store file, then plan the v2 pairs and check the
 * plan counts against the workload's manifest.json.
 *
 *   plan_bench DIR [STORE_DIR]     DIR made by `bench/workload.py N DIR`; stores go to STORE_DIR (target/c/bench)
 *
 * One JSON line per measurement on stdout:
 *   {"bench": "c_link", "crm": "salesforce", "records": N, "seconds": S, "per_s": R, "runs": 3, "per_s_min": ..,
 *    "per_s_max": .., "batch": 20000}
 *     first sync of the v1 pairs: open the store, cosell_engine_plan_many 500 pairs at a time and
 *     cosell_engine_commit_many per chunk, one transaction per 20000 pairs, close (the WAL checkpoint is part of it)
 *   {"bench": "c_plan", "crm": "salesforce", "records": N, "seconds": S, "per_s": R, "runs": 3, ..., "counts": {...}}
 *     the v2 pairs planned 500 at a time with cosell_engine_plan_many, reading the input inside the timing
 * Each measurement is run RUNS times (each link into a new store) and the median run reported, with the slowest and
 * fastest, as core/benches/workload.rs does.
 *   {"bench": "c_peak_rss", "mb": M}
 * Exits non-zero when a plan fails or the plan counts differ from the manifest.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cosell.h"

#define CHUNK 500         /* pairs per cosell_engine_plan_many (PLAN_BATCH in workload.rs) */
#define RUNS 3            /* runs of each measurement (RUNS in workload.rs) */
#define TX_PAIRS 20000    /* pairs per transaction when linking (LINK_BATCH in workload.rs) */
#define INPUT_BUFFER (1 << 20)

/* The summaries a plan can have (cosell_plan_summary), counted in this order. */
static const char *const SUMMARIES[] = {"nothing",   "link",       "converged",      "update_crm",
                                        "update_partner_center", "update_both", "conflict", "create_crm",
                                        "create_referral", "convert_lead", "orphan", "refused"};
#define N_SUMMARIES (sizeof SUMMARIES / sizeof SUMMARIES[0])

/* Streams the pairs of one version: line i of referrals_<v>.jsonl with line i of <crm>_<v>.jsonl, CHUNK at a
 * time, into line buffers reused from chunk to chunk (getline grows them; nothing else is allocated). */
struct reader {
    FILE *referrals, *crm;
    char *lines[2][CHUNK];
    size_t caps[2][CHUNK];
    cosell_pair pairs[CHUNK];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "plan_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static FILE *open_input(const char *dir, const char *name, const char *version)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s_%s.jsonl", dir, name, version);
    if ((f = fopen(path, "rb")) == NULL) {
        die("cannot open (run bench/workload.py first)", path);
    }
    setvbuf(f, NULL, _IOFBF, INPUT_BUFFER);
    return f;
}

static void reader_open(struct reader *r, const char *dir, const char *crm, const char *version)
{
    if (r->referrals != NULL) {
        fclose(r->referrals);
        fclose(r->crm);
    }
    r->referrals = open_input(dir, "referrals", version);
    r->crm = open_input(dir, crm, version);
}

static void reader_close(struct reader *r)
{
    for (size_t i = 0; i < CHUNK; i++) {
        free(r->lines[0][i]);
        free(r->lines[1][i]);
    }
    if (r->referrals != NULL) {
        fclose(r->referrals);
        fclose(r->crm);
    }
}

/* One line into buffer i of side `side`, without its newline; its length, or -1 at the end. */
static ssize_t read_line(struct reader *r, int side, size_t i)
{
    ssize_t n = getline(&r->lines[side][i], &r->caps[side][i], side == 0 ? r->referrals : r->crm);
    if (n > 0 && r->lines[side][i][n - 1] == '\n') {
        r->lines[side][i][--n] = '\0';
    }
    return n;
}

/* The next up to CHUNK pairs in r->pairs; how many (0 at the end). */
static size_t next_chunk(struct reader *r)
{
    size_t n = 0;
    while (n < CHUNK) {
        ssize_t a = read_line(r, 0, n), b = read_line(r, 1, n);
        if ((a < 0) != (b < 0)) {
            die("the referral and CRM files do not have as many lines", NULL);
        }
        if (a < 0) {
            break;
        }
        r->pairs[n] = (cosell_pair){r->lines[0][n], (size_t)a, r->lines[1][n], (size_t)b};
        n++;
    }
    return n;
}

/* Plans a chunk; every pair must plan. */
static void plan_chunk(cosell_engine *e, const struct reader *r, size_t n, cosell_plan **plans,
                       cosell_status *statuses, size_t first)
{
    cosell_status s = cosell_engine_plan_many(e, r->pairs, n, plans, statuses);
    if (s != COSELL_STATUS_OK) {
        die(cosell_status_str(s), cosell_engine_last_error(e));
    }
    for (size_t i = 0; i < n; i++) {
        if (statuses[i] != COSELL_STATUS_OK) {
            fprintf(stderr, "plan_bench: pair %zu does not plan (%s)\n", first + i, cosell_status_str(statuses[i]));
            die("plan_many", cosell_engine_last_error(e));
        }
    }
}

static void check(cosell_engine *e, cosell_status s, const char *what)
{
    if (s != COSELL_STATUS_OK) {
        fprintf(stderr, "plan_bench: %s: %s (%u)\n", what, cosell_status_str(s), (unsigned)s);
        die(what, cosell_engine_last_error(e));
    }
}

static cosell_engine *open_engine(const cosell_mapping *m, const char *store)
{
    char err[1024] = "";
    cosell_engine *e = NULL;
    if (cosell_engine_open(store, m, &e, err, sizeof err) != COSELL_STATUS_OK) {
        die("cannot open the store", err);
    }
    return e;
}

static int by_seconds(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints the median of RUNS timings (sorted in place), with the slowest and fastest. */
static void report(const char *bench, const char *crm, size_t records, double seconds[RUNS], const char *extra)
{
    double median;
    qsort(seconds, RUNS, sizeof seconds[0], by_seconds);
    median = seconds[RUNS / 2];
    printf("{\"bench\": \"%s\", \"crm\": \"%s\", \"records\": %zu, \"seconds\": %.3f, \"per_s\": %.0f, \"runs\": %d, "
           "\"per_s_min\": %.0f, \"per_s_max\": %.0f%s}\n",
           bench, crm, records, median, (double)records / median, RUNS, (double)records / seconds[RUNS - 1],
           (double)records / seconds[0], extra);
    fflush(stdout);
}

static void remove_store(const char *store)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char path[4200];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", store, suffixes[i]);
        remove(path);
    }
}

/* First sync of the v1 pairs into a fresh store: every plan is a link, committed with NULL results. Returns the
 * seconds taken; the pairs linked into `*linked_out`. */
static double link_all(struct reader *r, const char *dir, const cosell_mapping *m, const char *crm, const char *store,
                       size_t *linked_out)
{
    static cosell_plan *plans[CHUNK];
    static cosell_status statuses[CHUNK];
    static cosell_commit_item items[CHUNK];
    size_t linked = 0, n, in_tx = 0;
    double start;
    cosell_engine *e;
    remove_store(store);
    start = now();
    e = open_engine(m, store);
    reader_open(r, dir, crm, "v1");
    check(e, cosell_engine_begin_transaction(e), "begin_transaction");
    while ((n = next_chunk(r)) > 0) {
        plan_chunk(e, r, n, plans, statuses, linked);
        for (size_t i = 0; i < n; i++) {
            const char *summary = cosell_plan_summary(plans[i]);
            if (strcmp(summary, "link") != 0) {
                fprintf(stderr, "plan_bench: v1 pair %zu plans %s, not link\n", linked + i, summary);
                exit(1);
            }
            items[i] = (cosell_commit_item){plans[i], NULL, 0};
        }
        check(e, cosell_engine_commit_many(e, items, n, NULL), "commit_many");
        for (size_t i = 0; i < n; i++) {
            cosell_plan_free(plans[i]);
        }
        linked += n;
        in_tx += n;
        if (in_tx >= TX_PAIRS) {
            check(e, cosell_engine_commit_transaction(e), "commit_transaction");
            check(e, cosell_engine_begin_transaction(e), "begin_transaction");
            in_tx = 0;
        }
    }
    check(e, cosell_engine_commit_transaction(e), "commit_transaction");
    cosell_engine_free(e); /* closing checkpoints the WAL into the store: part of the work */
    *linked_out = linked;
    return now() - start;
}

/* The v2 pairs planned against the linked store; the counts of each summary into `counts` (zeroed first) and the
 * pairs planned into `*planned_out`. Returns the seconds taken. */
static double plan_all(struct reader *r, const char *dir, const char *crm, const cosell_mapping *m, const char *store,
                       size_t counts[N_SUMMARIES], size_t *planned_out)
{
    static cosell_plan *plans[CHUNK];
    static cosell_status statuses[CHUNK];
    size_t planned = 0, n;
    cosell_engine *e = open_engine(m, store);
    double start, seconds;
    memset(counts, 0, N_SUMMARIES * sizeof counts[0]);
    reader_open(r, dir, crm, "v2");
    start = now();
    while ((n = next_chunk(r)) > 0) {
        plan_chunk(e, r, n, plans, statuses, planned);
        for (size_t i = 0; i < n; i++) {
            const char *summary = cosell_plan_summary(plans[i]);
            size_t k = 0;
            while (k < N_SUMMARIES && strcmp(summary, SUMMARIES[k]) != 0) {
                k++;
            }
            if (k == N_SUMMARIES) {
                die("unknown plan summary", summary);
            }
            counts[k]++;
            cosell_plan_free(plans[i]);
        }
        planned += n;
    }
    seconds = now() - start;
    cosell_engine_free(e);
    *planned_out = planned;
    return seconds;
}

/* The counts as a JSON member: `, "counts": {"nothing": 1, ...}`. */
static void counts_json(const size_t counts[N_SUMMARIES], char *extra, size_t size)
{
    size_t used = (size_t)snprintf(extra, size, ", \"counts\": {");
    for (size_t k = 0; k < N_SUMMARIES; k++) {
        if (counts[k] > 0 && used < size) {
            used += (size_t)snprintf(extra + used, size - used, "%s\"%s\": %zu", extra[used - 1] == '{' ? "" : ", ",
                                     SUMMARIES[k], counts[k]);
        }
    }
    if (used < size) {
        snprintf(extra + used, size - used, "}");
    }
}

/* A count of manifest.json ("key": number), or -1. A minimal reader: the manifest is flat and written by
 * bench/workload.py. */
static long manifest_count(const char *manifest, const char *key)
{
    char quoted[64];
    const char *at;
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    if ((at = strstr(manifest, quoted)) == NULL || (at = strchr(at + strlen(quoted), ':')) == NULL) {
        return -1;
    }
    return strtol(at + 1, NULL, 10);
}

static char *read_manifest(const char *dir)
{
    char path[4096];
    static char text[8192];
    size_t n;
    FILE *f;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if ((f = fopen(path, "rb")) == NULL) {
        die("cannot open (run bench/workload.py first)", path);
    }
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The plan counts equal the manifest's: update_crm = pc_only, update_partner_center = crm_only, conflict =
 * conflict, converged = both_same, nothing = unchanged, and no other summary. */
static bool counts_match(const char *manifest, const char *crm, const size_t counts[N_SUMMARIES])
{
    static const char *const expected[][2] = {{"update_crm", "pc_only"},
                                              {"update_partner_center", "crm_only"},
                                              {"conflict", "conflict"},
                                              {"converged", "both_same"},
                                              {"nothing", "unchanged"}};
    bool ok = true;
    for (size_t k = 0; k < N_SUMMARIES; k++) {
        long want = 0;
        for (size_t j = 0; j < sizeof expected / sizeof expected[0]; j++) {
            if (strcmp(SUMMARIES[k], expected[j][0]) == 0) {
                want = manifest_count(manifest, expected[j][1]);
            }
        }
        if (want < 0 || counts[k] != (size_t)want) {
            fprintf(stderr, "plan_bench: %s: %zu plans %s, the manifest expects %ld\n", crm, counts[k], SUMMARIES[k],
                    want);
            ok = false;
        }
    }
    return ok;
}

static double peak_rss_mb(void)
{
    char line[256];
    double kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtod(line + 6, NULL);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb / 1024.0;
}

int main(int argc, char **argv)
{
    static const char *const crms[][2] = {{"salesforce", "salesforce"}, {"dynamics", "dynamics365"}};
    static struct reader r;
    const char *dir = argc > 1 ? argv[1] : "bench/out/100000";
    const char *store_dir = argc > 2 ? argv[2] : "target/c/bench";
    const char *manifest = read_manifest(dir);
    bool ok = true;
    if (manifest_count(manifest, "records") < 0) {
        die("manifest.json has no record count", dir);
    }
    for (size_t c = 0; c < sizeof crms / sizeof crms[0]; c++) {
        const char *crm = crms[c][0];
        char err[1024] = "", store[4096];
        size_t counts[N_SUMMARIES] = {0};
        cosell_mapping *m = NULL;
        if (cosell_mapping_builtin(crms[c][1], &m, err, sizeof err) != COSELL_STATUS_OK) {
            die("cannot load the mapping", err);
        }
        double link_s[RUNS], plan_s[RUNS];
        size_t linked = 0, planned = 0;
        char extra[1024];
        snprintf(store, sizeof store, "%s/plan_bench-%s.db", store_dir, crm);
        for (int i = 0; i < RUNS; i++) {
            link_s[i] = link_all(&r, dir, m, crm, store, &linked);
        }
        report("c_link", crm, linked, link_s, ", \"batch\": 20000");
        for (int i = 0; i < RUNS; i++) {
            plan_s[i] = plan_all(&r, dir, crm, m, store, counts, &planned);
        }
        counts_json(counts, extra, sizeof extra);
        report("c_plan", crm, planned, plan_s, extra);
        ok = counts_match(manifest, crm, counts) && ok;
        cosell_mapping_free(m);
    }
    reader_close(&r);
    printf("{\"bench\": \"c_peak_rss\", \"mb\": %.1f}\n", peak_rss_mb());
    if (!ok) {
        fprintf(stderr, "plan_bench: plan counts differ from manifest.json\n");
        return 1;
    }
    return 0;
}
