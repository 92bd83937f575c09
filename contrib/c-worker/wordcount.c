/*
 * wordcount.c -- a Disco worker in C (worker protocol version 1.1), no Python involved.
 *
 * One executable runs every task of a two-stage pipeline job:
 *
 *   stage "map"    (grouping "split"):                  count the words (runs of
 *                  non-whitespace bytes) of its input's text, partition them by
 *                  FNV-1a hash into N labels (N = $CWORDCOUNT_PARTITIONS, default 1)
 *                  and write one file "word\tcount\n"... per non-empty label;
 *   any other stage ("reduce", grouping "group_label" or "group_all"):
 *                  read "word\tcount" lines (the map outputs, via dir:// index
 *                  files) and write their sums, sorted by word, to one file
 *                  labelled with the task's group label.
 *
 * Protocol (see README.md): frames "NAME LEN JSON\n"; requests go to stderr, replies
 * come on stdin.  Inputs: raw://, file://, plain paths, http:// (HTTP/1.0), disco://
 * (local file under disco_data when the host is this task's host, else HTTP from
 * HOST:disco_port) and dir:// index files.
 *
 * Build: gcc -O2 -Wall -Wextra -o wordcount wordcount.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------ buffers */

typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        /* Cannot even report politely: the node sees the crash and retries. */
        static const char msg[] = "wordcount: out of memory\n";
        if (write(2, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
        _exit(70);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static void buf_reserve(buf_t *b, size_t extra)
{
    if (b->n + extra + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + extra + 1)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
}

static void buf_add(buf_t *b, const void *d, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_adds(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

static void buf_clear(buf_t *b) { b->n = 0; if (b->p) b->p[0] = 0; }
static void buf_free(buf_t *b) { free(b->p); b->p = NULL; b->n = b->cap = 0; }

/* --------------------------------------------------------------------- JSON */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct json {
    int type;
    double num;        /* J_NUM, J_BOOL */
    char *str;         /* J_STR (NUL-terminated, may contain NULs: see len) */
    size_t len;
    size_t n;          /* J_ARR / J_OBJ element count */
    struct json **items;
    char **keys;       /* J_OBJ */
} json;

typedef struct {
    const char *s, *end;
} jparser;

static void jfree(json *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        jfree(j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

static void jskip(jparser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static void utf8_put(buf_t *b, unsigned cp)
{
    char c[4];
    if (cp < 0x80) {
        c[0] = (char)cp;
        buf_add(b, c, 1);
    } else if (cp < 0x800) {
        c[0] = (char)(0xC0 | (cp >> 6));
        c[1] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, c, 2);
    } else if (cp < 0x10000) {
        c[0] = (char)(0xE0 | (cp >> 12));
        c[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        c[2] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, c, 3);
    } else {
        c[0] = (char)(0xF0 | (cp >> 18));
        c[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        c[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        c[3] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, c, 4);
    }
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int jstring(jparser *p, buf_t *b)
{
    if (p->s >= p->end || *p->s != '"')
        return -1;
    p->s++;
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            buf_add(b, &c, 1);
            continue;
        }
        if (p->s >= p->end)
            return -1;
        char e = *p->s++;
        switch (e) {
        case '"': buf_add(b, "\"", 1); break;
        case '\\': buf_add(b, "\\", 1); break;
        case '/': buf_add(b, "/", 1); break;
        case 'b': buf_add(b, "\b", 1); break;
        case 'f': buf_add(b, "\f", 1); break;
        case 'n': buf_add(b, "\n", 1); break;
        case 'r': buf_add(b, "\r", 1); break;
        case 't': buf_add(b, "\t", 1); break;
        case 'u': {
            unsigned cp, lo;
            if (p->end - p->s < 4 || hex4(p->s, &cp))
                return -1;
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' &&
                p->s[1] == 'u' && !hex4(p->s + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                p->s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            utf8_put(b, cp);
            break;
        }
        default:
            return -1;
        }
    }
    if (p->s >= p->end)
        return -1;
    p->s++;
    return 0;
}

static json *jvalue(jparser *p, int depth);

static json *jnew(int type)
{
    json *j = xrealloc(NULL, sizeof *j);
    memset(j, 0, sizeof *j);
    j->type = type;
    return j;
}

static void jappend(json *j, json *item, char *key)
{
    j->items = xrealloc(j->items, (j->n + 1) * sizeof *j->items);
    if (j->type == J_OBJ)
        j->keys = xrealloc(j->keys, (j->n + 1) * sizeof *j->keys), j->keys[j->n] = key;
    j->items[j->n++] = item;
}

static json *jcontainer(jparser *p, int depth, int type, char close)
{
    json *j = jnew(type);
    p->s++;
    jskip(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return j;
    }
    for (;;) {
        char *key = NULL;
        jskip(p);
        if (type == J_OBJ) {
            buf_t k = {0};
            if (jstring(p, &k)) {
                buf_free(&k);
                goto bad;
            }
            key = k.p ? k.p : xstrdup("");
            jskip(p);
            if (p->s >= p->end || *p->s != ':') {
                free(key);
                goto bad;
            }
            p->s++;
        }
        json *v = jvalue(p, depth + 1);
        if (!v) {
            free(key);
            goto bad;
        }
        jappend(j, v, key);
        jskip(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return j;
        }
        goto bad;
    }
bad:
    jfree(j);
    return NULL;
}

static json *jvalue(jparser *p, int depth)
{
    jskip(p);
    if (p->s >= p->end || depth > 64)
        return NULL;
    char c = *p->s;
    if (c == '{')
        return jcontainer(p, depth, J_OBJ, '}');
    if (c == '[')
        return jcontainer(p, depth, J_ARR, ']');
    if (c == '"') {
        buf_t b = {0};
        if (jstring(p, &b)) {
            buf_free(&b);
            return NULL;
        }
        json *j = jnew(J_STR);
        j->str = b.p ? b.p : xstrdup("");
        j->len = b.n;
        return j;
    }
    static const struct { const char *w; int type; double v; } lits[] = {
        {"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i].w);
        if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, lits[i].w, n)) {
            p->s += n;
            json *j = jnew(lits[i].type);
            j->num = lits[i].v;
            return j;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char tmp[64];
        size_t n = 0;
        while (p->s + n < p->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", p->s[n]))
            n++;
        memcpy(tmp, p->s, n);
        tmp[n] = 0;
        char *e;
        double v = strtod(tmp, &e);
        if (e == tmp)
            return NULL;
        p->s += e - tmp;
        json *j = jnew(J_NUM);
        j->num = v;
        return j;
    }
    return NULL;
}

static json *jparse(const char *s, size_t n)
{
    jparser p = {s, s + n};
    json *j = jvalue(&p, 0);
    jskip(&p);
    if (j && p.s != p.end) {
        jfree(j);
        return NULL;
    }
    return j;
}

static json *jat(const json *j, size_t i)
{
    return j && j->type == J_ARR && i < j->n ? j->items[i] : NULL;
}

static json *jget(const json *j, const char *key)
{
    if (!j || j->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->keys[i], key))
            return j->items[i];
    return NULL;
}

static int jis(const json *j, int type) { return j && j->type == type; }

/* Appends s[0..n) as a JSON string.  Invalid UTF-8 bytes become U+FFFD so the payload
 * is always valid JSON (the node kills the job on invalid JSON). */
static void jencode(buf_t *b, const char *s, size_t n)
{
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_add(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            buf_add(b, &s[i], 1);
            i++;
        } else {
            size_t len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            if (c >= 0xF5)
                len = 0;
            int ok = len && i + len <= n;
            for (size_t k = 1; ok && k < len; k++)
                ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
            if (ok && len == 3) { /* no overlongs, no surrogates */
                unsigned char d = (unsigned char)s[i + 1];
                ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
            }
            if (ok && len == 4) {
                unsigned char d = (unsigned char)s[i + 1];
                ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
            }
            if (ok) {
                buf_add(b, &s[i], len);
                i += len;
            } else {
                buf_adds(b, "\\ufffd");
                i++;
            }
        }
    }
    buf_add(b, "\"", 1);
}

/* ----------------------------------------------------------------- protocol */

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            _exit(71); /* the node is gone */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Sends one frame "NAME LEN PAYLOAD\n" to Disco (on stderr), in a single write. */
static void send_frame(const char *name, const char *payload, size_t len)
{
    buf_t f = {0};
    buf_printf(&f, "%s %zu ", name, len);
    buf_add(&f, payload, len);
    buf_add(&f, "\n", 1);
    write_all(2, f.p, f.n);
    buf_free(&f);
}

static char inbuf[65536];
static size_t inpos, inlen;

/* Next byte from stdin; -1 at end of input. */
static int in_byte(void)
{
    if (inpos == inlen) {
        ssize_t r;
        do
            r = read(0, inbuf, sizeof inbuf);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            return -1;
        inpos = 0;
        inlen = (size_t)r;
    }
    return (unsigned char)inbuf[inpos++];
}

typedef struct {
    char name[16];
    json *body;
} reply_t;

/* Reads one reply frame.  End of input (the node stopped us) ends the process. */
static reply_t recv_frame(void)
{
    reply_t r;
    memset(&r, 0, sizeof r);
    size_t n = 0;
    int c;
    while ((c = in_byte()) != ' ') {
        if (c < 0)
            exit(0);
        if (n >= 10) {
            send_frame("FATAL", "\"wordcount: reply type longer than 10 bytes\"", 45);
            exit(2);
        }
        r.name[n++] = (char)c;
    }
    size_t len = 0;
    while ((c = in_byte()) != ' ') {
        if (c < '0' || c > '9') {
            if (c < 0)
                exit(0);
            send_frame("FATAL", "\"wordcount: bad reply length\"", 30);
            exit(2);
        }
        len = len * 10 + (size_t)(c - '0');
    }
    buf_t body = {0};
    buf_reserve(&body, len);
    while (body.n < len) {
        if ((c = in_byte()) < 0)
            exit(0);
        body.p[body.n++] = (char)c;
    }
    if (in_byte() != '\n') {
        send_frame("FATAL", "\"wordcount: reply not terminated by a newline\"", 47);
        exit(2);
    }
    r.body = jparse(body.p ? body.p : "", body.n);
    buf_free(&body);
    if (!r.body) {
        buf_t m = {0};
        buf_printf(&m, "wordcount: reply %s has an unparsable JSON payload", r.name);
        buf_t p = {0};
        jencode(&p, m.p, m.n);
        send_frame("FATAL", p.p, p.n);
        exit(2);
    }
    return r;
}

static reply_t request(const char *name, const char *payload)
{
    send_frame(name, payload, strlen(payload));
    return recv_frame();
}

/* Sends ERROR (task failure, retried elsewhere) or FATAL (job failure) and waits to be
 * killed; Disco sends no reply to either. */
static void fail(const char *type, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = xrealloc(NULL, (size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    buf_t p = {0};
    jencode(&p, msg, strlen(msg));
    send_frame(type, p.p, p.n);
    while (in_byte() >= 0)
        ;
    exit(1);
}

static void expect(reply_t *r, const char *name)
{
    if (strcmp(r->name, name))
        fail("ERROR", "wordcount: expected a %s reply, got %s", name, r->name);
}

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    buf_t p = {0};
    jencode(&p, text, strlen(text));
    reply_t r = request("MSG", p.p);
    buf_free(&p);
    expect(&r, "OK");
    jfree(r.body);
}

/* ------------------------------------------------------------------- task */

static struct {
    long taskid;
    char *stage, *grouping, *host, *disco_data, *ddfs_data, *jobname;
    long disco_port;
    long label; /* group label */
} task;

static char *jstr_field(json *t, const char *key)
{
    json *v = jget(t, key);
    if (!jis(v, J_STR))
        fail("ERROR", "wordcount: TASK reply has no string '%s'", key);
    return xstrdup(v->str);
}

static long jint_field(json *t, const char *key)
{
    json *v = jget(t, key);
    if (!jis(v, J_NUM))
        fail("ERROR", "wordcount: TASK reply has no integer '%s'", key);
    return (long)v->num;
}

/* ------------------------------------------------------------------ fetching */

static int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int read_file(const char *path, buf_t *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return set_err(err, errlen, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        buf_add(out, chunk, (size_t)r);
    }
    close(fd);
    return 0;
}

/* GET http://HOST[:PORT]/PATH with HTTP/1.0; the body goes to out. */
static int http_get(const char *url, buf_t *out, char *err, size_t errlen)
{
    const char *hp = url + strlen("http://");
    const char *slash = strchr(hp, '/');
    const char *path = slash ? slash : "/";
    size_t hplen = slash ? (size_t)(slash - hp) : strlen(hp);
    char host[256], port[16] = "80";
    if (hplen == 0 || hplen >= sizeof host)
        return set_err(err, errlen, "bad http URL %s", url);
    memcpy(host, hp, hplen);
    host[hplen] = 0;
    char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        snprintf(port, sizeof port, "%s", colon + 1);
        *colon = 0;
    }
    if (host[0] == '[') { /* [v6addr] */
        memmove(host, host + 1, strlen(host));
        char *close_br = strchr(host, ']');
        if (close_br)
            *close_br = 0;
    }
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc)
        return set_err(err, errlen, "%s: cannot resolve %s: %s", url, host, gai_strerror(rc));
    int fd = -1, cerr = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            cerr = errno;
            continue;
        }
        struct timeval tv = {120, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        cerr = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return set_err(err, errlen, "%s: cannot connect: %s", url, strerror(cerr));
    buf_t req = {0};
    buf_printf(&req, "GET %s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: disco-c-wordcount\r\n"
                     "Connection: close\r\n\r\n", path, (int)hplen, hp);
    size_t off = 0;
    while (off < req.n) {
        ssize_t w = send(fd, req.p + off, req.n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            buf_free(&req);
            return set_err(err, errlen, "%s: cannot send request: %s", url, strerror(e));
        }
        off += (size_t)w;
    }
    buf_free(&req);
    buf_t resp = {0};
    char chunk[65536];
    for (;;) {
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            buf_free(&resp);
            return set_err(err, errlen, "%s: read failed: %s", url, strerror(e));
        }
        if (r == 0)
            break;
        buf_add(&resp, chunk, (size_t)r);
    }
    close(fd);
    char *hend = resp.p ? strstr(resp.p, "\r\n\r\n") : NULL;
    int status = 0;
    if (!hend || sscanf(resp.p, "HTTP/%*d.%*d %d", &status) != 1) {
        buf_free(&resp);
        return set_err(err, errlen, "%s: malformed HTTP response", url);
    }
    if (status != 200) {
        buf_free(&resp);
        return set_err(err, errlen, "%s: HTTP status %d", url, status);
    }
    size_t hlen = (size_t)(hend + 4 - resp.p);
    size_t blen = resp.n - hlen;
    /* A body shorter than Content-Length means a broken transfer. */
    for (char *line = strstr(resp.p, "\r\n"); line && line < hend; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "Content-Length:", 15)) {
            unsigned long long cl = strtoull(line + 17, NULL, 10);
            if (cl != blen) {
                buf_free(&resp);
                return set_err(err, errlen, "%s: got %zu of %llu bytes", url, blen, cl);
            }
        }
    }
    buf_add(out, resp.p + hlen, blen);
    buf_free(&resp);
    return 0;
}

/* disco://HOST/PATH and the location part of dir://HOST/PATH. */
static int fetch_disco(const char *url, const char *rest, buf_t *out, char *err, size_t errlen)
{
    const char *slash = strchr(rest, '/');
    if (!slash)
        return set_err(err, errlen, "bad URL %s", url);
    size_t hlen = (size_t)(slash - rest);
    const char *path = slash + 1; /* disco/... or ddfs/... */
    if (hlen == strlen(task.host) && !strncmp(rest, task.host, hlen)) {
        const char *root = NULL, *sub = NULL;
        if (!strncmp(path, "disco/", 6))
            root = task.disco_data, sub = path + 6;
        else if (!strncmp(path, "ddfs/", 5))
            root = task.ddfs_data, sub = path + 5;
        if (root) {
            buf_t local = {0};
            buf_printf(&local, "%s/%s", root, sub);
            int rc = read_file(local.p, out, err, errlen);
            buf_free(&local);
            return rc;
        }
    }
    buf_t http = {0};
    buf_printf(&http, "http://%.*s:%ld/%s", (int)hlen, rest, task.disco_port, path);
    int rc = http_get(http.p, out, err, errlen);
    buf_free(&http);
    return rc;
}

static int fetch_plain(const char *url, buf_t *out, char *err, size_t errlen)
{
    if (!strncmp(url, "raw://", 6)) {
        buf_adds(out, url + 6);
        return 0;
    }
    if (!strncmp(url, "file://", 7))
        return read_file(url + 7, out, err, errlen);
    if (!strncmp(url, "http://", 7))
        return http_get(url, out, err, errlen);
    if (!strncmp(url, "disco://", 8))
        return fetch_disco(url, url + 8, out, err, errlen);
    if (!strstr(url, "://"))
        return read_file(url, out, err, errlen);
    return set_err(err, errlen, "unsupported URL scheme: %s", url);
}

/* Reads one replica into out.  A dir:// index selects the files of `label` (or every
 * file when all_labels); their contents are concatenated, each ending in a newline. */
static int fetch_replica(const char *url, int all_labels, long label, buf_t *out,
                         char *err, size_t errlen)
{
    if (strncmp(url, "dir://", 6)) {
        int rc = fetch_plain(url, out, err, errlen);
        if (!rc && out->n && out->p[out->n - 1] != '\n')
            buf_add(out, "\n", 1);
        return rc;
    }
    buf_t index = {0};
    if (fetch_disco(url, url + 6, &index, err, errlen)) {
        buf_free(&index);
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *line = index.p ? strtok_r(index.p, "\n", &save) : NULL; line && !rc;
         line = strtok_r(NULL, "\n", &save)) {
        char *endl, loc[4096];
        long l = strtol(line, &endl, 10);
        if (endl == line || sscanf(endl, " %4095s", loc) != 1) {
            rc = set_err(err, errlen, "%s: malformed index line '%.200s'", url, line);
            break;
        }
        if (!all_labels && l != label)
            continue;
        size_t before = out->n;
        rc = fetch_plain(loc, out, err, errlen);
        if (!rc && out->n > before && out->p[out->n - 1] != '\n')
            buf_add(out, "\n", 1);
    }
    buf_free(&index);
    return rc;
}

/* -------------------------------------------------------------- word table */

typedef struct {
    char *word;
    size_t len;
    long long count;
    uint32_t hash;
} entry;

static entry *table;
static size_t tcap, tcount;

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static void table_add(const char *w, size_t n, long long count)
{
    if ((tcount + 1) * 10 >= tcap * 7) {
        size_t ncap = tcap ? tcap * 2 : 1024;
        entry *nt = xrealloc(NULL, ncap * sizeof *nt);
        memset(nt, 0, ncap * sizeof *nt);
        for (size_t i = 0; i < tcap; i++) {
            if (!table[i].word)
                continue;
            size_t j = table[i].hash & (ncap - 1);
            while (nt[j].word)
                j = (j + 1) & (ncap - 1);
            nt[j] = table[i];
        }
        free(table);
        table = nt;
        tcap = ncap;
    }
    uint32_t h = fnv1a(w, n);
    size_t j = h & (tcap - 1);
    while (table[j].word) {
        if (table[j].hash == h && table[j].len == n && !memcmp(table[j].word, w, n)) {
            table[j].count += count;
            return;
        }
        j = (j + 1) & (tcap - 1);
    }
    table[j].word = xrealloc(NULL, n + 1);
    memcpy(table[j].word, w, n);
    table[j].word[n] = 0;
    table[j].len = n;
    table[j].count = count;
    table[j].hash = h;
    tcount++;
}

static int by_word(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->word, y->word, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Packs and sorts the table's entries; returns how many. */
static size_t table_sorted(void)
{
    size_t k = 0;
    for (size_t i = 0; i < tcap; i++)
        if (table[i].word)
            table[k++] = table[i];
    if (k)
        qsort(table, k, sizeof *table, by_word);
    tcap = 0; /* the table is no longer a hash table */
    return k;
}

static long long total_words;

static void count_words(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < n && !isspace((unsigned char)s[i]))
            i++;
        if (i > start) {
            table_add(s + start, i - start, 1);
            total_words++;
        }
    }
}

/* Sums "word\tcount" lines; returns -1 (with err) on a malformed line. */
static int sum_counts(const char *s, size_t n, char *err, size_t errlen)
{
    const char *end = s + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        if (le > s) {
            const char *tab = le;
            while (tab > s && tab[-1] != '\t')
                tab--;
            char num[32];
            size_t nlen = (size_t)(le - tab);
            char *e;
            if (tab == s || nlen == 0 || nlen >= sizeof num)
                return set_err(err, errlen, "malformed count line '%.*s'",
                               (int)((le - s) > 200 ? 200 : (le - s)), s);
            memcpy(num, tab, nlen);
            num[nlen] = 0;
            long long c = strtoll(num, &e, 10);
            if (*e)
                return set_err(err, errlen, "malformed count in line '%.*s'",
                               (int)((le - s) > 200 ? 200 : (le - s)), s);
            table_add(s, (size_t)(tab - 1 - s), c);
            total_words += c;
        }
        s = le + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ inputs */

static long nr_inputs, nr_polls;

/* Reads input `id` trying its replicas; on each failure reports INPUT_ERR with every
 * replica failed so far and continues with the RETRY list.  FAIL -> ERROR. */
static void process_input(json *input)
{
    json *jid = jat(input, 0), *jlabel = jat(input, 2), *reps = jat(input, 3);
    if (!jis(jid, J_NUM) || !jis(reps, J_ARR))
        fail("ERROR", "wordcount: malformed input entry in INPUT reply");
    long id = (long)jid->num;
    int all = jis(jlabel, J_STR) && !strcmp(jlabel->str, "all");
    long label = jis(jlabel, J_NUM) ? (long)jlabel->num : 0;

    /* The current replica list: (rep_id, url) pairs. */
    size_t nrep = reps->n;
    long *rep_ids = xrealloc(NULL, (nrep + 1) * sizeof *rep_ids);
    char **rep_urls = xrealloc(NULL, (nrep + 1) * sizeof *rep_urls);
    for (size_t i = 0; i < nrep; i++) {
        json *r = reps->items[i];
        if (!jis(jat(r, 0), J_NUM) || !jis(jat(r, 1), J_STR))
            fail("ERROR", "wordcount: malformed replica in input %ld", id);
        rep_ids[i] = (long)jat(r, 0)->num;
        rep_urls[i] = xstrdup(jat(r, 1)->str);
    }
    buf_t failed = {0};  /* JSON list body of failed rep ids */
    buf_t errors = {0};  /* what went wrong, for the ERROR message */
    buf_t data = {0};
    char err[1024];
    for (;;) {
        if (nrep == 0) {
            fail("ERROR", "wordcount: input %ld: no replica could be read: %s", id,
                 errors.n ? errors.p : "(no replicas)");
        }
        buf_clear(&data);
        if (fetch_replica(rep_urls[0], all, label, &data, err, sizeof err) == 0)
            break;
        buf_printf(&errors, "%s%s", errors.n ? "; " : "", err);
        buf_printf(&failed, "%s%ld", failed.n ? "," : "", rep_ids[0]);
        buf_t payload = {0};
        buf_printf(&payload, "[%ld,[%s]]", id, failed.p);
        reply_t r = request("INPUT_ERR", payload.p);
        buf_free(&payload);
        for (size_t i = 0; i < nrep; i++)
            free(rep_urls[i]);
        nrep = 0;
        if (!strcmp(r.name, "FAIL")) {
            jfree(r.body);
            continue; /* nrep == 0: gives up with ERROR */
        }
        if (!strcmp(r.name, "WAIT")) {
            /* Disco is re-creating replicas: wait, then take the input's current replica
             * list afresh (the 0.5.4 master never sends WAIT). */
            sleep(jis(r.body, J_NUM) && r.body->num > 0 ? (unsigned)r.body->num : 1);
            jfree(r.body);
            buf_clear(&failed);
            buf_t again = {0};
            buf_printf(&again, "[\"include\",[%ld]]", id);
            r = request("INPUT", again.p);
            buf_free(&again);
            expect(&r, "INPUT");
            json *entry = jat(jat(r.body, 1), 0), *fresh = jat(entry, 3);
            if (fresh)
                entry->items[3] = NULL; /* detach the replica list from the reply */
            jfree(r.body);
            r.body = fresh ? fresh : jnew(J_ARR);
            strcpy(r.name, "RETRY"); /* same shape as a RETRY list */
        }
        expect(&r, "RETRY");
        if (!jis(r.body, J_ARR))
            fail("ERROR", "wordcount: malformed RETRY reply");
        rep_ids = xrealloc(rep_ids, (r.body->n + 1) * sizeof *rep_ids);
        rep_urls = xrealloc(rep_urls, (r.body->n + 1) * sizeof *rep_urls);
        for (size_t i = 0; i < r.body->n; i++) {
            json *p = r.body->items[i];
            if (!jis(jat(p, 0), J_NUM) || !jis(jat(p, 1), J_STR))
                fail("ERROR", "wordcount: malformed replica in RETRY reply");
            rep_ids[nrep] = (long)jat(p, 0)->num;
            rep_urls[nrep++] = xstrdup(jat(p, 1)->str);
        }
        jfree(r.body);
    }
    if (!strcmp(task.stage, "map")) {
        count_words(data.p, data.n);
    } else if (sum_counts(data.p ? data.p : "", data.n, err, sizeof err)) {
        fail("ERROR", "wordcount: input %ld (%s): %s", id, rep_urls[0], err);
    }
    nr_inputs++;
    for (size_t i = 0; i < nrep; i++)
        free(rep_urls[i]);
    free(rep_urls);
    free(rep_ids);
    buf_free(&failed);
    buf_free(&errors);
    buf_free(&data);
}

/* Polls INPUT until the input list is final, processing each new input once.  With
 * flag "more" the next request excludes what was seen, so Disco answers it only when
 * new inputs arrive or the list is closed (long poll). */
static void read_inputs(void)
{
    long *seen = NULL;
    size_t nseen = 0;
    for (;;) {
        buf_t payload = {0};
        if (!nseen) {
            buf_adds(&payload, "\"\"");
        } else {
            buf_adds(&payload, "[\"exclude\",[");
            for (size_t i = 0; i < nseen; i++)
                buf_printf(&payload, "%s%ld", i ? "," : "", seen[i]);
            buf_adds(&payload, "]]");
        }
        reply_t r = request("INPUT", payload.p);
        buf_free(&payload);
        expect(&r, "INPUT");
        nr_polls++;
        json *flag = jat(r.body, 0), *inputs = jat(r.body, 1);
        if (!jis(flag, J_STR) || !jis(inputs, J_ARR))
            fail("ERROR", "wordcount: malformed INPUT reply");
        int busy = 0;
        for (size_t i = 0; i < inputs->n; i++) {
            json *in = inputs->items[i], *id = jat(in, 0), *status = jat(in, 1);
            if (!jis(id, J_NUM))
                fail("ERROR", "wordcount: malformed input entry in INPUT reply");
            int dup = 0;
            for (size_t k = 0; k < nseen; k++)
                dup |= seen[k] == (long)id->num;
            if (dup)
                continue;
            if (jis(status, J_STR) && !strcmp(status->str, "busy")) {
                busy = 1; /* not yet readable: ask again later */
                continue;
            }
            seen = xrealloc(seen, (nseen + 1) * sizeof *seen);
            seen[nseen++] = (long)id->num;
            process_input(in); /* "ok", and also "failed": try anyway */
        }
        int done = !strcmp(flag->str, "done");
        jfree(r.body);
        if (busy)
            sleep(1);
        else if (done)
            break;
    }
    free(seen);
}

/* ----------------------------------------------------------------- outputs */

static void report_output(long label, const char *path)
{
    struct stat st;
    if (stat(path, &st))
        fail("ERROR", "wordcount: cannot stat output %s: %s", path, strerror(errno));
    buf_t p = {0};
    buf_printf(&p, "[%ld,", label);
    jencode(&p, path, strlen(path));
    buf_printf(&p, ",%lld]", (long long)st.st_size);
    reply_t r = request("OUTPUT", p.p);
    buf_free(&p);
    expect(&r, "OK");
    jfree(r.body);
}

/* Writes the (sorted) entries [0, n) whose label is `label` (or all, label < 0). */
static int write_counts(const char *path, size_t n, long label, long partitions)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail("ERROR", "wordcount: cannot create %s: %s", path, strerror(errno));
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (label >= 0 && (long)(table[i].hash % (uint32_t)partitions) != label)
            continue;
        fwrite(table[i].word, 1, table[i].len, f);
        fprintf(f, "\t%lld\n", table[i].count);
        any = 1;
    }
    if (ferror(f) | fclose(f))
        fail("ERROR", "wordcount: cannot write %s: %s", path, strerror(errno));
    return any;
}

