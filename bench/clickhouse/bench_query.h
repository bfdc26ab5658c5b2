/* bench_query.h: header-only helper of the ClickHouse benchmarks (bench_e2e.c,
 * bench_clickhouse.c): one number read back from a query. */
#ifndef ES_BENCH_QUERY_H
#define ES_BENCH_QUERY_H

#include <stdlib.h>

#include "clickhouse_internal.h"

/* The first value the query answers, as a number; -1 on an error. */
static double bench_query_number(const ch_conn *conn, const char *sql)
{
    json_buf out;
    jb_init(&out);
    double v = -1;
    if (chhttp_query(conn, 1, sql, NULL, 0, &out) == 0 && out.data) v = atof(out.data);
    jb_free(&out);
    return v;
}

#endif
