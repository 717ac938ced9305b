/*
 * test_version.c: the header and the library it is linked with agree on the version, and the version macros
 * compose COSELL_VERSION_NUMBER as the header documents (major * 1000000 + minor * 1000 + patch).
 */
#include "check.h"

/* The header's own macros are consistent with each other. */
static void test_header_macros(void)
{
    char text[64];
    snprintf(text, sizeof text, "%d.%d.%d", COSELL_VERSION_MAJOR, COSELL_VERSION_MINOR, COSELL_VERSION_PATCH);
    CHECK_STR(text, COSELL_VERSION);
    CHECK(COSELL_VERSION_NUMBER ==
          COSELL_VERSION_MAJOR * 1000000 + COSELL_VERSION_MINOR * 1000 + COSELL_VERSION_PATCH);
    CHECK(COSELL_VERSION_MINOR < 1000 && COSELL_VERSION_PATCH < 1000);
}

/* The library linked at run time is the one the header describes. */
static void test_library_matches_header(void)
{
    const char *version = cosell_version();
    CHECK(version != NULL);
    CHECK_STR(version, COSELL_VERSION);
    CHECK(cosell_version_number() == COSELL_VERSION_NUMBER);
    /* Two calls give the same static text. */
    CHECK(cosell_version() == version);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    test_header_macros();
    test_library_matches_header();
    printf("libcosell %s (%u)\n", cosell_version(), (unsigned)cosell_version_number());
    return check_done("test_version");
}
