"""Runs exported SQL on the Python-hosted engines for tests/it/sql.rs.

usage: sql_engines.py snowflake|bigquery DIR FILE...

snowflake: every statement of every FILE runs in fakesnow (Snowflake emulated on DuckDB),
           with DIR as the working directory (so PUT finds its files).
bigquery:  every statement is parsed with sqlglot's BigQuery dialect (a parse error fails),
           then transpiled to DuckDB and run there; a `LOAD DATA INTO t FROM FILES (...
           uris = ['gs://…/NAME'])` loads DIR/NAME instead (DuckDB cannot read Cloud Storage).

Each result set is printed as CSV (header lower-cased), followed by a blank line.
"""

import csv
import os
import sys


def emit(columns, rows):
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow([c.lower() for c in columns])
    for r in rows:
        out.writerow([repr(v) if isinstance(v, float) else v for v in r])
    sys.stdout.write("\n")


def snowflake(files):
    import fakesnow
    import snowflake.connector

    with fakesnow.patch():
        conn = snowflake.connector.connect(database="hitcast", schema="public")
        for f in files:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
            for cur in conn.execute_string(text, remove_comments=True):
                try:
                    rows = cur.fetchall()
                    # fakesnow describes a result by re-running its statement under
                    # DESCRIBE, which it cannot do for CREATE FUNCTION: such results are
                    # status messages, not data.
                    columns = [d[0] for d in cur.description]
                except snowflake.connector.errors.ProgrammingError:
                    continue
                emit(columns, rows)


def bigquery(files):
    import duckdb
    import sqlglot
    from sqlglot import exp

    con = duckdb.connect()
    for f in files:
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        for tree in sqlglot.parse(text, read="bigquery"):
            if tree is None:
                continue
            if isinstance(tree, exp.LoadData) or (
                isinstance(tree, exp.Command) and tree.this.upper() == "LOAD"
            ):
                load(con, tree)
                continue
            sql = tree.sql(dialect="duckdb")
            res = con.execute(sql)
            if res.description:
                emit([d[0] for d in res.description], res.fetchall())


def load(con, tree):
    from sqlglot import exp

    text = tree.sql(dialect="bigquery")
    uri = text[text.index("gs://") :].split("'")[0]
    name = uri.rsplit("/", 1)[1]
    if isinstance(tree, exp.LoadData):
        table = tree.this.sql(dialect="duckdb")
    else:
        table = text.split("INTO", 1)[1].split("FROM", 1)[0].strip()
    con.execute(
        f"INSERT INTO {table} SELECT * FROM read_csv(?, header = true, all_varchar = true)",
        [name],
    )


def main():
    engine, folder, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    files = [os.path.abspath(f) for f in files]
    os.chdir(folder)
    {"snowflake": snowflake, "bigquery": bigquery}[engine](files)


if __name__ == "__main__":
    main()