int main(void)
{
    /* Anything on stdout would be parsed as protocol data: keep it closed for good. */
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0 && devnull != 1) {
        dup2(devnull, 1);
        close(devnull);
    }

    buf_t hello = {0};
    buf_printf(&hello, "{\"version\":\"1.1\",\"pid\":%ld}", (long)getpid());
    reply_t r = request("WORKER", hello.p);
    buf_free(&hello);
    expect(&r, "OK");
    jfree(r.body);

    r = request("TASK", "\"\"");
    expect(&r, "TASK");
    json *t = r.body;
    task.taskid = jint_field(t, "taskid");
    task.stage = jstr_field(t, "stage");
    task.grouping = jstr_field(t, "grouping");
    task.host = jstr_field(t, "host");
    task.disco_data = jstr_field(t, "disco_data");
    task.ddfs_data = jstr_field(t, "ddfs_data");
    task.jobname = jstr_field(t, "jobname");
    task.disco_port = jint_field(t, "disco_port");
    json *group = jget(t, "group");
    task.label = jis(jat(group, 0), J_NUM) ? (long)jat(group, 0)->num : 0;
    jfree(t);

    long partitions = 1;
    const char *pe = getenv("CWORDCOUNT_PARTITIONS");
    if (pe && *pe) {
        char *e;
        partitions = strtol(pe, &e, 10);
        if (*e || partitions < 1 || partitions > 1000000)
            fail("FATAL", "wordcount: CWORDCOUNT_PARTITIONS must be an integer >= 1, not '%s'", pe);
    }

    read_inputs();

    size_t n = table_sorted();
    char path[256];
    int is_map = !strcmp(task.stage, "map");
    long outputs = 0;
    if (is_map) {
        for (long l = 0; l < partitions; l++) {
            snprintf(path, sizeof path, "cwc-%s-%ld-%ld-%ld", task.stage, task.taskid, l,
                     (long)getpid());
            if (write_counts(path, n, l, partitions)) {
                report_output(l, path);
                outputs++;
            } else {
                unlink(path);
            }
        }
    } else {
        long label = strcmp(task.grouping, "group_all") ? task.label : 0;
        snprintf(path, sizeof path, "cwc-%s-%ld-%ld", task.stage, task.taskid, (long)getpid());
        write_counts(path, n, -1, partitions);
        report_output(label, path);
        outputs++;
    }
    msg("%s: %ld input(s) in %ld INPUT repl%s, %lld words, %zu distinct, %ld output(s)",
        task.stage, nr_inputs, nr_polls, nr_polls == 1 ? "y" : "ies", total_words, n, outputs);

    send_frame("DONE", "\"\"", 2);
    while (in_byte() >= 0) /* no reply: the node ends the process */
        ;
    return 0;
}
