/*
 * wordcount -- a word count as one external program for both stages of a classic job:
 *
 *     Job().run(input=[...], map=external(["./wordcount", "stopwords.txt"]),
 *               reduce=external(["./wordcount"]),
 *               ext_params={"lower": "1", "stopwords": "stopwords.txt"})
 *
 * map:    every input value is a line of text; a word is a run of bytes that are not ASCII
 *         whitespace. Replies with (word, "1") for each word of the line.
 *         Parameters: "lower" = "1" lower-cases ASCII letters first; "stopwords" names an
 *         extra file (one word per line) whose words are skipped.
 * reduce: its input is sorted by key, so equal words are adjacent; writes one
 *         (word, "<total>") pair per word, the total in decimal.
 *
 * Both end with a "**<MSG>" line saying what they counted.
 */
#include "disco.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **words;
    size_t count;
} wordset;

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_stopwords(wordset *set, const char *path, int lower)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        disco_err("cannot open the stopwords file %s (ship it with external([...]))", path);
    char line[1024];
    size_t cap = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (lower)
            for (char *p = line; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (set->count == cap) {
            cap = cap ? cap * 2 : 64;
            set->words = realloc(set->words, cap * sizeof *set->words);
            if (set->words == NULL)
                disco_err("out of memory loading %s", path);
        }
        if ((set->words[set->count++] = strdup(line)) == NULL)
            disco_err("out of memory loading %s", path);
    }
    fclose(f);
    qsort(set->words, set->count, sizeof *set->words, compare);
}

static int is_stopword(const wordset *set, const char *word)
{
    return set->count && bsearch(&word, set->words, set->count, sizeof *set->words, compare);
}

static int run_map(const disco_params *params)
{
    const char *lower_param = disco_param(params, "lower");
    int lower = lower_param != NULL && strcmp(lower_param, "1") == 0;
    const char *stop_path = disco_param(params, "stopwords");
    wordset stop = {NULL, 0};
    if (stop_path != NULL)
        load_stopwords(&stop, stop_path, lower);

    disco_buf key = DISCO_BUF_INIT, value = DISCO_BUF_INIT;
    char **words = NULL;
    size_t cap = 0;
    unsigned long lines = 0, total = 0, skipped = 0;
    while (disco_read_kv(&key, &value)) {
        size_t n = 0;
        char *p = value.data, *end = value.data + value.len;
        lines++;
        while (p < end) {
            while (p < end && isspace((unsigned char)*p))
                p++;
            if (p == end)
                break;
            char *word = p;
            while (p < end && !isspace((unsigned char)*p)) {
                if (lower)
                    *p = (char)tolower((unsigned char)*p);
                p++;
            }
            *p++ = '\0';   /* value.data has a NUL after its last byte, so this stays inside */
            if (is_stopword(&stop, word)) {
                skipped++;
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                if ((words = realloc(words, cap * sizeof *words)) == NULL)
                    disco_err("out of memory (a line of %lu bytes)", (unsigned long)value.len);
            }
            words[n++] = word;
        }
        disco_write_num((uint32_t)n);
        for (size_t i = 0; i < n; i++)
            disco_write_str(words[i], "1");
        total += n;
    }
    disco_msg("wordcount map: %lu lines, %lu words, %lu stopwords skipped", lines, total,
              skipped);
    free(words);
    disco_free_buf(&key);
    disco_free_buf(&value);
    return 0;
}

static void emit(const disco_buf *word, unsigned long long count)
{
    char text[32];
    snprintf(text, sizeof text, "%llu", count);
    disco_write_num(1);
    disco_write_kv(word->data, word->len, text, (uint32_t)strlen(text));
}

static int run_reduce(void)
{
    disco_buf key = DISCO_BUF_INIT, value = DISCO_BUF_INIT, current = DISCO_BUF_INIT;
    unsigned long long count = 0;
    unsigned long pairs = 0, distinct = 0;
    int have = 0;
    while (disco_read_kv(&key, &value)) {
        char *end;
        unsigned long long n = strtoull(value.data, &end, 10);
        if (value.len == 0 || *end != '\0')
            disco_err("the count of word '%s' is not a number: '%s'", key.data, value.data);
        pairs++;
        if (have && key.len == current.len && memcmp(key.data, current.data, key.len) == 0) {
            count += n;
            continue;
        }
        if (have)
            emit(&current, count);
        /* keep the word: swap buffers, so the next read reuses the old one */
        disco_buf tmp = current;
        current = key;
        key = tmp;
        count = n;
        have = 1;
        distinct++;
    }
    if (have)
        emit(&current, count);
    disco_msg("wordcount reduce: %lu pairs, %lu distinct words", pairs, distinct);
    disco_free_buf(&key);
    disco_free_buf(&value);
    disco_free_buf(&current);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = disco_mode(argc, argv);
    disco_params params;
    disco_read_params(&params);
    int status = strcmp(mode, "map") == 0 ? run_map(&params) : run_reduce();
    disco_free_params(&params);
    return status;
}
