/* test-apitoken.c — unit tests for apitoken.c: the token form, loading good and bad tokens
 * files (every bad line names file and line), parsing from a buffer, verifying known /
 * unknown / install-form tokens, and apitokens_file_add() (creates 0600, keeps other lines,
 * refuses duplicates and bad names, and what it prints verifies after a load). */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apitoken.h"
#include "token.h"
#include "util.h"

static char dir[] = "/tmp/provd-test-apitoken-XXXXXX";

static void setup(void) {
        ck_assert_int_eq(token_init(), 0);
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void teardown(void) {
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_of(const char *name) {
        char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static void write_file(const char *path, const char *content) {
        FILE *f = fopen(path, "w");
        ck_assert_msg(f != NULL, "cannot create %s", path);
        fputs(content, f);
        ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "r");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        char *buf = calloc(1, 65536);
        ck_assert_ptr_nonnull(buf);
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/* hex of BLAKE2b-256 of s, as a tokens file holds it */
static void hash_hex(const char *s, char hex[static 65]) {
        uint8_t h[32];
        crypto_generichash(h, sizeof h, (const unsigned char *) s, strlen(s), NULL, 0);
        sodium_bin2hex(hex, 65, h, sizeof h);
}

static const char TOK_A[] = "pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char TOK_B[] = "pvd_0123456789abcdefghijklmnopqrstuvwxyz-_ABCDE";
static const char TOK_C[] = "pvd_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"; /* never in a file */

/* ---- form ------------------------------------------------------------------------------ */

START_TEST(test_form) {
        ck_assert_uint_eq(strlen(TOK_A), APITOKEN_STRING_MAX - 1);
        ck_assert(apitoken_is_api_form(TOK_A));
        ck_assert(apitoken_is_api_form(TOK_B));
        ck_assert(!apitoken_is_api_form(NULL));
        ck_assert(!apitoken_is_api_form(""));
        ck_assert(!apitoken_is_api_form("pvd_"));
        ck_assert(!apitoken_is_api_form(TOK_A + 4));                                        /* install form */
        ck_assert(!apitoken_is_api_form("pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));  /* 42 */
        ck_assert(!apitoken_is_api_form("pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")); /* 44 */
        ck_assert(!apitoken_is_api_form("pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));  /* padding */
        ck_assert(!apitoken_is_api_form("pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+"));
        ck_assert(!apitoken_is_api_form("PVD_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        ck_assert(!apitoken_is_api_form(" pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

        ck_assert(apitoken_name_is_valid("a"));
        ck_assert(apitoken_name_is_valid("ci-bot.v2_x"));
        ck_assert(apitoken_name_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        ck_assert(!apitoken_name_is_valid("01234567890123456789012345678901234567890123456789012345678901234"));
        ck_assert(!apitoken_name_is_valid(""));
        ck_assert(!apitoken_name_is_valid(NULL));
        ck_assert(!apitoken_name_is_valid("a b"));
        ck_assert(!apitoken_name_is_valid("a/b"));
        ck_assert(!apitoken_name_is_valid("é"));
        ck_assert(!apitoken_name_is_valid("#x"));
}
END_TEST

/* ---- load + verify ----------------------------------------------------------------------- */

START_TEST(test_load_good_and_verify) {
        char ha[65], hb[65];
        hash_hex(TOK_A, ha);
        hash_hex(TOK_B, hb);
        for (char *p = hb; *p; p++) /* uppercase hex is accepted too */
                if (*p >= 'a' && *p <= 'f')
                        *p = (char) (*p - 'a' + 'A');
        _cleanup_free_ char *path = path_of("tokens"), *content = NULL;
        ck_assert_int_ge(asprintf(&content,
                                  "# provd API tokens\n"
                                  "\n"
                                  "   # indented comment\n"
                                  "alice blake2b:%s\n"
                                  "\t ci.bot-2_x \t blake2b:%s  \r\n"
                                  "\n",
                                  ha, hb),
                         0);
        write_file(path, content);

        _cleanup_(apitokens_freep) ApiTokens *t = NULL;
        char err[ERRBUF_MAX] = "";
        int r = apitokens_load(path, &t, err, sizeof err);
        ck_assert_msg(r == 0, "load: %d %s", r, err);
        ck_assert_str_eq(err, "");
        ck_assert_uint_eq(apitokens_count(t), 2);

        const char *name = NULL;
        ck_assert_int_eq(apitokens_verify(t, TOK_A, &name), 0);
        ck_assert_str_eq(name, "alice");
        ck_assert_int_eq(apitokens_verify(t, TOK_B, &name), 0);
        ck_assert_str_eq(name, "ci.bot-2_x");
        ck_assert_int_eq(apitokens_verify(t, TOK_B, NULL), 0);

        name = "untouched";
        ck_assert_int_eq(apitokens_verify(t, TOK_C, &name), -ENOKEY);
        ck_assert_int_eq(apitokens_verify(t, NULL, &name), -ENOKEY);
        ck_assert_int_eq(apitokens_verify(t, "", &name), -ENOKEY);
        ck_assert_int_eq(apitokens_verify(t, "garbage", &name), -ENOKEY);
        ck_assert_int_eq(apitokens_verify(t, "pvd_short", &name), -ENOKEY);
        /* TOK_A without its prefix: the install-token form, even though its hash is unknown */
        ck_assert_int_eq(apitokens_verify(t, TOK_A + 4, &name), -EPERM);
        ck_assert_str_eq(name, "untouched");
}
END_TEST

START_TEST(test_load_null_and_empty) {
        _cleanup_(apitokens_freep) ApiTokens *t = NULL, *t2 = NULL;
        ck_assert_int_eq(apitokens_load(NULL, &t, NULL, 0), 0);
        ck_assert_uint_eq(apitokens_count(t), 0);
        ck_assert_int_eq(apitokens_verify(t, TOK_A, NULL), -ENOKEY);
        ck_assert_int_eq(apitokens_verify(NULL, TOK_A, NULL), -ENOKEY);
        ck_assert_int_eq(apitokens_verify(t, TOK_A + 4, NULL), -EPERM);
        ck_assert_uint_eq(apitokens_count(NULL), 0);

        _cleanup_free_ char *path = path_of("empty");
        write_file(path, "# nothing yet\n\n");
        ck_assert_int_eq(apitokens_load(path, &t2, NULL, 0), 0);
        ck_assert_uint_eq(apitokens_count(t2), 0);
}
END_TEST

START_TEST(test_load_missing) {
        _cleanup_free_ char *path = path_of("nope");
        char err[ERRBUF_MAX] = "";
        ApiTokens *t = (ApiTokens *) 0x1;
        ck_assert_int_eq(apitokens_load(path, &t, err, sizeof err), -ENOENT);
        ck_assert_ptr_eq(t, (ApiTokens *) 0x1);
        ck_assert_str_ne(err, "");
        ck_assert_msg(strstr(err, path), "message does not name the file: %s", err);

        char err2[ERRBUF_MAX] = "";
        ck_assert_int_eq(apitokens_load(dir, &t, err2, sizeof err2), -EINVAL); /* a directory */
        ck_assert_str_ne(err2, "");
}
END_TEST

static const struct {
        const char *content; /* %s = a good hex hash */
        unsigned line;
        const char *needle;
} bad_files[] = {
        { "alice blake2b:%.63s\n", 1, "64 hex digits" },                              /* short hash */
        { "alice blake2b:%s0\n", 1, "64 hex digits" },                                /* long hash */
        { "# c\nalice blake2b:%.62sxz\n", 2, "not hex" },                             /* non-hex */
        { "\nal/ice blake2b:%s\n", 2, "bad token name" },                             /* bad name */
        { "%.1s0123456789012345678901234567890123456789012345678901234567890123456 blake2b:x\n", 1, "bad token name" },
        { "alice blake2b:%1$s\nbob blake2b:%1$s\nalice blake2b:%1$s\n", 3, "duplicate token name \"alice\"" },
        { "alice sha256:%s\n", 1, "unknown hash" },                                   /* unknown prefix */
        { "alice %s\n", 1, "unknown hash" },                                          /* no prefix */
        { "alice\n%.0s", 1, "expected \"NAME blake2b:HEX\"" },                        /* no hash */
        { "alice blake2b:%s extra\n", 1, "unexpected text" },
        { "pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%.0s\n", 1, "expected" },  /* a clear token */
};

START_TEST(test_load_bad) {
        char ha[65];
        hash_hex(TOK_A, ha);
        _cleanup_free_ char *path = path_of("bad"), *content = NULL, *where = NULL;
        char err[ERRBUF_MAX] = "";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        ck_assert_int_ge(asprintf(&content, bad_files[_i].content, ha), 0);
#pragma GCC diagnostic pop
        write_file(path, content);
        ApiTokens *t = NULL;
        int r = apitokens_load(path, &t, err, sizeof err);
        ck_assert_msg(r == -EINVAL, "case %d: got %d, want -EINVAL", _i, r);
        ck_assert_ptr_null(t);
        ck_assert_str_ne(err, "");
        ck_assert_int_ge(asprintf(&where, "%s:%u: ", path, bad_files[_i].line), 0);
        ck_assert_msg(startswith(err, where), "case %d: message does not start with \"%s\": %s", _i, where, err);
        ck_assert_msg(strstr(err, bad_files[_i].needle), "case %d: no \"%s\" in: %s", _i, bad_files[_i].needle, err);
}
END_TEST

START_TEST(test_load_nul_byte) {
        _cleanup_free_ char *path = path_of("nul");
        char err[ERRBUF_MAX] = "";
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fwrite("a\0b\n", 1, 4, f);
        fclose(f);
        ApiTokens *t = NULL;
        ck_assert_int_eq(apitokens_load(path, &t, err, sizeof err), -EINVAL);
        ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(test_parse_buffer) {
        /* apitokens_parse() reads exactly len bytes (no NUL needed), names origin in messages */
        char ha[65];
        hash_hex(TOK_A, ha);
        _cleanup_free_ char *text = NULL;
        ck_assert_int_ge(asprintf(&text, "# c\nadmin blake2b:%s\nTRAILING-GARBAGE", ha), 0);
        size_t len = strlen(text) - strlen("TRAILING-GARBAGE");
        ApiTokens *t = NULL;
        const char *name = NULL;
        ck_assert_int_eq(apitokens_parse(text, len, "mem", &t, NULL, 0), 0);
        ck_assert_uint_eq(apitokens_count(t), 1);
        ck_assert_int_eq(apitokens_verify(t, TOK_A, &name), 0);
        ck_assert_str_eq(name, "admin");
        apitokens_free(t);

        t = NULL;
        char err[ERRBUF_MAX] = "";
        char err2[ERRBUF_MAX] = "";
        ck_assert_int_eq(apitokens_parse(text, strlen(text), "mem", &t, err, sizeof err), -EINVAL);
        ck_assert_ptr_null(t);
        ck_assert_str_eq(err, "mem:3: expected \"NAME blake2b:HEX\"");
        ck_assert_int_eq(apitokens_parse("a\0b\n", 4, "mem", &t, err2, sizeof err2), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err2, "mem: contains a NUL byte"));
        ck_assert_int_eq(apitokens_parse("", 0, "mem", &t, NULL, 0), 0);
        ck_assert_uint_eq(apitokens_count(t), 0);
        apitokens_free(t);
}
END_TEST

/* ---- file_add ---------------------------------------------------------------------------- */

START_TEST(test_add_creates_0600_and_verifies) {
        _cleanup_free_ char *path = path_of("api-tokens");
        char tok1[APITOKEN_STRING_MAX], tok2[APITOKEN_STRING_MAX];
        char err[ERRBUF_MAX] = "";

        ck_assert_int_eq(apitokens_file_add(path, "admin", tok1, err, sizeof err), 0);
        ck_assert_str_eq(err, "");
        ck_assert(apitoken_is_api_form(tok1));
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);

        ck_assert_int_eq(apitokens_file_add(path, "ci", tok2, err, sizeof err), 0);
        ck_assert_str_ne(tok1, tok2);

        _cleanup_free_ char *content = read_file(path);
        ck_assert_msg(!strstr(content, tok1 + 4) && !strstr(content, tok2 + 4), "token stored in clear: %s", content);
        char hex[65];
        hash_hex(tok1, hex);
        _cleanup_free_ char *line = NULL;
        ck_assert_int_ge(asprintf(&line, "admin blake2b:%s\n", hex), 0);
        ck_assert_msg(startswith(content, line), "file: %s", content);

        _cleanup_(apitokens_freep) ApiTokens *t = NULL;
        ck_assert_int_eq(apitokens_load(path, &t, err, sizeof err), 0);
        ck_assert_uint_eq(apitokens_count(t), 2);
        const char *name = NULL;
        ck_assert_int_eq(apitokens_verify(t, tok1, &name), 0);
        ck_assert_str_eq(name, "admin");
        ck_assert_int_eq(apitokens_verify(t, tok2, &name), 0);
        ck_assert_str_eq(name, "ci");
}
END_TEST

START_TEST(test_add_refuses_duplicate_and_bad_name) {
        _cleanup_free_ char *path = path_of("api-tokens"), *before = NULL, *after = NULL;
        char tok[APITOKEN_STRING_MAX];
        char err[ERRBUF_MAX] = "";
        ck_assert_int_eq(apitokens_file_add(path, "admin", tok, err, sizeof err), 0);
        before = read_file(path);

        strcpy(tok, "untouched");
        ck_assert_int_eq(apitokens_file_add(path, "admin", tok, err, sizeof err), -EEXIST);
        ck_assert_str_ne(err, "");
        ck_assert_msg(strstr(err, path) && strstr(err, "admin"), "message: %s", err);
        err[0] = '\0';
        ck_assert_str_eq(tok, "untouched");

        static const char *const bad[] = { "", "a b", "a\nb", "x/y", "0123456789012345678901234567890123456789012345678901234567890123X" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_int_eq(apitokens_file_add(path, bad[i], tok, err, sizeof err), -EINVAL);
                ck_assert_str_ne(err, "");
                err[0] = '\0';
        }
        after = read_file(path);
        ck_assert_str_eq(before, after);
}
END_TEST

START_TEST(test_add_keeps_lines_and_mode) {
        char ha[65];
        hash_hex(TOK_A, ha);
        _cleanup_free_ char *path = path_of("api-tokens"), *content = NULL, *after = NULL;
        /* no newline at the end: add must not glue its line onto the last one */
        ck_assert_int_ge(asprintf(&content, "# mine\n\nalice blake2b:%s", ha), 0);
        write_file(path, content);
        ck_assert_int_eq(chmod(path, 0640), 0);

        char tok[APITOKEN_STRING_MAX];
        char err[ERRBUF_MAX] = "";
        ck_assert_int_eq(apitokens_file_add(path, "bob", tok, err, sizeof err), 0);
        after = read_file(path);
        ck_assert_msg(startswith(after, content), "lost lines: %s", after);
        ck_assert_msg(after[strlen(content)] == '\n' && startswith(after + strlen(content) + 1, "bob blake2b:"), "%s", after);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0640);

        _cleanup_(apitokens_freep) ApiTokens *t = NULL;
        ck_assert_int_eq(apitokens_load(path, &t, err, sizeof err), 0);
        ck_assert_int_eq(apitokens_verify(t, TOK_A, NULL), 0);
        ck_assert_int_eq(apitokens_verify(t, tok, NULL), 0);
}
END_TEST

START_TEST(test_add_refuses_broken_file) {
        _cleanup_free_ char *path = path_of("api-tokens"), *before = NULL, *after = NULL;
        char err[ERRBUF_MAX] = "";
        write_file(path, "alice blake2b:1234\n");
        before = read_file(path);
        char tok[APITOKEN_STRING_MAX];
        ck_assert_int_eq(apitokens_file_add(path, "bob", tok, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, path), "message: %s", err);
        after = read_file(path);
        ck_assert_str_eq(before, after);
}
END_TEST

START_TEST(test_add_missing_dir) {
        _cleanup_free_ char *path = path_of("no/such/dir");
        char err[ERRBUF_MAX] = "";
        char tok[APITOKEN_STRING_MAX];
        ck_assert_int_eq(apitokens_file_add(path, "bob", tok, err, sizeof err), -ENOENT);
        ck_assert_msg(strstr(err, path), "message: %s", err);
}
END_TEST

static Suite *apitoken_suite(void) {
        Suite *s = suite_create("apitoken");
        TCase *tc;

        tc = tcase_create("form");
        tcase_add_test(tc, test_form);
        suite_add_tcase(s, tc);

        tc = tcase_create("load");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_load_good_and_verify);
        tcase_add_test(tc, test_load_null_and_empty);
        tcase_add_test(tc, test_load_missing);
        tcase_add_loop_test(tc, test_load_bad, 0, ELEMENTSOF(bad_files));
        tcase_add_test(tc, test_load_nul_byte);
        tcase_add_test(tc, test_parse_buffer);
        suite_add_tcase(s, tc);

        tc = tcase_create("add");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_add_creates_0600_and_verifies);
        tcase_add_test(tc, test_add_refuses_duplicate_and_bad_name);
        tcase_add_test(tc, test_add_keeps_lines_and_mode);
        tcase_add_test(tc, test_add_refuses_broken_file);
        tcase_add_test(tc, test_add_missing_dir);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(apitoken_suite)
