/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_extract.c
 * @brief Tests for kvc_extract: model, prompt and token-cache key.
 */

#include <stdlib.h>

#include <openssl/evp.h>

#include "apr_strings.h"

#include "kvc_extract.h"
#include "kvc_json.h"
#include "kvc_test.h"

/* The prompt text of the last ex() or ex_len() that returned OK, read
 * with kvc_extract_prompt_text() while its body was still there; ""
 * after any other outcome. */
static const char *ex_prompt;
static apr_size_t ex_prompt_len;

static kvc_extract_status ex_len(const char *body, apr_size_t len,
                                 const char *default_model, apr_pool_t *p,
                                 kvc_request_info *out)
{
    char *buf = kvc_test_exact(body, len);
    kvc_extract_status st = kvc_extract(buf, len, default_model, p, out);

    ex_prompt = "";
    ex_prompt_len = 0;
    if (st == KVC_EXTRACT_OK) {
        KVC_CHECK_NOT_NULL(out->prompt_pieces);
        ex_prompt = kvc_extract_prompt_text(out, p, &ex_prompt_len);
    }
    else {
        KVC_CHECK_NULL(out->prompt_pieces);
    }
    free(buf);
    return st;
}

static kvc_extract_status ex(const char *body, const char *default_model,
                             apr_pool_t *p, kvc_request_info *out)
{
    return ex_len(body, strlen(body), default_model, p, out);
}

/* Extracts a body that must be OK and returns its key in 'key'. */
static void key_of(const char *body, apr_pool_t *p, unsigned char *key)
{
    kvc_request_info info;

    kvc_test_context = body;
    KVC_CHECK_INT(ex(body, "dm", p, &info), KVC_EXTRACT_OK);
    memcpy(key, info.key, KVC_KEY_LEN);
    kvc_test_context = NULL;
}

static int same_key(const char *a, const char *b, apr_pool_t *p)
{
    unsigned char ka[KVC_KEY_LEN], kb[KVC_KEY_LEN];

    key_of(a, p, ka);
    key_of(b, p, kb);
    return memcmp(ka, kb, KVC_KEY_LEN) == 0;
}

