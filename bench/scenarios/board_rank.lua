-- Rank of a random player of the current period of BENCH_BOARD (a windowed board).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

request = board_rank_request
