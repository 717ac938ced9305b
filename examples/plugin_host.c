/*
 * plugin_host.c: the smallest CRM plugin host of libcosell. It plans one Partner Center referral against its CRM
 * record, prints the plan, "applies" it, commits what was applied and prints the audit trail.
 *
 *   plugin_host [STORE [REFERRAL.json CRM.json]]   STORE defaults to ":memory:"; without the two files it uses
 *                                                  built-in sample records (a Salesforce opportunity)
 * Build: cc -std=c11 -Iinclude examples/plugin_host.c -Ltarget/release -lcosell -Wl,-rpath,<dir of libcosell.so.0>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cosell.h"

static const char SAMPLE_REFERRAL[] =
    "{\"id\": \"6513270e-269e-4d37-b2a7-4de452e6b438\", \"name\": \"Contoso - landing zone\","
    " \"status\": \"Active\", \"substatus\": \"Accepted\", \"updatedDateTime\": \"2026-11-02T08:00:00Z\","
    " \"eTag\": \"\\\"1a61dbe2\\\"\", \"details\": {\"dealValue\": 48000, \"currency\": \"USD\","
    " \"closingDateTime\": \"2027-09-12T00:00:00Z\", \"notes\": \"Landing zone, then SAP migration\"}}";
static const char SAMPLE_CRM[] =
    "{\"attributes\": {\"type\": \"Opportunity\"}, \"Id\": \"006000000000000000\", \"Name\": \"Contoso - landing zone\","
    " \"Amount\": 48000.0, \"CurrencyIsoCode\": \"USD\", \"CloseDate\": \"2027-09-12\", \"StageName\": \"Qualification\","
    " \"Description\": \"Landing zone\", \"Sync_with_Partner_Center__c\": true,"
    " \"Referral_Identifier__c\": \"6513270e-269e-4d37-b2a7-4de452e6b438\","
    " \"SystemModstamp\": \"2026-10-20T10:15:42.000+0000\", \"LastModifiedDate\": \"2026-10-20T10:15:42.000+0000\"}";

/* Checks a call on `engine`: on failure prints the status and the engine's message, and goes to `done`. */
#define TRY(call)                                                                                             \
    do {                                                                                                      \
        cosell_status s_ = (call);                                                                            \
        if (s_ != COSELL_STATUS_OK) {                                                                         \
            fprintf(stderr, "%s: %s (%u)\n  %s\n", #call, cosell_status_str(s_), (unsigned)s_,               \
                    cosell_engine_last_error(engine));                                                        \
            goto done;                                                                                        \
        }                                                                                                     \
    } while (0)

/* A whole file, NUL-terminated (free with free()), or NULL. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long n;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)n + 1)) != NULL) {
        *len = fread(text, 1, (size_t)n, f);
        text[*len] = '\0';
    }
    if (f != NULL) {
        fclose(f);
    }
    return text;
}

int main(int argc, char **argv)
{
    const char *store = argc > 1 ? argv[1] : ":memory:";
    char *referral = NULL, *crm = NULL, *text = NULL, *json = NULL, *report = NULL, *audit = NULL;
    size_t referral_len = strlen(SAMPLE_REFERRAL), crm_len = strlen(SAMPLE_CRM);
    char err[512], results[512], now[32];
    cosell_mapping *mapping = NULL;
    cosell_engine *engine = NULL;
    cosell_plan *plan = NULL;
    cosell_status s;
    time_t t = time(NULL);
    int rc = 1;

    if (argc > 3 && ((referral = read_file(argv[2], &referral_len)) == NULL ||
                     (crm = read_file(argv[3], &crm_len)) == NULL)) {
        fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
        goto done;
    }
    if ((s = cosell_mapping_builtin("salesforce", &mapping, err, sizeof err)) != COSELL_STATUS_OK ||
        (s = cosell_engine_open(store, mapping, &engine, err, sizeof err)) != COSELL_STATUS_OK) {
        fprintf(stderr, "cannot open %s: %s (%u)\n  %s\n", store, cosell_status_str(s), (unsigned)s, err);
        goto done;
    }
    printf("libcosell %s, %s mapping, store %s\n", cosell_version(), cosell_mapping_crm(mapping), store);

    /* Plan the pair (planning changes nothing) and show it. */
    TRY(cosell_engine_plan(engine, referral ? referral : SAMPLE_REFERRAL, referral_len, crm ? crm : SAMPLE_CRM,
                           crm_len, &plan));
    TRY(cosell_plan_to_text(plan, &text));
    printf("%s\nsummary: %s\n", text, cosell_plan_summary(plan));

    /* Apply the plan's writes with the CRM's API (not shown; cosell_plan_to_json lists them), then report each
     * written record's new version, so that the next plan of the pair is empty. A plan that writes nothing is
     * committed with NULL results. */
    TRY(cosell_plan_to_json(plan, &json));
    results[0] = '\0';
    if (cosell_plan_writes_partner_center(plan)) {
        fprintf(stderr, "this example applies CRM writes only; plan summary: %s\n", cosell_plan_summary(plan));
        goto done;
    }
    if (cosell_plan_writes_crm(plan)) {
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000+0000", gmtime(&t));
        snprintf(results, sizeof results,
                 "{\"crm\": {\"outcome\": \"applied\", \"version\": {\"modified\": \"%s\", \"stamp\": \"%s\"}},"
                 " \"cause\": \"manual\"}", now, now);
        printf("results: %s\n", results);
    }
    TRY(cosell_engine_commit(engine, plan, results[0] ? results : NULL, strlen(results), &report));
    printf("commit: %s\n", report);

    TRY(cosell_engine_audit(engine, NULL, 0, &audit));
    printf("audit: %s\n", audit);
    rc = 0;
done:
    cosell_string_free(audit);
    cosell_string_free(report);
    cosell_string_free(json);
    cosell_string_free(text);
    cosell_plan_free(plan);
    cosell_engine_free(engine);
    cosell_mapping_free(mapping);
    free(referral);
    free(crm);
    return rc;
}
