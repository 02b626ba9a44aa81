/* words.h - the words job's settings (private to map/ and the job's tests). */
#ifndef MRCOUNT_MAP_WORDS_H
#define MRCOUNT_MAP_WORDS_H

#include <stdbool.h>

enum mrc_tokens { MRC_TOKENS_WHITESPACE, MRC_TOKENS_ALNUM };

typedef struct mrc_words_opts {
    int tokens; /* enum mrc_tokens: --tokens whitespace|alnum */
    bool fold_case;
} mrc_words_opts;

#endif
