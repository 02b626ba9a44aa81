/* words.h - the words job's settings (private to map/ and the job's tests), and the span
 * consumer (tokens.c) that words.c selects for --tokens unicode and for word n-grams. */
#ifndef MRCOUNT_MAP_WORDS_H
#define MRCOUNT_MAP_WORDS_H

#include <stdbool.h>

#include "mrcount/input.h"

enum mrc_tokens { MRC_TOKENS_WHITESPACE, MRC_TOKENS_ALNUM, MRC_TOKENS_UNICODE };

/* Where a sequence of tokens ends (an n-gram never spans one): at an LF; at a blank line (an
 * LF, optional ASCII whitespace, then an LF); only at the end of the file (or piece). */
enum mrc_ngram_break { MRC_BREAK_LINE, MRC_BREAK_PARAGRAPH, MRC_BREAK_NONE };

#define MRC_NGRAMS_MAX 9 /* the longest n-gram, in tokens */

typedef struct mrc_words_opts {
    int tokens; /* enum mrc_tokens: --tokens whitespace|alnum|unicode */
    bool fold_case;
    int normalize;   /* enum mrc_normalize (unicode.h): --normalize none|nfc|nfkc (unicode) */
    int ngrams;      /* --ngrams N: tokens per key, 1..MRC_NGRAMS_MAX (0 counts as 1) */
    int ngram_break; /* enum mrc_ngram_break: --ngram-break line|paragraph|none */
} mrc_words_opts;

/* The words job's counters (ctx->counters[i], named in the descriptor). */
enum { MRC_WORDS_INVALID_UTF8 /* bytes of invalid UTF-8 (--tokens unicode) */ };

/** mrc_words_spans_select() : (tokens.c) the span consumer for o (a token rule other than the
 *  byte rules' unigrams, which words.c counts itself) and the records it needs: rules->delim
 *  (the bytes that always end a token: ASCII whitespace, everything but [A-Za-z0-9'], or
 *  mrc_unicode_record_delims()) and rules->lookahead for n-grams. Chosen once; the consumer
 *  keeps its state (n-gram window, key buffers) in ctx->state. @return the consumer. */
mrc_consume_fn mrc_words_spans_select(const mrc_words_opts *o, mrc_record_rules *rules);

#endif
