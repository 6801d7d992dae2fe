"""The load benchmark: seeds a database, serves it with gunicorn, drives it with wrk, prints figures."""