static void sha256(const char *data, apr_size_t len, unsigned char *out)
{
    unsigned int n = 0;

    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static void test_completion_string(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"model\":\"llama\",\"prompt\":\"Hello world\","
                     "\"max_tokens\":5}",
                     "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "llama");
    KVC_CHECK_STR(ex_prompt, "Hello world");
    KVC_CHECK_INT(ex_prompt_len, 11);
}

static void test_prompt_array(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"prompt\":[\"a\",1,\"b\",null,[\"c\"],{\"x\":\"y\"},"
                     "true,\"d\"]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "a\nb\nd");
    KVC_CHECK_INT(ex_prompt_len, 5);

    KVC_CHECK_INT(ex("{\"prompt\":[\"only\"]}", "", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "only");

    /* Empty elements are joined too: only emptiness of the whole counts. */
    KVC_CHECK_INT(ex("{\"prompt\":[\"\",\"x\",\"\"]}", "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "\nx\n");
}

static void test_prompt_token_ids_are_empty(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"prompt\":[1,2,3]}", "", p, &info),
                  KVC_EXTRACT_EMPTY_PROMPT);
    KVC_CHECK_INT(ex("{\"prompt\":[[1,2],[3]]}", "", p, &info),
                  KVC_EXTRACT_EMPTY_PROMPT);
    KVC_CHECK_INT(ex("{\"prompt\":42}", "", p, &info),
                  KVC_EXTRACT_EMPTY_PROMPT);
}

static void test_blank_prompt_falls_back(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "{\"prompt\":\"  \\n\\t\\r\",\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"prompt\":\"\",\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"prompt\":[\"\",\" \"],\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}",
        /* U+00A0, U+3000, U+2003, U+0085, U+1680, U+205F, U+2028 */
        "{\"prompt\":\"\\u00a0\\u3000\\u2003\\u0085\\u1680\\u205f\\u2028\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"prompt\":\"\xc2\xa0\xe3\x80\x80\",\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"prompt\":[1,2],\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"prompt\":null,\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}"
    };
    kvc_request_info info;
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        KVC_CHECK_INT(ex(bodies[i], "", p, &info), KVC_EXTRACT_OK);
        KVC_CHECK_STR(ex_prompt, "hi");
    }
    kvc_test_context = NULL;

    /* A non-blank prompt wins over messages. */
    KVC_CHECK_INT(ex("{\"prompt\":\" x \",\"messages\":"
                     "[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, " x ");
    /* Other Unicode (U+200B ZERO WIDTH SPACE) is not whitespace. */
    KVC_CHECK_INT(ex("{\"prompt\":\"\\u200b\"}", "", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_INT(ex_prompt_len, 3);
}

/* Blank or not is decided on the characters as decoded, escape by
 * escape, without a copy of the text: every whitespace code point of
 * Go's unicode.IsSpace is blank, escaped or raw, and nothing else is. */
static void test_blank_decided_per_character(apr_pool_t *p)
{
    static const char *const blank[] = {
        "\\u0009\\u000a\\u000B\\u000c\\u000D\\u0020\\f",
        "\\u0085\\u00A0\\u1680\\u2000\\u2005\\u200a\\u2028",
        "\\u2029\\u202f\\u205f\\u3000",
        "\xe2\x80\x80\xe2\x80\x8a\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaf"
        "\xe2\x81\x9f\xe1\x9a\x80\xc2\x85 "
    };
    static const char *const text[] = { /* not whitespace, escaped or raw */
                                        "\\b",
                                        "\\u0000",
                                        "\\u001f",
                                        "\\u200b",
                                        "\\u2060",
                                        "\\u00a1",
                                        "\\u0008",
                                        "\\/",
                                        "\\\\",
                                        "\\\"",
                                        "\\ud800",
                                        "\\udfff",
                                        "\\ud83d\\ude00",
                                        "\xe2\x80\x8b",
                                        "\xc2\xa1",
                                        "\xf0\x9f\x98\x80",
                                        "\x7f",
                                        "x"
    };
    kvc_request_info info;
    apr_size_t i;

    for (i = 0; i < sizeof(blank) / sizeof(*blank); i++) {
        const char *body =
            apr_psprintf(p,
                         "{\"prompt\":[\" %s\",\"\\t\"],\"messages\":"
                         "[{\"content\":\"%s\"}]}",
                         blank[i], blank[i]);

        kvc_test_context = body;
        KVC_CHECK_INT(ex(body, "", p, &info), KVC_EXTRACT_EMPTY_PROMPT);
    }
    for (i = 0; i < sizeof(text) / sizeof(*text); i++) {
        const char *body = apr_psprintf(
            p, "{\"prompt\":[\" \\u3000\",\"\\u00a0%s\\n\"]}", text[i]);

        kvc_test_context = body;
        KVC_CHECK_INT(ex(body, "", p, &info), KVC_EXTRACT_OK);
        KVC_CHECK(ex_prompt_len > 0);
    }
    kvc_test_context = NULL;
    /* The text is still there to read, decoded and joined. */
    KVC_CHECK_INT(ex("{\"prompt\":[\"\\u3000\",\"\\u0041\\ud83d\\ude00\"]}", "",
                     p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "\xe3\x80\x80\nA\xf0\x9f\x98\x80");
    /* Without a prompt, there is no text. */
    memset(&info, 0, sizeof(info));
    KVC_CHECK_STR(kvc_extract_prompt_text(&info, p, NULL), "");
}

static void test_chat_messages(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"model\":\"m\",\"messages\":["
                     "{\"role\":\"system\",\"content\":\"sys\"},"
                     "{\"role\":\"user\",\"content\":\"q\"}],"
                     "\"stream\":true}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "sys\nq");
    KVC_CHECK_INT(ex_prompt_len, 5);
}

static void test_messages_skip_non_text(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"messages\":["
                     "{\"role\":\"assistant\",\"content\":null,"
                     "\"tool_calls\":[{\"id\":\"1\"}]},"
                     "\"junk\",5,null,[\"x\"],"
                     "{\"role\":\"user\"},"
                     "{\"role\":\"user\",\"content\":7},"
                     "{\"role\":\"user\",\"content\":{\"text\":\"no\"}},"
                     "{\"role\":\"tool\",\"content\":\"result\"}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "result");
}

static void test_multimodal_content(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"messages\":[{\"role\":\"user\",\"content\":["
                     "{\"type\":\"text\",\"text\":\"look\"},"
                     "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}},"
                     "{\"type\":\"text\",\"text\":5},"
                     "{\"text\":\"untyped\"},"
                     "{\"type\":\"TEXT\",\"text\":\"case\"},"
                     "\"bare\","
                     "{\"type\":\"text\",\"text\":\"here\"}]},"
                     "{\"role\":\"user\",\"content\":\"plain\"}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "look\nhere\nplain");

    /* Image-only content has no text. */
    KVC_CHECK_INT(ex("{\"messages\":[{\"role\":\"user\",\"content\":["
                     "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}"
                     "]}]}",
                     "", p, &info),
                  KVC_EXTRACT_EMPTY_PROMPT);
}

static void test_empty_prompt(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "{}",
        "{\"model\":\"m\"}",
        "{\"prompt\":\"\"}",
        "{\"prompt\":\"   \"}",
        "{\"prompt\":[]}",
        "{\"prompt\":[\"\",\"\"]}",
        "{\"messages\":[]}",
        "{\"messages\":{}}",
        "{\"messages\":\"text\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\" \\n \"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}",
        "{\"prompt\":\" \",\"messages\":[{\"content\":\"\\t\"}]}"
    };
    kvc_request_info info;
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        KVC_CHECK_INT(ex(bodies[i], "dm", p, &info), KVC_EXTRACT_EMPTY_PROMPT);
    }
}

static void test_default_model(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"prompt\":\"x\"}", "dm", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
    KVC_CHECK_INT(ex("{\"model\":\"\",\"prompt\":\"x\"}", "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
    KVC_CHECK_INT(ex("{\"model\":5,\"prompt\":\"x\"}", "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
    KVC_CHECK_INT(ex("{\"model\":null,\"prompt\":\"x\"}", "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
    KVC_CHECK_INT(ex("{\"model\":[\"m\"],\"prompt\":\"x\"}", "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
    KVC_CHECK_INT(ex("{\"prompt\":\"x\"}", "", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "");
    KVC_CHECK_INT(ex("{\"prompt\":\"x\"}", NULL, p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "");
    KVC_CHECK_INT(ex("{\"model\":\"m\",\"prompt\":\"x\"}", "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "m");
}

/* The model is a C string from here on; an embedded NUL cuts it. */
static void test_model_embedded_nul(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(
        ex("{\"model\":\"a\\u0000b\",\"prompt\":\"x\"}", "dm", p, &info),
        KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "a");
    KVC_CHECK_INT(
        ex("{\"model\":\"\\u0000b\",\"prompt\":\"x\"}", "dm", p, &info),
        KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
}

/* The key is exactly SHA-256(model NUL {name NUL raw-json NUL}...). */
static void test_key_known_answer(apr_pool_t *p)
{
    static const char completion[] = "m\0prompt\0\"hi\"";
    static const char chat[] =
        "dm\0messages\0[{\"role\":\"user\",\"content\":\"a\\/b \\u00e9\"}]\0"
        "tools\0[ {\"type\" : \"function\"} ]\0"
        "add_generation_prompt\0false";
    unsigned char want[KVC_KEY_LEN];
    kvc_request_info info;

    /* sizeof includes the final NUL, which is the last separator. */
    sha256(completion, sizeof(completion), want);
    KVC_CHECK_INT(ex("{ \"prompt\" : \"hi\", \"model\": \"m\", "
                     "\"temperature\": 0.5 }",
                     "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK(memcmp(info.key, want, KVC_KEY_LEN) == 0);

    /* Fixed field order, whatever the body's order; each value exactly
     * as sent, escapes and inner blanks included, without the blanks
     * around it; the default model is hashed.
     */
    sha256(chat, sizeof(chat), want);
    KVC_CHECK_INT(ex("{\"add_generation_prompt\":false,\"tools\":\n"
                     "  [ {\"type\" : \"function\"} ] ,\"stream\":true,"
                     "\"messages\":[{\"role\":\"user\","
                     "\"content\":\"a\\/b \\u00e9\"}]\r\n}",
                     "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK(memcmp(info.key, want, KVC_KEY_LEN) == 0);
    KVC_CHECK_STR(ex_prompt, "a/b \xc3\xa9");
}

/* Every key field, given in reverse order, hashes in the fixed order. */
static void test_key_all_fields_order(apr_pool_t *p)
{
    static const char expect[] =
        "m\0"
        "prompt\0\"p\"\0"
        "messages\0[{\"role\":\"user\",\"content\":\"c\"}]\0"
        "tools\0[1]\0"
        "documents\0[2]\0"
        "chat_template\0\"t\"\0"
        "chat_template_kwargs\0{\"k\":true}\0"
        "add_generation_prompt\0true\0"
        "continue_final_message\0false\0"
        "add_special_tokens\0null\0"
        "mm_processor_kwargs\0{}";
    unsigned char want[KVC_KEY_LEN];
    kvc_request_info info;

    sha256(expect, sizeof(expect), want);
    KVC_CHECK_INT(ex("{\"mm_processor_kwargs\":{},\"add_special_tokens\":null,"
                     "\"continue_final_message\":false,"
                     "\"add_generation_prompt\":true,"
                     "\"chat_template_kwargs\":{\"k\":true},"
                     "\"chat_template\":\"t\",\"documents\":[2],"
                     "\"tools\":[1],\"max_tokens\":9,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"c\"}],"
                     "\"prompt\":\"p\",\"model\":\"m\"}",
                     "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK(memcmp(info.key, want, KVC_KEY_LEN) == 0);
    KVC_CHECK_STR(ex_prompt, "p");
}

static void test_key_roles_change(apr_pool_t *p)
{
    KVC_CHECK(!same_key(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}", p));
    /* Same joined text "a\nb", different turn structure. */
    KVC_CHECK(
        !same_key("{\"messages\":[{\"role\":\"user\",\"content\":\"a\\nb\"}]}",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                  "{\"role\":\"user\",\"content\":\"b\"}]}",
                  p));
    /* Completion prompt vs chat message with the same text. */
    KVC_CHECK(!same_key("{\"prompt\":\"hi\"}",
                        "{\"messages\":[{\"role\":\"user\","
                        "\"content\":\"hi\"}]}",
                        p));
}

static void test_key_template_fields_change(apr_pool_t *p)
{
    static const char *const extras[] = {
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
        "\"tools\":null",
        "\"documents\":[{\"title\":\"t\",\"text\":\"d\"}]",
        "\"chat_template\":\"{{ messages }}\"",
        "\"chat_template_kwargs\":{\"enable_thinking\":false}",
        "\"add_generation_prompt\":false",
        "\"continue_final_message\":true",
        "\"add_special_tokens\":true",
        "\"mm_processor_kwargs\":{\"fps\":1}"
    };
    const char *base = "{\"model\":\"m\",\"messages\":"
                       "[{\"role\":\"user\",\"content\":\"hi\"}]}";
    apr_size_t i;

    for (i = 0; i < sizeof(extras) / sizeof(*extras); i++) {
        const char *body =
            apr_psprintf(p,
                         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"hi\"}],%s}",
                         extras[i]);

        KVC_CHECK(!same_key(base, body, p));
    }
    KVC_CHECK(
        !same_key("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                  "\"chat_template_kwargs\":{\"enable_thinking\":false}}",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                  "\"chat_template_kwargs\":{\"enable_thinking\":true}}",
                  p));
}

static void test_key_sampling_fields_ignored(apr_pool_t *p)
{
    const char *base = "{\"model\":\"m\",\"messages\":"
                       "[{\"role\":\"user\",\"content\":\"hi\"}]}";

    KVC_CHECK(same_key(
        base,
        "{\"stream\":true,\"max_tokens\":100,\"temperature\":0.2,"
        "\"top_p\":0.9,\"n\":2,\"user\":\"u\",\"seed\":7,"
        "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"stream_options\":{\"include_usage\":true}}",
        p));
    /* Nor does formatting between the members. */
    KVC_CHECK(
        same_key(base,
                 "{ \"model\" : \"m\" ,\n \"messages\" :\t[{\"role\":\"user\","
                 "\"content\":\"hi\"}] }\n",
                 p));
    KVC_CHECK(same_key("{\"prompt\":\"hi\",\"max_tokens\":1}",
                       "{\"prompt\":\"hi\",\"max_tokens\":500,"
                       "\"stream\":false}",
                       p));
}

/* The key hashes the raw value: a client that reformats a key field
 * misses the cache (one extra /tokenize), it never shares a wrong entry.
 */
static void test_key_raw_value(apr_pool_t *p)
{
    const char *base =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    KVC_CHECK(!same_key(
        base, "{\"messages\":[ {\"role\":\"user\",\"content\":\"hi\"} ]}", p));
    KVC_CHECK(!same_key(
        base, "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}]}", p));
    KVC_CHECK(!same_key(
        base, "{\"messages\":[{\"role\":\"user\",\"content\":\"\\u0068i\"}]}",
        p));
    /* Blanks around a value are not part of it. */
    KVC_CHECK(same_key("{\"prompt\":\"hi\",\"add_special_tokens\":true}",
                       "{\"prompt\": \"hi\" ,\"add_special_tokens\":\ttrue }",
                       p));
    KVC_CHECK(!same_key("{\"prompt\":\"hi\",\"tools\":[1,2]}",
                        "{\"prompt\":\"hi\",\"tools\":[1, 2]}", p));
    /* Numbers are hashed as written, too. */
    KVC_CHECK(!same_key("{\"prompt\":\"hi\",\"mm_processor_kwargs\":"
                        "{\"fps\":1}}",
                        "{\"prompt\":\"hi\",\"mm_processor_kwargs\":"
                        "{\"fps\":1.0}}",
                        p));
}

/* A repeated member counts with its last value, as in json-c and
 * Python's json (what vLLM will see).
 */
static void test_duplicate_members(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"prompt\":\"a\",\"prompt\":\"b\"}", "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "b");
    KVC_CHECK(same_key("{\"prompt\":\"a\",\"prompt\":\"b\"}",
                       "{\"prompt\":\"b\"}", p));
    KVC_CHECK(same_key("{\"tools\":[1],\"prompt\":\"b\",\"tools\":[2]}",
                       "{\"prompt\":\"b\",\"tools\":[2]}", p));
    /* A later non-text prompt hides an earlier text one. */
    KVC_CHECK_INT(ex("{\"prompt\":\"a\",\"prompt\":[1,2]}", "", p, &info),
                  KVC_EXTRACT_EMPTY_PROMPT);
    KVC_CHECK_INT(ex("{\"prompt\":\"a\",\"prompt\":[1,2],\"messages\":"
                     "[{\"content\":\"m\"}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "m");
    KVC_CHECK_INT(ex("{\"messages\":[{\"content\":\"x\"}],\"prompt\":\" \","
                     "\"messages\":[{\"content\":\"y\"}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "y");

    /* Model: the last one, even when it is not a string. */
    KVC_CHECK_INT(ex("{\"model\":\"a\",\"model\":\"b\",\"prompt\":\"x\"}", "dm",
                     p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "b");
    KVC_CHECK_INT(
        ex("{\"model\":\"a\",\"model\":5,\"prompt\":\"x\"}", "dm", p, &info),
        KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");

    /* Inside a message and a content part, too. */
    KVC_CHECK_INT(ex("{\"messages\":[{\"content\":\"a\",\"role\":\"user\","
                     "\"content\":\"b\"},{\"content\":[{\"type\":\"text\","
                     "\"text\":\"c\"}],\"content\":null},"
                     "{\"content\":[{\"type\":\"text\",\"text\":\"d\","
                     "\"text\":\"e\"},{\"type\":\"text\",\"text\":\"f\","
                     "\"type\":\"image\"},{\"type\":\"image\",\"text\":\"g\","
                     "\"type\":\"text\"},{\"text\":\"h\",\"type\":\"text\","
                     "\"text\":null}]}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "b\ne\ng");
}

/* Escapes are decoded as json-c decodes them; names are compared
 * decoded, and in full.
 */
static void test_escapes(apr_pool_t *p)
{
    kvc_request_info info;

    KVC_CHECK_INT(ex("{\"\\u0070rompt\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
                     "\"mod\\u0065l\":\"\\u006d\"}",
                     "dm", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "\"\\/\b\f\n\r\t");
    KVC_CHECK_STR(info.model, "m");
    /* A pair is one character; an unpaired surrogate is U+FFFD. */
    KVC_CHECK_INT(ex("{\"prompt\":\"\\ud83d\\ude00|\\uD800|\\udc00|"
                     "\\ud800\\u0041|\\ud800\\ud800\\udc00\"}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "\xf0\x9f\x98\x80|\xef\xbf\xbd|"
                             "\xef\xbf\xbd|\xef\xbf\xbd"
                             "A|\xef\xbf\xbd"
                             "\xf0\x90\x80\x80");
    /* An escaped NUL stays in the prompt and counts in its length. */
    KVC_CHECK_INT(ex("{\"prompt\":\"a\\u0000b\"}", "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_INT(ex_prompt_len, 3);
    KVC_CHECK(memcmp(ex_prompt, "a\0b", 4) == 0);
    /* Raw UTF-8 passes through. */
    KVC_CHECK_INT(
        ex("{\"prompt\":\"\xe6\x97\xa5\xf0\x9f\x98\x80\"}", "", p, &info),
        KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "\xe6\x97\xa5\xf0\x9f\x98\x80");
    /* Not the same names: a NUL or any other byte more. */
    KVC_CHECK_INT(
        ex("{\"model\\u0000\":\"m\",\"prompt\\u0000\":\"x\"}", "dm", p, &info),
        KVC_EXTRACT_EMPTY_PROMPT);
    KVC_CHECK_INT(
        ex("{\"model\\u0000\":\"m\",\"prompt\":\"x\"}", "dm", p, &info),
        KVC_EXTRACT_OK);
    KVC_CHECK_STR(info.model, "dm");
    KVC_CHECK_INT(ex("{\"Prompt\":\"x\",\"prompt \":\"y\"}", "", p, &info),
                  KVC_EXTRACT_EMPTY_PROMPT);
    /* An escaped "text" type is still "text". */
    KVC_CHECK_INT(ex("{\"messages\":[{\"content\":[{\"\\u0074ype\":"
                     "\"t\\u0065xt\",\"te\\u0078t\":\"ok\"}]}]}",
                     "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "ok");
}

static void test_key_model_changes(apr_pool_t *p)
{
    KVC_CHECK(!same_key("{\"model\":\"a\",\"prompt\":\"hi\"}",
                        "{\"model\":\"b\",\"prompt\":\"hi\"}", p));
    /* The default model ("dm" in key_of) is what gets hashed. */
    KVC_CHECK(same_key("{\"prompt\":\"hi\"}",
                       "{\"model\":\"dm\",\"prompt\":\"hi\"}", p));
    KVC_CHECK(!same_key("{\"prompt\":\"hi\"}", "{\"prompt\":\"hI\"}", p));
    /* No crafted model can imitate a field boundary: unless the model
     * were cut at its NUL, both would hash
     * m NUL prompt NUL "x" NUL messages NUL [{"content":"y"}] NUL.
     */
    KVC_CHECK(!same_key(
        "{\"model\":\"m\",\"prompt\":\"x\",\"messages\":[{\"content\":\"y\"}]}",
        "{\"model\":\"m\\u0000prompt\\u0000\\\"x\\\"\","
        "\"messages\":[{\"content\":\"y\"}]}",
        p));
}

static void test_invalid_json(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "", "   ", "{", "}", "{\"prompt\":\"x\"", "{\"prompt\":\"x\"}}",
        "{\"prompt\":\"x\"} x", "{\"prompt\":\"x\"}{}", "{\"prompt\":\"x\",}",
        "{\"prompt\":\"x\" /* c */}", "{\"prompt\":x}", "{\"prompt\":True}",
        "{prompt:\"x\"}", "{\"prompt\":\"x\\q\"}", "{\"prompt\":\"\xff\xfe\"}",
        "{\"prompt\":\"\xc3\"}", "\"unterminated", "nul", "[1,2",
        /* strict RFC 8259, unlike json-c's "strict" mode */
        "{\"prompt\":\"x\",\"n\":NaN}", "{\"prompt\":\"x\",\"n\":Infinity}",
        "{\"prompt\":\"x\",\"n\":-Infinity}", "{\"prompt\":\"x\",\"n\":00}",
        "{\"prompt\":\"x\",\"n\":01}", "{\"prompt\":\"x\",\"n\":1.}",
        "{\"prompt\":\"x\",\"n\":.5}", "{\"prompt\":\"x\",\"n\":+1}",
        "{\"prompt\":\"x\",\"n\":1e}", "{\"prompt\":\"a\tb\"}",
        "{\"prompt\":\"a\nb\"}", "{\"prompt\":\"a\x7f\x01\"}",
        "{\"prompt\":\"x\\u12\"}", "{\"prompt\":\"x\\U0041\"}",
        "{\"prompt\":\"x\\'\"}", "{\"prompt\":\"x\",\"a\":[1,]}",
        "{\"prompt\":\"x\",\"a\":tru}", "{\"prompt\":\"x\",\"a\":nulll}",
        "{\"prompt\":\"x\",\"a\":{\"b\"}}", "{\"prompt\":\"x\",}",
        "{,\"prompt\":\"x\"}", "{\"prompt\"::\"x\"}", "{\"prompt\" \"x\"}",
        "{\"prompt\":\"x\"}\v", "{\"prompt\":\"x\"}\f",
        "\xef\xbb\xbf{\"prompt\":\"x\"}",
        /* ill-formed UTF-8 (RFC 3629), which json-c lets through */
        "{\"prompt\":\"\xc0\x80\"}", "{\"prompt\":\"\xc1\xbf\"}",
        "{\"prompt\":\"\xe0\x9f\xbf\"}", "{\"prompt\":\"\xed\xa0\x80\"}",
        "{\"prompt\":\"\xed\xbf\xbf\"}", "{\"prompt\":\"\xf0\x8f\xbf\xbf\"}",
        "{\"prompt\":\"\xf4\x90\x80\x80\"}",
        "{\"prompt\":\"\xf5\x80\x80\x80\"}", "{\"prompt\":\"\x80\"}",
        "{\"prompt\":\"\xe6\x97\"}", "{\"prompt\":\"\xe6\x97x\"}",
        "{\"prompt\":\"\xf0\x9f\x98\"}", "{\"prompt\":\"x\",\"\xff\":1}",
        "{\"prompt\":\"x\"}\xc2\xa0"
    };
    kvc_request_info info;
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        KVC_CHECK_INT(ex(bodies[i], "", p, &info), KVC_EXTRACT_INVALID_JSON);
    }
    kvc_test_context = NULL;

    /* An embedded NUL after the object, and a NUL in place of a byte. */
    KVC_CHECK_INT(ex_len("{\"prompt\":\"x\"}\0", 15, "", p, &info),
                  KVC_EXTRACT_INVALID_JSON);
    KVC_CHECK_INT(ex_len("{\"prompt\":\"x\0\"}", 15, "", p, &info),
                  KVC_EXTRACT_INVALID_JSON);
    KVC_CHECK_INT(kvc_extract(NULL, 0, "", p, &info), KVC_EXTRACT_INVALID_JSON);

    /* Trailing whitespace is fine. */
    KVC_CHECK_INT(ex("{\"prompt\":\"x\"} \r\n\t", "", p, &info),
                  KVC_EXTRACT_OK);
    KVC_CHECK_INT(ex(" \n{\"prompt\":\"x\"}", "", p, &info), KVC_EXTRACT_OK);
}

/* Only the first len bytes are the body, whatever follows in memory. */
static void test_len_bounds_body(apr_pool_t *p)
{
    static const char text[] = "{\"prompt\":\"abc\"}garbage";
    kvc_request_info info;

    KVC_CHECK_INT(kvc_extract(text, 16, "", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_STR(kvc_extract_prompt_text(&info, p, NULL), "abc");
    KVC_CHECK_INT(kvc_extract(text, 15, "", p, &info),
                  KVC_EXTRACT_INVALID_JSON);
}

/* No prefix of a valid body may parse, crash or read past its end. */
static void test_every_prefix(apr_pool_t *p)
{
    static const char doc[] =
        "{\"model\":\"m\\u00e9\",\"messages\":[{\"role\":\"system\","
        "\"content\":\"s \\ud83d\\ude00\\n\"},{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"caf\xc3\xa9\"},"
        "{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"u\"}}]}],\"tools\":[{\"a\":[true,false,"
        "null,-1.5e+3,0]}],\"prompt\":[\"\",1],\"max_tokens\":7}";
    apr_size_t n = sizeof(doc) - 1, i;
    kvc_request_info info;

    KVC_CHECK_INT(ex_len(doc, n, "", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_STR(ex_prompt, "s \xf0\x9f\x98\x80\n\ncaf\xc3\xa9");
    KVC_CHECK_STR(info.model, "m\xc3\xa9");
    for (i = 0; i < n; i++) {
        kvc_extract_status st = ex_len(doc, i, "", p, &info);

        if (st != KVC_EXTRACT_INVALID_JSON) {
            kvc_test_fail(__FILE__, __LINE__, "prefix of %lu bytes: %s",
                          (unsigned long)i, kvc_extract_status_reason(st));
        }
    }
}

/* Every single-byte corruption is handled (any status, no crash, under
 * ASan a small deterministic fuzz run), and what is not valid JSON never
 * passes.
 */
static void test_byte_flips(apr_pool_t *p)
{
    static const char doc[] =
        "{\"model\":\"m\",\"prompt\":[\"a\\n\",2],\"messages\":[{\"content\":"
        "[{\"type\":\"text\",\"text\":\"\\u00e9\xc3\xa9\"}]}],\"x\":-1.5e3}";
    static const char subst[] = "\"\\{}[],:0-1.eE+ \n\0tnfu\xc3\xa9\x80";
    apr_size_t n = sizeof(doc) - 1, i, j;
    int ok = 0;
    char buf[sizeof(doc)];
    kvc_request_info info;

    for (i = 0; i < n; i++) {
        for (j = 0; j < sizeof(subst) - 1; j++) {
            kvc_extract_status st;
            int valid;

            memcpy(buf, doc, n);
            buf[i] = subst[j];
            st = ex_len(buf, n, "dm", p, &info);
            valid = kvc_json_valid(buf, n);
            if (st == KVC_EXTRACT_OK) {
                ok++;
                KVC_CHECK(ex_prompt_len > 0
                          && ex_prompt[ex_prompt_len] == '\0');
            }
            if (valid != (st != KVC_EXTRACT_INVALID_JSON)) {
                kvc_test_fail(__FILE__, __LINE__, "byte %lu -> 0x%02x: %s",
                              (unsigned long)i, (unsigned char)subst[j],
                              kvc_extract_status_reason(st));
            }
        }
    }
    KVC_CHECK(ok > 0);
}

static void test_not_object(apr_pool_t *p)
{
    static const char *const bodies[] = { "[1,2]",   "[{\"prompt\":\"x\"}]",
                                          "\"str\"", "123",
                                          "-1.5",    "null",
                                          "true",    "false",
                                          " [] " };
    kvc_request_info info;
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        KVC_CHECK_INT(ex(bodies[i], "", p, &info), KVC_EXTRACT_NOT_OBJECT);
    }
}

static char *nested(apr_pool_t *p, int levels, apr_size_t *len)
{
    /* {"prompt":"x","junk": + levels x '[' + levels x ']' + } */
    static const char head[] = "{\"prompt\":\"x\",\"junk\":";
    apr_size_t n = sizeof(head) - 1 + 2 * (apr_size_t)levels + 1;
    char *s = apr_palloc(p, n + 1);

    memcpy(s, head, sizeof(head) - 1);
    memset(s + sizeof(head) - 1, '[', (apr_size_t)levels);
    memset(s + sizeof(head) - 1 + levels, ']', (apr_size_t)levels);
    s[n - 1] = '}';
    s[n] = '\0';
    *len = n;
    return s;
}

static void test_deep_nesting(apr_pool_t *p)
{
    kvc_request_info info;
    apr_size_t len;
    char *s;

    /* The object is level 1: 63 more arrays reach the cap of 64. */
    s = nested(p, 63, &len);
    KVC_CHECK_INT(ex_len(s, len, "", p, &info), KVC_EXTRACT_OK);
    s = nested(p, 64, &len);
    KVC_CHECK_INT(ex_len(s, len, "", p, &info), KVC_EXTRACT_INVALID_JSON);
    s = nested(p, 100000, &len);
    KVC_CHECK_INT(ex_len(s, len, "", p, &info), KVC_EXTRACT_INVALID_JSON);
}

static void test_large_prompt(apr_pool_t *p)
{
    apr_size_t n = 1 << 20, len;
    char *body = apr_palloc(p, n + 32);
    kvc_request_info info;

    memcpy(body, "{\"prompt\":\"", 11);
    memset(body + 11, 'a', n);
    memcpy(body + 11 + n, "\"}", 2);
    len = n + 13;
    KVC_CHECK_INT(ex_len(body, len, "", p, &info), KVC_EXTRACT_OK);
    KVC_CHECK_INT(ex_prompt_len, n);
    KVC_CHECK(ex_prompt[0] == 'a' && ex_prompt[n - 1] == 'a'
              && ex_prompt[n] == '\0');
}

static void test_key_hex(apr_pool_t *p)
{
    unsigned char key[KVC_KEY_LEN];
    int i;

    for (i = 0; i < KVC_KEY_LEN; i++) {
        key[i] = (unsigned char)(i * 17 + 0x0a);
    }
    KVC_CHECK_STR(kvc_key_hex(key, 8, p), "0a1b2c3d");
    KVC_CHECK_STR(kvc_key_hex(key, 3, p), "0a1");
    KVC_CHECK_STR(kvc_key_hex(key, 0, p), "");
    KVC_CHECK_INT(strlen(kvc_key_hex(key, 64, p)), 64);
    KVC_CHECK_STR(kvc_key_hex(key, 1000, p), kvc_key_hex(key, 64, p));
    KVC_CHECK_STR(kvc_key_hex(key, 64, p) + 60, "0819");
}

static void test_status_reasons(apr_pool_t *p)
{
    (void)p;
    KVC_CHECK_STR(kvc_extract_status_reason(KVC_EXTRACT_OK), "ok");
    KVC_CHECK_STR(kvc_extract_status_reason(KVC_EXTRACT_INVALID_JSON),
                  "invalid-json");
    KVC_CHECK_STR(kvc_extract_status_reason(KVC_EXTRACT_NOT_OBJECT),
                  "not-object");
    KVC_CHECK_STR(kvc_extract_status_reason(KVC_EXTRACT_EMPTY_PROMPT),
                  "empty-prompt");
    KVC_CHECK_STR(kvc_extract_status_reason(KVC_EXTRACT_INTERNAL),
                  "internal-error");
}

const kvc_test_case kvc_extract_tests[] = {
    KVC_TEST(test_completion_string),
    KVC_TEST(test_prompt_array),
    KVC_TEST(test_prompt_token_ids_are_empty),
    KVC_TEST(test_blank_prompt_falls_back),
    KVC_TEST(test_blank_decided_per_character),
    KVC_TEST(test_chat_messages),
    KVC_TEST(test_messages_skip_non_text),
    KVC_TEST(test_multimodal_content),
    KVC_TEST(test_empty_prompt),
    KVC_TEST(test_default_model),
    KVC_TEST(test_model_embedded_nul),
    KVC_TEST(test_key_known_answer),
    KVC_TEST(test_key_all_fields_order),
    KVC_TEST(test_key_roles_change),
    KVC_TEST(test_key_template_fields_change),
    KVC_TEST(test_key_sampling_fields_ignored),
    KVC_TEST(test_key_raw_value),
    KVC_TEST(test_duplicate_members),
    KVC_TEST(test_escapes),
    KVC_TEST(test_key_model_changes),
    KVC_TEST(test_invalid_json),
    KVC_TEST(test_len_bounds_body),
    KVC_TEST(test_every_prefix),
    KVC_TEST(test_byte_flips),
    KVC_TEST(test_not_object),
    KVC_TEST(test_deep_nesting),
    KVC_TEST(test_large_prompt),
    KVC_TEST(test_key_hex),
    KVC_TEST(test_status_reasons),
    KVC_TEST_END
};
