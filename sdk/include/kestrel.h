/*
 * kestrel.h: the C interface of Kestrel OCR's embeddable SDK (libkestrel).
 *
 * Build the library with `cargo build --release --manifest-path sdk/Cargo.toml`
 * (sdk/target/release/libkestrel.so and libkestrel.a) and link with -lkestrel.
 *
 * Conventions
 * - Every call returns a KestrelStatus; KESTREL_OK is 0. Nothing unwinds across this
 *   interface. After a failed call on an engine, kestrel_engine_last_error() says why.
 * - Model files are the .kmod files of models/zoo (plain, arithmetic-coded by
 *   `kestrel compress`, or encrypted by `kestrel seal`). The library copies what it needs:
 *   the caller may free model bytes after kestrel_engine_create returns.
 * - Images are 8-bit RGB, 3 bytes per pixel, `stride` bytes per row (stride >= 3 * width).
 * - An engine is not thread-safe; engines share nothing, so use one engine per thread.
 * - Objects returned through an `out` pointer are owned by the caller and freed with the
 *   matching *_free function; strings inside results live as long as the results.
 */
#ifndef KESTREL_H
#define KESTREL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. */
typedef enum KestrelStatus {
    KESTREL_OK = 0,
    /** A null pointer, a zero size or another bad argument. */
    KESTREL_ERR_ARGUMENT = 1,
    /** A malformed or mismatched model file, an encrypted one without (or with a wrong) key. */
    KESTREL_ERR_MODEL = 2,
    /** An image the pipeline refuses (empty, larger than 16384 per side or 64 megapixels). */
    KESTREL_ERR_INPUT = 3,
    /** A resource limit was hit while running. */
    KESTREL_ERR_LIMIT = 4,
    /** Something this build does not support. */
    KESTREL_ERR_UNSUPPORTED = 5
} KestrelStatus;

/** An engine: detector, recogniser and optional 0/180 classifier. */
typedef struct KestrelEngine KestrelEngine;

/** The lines one call produced. */
typedef struct KestrelResults KestrelResults;

/** One line of a result. */
typedef struct KestrelLine {
    /** Axis-aligned box in image pixels; x1 and y1 are exclusive. */
    int32_t x0, y0, x1, y1;
    /** Mean character probability of the text. */
    float confidence;
    /** Mean detector probability inside the box (1 for kestrel_recognize). */
    float box_score;
    /** 0, or 180 when the classifier found the line upside down and turned it. */
    int32_t angle;
    /** NUL-terminated UTF-8 text, owned by the results object. */
    const char *text;
} KestrelLine;

/**
 * Creates an engine from model file bytes. `cls` may be NULL (no classifier). `key` is NULL,
 * or the 32-byte AES-256 key of encrypted model files. On failure *out is NULL and a message
 * is written to `message` (at most `message_len` bytes including the NUL; may be NULL).
 */
KestrelStatus kestrel_engine_create(const uint8_t *det, size_t det_len,
                                    const uint8_t *rec, size_t rec_len,
                                    const uint8_t *cls, size_t cls_len,
                                    const uint8_t *key,
                                    KestrelEngine **out,
                                    char *message, size_t message_len);

/** Frees an engine (NULL is ignored). */
void kestrel_engine_free(KestrelEngine *engine);

/** Sets the thread count: this build computes on the calling thread and accepts only 1. */
KestrelStatus kestrel_engine_set_threads(KestrelEngine *engine, int threads);

/** The message of the engine's last failed call ("" if none); valid until the next call.
 *  Messages from inside the runtime show `_` where the full engine prints a name or number
 *  (e.g. "shape error: node '_' input _ is absent"): formatting code would enlarge the library. */
const char *kestrel_engine_last_error(const KestrelEngine *engine);

/** Detects, classifies and reads every text line, top to bottom. */
KestrelStatus kestrel_read(KestrelEngine *engine, const uint8_t *rgb,
                           uint32_t width, uint32_t height, uint32_t stride,
                           KestrelResults **out);

/** Detects text lines only (results with empty text). */
KestrelStatus kestrel_detect(KestrelEngine *engine, const uint8_t *rgb,
                             uint32_t width, uint32_t height, uint32_t stride,
                             KestrelResults **out);

/** Reads the whole image as one text line (a crop); one result. */
KestrelStatus kestrel_recognize(KestrelEngine *engine, const uint8_t *rgb,
                                uint32_t width, uint32_t height, uint32_t stride,
                                KestrelResults **out);

/** Number of lines in the results (0 for NULL). */
size_t kestrel_results_count(const KestrelResults *results);

/** Copies line `index` into *line. */
KestrelStatus kestrel_results_line(const KestrelResults *results, size_t index,
                                   KestrelLine *line);

/** Frees results (NULL is ignored). */
void kestrel_results_free(KestrelResults *results);

/** The library version string. */
const char *kestrel_version(void);

#ifdef __cplusplus
}
#endif

#endif /* KESTREL_H */
