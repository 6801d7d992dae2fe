-- One request of BENCH_BATCH_SIZE (default 100) sessions of random players to the batch endpoint.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

request = batch_request
