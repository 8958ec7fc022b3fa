/*
 * kestrel_read: reads the text of an image with libkestrel (the C SDK).
 *
 *   kestrel_read DET.kmod REC.kmod CLS.kmod IMAGE.ppm [--line] [--key KEYFILE] [--expect TEXT]
 *
 * IMAGE is a binary PPM (P6, 8-bit); convert other formats first (e.g. with ImageMagick:
 * `convert photo.jpg photo.ppm`). --line reads the whole image as one text line instead of
 * detecting lines. --key names a file with the 64-hex-digit key of encrypted models.
 * --expect makes the program exit with status 3 unless the text it read (lines joined by
 * newlines) equals TEXT. Prints one line per text line: "x0 y0 x1 y1 confidence text".
 *
 * Build: cc -o kestrel_read examples/c/kestrel_read.c -Isdk/include -Lsdk/target/release -lkestrel
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kestrel.h"

/* Reads a whole file; returns NULL on failure. */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) { free(buf); fclose(f); return NULL; }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Skips whitespace and '#' comments in a PPM header. */
static const uint8_t *ppm_skip(const uint8_t *p, const uint8_t *end) {
    while (p < end) {
        if (*p == '#') { while (p < end && *p != '\n') p++; }
        else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        else break;
    }
    return p;
}

static const uint8_t *ppm_number(const uint8_t *p, const uint8_t *end, unsigned *out) {
    p = ppm_skip(p, end);
    unsigned v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && digits < 9) { v = v * 10 + (unsigned)(*p - '0'); p++; digits++; }
    *out = v;
    return digits ? p : NULL;
}

/* Parses a binary PPM; returns a pointer to the pixels inside `file`, or NULL. */
static const uint8_t *parse_ppm(const uint8_t *file, size_t len, unsigned *w, unsigned *h) {
    const uint8_t *end = file + len, *p = file;
    unsigned maxval;
    if (len < 2 || p[0] != 'P' || p[1] != '6') return NULL;
    p += 2;
    if (!(p = ppm_number(p, end, w)) || !(p = ppm_number(p, end, h)) ||
        !(p = ppm_number(p, end, &maxval)) || maxval != 255 || p >= end) return NULL;
    p++; /* the single whitespace byte before the pixels */
    if (*w == 0 || *h == 0 || (size_t)(end - p) / 3 / *w < *h) return NULL;
    return p;
}

static int read_key(const char *path, uint8_t key[32]) {
    size_t len;
    uint8_t *text = read_file(path, &len);
    if (!text || len < 64) { free(text); return 0; }
    for (int i = 0; i < 32; i++) {
        unsigned v;
        char pair[3] = {(char)text[2 * i], (char)text[2 * i + 1], 0};
        if (sscanf(pair, "%2x", &v) != 1) { free(text); return 0; }
        key[i] = (uint8_t)v;
    }
    free(text);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s DET REC CLS IMAGE.ppm [--line] [--key FILE] [--expect TEXT]\n", argv[0]);
        return 2;
    }
    int line_mode = 0;
    const char *expect = NULL, *key_path = NULL;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--line")) line_mode = 1;
        else if (!strcmp(argv[i], "--expect") && i + 1 < argc) expect = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc) key_path = argv[++i];
        else { fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
    }
    size_t det_len, rec_len, cls_len, img_len;
    uint8_t *det = read_file(argv[1], &det_len), *rec = read_file(argv[2], &rec_len),
            *cls = read_file(argv[3], &cls_len), *img = read_file(argv[4], &img_len);
    if (!det || !rec || !cls || !img) { fprintf(stderr, "cannot read an input file\n"); return 1; }
    uint8_t key[32];
    if (key_path && !read_key(key_path, key)) { fprintf(stderr, "bad key file %s\n", key_path); return 1; }

    char message[512];
    KestrelEngine *engine = NULL;
    KestrelStatus s = kestrel_engine_create(det, det_len, rec, rec_len, cls, cls_len,
                                            key_path ? key : NULL, &engine, message, sizeof message);
    /* The engine keeps its own copy of the models. */
    free(det); free(rec); free(cls);
    if (s != KESTREL_OK) { fprintf(stderr, "engine: status %d: %s\n", (int)s, message); return 1; }

    unsigned w, h;
    const uint8_t *pixels = parse_ppm(img, img_len, &w, &h);
    if (!pixels) { fprintf(stderr, "%s is not a binary 8-bit PPM\n", argv[4]); return 1; }
    KestrelResults *results = NULL;
    s = line_mode ? kestrel_recognize(engine, pixels, w, h, 3 * w, &results)
                  : kestrel_read(engine, pixels, w, h, 3 * w, &results);
    if (s != KESTREL_OK) {
        fprintf(stderr, "read: status %d: %s\n", (int)s, kestrel_engine_last_error(engine));
        kestrel_engine_free(engine);
        return 1;
    }
    size_t n = kestrel_results_count(results), used = 0;
    char *joined = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        KestrelLine line;
        if (kestrel_results_line(results, i, &line) != KESTREL_OK) continue;
        printf("%d %d %d %d %.3f %s\n", line.x0, line.y0, line.x1, line.y1, line.confidence, line.text);
        size_t add = strlen(line.text) + 1;
        char *grown = realloc(joined, used + add + 1);
        if (!grown) break;
        joined = grown;
        if (used) joined[used++] = '\n';
        memcpy(joined + used, line.text, add);
        used += add - 1;
    }
    int status = 0;
    if (expect && strcmp(joined, expect) != 0) {
        fprintf(stderr, "expected \"%s\", read \"%s\"\n", expect, joined);
        status = 3;
    }
    free(joined);
    free(img);
    kestrel_results_free(results);
    kestrel_engine_free(engine);
    return status;
}
