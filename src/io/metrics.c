#include "deepfried/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int df_metrics_add(df_metrics *m, const df_metrics_row *row, df_error *err)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        df_metrics_row *rows = realloc(m->rows, cap * sizeof *rows);
        if (!rows)
            return df_fail(err, DF_ENOMEM, "out of memory for metrics");
        m->rows = rows;
        m->cap = cap;
    }
    m->rows[m->n++] = *row;
    return DF_OK;
}

void df_metrics_free(df_metrics *m)
{
    free(m->rows);
    memset(m, 0, sizeof *m);
}

/* Empty field for NAN, so spreadsheets and gnuplot see "missing". */
static void put_num(FILE *f, const char *fmt, double v)
{
    if (!isnan(v))
        fprintf(f, fmt, v);
}

int df_metrics_append_csv(const char *path, const df_metrics_row *row,
                          df_error *err)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return df_fail(err, DF_ESYS, "%s: cannot open for appending: %s", path,
                       strerror(errno));
    if (ftell(f) == 0)
        fputs("step,epoch,loss,lr,train_error,test_error,test_loss,"
              "images_per_s,mb_allreduced,comm_wait_ms\n", f);
    fprintf(f, "%lld,%.4f,", (long long)row->step, row->epoch);
    put_num(f, "%.6f", row->loss);
    fprintf(f, ",%.8g,", row->lr);
    put_num(f, "%.6f", row->train_error);
    fputc(',', f);
    put_num(f, "%.6f", row->test_error);
    fputc(',', f);
    put_num(f, "%.6f", row->test_loss);
    fputc(',', f);
    put_num(f, "%.1f", row->images_per_s);
    fputc(',', f);
    put_num(f, "%.6f", row->mb_allreduced);
    fputc(',', f);
    put_num(f, "%.3f", row->comm_wait_ms);
    fputc('\n', f);
    if (ferror(f) | (fclose(f) != 0))
        return df_fail(err, DF_ESYS, "%s: write failed: %s", path, strerror(errno));
    return DF_OK;
}
