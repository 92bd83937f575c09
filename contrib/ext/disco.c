/* disco.c -- helpers for external map and reduce programs (see disco.h). */
#include "disco.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELEMENT (1u << 28)   /* the largest key or value the task accepts back */

static void vline(const char *tag, const char *fmt, va_list ap)
{
    char text[4096];
    vsnprintf(text, sizeof text, fmt, ap);
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s %s\n", tag, text);
    fflush(stderr);
}

void disco_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("**<MSG>", fmt, ap);
    va_end(ap);
}

void disco_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("**<ERR>", fmt, ap);
    va_end(ap);
    exit(1);
}

const char *disco_mode(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "map") != 0 && strcmp(argv[1], "reduce") != 0))
        disco_err("%s: expected 'map' or 'reduce' as the first argument, got %s",
                  argc > 0 ? argv[0] : "program", argc > 1 ? argv[1] : "nothing");
    return argv[1];
}

static void reserve(disco_buf *buf, uint32_t len)
{
    if (buf->data != NULL && buf->cap > len)
        return;
    if (len >= UINT32_MAX / 2)
        disco_err("an element of %u bytes is too large", (unsigned)len);
    uint32_t cap = buf->cap ? buf->cap : 64;
    while (cap <= len)
        cap *= 2;
    char *data = realloc(buf->data, cap);
    if (data == NULL)
        disco_err("out of memory (a buffer of %u bytes)", (unsigned)cap);
    buf->data = data;
    buf->cap = cap;
}

void disco_free_buf(disco_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/* Read exactly len bytes into buf (NUL-terminated). */
static void read_exact(disco_buf *buf, uint32_t len, const char *what)
{
    reserve(buf, len);
    if (len && fread(buf->data, 1, len, stdin) != len)
        disco_err("truncated input: the %s ended before its %u bytes", what, (unsigned)len);
    buf->data[len] = '\0';
    buf->len = len;
}

/* 0 at a clean end of input, 1 when a length was read. */
static int read_u32(uint32_t *out, int eof_ok, const char *what)
{
    unsigned char b[4];
    size_t n = fread(b, 1, 4, stdin);
    if (n == 0 && eof_ok && feof(stdin))
        return 0;
    if (n != 4)
        disco_err("truncated input: %s length has %u of 4 bytes", what, (unsigned)n);
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

int disco_read_kv(disco_buf *key, disco_buf *value)
{
    uint32_t len;
    if (fflush(stdout) != 0)
        disco_err("cannot write to stdout");
    if (!read_u32(&len, 1, "a key"))
        return 0;
    read_exact(key, len, "key");
    read_u32(&len, 0, "a value");
    read_exact(value, len, "value");
    return 1;
}

static void write_bytes(const void *data, size_t len)
{
    if (len && fwrite(data, 1, len, stdout) != len)
        disco_err("cannot write to stdout");
}

static void write_u32(uint32_t n)
{
    unsigned char b[4] = {n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff};
    write_bytes(b, 4);
}

void disco_write_num(uint32_t n)
{
    write_u32(n);
}

void disco_write_kv(const void *key, uint32_t klen, const void *value, uint32_t vlen)
{
    if (klen > MAX_ELEMENT || vlen > MAX_ELEMENT)
        disco_err("a result key or value is larger than %u bytes", MAX_ELEMENT);
    write_u32(klen);
    write_bytes(key, klen);
    write_u32(vlen);
    write_bytes(value, vlen);
}

void disco_write_str(const char *key, const char *value)
{
    disco_write_kv(key, (uint32_t)strlen(key), value, (uint32_t)strlen(value));
}

/* A decimal length followed by `end`, inside [*pos, limit) of text. */
static uint32_t netstring_len(const char *text, uint32_t *pos, uint32_t limit, char end)
{
    uint64_t n = 0;
    uint32_t start = *pos;
    while (*pos < limit && text[*pos] >= '0' && text[*pos] <= '9') {
        n = n * 10 + (uint64_t)(text[*pos] - '0');
        if (n > UINT32_MAX)
            disco_err("malformed parameters: a length at byte %u is too large", start);
        (*pos)++;
    }
    if (*pos == start || *pos >= limit || text[*pos] != end)
        disco_err("malformed parameters at byte %u: expected a length and a %s", start,
                  end == '\n' ? "newline" : "space");
    (*pos)++;
    return (uint32_t)n;
}

static void netstring_element(disco_buf *out, const disco_buf *body, uint32_t *pos, char end)
{
    uint32_t start = *pos;
    uint32_t len = netstring_len(body->data, pos, body->len, ' ');
    if (len > body->len - *pos || body->len - *pos - len < 1 || body->data[*pos + len] != end)
        disco_err("malformed parameters at byte %u: the element of %u bytes is not followed "
                  "by the expected separator", start, (unsigned)len);
    out->data = NULL;
    out->len = out->cap = 0;
    reserve(out, len);
    memcpy(out->data, body->data + *pos, len);
    out->data[len] = '\0';
    out->len = len;
    *pos += len + 1;
}

void disco_read_params(disco_params *params)
{
    char line[32];
    uint32_t pos = 0, used = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (used + 1 >= sizeof line)
            disco_err("malformed parameters: the length line is too long");
        line[used++] = (char)c;
    }
    if (c == EOF)
        disco_err("truncated parameters: no length line (is ext_params a dict?)");
    line[used++] = '\n';
    uint32_t total = netstring_len(line, &pos, used, '\n');

    disco_buf body = DISCO_BUF_INIT;
    read_exact(&body, total, "parameters");
    params->count = 0;
    params->keys = params->values = NULL;
    size_t cap = 0;
    pos = 0;
    while (pos < body.len) {
        if (params->count == cap) {
            cap = cap ? cap * 2 : 8;
            params->keys = realloc(params->keys, cap * sizeof *params->keys);
            params->values = realloc(params->values, cap * sizeof *params->values);
            if (params->keys == NULL || params->values == NULL)
                disco_err("out of memory (%zu parameters)", cap);
        }
        netstring_element(&params->keys[params->count], &body, &pos, ' ');
        netstring_element(&params->values[params->count], &body, &pos, '\n');
        params->count++;
    }
    disco_free_buf(&body);
}

const char *disco_param(const disco_params *params, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = params->count; i-- > 0;)   /* the last of repeated keys wins */
        if (params->keys[i].len == len && memcmp(params->keys[i].data, key, len) == 0)
            return params->values[i].data;
    return NULL;
}

void disco_free_params(disco_params *params)
{
    for (size_t i = 0; i < params->count; i++) {
        disco_free_buf(&params->keys[i]);
        disco_free_buf(&params->values[i]);
    }
    free(params->keys);
    free(params->values);
    params->keys = params->values = NULL;
    params->count = 0;
}
