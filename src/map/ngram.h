/* ngram.h - the ngram job's settings (private to map/ and the job's tests). */
#ifndef MRCOUNT_MAP_NGRAM_H
#define MRCOUNT_MAP_NGRAM_H

#include <stdbool.h>

enum mrc_ngram_format { MRC_NGRAM_V1, MRC_NGRAM_V2, MRC_NGRAM_V3 };
enum mrc_ngram_value { MRC_VALUE_MATCH, MRC_VALUE_VOLUMES };
enum mrc_pos { MRC_POS_KEEP, MRC_POS_UNTAGGED, MRC_POS_TAGGED, MRC_POS_STRIP };

#define MRC_YEAR_MAX 9999

typedef struct mrc_ngram_opts {
    int format;             /* enum mrc_ngram_format */
    int value;              /* enum mrc_ngram_value */
    int pos;                /* enum mrc_pos */
    int year_min, year_max; /* inclusive, within 0..MRC_YEAR_MAX */
    bool fold_case;
    bool strict;   /* the first bad record is fatal */
    bool per_year; /* the key is (ngram, year): "ngram TAB YYYY" */
} mrc_ngram_opts;

#endif
