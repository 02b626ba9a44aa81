/* tsv.h - the tsv job's settings (private to map/ and the job's tests). */
#ifndef MRCOUNT_MAP_TSV_H
#define MRCOUNT_MAP_TSV_H

#include <stdbool.h>
#include <stdint.h>

#define MRC_TSV_MAX_KEYS 32      /* key columns */
#define MRC_TSV_MAX_COLUMN 65535 /* the highest column number */
#define MRC_TSV_QUOTE_AUTO (-1)  /* --quote's default */

typedef struct mrc_tsv_columns {
    uint32_t col[MRC_TSV_MAX_KEYS]; /* 1-based, in key order */
    uint32_t n;
} mrc_tsv_columns;

typedef struct mrc_tsv_opts {
    mrc_tsv_columns keys; /* --key-columns 1,3 (default: 1) */
    int value_column;     /* --value-column N, 0: count lines */
    int delimiter;        /* --delimiter C: one byte (default TAB) */
    int quote;            /* --quote C: one byte, 0: none, MRC_TSV_QUOTE_AUTO: '"' unless the
                           * delimiter is TAB or '"' (resolved when the job is selected) */
    bool header;          /* --header: skip each file's first line */
    bool strict;          /* the first bad record is fatal */
} mrc_tsv_opts;

#endif
