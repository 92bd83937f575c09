/*
 * disco.h -- helpers for external map and reduce programs of classic Disco jobs
 * (disco.worker.classic.external; build the job's map/reduce with disco.util.external).
 *
 * The program is run as `op map` or `op reduce` (see disco_mode()). On stdin it reads:
 *
 *   1. the parameters. When the job's ext_params is a dict (the default is {}), they are
 *      netstrings, read them with disco_read_params():
 *
 *          <total>\n<len(k1)> <k1> <len(v1)> <v1>\n<len(k2)> <k2> <len(v2)> <v2>\n...
 *
 *      every length ASCII decimal, <total> the byte length of all the lines after the
 *      first ({} is "0\n", {"a": "xy"} is "9\n1 a 2 xy\n"). When ext_params is a string,
 *      its bytes come as they are and the program reads them itself.
 *   2. key/value pairs until the end of the input, each
 *
 *          <u32 little-endian len(key)><key><u32 little-endian len(value)><value>
 *
 *      read them with disco_read_kv(). A map gets one pair per input entry (a text line
 *      is the value, without its newline, and the key is empty); a reduce gets every
 *      record of its inputs sorted by key, bytewise.
 *
 * On stdout it writes result lists: disco_write_num(n), then n pairs with disco_write_kv()
 * or disco_write_str(). A map writes exactly one list (n may be 0) per input pair, before
 * reading the next pair; a reduce writes lists whenever it likes. disco_read_kv() flushes
 * stdout before it reads, so a map's reply is on its way before the map waits for more.
 * The program exits with status 0 after reading all of its input.
 *
 * On stderr: disco_msg() writes "**<MSG> text" lines (task messages), disco_err() writes
 * "**<ERR> text" and exits with status 1 (the task fails with that text and is retried).
 *
 * Every function here reports a broken input (truncated pairs or parameters) and a failed
 * allocation or write with disco_err(), so callers need no error checks. Depends on libc
 * only; byte order is handled explicitly, so it works on any host.
 */
#ifndef DISCO_EXT_H
#define DISCO_EXT_H

#include <stddef.h>
#include <stdint.h>

/* A key or value: len bytes at data, followed by a NUL byte (not counted in len) so text
 * can be used as a C string. cap is the allocated size; the library grows the buffer. */
typedef struct {
    char *data;
    uint32_t len;
    uint32_t cap;
} disco_buf;

#define DISCO_BUF_INIT {NULL, 0, 0}

/* The dict parameters, in the order they were sent. */
typedef struct {
    size_t count;
    disco_buf *keys;
    disco_buf *values;
} disco_params;

/* "map" or "reduce": argv[1], checked. */
const char *disco_mode(int argc, char **argv);

/* Read the dict parameters that come first on stdin. */
void disco_read_params(disco_params *params);

/* The value of parameter `key` as a NUL-terminated string, or NULL when it is not set. */
const char *disco_param(const disco_params *params, const char *key);

void disco_free_params(disco_params *params);

/* Read the next pair into key and value (their buffers are reused and grown).
 * Returns 1 when a pair was read, 0 at the end of the input. Flushes stdout first. */
int disco_read_kv(disco_buf *key, disco_buf *value);

/* Start a result list of n pairs. */
void disco_write_num(uint32_t n);

/* Write one pair of the current result list. */
void disco_write_kv(const void *key, uint32_t klen, const void *value, uint32_t vlen);

/* disco_write_kv() of two NUL-terminated strings. */
void disco_write_str(const char *key, const char *value);

void disco_free_buf(disco_buf *buf);

/* A task message: one "**<MSG> text" line on stderr (newlines in text become spaces). */
void disco_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The task's error: one "**<ERR> text" line on stderr, then exit(1). */
void disco_err(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
