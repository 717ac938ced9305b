// header_cxx.cpp: include/cosell.h compiles as C++17 with -Wall -Wextra -Wpedantic -Werror, links and runs
// (make test-c-cxx). The handles fit std::unique_ptr with the library's free functions as deleters.
#include "cosell.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

namespace {

struct mapping_deleter {
    void operator()(cosell_mapping *m) const { cosell_mapping_free(m); }
};
struct engine_deleter {
    void operator()(cosell_engine *e) const { cosell_engine_free(e); }
};
struct string_deleter {
    void operator()(char *s) const { cosell_string_free(s); }
};
using mapping_ptr = std::unique_ptr<cosell_mapping, mapping_deleter>;
using engine_ptr = std::unique_ptr<cosell_engine, engine_deleter>;
using string_ptr = std::unique_ptr<char, string_deleter>;

// In C++ the status is a scoped-size enum: 32 bits, as in C.
static_assert(sizeof(cosell_status) == sizeof(std::uint32_t), "cosell_status is 32 bits");
static_assert(std::is_same<std::underlying_type<cosell_status>::type, std::uint32_t>::value, "uint32_t enum");
static_assert(COSELL_STATUS_COMMIT_STALE_PLAN == 401, "status numbers are pinned");

int failures = 0;

void check(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "header_cxx: FAILED: %s\n", what);
        ++failures;
    }
}

}  // namespace

int main()
{
    check(cosell_version_number() == COSELL_VERSION_NUMBER, "cosell_version_number() == COSELL_VERSION_NUMBER");
    check(std::string(cosell_version()) == COSELL_VERSION, "cosell_version() == COSELL_VERSION");
    check(std::string(cosell_status_str(COSELL_STATUS_OK)) == "ok", "cosell_status_str(OK)");

    char err[256] = "";
    cosell_mapping *raw_mapping = nullptr;
    cosell_status s = cosell_mapping_builtin("dynamics365", &raw_mapping, err, sizeof err);
    mapping_ptr mapping(raw_mapping);
    check(s == COSELL_STATUS_OK, err);
    check(std::string(cosell_mapping_crm(mapping.get())) == "dynamics365", "cosell_mapping_crm");

    cosell_engine *raw_engine = nullptr;
    s = cosell_engine_open(":memory:", mapping.get(), &raw_engine, err, sizeof err);
    engine_ptr engine(raw_engine);
    check(s == COSELL_STATUS_OK, err);

    // A batch of nothing, then the link counts of an empty store.
    cosell_plan *plans[1] = {nullptr};
    cosell_status statuses[1] = {COSELL_STATUS_OK};
    check(cosell_engine_plan_many(engine.get(), nullptr, 0, plans, statuses) == COSELL_STATUS_OK, "plan_many(0)");
    char *raw_counts = nullptr;
    s = cosell_engine_link_counts(engine.get(), &raw_counts);
    string_ptr counts(raw_counts);
    check(s == COSELL_STATUS_OK, cosell_engine_last_error(engine.get()));
    check(counts && std::strstr(counts.get(), "\"synced\":0") != nullptr, "link counts");

    // A status the C++ way: an enum value, compared and printed.
    cosell_plan *plan = nullptr;
    s = cosell_engine_plan(engine.get(), "{", 1, nullptr, 0, &plan);
    check(s == COSELL_STATUS_RECORD_INVALID_JSON, "malformed record");
    check(plan == nullptr, "no plan on failure");

    std::printf("header_cxx: libcosell %s, C++ %ld, %s\n", cosell_version(), static_cast<long>(__cplusplus),
                failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
