/* eval_report.h: `medgen eval --html`: one self-contained HTML page (figures embedded as PNG data URIs) showing the
 * metrics `medgen eval` wrote to its JSON, grids of synthetic and real images, the intensity histograms and the
 * synthetic images closest to training images. */
#ifndef MEDGEN_EVAL_REPORT_H
#define MEDGEN_EVAL_REPORT_H

#include "cli_util.h"
#include "eval_sets.h"

#include <cJSON.h>

typedef struct eval_report_input {
  const cJSON *results;               /* the JSON medgen eval writes: every number shown comes from it */
  const eval_set *real, *synthetic;   /* images on [-1, 1] */
  const eval_set *train;              /* NULL without --train */
  const int *pair_sample, *pair_train; /* the closest pairs: indices into synthetic and train */
  int pairs;
} eval_report_input;

/* The page into html. Figures are encoded through temporary PNG files in a private temporary folder, removed
 * before returning. Failures name the file and the problem. */
mg_status eval_report_html(const eval_report_input *in, cli_text *html, char *err, size_t err_size);

#endif
